//! The compact JWS as it arrives, before any key is looked at: its shape
//! (three base64url parts), its size, and the header's `alg` and `kid`.
//! `alg` must be one of the allow-list before anything else happens, so
//! `none` and HS* (a public key used as an HMAC secret) never get further.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::Algorithm;
use serde::Deserialize;

use super::problem::BearerProblem;

/// The longest token read. Real access tokens are a few KiB; a longer one
/// is refused before any decoding work is spent on it.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// What the header says about how to verify the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TokenHeader {
    pub alg: Algorithm,
    pub kid: Option<String>,
}

/// The header fields read. Unknown fields (`typ`, `x5t`, ...) are ignored;
/// a duplicated field is an error (serde refuses it), so no field can be
/// read one way here and another way by the issuer.
#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    /// RFC 7515 §4.1.11: extensions the verifier must understand. We
    /// understand none, so a token that lists any is refused.
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

/// Reads and checks the header of `token` against `allowed`.
pub(super) fn header(token: &str, allowed: &[Algorithm]) -> Result<TokenHeader, BearerProblem> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(BearerProblem::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(BearerProblem::Malformed);
    };
    let well_formed = |part: &str| !part.is_empty() && is_base64url(part);
    if !well_formed(header) {
        return Err(BearerProblem::Malformed);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| BearerProblem::Malformed)?;
    let raw: RawHeader = serde_json::from_slice(&bytes).map_err(|_| BearerProblem::Malformed)?;
    // `none`, and any name jsonwebtoken does not know, is simply not
    // allowed; said before the empty signature an unsecured JWT has makes
    // it malformed, as it is the more useful answer.
    let alg = raw
        .alg
        .parse::<Algorithm>()
        .map_err(|_| BearerProblem::AlgorithmNotAllowed)?;
    if !allowed.contains(&alg) || is_symmetric(alg) {
        return Err(BearerProblem::AlgorithmNotAllowed);
    }
    if raw.crit.is_some() || !well_formed(payload) || !well_formed(signature) {
        return Err(BearerProblem::Malformed);
    }
    Ok(TokenHeader { alg, kid: raw.kid })
}

/// HS256/384/512: a shared secret, never something a public JWKS holds.
pub(super) fn is_symmetric(alg: Algorithm) -> bool {
    matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

fn is_base64url(part: &str) -> bool {
    part.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(json: &str) -> String {
        URL_SAFE_NO_PAD.encode(json)
    }

    const ALLOWED: &[Algorithm] = &[Algorithm::RS256, Algorithm::ES256];

    #[test]
    fn reads_alg_and_kid() {
        let token = format!(
            "{}.e30.c2ln",
            encode(r#"{"alg":"ES256","kid":"k1","typ":"JWT"}"#)
        );
        assert_eq!(
            header(&token, ALLOWED),
            Ok(TokenHeader {
                alg: Algorithm::ES256,
                kid: Some("k1".into())
            })
        );
    }

    #[test]
    fn none_hs_and_unlisted_algorithms_are_refused() {
        for alg in ["none", "None", "HS256", "RS384", "XX1", ""] {
            let token = format!("{}.e30.", encode(&format!(r#"{{"alg":"{alg}"}}"#)));
            assert_eq!(
                header(&token, ALLOWED),
                Err(BearerProblem::AlgorithmNotAllowed),
                "{alg}"
            );
        }
        // Even listed, HS256 is never used with the issuer's public keys.
        let token = format!("{}.e30.c2ln", encode(r#"{"alg":"HS256"}"#));
        assert_eq!(
            header(&token, &[Algorithm::HS256]),
            Err(BearerProblem::AlgorithmNotAllowed)
        );
    }

    #[test]
    fn shapes_that_are_not_a_compact_jws_are_malformed() {
        let good = encode(r#"{"alg":"ES256"}"#);
        for token in [
            String::new(),
            "abc".to_string(),
            format!("{good}.e30"),
            format!("{good}.e30."),
            format!("{good}.e30.c2ln.extra"),
            format!("{good}.e30=.c2ln"),
            format!("{good}.e+0.c2ln"),
            format!("{}.e30.c2ln", encode("not json")),
            format!("{}.e30.c2ln", encode(r#"{"kid":"x"}"#)),
            format!("{}.e30.c2ln", encode(r#"{"alg":"ES256","kid":7}"#)),
            format!("{}.e30.c2ln", encode(r#"{"alg":"ES256","alg":"none"}"#)),
            format!("{}.e30.c2ln", encode(r#"{"alg":"ES256","crit":["exp"]}"#)),
            format!("{good}.{}.c2ln", "A".repeat(MAX_TOKEN_BYTES)),
        ] {
            assert_eq!(
                header(&token, ALLOWED),
                Err(BearerProblem::Malformed),
                "{token:.80}"
            );
        }
    }
}
