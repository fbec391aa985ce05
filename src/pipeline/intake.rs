//! Stage 0, intake: how a request is taken in before any decision, the
//! same for live traffic (`handle`) and `explain`, so the two cannot
//! drift: the method upper-cased, a CORS preflight answered, what the
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

/// What intake made of a request.
pub enum Arrival {
    /// A CORS preflight from an allowed origin: the gateway's whole answer
    /// (a preflight carries no cookies, so no session could be found for
    /// it). Nothing else runs.
    Preflight {
        parts: Parts,
        response: Response<ProxyBody>,
    },
    /// A request for the stages.
    Request(Intake),
}

/// A request taken in, for the stages.
pub struct Intake {
    /// The request head, its method upper-cased.
    pub parts: Parts,
    pub reply: Reply,
}

/// What the gateway's own answer to a request depends on, besides the
/// denial: read at intake, as the request came.
pub struct Reply {
    pub method: Method,
    /// The path and query asked for (where the login page sends the user
    /// back to).
    pub target: Option<PathAndQuery>,
    /// The client prefers HTML (a browser).
    pub html: bool,
    /// The request's Origin, when CORS allows it: every answer is
    /// decorated for it.
    pub cors_origin: Option<HeaderValue>,
}

/// Takes a request in; notes a preflight in `trace`.
pub fn intake(config: &Config, mut parts: Parts, trace: &mut Trace) -> Arrival {
    canonical::canonicalize_method(&mut parts);
    if let Some(response) = config.cors.preflight(&parts.method, &parts.headers) {
        trace.note(|| Step::Preflight);
        return Arrival::Preflight { parts, response };
    }
    let reply = Reply {
        method: parts.method.clone(),
        target: parts.uri.path_and_query().cloned(),
        html: crate::negotiate::prefers_html(&parts.headers),
        cors_origin: config.cors.allowed_origin(&parts.headers),
    };
    Arrival::Request(Intake { parts, reply })
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
        }
    }
}
