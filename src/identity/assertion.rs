//! Stage 7b: the signed identity assertion (`[identity] sign`). A short-lived
//! JWT in `X-Portcullis-Assertion` on every forwarded request, so an upstream
//! that can also be reached some other way can tell a request that passed
//! the gateway from one that did not, and whose identity the gateway vouched
//! for. It is bound to the request's method and canonical path, so a token
//! seen on one request cannot be replayed on another for its few seconds of
//! life. Signed with `jsonwebtoken` (HS256 via ring's HMAC, or EdDSA).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::{HeaderMap, HeaderName, HeaderValue};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use crate::session::state::SessionState;

/// The header the assertion travels in; always stripped from clients.
pub const ASSERTION_HEADER: HeaderName = HeaderName::from_static("x-portcullis-assertion");

/// The shortest HS256 key accepted: the hash's size (RFC 7518 §3.2).
pub const MIN_HMAC_KEY_BYTES: usize = 32;

/// `[identity] sign`, loaded: the key and what every assertion says.
pub struct Signer {
    key: EncodingKey,
    header: Header,
    ttl: Duration,
    audience: Option<String>,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("algorithm", &self.header.alg)
            .field("ttl", &self.ttl)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

/// The claims. `sub` is absent for an anonymous request (which passed the
/// gateway all the same).
#[derive(Serialize)]
struct Claims<'a> {
    iss: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<&'a str>,
    groups: &'a [String],
    permissions: &'a [String],
    /// The authentication class that authenticated the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    auth: Option<&'static str>,
    staff: bool,
    superuser: bool,
    /// The deciding route's name.
    route: &'a str,
    method: &'a str,
    /// The canonical path the gateway matched and forwarded.
    path: &'a str,
    /// `mode = "report"` forwarded this request although this reason
    /// would have denied it.
    #[serde(skip_serializing_if = "Option::is_none")]
    would_deny: Option<&'a str>,
    /// Unique per token, for upstreams that refuse a token seen before.
    jti: String,
    iat: u64,
    exp: u64,
}

/// What one request's assertion is about.
pub struct Subject<'a> {
    pub session: &'a SessionState,
    pub route: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub would_deny: Option<&'a str>,
}

impl Signer {
    /// `algorithm` is "HS256" (`key`: the key file's bytes, trailing
    /// whitespace removed, at least 32) or "EdDSA" (`key`: an Ed25519
    /// PKCS#8 PEM).
    pub fn load(
        algorithm: &str,
        key: &[u8],
        ttl: Duration,
        audience: Option<String>,
    ) -> Result<Signer, String> {
        let (algorithm, key) = match algorithm {
            "HS256" => {
                let secret = key.trim_ascii_end();
                if secret.len() < MIN_HMAC_KEY_BYTES {
                    return Err(format!(
                        "an HS256 key must be at least {MIN_HMAC_KEY_BYTES} bytes (it has {}); make one with `openssl rand -base64 48`",
                        secret.len()
                    ));
                }
                (Algorithm::HS256, EncodingKey::from_secret(secret))
            }
            "EdDSA" => {
                let key = EncodingKey::from_ed_pem(key).map_err(|e| {
                    format!("not an Ed25519 private key in PEM ({e}); make one with `openssl genpkey -algorithm ed25519`")
                })?;
                (Algorithm::EdDSA, key)
            }
            other => {
                return Err(format!(
                    "algorithm {other:?}: expected \"HS256\" or \"EdDSA\""
                ))
            }
        };
        let signer = Signer {
            key,
            header: Header::new(algorithm),
            ttl,
            audience,
        };
        // A key that parses but cannot sign is found now, not per request.
        let probe = SessionState::Anonymous(crate::session::state::NoSession::NoCookie);
        signer.sign(
            &Subject {
                session: &probe,
                route: "check",
                method: "GET",
                path: "/",
                would_deny: None,
            },
            SystemTime::now(),
        )?;
        Ok(signer)
    }

    /// The assertion for one request, valid from `now` for the ttl.
    pub fn sign(&self, subject: &Subject<'_>, now: SystemTime) -> Result<String, String> {
        jsonwebtoken::encode(&self.header, &self.claims(subject, now), &self.key)
            .map_err(|e| e.to_string())
    }

    fn claims<'a>(&'a self, subject: &Subject<'a>, now: SystemTime) -> Claims<'a> {
        let iat = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let user = subject.session.user();
        Claims {
            iss: "portcullis",
            aud: self.audience.as_deref(),
            sub: user.map(|u| u.username.as_str()),
            groups: user.map_or(&[], |u| &u.groups),
            permissions: user.map_or(&[], |u| &u.permissions),
            auth: subject.session.via().map(|via| via.as_str()),
            staff: user.is_some_and(|u| u.staff),
            superuser: user.is_some_and(|u| u.superuser),
            route: subject.route,
            method: subject.method,
            path: subject.path,
            would_deny: subject.would_deny,
            jti: format!("{:032x}", rand::random::<u128>()),
            iat,
            exp: iat.saturating_add(self.ttl.as_secs().max(1)),
        }
    }

    /// For `explain`: the claims the assertion would carry, unsigned, so
    /// an explanation never hands out a token an upstream would accept.
    pub fn preview(&self, headers: &mut HeaderMap, subject: &Subject<'_>) {
        let claims =
            serde_json::to_string(&self.claims(subject, SystemTime::now())).unwrap_or_default();
        let text = format!(
            "(not signed by explain) {:?} claims {claims}",
            self.header.alg
        );
        if let Ok(value) = HeaderValue::from_bytes(text.as_bytes()) {
            headers.insert(ASSERTION_HEADER, value);
        }
    }

    /// Sets the assertion on a request going upstream. A token that cannot
    /// be made leaves the header out (an upstream that requires it then
    /// refuses the request: fail closed), and is logged.
    pub fn attach(&self, headers: &mut HeaderMap, subject: &Subject<'_>) {
        match self
            .sign(subject, SystemTime::now())
            .and_then(|token| HeaderValue::try_from(token).map_err(|e| e.to_string()))
        {
            Ok(value) => {
                headers.insert(ASSERTION_HEADER, value);
            }
            Err(error) => tracing::error!(%error, "signing the identity assertion failed"),
        }
    }
}
