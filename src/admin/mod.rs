//! The admin API on `server.admin_listen`: health, readiness, metrics,
//! session management, reload and `POST /explain`. Every call except
//! `GET /healthz`, `GET /readyz` and `GET /metrics` needs
//! `Authorization: Bearer <token>`.

mod explain;
mod sessions;
mod tokens;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use crate::gateway::Gateway;
use crate::reply::{detail_body, ProxyBody};

/// Largest JSON body the admin API reads.
const MAX_BODY: usize = 64 * 1024;

pub async fn handle(gateway: &Gateway, request: Request<Incoming>) -> Response<ProxyBody> {
    let path = request.uri().path().to_owned();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let method = request.method().clone();
    if segments == ["healthz"] {
        return match method {
            Method::GET | Method::HEAD => {
                crate::reply::json(StatusCode::OK, Bytes::from_static(br#"{"status":"ok"}"#))
            }
            _ => method_not_allowed(&method),
        };
    }
    if segments == ["metrics"] {
        return match method {
            Method::GET | Method::HEAD => {
                let mut response =
                    crate::reply::json(StatusCode::OK, Bytes::from(gateway.metrics().encode()));
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    ),
                );
                response
            }
            _ => method_not_allowed(&method),
        };
    }
    if segments == ["readyz"] {
        return match method {
            Method::GET | Method::HEAD => readiness(gateway).await,
            _ => method_not_allowed(&method),
        };
    }
    if !authorized(gateway, &request) {
        let mut response = error(StatusCode::UNAUTHORIZED, "Invalid or missing admin token.");
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    }
    match (method.clone(), segments.as_slice()) {
        (Method::POST, ["reload"]) => reload(gateway),
        (Method::POST, ["explain"]) => explain::handle(gateway, request).await,
        (Method::POST, ["sessions"]) => sessions::create(gateway, request).await,
        (Method::GET, ["sessions", id]) => sessions::show(gateway, id).await,
        (Method::DELETE, ["sessions", id]) => sessions::revoke(gateway, id).await,
        (Method::POST, ["tokens"]) => tokens::create(gateway, request).await,
        (Method::DELETE, ["tokens", id]) => tokens::revoke(gateway, id).await,
        (Method::DELETE, ["users", username, "sessions"]) => {
            sessions::revoke_user(gateway, username).await
        }
        (
            _,
            ["sessions"]
            | ["sessions", _]
            | ["tokens"]
            | ["tokens", _]
            | ["users", _, "sessions"]
            | ["reload"]
            | ["explain"],
        ) => method_not_allowed(&method),
        _ => error(StatusCode::NOT_FOUND, "Not found."),
    }
}

/// `POST /reload`: the same as SIGHUP.
fn reload(gateway: &Gateway) -> Response<ProxyBody> {
    match gateway.reload() {
        Ok((_, report)) => {
            let body =
                serde_json::json!({ "status": "reloaded", "needs_restart": report.needs_restart });
            crate::reply::json(StatusCode::OK, Bytes::from(body.to_string()))
        }
        Err(crate::reload::ReloadError::Invalid(errors)) => {
            let lines: Vec<String> = errors.to_string().lines().map(str::to_string).collect();
            let body = serde_json::json!({
                "detail": "Invalid config; the old config keeps serving.",
                "errors": lines,
            });
            crate::reply::json(StatusCode::BAD_REQUEST, Bytes::from(body.to_string()))
        }
        Err(other) => error(StatusCode::CONFLICT, &format!("Cannot reload: {other}.")),
    }
}

/// Ready when the session store answers and the gateway is not shutting
/// down: an orchestrator should send no traffic otherwise.
async fn readiness(gateway: &Gateway) -> Response<ProxyBody> {
    if gateway.is_draining() {
        let body = serde_json::json!({ "status": "not ready", "detail": "Shutting down." });
        return crate::reply::json(
            StatusCode::SERVICE_UNAVAILABLE,
            Bytes::from(body.to_string()),
        );
    }
    let (store, cache_on) = gateway.store().describe();
    let cache = cache_on.map(|on| if on { "on" } else { "off" });
    let (status, mut body) = match gateway.store().ready().await {
        Ok(()) => (StatusCode::OK, serde_json::json!({ "status": "ready" })),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({ "status": "not ready", "detail": format!("Session store unavailable: {why}") }),
        ),
    };
    body["store"] = store.into();
    body["local_cache"] = cache.into();
    crate::reply::json(status, Bytes::from(body.to_string()))
}

fn authorized(gateway: &Gateway, request: &Request<Incoming>) -> bool {
    let config = gateway.config();
    request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
        .is_some_and(|token| config.admin.token.verify(token))
}

/// A JSON request body of at most `MAX_BODY` bytes, or the answer refusing it.
async fn read_json<T: serde::de::DeserializeOwned>(
    request: Request<Incoming>,
) -> Result<T, Response<ProxyBody>> {
    let body = match Limited::new(request.into_body(), MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return Err(error(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("Request body must be at most {MAX_BODY} bytes."),
            ))
        }
    };
    serde_json::from_slice(&body)
        .map_err(|e| error(StatusCode::BAD_REQUEST, &format!("Invalid JSON: {e}.")))
}

fn error(status: StatusCode, detail: &str) -> Response<ProxyBody> {
    crate::reply::json(status, detail_body(detail))
}

fn method_not_allowed(method: &Method) -> Response<ProxyBody> {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("Method \"{method}\" not allowed."),
    )
}
