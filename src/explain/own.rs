//! `<prefix>/explain?method=PUT&path=/life/1/` with `[diagnostics]
//! self_explain = true`: `explain` for the caller's own request, with the
//! cookies, `Authorization` and other headers it came with, from where it
//! came. Answered here, before the pipeline, because `explain` runs the
//! pipeline's stages (it cannot be one of the pipeline's endpoints). JSON,
//! the same as the admin API's `POST /explain`; nothing is forwarded.

use std::net::IpAddr;

use http::header;
use http::{Request, Response, StatusCode};

use super::{explain, ExplainRequest, Explanation};
use crate::config::Config;
use crate::connection::Connection;
use crate::gateway::Gateway;
use crate::reply::ProxyBody;

/// Headers of the caller's that say nothing about the explained request.
const NOT_CARRIED: [header::HeaderName; 5] = [
    header::HOST,
    header::CONTENT_LENGTH,
    header::TRANSFER_ENCODING,
    header::CONNECTION,
    header::UPGRADE,
];

/// True when `path` (as sent) is `<prefix>/explain` and the operator
/// turned it on. Anything spelled otherwise goes down the pipeline, where
/// it is one of the gateway's paths and not found.
pub fn is_self_explain(config: &Config, path: &str) -> bool {
    config.diagnostics.self_explain
        && path.strip_prefix(config.server.internal_prefix.as_str()) == Some("/explain")
}

/// Explains the request `request`'s query describes, as its sender.
pub async fn answer<B>(
    gateway: &Gateway,
    request: &Request<B>,
    connection: Connection,
) -> Response<ProxyBody> {
    let config = gateway.config();
    if request.method() != http::Method::GET && request.method() != http::Method::HEAD {
        return problem(
            StatusCode::METHOD_NOT_ALLOWED,
            "GET it: ?method=PUT&path=/life/1/",
        );
    }
    let asked = match described(request, connection.peer.ip(), connection.tls) {
        Ok(asked) => asked,
        Err(why) => return problem(StatusCode::BAD_REQUEST, &why),
    };
    match explain(&config, gateway.store(), &asked).await {
        Ok(explanation) => match serde_json::to_vec(&redacted(explanation)) {
            Ok(body) => {
                let mut response = crate::reply::json(StatusCode::OK, body.into());
                crate::reply::for_this_caller_only(response.headers_mut());
                response
            }
            Err(error) => problem(StatusCode::INTERNAL_SERVER_ERROR, &error.to_string()),
        },
        Err(why) => problem(StatusCode::BAD_REQUEST, &why),
    }
}

/// The request to explain: `method` and `path` (with its own query) from
/// the query string, every header the caller sent but those about its own
/// connection, its address and scheme.
fn described<B>(request: &Request<B>, peer: IpAddr, tls: bool) -> Result<ExplainRequest, String> {
    let mut method = None;
    let mut path = None;
    for (key, value) in form_urlencoded::parse(request.uri().query().unwrap_or("").as_bytes()) {
        match &*key {
            "method" => method = Some(value.into_owned()),
            "path" => path = Some(value.into_owned()),
            _ => {}
        }
    }
    let path = path.ok_or("name the request to explain: ?path=/life/1/&method=PUT")?;
    if !path.starts_with('/') {
        return Err(format!("path must start with '/': {path:?}"));
    }
    let mut headers = Vec::new();
    // HTTP/2 says it in the authority instead.
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()));
    if let Some(host) = host {
        headers.push(format!("Host: {host}"));
    }
    // HTTP/2 sends each cookie as a field of its own; the described
    // request is HTTP/1.1, so they are joined as intake joins them.
    let mut sent = request.headers().clone();
    if request.version() == http::Version::HTTP_2 {
        crate::cookies::join_fields(&mut sent, b"; ");
    }
    for (name, value) in &sent {
        if NOT_CARRIED.contains(name) {
            continue;
        }
        if let Ok(value) = value.to_str() {
            headers.push(format!("{name}: {value}"));
        }
    }
    Ok(ExplainRequest {
        method,
        url: path,
        headers,
        peer: Some(peer),
        https: tls,
        ..ExplainRequest::default()
    })
}

/// Headers whose values the answer never shows: the session cookie is
/// HttpOnly so that a script on the page cannot read it, and this answer
/// is readable by any script on the page.
const REDACTED: [&str; 4] = [
    "cookie",
    "authorization",
    "proxy-authorization",
    "x-portcullis-assertion",
];

/// The explanation without secrets a page's scripts must not read (the
/// cookies and credentials echoed in the upstream request's head), nor
/// the upstream's address (only the path it would be sent).
fn redacted(mut explanation: Explanation) -> Explanation {
    let hide = |headers: &mut Vec<(String, String)>| {
        for (name, value) in headers.iter_mut() {
            if REDACTED
                .iter()
                .any(|secret| name.eq_ignore_ascii_case(secret))
            {
                *value = "<redacted>".into();
            }
        }
    };
    if let Some(upstream) = &mut explanation.upstream_request {
        hide(&mut upstream.headers);
        if let Ok(uri) = upstream.uri.parse::<http::Uri>() {
            upstream.uri = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
        }
    }
    if let Some(response) = &mut explanation.response {
        hide(&mut response.headers);
    }
    // Which upstream, and where it is, are the deployment's own business.
    explanation.upstream = None;
    explanation
}

fn problem(status: StatusCode, detail: &str) -> Response<ProxyBody> {
    let body = serde_json::json!({ "detail": detail }).to_string();
    crate::reply::json(status, body.into())
}
