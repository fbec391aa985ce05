//! `GET <prefix>/whoami`: who the gateway takes the caller to be. The
//! user, groups and permissions, how they authenticated, when the session
//! ends, the csrftoken cookie's state, and what an unsafe request from this
//! page would need. JSON, or a page for browsers: the first thing to open
//! when a request gets a 403. Read-only, as `explain` is: it sets no
//! cookie, renews no session and spends no refresh token (claims due a
//! refresh are shown as they stand).

use std::borrow::Cow;

use bytes::Bytes;
use http::{Response, StatusCode};
use serde::Serialize;

use super::Exchange;
use crate::csrf::settings::CsrfEnforce;
use crate::pipeline::authenticate;
use crate::pipeline::check_csrf::CookieState;
use crate::pipeline::trace::Trace;
use crate::reply::ProxyBody;
use crate::session::state::{AuthClass, SessionState};

/// The answer, as JSON (and what the page shows).
#[derive(Serialize)]
struct WhoAmI {
    authenticated: bool,
    /// The user, when a credential authenticated the request.
    user: Option<User>,
    /// The class that authenticated it: `session`, `token`, `jwt`, `bearer`.
    authenticated_by: Option<&'static str>,
    /// How a session's user signed in, when the gateway knows (`oidc`).
    signed_in_with: Option<&'static str>,
    /// A session's expiry (RFC 3339); a session renews while used.
    session_expires_at: Option<String>,
    /// Why the request counts as anonymous, or why its credential was
    /// refused or could not be checked.
    why_not: Option<String>,
    /// The reason code a refused or unchecked credential gets.
    reason: Option<&'static str>,
    /// The authentication classes tried, in order (the top-level
    /// `authentication`; a route may list its own).
    classes: Vec<&'static str>,
    csrf: Csrf,
}

#[derive(Serialize)]
struct User {
    username: String,
    groups: Vec<String>,
    permissions: Vec<String>,
    staff: bool,
    superuser: bool,
}

#[derive(Serialize)]
struct Csrf {
    /// `missing`, `malformed` or `valid`; `not_used` with
    /// `CSRF_USE_SESSIONS` (the secret lives in the session).
    cookie: &'static str,
    /// Why a malformed cookie is malformed (Django's words).
    problem: Option<&'static str>,
    /// What a POST, PUT, PATCH or DELETE from this page needs to pass
    /// Django's CSRF check through the gateway.
    unsafe_requests_need: String,
}

pub(super) async fn handle(exchange: &Exchange<'_>) -> Response<ProxyBody> {
    // Not live: nothing written, no refresh token spent, nothing timed.
    let context = &crate::pipeline::Context {
        live: false,
        lookup_timing: None,
        ..*exchange.context
    };
    let classes = authenticate::classes_for(context, None);
    let mut untraced = Trace::off();
    let state = authenticate::authenticate(
        context,
        &exchange.parts.headers,
        classes,
        false,
        &mut untraced,
    )
    .await;
    let whoami = describe(
        exchange,
        &state,
        classes.iter().map(|class| class.as_str()).collect(),
    );
    let mut response = if exchange.html {
        crate::reply::html(
            StatusCode::OK,
            crate::pages::whoami_page(&page_of(&whoami, exchange)),
        )
    } else {
        // Invariant: strings, booleans and lists serialise.
        let body = serde_json::to_vec(&whoami).expect("serialise whoami");
        crate::reply::json(StatusCode::OK, Bytes::from(body))
    };
    crate::reply::for_this_caller_only(response.headers_mut());
    response
}

fn describe(exchange: &Exchange<'_>, state: &SessionState, classes: Vec<&'static str>) -> WhoAmI {
    let config = exchange.config;
    let mut whoami = WhoAmI {
        authenticated: false,
        user: None,
        authenticated_by: None,
        signed_in_with: state.signed_in_with(),
        session_expires_at: None,
        why_not: None,
        reason: None,
        classes,
        csrf: csrf(exchange, state),
    };
    match state {
        SessionState::Authenticated(session, via) => {
            whoami.authenticated = true;
            whoami.authenticated_by = Some(via.as_str());
            whoami.user = Some(User {
                username: session.username.clone(),
                groups: session.groups.clone(),
                permissions: session.permissions.clone(),
                staff: session.staff,
                superuser: session.superuser,
            });
            if *via == AuthClass::Session {
                whoami.session_expires_at =
                    Some(humantime::format_rfc3339_seconds(session.expires_at).to_string());
            }
        }
        SessionState::Anonymous(why) => {
            whoami.why_not = Some(why.describe(&config.session.cookie_name));
        }
        SessionState::Refused(denial) => {
            whoami.why_not = Some(format!("the credential was refused: {}", denial.detail));
            whoami.reason = Some(denial.reason.as_str());
        }
        SessionState::Unavailable(what) => {
            let denial = what.denial();
            whoami.why_not = Some(format!("it could not be checked: {}", denial.detail));
            whoami.reason = Some(denial.reason.as_str());
        }
    }
    whoami
}

/// The cookie's state, and what an unsafe request needs given it and who
/// the caller is (DRF checks CSRF only for session authentication, unless
/// `csrf.enforce = "always"`).
fn csrf(exchange: &Exchange<'_>, state: &SessionState) -> Csrf {
    let config = exchange.config;
    let settings = &config.csrf;
    let prefix = config.server.internal_prefix.as_str();
    let header = header_display(settings.header_name.as_str());
    let cookie = settings.cookie_name.as_str();
    let (state_word, problem) = match exchange.cookie {
        _ if config.startup.csrf_use_sessions => ("not_used", None),
        CookieState::Absent => ("missing", None),
        CookieState::Malformed(problem) => ("malformed", Some(problem.phrase())),
        CookieState::Valid(_) => ("valid", None),
    };
    let session_user = matches!(state, SessionState::Authenticated(_, AuthClass::Session));
    let checked = session_user || settings.enforce == CsrfEnforce::Always;
    let need = if !checked {
        match state {
            SessionState::Authenticated(_, via) => format!(
                "nothing: DRF checks CSRF only for session authentication, and this request authenticated with {}",
                via.as_str()
            ),
            _ => format!("nothing while signed out: DRF checks CSRF only for session-authenticated requests; once signed in, the {cookie} cookie and the {header} header set to its value"),
        }
    } else if config.startup.csrf_use_sessions {
        format!("the {header} header with the CSRF token Django put in the page (CSRF_USE_SESSIONS: the secret lives in the session)")
    } else {
        let token = match exchange.cookie {
            CookieState::Valid(_) => {
                format!("the {header} header set to the {cookie} cookie's value (or the csrfToken from GET {prefix}/csrf)")
            }
            CookieState::Absent => format!(
                "the {cookie} cookie first (GET {prefix}/csrf, or any GET through the gateway, sets it), then the {header} header set to its value"
            ),
            CookieState::Malformed(_) => format!(
                "a new {cookie} cookie (this one {}; GET {prefix}/csrf replaces it), then the {header} header set to its value",
                problem.unwrap_or("is malformed")
            ),
        };
        let origin = if exchange.https {
            "an Origin header, when sent, of this site or of csrf.trusted_origins, and without one a Referer of them"
        } else {
            "an Origin header, when sent, of this site or of csrf.trusted_origins"
        };
        format!("{token}; and {origin} (routes with csrf = false need none of it)")
    };
    Csrf {
        cookie: state_word,
        problem,
        unsafe_requests_need: need,
    }
}

/// `x-csrftoken` as people write it: `X-CSRFToken` for Django's default,
/// else each word capitalised.
fn header_display(name: &str) -> Cow<'_, str> {
    if name.eq_ignore_ascii_case("x-csrftoken") {
        return Cow::Borrowed("X-CSRFToken");
    }
    let words: Vec<String> = name
        .split('-')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect();
    Cow::Owned(words.join("-"))
}

/// The page's view of the answer.
fn page_of<'a>(whoami: &'a WhoAmI, exchange: &'a Exchange<'_>) -> crate::pages::WhoAmIPage<'a> {
    let user = whoami.user.as_ref();
    crate::pages::WhoAmIPage {
        prefix: &exchange.config.server.internal_prefix,
        username: user.map(|u| u.username.as_str()),
        groups: user.map_or(&[], |u| u.groups.as_slice()),
        permissions: user.map_or(&[], |u| u.permissions.as_slice()),
        staff: user.is_some_and(|u| u.staff),
        superuser: user.is_some_and(|u| u.superuser),
        authenticated_by: whoami.authenticated_by,
        signed_in_with: whoami.signed_in_with,
        session_expires_at: whoami.session_expires_at.as_deref(),
        why_not: whoami.why_not.as_deref(),
        classes: &whoami.classes,
        csrf_cookie: whoami.csrf.cookie,
        csrf_need: &whoami.csrf.unsafe_requests_need,
    }
}

#[cfg(test)]
mod tests {
    use super::header_display;

    #[test]
    fn header_names_are_shown_as_people_write_them() {
        assert_eq!(header_display("x-csrftoken"), "X-CSRFToken");
        assert_eq!(header_display("x-xsrf-token"), "X-Xsrf-Token");
    }
}
