//! Refreshing the claims of a session made at the OpenID provider, once
//! they are due (`Session::refresh_due`): the session's refresh token
//! spent at the token endpoint (OIDC Core 12), the new ID token verified
//! like the sign-in's but for the same `sub` (12.2), the allow-lists
//! checked again, and the session replaced in place under the same id. A
//! refresh the provider refuses (`invalid_grant`: the user was disabled or
//! signed out there, the grant revoked) ends the session.
//!
//! One refresh per session at a time: providers rotate refresh tokens, so
//! a second refresh with the token the first one spent is refused, and
//! would end a session that is fine. In this process, requests for one
//! session wait for the one refreshing it (`InFlight`); across replicas,
//! the store's claim (`Store::claim_refresh`) lets one replica refresh and
//! the others wait for the record it writes. The refresh runs as a task of
//! its own, so a client that goes away mid-refresh cannot lose the token
//! the provider has just rotated.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::token_endpoint::{self, GrantError};
use super::Oidc;
use crate::credentials::bearer::{BearerError, IdTokenFrom};
use crate::session::{NewSession, ProviderTokens, Session, SessionId, SessionStore, Store};

/// How a refresh ended.
#[derive(Debug)]
pub enum Refreshed {
    /// The claims are fresh: refreshed now, or by another request meanwhile.
    Fresh(Arc<Session>),
    /// The provider no longer vouches for the user, so the session was
    /// ended (or it had ended meanwhile); why, for the log and `explain`.
    Ended(String),
    /// The provider or the store could not answer; nothing changed, and
    /// the next request tries again. Why, for the log and `explain`.
    Unavailable(String),
}

/// How often a replica waiting for another's refresh looks at the store.
const POLL_EVERY: Duration = Duration::from_millis(50);

/// The refreshes in progress in this process: one gate per session, held
/// while it is refreshed. Only sessions due a refresh ever touch it.
#[derive(Default)]
pub(super) struct InFlight {
    gates: Mutex<HashMap<SessionId, Weak<Gate>>>,
}

/// One session's gate; holds when its last refresh failed to get an
/// answer, so the requests queued behind that refresh share its result
/// instead of each trying (and waiting) again.
type Gate = tokio::sync::Mutex<Option<Instant>>;

/// A failed refresh is not tried again for this long by the requests that
/// queued behind it.
const RETRY_AFTER: Duration = Duration::from_secs(5);

impl InFlight {
    fn gate(&self, id: &SessionId) -> Arc<Gate> {
        // A poisoned map only means a panic elsewhere while it was held;
        // its contents (weak gates) are still sound.
        let mut gates = self
            .gates
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(gate) = gates.get(id).and_then(Weak::upgrade) {
            return gate;
        }
        // Gates nobody holds any more go, so the map stays as small as
        // the refreshes in progress.
        gates.retain(|_, gate| gate.strong_count() > 0);
        let gate = Arc::new(tokio::sync::Mutex::new(None));
        gates.insert(*id, Arc::downgrade(&gate));
        gate
    }
}

/// Why a refresh gave no claims.
enum Failure {
    /// The provider refused, or its answer did not verify: end the session.
    Refused(String),
    /// Try again later.
    Unavailable(String),
}

impl Oidc {
    /// Refreshes the claims of session `id` (found due a refresh).
    pub async fn refresh_session(&self, store: &Store, id: &SessionId) -> Refreshed {
        let gate = self.inner.refreshing.gate(id);
        let hold = self.refresh_hold(store);
        let Ok(mut turn) = tokio::time::timeout(hold, gate.lock_owned()).await else {
            return Refreshed::Unavailable(
                "another request's refresh of this session took too long".into(),
            );
        };
        if turn.is_some_and(|failed| failed.elapsed() < RETRY_AFTER) {
            return Refreshed::Unavailable(
                "the refresh before this request's failed moments ago".into(),
            );
        }
        // The refresh runs as a task that owns the gate: a request that
        // goes away mid-refresh neither loses a token the provider has
        // just rotated, nor lets the next request spend the old one.
        let (oidc, store, id) = (self.clone(), store.clone(), *id);
        let refresh = tokio::spawn(async move {
            // The request before us in this process may have refreshed it.
            let refreshed = match still_due(&store, &id, "the session ended meanwhile").await {
                Ok(_) => oidc.refresh_claimed(&store, &id).await,
                Err(settled) => settled,
            };
            *turn = matches!(refreshed, Refreshed::Unavailable(_)).then(Instant::now);
            refreshed
        });
        match refresh.await {
            Ok(refreshed) => refreshed,
            Err(error) => Refreshed::Unavailable(format!("the refresh task failed: {error}")),
        }
    }

    /// The longest one refresh may take: discovery, a key fetch and the
    /// token request, each bounded by `oidc.timeout`, and the store's
    /// calls (a read, the claim, the write and its retry, the release),
    /// each bounded by its own timeout; and a margin.
    fn refresh_hold(&self, store: &Store) -> Duration {
        self.inner.settings.timeout * 3 + store.call_timeout() * 6 + Duration::from_secs(2)
    }

    /// Takes the store's claim on `id` and refreshes it, or waits for the
    /// replica that holds the claim.
    async fn refresh_claimed(&self, store: &Store, id: &SessionId) -> Refreshed {
        let hold = self.refresh_hold(store);
        let claim = match store.claim_refresh(id, hold).await {
            Ok(Some(claim)) => claim,
            Ok(None) => return wait_for_other_replica(store, id, hold).await,
            Err(error) => return Refreshed::Unavailable(error.to_string()),
        };
        // Read under the claim: another replica may have refreshed it
        // between our lookup and our claim.
        let outcome = match still_due(store, id, "the session ended meanwhile").await {
            Err(settled) => settled,
            Ok(current) => match self.refreshed_claims(&current).await {
                Ok(session) => write_refreshed(store, id, session).await,
                Err(Failure::Refused(why)) => match store.remove(id).await {
                    Ok(_) => Refreshed::Ended(why),
                    // Not ended in the store: the next request refreshes
                    // again, and is refused again.
                    Err(error) => {
                        Refreshed::Unavailable(format!("{why}; ending the session failed: {error}"))
                    }
                },
                Err(Failure::Unavailable(why)) => Refreshed::Unavailable(why),
            },
        };
        store.release_refresh(claim).await;
        outcome
    }

    /// The session with refreshed claims and tokens.
    async fn refreshed_claims(&self, session: &Session) -> Result<Session, Failure> {
        let settings = &self.inner.settings;
        let Some(tokens) = session.oidc.as_ref() else {
            return Err(Failure::Refused(
                "the session was not made at the provider".into(),
            ));
        };
        let Some(refresh_token) = tokens.refresh_token.as_deref() else {
            return Err(Failure::Refused("the session has no refresh token".into()));
        };
        // The sign-in's provider and client, still (a reload may have
        // changed `[oidc]`): its refresh token is never sent to another.
        let signed_in = SignIn::read(&tokens.id_token)
            .ok_or_else(|| Failure::Refused("the session's ID token is unreadable".into()))?;
        if signed_in.issuer != settings.issuer || !signed_in.audiences.contains(&settings.client_id)
        {
            return Err(Failure::Refused(
                "the session was signed in at another provider or client than oidc's".into(),
            ));
        }
        let provider = self
            .provider()
            .await
            .map_err(|error| Failure::Unavailable(format!("{error:?}")))?;
        let answer = token_endpoint::refresh(
            &self.inner.client,
            &provider.metadata.token_endpoint,
            &self.client_credentials(),
            refresh_token,
        )
        .await
        .map_err(|error| match error {
            // Only `invalid_grant` says the grant is over (revoked, the
            // user disabled, the token spent): `invalid_client` (a secret
            // rotated at the provider first), a rate limit or a malformed
            // request are the gateway's or the provider's trouble, and must
            // not sign everyone out.
            GrantError::Refused { error } if error == "invalid_grant" => {
                Failure::Refused(format!("the provider refused the refresh: {error}"))
            }
            GrantError::Refused { error } => {
                tracing::error!(%error, "oidc: the provider refused a refresh for the client itself; check oidc.client_id and the client secret");
                Failure::Unavailable(format!("the provider answered {error}"))
            }
            GrantError::Unavailable(why) => Failure::Unavailable(why),
        })?;
        let now = SystemTime::now();
        // No new ID token (the provider may leave it out): the provider has
        // still vouched for the grant, and the claims stay as they were.
        let (user, id_token_expiry) = match &answer.id_token {
            Some(id_token) => {
                let subject = signed_in.subject;
                let verified = provider
                    .verifier
                    .verify_id_token(
                        id_token,
                        IdTokenFrom::Refresh { subject: &subject },
                        &settings.client_id,
                    )
                    .await
                    .map_err(|error| match error {
                        BearerError::IssuerUnavailable(why) => Failure::Unavailable(why),
                        BearerError::Invalid(problem) => Failure::Refused(format!(
                            "the refreshed ID token: {problem} ({})",
                            problem.as_str()
                        )),
                    })?;
                if verified.user.username != session.username {
                    return Err(Failure::Refused(
                        "the refreshed ID token names another user".into(),
                    ));
                }
                if !self.allowed(&verified.user, verified.email.as_deref()) {
                    return Err(Failure::Refused(
                        "the user is no longer allowed here (allowed_groups / allowed_email_domains)".into(),
                    ));
                }
                (
                    NewSession {
                        csrf_secret: session.csrf_secret.clone(),
                        ..verified.user
                    },
                    Some(verified.expires_at),
                )
            }
            None => (session.to_new(), None),
        };
        let refresh_at = self.refresh_at(now, id_token_expiry, answer.expires_in);
        let user = NewSession {
            oidc: Some(ProviderTokens {
                id_token: answer.id_token.unwrap_or_else(|| tokens.id_token.clone()),
                // Not rotated: the one spent stays good.
                refresh_token: answer
                    .refresh_token
                    .or_else(|| tokens.refresh_token.clone()),
                refresh_at: Some(refresh_at),
            }),
            ..user
        };
        Ok(Session::new(user, session.created_at, session.expires_at))
    }
}

/// The session `id` as the store holds it now, when it is still due a
/// refresh; otherwise how that settles this one: its claims are fresh
/// (refreshed meanwhile), it has ended (`ended` says how), or the store
/// could not answer.
async fn still_due(store: &Store, id: &SessionId, ended: &str) -> Result<Arc<Session>, Refreshed> {
    match store.get_uncached(id).await {
        Ok(Some(current)) if !current.refresh_due(SystemTime::now()) => {
            Err(Refreshed::Fresh(current))
        }
        Ok(Some(current)) => Ok(current),
        Ok(None) => Err(Refreshed::Ended(ended.into())),
        Err(error) => Err(Refreshed::Unavailable(error.to_string())),
    }
}

/// Another replica holds the claim: its record, once written, or its
/// failure, once it lets go.
async fn wait_for_other_replica(store: &Store, id: &SessionId, hold: Duration) -> Refreshed {
    const ENDED: &str = "another replica's refresh ended the session";
    let deadline = Instant::now() + hold;
    loop {
        tokio::time::sleep(POLL_EVERY).await;
        if let Err(settled) = still_due(store, id, ENDED).await {
            return settled;
        }
        match store.refresh_claimed(id).await {
            Ok(true) if Instant::now() < deadline => continue,
            Ok(true) => {
                return Refreshed::Unavailable("another replica's refresh took too long".into())
            }
            // Let go: its record may have landed just after our read.
            Ok(false) => {
                return match still_due(store, id, ENDED).await {
                    Ok(_) => {
                        Refreshed::Unavailable("another replica's refresh did not succeed".into())
                    }
                    Err(settled) => settled,
                }
            }
            Err(error) => return Refreshed::Unavailable(error.to_string()),
        }
    }
}

/// Writes the refreshed session; a failed write is tried once more, since
/// the provider has already rotated the token the store still holds.
async fn write_refreshed(store: &Store, id: &SessionId, session: Session) -> Refreshed {
    let again = Session::new(session.to_new(), session.created_at, session.expires_at);
    let written = match store.replace(id, session).await {
        Err(error) => {
            tracing::warn!(%error, "oidc: writing a refreshed session failed; trying once more");
            store.replace(id, again).await
        }
        done => done,
    };
    match written {
        Ok(Some(session)) => Refreshed::Fresh(session),
        Ok(None) => Refreshed::Ended("the session ended meanwhile".into()),
        Err(error) => Refreshed::Unavailable(error.to_string()),
    }
}

/// What a session's ID token, verified at sign-in, says of that sign-in
/// (read from the session, never from a client).
struct SignIn {
    subject: String,
    issuer: String,
    audiences: Vec<String>,
}

impl SignIn {
    fn read(id_token: &str) -> Option<SignIn> {
        let payload = id_token.split('.').nth(1)?;
        let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        let text = |name: &str| claims.get(name)?.as_str().map(str::to_string);
        let audiences = match claims.get("aud")? {
            serde_json::Value::String(one) => vec![one.clone()],
            serde_json::Value::Array(many) => many
                .iter()
                .filter_map(|a| a.as_str().map(str::to_string))
                .collect(),
            _ => return None,
        };
        Some(SignIn {
            subject: text("sub")?,
            issuer: text("iss")?,
            audiences,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sign_in_is_read_from_its_id_token() {
        let token = |claims: &str| format!("h.{}.s", URL_SAFE_NO_PAD.encode(claims));
        let one = SignIn::read(&token(r#"{"sub":"42","iss":"https://idp","aud":"c"}"#)).unwrap();
        assert_eq!(
            (one.subject.as_str(), one.issuer.as_str()),
            ("42", "https://idp")
        );
        assert_eq!(one.audiences, ["c"]);
        let many = SignIn::read(&token(r#"{"sub":"42","iss":"i","aud":["c","d"]}"#)).unwrap();
        assert_eq!(many.audiences, ["c", "d"]);
        assert!(SignIn::read(&token(r#"{"sub":42,"iss":"i","aud":"c"}"#)).is_none());
        assert!(SignIn::read(&token(r#"{"sub":"42","aud":"c"}"#)).is_none());
        assert!(SignIn::read("not a token").is_none());
    }

    #[tokio::test]
    async fn one_gate_per_session_while_held() {
        let in_flight = InFlight::default();
        let (a, b) = (SessionId::generate(), SessionId::generate());
        let gate = in_flight.gate(&a);
        assert!(Arc::ptr_eq(&gate, &in_flight.gate(&a)));
        assert!(!Arc::ptr_eq(&gate, &in_flight.gate(&b)));
        let held = gate.lock().await;
        assert!(
            in_flight.gate(&a).try_lock().is_err(),
            "the same gate, held"
        );
        drop(held);
        drop(gate);
        let _fresh = in_flight.gate(&b);
        assert_eq!(in_flight.gates.lock().unwrap().len(), 1, "unheld gates go");
    }
}
