//! `POST <prefix>/logout`: CSRF-checked; revokes the session in the store
//! and expires both cookies. `204` for API clients, `303` to `/` for forms,
//! or, for a session made by signing in at the OpenID provider (`[oidc]`)
//! when it has an `end_session_endpoint`, to the provider (RP-initiated
//! logout, with the ID token as `id_token_hint`), which sends the browser
//! back to `/`.

use http::header;
use http::{Response, StatusCode};

use super::Exchange;
use crate::denial::Denial;
use crate::reply::ProxyBody;
use crate::session::cookie::expired_cookie;
use crate::session::{SessionId, SessionStore};

pub(super) async fn submit(mut exchange: Exchange<'_>) -> Result<Response<ProxyBody>, Denial> {
    exchange.csrf_protect().await?;
    let session = &exchange.config.session;
    let id = crate::cookies::cookie_value(&exchange.parts.headers, &session.cookie_name)
        .and_then(|v| SessionId::parse(&v));
    let mut provider_logout = None;
    if let Some(id) = id {
        let store = exchange.gateway.store();
        // Whose session it was decides where the browser goes next; a
        // store that cannot say is answered below by `remove`.
        if let (Some(oidc), Ok(Some(session))) = (&exchange.config.oidc, store.get(&id).await) {
            let site = match (&oidc.settings().public_url, exchange.host) {
                (Some(site), _) => Some(site.clone()),
                (None, Some(host)) => {
                    let scheme = if exchange.https { "https" } else { "http" };
                    Some(format!("{scheme}://{host}"))
                }
                (None, None) => None,
            };
            if let (Some(tokens), Some(site)) = (&session.oidc, site) {
                let id_token = &tokens.id_token;
                // After a restart this process may not have met the
                // provider yet: find it now (an unreachable one: `/`).
                if oidc.provider().await.is_ok() {
                    provider_logout = oidc.end_session_url(Some(id_token), &format!("{site}/"));
                }
            }
        }
        store.remove(&id).await.map_err(|error| {
            tracing::error!(%error, "logout: session store failed");
            Denial::session_store_unavailable()
        })?;
    }
    let mut response = if exchange.is_form() {
        crate::reply::redirect(
            StatusCode::SEE_OTHER,
            provider_logout.as_deref().unwrap_or("/"),
        )
    } else {
        let mut empty = crate::reply::json(StatusCode::NO_CONTENT, bytes::Bytes::new());
        empty.headers_mut().remove(header::CONTENT_TYPE);
        empty
    };
    let csrf = &exchange.config.csrf;
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        expired_cookie(&session.cookie_name, None, exchange.https),
    );
    headers.append(
        header::SET_COOKIE,
        expired_cookie(
            &csrf.cookie_name,
            csrf.cookie_domain.as_deref(),
            exchange.https,
        ),
    );
    Ok(response)
}
