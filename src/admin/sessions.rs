//! Session management calls: create, show, revoke one, revoke all of a user.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};

use super::{error, read_json};
use crate::gateway::Gateway;
use crate::reply::ProxyBody;
use crate::session::record::unsafe_identity_value;
use crate::session::{NewSession, Session, SessionId, SessionStore, StoreError, MAX_SESSION_TTL};

/// `POST /sessions` body. Only `username` is required.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateSession {
    username: String,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    permissions: Vec<String>,
    #[serde(default)]
    staff: bool,
    #[serde(default)]
    superuser: bool,
    /// humantime duration; default `[session] ttl` (for a token: none).
    #[serde(default)]
    pub(super) ttl: Option<String>,
}

impl CreateSession {
    /// The user it describes, or why it cannot be sent as identity headers.
    pub(super) fn user(self) -> Result<NewSession, String> {
        if let Some(problem) = validate(&self) {
            return Err(problem);
        }
        Ok(NewSession {
            username: self.username,
            user_id: self.user_id,
            groups: self.groups,
            permissions: self.permissions,
            staff: self.staff,
            superuser: self.superuser,
            csrf_secret: None,
            oidc: None,
        })
    }
}

/// A `ttl` as the admin API takes it: a humantime duration, positive and
/// at most 100 years; `Err` says why (the 400's message).
pub(super) fn parse_ttl(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(ttl) if ttl > Duration::ZERO && ttl <= MAX_SESSION_TTL => Ok(ttl),
        _ => Err(format!(
            "Invalid ttl {text:?}: expected a positive duration of at most 100 years, such as \"30m\" or \"14d\"."
        )),
    }
}

#[derive(Serialize)]
struct Created<'a> {
    session_id: &'a str,
    expires_at: String,
}

/// A session as the admin API shows it.
#[derive(Serialize)]
struct SessionView<'a> {
    username: &'a str,
    user_id: Option<&'a str>,
    groups: &'a [String],
    permissions: &'a [String],
    staff: bool,
    superuser: bool,
    created_at: String,
    expires_at: String,
}

impl<'a> From<&'a Session> for SessionView<'a> {
    fn from(s: &'a Session) -> SessionView<'a> {
        SessionView {
            username: &s.username,
            user_id: s.user_id.as_deref(),
            groups: &s.groups,
            permissions: &s.permissions,
            staff: s.staff,
            superuser: s.superuser,
            created_at: rfc3339(s.created_at),
            expires_at: rfc3339(s.expires_at),
        }
    }
}

pub(super) fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

pub(super) fn json_of(status: StatusCode, value: &impl Serialize) -> Response<ProxyBody> {
    // Invariant: these view structs hold only strings, bools and lists.
    crate::reply::json(
        status,
        Bytes::from(serde_json::to_vec(value).expect("serialise admin view")),
    )
}

fn store_error(e: StoreError) -> Response<ProxyBody> {
    store_error_or(
        e,
        "The django session store is read-only: sessions are made and ended by Django (log the user out there).",
    )
}

/// The admin API's answer to a store error: 409 with `read_only` for the
/// Django store, which the gateway never writes; else 503.
pub(super) fn store_error_or(e: StoreError, read_only: &str) -> Response<ProxyBody> {
    if let StoreError::ReadOnly = e {
        return error(StatusCode::CONFLICT, read_only);
    }
    tracing::error!(error = %e, "admin call: session store failed");
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "Session store unavailable.",
    )
}

pub async fn create(gateway: &Gateway, request: Request<Incoming>) -> Response<ProxyBody> {
    let input: CreateSession = match read_json(request).await {
        Ok(input) => input,
        Err(refused) => return refused,
    };
    let config = gateway.config();
    let ttl = match &input.ttl {
        None => config.session.ttl,
        Some(text) => match parse_ttl(text) {
            Ok(ttl) => ttl,
            Err(why) => return error(StatusCode::BAD_REQUEST, &why),
        },
    };
    let new = match input.user() {
        Ok(new) => new,
        Err(problem) => return error(StatusCode::BAD_REQUEST, &problem),
    };
    match gateway.store().create(new, ttl).await {
        Ok((id, session)) => {
            tracing::info!(username = %session.username, "session created via admin API");
            json_of(
                StatusCode::CREATED,
                &Created {
                    session_id: id.as_str(),
                    expires_at: rfc3339(session.expires_at),
                },
            )
        }
        Err(e) => store_error(e),
    }
}

fn validate(input: &CreateSession) -> Option<String> {
    unsafe_identity_value(
        &input.username,
        input.user_id.as_deref(),
        &input.groups,
        &input.permissions,
    )
}

pub async fn show(gateway: &Gateway, id: &str) -> Response<ProxyBody> {
    let Some(id) = SessionId::parse(id) else {
        return error(StatusCode::NOT_FOUND, "Not found.");
    };
    match gateway.store().get(&id).await {
        Ok(Some(session)) => json_of(StatusCode::OK, &SessionView::from(&*session)),
        Ok(None) => error(StatusCode::NOT_FOUND, "Not found."),
        Err(e) => store_error(e),
    }
}

pub async fn revoke(gateway: &Gateway, id: &str) -> Response<ProxyBody> {
    let Some(id) = SessionId::parse(id) else {
        return error(StatusCode::NOT_FOUND, "Not found.");
    };
    match gateway.store().remove(&id).await {
        Ok(true) => {
            let mut response = crate::reply::json(StatusCode::NO_CONTENT, Bytes::new());
            response.headers_mut().remove(http::header::CONTENT_TYPE);
            response
        }
        Ok(false) => error(StatusCode::NOT_FOUND, "Not found."),
        Err(e) => store_error(e),
    }
}

#[derive(Serialize)]
struct Revoked {
    revoked: usize,
}

pub async fn revoke_user(gateway: &Gateway, username: &str) -> Response<ProxyBody> {
    let username: Cow<str> = match percent_encoding::percent_decode_str(username).decode_utf8() {
        Ok(name) => name,
        Err(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "Invalid username: not UTF-8 once decoded.",
            )
        }
    };
    match gateway.store().remove_user(&username).await {
        Ok(revoked) => {
            tracing::info!(username = %username, revoked, "sessions revoked via admin API");
            json_of(StatusCode::OK, &Revoked { revoked })
        }
        Err(e) => store_error(e),
    }
}
