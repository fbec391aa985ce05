//! `Denial`: what a stage returns when the gateway answers the request
//! itself. It carries the status, a stable machine reason code (logged and
//! sent in `X-Portcullis-Reason`) and the exact human message, DRF's wording
//! wherever DRF has one; and, for the fix text, what exactly failed
//! (`Cause`).

mod reason;

use std::borrow::Cow;
use std::time::Duration;

use http::StatusCode;

pub use reason::Reason;

/// DRF's `NotAuthenticated.default_detail`.
pub const NOT_AUTHENTICATED: &str = "Authentication credentials were not provided.";
/// DRF's `PermissionDenied.default_detail`.
pub const PERMISSION_DENIED: &str = "You do not have permission to perform this action.";

/// DRF's `Throttled` message: `Request was throttled. Expected available in
/// N seconds.` (N rounded up; "second" when it is 1).
pub fn throttled_message(wait: Duration) -> String {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let unit = if seconds == 1 { "second" } else { "seconds" };
    format!("Request was throttled. Expected available in {seconds} {unit}.")
}

/// What exactly failed, for the fix text (`response::hint`): one variant
/// per reason that names something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// `no_route`: the method and canonical path no route matches.
    NoRoute { method: http::Method, path: String },
    /// `route_denied`: the route with `access = "deny"`.
    RouteDenied { route: String },
    /// `not_authenticated`: why there is no user.
    NoSession(NoSession),
    /// `permission_denied`: what the user lacks.
    Permission(Lack),
    /// `body_too_large`: the route's `max_body`, in bytes.
    BodyLimit(u64),
    /// `ip_not_allowed`: the client's address as the gateway sees it, and
    /// the rule that refused it.
    IpNotAllowed {
        address: std::net::IpAddr,
        refusal: IpRefusal,
    },
    /// `throttled` by a route's throttle: which one (`anon`, `user`,
    /// `scope`), its rate, and whom it counted (`ip:…` or `user:…`).
    Throttled {
        kind: &'static str,
        rate: String,
        counted_as: String,
    },
}

/// Why a route's address rules refused a client (`ip_not_allowed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpRefusal {
    /// The address is inside this `deny_ips` range.
    Denied(ipnet::IpNet),
    /// `allow_ips` is set and holds no range with the address.
    NotAllowed,
    /// The request came through a trusted proxy or ingress whose
    /// X-Forwarded-For names no client address: refused whatever the rules.
    Unresolved,
}

impl std::fmt::Display for IpRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IpRefusal::Denied(range) => write!(f, "it is inside the route's deny_ips ({range})"),
            IpRefusal::NotAllowed => {
                f.write_str("it is outside every range of the route's allow_ips")
            }
            IpRefusal::Unresolved => f.write_str("it is a trusted proxy or ingress whose X-Forwarded-For names no client address (none, an entry that is not an address, or trusted proxies only)"),
        }
    }
}

/// Why a request has no session: what `explain` and the fix text say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoSession {
    /// The request carries no session cookie.
    NoCookie,
    /// The cookie's value is not a session id the gateway could have made.
    MalformedId,
    /// The store knows no such session: expired, signed out, or never made.
    NotFound,
    /// The OpenID provider refused to refresh the session's claims (the
    /// user was disabled, or signed out there), so the gateway ended it.
    EndedByProvider,
    /// No authentication class found a credential of its kind, and the
    /// session is not one of the classes tried.
    NoCredentials,
}

impl NoSession {
    pub fn describe(self, cookie_name: &str) -> String {
        match self {
            NoSession::NoCookie => format!("the request carries no {cookie_name} cookie"),
            NoSession::MalformedId => {
                format!("the {cookie_name} cookie is not a well-formed session id")
            }
            NoSession::NotFound => format!(
                "the {cookie_name} cookie names no live session (expired, signed out, or from another store)"
            ),
            NoSession::NoCredentials => {
                "the request carries no credential any of the route's authentication classes reads".into()
            }
            NoSession::EndedByProvider => format!(
                "the identity provider refused to refresh the {cookie_name} session's sign-in, so it was ended: sign in again"
            ),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            NoSession::NoCookie => "no_cookie",
            NoSession::MalformedId => "malformed_id",
            NoSession::NotFound => "not_found",
            NoSession::NoCredentials => "no_credentials",
            NoSession::EndedByProvider => "ended_by_provider",
        }
    }
}

/// What a signed-in user lacks for a route (`permission_denied`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lack {
    /// The route's access level: `staff` or `superuser`.
    Rank {
        route: String,
        rank: Rank,
        username: String,
    },
    /// `permissions`: the ones the user does not hold.
    Permissions {
        username: String,
        missing: Vec<String>,
    },
    /// `any_permissions`: the user holds none of these.
    AnyPermission {
        username: String,
        wanted: Vec<String>,
    },
    /// `groups`: the user is in none of these.
    AnyGroup {
        username: String,
        groups: Vec<String>,
    },
    /// `model`: the model permission the method needs.
    ModelPermission {
        username: String,
        permission: String,
    },
}

/// An access level above "signed in".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rank {
    Staff,
    Superuser,
}

/// simplejwt's additions to DRF's error body, in its key order:
/// `{"detail": ..., "code": ..., "messages": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetailExtra {
    pub code: &'static str,
    /// Why each token class refused the token (`get_validated_token`).
    pub messages: Option<Vec<TokenMessage>>,
}

/// One entry of simplejwt's `messages`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenMessage {
    pub token_class: &'static str,
    pub token_type: &'static str,
    pub message: Cow<'static, str>,
}

/// A request answered by the gateway instead of the upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub status: StatusCode,
    pub reason: Reason,
    pub detail: Cow<'static, str>,
    /// Seconds for a `Retry-After` header (throttling).
    pub retry_after: Option<u64>,
    /// `WWW-Authenticate` for a 401: the first authentication class's
    /// authenticate header (DRF's `get_authenticate_header`).
    pub challenge: Option<http::HeaderValue>,
    /// The rest of an error body that is more than `{"detail": ...}`:
    /// simplejwt's `code` and `messages`. Boxed: rare, and kept small.
    pub extra: Option<Box<DetailExtra>>,
    /// What exactly failed, for the fix text (`hint`): the permission the
    /// user lacks, the route that denies everyone. Filled only for
    /// `explain` and with `[diagnostics] debug` (see `Trace::wants_causes`);
    /// boxed, so a denial without one stays small.
    pub cause: Option<Box<Cause>>,
}

impl Denial {
    /// The same denial, remembering what exactly failed (see `cause`),
    /// when the trace wants causes; `make` runs only then.
    pub fn because(mut self, wanted: bool, make: impl FnOnce() -> Cause) -> Denial {
        if wanted {
            self.cause = Some(Box::new(make()));
        }
        self
    }

    /// A denial with a message made at run time.
    pub fn owned(status: StatusCode, reason: Reason, detail: String) -> Denial {
        Denial {
            detail: Cow::Owned(detail),
            ..Denial::new(status, reason, "")
        }
    }

    /// An authentication failure (DRF's `AuthenticationFailed`, 401 until
    /// `challenged` says otherwise) with `message`.
    pub const fn authentication_failed(reason: Reason, message: &'static str) -> Denial {
        Denial::new(StatusCode::UNAUTHORIZED, reason, message)
    }

    /// DRF's 401-or-403 for an authentication failure: 401 with the first
    /// class's authenticate header when it has one, else 403. Other
    /// denials are returned as they are.
    pub fn challenged(mut self, challenge: Option<&http::HeaderValue>) -> Denial {
        if self.reason.is_authentication_failure() {
            match challenge {
                Some(value) => {
                    self.status = StatusCode::UNAUTHORIZED;
                    self.challenge = Some(value.clone());
                }
                None => {
                    self.status = StatusCode::FORBIDDEN;
                    self.challenge = None;
                }
            }
        }
        self
    }

    const fn new(status: StatusCode, reason: Reason, detail: &'static str) -> Denial {
        Denial {
            status,
            reason,
            detail: Cow::Borrowed(detail),
            retry_after: None,
            challenge: None,
            extra: None,
            cause: None,
        }
    }

    pub const fn bad_path() -> Denial {
        Denial::new(
            StatusCode::BAD_REQUEST,
            Reason::BadPath,
            "Malformed request path.",
        )
    }

    pub const fn bad_host() -> Denial {
        Denial::new(
            StatusCode::BAD_REQUEST,
            Reason::BadHost,
            "Malformed or conflicting Host header.",
        )
    }

    pub const fn no_route() -> Denial {
        Denial::new(StatusCode::FORBIDDEN, Reason::NoRoute, PERMISSION_DENIED)
    }

    /// The route's `allow_ips` or `deny_ips` refuse the client's address.
    pub const fn ip_not_allowed() -> Denial {
        Denial::new(
            StatusCode::FORBIDDEN,
            Reason::IpNotAllowed,
            PERMISSION_DENIED,
        )
    }

    pub const fn route_denied() -> Denial {
        Denial::new(
            StatusCode::FORBIDDEN,
            Reason::RouteDenied,
            PERMISSION_DENIED,
        )
    }

    pub const fn not_authenticated() -> Denial {
        Denial::new(
            StatusCode::FORBIDDEN,
            Reason::NotAuthenticated,
            NOT_AUTHENTICATED,
        )
    }

    pub const fn permission_denied() -> Denial {
        Denial::new(
            StatusCode::FORBIDDEN,
            Reason::PermissionDenied,
            PERMISSION_DENIED,
        )
    }

    /// DRF's `MethodNotAllowed`: `Method "FOO" not allowed.`
    pub fn method_not_allowed(method: &http::Method) -> Denial {
        Denial {
            status: StatusCode::METHOD_NOT_ALLOWED,
            reason: Reason::MethodNotAllowed,
            detail: Cow::Owned(format!("Method \"{method}\" not allowed.")),
            retry_after: None,
            challenge: None,
            extra: None,
            cause: None,
        }
    }

    pub const fn session_store_unavailable() -> Denial {
        Denial::new(
            StatusCode::SERVICE_UNAVAILABLE,
            Reason::SessionStoreUnavailable,
            "Session store unavailable.",
        )
    }

    /// A session's claims are due a refresh and the OpenID provider did
    /// not answer it: nothing is decided on claims past their time.
    pub const fn identity_provider_unavailable() -> Denial {
        Denial::new(
            StatusCode::BAD_GATEWAY,
            Reason::OidcUnavailable,
            "The identity provider could not be reached to refresh your sign-in.",
        )
    }

    pub const fn upstream_unavailable() -> Denial {
        Denial::new(
            StatusCode::BAD_GATEWAY,
            Reason::UpstreamUnavailable,
            "Upstream unavailable.",
        )
    }

    /// DRF's `SessionAuthentication.enforce_csrf`: `CSRF Failed: <Django's reason>`.
    pub fn csrf_failed(reason: Reason, django_reason: String) -> Denial {
        Denial {
            status: StatusCode::FORBIDDEN,
            reason,
            detail: Cow::Owned(format!("CSRF Failed: {django_reason}")),
            retry_after: None,
            challenge: None,
            extra: None,
            cause: None,
        }
    }

    /// The client's body could not be read (it went away, or broke framing).
    pub const fn bad_body() -> Denial {
        Denial::new(
            StatusCode::BAD_REQUEST,
            Reason::BadBody,
            "Malformed request body.",
        )
    }

    /// A urlencoded form over `csrf.form_body_limit`: Django's
    /// RequestDataTooBig is a 400.
    pub const fn form_too_large() -> Denial {
        Denial::new(
            StatusCode::BAD_REQUEST,
            Reason::FormTooLarge,
            "Request body too large.",
        )
    }

    /// A failed login: unknown user, wrong password or inactive user alike.
    pub const fn invalid_credentials() -> Denial {
        Denial::new(
            StatusCode::FORBIDDEN,
            Reason::InvalidCredentials,
            "Invalid username/password.",
        )
    }

    /// DRF's `Throttled` from a route's throttles: with `Retry-After` and
    /// the wait in the message, or, when no throttle can say how long
    /// (`wait()` is `None`), DRF's bare `Request was throttled.`
    pub fn route_throttled(wait: Option<Duration>) -> Denial {
        match wait {
            Some(wait) => Denial::throttled(wait),
            None => Denial::new(
                StatusCode::TOO_MANY_REQUESTS,
                Reason::Throttled,
                "Request was throttled.",
            ),
        }
    }

    /// DRF's `Throttled`, with `Retry-After`.
    pub fn throttled(wait: std::time::Duration) -> Denial {
        Denial {
            status: StatusCode::TOO_MANY_REQUESTS,
            reason: Reason::Throttled,
            detail: Cow::Owned(throttled_message(wait)),
            retry_after: Some(wait.as_secs() + u64::from(wait.subsec_nanos() > 0)),
            challenge: None,
            extra: None,
            cause: None,
        }
    }

    /// DRF's `UnsupportedMediaType`.
    pub fn unsupported_media_type(content_type: &str) -> Denial {
        Denial {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            reason: Reason::UnsupportedMediaType,
            detail: Cow::Owned(format!(
                "Unsupported media type \"{content_type}\" in request."
            )),
            retry_after: None,
            challenge: None,
            extra: None,
            cause: None,
        }
    }

    /// DRF's `ParseError` for a JSON body: `JSON parse error - ` and
    /// Python's own message (`crate::parsers::python_json`).
    pub fn json_parse_error(python_message: &str) -> Denial {
        Denial {
            status: StatusCode::BAD_REQUEST,
            reason: Reason::BadBody,
            detail: Cow::Owned(format!("JSON parse error - {python_message}")),
            retry_after: None,
            challenge: None,
            extra: None,
            cause: None,
        }
    }

    /// DRF's answer to `?format=` naming no renderer: `Http404` in
    /// content negotiation, before any permission check.
    pub const fn unknown_format() -> Denial {
        Denial::new(StatusCode::NOT_FOUND, Reason::UnknownFormat, "Not found.")
    }

    /// DRF's `NotAcceptable`: no renderer matches `Accept` (content
    /// negotiation, before any permission check).
    pub const fn not_acceptable() -> Denial {
        Denial::new(
            StatusCode::NOT_ACCEPTABLE,
            Reason::NotAcceptable,
            "Could not satisfy the request Accept header.",
        )
    }

    /// The client stopped sending its body (`server.body_read_timeout`).
    pub const fn body_timeout() -> Denial {
        Denial::new(
            StatusCode::REQUEST_TIMEOUT,
            Reason::BodyTimeout,
            "Request body read timed out.",
        )
    }

    /// A body that could not be read: stalled (408) or broken (400).
    pub fn unreadable_body(error: &(dyn std::error::Error + 'static)) -> Denial {
        if crate::body::is_stall(error) {
            Denial::body_timeout()
        } else {
            Denial::bad_body()
        }
    }

    /// A body over the route's `max_body`.
    pub const fn body_too_large() -> Denial {
        Denial::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            Reason::BodyTooLarge,
            "Request body too large.",
        )
    }

    /// A request head over `server.max_header_bytes`.
    pub const fn headers_too_large() -> Denial {
        Denial::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Reason::HeadersTooLarge,
            "Request header fields too large.",
        )
    }

    /// DRF's `NotFound.default_detail`.
    pub const fn not_found() -> Denial {
        Denial::new(StatusCode::NOT_FOUND, Reason::NotFound, "Not found.")
    }

    /// `[bearer]`'s issuer could not give its keys and none are cached.
    pub const fn issuer_unavailable() -> Denial {
        Denial::new(
            StatusCode::SERVICE_UNAVAILABLE,
            Reason::IssuerUnavailable,
            "Token issuer unavailable.",
        )
    }

    pub const fn upstream_timeout() -> Denial {
        Denial::new(
            StatusCode::GATEWAY_TIMEOUT,
            Reason::UpstreamTimeout,
            "Upstream timed out.",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drf_wording() {
        assert_eq!(
            throttled_message(Duration::from_millis(12_200)),
            "Request was throttled. Expected available in 13 seconds."
        );
        assert_eq!(
            throttled_message(Duration::from_secs(1)),
            "Request was throttled. Expected available in 1 second."
        );
    }
}
