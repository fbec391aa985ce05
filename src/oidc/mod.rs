//! Sign-in through an OpenID provider (`[oidc]`): the authorization code
//! flow with PKCE (S256), `state` and `nonce` bound to the browser by a
//! sealed cookie (`pending`), the provider found by discovery
//! (`discovery`), the code exchanged at its token endpoint
//! (`token_endpoint`), and the ID token verified by the same verifier as
//! bearer JWTs (`credentials::bearer`: JWKS with rotation, iss, aud, exp,
//! iat, and here nonce and azp). What comes out is the `NewSession` every
//! other stage already trusts.

mod discovery;
mod http;
mod pending;
mod refresh;
mod token_endpoint;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use ::http::{HeaderValue, Uri};
use arc_swap::ArcSwapOption;
use jsonwebtoken::Algorithm;

pub use discovery::Metadata;
pub use pending::{Pending, COOKIE_NAME, LIFETIME};
pub use refresh::Refreshed;

use crate::credentials::bearer::{BearerError, BearerSettings, BearerVerifier, IdTokenFrom};
use crate::denial::{Denial, Reason};
use crate::session::{NewSession, ProviderTokens};
use crate::tls::client::CaFile;

/// `[oidc]`, compiled.
#[derive(Clone, PartialEq, Eq)]
pub struct OidcSettings {
    /// The provider's issuer identifier, exactly as its ID tokens carry it.
    pub issuer: String,
    /// The client id registered at the provider.
    pub client_id: String,
    /// The client secret (read from `client_secret_env`).
    pub client_secret: String,
    /// Scopes asked for; `openid` is always among them.
    pub scopes: Vec<String>,
    /// The callback path, under `server.internal_prefix`.
    pub redirect_path: String,
    /// The site's URL (scheme, host, port; no trailing slash) the redirect
    /// URI is built on; none: the request's scheme and Host.
    pub public_url: Option<String>,
    /// Shown on the sign-in page: "Sign in with <name>".
    pub name: String,
    /// The claim naming the user.
    pub username_claim: String,
    /// The claim listing the user's groups.
    pub groups_claim: Option<String>,
    /// The claim listing `app_label.codename` permissions.
    pub permissions_claim: Option<String>,
    /// Only members of one of these groups may sign in (empty: anyone).
    pub allowed_groups: Vec<String>,
    /// Only users with a verified email in one of these domains may sign
    /// in (empty: anyone).
    pub allowed_email_domains: Vec<String>,
    /// Clock skew allowed for the ID token's `exp` and `iat`.
    pub leeway: Duration,
    /// The longest the provider's claims are trusted before a refresh
    /// (with a refresh token); none: until the ID token or the access
    /// token expires, whichever is first.
    pub refresh_interval: Option<Duration>,
    /// Longest a request to the provider may take.
    pub timeout: Duration,
    /// The CA of an `https://` provider's certificate; none: system roots.
    pub ca_file: Option<CaFile>,
}

impl fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("scopes", &self.scopes)
            .field("redirect_path", &self.redirect_path)
            .finish_non_exhaustive()
    }
}

/// Why a sign-in did not end with a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OidcError {
    /// No sign-in cookie, another `state`, or too late: 400.
    StateInvalid(&'static str),
    /// The provider ended the sign-in with this OAuth error code: 403.
    ProviderRefused(String),
    /// The provider could not be reached or answered nonsense (the text is
    /// for the log): 502.
    Unavailable(String),
    /// The code was refused or the ID token did not verify (for the log): 403.
    TokenInvalid(String),
    /// Not in `allowed_groups` / `allowed_email_domains`: 403.
    NotAllowed,
}

impl OidcError {
    /// The gateway's answer. Texts from the provider are logged, not
    /// shown, except an OAuth error code (RFC 6749's `error` is ASCII
    /// `[\x20-\x7e]` minus quotes and backslash; anything else is not shown).
    pub fn denial(&self) -> Denial {
        use ::http::StatusCode;
        match self {
            OidcError::StateInvalid(why) => Denial::owned(
                StatusCode::BAD_REQUEST,
                Reason::OidcStateInvalid,
                format!("Sign-in failed: {why}"),
            ),
            OidcError::ProviderRefused(code) => {
                let shown = if code.len() <= 64
                    && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                {
                    code.as_str()
                } else {
                    "unknown"
                };
                Denial::owned(
                    StatusCode::FORBIDDEN,
                    Reason::OidcProviderError,
                    format!("Sign-in failed: the identity provider answered {shown}."),
                )
            }
            OidcError::Unavailable(_) => Denial::owned(
                StatusCode::BAD_GATEWAY,
                Reason::OidcUnavailable,
                "Sign-in failed: the identity provider could not be reached.".into(),
            ),
            OidcError::TokenInvalid(_) => Denial::owned(
                StatusCode::FORBIDDEN,
                Reason::OidcTokenInvalid,
                "Sign-in failed: the identity provider's answer could not be verified.".into(),
            ),
            OidcError::NotAllowed => Denial::owned(
                StatusCode::FORBIDDEN,
                Reason::OidcNotAllowed,
                "You do not have permission to sign in here.".into(),
            ),
        }
    }
}

/// A provider found by discovery, with the verifier of its ID tokens.
pub struct Provider {
    pub metadata: Metadata,
    verifier: BearerVerifier,
}

/// The OpenID provider of one `[oidc]` section. Cheap to clone.
#[derive(Clone)]
pub struct Oidc {
    inner: Arc<Inner>,
}

struct Inner {
    settings: OidcSettings,
    client: http::ProviderClient,
    sealer: pending::Sealer,
    provider: ArcSwapOption<Provider>,
    /// Held by the one discovery in progress; holds when it last failed.
    discovering: tokio::sync::Mutex<Option<Instant>>,
    /// The refreshes in progress in this process, one per session; shared
    /// with the configs reloaded after this one.
    refreshing: Arc<refresh::InFlight>,
}

/// A failed discovery is not tried again sooner than this: a provider that
/// is down is not hammered by every browser that tries to sign in.
const DISCOVERY_RETRY: Duration = Duration::from_secs(5);

impl fmt::Debug for Oidc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Oidc")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

/// A sign-in that ended well: the user, with the provider's tokens the
/// session keeps (`user.oidc`).
pub struct SignedIn {
    pub user: NewSession,
    /// The local path to go to now.
    pub next: String,
}

/// The shortest time between two refreshes of one session: a provider
/// whose tokens are born expired is not asked on every request.
const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(1);

/// When neither the ID token nor the access token says how long the
/// claims hold, and `refresh_interval` is not set.
const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(300);

impl Oidc {
    /// The client for `settings`; nothing is fetched until the first
    /// sign-in. `Err` names what is wrong with the settings.
    pub fn new(settings: OidcSettings) -> Result<Oidc, String> {
        discovery::url(&settings.issuer)?;
        let https = settings.issuer.starts_with("https://");
        if !https && !settings.issuer.starts_with("http://") {
            return Err("oidc.issuer must be an http:// or https:// URL".into());
        }
        let tls = crate::tls::client::client_config(settings.ca_file.as_ref(), true)?;
        Ok(Oidc {
            inner: Arc::new(Inner {
                client: http::ProviderClient::new(settings.timeout, &tls),
                sealer: pending::Sealer::new(&settings.client_secret),
                provider: ArcSwapOption::empty(),
                discovering: tokio::sync::Mutex::new(None),
                refreshing: Arc::default(),
                settings,
            }),
        })
    }

    pub fn settings(&self) -> &OidcSettings {
        &self.inner.settings
    }

    /// After a reload: the same provider (issuer, client, trust) keeps
    /// what discovery found and the keys already fetched.
    pub fn keep_provider_of(&mut self, running: &Oidc) {
        // A refresh in progress under the old config still holds its
        // session's gate: the new config's requests wait for it too.
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.refreshing = Arc::clone(&running.inner.refreshing);
        }
        let (ours, theirs) = (&self.inner.settings, &running.inner.settings);
        let same = ours.issuer == theirs.issuer
            && ours.client_id == theirs.client_id
            && ours.ca_file == theirs.ca_file
            && ours.leeway == theirs.leeway
            && ours.username_claim == theirs.username_claim
            && ours.groups_claim == theirs.groups_claim
            && ours.permissions_claim == theirs.permissions_claim;
        if same {
            if let Some(provider) = running.inner.provider.load_full() {
                self.inner.provider.store(Some(provider));
            }
        }
    }

    /// The provider's metadata and verifier: from the cache, or found now
    /// (one discovery at a time; a failure is not retried for a while).
    pub async fn provider(&self) -> Result<Arc<Provider>, OidcError> {
        if let Some(provider) = self.inner.provider.load_full() {
            return Ok(provider);
        }
        let mut last_failure = self.inner.discovering.lock().await;
        if let Some(provider) = self.inner.provider.load_full() {
            return Ok(provider);
        }
        if last_failure.is_some_and(|at| at.elapsed() < DISCOVERY_RETRY) {
            return Err(OidcError::Unavailable(
                "discovery failed moments ago; not retried yet".into(),
            ));
        }
        match self.discover().await {
            Ok(provider) => {
                let provider = Arc::new(provider);
                self.inner.provider.store(Some(Arc::clone(&provider)));
                *last_failure = None;
                Ok(provider)
            }
            Err(why) => {
                tracing::warn!(issuer = %self.inner.settings.issuer, error = %why, "oidc: discovery failed");
                *last_failure = Some(Instant::now());
                Err(OidcError::Unavailable(why))
            }
        }
    }

    async fn discover(&self) -> Result<Provider, String> {
        let settings = &self.inner.settings;
        let metadata = discovery::discover(&self.inner.client, &settings.issuer).await?;
        let algorithms: Vec<Algorithm> = metadata
            .signing_algorithms
            .iter()
            .filter_map(|name| public_key_algorithm(name))
            .collect();
        if algorithms.is_empty() {
            return Err(format!(
                "the provider signs ID tokens with {:?} only; the gateway verifies RS*, PS*, ES* and EdDSA",
                metadata.signing_algorithms
            ));
        }
        let verifier = BearerVerifier::new(BearerSettings {
            issuer: settings.issuer.clone(),
            audiences: vec![settings.client_id.clone()],
            jwks_url: metadata.jwks_uri.clone(),
            algorithms,
            username_claim: settings.username_claim.clone(),
            groups_claim: settings.groups_claim.clone(),
            permissions_claim: settings.permissions_claim.clone(),
            staff_claim: None,
            superuser_claim: None,
            staff_groups: Vec::new(),
            superuser_groups: Vec::new(),
            leeway: settings.leeway,
            jwks_cache_ttl: Duration::from_secs(3600),
            jwks_refetch_interval: Duration::from_secs(30),
            timeout: settings.timeout,
            ca_file: settings.ca_file.clone(),
        })?;
        Ok(Provider { metadata, verifier })
    }

    /// Starts a sign-in: where to send the browser (the provider's
    /// authorization endpoint) and the cookie that binds it to this browser.
    pub fn begin(&self, provider: &Provider, next: &str, redirect_uri: &str) -> (String, String) {
        let settings = &self.inner.settings;
        let pending = Pending::start(next, redirect_uri, SystemTime::now());
        let scope = settings.scopes.join(" ");
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", &settings.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", &scope)
            .append_pair("state", &pending.state)
            .append_pair("nonce", &pending.nonce)
            .append_pair("code_challenge", &pending.challenge())
            .append_pair("code_challenge_method", "S256")
            .finish();
        let endpoint = provider.metadata.authorization_endpoint.to_string();
        let separator = if endpoint.contains('?') { '&' } else { '?' };
        (
            format!("{endpoint}{separator}{query}"),
            self.inner.sealer.seal(&pending),
        )
    }

    /// Ends a sign-in: the callback's query and the browser's sign-in
    /// cookie checked, the code exchanged, the ID token verified, the user
    /// checked against the allow-lists.
    pub async fn complete(
        &self,
        query: Option<&str>,
        cookie: Option<&str>,
    ) -> Result<SignedIn, OidcError> {
        let settings = &self.inner.settings;
        let pending = cookie
            .and_then(|value| self.inner.sealer.open(value))
            .ok_or(OidcError::StateInvalid(
                "no sign-in was started from this browser.",
            ))?;
        if pending.expired(SystemTime::now()) {
            return Err(OidcError::StateInvalid("the sign-in took too long."));
        }
        let callback = Callback::read(query.unwrap_or(""));
        // Constant time: the state is the browser's secret binding.
        let state_matches = callback.state.as_deref().is_some_and(|state| {
            use subtle::ConstantTimeEq;
            bool::from(state.as_bytes().ct_eq(pending.state.as_bytes()))
        });
        if !state_matches {
            return Err(OidcError::StateInvalid(
                "the sign-in's state does not match.",
            ));
        }
        if let Some(error) = callback.error {
            return Err(OidcError::ProviderRefused(error));
        }
        let code = callback
            .code
            .ok_or(OidcError::StateInvalid("the provider sent no code."))?;
        let provider = self.provider().await?;
        let tokens = token_endpoint::exchange(
            &self.inner.client,
            &provider.metadata.token_endpoint,
            &self.client_credentials(),
            &code,
            &pending,
        )
        .await
        .map_err(|error| match error {
            token_endpoint::GrantError::Refused { error } => {
                OidcError::TokenInvalid(format!("the provider refused the code: {error}"))
            }
            token_endpoint::GrantError::Unavailable(why) => OidcError::Unavailable(why),
        })?;
        let id_token = tokens.id_token.clone().ok_or_else(|| {
            OidcError::TokenInvalid(
                "the token response has no id_token (is `openid` in the scopes?)".into(),
            )
        })?;
        let from = IdTokenFrom::SignIn {
            nonce: &pending.nonce,
        };
        let verified = provider
            .verifier
            .verify_id_token(&id_token, from, &settings.client_id)
            .await
            .map_err(|error| match error {
                BearerError::IssuerUnavailable(why) => OidcError::Unavailable(why),
                BearerError::Invalid(problem) => {
                    OidcError::TokenInvalid(format!("ID token: {} ({})", problem, problem.as_str()))
                }
            })?;
        if !self.allowed(&verified.user, verified.email.as_deref()) {
            tracing::warn!(username = ?verified.user.username, "oidc: signed in at the provider but not allowed here");
            return Err(OidcError::NotAllowed);
        }
        let refresh_at = tokens.refresh_token.as_ref().map(|_| {
            self.refresh_at(
                SystemTime::now(),
                Some(verified.expires_at),
                tokens.expires_in,
            )
        });
        let user = NewSession {
            oidc: Some(ProviderTokens {
                id_token,
                refresh_token: tokens.refresh_token,
                refresh_at,
            }),
            ..verified.user
        };
        Ok(SignedIn {
            user,
            next: pending.next,
        })
    }

    /// `client_secret_basic` for this client.
    fn client_credentials(&self) -> HeaderValue {
        let settings = &self.inner.settings;
        basic_credentials(&settings.client_id, &settings.client_secret)
    }

    /// When claims received at `now` are next refreshed: when the ID token
    /// (`id_token_expiry`) or the access token (`expires_in`) expires, or
    /// `refresh_interval` has passed, whichever is first.
    fn refresh_at(
        &self,
        now: SystemTime,
        id_token_expiry: Option<SystemTime>,
        expires_in: Option<Duration>,
    ) -> SystemTime {
        let due = [
            id_token_expiry,
            expires_in.map(|lifetime| now + lifetime),
            self.inner
                .settings
                .refresh_interval
                .map(|every| now + every),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(now + DEFAULT_REFRESH_INTERVAL);
        due.max(now + MIN_REFRESH_INTERVAL)
    }

    /// `allowed_groups` and `allowed_email_domains`, each when set.
    fn allowed(&self, user: &NewSession, verified_email: Option<&str>) -> bool {
        let settings = &self.inner.settings;
        let in_group = settings.allowed_groups.is_empty()
            || user
                .groups
                .iter()
                .any(|g| settings.allowed_groups.contains(g));
        let in_domain = settings.allowed_email_domains.is_empty()
            || verified_email
                .and_then(|email| email.rsplit_once('@'))
                .is_some_and(|(_, domain)| {
                    settings
                        .allowed_email_domains
                        .iter()
                        .any(|allowed| allowed.eq_ignore_ascii_case(domain))
                });
        in_group && in_domain
    }

    /// Where RP-initiated logout sends the browser, when the provider has
    /// an `end_session_endpoint` (and discovery has run).
    pub fn end_session_url(&self, id_token: Option<&str>, post_logout: &str) -> Option<String> {
        let provider = self.inner.provider.load_full()?;
        let endpoint = provider.metadata.end_session_endpoint.as_ref()?.to_string();
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("client_id", &self.inner.settings.client_id);
        query.append_pair("post_logout_redirect_uri", post_logout);
        if let Some(hint) = id_token {
            query.append_pair("id_token_hint", hint);
        }
        let separator = if endpoint.contains('?') { '&' } else { '?' };
        Some(format!("{endpoint}{separator}{}", query.finish()))
    }
}

/// The callback's query: `code` and `state`, or `error`.
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

impl Callback {
    fn read(query: &str) -> Callback {
        let mut callback = Callback {
            code: None,
            state: None,
            error: None,
        };
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            let slot = match key.as_ref() {
                "code" => &mut callback.code,
                "state" => &mut callback.state,
                "error" => &mut callback.error,
                _ => continue,
            };
            // A repeated parameter is ambiguous: keep neither.
            *slot = if slot.is_some() {
                Some(String::new())
            } else {
                Some(value.into_owned())
            };
        }
        callback
    }
}

/// `client_secret_basic` (RFC 6749 2.3.1: both parts form-urlencoded).
fn basic_credentials(client_id: &str, secret: &str) -> HeaderValue {
    use base64::Engine;
    let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let pair = format!("{}:{}", encode(client_id), encode(secret));
    let value = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    );
    // Invariant: base64 is a valid header value.
    HeaderValue::from_str(&value).expect("base64 header value")
}

/// The public-key algorithms the verifier accepts, by JOSE name.
fn public_key_algorithm(name: &str) -> Option<Algorithm> {
    let algorithm = match name {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        _ => return None,
    };
    Some(algorithm)
}

/// The URI the provider sends the browser back to.
pub fn redirect_uri(https: bool, host: &str, prefix: &str, path: &str) -> Option<Uri> {
    let scheme = if https { "https" } else { "http" };
    format!("{scheme}://{host}{prefix}{path}").parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oidc(refresh_interval: Option<Duration>) -> Oidc {
        Oidc::new(OidcSettings {
            issuer: "https://idp.test".into(),
            client_id: "portcullis".into(),
            client_secret: "s3cret".into(),
            scopes: vec!["openid".into()],
            redirect_path: "/oidc/callback".into(),
            public_url: None,
            name: "IdP".into(),
            username_claim: "sub".into(),
            groups_claim: None,
            permissions_claim: None,
            allowed_groups: Vec::new(),
            allowed_email_domains: Vec::new(),
            leeway: Duration::ZERO,
            refresh_interval,
            timeout: Duration::from_secs(1),
            ca_file: None,
        })
        .unwrap()
    }

    #[test]
    fn claims_are_refreshed_when_the_first_token_expires() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let minutes = |m: u64| Duration::from_secs(60 * m);
        let plain = oidc(None);
        assert_eq!(
            plain.refresh_at(now, Some(now + minutes(5)), Some(minutes(60))),
            now + minutes(5)
        );
        assert_eq!(
            plain.refresh_at(now, Some(now + minutes(60)), Some(minutes(10))),
            now + minutes(10)
        );
        assert_eq!(
            plain.refresh_at(now, None, None),
            now + DEFAULT_REFRESH_INTERVAL
        );
        // Tokens born expired are not refreshed on every request.
        assert_eq!(
            plain.refresh_at(now, Some(now), Some(Duration::ZERO)),
            now + MIN_REFRESH_INTERVAL
        );
        let capped = oidc(Some(minutes(2)));
        assert_eq!(
            capped.refresh_at(now, Some(now + minutes(600)), None),
            now + minutes(2)
        );
    }

    #[test]
    fn a_repeated_callback_parameter_is_not_believed() {
        let callback = Callback::read("code=a&state=s&state=t");
        assert_eq!(callback.code.as_deref(), Some("a"));
        assert_eq!(callback.state.as_deref(), Some(""));
        let callback = Callback::read("error=access_denied&state=s");
        assert_eq!(callback.error.as_deref(), Some("access_denied"));
    }

    #[test]
    fn client_credentials_are_form_encoded_then_base64() {
        // RFC 6749 2.3.1's encoding: ':' in the id is escaped.
        let value = basic_credentials("a:b", "p w");
        assert_eq!(value, "Basic YSUzQWI6cCt3");
    }

    #[test]
    fn provider_error_codes_are_shown_only_when_plain() {
        let shown = OidcError::ProviderRefused("access_denied".into()).denial();
        assert!(shown.detail.contains("access_denied"));
        let hidden = OidcError::ProviderRefused("<script>".into()).denial();
        assert!(hidden.detail.contains("unknown"), "{}", hidden.detail);
        assert_eq!(OidcError::Unavailable("x".into()).denial().status, 502);
    }
}
