//! djangorestframework-simplejwt's `JWTAuthentication`: an access token in
//! `Authorization: Bearer <token>`, validated exactly as simplejwt 5.5
//! validates one (PyJWT's `decode`, then `Token.verify`), answered with
//! simplejwt's error bodies. The user is looked up in Django's database
//! (`JWTAuthentication`) or taken from the claims
//! (`JWTStatelessUserAuthentication`) by the pipeline.

mod claims;

use std::borrow::Cow;

use http::{HeaderMap, HeaderValue};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use super::authorization::{authorization_bytes, python_split};
use crate::denial::{Denial, DetailExtra, Reason, TokenMessage};

/// `[jwt]`, compiled: SIMPLE_JWT's settings, lower-cased.
#[derive(Clone)]
pub struct JwtSettings {
    /// `ALGORITHM`.
    pub algorithm: Algorithm,
    /// `SIGNING_KEY` for HS*, `VERIFYING_KEY` otherwise.
    pub key: DecodingKey,
    /// `AUDIENCE`: when set, `aud` must name one of these.
    pub audience: Option<Vec<String>>,
    /// `ISSUER`: when set, `iss` must equal it.
    pub issuer: Option<String>,
    /// `LEEWAY`, in seconds.
    pub leeway: f64,
    /// `USER_ID_CLAIM`.
    pub user_id_claim: String,
    /// `AUTH_HEADER_TYPES`: compared exactly (case matters in simplejwt).
    pub header_types: Vec<String>,
    /// `TOKEN_TYPE_CLAIM`; `None` skips the type check.
    pub token_type_claim: Option<String>,
    /// `JTI_CLAIM`; `None` skips the id check.
    pub jti_claim: Option<String>,
    /// `JWTStatelessUserAuthentication`: the user from the claims, no
    /// database.
    pub stateless: bool,
    /// `AUTH_TOKEN_CLASSES`, tried in order.
    pub token_classes: Vec<TokenClass>,
    /// `rest_framework_simplejwt.token_blacklist` is installed: a sliding
    /// token's `jti` is looked up in its tables.
    pub blacklist: bool,
    /// `WWW-Authenticate`: `<first header type> realm="api"`.
    pub challenge: HeaderValue,
}

impl std::fmt::Debug for JwtSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtSettings")
            .field("algorithm", &self.algorithm)
            .field("audience", &self.audience)
            .field("issuer", &self.issuer)
            .field("stateless", &self.stateless)
            .finish_non_exhaustive()
    }
}

/// simplejwt's messages, verbatim.
pub const BAD_HEADER: &str = "Authorization header must contain two space-delimited values";
pub const NOT_VALID: &str = "Given token not valid for any token type";
pub const NO_USER_ID: &str = "Token contained no recognizable user identification";
pub const USER_NOT_FOUND: &str = "User not found";
pub const USER_INACTIVE: &str = "User is inactive";
const INVALID: &str = "Token is invalid";
const EXPIRED: &str = "Token is expired";

/// The raw token of `get_raw_token`: `Ok(None)` when there is no header or
/// it names another scheme (the class does not apply).
pub fn raw_token(headers: &HeaderMap, settings: &JwtSettings) -> Result<Option<Vec<u8>>, Denial> {
    let Some(header) = authorization_bytes(headers) else {
        return Ok(None);
    };
    let parts: Vec<&[u8]> = python_split(&header).collect();
    let Some(scheme) = parts.first() else {
        return Ok(None);
    };
    if !settings
        .header_types
        .iter()
        .any(|t| t.as_bytes() == *scheme)
    {
        return Ok(None);
    }
    if parts.len() != 2 {
        return Err(failure(
            Reason::JwtHeaderInvalid,
            BAD_HEADER,
            "bad_authorization_header",
            None,
        ));
    }
    Ok(Some(parts[1].to_vec()))
}

/// PyJWT's `jwt.decode` as simplejwt's backend calls it (the same for
/// every token class); the error is the message simplejwt records.
pub fn decode(
    raw: &[u8],
    settings: &JwtSettings,
    now: f64,
) -> Result<Map<String, Value>, Cow<'static, str>> {
    let token = std::str::from_utf8(raw).map_err(|_| INVALID)?;
    // Signature and algorithm only: the claims are checked below, in
    // PyJWT's order and with its rules.
    let mut validation = Validation::new(settings.algorithm);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    let payload = jsonwebtoken::decode::<Map<String, Value>>(token, &settings.key, &validation)
        .map_err(|_| INVALID)?
        .claims;
    claims::pyjwt(&payload, settings, now)
        .map_err(|expired| if expired { EXPIRED } else { INVALID })?;
    Ok(payload)
}

/// `Token.verify` for one token class: `exp`, the id claim, the type.
/// (The blacklist, for sliding tokens, is the caller's: it needs the
/// database.)
pub fn verify(
    payload: &Map<String, Value>,
    settings: &JwtSettings,
    class: TokenClass,
    now: f64,
) -> Result<(), Cow<'static, str>> {
    claims::simplejwt(payload, settings, class, now)
}

/// The `jti` simplejwt's blacklist is keyed by.
pub fn jti<'p>(payload: &'p Map<String, Value>, settings: &JwtSettings) -> Option<&'p str> {
    payload.get(settings.jti_claim.as_deref()?)?.as_str()
}

/// `get_validated_token`'s refusal: every class's message.
pub fn not_valid(messages: Vec<TokenMessage>) -> Denial {
    failure(
        Reason::JwtInvalid,
        NOT_VALID,
        "token_not_valid",
        Some(messages),
    )
}

/// simplejwt's `AUTH_TOKEN_CLASSES` the gateway plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenClass {
    /// `AccessToken` (token_type "access"), the default.
    Access,
    /// `SlidingToken` (token_type "sliding"), checked against the
    /// blacklist when `token_blacklist` is installed.
    Sliding,
}

impl TokenClass {
    pub fn class_name(self) -> &'static str {
        match self {
            TokenClass::Access => "AccessToken",
            TokenClass::Sliding => "SlidingToken",
        }
    }

    pub fn token_type(self) -> &'static str {
        match self {
            TokenClass::Access => "access",
            TokenClass::Sliding => "sliding",
        }
    }

    /// The message for one class, as `get_validated_token` records it.
    pub fn message(self, message: Cow<'static, str>) -> TokenMessage {
        TokenMessage {
            token_class: self.class_name(),
            token_type: self.token_type(),
            message,
        }
    }
}

/// simplejwt's `InvalidToken` / `AuthenticationFailed` with its dict body.
pub fn failure(
    reason: Reason,
    detail: &'static str,
    code: &'static str,
    messages: Option<Vec<TokenMessage>>,
) -> Denial {
    let mut denial = Denial::authentication_failed(reason, detail);
    denial.extra = Some(Box::new(DetailExtra { code, messages }));
    denial
}

/// simplejwt's `TokenUser` (JWTStatelessUserAuthentication): the id
/// claim, the `username` claim (else `""`, as `TokenUser.username` is: no
/// `X-Remote-User` is sent, never the id in its place, which an upstream
/// could take for a username), no groups, no permissions, neither staff
/// nor superuser. `None` when a value could not be sent as a header.
pub fn token_user(
    payload: &Map<String, Value>,
    user_id: Option<String>,
    expires_at: std::time::SystemTime,
) -> Option<crate::session::Session> {
    let user_id = user_id?;
    let username = payload
        .get("username")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    use crate::session::record::unsafe_value_reason;
    if unsafe_value_reason(&user_id, false).is_some()
        || (!username.is_empty() && unsafe_value_reason(&username, false).is_some())
    {
        return None;
    }
    let new = crate::session::NewSession {
        username,
        user_id: Some(user_id),
        ..crate::session::NewSession::default()
    };
    Some(crate::session::Session::new(
        new,
        std::time::SystemTime::now(),
        expires_at,
    ))
}

/// The user id claim as Django's lookup takes it (`get(id=value)`): a
/// string or an integer; anything else finds no user.
pub fn user_id(
    payload: &Map<String, Value>,
    settings: &JwtSettings,
) -> Result<Option<String>, Denial> {
    match payload.get(&settings.user_id_claim) {
        None => Err(failure(
            Reason::JwtInvalid,
            NO_USER_ID,
            "token_not_valid",
            None,
        )),
        Some(Value::String(id)) => Ok(Some(id.clone())),
        Some(Value::Number(id)) if id.is_i64() || id.is_u64() => Ok(Some(id.to_string())),
        Some(_) => Ok(None),
    }
}
