//! API tokens for DRF's `TokenAuthentication` with the memory and Redis
//! stores: `POST /tokens` makes one for a user and shows its key once;
//! `DELETE /tokens/{id}` revokes it. The store keeps only a digest of the
//! key (the id). With the Django store, tokens are Django's own
//! (`Token.objects.create`), and these calls answer 409.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::Serialize;

use super::sessions::{json_of, parse_ttl, rfc3339, store_error_or, CreateSession};
use super::{error, read_json};
use crate::gateway::Gateway;
use crate::reply::ProxyBody;
use crate::session::{SessionId, StoreError, MAX_SESSION_TTL};

#[derive(Serialize)]
struct Created<'a> {
    /// The key, for `Authorization: Token <key>`: shown only here.
    token: &'a str,
    /// What `DELETE /tokens/{id}` takes: a digest of the key.
    id: &'a str,
    username: &'a str,
    expires_at: String,
}

fn store_error(e: StoreError) -> Response<ProxyBody> {
    store_error_or(
        e,
        "With the django store, tokens are DRF's own authtoken_token rows: make and delete them in Django (Token.objects.create).",
    )
}

/// `POST /tokens`: the body of `POST /sessions`; `ttl` defaults to none
/// (DRF's tokens do not expire).
pub async fn create(gateway: &Gateway, request: Request<Incoming>) -> Response<ProxyBody> {
    let input: CreateSession = match read_json(request).await {
        Ok(input) => input,
        Err(refused) => return refused,
    };
    let ttl: Duration = match &input.ttl {
        None => MAX_SESSION_TTL,
        Some(text) => match parse_ttl(text) {
            Ok(ttl) => ttl,
            Err(why) => return error(StatusCode::BAD_REQUEST, &why),
        },
    };
    let new = match input.user() {
        Ok(new) => new,
        Err(problem) => return error(StatusCode::BAD_REQUEST, &problem),
    };
    match gateway.store().create_token(new, ttl).await {
        Ok((key, id, user)) => {
            tracing::info!(username = %user.username, token_id = id.as_str(), "API token created via admin API");
            json_of(
                StatusCode::CREATED,
                &Created {
                    token: &key,
                    id: id.as_str(),
                    username: &user.username,
                    expires_at: rfc3339(user.expires_at),
                },
            )
        }
        Err(e) => store_error(e),
    }
}

/// `DELETE /tokens/{id}`.
pub async fn revoke(gateway: &Gateway, id: &str) -> Response<ProxyBody> {
    let Some(id) = SessionId::parse(id) else {
        return error(StatusCode::NOT_FOUND, "Not found.");
    };
    match gateway.store().remove_token(&id).await {
        Ok(true) => {
            tracing::info!(token_id = id.as_str(), "API token revoked via admin API");
            let mut response = crate::reply::json(StatusCode::NO_CONTENT, Bytes::new());
            response.headers_mut().remove(http::header::CONTENT_TYPE);
            response
        }
        Ok(false) => error(StatusCode::NOT_FOUND, "Not found."),
        Err(e) => store_error(e),
    }
}
