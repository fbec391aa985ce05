//! `Denial`: what a stage returns when the gateway answers the request
//! itself. It carries the status, a stable machine reason code (logged and
//! sent in `X-Portcullis-Reason`) and the exact human message, DRF's wording
//! wherever DRF has one.

use std::borrow::Cow;

use http::StatusCode;

/// Stable reason codes. Their strings are part of the public interface:
/// operators grep logs and alert on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    BadPath,
    BadHost,
    NoRoute,
    RouteDenied,
    NotAuthenticated,
    PermissionDenied,
    MethodNotAllowed,
    SessionStoreUnavailable,
    UpstreamUnavailable,
    UpstreamTimeout,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::BadPath => "bad_path",
            Reason::BadHost => "bad_host",
            Reason::NoRoute => "no_route",
            Reason::RouteDenied => "route_denied",
            Reason::NotAuthenticated => "not_authenticated",
            Reason::PermissionDenied => "permission_denied",
            Reason::MethodNotAllowed => "method_not_allowed",
            Reason::SessionStoreUnavailable => "session_store_unavailable",
            Reason::UpstreamUnavailable => "upstream_unavailable",
            Reason::UpstreamTimeout => "upstream_timeout",
        }
    }
}

/// DRF's `NotAuthenticated.default_detail`.
pub const NOT_AUTHENTICATED: &str = "Authentication credentials were not provided.";
/// DRF's `PermissionDenied.default_detail`.
pub const PERMISSION_DENIED: &str = "You do not have permission to perform this action.";

/// A request answered by the gateway instead of the upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub status: StatusCode,
    pub reason: Reason,
    pub detail: Cow<'static, str>,
}

impl Denial {
    const fn new(status: StatusCode, reason: Reason, detail: &'static str) -> Denial {
        Denial {
            status,
            reason,
            detail: Cow::Borrowed(detail),
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
        }
    }

    pub const fn session_store_unavailable() -> Denial {
        Denial::new(
            StatusCode::SERVICE_UNAVAILABLE,
            Reason::SessionStoreUnavailable,
            "Session store unavailable.",
        )
    }

    pub const fn upstream_unavailable() -> Denial {
        Denial::new(
            StatusCode::BAD_GATEWAY,
            Reason::UpstreamUnavailable,
            "Upstream unavailable.",
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
