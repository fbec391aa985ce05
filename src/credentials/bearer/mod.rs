//! Bearer JWTs from any issuer (`[bearer]`): a token an OIDC provider or
//! any JWKS publisher signed is checked against the issuer's public keys
//! and its claims, and becomes the user a session would have been.
//!
//! `token` reads the header (algorithm allow-list first), `jwks` keeps the
//! issuer's keys (`keys` reads them), jsonwebtoken checks the signature,
//! `claims` the registered claims and `mapping` turns the rest into a
//! `NewSession`. A token is refused with a `BearerProblem` (401); keys that
//! cannot be had at all are `IssuerUnavailable` (503, fail closed).

mod claims;
mod jwks;
mod keys;
mod mapping;
mod problem;
mod token;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::uri::Scheme;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};

pub use claims::IdTokenFrom;
pub use jwks::MAX_JWKS_BYTES;
pub use keys::MAX_KEYS;
pub use problem::{BearerError, BearerProblem};
pub use token::MAX_TOKEN_BYTES;

use crate::session::NewSession;
use crate::tls::client::CaFile;

/// `[bearer]`, compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BearerSettings {
    /// The exact `iss` every token must carry.
    pub issuer: String,
    /// `aud` (a string or an array) must hold one of these; at least one.
    pub audiences: Vec<String>,
    /// Where the issuer publishes its keys (JWKS), `http://` or `https://`.
    pub jwks_url: http::Uri,
    /// The allow-list of signature algorithms. Never `none`; never HS*
    /// (the keys are public, so an HMAC "secret" would be public too).
    pub algorithms: Vec<Algorithm>,
    /// The claim holding the username (default `sub`, the one claim every
    /// issuer sets and keeps stable; `preferred_username` or `email` are
    /// friendlier but not unique at every issuer).
    pub username_claim: String,
    /// The claim listing the user's groups (an array of strings, or a
    /// space-separated string); none: no groups.
    pub groups_claim: Option<String>,
    /// The claim listing `app_label.codename` permissions, in the same
    /// shapes (`scope` works); none: no permissions.
    pub permissions_claim: Option<String>,
    /// A boolean claim that makes the user staff when true.
    pub staff_claim: Option<String>,
    /// A boolean claim that makes the user a superuser when true.
    pub superuser_claim: Option<String>,
    /// Members of any of these groups are staff.
    pub staff_groups: Vec<String>,
    /// Members of any of these groups are superusers.
    pub superuser_groups: Vec<String>,
    /// Clock skew allowed for `exp`, `nbf` and `iat`.
    pub leeway: Duration,
    /// How long fetched keys are used before they are fetched again.
    pub jwks_cache_ttl: Duration,
    /// An unknown `kid` fetches the JWKS again at most this often (and a
    /// failed fetch is retried at most this often).
    pub jwks_refetch_interval: Duration,
    /// Longest a JWKS fetch may take (connect, answer and body).
    pub timeout: Duration,
    /// The CA that signed an `https://` JWKS server's certificate; none:
    /// the system's roots.
    pub ca_file: Option<CaFile>,
}

/// Verifies bearer tokens for one `[bearer]` section. Cheap to clone: the
/// settings, the key cache and its HTTP client are shared.
#[derive(Clone)]
pub struct BearerVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    settings: BearerSettings,
    keys: Arc<jwks::KeyCache>,
    /// jsonwebtoken's checks for each allowed algorithm: the signature only
    /// (its claim checks are off; `claims` does them, with our problems).
    validations: Vec<(Algorithm, Validation)>,
}

/// A token that verified: who it is from and until when it is good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedBearer {
    /// The user the claims name, as a session would hold it (no CSRF
    /// secret: a bearer token is not sent by browsers on their own).
    pub user: NewSession,
    /// The token's `exp` (without the leeway).
    pub expires_at: SystemTime,
    /// The `email` claim, when `email_verified` is `true`.
    pub email: Option<String>,
}

impl fmt::Debug for BearerVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerVerifier")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl BearerVerifier {
    /// The verifier for `settings`, with an empty key cache (the first
    /// token fetches the keys; `prefetch` can do it sooner). `Err` names
    /// what is wrong with the settings.
    pub fn new(settings: BearerSettings) -> Result<BearerVerifier, String> {
        if settings.issuer.is_empty() {
            return Err("issuer must not be empty".into());
        }
        if settings.audiences.is_empty() || settings.audiences.iter().any(String::is_empty) {
            return Err("at least one audience is needed, and none may be empty".into());
        }
        if settings.algorithms.is_empty() {
            return Err("at least one algorithm is needed".into());
        }
        if let Some(alg) = settings
            .algorithms
            .iter()
            .find(|a| token::is_symmetric(**a))
        {
            return Err(format!(
                "{alg:?} is a shared-secret algorithm: a JWKS holds public keys, so use RS*, PS*, ES* or EdDSA"
            ));
        }
        let https = match settings.jwks_url.scheme() {
            Some(scheme) if *scheme == Scheme::HTTPS => true,
            Some(scheme) if *scheme == Scheme::HTTP => false,
            _ => return Err("jwks_url must start with http:// or https://".into()),
        };
        if settings.jwks_url.host().is_none_or(str::is_empty) {
            return Err("jwks_url needs a host".into());
        }
        let tls = crate::tls::client::client_config(settings.ca_file.as_ref(), https)?;
        let keys = jwks::KeyCache::new(
            settings.jwks_url.clone(),
            settings.jwks_cache_ttl,
            settings.jwks_refetch_interval,
            settings.timeout,
            &tls,
        );
        let validations = settings
            .algorithms
            .iter()
            .map(|alg| (*alg, signature_only(*alg)))
            .collect();
        Ok(BearerVerifier {
            inner: Arc::new(Inner {
                settings,
                keys: Arc::new(keys),
                validations,
            }),
        })
    }

    /// After a reload: when `running` fetches its keys the same way (URL,
    /// trust, timeout, cache timings), this verifier shares its key cache,
    /// so the new config starts with the keys already fetched, and an
    /// issuer that is down during the reload does not lock every client
    /// out. Otherwise it keeps its own, empty, cache.
    pub fn keep_keys_of(&mut self, running: &BearerVerifier) {
        let (ours, theirs) = (&self.inner.settings, &running.inner.settings);
        let same_source = ours.jwks_url == theirs.jwks_url
            && ours.ca_file == theirs.ca_file
            && ours.timeout == theirs.timeout
            && ours.jwks_cache_ttl == theirs.jwks_cache_ttl
            && ours.jwks_refetch_interval == theirs.jwks_refetch_interval;
        if same_source {
            self.inner = Arc::new(Inner {
                settings: ours.clone(),
                keys: Arc::clone(&running.inner.keys),
                validations: self.inner.validations.clone(),
            });
        }
    }

    /// The settings this verifier was built from.
    pub fn settings(&self) -> &BearerSettings {
        &self.inner.settings
    }

    /// Fetches the issuer's keys now (at start or after a reload, so the
    /// first token does not wait); how many usable keys are cached, or why
    /// the fetch failed. Rate-limited and single-flight like any fetch.
    pub async fn prefetch(&self) -> Result<usize, String> {
        self.inner.keys.prefetch().await
    }

    /// Verifies one compact JWS (the part after "Bearer "): header alg in
    /// the allow-list and matching the JWK's kty/alg, kid lookup (unknown
    /// kid -> one rate-limited refetch), signature, iss, aud, exp
    /// (required), nbf, iat (not in the future beyond leeway), claims mapped.
    pub async fn verify(&self, token: &str) -> Result<VerifiedBearer, BearerError> {
        self.verify_then(token, jwks::Refetch::RateLimited, |_| Ok(()))
            .await
    }

    /// Verifies an OpenID Connect ID token as `verify` does (the audiences
    /// being the client id), and then, as OIDC Core 3.1.3.7 and 12.2 ask:
    /// `nonce` is the one the sign-in sent (compared in constant time), or
    /// on refresh `sub` is the sign-in's; and `azp`, when present or when
    /// `aud` names other parties too, is `client_id`.
    pub async fn verify_id_token(
        &self,
        token: &str,
        from: IdTokenFrom<'_>,
        client_id: &str,
    ) -> Result<VerifiedBearer, BearerError> {
        // Received from the token endpoint, not from a client: a new `kid`
        // is the provider's rotation, fetched at once.
        self.verify_then(token, jwks::Refetch::Immediate, |claims| {
            claims::check_id_token(claims, from, client_id)
        })
        .await
    }

    async fn verify_then(
        &self,
        token: &str,
        refetch: jwks::Refetch,
        more: impl FnOnce(&claims::Claims) -> Result<(), BearerProblem>,
    ) -> Result<VerifiedBearer, BearerError> {
        let settings = &self.inner.settings;
        let header = token::header(token, &settings.algorithms)?;
        let candidates = self
            .inner
            .keys
            .keys_for(header.kid.as_deref(), header.alg, refetch)
            .await?;
        let validation = self
            .inner
            .validations
            .iter()
            .find(|(alg, _)| *alg == header.alg)
            .map(|(_, validation)| validation)
            .ok_or(BearerProblem::AlgorithmNotAllowed)?;
        let mut verified = None;
        for key in &candidates {
            match jsonwebtoken::decode::<claims::Claims>(token, &key.decoding, validation) {
                Ok(data) => {
                    verified = Some(data.claims);
                    break;
                }
                // Another key with no `kid` in the token may still fit.
                Err(e) if *e.kind() == ErrorKind::InvalidSignature => continue,
                Err(e) => return Err(problem_of(e.kind()).into()),
            }
        }
        let claims = verified.ok_or(BearerProblem::BadSignature)?;
        let expires_at = claims::check(&claims, settings, SystemTime::now())?;
        more(&claims)?;
        let user = mapping::user(&claims, settings)?;
        // Only an address the issuer says it verified: a missing or
        // non-boolean `email_verified` is not a yes (Entra ID lets users
        // set `email` to anything).
        let email = match (claims.get("email"), claims.get("email_verified")) {
            (Some(serde_json::Value::String(email)), Some(serde_json::Value::Bool(true))) => {
                Some(email.clone())
            }
            _ => None,
        };
        Ok(VerifiedBearer {
            user,
            expires_at,
            email,
        })
    }
}

/// jsonwebtoken's validation for `alg` with every claim check off: it
/// checks the key's family against `alg` and the signature, nothing else.
fn signature_only(alg: Algorithm) -> Validation {
    let mut validation = Validation::new(alg);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.leeway = 0;
    validation
}

/// What a jsonwebtoken failure other than a bad signature means here: a
/// payload that is not a JSON object, or (never expected, as keys are
/// matched to the algorithm first) a key of the wrong family.
fn problem_of(kind: &ErrorKind) -> BearerProblem {
    match kind {
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            BearerProblem::AlgorithmNotAllowed
        }
        ErrorKind::InvalidSignature
        | ErrorKind::InvalidEcdsaKey
        | ErrorKind::InvalidRsaKey(_)
        | ErrorKind::InvalidKeyFormat => BearerProblem::BadSignature,
        _ => BearerProblem::Malformed,
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Settings for unit tests: issuer `https://issuer.test`, audience
    /// `api`, a 30 s leeway, defaults otherwise.
    pub fn settings() -> BearerSettings {
        BearerSettings {
            issuer: "https://issuer.test".into(),
            audiences: vec!["api".into()],
            jwks_url: "http://127.0.0.1:9/jwks.json".parse().unwrap(),
            algorithms: vec![Algorithm::RS256, Algorithm::ES256],
            username_claim: "sub".into(),
            groups_claim: None,
            permissions_claim: None,
            staff_claim: None,
            superuser_claim: None,
            staff_groups: Vec::new(),
            superuser_groups: Vec::new(),
            leeway: Duration::from_secs(30),
            jwks_cache_ttl: Duration::from_secs(600),
            jwks_refetch_interval: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
            ca_file: None,
        }
    }

    #[test]
    fn settings_that_could_not_verify_safely_are_refused() {
        assert!(BearerVerifier::new(settings()).is_ok());
        let refused = |adjust: fn(&mut BearerSettings)| {
            let mut s = settings();
            adjust(&mut s);
            BearerVerifier::new(s).unwrap_err()
        };
        assert!(
            refused(|s| s.algorithms = vec![Algorithm::ES256, Algorithm::HS256])
                .contains("HS256 is a shared-secret algorithm")
        );
        assert!(refused(|s| s.algorithms.clear()).contains("algorithm"));
        assert!(refused(|s| s.audiences.clear()).contains("audience"));
        assert!(refused(|s| s.audiences.push(String::new())).contains("audience"));
        assert!(refused(|s| s.issuer.clear()).contains("issuer"));
        assert!(refused(|s| s.jwks_url = "/jwks.json".parse().unwrap()).contains("http"));
    }

    #[test]
    fn verifying_is_a_send_future() {
        fn send<T: Send>(_: &T) {}
        let verifier = BearerVerifier::new(settings()).unwrap();
        send(&verifier.verify("x"));
        send(&verifier.prefetch());
    }
}
