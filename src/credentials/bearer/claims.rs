//! The registered claims of a token whose signature verified: `exp`
//! (required), `nbf` and `iat` within the leeway, `iss` exactly the
//! issuer, `aud` (a string or an array) naming one of the audiences.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use super::problem::BearerProblem;
use super::BearerSettings;
use crate::session::MAX_SESSION_TTL;

/// The token's claims, as the payload's JSON object.
pub(super) type Claims = Map<String, Value>;

/// A claim by name: the top-level claim of that exact name, or else, for a
/// dotted name, the path through nested objects (`realm_access.roles`).
/// Names with dots (`https://example.com/groups`) work either way.
pub(super) fn claim<'a>(claims: &'a Claims, name: &str) -> Option<&'a Value> {
    if let Some(value) = claims.get(name) {
        return Some(value);
    }
    let mut segments = name.split('.');
    let mut value = claims.get(segments.next()?)?;
    for segment in segments {
        value = value.as_object()?.get(segment)?;
    }
    Some(value)
}

/// Checks the registered claims at `now`; the token's expiry when they pass.
pub(super) fn check(
    claims: &Claims,
    settings: &BearerSettings,
    now: SystemTime,
) -> Result<SystemTime, BearerProblem> {
    let now_secs = seconds(now);
    let leeway = settings.leeway.as_secs_f64();
    let exp = numeric_date(claims, "exp")?.ok_or(missing("exp"))?;
    // RFC 7519 §4.1.4: the token is valid only before `exp`.
    if now_secs >= exp + leeway {
        return Err(BearerProblem::Expired);
    }
    if numeric_date(claims, "nbf")?.is_some_and(|nbf| now_secs + leeway < nbf) {
        return Err(BearerProblem::NotYetValid);
    }
    if numeric_date(claims, "iat")?.is_some_and(|iat| iat > now_secs + leeway) {
        return Err(BearerProblem::IssuedInFuture);
    }
    match claims.get("iss") {
        None => return Err(missing("iss")),
        Some(Value::String(iss)) if *iss == settings.issuer => {}
        Some(Value::String(_)) => return Err(BearerProblem::WrongIssuer),
        Some(_) => return Err(BearerProblem::BadClaim("iss".into())),
    }
    let ours = |aud: &str| settings.audiences.iter().any(|a| a == aud);
    let audience_ok = match claims.get("aud") {
        None => return Err(missing("aud")),
        Some(Value::String(aud)) => ours(aud),
        Some(Value::Array(items)) => {
            let mut any = false;
            for item in items {
                let Value::String(aud) = item else {
                    return Err(BearerProblem::BadClaim("aud".into()));
                };
                any |= ours(aud);
            }
            any
        }
        Some(_) => return Err(BearerProblem::BadClaim("aud".into())),
    };
    if !audience_ok {
        return Err(BearerProblem::WrongAudience);
    }
    Ok(expiry(exp, now))
}

/// Which ID token is being checked: the sign-in's, which must carry the
/// `nonce` the sign-in sent, or a refresh's, which must name the same
/// `sub` as the sign-in's (OIDC Core 12.2; its `nonce`, if any, is not
/// one we sent, and is not looked at).
#[derive(Debug, Clone, Copy)]
pub enum IdTokenFrom<'a> {
    SignIn { nonce: &'a str },
    Refresh { subject: &'a str },
}

/// The ID token checks beyond an access token's (OIDC Core 3.1.3.7, 11,
/// 12.2): `sub` and `iat` present, `nonce` equal to the sign-in's (or
/// `sub` to the sign-in's, on refresh), `azp` equal to `client_id` when
/// present, and present when `aud` names more than one party.
pub(super) fn check_id_token(
    claims: &Claims,
    from: IdTokenFrom<'_>,
    client_id: &str,
) -> Result<(), BearerProblem> {
    use subtle::ConstantTimeEq;
    // OIDC Core 2: `sub` and `iat` are required in an ID token.
    for required in ["sub", "iat"] {
        if !claims.contains_key(required) {
            return Err(missing(required));
        }
    }
    match from {
        IdTokenFrom::SignIn { nonce } => match claims.get("nonce") {
            None => return Err(missing("nonce")),
            Some(Value::String(sent)) if bool::from(sent.as_bytes().ct_eq(nonce.as_bytes())) => {}
            Some(Value::String(_)) => return Err(BearerProblem::WrongNonce),
            Some(_) => return Err(BearerProblem::BadClaim("nonce".into())),
        },
        IdTokenFrom::Refresh { subject } => match claims.get("sub") {
            Some(Value::String(sub)) if sub == subject => {}
            Some(Value::String(_)) => return Err(BearerProblem::WrongSubject),
            _ => return Err(BearerProblem::BadClaim("sub".into())),
        },
    }
    let several_audiences =
        matches!(claims.get("aud"), Some(Value::Array(items)) if items.len() > 1);
    match claims.get("azp") {
        None if several_audiences => Err(BearerProblem::WrongAuthorizedParty),
        None => Ok(()),
        Some(Value::String(azp)) if azp == client_id => Ok(()),
        Some(_) => Err(BearerProblem::WrongAuthorizedParty),
    }
}

fn missing(name: &str) -> BearerProblem {
    BearerProblem::MissingClaim(name.into())
}

/// A NumericDate claim (seconds since the epoch, possibly fractional).
fn numeric_date(claims: &Claims, name: &str) -> Result<Option<f64>, BearerProblem> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|v| v.is_finite())
            .map(Some)
            .ok_or_else(|| BearerProblem::BadClaim(name.into())),
        Some(_) => Err(BearerProblem::BadClaim(name.into())),
    }
}

fn seconds(time: SystemTime) -> f64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => after.as_secs_f64(),
        Err(before) => -before.duration().as_secs_f64(),
    }
}

/// `exp` as a time, capped so that `expires_at` arithmetic cannot overflow.
fn expiry(exp: f64, now: SystemTime) -> SystemTime {
    let cap = now + MAX_SESSION_TTL;
    Duration::try_from_secs_f64(exp)
        .ok()
        .and_then(|since| UNIX_EPOCH.checked_add(since))
        .map_or(cap, |at| at.min(cap))
}

#[cfg(test)]
mod tests {
    use super::super::tests::settings;
    use super::*;
    use serde_json::json;

    const NOW: u64 = 1_800_000_000;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn claims(value: Value) -> Claims {
        value.as_object().unwrap().clone()
    }

    fn base() -> Value {
        json!({"iss": "https://issuer.test", "aud": "api", "exp": NOW + 300, "sub": "u1"})
    }

    fn with(changes: Value) -> Claims {
        let mut all = claims(base());
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                all.remove(k);
            } else {
                all.insert(k.clone(), v.clone());
            }
        }
        all
    }

    fn check_now(claims: &Claims) -> Result<SystemTime, BearerProblem> {
        check(claims, &settings(), at(NOW))
    }

    #[test]
    fn a_good_token_passes_with_its_expiry() {
        assert_eq!(check_now(&with(json!({}))), Ok(at(NOW + 300)));
        let aud_list = with(json!({"aud": ["other", "api"], "iat": NOW, "nbf": NOW - 5}));
        assert!(check_now(&aud_list).is_ok());
        let fractional = with(json!({"exp": (NOW + 10) as f64 + 0.5}));
        assert!(check_now(&fractional).is_ok());
    }

    #[test]
    fn times_are_checked_with_the_leeway() {
        // settings(): a 30 s leeway.
        let cases = [
            (json!({"exp": NOW - 31}), Err(BearerProblem::Expired)),
            (json!({"exp": NOW - 30}), Err(BearerProblem::Expired)),
            (json!({"exp": NOW - 29}), Ok(at(NOW - 29))),
            (json!({"nbf": NOW + 31}), Err(BearerProblem::NotYetValid)),
            (json!({"nbf": NOW + 30}), Ok(at(NOW + 300))),
            (json!({"iat": NOW + 31}), Err(BearerProblem::IssuedInFuture)),
            (json!({"iat": NOW + 30}), Ok(at(NOW + 300))),
            (json!({"exp": null}), Err(missing("exp"))),
            (
                json!({"exp": "soon"}),
                Err(BearerProblem::BadClaim("exp".into())),
            ),
            (
                json!({"nbf": true}),
                Err(BearerProblem::BadClaim("nbf".into())),
            ),
            (json!({"exp": 1e300}), Ok(at(NOW) + MAX_SESSION_TTL)),
        ];
        for (changes, expected) in cases {
            assert_eq!(check_now(&with(changes.clone())), expected, "{changes}");
        }
    }

    #[test]
    fn issuer_and_audience_must_be_ours() {
        let cases = [
            (
                json!({"iss": "https://issuer.test/"}),
                BearerProblem::WrongIssuer,
            ),
            (json!({"iss": null}), missing("iss")),
            (
                json!({"iss": ["https://issuer.test"]}),
                BearerProblem::BadClaim("iss".into()),
            ),
            (json!({"aud": "API"}), BearerProblem::WrongAudience),
            (json!({"aud": []}), BearerProblem::WrongAudience),
            (json!({"aud": ["x", "y"]}), BearerProblem::WrongAudience),
            (
                json!({"aud": ["api", 7]}),
                BearerProblem::BadClaim("aud".into()),
            ),
            (
                json!({"aud": {"api": true}}),
                BearerProblem::BadClaim("aud".into()),
            ),
            (json!({"aud": null}), missing("aud")),
        ];
        for (changes, expected) in cases {
            assert_eq!(
                check_now(&with(changes.clone())),
                Err(expected),
                "{changes}"
            );
        }
    }

    #[test]
    fn claims_are_found_by_name_or_dotted_path() {
        let c = claims(json!({
            "realm_access": {"roles": ["a"]},
            "https://example.com/groups": ["g"],
            "a.b": 1,
            "a": {"b": 2}
        }));
        assert_eq!(claim(&c, "realm_access.roles"), Some(&json!(["a"])));
        assert_eq!(claim(&c, "https://example.com/groups"), Some(&json!(["g"])));
        assert_eq!(claim(&c, "a.b"), Some(&json!(1)), "the exact name first");
        assert_eq!(claim(&c, "realm_access.nothing"), None);
        assert_eq!(claim(&c, "realm_access.roles.x"), None);
    }

    const SIGN_IN: IdTokenFrom<'static> = IdTokenFrom::SignIn { nonce: "n-123" };

    #[test]
    fn a_refreshed_id_token_names_the_same_subject() {
        let refresh = |changes: Value| {
            let mut claims = with(changes);
            claims.entry("iat").or_insert(json!(NOW));
            check_id_token(&claims, IdTokenFrom::Refresh { subject: "42" }, "api")
        };
        assert_eq!(refresh(json!({"sub": "42"})), Ok(()));
        // A nonce in a refreshed token is not ours to check (12.2).
        assert_eq!(refresh(json!({"sub": "42", "nonce": "any"})), Ok(()));
        assert_eq!(
            refresh(json!({"sub": "43"})),
            Err(BearerProblem::WrongSubject)
        );
        assert_eq!(
            refresh(json!({"sub": 42})),
            Err(BearerProblem::BadClaim("sub".into()))
        );
        assert_eq!(
            refresh(json!({"sub": "42", "azp": "other"})),
            Err(BearerProblem::WrongAuthorizedParty)
        );
    }

    #[test]
    fn an_id_token_carries_its_sign_ins_nonce_and_names_this_client() {
        let ok = |changes: Value| {
            let mut claims = with(changes);
            claims.entry("iat").or_insert(json!(NOW));
            check_id_token(&claims, SIGN_IN, "api")
        };
        let mut no_iat = with(json!({"nonce": "n-123"}));
        no_iat.remove("iat");
        assert_eq!(
            check_id_token(&no_iat, SIGN_IN, "api"),
            Err(BearerProblem::MissingClaim("iat".into()))
        );
        assert_eq!(
            ok(json!({"nonce": "n-123", "sub": null})),
            Err(BearerProblem::MissingClaim("sub".into()))
        );
        assert_eq!(ok(json!({"nonce": "n-123"})), Ok(()));
        assert_eq!(ok(json!({"nonce": "n-123", "azp": "api"})), Ok(()));
        assert_eq!(
            ok(json!({})),
            Err(BearerProblem::MissingClaim("nonce".into()))
        );
        assert_eq!(
            ok(json!({"nonce": "n-124"})),
            Err(BearerProblem::WrongNonce)
        );
        assert_eq!(
            ok(json!({"nonce": 123})),
            Err(BearerProblem::BadClaim("nonce".into()))
        );
        assert_eq!(
            ok(json!({"nonce": "n-123", "azp": "other"})),
            Err(BearerProblem::WrongAuthorizedParty)
        );
        // Several audiences: the token must say it was issued to us.
        assert_eq!(
            ok(json!({"nonce": "n-123", "aud": ["api", "other"]})),
            Err(BearerProblem::WrongAuthorizedParty)
        );
        assert_eq!(
            ok(json!({"nonce": "n-123", "aud": ["api", "other"], "azp": "api"})),
            Ok(())
        );
    }
}
