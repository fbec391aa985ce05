//! Stage 5: Django's CSRF check, in Django's order (`CsrfViewMiddleware.
//! process_view` and `_check_token`), with DRF's `CSRF Failed: ` prefix:
//!
//! 1. unsafe method only (everything but GET, HEAD, OPTIONS, TRACE);
//! 2. an `Origin` must be this request's `scheme://Host` or trusted;
//!    without one, an HTTPS request's `Referer` must be trusted;
//! 3. the csrftoken cookie must be well-formed and present;
//! 4. the token — the POST form field `csrfmiddlewaretoken` when present,
//!    else the X-CSRFToken header — must be well-formed and match; under
//!    DRF (`enforce = "authenticated"`) a POST refused here is first
//!    refused for its body when DRF's parsers refuse it (`crate::parsers`).
//!
//! Who is checked: with `enforce = "authenticated"` (DRF), requests carrying
//! a valid session, on every route; with `"always"` (Django), everyone.

use std::borrow::Cow;

use http::header::{self, HeaderMap, HeaderValue};
use http::request::Parts;
use http::Method;

use super::trace::{CsrfStep, Trace};
use crate::body::ForwardBody;
use crate::csrf::form;
use crate::csrf::origin::{self, RefererProblem};
use crate::csrf::settings::{CsrfEnforce, CsrfSettings};
use crate::csrf::token::{check_format, FormatError, Secret};
use crate::denial::{Denial, Reason};
use crate::headers::latin1;
use crate::session::state::{AuthClass, SessionState};

/// The state of the request's csrftoken cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieState {
    Absent,
    Malformed(FormatError),
    Valid(Secret),
}

/// Reads the csrftoken cookie like Django's `_get_secret` (a 64-char cookie
/// from Django < 4.1 is unmasked).
pub fn cookie_state(headers: &HeaderMap, settings: &CsrfSettings) -> CookieState {
    match crate::cookies::cookie_value(headers, &settings.cookie_name) {
        None => CookieState::Absent,
        Some(value) => match Secret::from_token(&value) {
            Ok(secret) => CookieState::Valid(secret),
            Err(problem) => CookieState::Malformed(problem),
        },
    }
}

/// CSRF_USE_SESSIONS: the secret Django keeps in the session
/// (`_csrftoken`), read as `_get_secret` reads it (64 characters are a
/// secret masked by Django < 4.0). Django only ever stores well-formed
/// secrets there; anything else counts as no secret.
pub fn session_secret_state(session: &SessionState) -> CookieState {
    session
        .user()
        .and_then(|user| user.csrf_secret.as_deref())
        .and_then(|value| Secret::from_token(value).ok())
        .map_or(CookieState::Absent, CookieState::Valid)
}

/// RFC 9110 safe methods, which Django never CSRF-checks. Unknown methods
/// are unsafe.
pub fn is_safe(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// Whether this request counts as HTTPS for the CSRF rules: TLS on our
/// listener, or `X-Forwarded-Proto: https` from a trusted proxy (its first
/// value, as Django's SECURE_PROXY_SSL_HEADER reads it).
pub fn is_https(headers: &HeaderMap, tls: bool, from_trusted_proxy: bool) -> bool {
    tls || (from_trusted_proxy
        && headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            // Compared exactly, as Django compares SECURE_PROXY_SSL_HEADER.
            .is_some_and(|proto| proto.trim() == "https"))
}

/// Whether the response should set a fresh csrftoken cookie: the cookie is
/// malformed (Django replaces it on any response), or absent on a safe
/// request (the gateway hands one out so clients can start).
pub fn needs_new_cookie(method: &Method, cookie: &CookieState) -> bool {
    match cookie {
        CookieState::Malformed(_) => true,
        CookieState::Absent => is_safe(method),
        CookieState::Valid(_) => false,
    }
}

/// Everything the check reads about the request besides its body.
pub struct Request<'a> {
    pub settings: &'a CsrfSettings,
    pub parts: &'a Parts,
    /// The route is `csrf = false` (Django's `@csrf_exempt`).
    pub exempt: bool,
    /// Who is checked: the configured mode, or `Always` for the gateway's
    /// own login and logout (Django's LoginView is `csrf_protect`ed).
    pub enforce: CsrfEnforce,
    pub session: &'a SessionState,
    pub https: bool,
    pub host: Option<&'a str>,
    pub cookie: CookieState,
    /// The route is in `mode = "report"`: a refusal is forwarded anyway
    /// (and DRF there parses the body itself).
    pub reported: bool,
}

/// Where the submitted token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// The POST form field `csrfmiddlewaretoken`.
    Form,
    /// The token header (`X-CSRFToken`).
    Header,
}

impl TokenSource {
    /// As Django names it in its messages: `POST`, or `the X-CSRFToken
    /// HTTP header`.
    pub fn describe(self, settings: &CsrfSettings) -> Cow<'static, str> {
        match self {
            TokenSource::Form => Cow::Borrowed("POST"),
            TokenSource::Header => Cow::Owned(format!("the {} HTTP header", settings.header_label)),
        }
    }
}

/// Runs the check; `Ok` lets the request continue.
pub async fn check(
    request: &Request<'_>,
    body: &mut ForwardBody,
    trace: &mut Trace,
) -> Result<(), Denial> {
    let result = run_checks(request, body, trace).await;
    if let Err(denial) = &result {
        trace.note(|| CsrfStep::Failed(denial.clone()));
    }
    result
}

async fn run_checks(
    request: &Request<'_>,
    body: &mut ForwardBody,
    trace: &mut Trace,
) -> Result<(), Denial> {
    let (settings, parts) = (request.settings, request.parts);
    if request.exempt {
        trace.note(|| CsrfStep::Exempt);
        return Ok(());
    }
    let enforced = match request.enforce {
        CsrfEnforce::Always => true,
        CsrfEnforce::Authenticated => matches!(
            request.session,
            SessionState::Authenticated(_, AuthClass::Session)
        ),
    };
    if !enforced {
        trace.note(|| CsrfStep::NotEnforced);
        return Ok(());
    }
    // Repeated headers reach Django joined with ",": two Origins are one
    // origin that matches nothing.
    let origin = joined_header(&parts.headers, header::ORIGIN);
    if is_safe(&parts.method) {
        // A WebSocket handshake is a GET, but a cross-site page can open one
        // with the user's cookies: hold it to the Origin rule.
        if settings.websocket_origin_check && is_websocket_upgrade(&parts.headers) {
            if let Some(origin) = origin {
                verify_origin(request, &origin)?;
                trace.note(|| CsrfStep::WebSocketOrigin { origin });
            }
        }
        trace.note(|| CsrfStep::SafeMethod(parts.method.clone()));
        return Ok(());
    }

    match origin {
        Some(origin) => {
            verify_origin(request, &origin)?;
            trace.note(|| CsrfStep::OriginVerified { origin });
        }
        None if request.https => {
            check_referer(request)?;
            trace.note(|| CsrfStep::RefererVerified);
        }
        None => trace.note(|| CsrfStep::NoOriginOverHttp),
    }

    let secret = match request.cookie {
        CookieState::Valid(secret) => {
            trace.note(|| CsrfStep::CookieWellFormed);
            secret
        }
        CookieState::Absent => {
            return Err(failed(
                Reason::CsrfCookieMissing,
                "CSRF cookie not set.".into(),
            ))
        }
        CookieState::Malformed(problem) => {
            let message = if settings.legacy_messages {
                LEGACY_TOKEN_MESSAGE.to_string()
            } else {
                format!("CSRF cookie {}.", problem.phrase())
            };
            return Err(failed(Reason::CsrfCookieMalformed, message));
        }
    };

    match check_token(request, body, secret, trace).await {
        Ok(()) => Ok(()),
        Err(denial) => Err(drf_parses_first(request, body, denial).await),
    }
}

/// The submitted token against the cookie's secret.
async fn check_token(
    request: &Request<'_>,
    body: &mut ForwardBody,
    secret: Secret,
    trace: &mut Trace,
) -> Result<(), Denial> {
    let (settings, parts) = (request.settings, request.parts);
    let (token, source) = match form_token(request, body).await? {
        Some(token) => (token, TokenSource::Form),
        None => {
            let Some(token) = header_token(&parts.headers, settings) else {
                let message = legacy_or(settings, "CSRF token missing.".to_string());
                return Err(failed(Reason::CsrfTokenMissing, message));
            };
            (token, TokenSource::Header)
        }
    };
    trace.note(|| CsrfStep::TokenRead(source));
    if let Err(problem) = check_format(&token) {
        let message = legacy_or(
            settings,
            format!(
                "CSRF token from {} {}.",
                source.describe(settings),
                problem.phrase()
            ),
        );
        return Err(failed(Reason::CsrfTokenMalformed, message));
    }
    if !secret.matches(&token) {
        let message = legacy_or(
            settings,
            format!("CSRF token from {} incorrect.", source.describe(settings)),
        );
        return Err(failed(Reason::CsrfTokenIncorrect, message));
    }
    trace.note(|| CsrfStep::TokenMatches);
    Ok(())
}

/// DRF's `SessionAuthentication` reads `request.POST` through DRF's
/// parsers before it looks at the header token, so a POST it would refuse
/// for the token is first refused for its body (415, or 400 for JSON
/// Python cannot parse): `crate::parsers`. Django's own middleware
/// (`enforce = "always"`) reads only form bodies, and the gateway's own
/// endpoints are no DRF views. A reported refusal keeps its CSRF reason.
async fn drf_parses_first(request: &Request<'_>, body: &mut ForwardBody, denial: Denial) -> Denial {
    let parts = request.parts;
    let drf = request.enforce == CsrfEnforce::Authenticated && !request.reported;
    if !drf || parts.method != Method::POST || declared_length(&parts.headers) == 0 {
        return denial;
    }
    let limit = request.settings.form_body_limit;
    crate::parsers::refusal(&parts.headers, body, limit)
        .await
        .unwrap_or(denial)
}

/// Django before 4.0 said this for every token problem (the seed document's text).
const LEGACY_TOKEN_MESSAGE: &str = "CSRF token missing or incorrect.";

fn legacy_or(settings: &CsrfSettings, message: String) -> String {
    if settings.legacy_messages {
        LEGACY_TOKEN_MESSAGE.to_string()
    } else {
        message
    }
}

fn failed(reason: Reason, message: String) -> Denial {
    Denial::csrf_failed(reason, message)
}

fn verify_origin(request: &Request<'_>, origin: &str) -> Result<(), Denial> {
    if origin::origin_verified(
        origin,
        request.https,
        request.host,
        &request.settings.trusted_origins,
    ) {
        return Ok(());
    }
    Err(failed(
        Reason::CsrfBadOrigin,
        format!("Origin checking failed - {origin} does not match any trusted origins."),
    ))
}

fn check_referer(request: &Request<'_>) -> Result<(), Denial> {
    let settings = request.settings;
    // Two Referer lines reach Django as one value joined with ",".
    let referer = joined_header(&request.parts.headers, header::REFERER);
    // The cookie domain (with the port unless 80/443), else this Host.
    let good_host = match &settings.cookie_domain {
        Some(domain) => {
            let port = request
                .host
                .and_then(|h| h.rsplit_once(':'))
                .map(|(_, p)| p)
                .unwrap_or("443");
            Some(if port == "443" || port == "80" {
                domain.clone()
            } else {
                format!("{domain}:{port}")
            })
        }
        // Django's get_host(): an invalid Host is DisallowedHost, which
        // no Referer matches.
        None => request
            .host
            .filter(|h| origin::is_valid_host(h))
            .map(str::to_string),
    };
    origin::check_referer(
        referer.as_deref(),
        &settings.trusted_origins,
        good_host.as_deref(),
    )
    .map_err(|problem| {
        let (reason, message) = match problem {
            RefererProblem::Missing => (
                Reason::CsrfNoReferer,
                "Referer checking failed - no Referer.".to_string(),
            ),
            RefererProblem::Malformed => (
                Reason::CsrfMalformedReferer,
                "Referer checking failed - Referer is malformed.".to_string(),
            ),
            RefererProblem::Insecure => (
                Reason::CsrfInsecureReferer,
                "Referer checking failed - Referer is insecure while host is secure.".to_string(),
            ),
            RefererProblem::Untrusted(url) => (
                Reason::CsrfBadReferer,
                format!("Referer checking failed - {url} does not match any trusted origins."),
            ),
        };
        failed(reason, message)
    })
}

/// The form field token of a POST form body (Django reads `request.POST`
/// only for POST), or `None` when absent or empty (then the header counts).
async fn form_token(
    request: &Request<'_>,
    body: &mut ForwardBody,
) -> Result<Option<String>, Denial> {
    let (settings, parts) = (request.settings, request.parts);
    if parts.method != Method::POST {
        return Ok(None);
    }
    let length = declared_length(&parts.headers);
    if length == 0 {
        return Ok(None);
    }
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let kind = match form::form_kind(content_type) {
        Ok(Some(kind)) => kind,
        Ok(None) => return Ok(None),
        // Django's MultiPartParserError: 400.
        Err(form::InvalidBoundary) => return Err(Denial::bad_body()),
    };
    // Django refuses a urlencoded body over DATA_UPLOAD_MAX_MEMORY_SIZE
    // (RequestDataTooBig, 400); multipart files stream, so only the start
    // of such a body is searched (fields after the limit are not seen).
    if kind == form::FormKind::UrlEncoded && length > settings.form_body_limit as u64 {
        return Err(Denial::form_too_large());
    }
    let (start, complete) = body.peek(settings.form_body_limit).await.map_err(|error| {
        tracing::debug!(%error, "reading the form body failed");
        Denial::unreadable_body(&*error)
    })?;
    Ok(form::token_field(kind, &start, complete).filter(|token| !token.is_empty()))
}

/// The body length Django under WSGI reads (CONTENT_LENGTH bytes):
/// without a length (a chunked body) or with 0 it sees an empty body.
fn declared_length(headers: &HeaderMap) -> u64 {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
}

/// The header token. Repeated headers are joined with ",", as a WSGI server
/// joins them for Django, so two copies (even equal ones) are refused as
/// malformed (SECURITY_CASES B16).
fn header_token(headers: &HeaderMap, settings: &CsrfSettings) -> Option<String> {
    joined_header(headers, &settings.header_name)
}

/// Every value of a header, Latin-1 decoded and joined with "," as a WSGI
/// server hands repeated headers to Django.
fn joined_header(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<String> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    let mut joined = latin1(first.as_bytes()).into_owned();
    for value in values {
        joined.push(',');
        joined.push_str(&latin1(value.as_bytes()));
    }
    Some(joined)
}

fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::UPGRADE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|protocol| protocol.trim().eq_ignore_ascii_case("websocket"))
}

/// The `Set-Cookie` for a new csrftoken, unless the upstream already set one.
pub fn add_cookie_unless_set(
    headers: &mut HeaderMap,
    settings: &CsrfSettings,
    cookie: HeaderValue,
) {
    let prefix = format!("{}=", settings.cookie_name);
    let already = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .any(|v| v.as_bytes().starts_with(prefix.as_bytes()));
    if !already {
        headers.append(header::SET_COOKIE, cookie);
    }
}
