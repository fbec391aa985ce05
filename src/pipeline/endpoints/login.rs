//! Signing in, the way Django's LoginView does: `GET <prefix>/login` serves
//! the form with the CSRF token embedded; `POST <prefix>/login` takes JSON
//! `{"username","password"}` or the urlencoded form, is CSRF-checked for
//! everyone, and on success makes a brand-new session, rotates the CSRF
//! secret and sets both cookies.

use crate::parsers::python_json::{self, Verdict};
use std::borrow::Cow;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use serde::{Deserialize, Serialize};

use super::{safe_next, Exchange};
use crate::auth::users::Outcome;
use crate::csrf::token::Secret;
use crate::denial::Denial;
use crate::pages::{login_page, LoginPage};
use crate::reply::ProxyBody;
use crate::session::cookie::session_cookie;
use crate::session::{SessionId, SessionStore};

/// Largest login body read.
const MAX_BODY: usize = 64 * 1024;
/// Django's `AbstractUser.username` max_length; no user can have a longer
/// name, so a longer one is refused without hashing anything.
const MAX_USERNAME: usize = 150;
/// How long an attempt may wait for a free password-check slot.
const CHECK_QUEUE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

pub(super) fn page(exchange: &Exchange<'_>) -> Response<ProxyBody> {
    let next = query_value(exchange.parts.uri.query(), "next");
    let form = Form {
        next: safe_next(next.as_deref().unwrap_or("/")),
        username: "",
        error: None,
    };
    render(exchange, StatusCode::OK, form)
}

/// What the form shows besides its CSRF token.
struct Form<'a> {
    /// Where to go after signing in (already checked to be a local path).
    next: &'a str,
    /// The username of a failed attempt.
    username: &'a str,
    error: Option<&'a str>,
}

/// The form page, with a CSRF token and (when the cookie is missing) the
/// cookie that goes with it.
fn render(exchange: &Exchange<'_>, status: StatusCode, form: Form<'_>) -> Response<ProxyBody> {
    let (secret, new_cookie) = exchange.csrf_secret();
    let token = secret.mask();
    let page = login_page(&LoginPage {
        prefix: &exchange.config.server.internal_prefix,
        csrf_token: &token,
        next: form.next,
        username: form.username,
        error: form.error,
        provider: exchange
            .config
            .oidc
            .as_ref()
            .map(|o| o.settings().name.as_str()),
    });
    let mut response = crate::reply::html(status, page);
    if let Some(cookie) = new_cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

#[derive(Deserialize)]
struct JsonCredentials {
    username: String,
    password: String,
}

struct Credentials {
    username: String,
    password: String,
    next: Option<String>,
}

#[derive(Serialize)]
struct SignedIn<'a> {
    username: &'a str,
}

pub(super) async fn submit(mut exchange: Exchange<'_>) -> Result<Response<ProxyBody>, Denial> {
    let form = exchange.is_form();
    if !form && !super::media_type(exchange.content_type()).eq_ignore_ascii_case("application/json")
    {
        return Err(Denial::unsupported_media_type(exchange.content_type()));
    }
    exchange.csrf_protect().await?;
    let address = crate::client::client_address(
        exchange.peer.ip(),
        &exchange.parts.headers,
        &exchange.config.server.trusted_proxies,
    );
    let credentials = read_credentials(&mut exchange, form).await?;
    let next = credentials
        .next
        .clone()
        .or_else(|| query_value(exchange.parts.uri.query(), "next").map(Cow::into_owned));
    let next = safe_next(next.as_deref().unwrap_or("/")).to_string();
    if credentials.username.chars().count() > MAX_USERNAME {
        return Err(Denial::invalid_credentials());
    }
    let attempt = exchange
        .gateway
        .login_throttle()
        .begin(address, &credentials.username)
        .map_err(Denial::throttled)?;

    // argon2 is CPU- and memory-hard for tens of milliseconds: off the
    // async workers, and no more at once than there are CPUs.
    let slots = Arc::clone(exchange.gateway.password_checks());
    let permit = tokio::time::timeout(CHECK_QUEUE_WAIT, slots.acquire_owned())
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or_else(|| Denial::throttled(std::time::Duration::from_secs(1)))?;
    let config = Arc::clone(exchange.config);
    let (username, password) = (credentials.username.clone(), credentials.password);
    let outcome = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        config.users.authenticate(&username, &password)
    })
    .await
    .unwrap_or(Outcome::Refused);

    let new_session = match outcome {
        Outcome::SignedIn(new) => new,
        Outcome::Refused => {
            // Debug formatting: a username is client text, never a raw log line.
            tracing::warn!(username = ?credentials.username, client = %address, "login failed");
            attempt.failed().map_err(Denial::throttled)?;
            if form && exchange.html {
                let denial = Denial::invalid_credentials();
                let form = Form {
                    next: &next,
                    username: &credentials.username,
                    error: Some(&denial.detail),
                };
                return Ok(render(&exchange, denial.status, form));
            }
            return Err(Denial::invalid_credentials());
        }
    };
    let username = new_session.username.clone();
    let mut response = if form {
        crate::reply::redirect(StatusCode::SEE_OTHER, &next)
    } else {
        // Invariant: a struct of one &str serialises.
        let body = serde_json::to_vec(&SignedIn {
            username: &username,
        })
        .expect("serialise login");
        crate::reply::json(StatusCode::OK, Bytes::from(body))
    };
    start_session(&exchange, *new_session, &mut response).await?;
    drop(attempt);
    tracing::info!(username = ?username, client = %address, "login succeeded");
    Ok(response)
}

/// Django's `login()`: a brand-new session for `user` in the store (never
/// the id the client came with, which is revoked), its cookie and a
/// rotated CSRF secret added to `response`, which is not to be cached.
pub(super) async fn start_session(
    exchange: &Exchange<'_>,
    user: crate::session::NewSession,
    response: &mut Response<ProxyBody>,
) -> Result<(), Denial> {
    if let Some(old) = old_session_id(exchange) {
        let _ = exchange.gateway.store().remove(&old).await;
    }
    let session = &exchange.config.session;
    let lifetime = session.lifetime(session.ttl);
    let (id, _) = exchange
        .gateway
        .store()
        .create(user, lifetime)
        .await
        .map_err(|error| {
            tracing::error!(%error, "sign-in: session store failed");
            Denial::session_store_unavailable()
        })?;
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        session_cookie(&session.cookie_name, &id, lifetime, exchange.https),
    );
    // Rotate the CSRF secret, as Django's login() does.
    let rotated = Secret::generate();
    headers.append(
        header::SET_COOKIE,
        crate::csrf::cookie::set_cookie(&exchange.config.csrf, &rotated, exchange.https),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(())
}

async fn read_credentials(exchange: &mut Exchange<'_>, form: bool) -> Result<Credentials, Denial> {
    let body = match Limited::new(&mut *exchange.body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) => return Err(Denial::unreadable_body(&*error)),
    };
    if form {
        let mut credentials = Credentials {
            username: String::new(),
            password: String::new(),
            next: None,
        };
        for (key, value) in form_urlencoded::parse(&body) {
            match key.as_ref() {
                "username" => credentials.username = value.into_owned(),
                "password" => credentials.password = value.into_owned(),
                "next" => credentials.next = Some(value.into_owned()),
                _ => {}
            }
        }
        return Ok(credentials);
    }
    // What Python's json module says of a body it refuses, as DRF's
    // JSONParser reports it; serde's word only for a valid JSON document
    // of the wrong shape.
    if let Verdict::Fails(message) = python_json::verdict(&body) {
        return Err(Denial::json_parse_error(&message));
    }
    let json: JsonCredentials =
        serde_json::from_slice(&body).map_err(|e| Denial::json_parse_error(&e.to_string()))?;
    Ok(Credentials {
        username: json.username,
        password: json.password,
        next: None,
    })
}

fn old_session_id(exchange: &Exchange<'_>) -> Option<SessionId> {
    let name = &exchange.config.session.cookie_name;
    crate::cookies::cookie_value(&exchange.parts.headers, name).and_then(|v| SessionId::parse(&v))
}

/// The last value of `key` in a query string, percent-decoded.
pub(super) fn query_value<'q>(query: Option<&'q str>, key: &str) -> Option<Cow<'q, str>> {
    form_urlencoded::parse(query?.as_bytes())
        .filter(|(k, _)| k == key)
        .last()
        .map(|(_, v)| v)
}
