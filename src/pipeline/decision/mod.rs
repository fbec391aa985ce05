//! The decision listener (`[decision]`): an ingress's auth subrequest is
//! turned into the request it asks about (`crate::ingress`: only from
//! `trusted_ingress`, nothing guessed) and decided by the very same stages
//! as a proxied request. Allowed: 200 with the identity headers the
//! upstream would be told (empty for an anonymous request; and the signed
//! assertion, and any Set-Cookie), for the ingress to copy onto the
//! forwarded request. Denied: the proxy's
//! own answer (status, headers, DRF's body), with the body also in
//! `X-Portcullis-Body`, since nginx drops an auth subrequest's body.
//! Envoy's gRPC `ext_authz` is served on the same listener (`grpc`).

mod grpc;

use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::request::Parts;
use http::{Request, Response, StatusCode};
use http_body_util::Either;
use hyper::body::Incoming;

use super::dispatch::{self, Delivery, Forwarding};
use super::intake::{self, Intake};
use super::observe::AccessLog;
use super::trace::Trace;
use super::{Context, RequestState, Work};
use crate::body::ForwardBody;
use crate::config::Config;
use crate::connection::Connection;
use crate::denial::Denial;
use crate::gateway::Gateway;
use crate::identity::assertion::ASSERTION_HEADER;
use crate::ingress::{self, Ingress, OriginalRequest, Refusal};
use crate::reply::ProxyBody;

pub use crate::ingress::BODY_HEADER;

/// The status the gateway means, where the ingress could not pass it on.
pub const STATUS_HEADER: HeaderName = HeaderName::from_static("x-portcullis-status");

/// The decision listener's answers: an HTTP subrequest's, or a gRPC
/// call's (whose status travels in trailers).
pub type DecisionBody = Either<ProxyBody, tonic::body::Body>;

/// Answers one request on the decision listener: Envoy's gRPC `Check`
/// (by its content type), or an HTTP auth subrequest.
pub async fn handle(
    gateway: &Arc<Gateway>,
    request: Request<Incoming>,
    connection: Connection,
) -> Response<DecisionBody> {
    if grpc::is_check_call(&request) {
        return grpc::handle(gateway, request, connection)
            .await
            .map(Either::Right);
    }
    let config = gateway.config();
    // The subrequest's own body is not the client's: it is never read.
    let (mut parts, _) = request.into_parts();
    let original = original_head(&config, connection.peer.ip(), &mut parts);
    decide_for(
        gateway,
        &config,
        parts,
        original,
        connection,
        PeerIs::Ingress,
    )
    .await
    .map(Either::Left)
}

/// Who `connection.peer` is to `decide_for`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PeerIs {
    /// The ingress that sent an HTTP subrequest (nginx, Traefik, Caddy):
    /// the client is whom its X-Forwarded-For names.
    Ingress,
    /// The client, as Envoy named it in a gRPC `Check` call.
    Client,
}

/// Decides the request `parts` (already the original request's head,
/// unless `original` is refused), as the proxy would.
async fn decide_for(
    gateway: &Gateway,
    config: &Arc<Config>,
    mut parts: Parts,
    original: Result<OriginalRequest, Refused>,
    connection: Connection,
    peer_is: PeerIs,
) -> Response<ProxyBody> {
    let original = match original {
        Ok(original) => original,
        Err(refused) => {
            let mut log = AccessLog::start(&parts);
            // Refused before anything was believed (an untrusted peer among
            // them): its traceparent is continued only under "always".
            log.trace(
                config.telemetry.as_ref(),
                &parts,
                connection.peer.ip(),
                false,
            );
            log.via_ingress(refused.ingress.map_or("unknown", Ingress::as_str));
            log.denied(&refused.denial);
            let mut response = crate::response::denial(&refused.denial, false, config);
            carry_body(&mut response, &refused.denial);
            log.finish(response.status(), gateway.metrics());
            return response;
        }
    };
    let ingress = original.ingress.as_str();
    let mut trace = Trace::live(config.diagnostics.debug);
    let intake = intake::intake(config, &mut parts, &mut trace);
    let mut log = AccessLog::start(&parts);
    // The peer is a trusted ingress (or Envoy, for gRPC).
    log.trace(
        config.telemetry.as_ref(),
        &parts,
        connection.peer.ip(),
        true,
    );
    log.via_ingress(ingress);
    let reply = match intake {
        Intake::Request(reply) => reply,
        // A CORS preflight is the upstream's (or the ingress's) to answer:
        // allowed, with the CORS answer's headers for the ingress to copy.
        Intake::Preflight(mut preflight) => {
            *preflight.status_mut() = StatusCode::OK;
            // No identity: a client's own copies are replaced by empty ones.
            tell_identity(preflight.headers_mut(), &HeaderMap::new(), config);
            log.finish(preflight.status(), gateway.metrics());
            return preflight;
        }
    };
    let connection = Connection {
        peer: connection.peer,
        tls: original.https,
    };
    let context = Context {
        peer_is_ingress: peer_is == PeerIs::Ingress,
        ..Context::live(gateway, config, connection)
    };
    let state = RequestState {
        context,
        parts,
        reply,
        work: Work::new(ForwardBody::from_bytes(Bytes::new()), trace),
    };
    let mut response = dispatch::run(gateway, state, Delivery::Decision, &mut log).await;
    log.finish(response.status(), gateway.metrics());
    if original.ingress == Ingress::Nginx {
        as_nginx_passes_it(&mut response);
    }
    response
}

/// nginx's `auth_request` passes on only 401 and 403 (any other status
/// becomes its own 500, with nothing of ours): a throttle's 429 travels
/// as 403 with `X-Portcullis-Status: 429` (and its `Retry-After`), which
/// the shipped nginx.conf answers as the 429 it is.
fn as_nginx_passes_it(response: &mut Response<ProxyBody>) {
    if response.status() == StatusCode::TOO_MANY_REQUESTS {
        *response.status_mut() = StatusCode::FORBIDDEN;
        response
            .headers_mut()
            .insert(STATUS_HEADER, HeaderValue::from_static("429"));
    }
}

/// A subrequest refused before any decision, and by whom it was sent
/// (when that was known).
pub struct Refused {
    pub ingress: Option<Ingress>,
    pub denial: Denial,
}

/// Turns the subrequest `parts` from `peer` into the head of the request
/// it asks about, in place (what `explain` does too): its method, URI and
/// Host, the ingress's own headers removed. Refused: a peer outside
/// `trusted_ingress`, an unclear subrequest (`crate::ingress`), or a path
/// that is not canonical.
pub fn original_head(
    config: &Config,
    peer: std::net::IpAddr,
    parts: &mut Parts,
) -> Result<OriginalRequest, Refused> {
    let original = match &config.decision {
        Some(settings) => ingress::original_request(peer, parts, settings),
        None => Err(Refusal::Untrusted),
    };
    let original = original.map_err(|refusal| Refused {
        ingress: None,
        denial: refusal.denial(),
    })?;
    parts.method = original.method.clone();
    parts.uri = original.uri.clone();
    require_canonical(parts, original.ingress)?;
    ingress::strip_ingress_headers(&mut parts.headers);
    if let Some(host) = &original.host {
        parts.headers.insert(header::HOST, host.clone());
    }
    Ok(original)
}

/// The proxy forwards the canonical path it decided on; an ingress
/// forwards the client's path as sent. So only a path that already is
/// canonical can be decided here: `/admin/x/../../public/` would be
/// decided as `/public/` and reach the upstream as it is.
fn require_canonical(parts: &Parts, ingress: Ingress) -> Result<(), Refused> {
    if let Ok(target) = crate::canonical::canonical_target(&parts.headers, &parts.uri) {
        if target.path != parts.uri.path() {
            return Err(Refused {
                ingress: Some(ingress),
                denial: Denial::bad_path(),
            });
        }
    }
    Ok(())
}

/// `ASSERTION_HEADER` by reference, so a borrowed list can hold it.
static ASSERTION: HeaderName = ASSERTION_HEADER;

/// The identity headers an allowed answer carries, in the order sent.
fn identity_names(config: &Config) -> [&HeaderName; 5] {
    let identity = &config.identity;
    [
        &identity.user,
        &identity.groups,
        &identity.permissions,
        &identity.auth,
        &ASSERTION,
    ]
}

/// The allowed answer: 200, and the identity headers the upstream would
/// get (computed by the proxy's own `prepare_upstream_head`).
pub(super) fn allowed(
    context: &Context<'_>,
    mut parts: Parts,
    forwarding: Forwarding<'_>,
) -> Response<ProxyBody> {
    dispatch::prepare_upstream_head(context, &mut parts, forwarding);
    let mut response = crate::reply::json(StatusCode::OK, Bytes::new());
    let headers = response.headers_mut();
    headers.remove(header::CONTENT_TYPE);
    tell_identity(headers, &parts.headers, context.config);
    response
}

/// Copies the identity headers of `upstream` (the head the upstream would
/// get) into an allowed answer's `headers`.
fn tell_identity(headers: &mut HeaderMap, upstream: &HeaderMap, config: &Config) {
    let signed = config.identity.sign.is_some();
    for name in identity_names(config) {
        let mut values = upstream.get_all(name).iter().peekable();
        if values.peek().is_none() {
            if *name != ASSERTION_HEADER || signed {
                // Always answered, empty for an anonymous request: an
                // ingress that copies only the headers present (Traefik's
                // authResponseHeaders) would otherwise leave a client's own
                // copy in place, and Caddy 2.6 copies a missing one as its
                // unreplaced placeholder.
                headers.append(name.clone(), HeaderValue::from_static(""));
            }
            continue;
        }
        for value in values {
            headers.append(name.clone(), value.clone());
        }
    }
}

/// Adds a denial's JSON body as `X-Portcullis-Body` (when it is a valid
/// header value: DRF's messages are ASCII).
pub(super) fn carry_body(response: &mut Response<ProxyBody>, denial: &Denial) {
    let body = crate::response::json_body(denial, None);
    if let Ok(value) = HeaderValue::from_maybe_shared(body) {
        response.headers_mut().insert(BODY_HEADER, value);
    }
}
