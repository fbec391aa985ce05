//! `[csrf]`, compiled: the cookie and header names, who is checked, the
//! trusted origins, and the cookie's attributes.

use http::HeaderName;

/// Who is CSRF-checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsrfEnforce {
    /// DRF's SessionAuthentication: requests with a valid session, on every route.
    Authenticated,
    /// Django's CsrfViewMiddleware: every unsafe request.
    Always,
}

#[derive(Debug, Clone)]
pub struct CsrfSettings {
    pub cookie_name: String,
    pub header_name: HeaderName,
    /// The header as Django names it in messages: `'X-Csrftoken'`.
    pub header_label: String,
    pub trusted_origins: crate::csrf::origin::TrustedOrigins,
    pub enforce: CsrfEnforce,
    pub cookie_domain: Option<String>,
    pub cookie_secure: bool,
    pub cookie_samesite: cookie::SameSite,
    pub legacy_messages: bool,
    pub websocket_origin_check: bool,
    pub form_body_limit: usize,
}
