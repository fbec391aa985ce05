//! Stage 0, intake: how a request is taken in before any decision, the
//! same for live traffic (`handle`) and `explain`, so the two cannot
//! drift: the method upper-cased, HTTP/2's cookie fields joined into one
//! header, a CORS preflight answered, what the
//! gateway's own answer depends on (HTML or JSON, the CORS origin), and
//! the `Context` the stages run in.

use std::net::SocketAddr;
use std::sync::Arc;

use http::header::HeaderValue;
use http::request::Parts;
use http::uri::PathAndQuery;
use http::{Method, Response};

use super::trace::{Step, Trace};
use super::Context;
use crate::canonical;
use crate::config::Config;
use crate::gateway::Gateway;
use crate::reply::ProxyBody;
use crate::session::Store;

/// What the gateway's own answer to a request depends on, besides the
/// denial: read at intake, as the request came.
pub struct Reply {
    pub method: Method,
    /// The path and query asked for (where the login page sends the user
    /// back to).
    pub target: Option<PathAndQuery>,
    /// DRF would render with the browsable API (HTML, a browser), by
    /// `Accept` and `?format=` (`crate::negotiate`).
    pub html: bool,
    /// The request's Origin, when CORS allows it: every answer is
    /// decorated for it.
    pub cors_origin: Option<HeaderValue>,
}

/// What intake made of a request.
pub enum Intake {
    /// A request for the stages, and what the answer to it depends on.
    Request(Reply),
    /// A CORS preflight from an allowed origin: the gateway's whole answer
    /// (a preflight carries no cookies, so no session could be found for
    /// it). Nothing else runs.
    Preflight(Response<ProxyBody>),
}

/// Takes a request in: upper-cases its method (in place), answers a CORS
/// preflight (noted in `trace`), and reads what the answer depends on.
pub fn intake(config: &Config, parts: &mut Parts, trace: &mut Trace) -> Intake {
    canonical::canonicalize_method(parts);
    // HTTP/2 sends one `cookie` field per cookie, to be joined with "; "
    // before the request is read as HTTP/1.1 (RFC 9113 §8.2.3); repeated
    // HTTP/1.1 lines stay as sent, to be read as WSGI joins them.
    if parts.version == http::Version::HTTP_2 {
        crate::cookies::join_fields(&mut parts.headers, b"; ");
    }
    if let Some(preflight) = config.cors.preflight(&parts.method, &parts.headers) {
        trace.note(|| Step::Preflight);
        return Intake::Preflight(preflight);
    }
    Intake::Request(Reply {
        method: parts.method.clone(),
        target: parts.uri.path_and_query().cloned(),
        html: crate::negotiate::prefers_html(&parts.headers, parts.uri.query()),
        cors_origin: config.cors.allowed_origin(&parts.headers),
    })
}

impl<'a> Context<'a> {
    /// A live request's: the gateway's store, the connection it came on,
    /// its lookups timed.
    pub fn live(
        gateway: &'a Gateway,
        config: &'a Arc<Config>,
        connection: crate::connection::Connection,
    ) -> Context<'a> {
        Context {
            config,
            store: gateway.store(),
            peer: connection.peer,
            tls: connection.tls,
            lookup_timing: Some(&gateway.metrics().session_lookup),
            live: true,
            peer_is_ingress: false,
            throttles: Some(gateway.throttle_histories()),
        }
    }

    /// `explain`'s: the described peer and scheme; nothing timed, renewed
    /// or signed.
    pub fn explain(
        config: &'a Arc<Config>,
        store: &'a Store,
        peer: SocketAddr,
        tls: bool,
    ) -> Context<'a> {
        Context {
            config,
            store,
            peer,
            tls,
            lookup_timing: None,
            live: false,
            peer_is_ingress: false,
            throttles: None,
        }
    }
}
