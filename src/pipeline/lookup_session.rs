//! Stage 4, the session class: session cookie → id format check → store lookup. A cookie that
//! is absent, malformed, unknown or expired is anonymous; a store that
//! cannot answer is remembered as such so protected routes fail closed.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderValue};

use super::trace::{SessionStep, Trace};
use super::Context;
use crate::config::snapshot::SessionSettings;
use crate::cookies::cookie_value;
use crate::oidc::Refreshed;
use crate::session::state::{AuthClass, NoSession, SessionState, Unavailable};
use crate::session::{Session, SessionId, SessionStore};

/// Finds the request's session (timed in `context.lookup_timing`, unless
/// that is `None`, as for `explain`, whose lookups are not traffic).
pub async fn lookup(context: &Context<'_>, headers: &HeaderMap, trace: &mut Trace) -> SessionState {
    let anonymous = |why: NoSession, trace: &mut Trace| {
        trace.note(|| SessionStep::Anonymous(why));
        SessionState::Anonymous(why)
    };
    let Some(value) = cookie_value(headers, &context.config.session.cookie_name) else {
        return anonymous(NoSession::NoCookie, trace);
    };
    let Some(id) = SessionId::parse(&value) else {
        return anonymous(NoSession::MalformedId, trace);
    };
    let started = std::time::Instant::now();
    let found = context.store.get(&id).await;
    if let Some(timing) = context.lookup_timing {
        timing.observe(started.elapsed().as_secs_f64());
    }
    match found {
        Ok(Some(session)) => {
            trace.note(|| SessionStep::Found(session.clone()));
            if session.refresh_due(SystemTime::now()) {
                // Boxed: the refresh (14 KiB of future) is rare, and would
                // otherwise make every session lookup that large.
                return Box::pin(refreshed(context, &id, session, trace)).await;
            }
            SessionState::Authenticated(session, AuthClass::Session)
        }
        Ok(None) => {
            if trace.is_on() {
                if let Some(why) = context.store.why_not(&id).await {
                    trace.note(|| SessionStep::StoreSays(why));
                }
            }
            anonymous(NoSession::NotFound, trace)
        }
        Err(error) => {
            tracing::warn!(%error, "session lookup failed");
            trace.note(|| SessionStep::StoreDown {
                error: error.to_string(),
            });
            SessionState::Unavailable(Unavailable::Store)
        }
    }
}

/// A session made at the OpenID provider whose claims are due: refreshed
/// first, so nothing is decided on claims past their time.
async fn refreshed(
    context: &Context<'_>,
    id: &SessionId,
    session: std::sync::Arc<Session>,
    trace: &mut Trace,
) -> SessionState {
    // Without `[oidc]` (removed by a reload) nothing can refresh the
    // claims: the session keeps them, as one made without a refresh token.
    let Some(oidc) = &context.config.oidc else {
        return SessionState::Authenticated(session, AuthClass::Session);
    };
    if !context.live {
        trace.note(|| SessionStep::RefreshDue);
        return SessionState::Authenticated(session, AuthClass::Session);
    }
    match oidc.refresh_session(context.store, id).await {
        Refreshed::Fresh(session) => {
            trace.note(|| SessionStep::Refreshed(session.clone()));
            SessionState::Authenticated(session, AuthClass::Session)
        }
        Refreshed::Ended(why) => {
            tracing::info!(username = ?session.username, %why, "oidc: a refresh was refused; session ended");
            trace.note(|| SessionStep::RefreshRefused { why });
            trace.note(|| SessionStep::Anonymous(NoSession::EndedByProvider));
            SessionState::Anonymous(NoSession::EndedByProvider)
        }
        Refreshed::Unavailable(why) => {
            tracing::warn!(username = ?session.username, %why, "oidc: the claims are due and could not be refreshed");
            trace.note(|| SessionStep::RefreshUnavailable { why });
            SessionState::Unavailable(Unavailable::IdentityProvider)
        }
    }
}

/// Sliding sessions: the new expiry for `session` if it is due a renewal
/// — `now + ttl`, capped at `created + max_age`, and only when that moves
/// the expiry by a minute or more (half the ttl, for ttls under two
/// minutes), so a busy session is written at most once a minute.
pub fn renewal(
    session: &Session,
    settings: &SessionSettings,
    now: SystemTime,
) -> Option<SystemTime> {
    if !settings.sliding {
        return None;
    }
    let mut target = now + settings.ttl;
    if let Some(max_age) = settings.max_age {
        target = target.min(session.created_at + max_age);
    }
    let step = RENEW_AT_MOST_EVERY.min(settings.ttl / 2);
    (target >= session.expires_at + step).then_some(target)
}

const RENEW_AT_MOST_EVERY: Duration = Duration::from_secs(60);

/// Renews a sliding session when due; returns the `Set-Cookie` carrying the
/// new lifetime. A store error keeps the old expiry (the request goes on).
pub async fn renew_if_due(
    context: &Context<'_>,
    headers: &HeaderMap,
    session: &Session,
    https: bool,
) -> Option<HeaderValue> {
    let (store, settings) = (context.store, &context.config.session);
    let now = SystemTime::now();
    let expires_at = renewal(session, settings, now)?;
    let id = cookie_value(headers, &settings.cookie_name).and_then(|v| SessionId::parse(&v))?;
    match store.renew(&id, expires_at).await {
        Ok(Some(_)) => {
            let lifetime = expires_at.duration_since(now).unwrap_or_default();
            Some(crate::session::cookie::session_cookie(
                &settings.cookie_name,
                &id,
                lifetime,
                https,
            ))
        }
        Ok(None) => None,
        Err(error) => {
            tracing::warn!(%error, "session renewal failed");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn settings(sliding: bool, ttl: u64, max_age: Option<u64>) -> SessionSettings {
        SessionSettings {
            cookie_name: "sessionid".into(),
            ttl: Duration::from_secs(ttl),
            sliding,
            max_age: max_age.map(Duration::from_secs),
        }
    }
    #[test]
    fn sliding_renewal_at_most_once_a_minute_and_never_past_max_age() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let session = Session::new(
            crate::session::NewSession::default(),
            t0,
            t0 + Duration::from_secs(3600),
        );
        let s = settings(true, 3600, None);
        assert_eq!(
            renewal(&session, &s, t0 + Duration::from_secs(30)),
            None,
            "not within a minute"
        );
        assert_eq!(
            renewal(&session, &s, t0 + Duration::from_secs(90)),
            Some(t0 + Duration::from_secs(3690))
        );
        assert_eq!(
            renewal(
                &session,
                &settings(false, 3600, None),
                t0 + Duration::from_secs(900)
            ),
            None
        );
        let capped = settings(true, 3600, Some(3700));
        assert_eq!(
            renewal(&session, &capped, t0 + Duration::from_secs(900)),
            Some(t0 + Duration::from_secs(3700))
        );
        let at_cap = Session::new(
            crate::session::NewSession::default(),
            t0,
            t0 + Duration::from_secs(3700),
        );
        assert_eq!(
            renewal(&at_cap, &capped, t0 + Duration::from_secs(2000)),
            None
        );
        // Short ttls renew every half ttl, not never.
        let short = settings(true, 40, None);
        let s40 = Session::new(
            crate::session::NewSession::default(),
            t0,
            t0 + Duration::from_secs(40),
        );
        assert_eq!(renewal(&s40, &short, t0 + Duration::from_secs(10)), None);
        assert_eq!(
            renewal(&s40, &short, t0 + Duration::from_secs(20)),
            Some(t0 + Duration::from_secs(60))
        );
    }
}
