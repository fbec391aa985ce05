//! The request pipeline: every proxied request goes through these stages,
//! in this order. Each stage either lets the request continue or returns a
//! `Denial` the gateway answers with itself. Start reading here.
//!
//! 1. `canonical`  one canonical method and path (or 400); the same ones are matched and forwarded
//! 2. endpoints    the gateway's own `/_portcullis/*` (CSRF token, login, logout), never forwarded
//! 3. `route`      first matching `[[routes]]` entry in file order; none = deny
//! 4. `session`    session cookie → id format check → store lookup (→ sliding renewal)
//! 5. `csrf`       Django's CSRF check on unsafe methods, in Django's order
//! 6. `authorize`  access level, groups, permissions, model permissions
//! 7. `identity`   strip every client copy of identity headers, inject ours
//! 8. `forward`    pooled upstream client, hop-by-hop hygiene, X-Forwarded-*
//! 9. `observe`    one access-log line with the decision and reason
//!
//! On the way out: a denial is JSON, or HTML for a browser (or a redirect
//! to the login page, with `[login] redirect_browsers`); a request without
//! a valid csrftoken cookie (safe methods) or with a malformed one gets a
//! fresh cookie, as Django does; a renewed sliding session gets its cookie.

pub mod authorize;
pub mod body;
pub mod canonical;
pub mod csrf;
pub mod denial;
pub mod forward;
pub mod hop_by_hop;
pub mod identity;
pub mod observe;
pub mod route;
pub mod session;
pub mod upgrade;

use std::net::SocketAddr;
use std::sync::Arc;

use http::header::{self, HeaderValue};
use http::uri::PathAndQuery;
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::config::Runtime;
use crate::csrf::token::Secret;
use crate::endpoints;
use crate::gateway::Gateway;
use crate::response::{self, ProxyBody};
use body::ForwardBody;
use denial::{Denial, Reason};
use observe::AccessLog;
use session::SessionState;

/// Cookies the response sets on the way out.
#[derive(Default)]
struct OutgoingCookies {
    csrf: Option<HeaderValue>,
    session: Option<HeaderValue>,
}

/// Runs one request through the pipeline and always produces a response.
pub async fn handle(
    gateway: &Gateway,
    request: Request<Incoming>,
    connection: crate::server::Connection,
) -> Response<ProxyBody> {
    let peer = connection.peer;
    // The request keeps this snapshot to the end, even if a reload swaps
    // in a new one meanwhile.
    let runtime = gateway.runtime();
    let (mut parts, body) = request.into_parts();
    canonical::canonicalize_method(&mut parts);
    let mut log = AccessLog::start(&parts);
    // CORS: a preflight from an allowed origin is answered here (it has no
    // cookies, so no session could be found for it).
    if let Some(preflight) = runtime.cors.preflight(&parts.method, &parts.headers) {
        log.finish(preflight.status(), gateway.metrics());
        return preflight;
    }
    let cors_origin = runtime.cors.allowed_origin(&parts.headers);
    let html = crate::negotiate::prefers_html(&parts.headers);
    let method = parts.method.clone();
    let target = parts.uri.path_and_query().cloned();
    let mut cookies = OutgoingCookies::default();
    let result = run(
        gateway,
        &runtime,
        parts,
        ForwardBody::new(body, runtime.server.body_read_timeout),
        peer,
        connection.tls,
        html,
        &mut log,
        &mut cookies,
    )
    .await;
    let mut response = match result {
        Ok(response) => response,
        Err(denial) => {
            log.denied(&denial);
            match login_redirect(&runtime, &denial, &method, html, target.as_ref()) {
                Some(redirect) => redirect,
                None => response::denial(&denial, html),
            }
        }
    };
    if let Some(cookie) = cookies.csrf {
        csrf::add_cookie_unless_set(response.headers_mut(), &runtime.csrf, cookie);
    }
    if let Some(cookie) = cookies.session {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    if let Some(origin) = cors_origin {
        runtime.cors.decorate(response.headers_mut(), origin);
    }
    log.finish(response.status(), gateway.metrics());
    response
}

/// `[login] redirect_browsers`: a browser GET that needs a user goes to the
/// login page, which sends it back to `next` after signing in.
fn login_redirect(
    runtime: &Runtime,
    denial: &Denial,
    method: &Method,
    html: bool,
    target: Option<&PathAndQuery>,
) -> Option<Response<ProxyBody>> {
    let wanted = runtime.login.redirect_browsers
        && html
        && denial.reason == Reason::NotAuthenticated
        && matches!(*method, Method::GET | Method::HEAD);
    if !wanted {
        return None;
    }
    let next = target.map_or("/", PathAndQuery::as_str);
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("next", next)
        .finish();
    let location = format!("{}/login?{query}", runtime.server.internal_prefix);
    Some(response::redirect(StatusCode::FOUND, &location))
}

#[allow(clippy::too_many_arguments)]
async fn run<'r>(
    gateway: &Gateway,
    runtime: &'r Arc<Runtime>,
    mut parts: http::request::Parts,
    mut body: ForwardBody,
    peer: SocketAddr,
    tls: bool,
    html: bool,
    log: &mut AccessLog<'r>,
    cookies: &mut OutgoingCookies,
) -> Result<Response<ProxyBody>, Denial> {
    let target = canonical::canonical_target(&parts.headers, &parts.uri)?;
    log.path(&target.path);
    let from_trusted_proxy = runtime.server.is_trusted_proxy(peer.ip());
    let https = csrf::is_https(&parts.headers, tls, from_trusted_proxy);
    let cookie = csrf::cookie_state(&parts.headers, &runtime.csrf);
    if endpoints::is_internal(runtime, &target.path) {
        let exchange = endpoints::Exchange {
            gateway,
            runtime,
            parts: &parts,
            body: &mut body,
            peer,
            https,
            host: target.host,
            cookie,
            html,
        };
        return endpoints::handle(exchange, &target.path).await;
    }

    let route = route::select(&runtime.routes, &parts.method, &target.path)?;
    log.route(&route.name);
    if !route.csrf_exempt && csrf::needs_new_cookie(&parts.method, &cookie) {
        let secret = Secret::generate();
        cookies.csrf = Some(crate::csrf::cookie::set_cookie(
            &runtime.csrf,
            &secret,
            https,
        ));
    }
    let session = session::lookup(
        gateway.store(),
        &runtime.session.cookie_name,
        &parts.headers,
        &gateway.metrics().session_lookup,
    )
    .await;
    if let SessionState::Authenticated(user) = &session {
        cookies.session = session::renew_if_due(
            gateway.store(),
            &runtime.session,
            &parts.headers,
            user,
            https,
        )
        .await;
    }
    let csrf_request = csrf::Request {
        exempt: route.csrf_exempt,
        enforce: runtime.csrf.enforce,
        session: &session,
        https,
        host: target.host,
        cookie,
    };
    csrf::check(&runtime.csrf, &parts, &mut body, csrf_request).await?;
    authorize::authorize(route, &parts.method, &session)?;
    if let Some(limit) = route.max_body {
        body::enforce_limit(&parts.headers, &mut body, limit).await?;
    }

    let uri = forward::upstream_uri(&runtime.upstream, &target.path, &parts.uri)?;
    let host = target.host.and_then(|h| HeaderValue::from_str(h).ok());
    // An upgrade (WebSocket) keeps its protocol headers and the client's
    // side of the connection, decided on exactly like any request above.
    let upgrade = upgrade::requested(&parts.headers)
        .and_then(|protocol| Some((protocol, upgrade::take_client_side(&mut parts)?)));
    parts.uri = uri;
    let scheme = if tls { "https" } else { "http" };
    forward::prepare_headers(&mut parts, host, peer, from_trusted_proxy, scheme);
    identity::strip_client_claims(&mut parts.headers, &runtime.identity);
    if let SessionState::Authenticated(user) = &session {
        identity::inject(&mut parts.headers, &runtime.identity, user);
    }
    log.forwarding();
    let stalled = body.stalled_flag();
    let response = match upgrade {
        None => {
            gateway
                .upstream()
                .send(Request::from_parts(parts, body), runtime.upstream.timeout)
                .await
        }
        Some((protocol, client_side)) => {
            upgrade::restore_headers(&mut parts.headers, protocol.clone());
            let raw = gateway
                .upstream()
                .exchange(Request::from_parts(parts, body), runtime.upstream.timeout)
                .await?;
            if upgrade::switched(&raw) {
                Ok(upgrade::splice(
                    raw,
                    client_side,
                    protocol,
                    gateway.upgrades().track(),
                ))
            } else {
                Ok(forward::finish(raw))
            }
        }
    };
    log.upstream_done();
    // The exchange failed because the client stopped sending its body:
    // that is the client's timeout (408), not the upstream's fault.
    match response {
        Err(_) if stalled.load(std::sync::atomic::Ordering::Acquire) => Err(Denial::body_timeout()),
        other => other,
    }
}
