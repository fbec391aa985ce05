//! Envoy's gRPC `ext_authz` on the decision listener: tonic's generated
//! `Authorization` service, whose `Check` reads the `CheckRequest`
//! (`crate::ingress::envoy_grpc`), decides it with the same stages as an
//! HTTP subrequest and answers a `CheckResponse`.

use std::sync::Arc;

use http::{header, Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tonic::codegen::Service;

use super::{decide_for, identity_names, require_canonical, Refused};
use crate::connection::Connection;
use crate::gateway::Gateway;
use crate::ingress::envoy_grpc::{self, HeadLimits};
use crate::ingress::proto::envoy::service::auth::v3::authorization_server::{
    Authorization, AuthorizationServer,
};
use crate::ingress::proto::envoy::service::auth::v3::{CheckRequest, CheckResponse};
use crate::ingress::Refusal;

/// A gRPC call (`application/grpc`, `application/grpc+proto`).
pub(super) fn is_grpc<B>(request: &Request<B>) -> bool {
    request
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
    // (RESOURCE_EXHAUSTED), and Envoy then fails closed.
    let limit = config.server.max_header_bytes.saturating_mul(2) + 16 * 1024;
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
        let (parts, original, peer) = match asked {
            Ok(asked) => {
                let canonical = require_canonical(&asked.parts, asked.original.ingress);
                let peer = asked.client.unwrap_or(connection.peer);
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
        // Envoy's own view of the client: its address, as the proxy would
        // see it on a direct connection (trusted_proxies then apply).
        let connection = Connection { peer, ..connection };
        let response = decide_for(gateway, &config, parts, original, connection).await;
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
        )))
    }
}
