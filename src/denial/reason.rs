//! `Reason`: the stable machine codes of every denial, logged, counted
//! and sent in `X-Portcullis-Reason`; which are access decisions (report
//! mode) and which are DRF's authentication failures (401 or 403).

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
    BadBody,
    BodyTimeout,
    FormTooLarge,
    BodyTooLarge,
    HeadersTooLarge,
    InvalidCredentials,
    Throttled,
    UnsupportedMediaType,
    NotFound,
    UnknownFormat,
    NotAcceptable,
    CsrfBadOrigin,
    CsrfNoReferer,
    CsrfMalformedReferer,
    CsrfInsecureReferer,
    CsrfBadReferer,
    CsrfCookieMissing,
    CsrfCookieMalformed,
    CsrfTokenMissing,
    CsrfTokenMalformed,
    CsrfTokenIncorrect,
    /// DRF TokenAuthentication: the `Authorization: Token` header is malformed.
    TokenHeaderInvalid,
    /// DRF TokenAuthentication: no such token.
    TokenInvalid,
    /// A credential names a user who is inactive (or, for DRF's Token, deleted).
    UserInactive,
    /// simplejwt: the `Authorization` header is not `Bearer <token>`.
    JwtHeaderInvalid,
    /// simplejwt: the token failed validation (signature, expiry, type…).
    JwtInvalid,
    /// simplejwt: the token's user id names no user.
    JwtUserNotFound,
    /// A bearer JWT from the configured issuer was refused.
    BearerInvalid,
    /// The bearer issuer's keys could not be fetched and none are cached.
    IssuerUnavailable,
    /// A decision subrequest from outside `decision.trusted_ingress`.
    UntrustedIngress,
    /// A decision subrequest that does not say clearly which request it
    /// asks about.
    BadDecisionRequest,
    /// An OpenID Connect callback with no sign-in of this browser's behind
    /// it: no sign-in cookie, another `state`, or too late.
    OidcStateInvalid,
    /// The identity provider ended the sign-in with an error.
    OidcProviderError,
    /// The identity provider could not be reached, or answered nonsense.
    OidcUnavailable,
    /// The provider refused the code (used, expired), or its ID token did
    /// not verify.
    OidcTokenInvalid,
    /// Signed in at the provider, but outside `oidc.allowed_groups` or
    /// `oidc.allowed_email_domains`.
    OidcNotAllowed,
    /// The client's address is outside the route's `allow_ips`, or inside
    /// its `deny_ips`.
    IpNotAllowed,
}

impl Reason {
    /// Access decisions, which `mode = "report"` forwards anyway (and
    /// counts as `would_deny`); DRF's negotiation refusals only ever stand
    /// in for one of them. The rest say the request itself is broken
    /// or over a limit, and are answered in every mode.
    pub fn is_reportable(self) -> bool {
        matches!(
            self,
            Reason::NoRoute
                | Reason::RouteDenied
                | Reason::NotAuthenticated
                | Reason::PermissionDenied
                | Reason::MethodNotAllowed
                | Reason::SessionStoreUnavailable
                | Reason::OidcUnavailable
                | Reason::CsrfBadOrigin
                | Reason::CsrfNoReferer
                | Reason::CsrfMalformedReferer
                | Reason::CsrfInsecureReferer
                | Reason::CsrfBadReferer
                | Reason::CsrfCookieMissing
                | Reason::CsrfCookieMalformed
                | Reason::CsrfTokenMissing
                | Reason::CsrfTokenMalformed
                | Reason::CsrfTokenIncorrect
                | Reason::TokenHeaderInvalid
                | Reason::TokenInvalid
                | Reason::UserInactive
                | Reason::JwtHeaderInvalid
                | Reason::JwtInvalid
                | Reason::JwtUserNotFound
                | Reason::BearerInvalid
                | Reason::IssuerUnavailable
                | Reason::UnknownFormat
                | Reason::NotAcceptable
                | Reason::IpNotAllowed
                | Reason::Throttled
        )
    }

    /// DRF's `NotAuthenticated` and `AuthenticationFailed`: answered 401
    /// with `WWW-Authenticate` when the first authentication class has an
    /// authenticate header, else 403 (`APIView.handle_exception`).
    pub fn is_authentication_failure(self) -> bool {
        matches!(
            self,
            Reason::NotAuthenticated
                | Reason::TokenHeaderInvalid
                | Reason::TokenInvalid
                | Reason::UserInactive
                | Reason::JwtHeaderInvalid
                | Reason::JwtInvalid
                | Reason::JwtUserNotFound
                | Reason::BearerInvalid
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::BadPath => "bad_path",
            Reason::BadHost => "bad_host",
            Reason::NoRoute => "no_route",
            Reason::RouteDenied => "route_denied",
            Reason::NotAuthenticated => "not_authenticated",
            Reason::PermissionDenied => "permission_denied",
            Reason::MethodNotAllowed => "method_not_allowed",
            Reason::SessionStoreUnavailable => "store_unavailable",
            Reason::UpstreamUnavailable => "upstream_unavailable",
            Reason::UpstreamTimeout => "upstream_timeout",
            Reason::BadBody => "bad_body",
            Reason::BodyTimeout => "body_timeout",
            Reason::FormTooLarge => "form_too_large",
            Reason::BodyTooLarge => "body_too_large",
            Reason::HeadersTooLarge => "headers_too_large",
            Reason::InvalidCredentials => "invalid_credentials",
            Reason::Throttled => "throttled",
            Reason::UnsupportedMediaType => "unsupported_media_type",
            Reason::NotFound => "not_found",
            Reason::UnknownFormat => "unknown_format",
            Reason::NotAcceptable => "not_acceptable",
            Reason::CsrfBadOrigin => "csrf_bad_origin",
            Reason::CsrfNoReferer => "csrf_no_referer",
            Reason::CsrfMalformedReferer => "csrf_malformed_referer",
            Reason::CsrfInsecureReferer => "csrf_insecure_referer",
            Reason::CsrfBadReferer => "csrf_bad_referer",
            Reason::CsrfCookieMissing => "csrf_cookie_missing",
            Reason::CsrfCookieMalformed => "csrf_cookie_malformed",
            Reason::CsrfTokenMissing => "csrf_token_missing",
            Reason::CsrfTokenMalformed => "csrf_token_malformed",
            Reason::CsrfTokenIncorrect => "csrf_token_incorrect",
            Reason::TokenHeaderInvalid => "token_header_invalid",
            Reason::TokenInvalid => "token_invalid",
            Reason::UserInactive => "user_inactive",
            Reason::JwtHeaderInvalid => "jwt_header_invalid",
            Reason::JwtInvalid => "jwt_invalid",
            Reason::JwtUserNotFound => "jwt_user_not_found",
            Reason::BearerInvalid => "bearer_invalid",
            Reason::IssuerUnavailable => "issuer_unavailable",
            Reason::UntrustedIngress => "untrusted_ingress",
            Reason::BadDecisionRequest => "bad_decision_request",
            Reason::OidcStateInvalid => "oidc_state_invalid",
            Reason::OidcProviderError => "oidc_provider_error",
            Reason::OidcUnavailable => "oidc_unavailable",
            Reason::OidcTokenInvalid => "oidc_token_invalid",
            Reason::OidcNotAllowed => "oidc_not_allowed",
            Reason::IpNotAllowed => "ip_not_allowed",
        }
    }
}
