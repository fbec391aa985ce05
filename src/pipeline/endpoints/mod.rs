//! Stage 2: the gateway's own endpoints under `server.internal_prefix` (default
//! `/_portcullis`), answered before any route is matched and never
//! forwarded:
//!
//! | path      | method     | what                                               |
//! |-----------|------------|----------------------------------------------------|
//! | `/csrf`   | GET, HEAD  | `{"csrfToken": ...}`, sets the csrftoken cookie    |
//! | `/login`  | GET, HEAD  | the HTML sign-in form                              |
//! | `/login`  | POST       | sign in (JSON or form), CSRF-checked like LoginView |
//! | `/logout` | POST       | sign out, CSRF-checked                             |
//! | `/whoami` | GET, HEAD  | who the gateway takes the caller to be (JSON or HTML) |
//! | `/oidc/login` | GET    | sign in at the OpenID provider (`[oidc]`)          |
//! | `oidc.redirect_path` | GET | the provider's answer (`[oidc]`)               |
//!
//! With `session.store = "django"` there is no `/login` or `/logout`
//! (Django signs users in and out), and with `csrf.use_sessions` no
//! `/csrf` (the secret lives in Django's session).

mod csrf_token;
mod login;
mod logout;
mod oidc;
mod whoami;

use std::net::SocketAddr;
use std::sync::Arc;

use http::request::Parts;
use http::{header, Method, Response};

use crate::body::ForwardBody;
use crate::config::startup::StoreKind;
use crate::config::Config;
use crate::csrf::settings::CsrfEnforce;
use crate::csrf::token::Secret;
use crate::denial::Denial;
use crate::gateway::Gateway;
use crate::pipeline::check_csrf::{self, CookieState};
use crate::reply::ProxyBody;
use crate::session::state::SessionState;

/// True when `path` (canonical) is one of ours.
pub fn is_internal(config: &Config, path: &str) -> bool {
    path.strip_prefix(config.server.internal_prefix.as_str())
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// What an endpoint needs to know about the request.
pub struct Exchange<'a> {
    pub gateway: &'a Gateway,
    /// What the stages run with (the store, the peer): `whoami`
    /// authenticates the request as a route would.
    pub context: &'a crate::pipeline::Context<'a>,
    pub config: &'a Arc<Config>,
    pub parts: &'a Parts,
    pub body: &'a mut ForwardBody,
    pub peer: SocketAddr,
    pub https: bool,
    pub host: Option<&'a str>,
    pub cookie: CookieState,
    /// The client prefers HTML (a browser).
    pub html: bool,
}

pub async fn handle(exchange: Exchange<'_>, path: &str) -> Result<Response<ProxyBody>, Denial> {
    let method = exchange.parts.method.clone();
    let endpoint = &path[exchange.config.server.internal_prefix.len()..];
    let config = exchange.config;
    // Django's sessions: signing in and out is Django's; with
    // CSRF_USE_SESSIONS the token lives in its session, which we never write.
    let django = matches!(config.startup.store, StoreKind::Django(_));
    let off = match endpoint {
        "/login" | "/logout" => django,
        "/csrf" => config.startup.csrf_use_sessions,
        _ => false,
    };
    if off {
        return Err(Denial::not_found());
    }
    if let Some(provider) = &config.oidc {
        let callback = endpoint == provider.settings().redirect_path;
        match (endpoint, &method) {
            ("/oidc/login", &Method::GET) => return oidc::start(&exchange, provider).await,
            (_, &Method::GET) if callback => return oidc::callback(&exchange, provider).await,
            ("/oidc/login", method) => return Err(Denial::method_not_allowed(method)),
            (_, method) if callback => return Err(Denial::method_not_allowed(method)),
            _ => {}
        }
    }
    match (endpoint, method) {
        ("/csrf", Method::GET | Method::HEAD) => Ok(csrf_token::handle(&exchange)),
        ("/login", Method::GET | Method::HEAD) => Ok(login::page(&exchange)),
        ("/login", Method::POST) => login::submit(exchange).await,
        ("/logout", Method::POST) => logout::submit(exchange).await,
        ("/whoami", Method::GET | Method::HEAD) => Ok(whoami::handle(&exchange).await),
        ("/csrf" | "/login" | "/logout" | "/whoami", method) => {
            Err(Denial::method_not_allowed(&method))
        }
        _ => Err(Denial::not_found()),
    }
}

impl Exchange<'_> {
    /// Django's `csrf_protect`: the full check for everyone, signed in or not.
    async fn csrf_protect(&mut self) -> Result<(), Denial> {
        let request = check_csrf::Request {
            settings: &self.config.csrf,
            parts: self.parts,
            exempt: false,
            enforce: CsrfEnforce::Always,
            session: &SessionState::Anonymous(crate::session::state::NoSession::NoCookie),
            https: self.https,
            host: self.host,
            cookie: self.cookie,
            reported: false,
        };
        let mut untraced = crate::pipeline::trace::Trace::off();
        check_csrf::check(&request, self.body, &mut untraced).await
    }

    /// The CSRF secret to embed in a page or hand out: the cookie's, or a
    /// fresh one with the `Set-Cookie` that stores it.
    fn csrf_secret(&self) -> (Secret, Option<http::HeaderValue>) {
        match self.cookie {
            CookieState::Valid(secret) => (secret, None),
            CookieState::Absent | CookieState::Malformed(_) => {
                let secret = Secret::generate();
                let cookie =
                    crate::csrf::cookie::set_cookie(&self.config.csrf, &secret, self.https);
                (secret, Some(cookie))
            }
        }
    }

    fn content_type(&self) -> &str {
        self.parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// True when the body is an HTML form (urlencoded), false for JSON.
    fn is_form(&self) -> bool {
        media_type(self.content_type()).eq_ignore_ascii_case("application/x-www-form-urlencoded")
    }
}

fn media_type(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or("").trim()
}

/// `next` as Django's `url_has_allowed_host_and_scheme` would allow it for
/// this site: a local absolute path (not `//host`, not `/\host`), no
/// control characters. Anything else sends the user to `/`.
pub fn safe_next(next: &str) -> &str {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && next.bytes().all(|b| b > 0x20 && b != 0x7f && b != b'\\');
    if local {
        next
    } else {
        "/"
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_local_paths_are_followed() {
        for ok in ["/", "/life/1/", "/a?b=c&d=/e", "/%2F%2Fevil"] {
            assert_eq!(safe_next(ok), ok);
        }
        for bad in [
            "",
            "https://evil.example/",
            "//evil.example",
            "/\\evil.example",
            "javascript:alert(1)",
            "evil",
            "/a b",
            "/a\tb",
            "/a\\b",
        ] {
            assert_eq!(safe_next(bad), "/", "{bad:?}");
        }
    }
}
