//! Who the upstream is told the request is from: the identity headers the
//! gateway owns (`headers`: every client copy stripped, ours injected) and
//! the signed identity assertion (`assertion`, `[identity] sign`).

pub mod assertion;
pub mod headers;

use std::sync::Arc;

use http::HeaderName;

/// The identity headers the gateway owns: stripped from every client
/// request, then set from the session for authenticated ones.
#[derive(Debug, Clone)]
pub struct IdentityHeaders {
    pub user: HeaderName,
    pub groups: HeaderName,
    pub permissions: HeaderName,
    /// The authentication class that authenticated the request.
    pub auth: HeaderName,
    /// Extra names from `[identity] strip`.
    pub extra_strip: Vec<HeaderName>,
    /// `[identity] sign`: the signed assertion for the upstream.
    pub sign: Option<Arc<assertion::Signer>>,
}
