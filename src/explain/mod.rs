//! `explain`: why a request is allowed or denied. Runs a described request
//! through the gateway's own decision stages (`pipeline::decide`) with a
//! trace on, forwards nothing and writes nothing, and reports every stage,
//! the decision with its reason code, the exact response a denied client
//! gets (built by the same code that answers live requests), and the fix.
//! Served as `POST /explain` on the admin listener and by
//! `portcullis explain`.

pub mod own;
pub mod render;
pub mod wording;

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::request::Parts;
use http::{Method, Request, Response, Uri};
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};

use crate::body::ForwardBody;
use crate::config::Config;
use crate::denial::Denial;
use crate::pipeline::intake::{self, Intake};
use crate::pipeline::trace::{Step, Trace};
use crate::pipeline::{self, Context, Decision, RequestState, Verdict, Work};
use crate::reply::ProxyBody;
use crate::session::state::SessionState;
use crate::session::Store;
pub use wording::{Outcome, StepView};

/// The request to explain, as `POST /explain` takes it in JSON.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExplainRequest {
    /// HTTP method (default GET).
    #[serde(default)]
    pub method: Option<String>,
    /// Path and query (`/life/1/?page=2`) or an absolute URL.
    pub url: String,
    /// More request headers, each `Name: value`.
    #[serde(default)]
    pub headers: Vec<String>,
    /// The `Cookie` header: `sessionid=...; csrftoken=...`.
    #[serde(default)]
    pub cookie: Option<String>,
    /// The `Origin` header.
    #[serde(default)]
    pub origin: Option<String>,
    /// The request body (a form carrying `csrfmiddlewaretoken`, say).
    #[serde(default)]
    pub body: Option<String>,
    /// The request arrives over TLS (Django's HTTPS rules for CSRF).
    #[serde(default)]
    pub https: bool,
    /// The client's address (default 127.0.0.1), which decides whether its
    /// X-Forwarded-* headers are believed (`server.trusted_proxies`).
    #[serde(default)]
    pub peer: Option<IpAddr>,
    /// The request is an ingress's auth subrequest to the decision
    /// listener (`[decision]`): it is explained as the request it asks
    /// about, and `peer` is the ingress.
    #[serde(default)]
    pub decision: bool,
}

/// Everything `explain` found out.
#[derive(Debug, Serialize, Deserialize)]
pub struct Explanation {
    pub method: String,
    pub url: String,
    pub host: Option<String>,
    pub canonical_path: Option<String>,
    /// The deciding route's name (`default` for `default_access`).
    pub route: Option<String>,
    pub session: Option<SessionView>,
    /// Every check, in the order the gateway made them.
    pub steps: Vec<StepView>,
    /// `forward`, `would_deny` (report mode: forwarded), `deny`,
    /// `endpoint` (the gateway's own endpoint answers) or `preflight`
    /// (a CORS preflight the gateway answers).
    pub decision: Cow<'static, str>,
    /// The reason code (`X-Portcullis-Reason`) of a denial or would-be denial.
    pub reason: Option<Cow<'static, str>>,
    /// The `detail` of the denial, DRF's wording.
    pub detail: Option<String>,
    /// What to change so the request passes.
    pub hint: Option<String>,
    /// What the gateway answers itself (denials, preflights).
    pub response: Option<ResponseView>,
    /// The head of what is sent upstream (allowed requests).
    pub upstream_request: Option<UpstreamView>,
    /// Which upstream an allowed request goes to: its name (`[upstream]`
    /// for the default) and URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<UpstreamName>,
}

/// An upstream, as `explain` names it.
#[derive(Debug, Serialize, Deserialize)]
pub struct UpstreamName {
    /// The `[[upstreams]]` name, or `[upstream]`.
    pub name: String,
    /// `scheme://host:port`.
    pub url: String,
}

/// Who the request is from.
#[derive(Debug, Serialize, Deserialize)]
pub struct SessionView {
    /// `authenticated`, `anonymous`, `refused` or `store_unavailable`.
    pub state: Cow<'static, str>,
    /// The authentication class that authenticated the request:
    /// `session`, `token`, `jwt` or `bearer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<Cow<'static, str>>,
    /// How the session's user signed in, when known: `oidc` for a session
    /// made at the OpenID provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_in_with: Option<Cow<'static, str>>,
    /// Why there is no session (`no_cookie`, `malformed_id`, `not_found`).
    pub why: Option<Cow<'static, str>>,
    pub username: Option<String>,
    pub groups: Vec<String>,
    pub permissions: Vec<String>,
    pub staff: bool,
    pub superuser: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ResponseView {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct UpstreamView {
    pub method: String,
    pub uri: String,
    pub headers: Vec<(String, String)>,
}

/// Explains `request` against `config` and the sessions in `store`.
/// `Err` is a request that cannot be built (a bad method, URL or header).
pub async fn explain(
    config: &Arc<Config>,
    store: &Store,
    request: &ExplainRequest,
) -> Result<Explanation, String> {
    let (mut parts, assumed_host) = build_parts(config, request)?;
    let mut trace = Trace::on();
    if let Some(host) = assumed_host {
        trace.note(|| Step::HostAssumed { host });
    }
    let peer = SocketAddr::new(request.peer.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)), 0);
    let mut https = request.https;
    if request.decision {
        match pipeline::decision::original_head(config, peer.ip(), &mut parts) {
            Ok(original) => {
                https |= original.https;
                trace.note(|| Step::Decision {
                    ingress: original.ingress.as_str(),
                    method: original.method.to_string(),
                    uri: original.uri.to_string(),
                });
            }
            Err(refused) => {
                let mut explanation = Explanation::new(request, &parts);
                explanation.decision = Cow::Borrowed("deny");
                describe_denial(&mut explanation, &refused.denial, config);
                let answer = crate::response::denial(&refused.denial, false, config);
                explanation.response = Some(response_view(answer).await);
                explanation.steps = words(trace, config);
                return Ok(explanation);
            }
        }
    }
    let intake = intake::intake(config, &mut parts, &mut trace);
    let mut explanation = Explanation::new(request, &parts);
    let reply = match intake {
        Intake::Request(reply) => reply,
        Intake::Preflight(preflight) => {
            explanation.decision = Cow::Borrowed("preflight");
            explanation.response = Some(response_view(preflight).await);
            explanation.steps = words(trace, config);
            return Ok(explanation);
        }
    };
    // An ingress sends no body with its subrequest.
    let body = match request.decision {
        true => ForwardBody::from_bytes(Bytes::new()),
        false => ForwardBody::from_bytes(Bytes::from(request.body.clone().unwrap_or_default())),
    };
    let context = Context {
        // An HTTP subrequest's peer is the ingress, as on the listener.
        peer_is_ingress: request.decision,
        ..Context::explain(config, store, peer, https)
    };
    let mut state = RequestState {
        context,
        parts,
        reply,
        work: Work::new(body, trace),
    };
    let decision = pipeline::decide(&state.context, &state.parts, &mut state.work).await;
    explanation.canonical_path = decision.target.as_ref().map(|t| t.path.to_string());
    explanation.route = decision.route.map(|r| r.name.to_string());
    explanation.session = decision.session.as_ref().map(session_view);
    // What the gateway answers itself, if anything: the decision's
    // denial, or the one `run` meets while preparing the forward.
    let answered = match decision.verdict {
        Verdict::Endpoint => {
            explanation.decision = Cow::Borrowed("endpoint");
            None
        }
        Verdict::Deny(denial) => Some(denial),
        Verdict::Forward | Verdict::WouldDeny(_) => {
            if let Verdict::WouldDeny(denial) = &decision.verdict {
                explanation.decision = Cow::Borrowed("would_deny");
                describe_denial(&mut explanation, denial, config);
            }
            match upstream_view(&state.context, &state.parts, decision) {
                // On the decision listener the ingress forwards, to its
                // own upstream: the route's plays no part.
                Ok((view, _)) if request.decision => {
                    explanation.upstream_request = Some(view);
                    None
                }
                Ok((view, upstream)) => {
                    explanation.upstream_request = Some(view);
                    explanation.upstream = Some(upstream);
                    None
                }
                Err(denial) => Some(denial),
            }
        }
    };
    let RequestState { reply, work, .. } = state;
    if let Some(denial) = answered {
        explanation.decision = Cow::Borrowed("deny");
        describe_denial(&mut explanation, &denial, config);
        // Built by the functions that answer live requests.
        let answer = pipeline::deny(config, &denial, &reply);
        let answer = pipeline::finish(config, answer, work.cookies, reply.cors_origin);
        explanation.response = Some(response_view(answer).await);
    }
    explanation.steps = words(work.trace, config);
    Ok(explanation)
}

impl Explanation {
    /// An explanation of `request`, whose head intake made `parts`, with
    /// nothing found yet.
    fn new(request: &ExplainRequest, parts: &Parts) -> Explanation {
        Explanation {
            method: parts.method.to_string(),
            url: request.url.clone(),
            host: parts
                .headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_string),
            canonical_path: None,
            route: None,
            session: None,
            steps: Vec::new(),
            decision: Cow::Borrowed("forward"),
            reason: None,
            detail: None,
            hint: None,
            response: None,
            upstream_request: None,
            upstream: None,
        }
    }
}

/// The steps the trace noted, worded.
fn words(trace: Trace, config: &Config) -> Vec<StepView> {
    trace
        .into_steps()
        .iter()
        .map(|step| wording::step(step, config))
        .collect()
}

fn describe_denial(explanation: &mut Explanation, denial: &Denial, config: &Config) {
    explanation.reason = Some(Cow::Borrowed(denial.reason.as_str()));
    explanation.detail = Some(denial.detail.to_string());
    explanation.hint = Some(crate::response::hint::hint(denial, config));
}

/// The request head `run` would send upstream, made by the same functions,
/// and the upstream it goes to; `Err` when `run` would answer instead.
fn upstream_view(
    context: &Context<'_>,
    parts: &Parts,
    decision: Decision<'_, '_>,
) -> Result<(UpstreamView, UpstreamName), Denial> {
    let forwarding = pipeline::Forwarding::new(context, &parts.uri, decision)?;
    let settings = &forwarding.upstream.settings;
    let upstream = UpstreamName {
        name: forwarding.upstream.label().to_string(),
        url: format!("{}://{}", settings.scheme, settings.authority),
    };
    let mut head = Request::new(()).into_parts().0;
    head.method = parts.method.clone();
    head.headers = parts.headers.clone();
    let upgrade = pipeline::upgrade::requested(&head.headers);
    pipeline::prepare_upstream_head(context, &mut head, forwarding);
    // A WebSocket handshake keeps its protocol headers, as `run` restores them.
    if let Some(protocol) = upgrade {
        pipeline::upgrade::restore_headers(&mut head.headers, protocol);
    }
    let view = UpstreamView {
        method: head.method.to_string(),
        uri: head.uri.to_string(),
        headers: header_list(&head.headers),
    };
    Ok((view, upstream))
}

fn session_view(session: &SessionState) -> SessionView {
    let mut view = SessionView {
        state: Cow::Borrowed("anonymous"),
        via: None,
        signed_in_with: None,
        why: None,
        username: None,
        groups: Vec::new(),
        permissions: Vec::new(),
        staff: false,
        superuser: false,
    };
    match session {
        SessionState::Authenticated(user, via) => {
            view.state = Cow::Borrowed("authenticated");
            view.via = Some(Cow::Borrowed(via.as_str()));
            view.signed_in_with = session.signed_in_with().map(Cow::Borrowed);
            view.username = Some(user.username.clone());
            view.groups.clone_from(&user.groups);
            view.permissions.clone_from(&user.permissions);
            view.staff = user.staff;
            view.superuser = user.superuser;
        }
        SessionState::Anonymous(why) => view.why = Some(Cow::Borrowed(why.as_str())),
        SessionState::Unavailable(what) => view.state = Cow::Borrowed(what.as_str()),
        SessionState::Refused(denial) => {
            view.state = Cow::Borrowed("refused");
            view.why = Some(Cow::Borrowed(denial.reason.as_str()));
        }
    }
    view
}

async fn response_view(response: Response<ProxyBody>) -> ResponseView {
    let (parts, body) = response.into_parts();
    let body = match body.collect().await {
        Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).into_owned(),
        Err(_) => String::new(),
    };
    ResponseView {
        status: parts.status.as_u16(),
        headers: header_list(&parts.headers),
        body,
    }
}

fn header_list(headers: &http::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            (
                name.to_string(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// The request head described by `request`; with the Host it assumed, if
/// it had to.
fn build_parts(
    config: &Config,
    request: &ExplainRequest,
) -> Result<(Parts, Option<String>), String> {
    let method = request.method.as_deref().unwrap_or("GET");
    let method = Method::from_bytes(method.as_bytes())
        .map_err(|_| format!("{method:?} is not an HTTP method"))?;
    let uri: Uri = request
        .url
        .parse()
        .map_err(|e| format!("url {:?}: {e}", request.url))?;
    let mut parts = Request::new(()).into_parts().0;
    parts.method = method;
    for line in &request.headers {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("header {line:?} is not \"Name: value\""))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| format!("{:?} is not a header name", name.trim()))?;
        let value = HeaderValue::from_str(value.trim())
            .map_err(|_| format!("header {name}: the value is not a valid header value"))?;
        parts.headers.append(name, value);
    }
    let mut add = |name: HeaderName, value: &Option<String>| -> Result<(), String> {
        if let Some(value) = value {
            let value = HeaderValue::from_str(value)
                .map_err(|_| format!("{name}: not a valid header value"))?;
            parts.headers.append(name, value);
        }
        Ok(())
    };
    add(header::COOKIE, &request.cookie)?;
    add(header::ORIGIN, &request.origin)?;
    if let Some(body) = &request.body {
        if !parts.headers.contains_key(header::CONTENT_LENGTH) {
            parts
                .headers
                .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        }
    }
    let mut assumed = None;
    if uri.authority().is_none() && !parts.headers.contains_key(header::HOST) {
        let host = crate::config::snapshot::dialable(config.startup.listen).to_string();
        let value = HeaderValue::from_str(&host).map_err(|e| e.to_string())?;
        parts.headers.insert(header::HOST, value);
        assumed = Some(host);
    }
    parts.uri = uri;
    Ok((parts, assumed))
}
