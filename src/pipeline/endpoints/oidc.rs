//! Sign-in through the OpenID provider (`[oidc]`): `GET <prefix>/oidc/login`
//! sends the browser to the provider with a fresh sign-in bound to it (a
//! sealed cookie); the provider sends it back to `<prefix><redirect_path>`,
//! where the sign-in is checked and completed (`crate::oidc`) and a session
//! is started exactly as the sign-in form starts one.

use http::header::{self, HeaderValue};
use http::{Response, StatusCode};

use super::login::{query_value, start_session};
use super::{safe_next, Exchange};
use crate::denial::Denial;
use crate::oidc::{Oidc, COOKIE_NAME, LIFETIME};
use crate::reply::ProxyBody;

/// The longest `next` carried through a sign-in; longer goes to `/`.
const MAX_NEXT: usize = 1024;

/// `GET <prefix>/oidc/login[?next=/path]`: 302 to the provider.
pub(super) async fn start(
    exchange: &Exchange<'_>,
    oidc: &Oidc,
) -> Result<Response<ProxyBody>, Denial> {
    let next = query_value(exchange.parts.uri.query(), "next");
    let next = safe_next(next.as_deref().unwrap_or("/"));
    // The sign-in cookie carries `next`: a very long one would not fit a
    // cookie, and the sign-in would fail as if never started.
    let next = if next.len() > MAX_NEXT { "/" } else { next };
    let redirect_uri = redirect_uri(exchange, oidc)?;
    let provider = oidc.provider().await.map_err(|error| {
        tracing::warn!(?error, "oidc: sign-in not started");
        error.denial()
    })?;
    let (location, sealed) = oidc.begin(&provider, next, &redirect_uri);
    let mut response = crate::reply::redirect(StatusCode::FOUND, &location);
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        pending_cookie(exchange, &sealed, LIFETIME.as_secs()),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `GET <prefix><redirect_path>?code=…&state=…`: the provider's answer;
/// 303 to `next`, signed in.
pub(super) async fn callback(
    exchange: &Exchange<'_>,
    oidc: &Oidc,
) -> Result<Response<ProxyBody>, Denial> {
    let cookie = crate::cookies::cookie_value(&exchange.parts.headers, COOKIE_NAME);
    let signed_in = oidc
        .complete(exchange.parts.uri.query(), cookie.as_deref())
        .await
        .map_err(|error| {
            tracing::warn!(?error, "oidc: sign-in failed");
            error.denial()
        })?;
    let username = signed_in.user.username.clone();
    // A name taken at the provider (many let users choose theirs) must not
    // become a local [[users]] account: the upstream could not tell them
    // apart.
    if exchange.config.users.get(&username).is_some() {
        tracing::warn!(username = ?username, "oidc: the provider's user has a local user's name; refused");
        return Err(crate::oidc::OidcError::NotAllowed.denial());
    }
    let mut response = crate::reply::redirect(StatusCode::SEE_OTHER, &signed_in.next);
    start_session(exchange, signed_in.user, &mut response).await?;
    // The sign-in is used up: its cookie goes.
    response
        .headers_mut()
        .append(header::SET_COOKIE, pending_cookie(exchange, "", 0));
    tracing::info!(username = ?username, "oidc: signed in");
    Ok(response)
}

/// Where the provider sends the browser back: this request's scheme and
/// Host, the prefix and `redirect_path`. It must be registered at the
/// provider, so a forged Host gets the provider's refusal, not a sign-in.
fn redirect_uri(exchange: &Exchange<'_>, oidc: &Oidc) -> Result<String, Denial> {
    let settings = oidc.settings();
    if let Some(site) = &settings.public_url {
        return Ok(format!(
            "{site}{}{}",
            exchange.config.server.internal_prefix, settings.redirect_path
        ));
    }
    // A name and a port, nothing a URL parser could read as more
    // (`shop.example.com:443@evil.test`), as a provider matching redirect
    // URIs loosely might otherwise accept.
    let host = exchange
        .host
        .filter(|host| {
            !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .ok_or_else(Denial::bad_host)?;
    crate::oidc::redirect_uri(
        exchange.https,
        host,
        &exchange.config.server.internal_prefix,
        &oidc.settings().redirect_path,
    )
    .map(|uri| uri.to_string())
    .ok_or_else(Denial::bad_host)
}

/// The sign-in cookie: sent back on the provider's top-level redirect
/// (SameSite=Lax), to the gateway's own paths only, never to scripts.
fn pending_cookie(exchange: &Exchange<'_>, value: &str, max_age: u64) -> HeaderValue {
    let secure = if exchange.https { "; Secure" } else { "" };
    let cookie = format!(
        "{COOKIE_NAME}={value}; Path={}/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}",
        exchange.config.server.internal_prefix
    );
    // Invariant: base64url, a checked prefix and fixed text.
    HeaderValue::from_str(&cookie).expect("sign-in cookie")
}
