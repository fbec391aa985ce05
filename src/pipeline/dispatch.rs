//! What happens to a request `decide` let through (stages 7–8): the
//! gateway's own endpoint answers, or the head is prepared for the
//! upstream (identity, X-Forwarded-*, the signed assertion) and the
//! request is sent, an upgrade spliced.

use http::header::HeaderValue;
use http::request::Parts;
use http::{Request, Response, Uri};
use hyper::upgrade::OnUpgrade;

use super::observe::AccessLog;
use crate::body::ForwardBody;
use crate::denial::{Denial, Reason};
use crate::gateway::Gateway;
use crate::reply::ProxyBody;
use crate::routes::Route;
use crate::session::state::{NoSession, SessionState};
use crate::upstream::NamedUpstream;

use super::decide::{decide, Decision, Verdict};
use super::{deny, finish, Context, RequestState};
use super::{endpoints, forward, upgrade};

/// What the upstream is told about a request `decide` let through.
pub struct Forwarding<'r> {
    /// The upstream's scheme and authority, the canonical path, the
    /// client's query.
    pub uri: Uri,
    /// The Host the request was addressed to.
    pub host: Option<HeaderValue>,
    pub session: SessionState,
    pub route: Option<&'r Route>,
    /// Where it goes: the route's `upstream`, or `[upstream]`.
    pub upstream: &'r NamedUpstream,
    pub from_trusted_proxy: bool,
    /// `mode = "report"`: the denial this request was let through despite.
    pub would_deny: Option<Reason>,
}

impl<'r> Forwarding<'r> {
    /// What `decision` forwards, for a request that came as `original`;
    /// `Err` when the gateway answers instead (a path it cannot send).
    pub fn new(
        context: &Context<'r>,
        original: &Uri,
        decision: Decision<'r, '_>,
    ) -> Result<Forwarding<'r>, Denial> {
        let target = decision.target.ok_or_else(Denial::bad_path)?;
        // `check` refuses a config where a request that can be forwarded
        // has no upstream; were one missing anyway, nothing is forwarded.
        let upstream = context
            .config
            .upstream_for(decision.route)
            .ok_or_else(Denial::upstream_unavailable)?;
        let uri = forward::upstream_uri(&upstream.settings, &target.path, original)?;
        Ok(Forwarding {
            uri,
            host: target.host.and_then(|h| HeaderValue::from_str(h).ok()),
            session: decision
                .session
                .unwrap_or(SessionState::Anonymous(NoSession::NoCookie)),
            route: decision.route,
            upstream,
            from_trusted_proxy: decision.from_trusted_proxy,
            would_deny: match decision.verdict {
                Verdict::WouldDeny(denial) => Some(denial.reason),
                _ => None,
            },
        })
    }
}

/// Stages 7–8 on the request head, for a request `decide` let through: the
/// upstream URI and Host, X-Forwarded-*, every client claim to an identity
/// removed, then the session's identity set, and the signed assertion.
pub fn prepare_upstream_head(context: &Context<'_>, parts: &mut Parts, forwarding: Forwarding<'_>) {
    let config = context.config;
    parts.uri = forwarding.uri;
    let hop = forward::Hop {
        peer: context.peer,
        from_trusted_proxy: forwarding.from_trusted_proxy,
        scheme: if context.tls { "https" } else { "http" },
    };
    forward::prepare_headers(parts, forwarding.host, hop);
    crate::identity::headers::strip_client_claims(&mut parts.headers, &config.identity);
    if let SessionState::Authenticated(user, via) = &forwarding.session {
        crate::identity::headers::inject(&mut parts.headers, &config.identity, user, *via);
    }
    if let Some(signer) = &config.identity.sign {
        let subject = crate::identity::assertion::Subject {
            session: &forwarding.session,
            route: forwarding.route.map_or("-", |r| &r.name),
            method: parts.method.as_str(),
            path: parts.uri.path(),
            would_deny: forwarding.would_deny.map(Reason::as_str),
        };
        if context.live {
            signer.attach(&mut parts.headers, &subject);
        } else {
            signer.preview(&mut parts.headers, &subject);
        }
    }
}

/// A live request after intake: `decide`, then the gateway's endpoint,
/// the forward, or the denial; the cookies and CORS headers on the way out.
pub(super) async fn run<'r>(
    gateway: &Gateway,
    state: RequestState<'r>,
    delivery: Delivery,
    log: &mut AccessLog<'r>,
) -> Response<ProxyBody> {
    let RequestState {
        context,
        parts,
        reply,
        mut work,
    } = state;
    let config = context.config;
    let decision = decide(&context, &parts, &mut work).await;
    if let Some(target) = &decision.target {
        log.path(&target.path);
    }
    if let Some(route) = decision.route {
        log.route(route);
    }
    if let Some(session) = &decision.session {
        if let Some(via) = session.via() {
            log.authenticated_by(via.as_str(), session.signed_in_with());
        }
        if let Some(user) = session.user() {
            log.user(&user.username);
        }
    }
    let result = match decision.verdict {
        Verdict::Deny(denial) => Err(denial),
        // The ingress forwards what it asked about to the upstream, which
        // has no gateway endpoints: they are served on the proxy listener.
        Verdict::Endpoint if delivery == Delivery::Decision => Err(Denial::not_found()),
        Verdict::Endpoint => match &decision.target {
            Some(target) => {
                let exchange = endpoints::Exchange {
                    gateway,
                    context: &context,
                    config,
                    parts: &parts,
                    body: &mut work.body,
                    peer: context.peer,
                    https: decision.https,
                    host: target.host,
                    cookie: decision.csrf_cookie,
                    html: reply.html,
                };
                // Boxed: the gateway's own pages (login, OIDC, logout) are
                // a large future the proxied path should not carry.
                Box::pin(endpoints::handle(exchange, &target.path)).await
            }
            None => Err(Denial::bad_path()),
        },
        Verdict::Forward | Verdict::WouldDeny(_) => {
            if let Verdict::WouldDeny(denial) = &decision.verdict {
                log.would_deny(denial);
            }
            match (Forwarding::new(&context, &parts.uri, decision), delivery) {
                (Ok(forwarding), Delivery::Proxy) => {
                    let upstream = Upstream {
                        parts,
                        body: work.body,
                        forwarding,
                    };
                    forward(gateway, &context, upstream, log).await
                }
                (Ok(forwarding), Delivery::Decision) => {
                    Ok(super::decision::allowed(&context, parts, forwarding))
                }
                (Err(denial), _) => Err(denial),
            }
        }
    };
    let response = match result {
        Ok(response) => response,
        Err(denial) => {
            log.denied(&denial);
            let mut response = deny(config, &denial, &reply);
            if delivery == Delivery::Decision {
                super::decision::carry_body(&mut response, &denial);
            }
            response
        }
    };
    finish(config, response, work.cookies, reply.cors_origin)
}

/// What becomes of a request `decide` lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Forwarded to the upstream (the proxy listener).
    Proxy,
    /// Answered 200 with the identity the upstream would be told (the
    /// decision listener: the ingress forwards it).
    Decision,
}

/// A request `decide` let through, and what the upstream is told about it.
struct Upstream<'r> {
    parts: Parts,
    body: ForwardBody,
    forwarding: Forwarding<'r>,
}

/// Stages 7–8: the head prepared, the request sent (an upgrade spliced).
async fn forward<'r>(
    gateway: &Gateway,
    context: &Context<'r>,
    upstream: Upstream<'r>,
    log: &mut AccessLog<'r>,
) -> Result<Response<ProxyBody>, Denial> {
    let Upstream {
        mut parts,
        body,
        forwarding,
    } = upstream;
    let upstream = &forwarding.upstream.settings;
    // An upgrade (WebSocket) keeps its protocol headers and the client's
    // side of the connection, decided on exactly like any request above.
    let upgrade: Option<(HeaderValue, OnUpgrade)> = upgrade::requested(&parts.headers)
        .and_then(|protocol| Some((protocol, upgrade::take_client_side(&mut parts)?)));
    prepare_upstream_head(context, &mut parts, forwarding);
    log.forwarding(&mut parts.headers, &upstream.authority);
    let stalled = body.stalled_flag();
    let response = match upgrade {
        None => {
            upstream
                .client
                .send(Request::from_parts(parts, body), upstream.timeout)
                .await
        }
        Some((protocol, client_side)) => {
            upgrade::restore_headers(&mut parts.headers, protocol.clone());
            let raw = upstream
                .client
                .exchange(Request::from_parts(parts, body), upstream.timeout)
                .await?;
            if upgrade::switched(&raw) {
                Ok(upgrade::splice(
                    raw,
                    client_side,
                    protocol,
                    gateway.upgrades().track(),
                ))
            } else {
                Ok(crate::upstream::finish(raw))
            }
        }
    };
    log.upstream_done(response.as_ref().ok().map(Response::status));
    // The exchange failed because the client stopped sending its body:
    // that is the client's timeout (408), not the upstream's fault.
    match response {
        Err(_) if stalled.load(std::sync::atomic::Ordering::Acquire) => Err(Denial::body_timeout()),
        other => other,
    }
}
