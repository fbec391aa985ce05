//! The authentication sections as written: `[token]` (DRF's
//! TokenAuthentication), `[jwt]` (simplejwt's SIMPLE_JWT) and `[bearer]`
//! (JWTs from any JWKS issuer).

use serde::Deserialize;
use toml::Spanned;

/// `[token]`: DRF's `TokenAuthentication`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawToken {
    /// `TokenAuthentication.keyword` (default "Token"): the scheme word
    /// before the key, compared without regard to case.
    pub keyword: Option<Spanned<String>>,
}

/// `[jwt]`: simplejwt's `SIMPLE_JWT` settings, lower-cased.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJwt {
    /// `ALGORITHM` (default "HS256"): HS256/384/512, RS256/384/512,
    /// ES256/384, PS256/384/512 or EdDSA.
    pub algorithm: Option<Spanned<String>>,
    /// `SIGNING_KEY` inline (HS*). Prefer `signing_key_env`.
    pub signing_key: Option<Spanned<String>>,
    /// An environment variable holding `SIGNING_KEY` (HS*). Without either,
    /// `[django]`'s `SECRET_KEY`, as simplejwt defaults to it.
    pub signing_key_env: Option<Spanned<String>>,
    /// `VERIFYING_KEY`: the public key's PEM, inline (RS*, ES*, PS*, EdDSA).
    pub verifying_key: Option<Spanned<String>>,
    /// A file holding `VERIFYING_KEY` (relative to this file).
    pub verifying_key_file: Option<Spanned<String>>,
    /// `AUDIENCE`: one string or a list; when set, `aud` must match.
    pub audience: Option<Spanned<RawStrings>>,
    /// `ISSUER`: when set, `iss` must equal it.
    pub issuer: Option<Spanned<String>>,
    /// `LEEWAY`, seconds (default 0).
    pub leeway: Option<Spanned<u64>>,
    /// `USER_ID_CLAIM` (default "user_id").
    pub user_id_claim: Option<Spanned<String>>,
    /// `USER_ID_FIELD` (default "id"; the only field the gateway looks up).
    pub user_id_field: Option<Spanned<String>>,
    /// `AUTH_HEADER_TYPES` (default ["Bearer"]; case matters).
    pub auth_header_types: Option<Spanned<RawStrings>>,
    /// `TOKEN_TYPE_CLAIM` (default "token_type"; "" turns the check off,
    /// as `None` does in simplejwt).
    pub token_type_claim: Option<Spanned<String>>,
    /// `JTI_CLAIM` (default "jti"; "" turns the check off).
    pub jti_claim: Option<Spanned<String>>,
    /// `true`: `JWTStatelessUserAuthentication`, the user from the claims
    /// only; `false` (default): `JWTAuthentication`, the user looked up in
    /// Django's database (needs `session.store = "django"`).
    pub stateless: Option<bool>,
    /// `AUTH_TOKEN_CLASSES` by token type: "access" (AccessToken, the
    /// default), "sliding" (SlidingToken).
    pub token_classes: Option<Spanned<Vec<Spanned<String>>>>,
    /// `true` when `rest_framework_simplejwt.token_blacklist` is in
    /// INSTALLED_APPS: sliding tokens are looked up in its tables, as
    /// simplejwt does (it never checks access tokens). Needs the Django store.
    pub blacklist: Option<bool>,
}

/// One string or a list of them, as simplejwt's settings accept.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawStrings {
    One(String),
    Many(Vec<String>),
}

impl RawStrings {
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            RawStrings::One(one) => vec![one.clone()],
            RawStrings::Many(many) => many.clone(),
        }
    }
}

/// `[oidc]`: sign-in through an OpenID provider (the authorization code
/// flow with PKCE), making the same sessions as the sign-in form.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOidc {
    /// The provider's issuer, exactly as its ID tokens name it; discovery
    /// reads `<issuer>/.well-known/openid-configuration`.
    pub issuer: Spanned<String>,
    /// The client id registered at the provider.
    pub client_id: Spanned<String>,
    /// The environment variable holding the client secret.
    pub client_secret_env: Spanned<String>,
    /// Scopes asked for (default ["openid", "profile", "email"]); "openid"
    /// is required.
    pub scopes: Option<Vec<Spanned<String>>>,
    /// The callback path under server.internal_prefix (default
    /// "/oidc/callback"); register `<scheme>://<host><prefix><path>` at
    /// the provider.
    pub redirect_path: Option<Spanned<String>>,
    /// The site's own URL as browsers reach it ("https://shop.example.com"):
    /// the redirect URI and the logout's return are built on it instead of
    /// the request's Host (default: the request's scheme and Host).
    pub public_url: Option<Spanned<String>>,
    /// The provider's name on the sign-in page (default "your identity
    /// provider").
    pub name: Option<Spanned<String>>,
    /// The claim naming the user (default "preferred_username").
    pub username_claim: Option<Spanned<String>>,
    /// The claim listing groups (default "groups"; "" for none).
    pub groups_claim: Option<Spanned<String>>,
    /// The claim listing `app_label.codename` permissions (default none).
    pub permissions_claim: Option<Spanned<String>>,
    /// Only members of one of these groups may sign in (default: anyone).
    #[serde(default)]
    pub allowed_groups: Vec<Spanned<String>>,
    /// Only users whose verified email is in one of these domains may sign
    /// in (default: anyone).
    #[serde(default)]
    pub allowed_email_domains: Vec<Spanned<String>>,
    /// Clock skew allowed for the ID token (default "60s").
    pub leeway: Option<Spanned<String>>,
    /// With a refresh token: the longest the provider's claims are trusted
    /// before they are refreshed (default: until the ID token or the access
    /// token expires, whichever is first).
    pub refresh_interval: Option<Spanned<String>>,
    /// Longest a request to the provider may take (default "10s").
    pub timeout: Option<Spanned<String>>,
    /// PEM of the CA that signed an `https://` provider's certificate
    /// (default: the system's roots). Relative to this file.
    pub ca_file: Option<Spanned<String>>,
}

/// `[bearer]`: who issues the JWTs API clients send as
/// `Authorization: Bearer`, where its public keys are, and which claims
/// say who the user is.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBearer {
    /// The exact `iss` of the tokens, e.g. "https://login.example.com/realms/shop".
    pub issuer: Spanned<String>,
    /// Accepted `aud` values; a token must name at least one.
    #[serde(default)]
    pub audiences: Vec<Spanned<String>>,
    /// The issuer's JWKS, `https://…` (or `http://` on a private network).
    pub jwks_url: Spanned<String>,
    /// Signature algorithms accepted (default ["RS256", "ES256"]); RS*,
    /// PS*, ES256, ES384 or EdDSA, never HS* or "none".
    pub algorithms: Option<Vec<Spanned<String>>>,
    /// The claim holding the username (default "sub").
    pub username_claim: Option<Spanned<String>>,
    /// The claim listing groups: an array of strings or a space-separated
    /// string; a dotted name reaches into objects ("realm_access.roles").
    pub groups_claim: Option<Spanned<String>>,
    /// The claim listing `app_label.codename` permissions, same shapes.
    pub permissions_claim: Option<Spanned<String>>,
    /// A boolean claim that makes the user staff when true.
    pub staff_claim: Option<Spanned<String>>,
    /// A boolean claim that makes the user a superuser when true.
    pub superuser_claim: Option<Spanned<String>>,
    /// Members of any of these groups are staff.
    #[serde(default)]
    pub staff_groups: Vec<Spanned<String>>,
    /// Members of any of these groups are superusers.
    #[serde(default)]
    pub superuser_groups: Vec<Spanned<String>>,
    /// Clock skew allowed for `exp`, `nbf`, `iat` (default "60s"; "0s" for none).
    pub leeway: Option<Spanned<String>>,
    /// How long fetched keys are used before being fetched again (default "10m").
    pub jwks_cache_ttl: Option<Spanned<String>>,
    /// A token with an unknown `kid` fetches the keys again, at most this
    /// often (default "30s").
    pub jwks_refetch_interval: Option<Spanned<String>>,
    /// Longest a JWKS fetch may take (default "5s").
    pub timeout: Option<Spanned<String>>,
    /// PEM of the CA that signed an `https://` JWKS server's certificate
    /// (default: the system's roots). Relative to this file.
    pub ca_file: Option<Spanned<String>>,
}
