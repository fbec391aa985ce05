//! The request pipeline: every proxied request goes through these stages,
//! in this order. Each stage either lets the request continue or returns a
//! `Denial` the gateway answers with itself. Start reading here.
//!
//! 1. `canonical`  one canonical method and path (or 400); the same ones are matched and forwarded
//! 2. `route`      first matching `[[routes]]` entry in file order; none = deny
//! 3. `session`    session cookie → id format check → store lookup
//! 4. `authorize`  access level, groups, permissions, model permissions
//! 5. `identity`   strip every client copy of identity headers, inject ours
//! 6. `forward`    pooled upstream client, hop-by-hop hygiene, X-Forwarded-*
//! 7. `observe`    one access-log line with the decision and reason
//!
//! (CSRF, between session and authorize, arrives with Django-compatible
//! token handling.)

pub mod authorize;
pub mod canonical;
pub mod denial;
pub mod forward;
pub mod hop_by_hop;
pub mod identity;
pub mod observe;
pub mod route;
pub mod session;

use std::net::SocketAddr;

use http::{HeaderValue, Request, Response};
use hyper::body::Incoming;

use crate::config::Runtime;
use crate::gateway::Gateway;
use crate::response::{self, ProxyBody};
use denial::Denial;
use observe::AccessLog;
use session::SessionState;

/// Runs one request through the pipeline and always produces a response.
pub async fn handle(
    gateway: &Gateway,
    mut request: Request<Incoming>,
    peer: SocketAddr,
) -> Response<ProxyBody> {
    // The request keeps this snapshot to the end, even if a reload swaps
    // in a new one meanwhile.
    let runtime = gateway.runtime();
    canonical::canonicalize_method(&mut request);
    let mut log = AccessLog::start(&request);
    let response = match run(gateway, &runtime, request, peer, &mut log).await {
        Ok(response) => response,
        Err(denial) => {
            log.denied(&denial);
            response::denial(&denial)
        }
    };
    log.finish(response.status());
    response
}

async fn run<'r>(
    gateway: &Gateway,
    runtime: &'r Runtime,
    mut request: Request<Incoming>,
    peer: SocketAddr,
    log: &mut AccessLog<'r>,
) -> Result<Response<ProxyBody>, Denial> {
    let target = canonical::canonical_target(&request)?;
    log.path(&target.path);
    let route = route::select(&runtime.routes, request.method(), &target.path)?;
    log.route(&route.name);
    let session = session::lookup(
        gateway.store(),
        &runtime.session.cookie_name,
        request.headers(),
    )
    .await;
    authorize::authorize(route, request.method(), &session)?;

    let uri = forward::upstream_uri(&runtime.upstream, &target.path, request.uri())?;
    let host = target.host.and_then(|h| HeaderValue::from_str(h).ok());
    *request.uri_mut() = uri;
    let from_trusted_proxy = runtime.server.is_trusted_proxy(peer.ip());
    forward::prepare_headers(&mut request, host, peer, from_trusted_proxy, "http");
    identity::strip_client_claims(request.headers_mut(), &runtime.identity);
    if let SessionState::Authenticated(user) = &session {
        identity::inject(request.headers_mut(), &runtime.identity, user);
    }
    log.forwarding();
    let response = gateway
        .upstream()
        .send(request, runtime.upstream.timeout)
        .await;
    log.upstream_done();
    response
}
