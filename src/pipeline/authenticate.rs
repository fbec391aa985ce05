//! Stage 4: DRF's `_authenticate`. The route's authentication classes (or
//! the top level's) are tried in order; the first that authenticates
//! wins, one that refuses its credential (`AuthenticationFailed`) ends the
//! request, and one that finds no credential of its kind passes to the
//! next. Nobody authenticated: anonymous, for `authorize` to judge.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use http::HeaderMap;

use super::lookup_session;
use super::trace::{CredentialStep, Trace};
use super::Context;
use crate::credentials::authorization::{authorization_bytes, python_split};
use crate::credentials::bearer::BearerError;
use crate::credentials::simplejwt::{self, TokenClass};
use crate::credentials::{drf_token, AuthClass, AuthClasses};
use crate::denial::{Denial, DetailExtra, Reason};
use crate::routes::Route;
use crate::session::state::{NoSession, SessionState};
use crate::session::{CredentialUser, Session};

/// What one class made of the request.
enum Outcome {
    /// No credential of this class's kind: try the next.
    Absent,
    Authenticated(Arc<Session>),
    Refused(Denial),
}

/// The classes that apply to `route`: its own, or the top level's.
pub fn classes_for(context: &Context<'_>, route: Option<&Route>) -> AuthClasses {
    route
        .and_then(|r| r.authentication)
        .unwrap_or(context.config.authentication.default)
}

/// Who the request is from, by `classes` in order.
pub async fn authenticate(
    context: &Context<'_>,
    headers: &HeaderMap,
    classes: AuthClasses,
    from_route: bool,
    trace: &mut Trace,
) -> SessionState {
    trace.note(|| CredentialStep::Classes {
        list: classes,
        from_route,
    });
    let mut anonymous = NoSession::NoCredentials;
    let mut unavailable = None;
    for class in classes.iter() {
        let outcome = match class {
            AuthClass::Session => match lookup_session::lookup(context, headers, trace).await {
                state @ SessionState::Authenticated(..) => return state,
                SessionState::Anonymous(why) => {
                    anonymous = why;
                    continue;
                }
                SessionState::Unavailable(what) => {
                    unavailable = Some(what);
                    continue;
                }
                SessionState::Refused(denial) => return SessionState::Refused(denial),
            },
            AuthClass::Token => drf_token(context, headers).await,
            AuthClass::Jwt => jwt(context, headers).await,
            AuthClass::Bearer => bearer(context, headers).await,
        };
        match outcome {
            Outcome::Absent => trace.note(|| CredentialStep::Absent(class)),
            Outcome::Authenticated(user) => {
                trace.note(|| CredentialStep::Authenticated {
                    class,
                    username: user.username.clone(),
                });
                return SessionState::Authenticated(user, class);
            }
            Outcome::Refused(denial) => {
                trace.note(|| CredentialStep::Refused {
                    class,
                    denial: denial.clone(),
                });
                return SessionState::Refused(Box::new(denial));
            }
        }
    }
    match unavailable {
        Some(what) => SessionState::Unavailable(what),
        None => SessionState::Anonymous(anonymous),
    }
}

/// DRF's `TokenAuthentication`.
async fn drf_token(context: &Context<'_>, headers: &HeaderMap) -> Outcome {
    let settings = &context.config.authentication.token;
    let key = match drf_token::presented_key(headers, settings) {
        Ok(Some(key)) => key,
        Ok(None) => return Outcome::Absent,
        Err(denial) => return Outcome::Refused(denial),
    };
    match context.store.token_user(&key).await {
        Ok(CredentialUser::Found(user)) => Outcome::Authenticated(user),
        Ok(CredentialUser::Unknown) => Outcome::Refused(drf_token::failed(
            drf_token::INVALID_TOKEN,
            Reason::TokenInvalid,
        )),
        Ok(CredentialUser::Inactive) => {
            Outcome::Refused(drf_token::failed(drf_token::INACTIVE, Reason::UserInactive))
        }
        Err(error) => {
            tracing::warn!(%error, "token lookup failed");
            Outcome::Refused(Denial::session_store_unavailable())
        }
    }
}

/// A JWT from the `[bearer]` issuer: `Authorization: Bearer <token>`.
async fn bearer(context: &Context<'_>, headers: &HeaderMap) -> Outcome {
    // Compiled only with a [bearer] section (the config compiler checks).
    let Some(verifier) = &context.config.bearer else {
        return Outcome::Absent;
    };
    let token = match bearer_token(headers) {
        Ok(Some(token)) => token,
        Ok(None) => return Outcome::Absent,
        Err(denial) => return Outcome::Refused(denial),
    };
    match verifier.verify(&token).await {
        Ok(verified) => Outcome::Authenticated(Arc::new(Session::new(
            verified.user,
            SystemTime::now(),
            verified.expires_at,
        ))),
        Err(BearerError::Invalid(problem)) => {
            let mut denial = Denial::owned(
                http::StatusCode::UNAUTHORIZED,
                Reason::BearerInvalid,
                problem.message(),
            );
            denial.extra = Some(Box::new(DetailExtra {
                code: problem.as_str(),
                messages: None,
            }));
            Outcome::Refused(denial)
        }
        Err(BearerError::IssuerUnavailable(why)) => {
            tracing::warn!(%why, "bearer token issuer unavailable; refusing (fail closed)");
            Outcome::Refused(Denial::issuer_unavailable())
        }
    }
}

/// The token of `Authorization: Bearer <token>` (the scheme in any case,
/// RFC 6750): `Ok(None)` for another scheme or no header.
fn bearer_token(headers: &HeaderMap) -> Result<Option<String>, Denial> {
    let Some(header) = authorization_bytes(headers) else {
        return Ok(None);
    };
    let parts: Vec<&[u8]> = python_split(&header).collect();
    match parts.as_slice() {
        [scheme, ..] if !scheme.eq_ignore_ascii_case(b"Bearer") => Ok(None),
        [_, token] => match std::str::from_utf8(token) {
            Ok(token) => Ok(Some(token.to_string())),
            Err(_) => Err(bad_bearer_header()),
        },
        [] => Ok(None),
        _ => Err(bad_bearer_header()),
    }
}

fn bad_bearer_header() -> Denial {
    let mut denial = Denial::authentication_failed(
        Reason::BearerInvalid,
        "Authorization header must contain two space-delimited values",
    );
    denial.extra = Some(Box::new(DetailExtra {
        code: "bad_authorization_header",
        messages: None,
    }));
    denial
}

/// simplejwt's `get_validated_token`: each of `AUTH_TOKEN_CLASSES` in
/// order; the first that accepts the token wins, else every class's
/// message. A sliding token's `jti` is looked up in the blacklist first
/// (`BlacklistMixin.verify`), when the blacklist app is installed.
async fn validated(
    context: &Context<'_>,
    raw: &[u8],
    settings: &simplejwt::JwtSettings,
    now: f64,
) -> Result<serde_json::Map<String, serde_json::Value>, Denial> {
    let classes = settings.token_classes.iter().copied();
    let payload = match simplejwt::decode(raw, settings, now) {
        Ok(payload) => payload,
        // The same backend decodes for every class: the same message each.
        Err(message) => {
            return Err(simplejwt::not_valid(
                classes
                    .map(|class| class.message(message.clone()))
                    .collect(),
            ))
        }
    };
    let mut messages = Vec::with_capacity(settings.token_classes.len());
    for class in classes {
        if class == TokenClass::Sliding && settings.blacklist {
            let blacklisted = match simplejwt::jti(&payload, settings) {
                Some(jti) => context.store.jti_blacklisted(jti).await,
                None => Ok(false),
            };
            match blacklisted {
                Ok(true) => {
                    messages.push(class.message("Token is blacklisted".into()));
                    continue;
                }
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(%error, "JWT blacklist lookup failed");
                    return Err(Denial::session_store_unavailable());
                }
            }
        }
        match simplejwt::verify(&payload, settings, class, now) {
            Ok(()) => return Ok(payload),
            Err(message) => messages.push(class.message(message)),
        }
    }
    Err(simplejwt::not_valid(messages))
}

/// simplejwt's `JWTAuthentication` (or the stateless variant).
async fn jwt(context: &Context<'_>, headers: &HeaderMap) -> Outcome {
    // Compiled only with a [jwt] section (the config compiler checks).
    let Some(settings) = &context.config.authentication.jwt else {
        return Outcome::Absent;
    };
    let raw = match simplejwt::raw_token(headers, settings) {
        Ok(Some(raw)) => raw,
        Ok(None) => return Outcome::Absent,
        Err(denial) => return Outcome::Refused(denial),
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let payload = match validated(context, &raw, settings, now).await {
        Ok(payload) => payload,
        Err(denial) => return Outcome::Refused(denial),
    };
    let user_id = match simplejwt::user_id(&payload, settings) {
        Ok(id) => id,
        Err(denial) => return Outcome::Refused(denial),
    };
    let expires_at = payload
        .get("exp")
        .and_then(serde_json::Value::as_f64)
        .and_then(|exp| std::time::Duration::try_from_secs_f64(exp).ok())
        .map_or(SystemTime::now(), |exp| UNIX_EPOCH + exp);
    if settings.stateless {
        return match simplejwt::token_user(&payload, user_id, expires_at) {
            Some(user) => Outcome::Authenticated(Arc::new(user)),
            None => Outcome::Refused(simplejwt::failure(
                Reason::JwtUserNotFound,
                simplejwt::USER_NOT_FOUND,
                "user_not_found",
                None,
            )),
        };
    }
    let found = match user_id {
        Some(id) => context.store.django_user(&id).await,
        None => Ok(CredentialUser::Unknown),
    };
    match found {
        Ok(CredentialUser::Found(user)) => Outcome::Authenticated(user),
        Ok(CredentialUser::Unknown) => Outcome::Refused(simplejwt::failure(
            Reason::JwtUserNotFound,
            simplejwt::USER_NOT_FOUND,
            "user_not_found",
            None,
        )),
        Ok(CredentialUser::Inactive) => Outcome::Refused(simplejwt::failure(
            Reason::UserInactive,
            simplejwt::USER_INACTIVE,
            "user_inactive",
            None,
        )),
        Err(error) => {
            tracing::warn!(%error, "JWT user lookup failed");
            Outcome::Refused(Denial::session_store_unavailable())
        }
    }
}
