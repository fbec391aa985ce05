//! The request pipeline: every proxied request goes through these stages,
//! in this order. Each stage either lets the request continue or returns a
//! `Denial` the gateway answers with itself. Start reading here.
//!
//! 1. `canonical`  one canonical method and path (or 400); the same ones are matched and forwarded
//! 2. `internal`   the gateway's own endpoints (`/_portcullis/csrf`), never forwarded
//! 3. `route`      first matching `[[routes]]` entry in file order; none = deny
//! 4. `session`    session cookie → id format check → store lookup
//! 5. `csrf`       Django's CSRF check on unsafe methods, in Django's order
//! 6. `authorize`  access level, groups, permissions, model permissions
//! 7. `identity`   strip every client copy of identity headers, inject ours
//! 8. `forward`    pooled upstream client, hop-by-hop hygiene, X-Forwarded-*
//! 9. `observe`    one access-log line with the decision and reason
//!
//! On the way out, a response to a request without a valid csrftoken cookie
//! (safe methods) or with a malformed one gets a fresh cookie, as Django does.

pub mod authorize;
pub mod body;
pub mod canonical;
pub mod csrf;
pub mod denial;
pub mod forward;
pub mod hop_by_hop;
pub mod identity;
pub mod internal;
pub mod observe;
pub mod route;
pub mod session;

use std::net::SocketAddr;

use http::{HeaderValue, Request, Response};
use hyper::body::Incoming;

use crate::config::Runtime;
use crate::csrf::token::Secret;
use crate::gateway::Gateway;
use crate::response::{self, ProxyBody};
use body::ForwardBody;
use denial::Denial;
use observe::AccessLog;
use session::SessionState;

/// Runs one request through the pipeline and always produces a response.
pub async fn handle(
    gateway: &Gateway,
    request: Request<Incoming>,
    peer: SocketAddr,
) -> Response<ProxyBody> {
    // The request keeps this snapshot to the end, even if a reload swaps
    // in a new one meanwhile.
    let runtime = gateway.runtime();
    let (mut parts, body) = request.into_parts();
    canonical::canonicalize_method(&mut parts);
    let mut log = AccessLog::start(&parts);
    let mut csrf_cookie = None;
    let mut response = match run(
        gateway,
        &runtime,
        parts,
        ForwardBody::new(body),
        peer,
        &mut log,
        &mut csrf_cookie,
    )
    .await
    {
        Ok(response) => response,
        Err(denial) => {
            log.denied(&denial);
            response::denial(&denial)
        }
    };
    if let Some(cookie) = csrf_cookie {
        csrf::add_cookie_unless_set(response.headers_mut(), &runtime.csrf, cookie);
    }
    log.finish(response.status());
    response
}

async fn run<'r>(
    gateway: &Gateway,
    runtime: &'r Runtime,
    mut parts: http::request::Parts,
    mut body: ForwardBody,
    peer: SocketAddr,
    log: &mut AccessLog<'r>,
    csrf_cookie: &mut Option<HeaderValue>,
) -> Result<Response<ProxyBody>, Denial> {
    let target = canonical::canonical_target(&parts.headers, &parts.uri)?;
    log.path(&target.path);
    let from_trusted_proxy = runtime.server.is_trusted_proxy(peer.ip());
    let https = csrf::is_https(&parts.headers, false, from_trusted_proxy);
    let cookie = csrf::cookie_state(&parts.headers, &runtime.csrf);
    if internal::is_internal(runtime, &target.path) {
        return internal::handle(runtime, &parts.method, &target.path, cookie, https);
    }

    let route = route::select(&runtime.routes, &parts.method, &target.path)?;
    log.route(&route.name);
    if !route.csrf_exempt && csrf::needs_new_cookie(&parts.method, &cookie) {
        let secret = Secret::generate();
        *csrf_cookie = Some(crate::csrf::cookie::set_cookie(
            &runtime.csrf,
            &secret,
            https,
        ));
    }
    let session = session::lookup(
        gateway.store(),
        &runtime.session.cookie_name,
        &parts.headers,
    )
    .await;
    let csrf_request = csrf::Request {
        route,
        session: &session,
        https,
        host: target.host,
        cookie,
    };
    csrf::check(&runtime.csrf, &parts, &mut body, csrf_request).await?;
    authorize::authorize(route, &parts.method, &session)?;

    let uri = forward::upstream_uri(&runtime.upstream, &target.path, &parts.uri)?;
    let host = target.host.and_then(|h| HeaderValue::from_str(h).ok());
    parts.uri = uri;
    forward::prepare_headers(&mut parts, host, peer, from_trusted_proxy, "http");
    identity::strip_client_claims(&mut parts.headers, &runtime.identity);
    if let SessionState::Authenticated(user) = &session {
        identity::inject(&mut parts.headers, &runtime.identity, user);
    }
    log.forwarding();
    let response = gateway
        .upstream()
        .send(Request::from_parts(parts, body), runtime.upstream.timeout)
        .await;
    log.upstream_done();
    response
}
