//! `authentication` (top level and per route), `[token]` and `[jwt]`:
//! DRF's authentication classes and simplejwt's SIMPLE_JWT settings.

use std::path::Path;
use std::str::FromStr;

use http::HeaderValue;
use jsonwebtoken::{Algorithm, DecodingKey};
use toml::Spanned;

use super::defaults;
use super::problems::Problems;
use crate::config::raw::{RawConfig, RawJwt};
use crate::config::startup::StoreKind;
use crate::credentials::drf_token::TokenSettings;
use crate::credentials::simplejwt::{JwtSettings, TokenClass};
use crate::credentials::{AuthClass, AuthClasses, Authentication};

/// A list of authentication classes, as the top level or a route names it.
pub(super) fn classes(
    problems: &mut Problems,
    raw: &Spanned<Vec<Spanned<String>>>,
    key: &str,
) -> AuthClasses {
    let mut list = Vec::new();
    for name in raw.get_ref() {
        match AuthClass::from_str(name.get_ref()) {
            Ok(class) => list.push(class),
            Err(()) => problems.at(
                name.span(),
                format!(
                    "{key}: unknown authentication class {:?} (one of {})",
                    name.get_ref(),
                    AuthClass::NAMES
                ),
            ),
        }
    }
    AuthClasses::new(&list).unwrap_or_else(|why| {
        if !list.is_empty() || raw.get_ref().is_empty() {
            problems.at(raw.span(), format!("{key} {why}"));
        }
        AuthClasses::SESSION
    })
}

/// The top-level settings; `used` are the classes some route (or the
/// default) names, each of which must be configured.
pub(super) fn authentication(
    problems: &mut Problems,
    raw: &RawConfig,
    store: &StoreKind,
    base: &Path,
) -> Authentication {
    let default = raw
        .authentication
        .as_ref()
        .map_or(AuthClasses::SESSION, |list| {
            classes(problems, list, "authentication")
        });
    let keyword = raw.token.as_ref().and_then(|token| token.keyword.as_ref());
    let token = token_settings(problems, keyword);
    let jwt = raw
        .jwt
        .as_ref()
        .and_then(|jwt| jwt_settings(problems, jwt, store, base));
    Authentication {
        default,
        token,
        jwt,
        bearer_challenge: HeaderValue::from_static("Bearer realm=\"api\""),
    }
}

/// Each class some route or the default uses must have what it needs.
pub(super) fn check_used(
    problems: &mut Problems,
    raw: &RawConfig,
    settings: &Authentication,
    used: impl Iterator<Item = AuthClasses>,
) {
    let (mut jwt, mut bearer) = (false, false);
    for list in std::iter::once(settings.default).chain(used) {
        jwt |= list.contains(AuthClass::Jwt);
        bearer |= list.contains(AuthClass::Bearer);
    }
    if jwt && raw.jwt.is_none() {
        problems.anywhere("authentication names \"jwt\", which needs a [jwt] section (SIMPLE_JWT)");
    }
    if bearer && raw.bearer.is_none() {
        problems.anywhere("authentication names \"bearer\", which needs a [bearer] section (the issuer and its JWKS)");
    }
}

fn token_settings(problems: &mut Problems, keyword: Option<&Spanned<String>>) -> TokenSettings {
    let text = keyword.map_or(defaults::TOKEN_KEYWORD, |k| k.get_ref().as_str());
    let challenge = match is_scheme_word(text)
        .then(|| HeaderValue::from_str(text).ok())
        .flatten()
    {
        Some(value) => value,
        None => {
            if let Some(keyword) = keyword {
                problems.at(
                    keyword.span(),
                    "token.keyword must be one word of letters, digits and -._~+/",
                );
            }
            HeaderValue::from_static(defaults::TOKEN_KEYWORD)
        }
    };
    TokenSettings {
        keyword: text.to_string(),
        challenge,
    }
}

/// An auth-scheme token (RFC 9110 §11.1), without spaces.
fn is_scheme_word(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/!#$%&'*^`|".contains(&b))
}

fn jwt_settings(
    problems: &mut Problems,
    raw: &Spanned<RawJwt>,
    store: &StoreKind,
    base: &Path,
) -> Option<JwtSettings> {
    let span = raw.span();
    let jwt = raw.get_ref();
    let algorithm_text = jwt
        .algorithm
        .as_ref()
        .map_or(defaults::JWT_ALGORITHM, |a| a.get_ref().as_str());
    let Ok(algorithm) = Algorithm::from_str(algorithm_text) else {
        let at = jwt.algorithm.as_ref().map_or(span.clone(), Spanned::span);
        problems.at(
            at,
            format!("jwt.algorithm {algorithm_text:?} is not one of HS256, HS384, HS512, RS256, RS384, RS512, ES256, ES384, PS256, PS384, PS512, EdDSA"),
        );
        return None;
    };
    let key = jwt_key(problems, jwt, algorithm, store, base, span.clone())?;
    let header_types = jwt.auth_header_types.as_ref().map_or_else(
        || {
            defaults::JWT_AUTH_HEADER_TYPES
                .iter()
                .map(|t| t.to_string())
                .collect()
        },
        |t| t.get_ref().to_vec(),
    );
    if header_types.is_empty() || !header_types.iter().all(|t| is_scheme_word(t)) {
        let at = jwt
            .auth_header_types
            .as_ref()
            .map_or(span.clone(), Spanned::span);
        problems.at(
            at,
            "jwt.auth_header_types must be one or more words without spaces",
        );
        return None;
    }
    let challenge = HeaderValue::from_str(&format!("{} realm=\"api\"", header_types[0])).ok()?;
    if let Some(field) = &jwt.user_id_field {
        if field.get_ref() != defaults::JWT_USER_ID_FIELD {
            problems.at(
                field.span(),
                "jwt.user_id_field: the gateway looks a token's user up by primary key; only \"id\" is supported",
            );
        }
    }
    let stateless = jwt.stateless.unwrap_or(defaults::JWT_STATELESS);
    if !stateless && !matches!(store, StoreKind::Django(_)) {
        problems.at(
            span.clone(),
            "[jwt] looks each token's user up in Django's database (JWTAuthentication): it needs session.store = \"django\", or stateless = true (JWTStatelessUserAuthentication)",
        );
    }
    let token_classes = token_classes(problems, jwt.token_classes.as_ref());
    let blacklist = jwt.blacklist.unwrap_or(defaults::JWT_BLACKLIST);
    if blacklist && !matches!(store, StoreKind::Django(_)) {
        problems.at(
            span.clone(),
            "jwt.blacklist reads simplejwt's token_blacklist tables in Django's database: it needs session.store = \"django\"",
        );
    }
    let optional_claim = |value: Option<&Spanned<String>>, default: &str| {
        let claim = value.map_or(default, |v| v.get_ref().as_str());
        (!claim.is_empty()).then(|| claim.to_string())
    };
    Some(JwtSettings {
        algorithm,
        key,
        audience: jwt.audience.as_ref().map(|a| a.get_ref().to_vec()),
        issuer: jwt.issuer.as_ref().map(|i| i.get_ref().clone()),
        leeway: jwt
            .leeway
            .as_ref()
            .map_or(defaults::JWT_LEEWAY, |l| *l.get_ref()) as f64,
        user_id_claim: jwt
            .user_id_claim
            .as_ref()
            .map_or(defaults::JWT_USER_ID_CLAIM, |c| c.get_ref().as_str())
            .to_string(),
        header_types,
        token_type_claim: optional_claim(
            jwt.token_type_claim.as_ref(),
            defaults::JWT_TOKEN_TYPE_CLAIM,
        ),
        jti_claim: optional_claim(jwt.jti_claim.as_ref(), defaults::JWT_JTI_CLAIM),
        stateless,
        token_classes,
        blacklist,
        challenge,
    })
}

/// `AUTH_TOKEN_CLASSES`: "access" and "sliding", each at most once.
fn token_classes(
    problems: &mut Problems,
    raw: Option<&Spanned<Vec<Spanned<String>>>>,
) -> Vec<TokenClass> {
    let Some(raw) = raw else {
        return defaults::JWT_TOKEN_CLASSES
            .iter()
            .filter_map(|name| token_class(name))
            .collect();
    };
    let mut classes = Vec::new();
    for name in raw.get_ref() {
        match token_class(name.get_ref()) {
            Some(class) if !classes.contains(&class) => classes.push(class),
            Some(_) => problems.at(
                name.span(),
                format!("jwt.token_classes names {:?} twice", name.get_ref()),
            ),
            None => problems.at(
                name.span(),
                format!(
                    "jwt.token_classes: {:?} is not \"access\" or \"sliding\"",
                    name.get_ref()
                ),
            ),
        }
    }
    if classes.is_empty() {
        problems.at(
            raw.span(),
            "jwt.token_classes must name at least one token class",
        );
        classes.push(TokenClass::Access);
    }
    classes
}

fn token_class(name: &str) -> Option<TokenClass> {
    match name {
        "access" => Some(TokenClass::Access),
        "sliding" => Some(TokenClass::Sliding),
        _ => None,
    }
}

/// SIGNING_KEY for HS* (default Django's SECRET_KEY, as simplejwt's is),
/// VERIFYING_KEY (PEM) for the public-key algorithms.
fn jwt_key(
    problems: &mut Problems,
    jwt: &RawJwt,
    algorithm: Algorithm,
    store: &StoreKind,
    base: &Path,
    span: std::ops::Range<usize>,
) -> Option<DecodingKey> {
    let symmetric = matches!(
        algorithm,
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
    );
    if symmetric {
        if jwt.verifying_key.is_some() || jwt.verifying_key_file.is_some() {
            problems.at(span.clone(), "jwt: verifying_key is for RS*, ES*, PS* and EdDSA; HS* tokens are checked with the signing key");
        }
        let secret = match (&jwt.signing_key, &jwt.signing_key_env, store) {
            (Some(_), Some(env), _) => {
                problems.at(
                    env.span(),
                    "jwt needs at most one of signing_key and signing_key_env",
                );
                return None;
            }
            (Some(inline), None, _) => inline.get_ref().as_bytes().to_vec(),
            (None, Some(env), _) => match std::env::var(env.get_ref()) {
                Ok(value) => value.into_bytes(),
                Err(_) => {
                    problems.at(
                        env.span(),
                        format!(
                            "jwt.signing_key_env names {:?}, which is not set",
                            env.get_ref()
                        ),
                    );
                    return None;
                }
            },
            (None, None, StoreKind::Django(django)) => django.settings.secret_key.clone(),
            (None, None, _) => {
                problems.at(span, "jwt: an HS* algorithm needs signing_key_env (or signing_key); only with session.store = \"django\" does it default to Django's SECRET_KEY");
                return None;
            }
        };
        if secret.is_empty() {
            problems.at(span, "jwt: the signing key must not be empty");
            return None;
        }
        return Some(DecodingKey::from_secret(&secret));
    }
    if jwt.signing_key.is_some() || jwt.signing_key_env.is_some() {
        problems.warn(span.clone(), "jwt: signing_key is not used with a public-key algorithm; the gateway only verifies, with verifying_key");
    }
    let pem = match (&jwt.verifying_key, &jwt.verifying_key_file) {
        (Some(inline), None) => inline.get_ref().clone(),
        (None, Some(file)) => {
            let path = base.join(file.get_ref());
            match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(e) => {
                    problems.at(
                        file.span(),
                        format!(
                            "cannot read jwt.verifying_key_file {:?}: {e}",
                            path.display()
                        ),
                    );
                    return None;
                }
            }
        }
        _ => {
            problems.at(span, "jwt: a public-key algorithm needs exactly one of verifying_key and verifying_key_file (VERIFYING_KEY, PEM)");
            return None;
        }
    };
    let key = match algorithm {
        Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(pem.as_bytes()),
        Algorithm::EdDSA => DecodingKey::from_ed_pem(pem.as_bytes()),
        _ => DecodingKey::from_rsa_pem(pem.as_bytes()),
    };
    key.map_err(|e| {
        problems.at(
            span,
            format!("jwt.verifying_key is not a PEM public key for {algorithm:?}: {e}"),
        )
    })
    .ok()
}
