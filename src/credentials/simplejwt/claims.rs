//! The claim checks of PyJWT 2.10's `decode` (in its order: iat, nbf,
//! exp, iss, aud, sub, jti) and of simplejwt's `Token.verify` (exp, the
//! id claim, the token type), each with the rule and message its source
//! has. Python's `int()` of a claim is mirrored by `python_int`.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::JwtSettings;

/// PyJWT's claim validation; `Err(true)` for an expired token
/// (`ExpiredSignatureError`), `Err(false)` for any other refusal.
pub(super) fn pyjwt(
    payload: &Map<String, Value>,
    settings: &JwtSettings,
    now: f64,
) -> Result<(), bool> {
    let leeway = settings.leeway;
    if let Some(iat) = payload.get("iat") {
        let iat = python_int(iat).ok_or(false)?;
        if iat as f64 > now + leeway {
            return Err(false);
        }
    }
    if let Some(nbf) = payload.get("nbf") {
        let nbf = python_int(nbf).ok_or(false)?;
        if nbf as f64 > now + leeway {
            return Err(false);
        }
    }
    if let Some(exp) = payload.get("exp") {
        let exp = python_int(exp).ok_or(false)?;
        if exp as f64 <= now - leeway {
            return Err(true);
        }
    }
    if let Some(issuer) = &settings.issuer {
        if payload.get("iss").and_then(Value::as_str) != Some(issuer.as_str()) {
            return Err(false);
        }
    }
    // simplejwt passes verify_aud only when AUDIENCE is set.
    if let Some(audience) = &settings.audience {
        let claims: Vec<&str> = match payload.get("aud") {
            Some(Value::String(aud)) if !aud.is_empty() => vec![aud.as_str()],
            Some(Value::Array(auds)) if !auds.is_empty() => {
                let strings: Option<Vec<&str>> = auds.iter().map(Value::as_str).collect();
                strings.ok_or(false)?
            }
            _ => return Err(false),
        };
        if !audience.iter().any(|aud| claims.contains(&aud.as_str())) {
            return Err(false);
        }
    }
    if payload.get("sub").is_some_and(|sub| !sub.is_string()) {
        return Err(false);
    }
    if payload.get("jti").is_some_and(|jti| !jti.is_string()) {
        return Err(false);
    }
    Ok(())
}

/// simplejwt's `Token.verify`: `check_exp`, the id claim, the type.
pub(super) fn simplejwt(
    payload: &Map<String, Value>,
    settings: &JwtSettings,
    class: super::TokenClass,
    now: f64,
) -> Result<(), Cow<'static, str>> {
    let Some(exp) = payload.get("exp") else {
        return Err("Token has no 'exp' claim".into());
    };
    // `datetime_from_epoch(exp) <= current_time - leeway`, unrounded.
    match exp.as_f64() {
        Some(exp) if exp > now - settings.leeway => {}
        Some(_) => return Err("Token 'exp' claim has expired".into()),
        None => return Err("Token is invalid".into()),
    }
    if let Some(jti) = &settings.jti_claim {
        if !payload.contains_key(jti) {
            return Err("Token has no id".into());
        }
    }
    if let Some(claim) = &settings.token_type_claim {
        match payload.get(claim) {
            None => return Err("Token has no type".into()),
            Some(Value::String(kind)) if kind == class.token_type() => {}
            Some(_) => return Err("Token has wrong type".into()),
        }
    }
    Ok(())
}

/// Python's `int(value)` for a JSON value: integers as they are, floats
/// truncated, booleans 0/1, strings of an optionally signed integer
/// (surrounding whitespace allowed); anything else (null, lists, other
/// strings) has no integer, and the token is refused.
fn python_int(value: &Value) -> Option<i64> {
    match value {
        Value::Bool(flag) => Some(i64::from(*flag)),
        Value::Number(number) => number.as_i64().or_else(|| {
            let float = number.as_f64()?;
            (float.is_finite() && float.abs() < 9.0e18).then(|| float.trunc() as i64)
        }),
        Value::String(text) => {
            let text = text.trim();
            let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            text.parse().ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_int_of_claims() {
        assert_eq!(python_int(&json!(12)), Some(12));
        assert_eq!(python_int(&json!(12.9)), Some(12));
        assert_eq!(python_int(&json!(-1.5)), Some(-1));
        assert_eq!(python_int(&json!(true)), Some(1));
        assert_eq!(python_int(&json!(" 42 ")), Some(42));
        assert_eq!(python_int(&json!("4.2")), None);
        assert_eq!(python_int(&json!(null)), None);
        assert_eq!(python_int(&json!([1])), None);
    }
}
