//! Envoy's gRPC `ext_authz` on the decision listener: tonic's generated
//! `Authorization` service, whose `Check` reads the `CheckRequest`
//! (`crate::ingress::envoy_grpc`), decides it with the same stages as an
//! HTTP subrequest and answers a `CheckResponse`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use http::header::HeaderName;
use http::{header, Method, Request, Response, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tonic::codegen::Service;

use super::{decide_for, identity_names, require_canonical, PeerIs, Refused};
use crate::connection::Connection;
use crate::gateway::Gateway;
use crate::identity::headers::{claim_names, is_client_claim};
use crate::ingress::envoy_grpc::{self, HeadLimits};
use crate::ingress::proto::envoy::service::auth::v3::authorization_server::{
    Authorization, AuthorizationServer,
};
use crate::ingress::proto::envoy::service::auth::v3::{CheckRequest, CheckResponse};
use crate::ingress::Refusal;

/// Envoy's `Check` call: HTTP/2, POST, the method's path, a gRPC content
/// type. Anything else is an HTTP subrequest, whatever its content type:
/// nginx and Caddy copy the client's headers into theirs, and a client's
/// `Content-Type: application/grpc` must not turn a subrequest into a call
/// tonic would answer 200 (`UNIMPLEMENTED` in its trailers), which an
/// HTTP ingress reads as allowed.
pub(super) fn is_check_call<B>(request: &Request<B>) -> bool {
    request.version() == Version::HTTP_2
        && request.method() == Method::POST
        && request.uri().path() == envoy_grpc::CHECK_PATH
        && request
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|value| value.as_bytes().starts_with(b"application/grpc"))
}

/// Serves one gRPC call with tonic's generated service (an unknown method
/// is answered `UNIMPLEMENTED` by it).
pub(super) async fn handle(
    gateway: &Arc<Gateway>,
    mut request: Request<Incoming>,
    connection: Connection,
) -> Response<tonic::body::Body> {
    let config = gateway.config();
    // A CheckRequest is a request head: a message larger than the head the
    // proxy takes, with room for its framing, is refused by tonic
    // (RESOURCE_EXHAUSTED), and Envoy then fails closed. A caller outside
    // trusted_ingress is refused whatever it sends: it gets no more than
    // the room that refusal needs.
    let trusted = config
        .decision
        .as_ref()
        .is_some_and(|settings| settings.trusted_ingress.contains(connection.peer.ip()));
    let limit = if trusted {
        config.server.max_header_bytes.saturating_mul(2) + 16 * 1024
    } else {
        UNTRUSTED_MESSAGE_LIMIT
    };
    request.extensions_mut().insert(connection);
    let mut service = AuthorizationServer::new(Authorizer {
        gateway: Arc::clone(gateway),
    })
    .max_decoding_message_size(limit);
    match service.call(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// The largest `CheckRequest` decoded from a caller outside
/// `trusted_ingress` (only to answer it `untrusted_ingress`).
const UNTRUSTED_MESSAGE_LIMIT: usize = 4 * 1024;

/// Stands for the client when Envoy names none by IP address (a pipe, an
/// internal listener): an address no `trusted_proxies` list holds, never
/// Envoy's own.
const UNKNOWN_CLIENT: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);

/// The `Authorization` service: one gateway, every call decided on the
/// config snapshot current when it arrives.
struct Authorizer {
    gateway: Arc<Gateway>,
}

#[tonic::async_trait]
impl Authorization for Authorizer {
    async fn check(
        &self,
        request: tonic::Request<CheckRequest>,
    ) -> Result<tonic::Response<CheckResponse>, tonic::Status> {
        let connection = request
            .extensions()
            .get::<Connection>()
            .copied()
            .ok_or_else(|| tonic::Status::internal("no connection"))?;
        let check = request.into_inner();
        let gateway = &*self.gateway;
        let config = gateway.config();
        let limits = HeadLimits {
            max_headers: config.server.max_headers,
            max_header_bytes: config.server.max_header_bytes,
        };
        let asked = match &config.decision {
            Some(settings) => {
                envoy_grpc::original_request(connection.peer.ip(), &check, settings, limits)
            }
            None => Err(Refusal::Untrusted),
        };
        // The client's headers the proxy would strip: named for removal
        // (with every name it always strips) on an allowed answer.
        let mut claims: Vec<&HeaderName> = claim_names(&config.identity).collect();
        let (parts, original, peer) = match asked {
            Ok(asked) => {
                let canonical = require_canonical(&asked.parts, asked.original.ingress);
                let peer = asked.client.unwrap_or(UNKNOWN_CLIENT);
                (asked.parts, canonical.map(|()| asked.original), peer)
            }
            Err(refusal) => {
                // What the access log shows for a call naming no request.
                let (parts, ()) = Request::post(envoy_grpc::CHECK_PATH)
                    .body(())
                    .unwrap_or_default()
                    .into_parts();
                let refused = Refused {
                    ingress: Some(crate::ingress::Ingress::EnvoyGrpc),
                    denial: refusal.denial(),
                };
                (parts, Err(refused), connection.peer)
            }
        };
        let underscored: Vec<HeaderName> = parts
            .headers
            .keys()
            .filter(|name| is_client_claim(name, &config.identity))
            .cloned()
            .collect();
        claims.extend(underscored.iter());
        // Envoy's view of the client: its address, as the proxy would see
        // it on a direct connection.
        let connection = Connection { peer, ..connection };
        // Envoy names the client itself (`attributes.source`).
        let response = decide_for(
            gateway,
            &config,
            parts,
            original,
            connection,
            PeerIs::Client,
        )
        .await;
        let (head, body) = response.into_parts();
        // Denials are built in memory; an allowed answer has no body.
        let body = body
            .collect()
            .await
            .map(|collected| collected.to_bytes())
            .unwrap_or_default();
        Ok(tonic::Response::new(envoy_grpc::check_response(
            &head,
            &body,
            &identity_names(&config),
            &claims,
        )))
    }
}
