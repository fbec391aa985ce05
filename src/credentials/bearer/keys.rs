//! The issuer's public keys, read from a JWKS document (RFC 7517): RSA
//! (`n`, `e`, at least 2048 bits), EC P-256 and P-384 (`x`, `y`) and OKP
//! Ed25519 (`x`). A key that cannot verify signatures (symmetric `oct`,
//! `use` other than `sig`, `key_ops` without `verify`, an `alg` its type
//! cannot have, an unsupported curve, malformed numbers) is skipped, and
//! so is a key that fails to parse: one odd key does not cost the others.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, KeyOperations, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

/// The most keys kept from one JWKS: issuers publish a handful; a token
/// without `kid` is tried against every fitting key, so this bounds that.
pub const MAX_KEYS: usize = 64;

/// The smallest RSA modulus accepted, bytes (2048 bits, as ring requires).
const MIN_RSA_MODULUS_BYTES: usize = 256;

/// What a key's type lets it verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyKind {
    Rsa,
    P256,
    P384,
    Ed25519,
}

/// One verification key from the JWKS.
pub(super) struct Key {
    pub kid: Option<String>,
    pub kind: KeyKind,
    /// The JWK's own `alg`, when it names one.
    pub alg: Option<Algorithm>,
    pub decoding: DecodingKey,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("kind", &self.kind)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl Key {
    /// True when this key may verify a token whose header says `kid` and
    /// `alg`: same `kid` (a token without one may use any key), a type
    /// that signs with `alg`, and no contradicting JWK `alg`.
    pub fn fits(&self, kid: Option<&str>, alg: Algorithm) -> bool {
        kid.is_none_or(|kid| self.kid.as_deref() == Some(kid))
            && kind_signs_with(self.kind, alg)
            && self.alg.is_none_or(|own| own == alg)
    }
}

/// Which algorithms a key type verifies. HS* never: a public key is not
/// an HMAC secret (algorithm confusion).
pub(super) fn kind_signs_with(kind: KeyKind, alg: Algorithm) -> bool {
    use Algorithm::*;
    match kind {
        KeyKind::Rsa => matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
        KeyKind::P256 => alg == ES256,
        KeyKind::P384 => alg == ES384,
        KeyKind::Ed25519 => alg == EdDSA,
    }
}

#[derive(Deserialize)]
struct RawSet {
    keys: Vec<serde_json::Value>,
}

/// The usable keys of a JWKS document and how many were skipped; `Err`
/// when the document is not a JWKS at all.
pub(super) fn parse_jwks(body: &[u8]) -> Result<(Vec<Key>, usize), String> {
    let set: RawSet = serde_json::from_slice(body)
        .map_err(|e| format!("not a JWKS document (a JSON object with \"keys\"): {e}"))?;
    let total = set.keys.len();
    let keys: Vec<Key> = set
        .keys
        .into_iter()
        .filter_map(|value| serde_json::from_value::<Jwk>(value).ok())
        .filter_map(|jwk| key(&jwk))
        .take(MAX_KEYS)
        .collect();
    let skipped = total - keys.len();
    Ok((keys, skipped))
}

/// One JWK as a verification key, or `None` when it cannot be one.
pub(super) fn key(jwk: &Jwk) -> Option<Key> {
    let common = &jwk.common;
    if common
        .public_key_use
        .as_ref()
        .is_some_and(|u| *u != PublicKeyUse::Signature)
    {
        return None;
    }
    if common
        .key_operations
        .as_ref()
        .is_some_and(|ops| !ops.contains(&KeyOperations::Verify))
    {
        return None;
    }
    let (kind, decoding) = match &jwk.algorithm {
        AlgorithmParameters::RSA(rsa) => {
            // Leading zero bytes (Java's BigInteger writes one) are
            // dropped: ring refuses them, and they change no number.
            let n = decode(&rsa.n)?;
            let e = decode(&rsa.e)?;
            let n = &n[n.iter().take_while(|b| **b == 0).count()..];
            let e = &e[e.iter().take_while(|b| **b == 0).count()..];
            if n.len() < MIN_RSA_MODULUS_BYTES || e.is_empty() {
                return None;
            }
            (KeyKind::Rsa, DecodingKey::from_rsa_raw_components(n, e))
        }
        AlgorithmParameters::EllipticCurve(ec) => {
            let (kind, size) = match ec.curve {
                EllipticCurve::P256 => (KeyKind::P256, 32),
                EllipticCurve::P384 => (KeyKind::P384, 48),
                _ => return None,
            };
            let (x, y) = (trimmed(&ec.x), trimmed(&ec.y));
            if decode(x)?.len() != size || decode(y)?.len() != size {
                return None;
            }
            (kind, DecodingKey::from_ec_components(x, y).ok()?)
        }
        AlgorithmParameters::OctetKeyPair(okp) => {
            let x = trimmed(&okp.x);
            if okp.curve != EllipticCurve::Ed25519 || decode(x)?.len() != 32 {
                return None;
            }
            (KeyKind::Ed25519, DecodingKey::from_ed_components(x).ok()?)
        }
        // A shared secret: never a key anyone may fetch.
        AlgorithmParameters::OctetKey(_) => return None,
    };
    let alg = match common.key_algorithm {
        None => None,
        Some(own) => {
            let alg = signature_algorithm(own)?;
            if !kind_signs_with(kind, alg) {
                return None;
            }
            Some(alg)
        }
    };
    Some(Key {
        kid: common.key_id.clone(),
        kind,
        alg,
        decoding,
    })
}

/// The JWS algorithm a JWK `alg` names; `None` for encryption algorithms.
fn signature_algorithm(own: KeyAlgorithm) -> Option<Algorithm> {
    use KeyAlgorithm as K;
    Some(match own {
        K::HS256 => Algorithm::HS256,
        K::HS384 => Algorithm::HS384,
        K::HS512 => Algorithm::HS512,
        K::ES256 => Algorithm::ES256,
        K::ES384 => Algorithm::ES384,
        K::RS256 => Algorithm::RS256,
        K::RS384 => Algorithm::RS384,
        K::RS512 => Algorithm::RS512,
        K::PS256 => Algorithm::PS256,
        K::PS384 => Algorithm::PS384,
        K::PS512 => Algorithm::PS512,
        K::EdDSA => Algorithm::EdDSA,
        K::RSA1_5 | K::RSA_OAEP | K::RSA_OAEP_256 => return None,
    })
}

/// Some issuers pad their base64url; RFC 7518 says not to, so tolerate it.
fn trimmed(text: &str) -> &str {
    text.trim_end_matches('=')
}

fn decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(trimmed(text)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The modulus and exponent of a 2048-bit RSA public key (made with
    /// Python's `cryptography`).
    const RSA_N: &str = "uYJJoRhQ1iTrRx1uh42o-uIPBna8iqbXIXLNmVJ-vgXpI8Cw00jwBiuCSOKzk16ftTk092nxvKEQcqpSNLoEnvSW5DDss6x6RhqJhGq8Rxjq945Dm80LBXA0ecw5vTRgOoccxmXZ_kpvg5xdNsh-_iUs0fhZV4MXP1xz0xyllqtKQmlwaTVyRaUT6eEAqAF2dULRHhzmgp5VODOGT4-E6yXT45343f-XGRxTidoDT1rA9XmAHpKRwpi4LrreIqwKwX1ax8a0nKB9mG9kN2p_eDE5khGt-FvAxEzrBkzHlINgOE3bkg3zJq45vOZJiQs1x3F553du5V5Zg5W4Ju5feQ";
    const RSA_E: &str = "AQAB";
    /// A P-256 point (from RFC 7517's example).
    const EC_X: &str = "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4";
    const EC_Y: &str = "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM";
    /// An Ed25519 public key (from RFC 8037's example).
    const ED_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

    fn keys(json: &str) -> Vec<Key> {
        parse_jwks(json.as_bytes()).unwrap().0
    }

    #[test]
    fn rsa_ec_and_ed25519_keys_are_read() {
        let set = format!(
            r#"{{"keys":[
            {{"kty":"RSA","kid":"r","use":"sig","alg":"RS256","n":"{RSA_N}","e":"{RSA_E}"}},
            {{"kty":"EC","kid":"e","crv":"P-256","x":"{EC_X}","y":"{EC_Y}"}},
            {{"kty":"OKP","kid":"d","crv":"Ed25519","x":"{ED_X}","key_ops":["verify"]}}
        ]}}"#
        );
        let keys = keys(&set);
        let kinds: Vec<_> = keys.iter().map(|k| (k.kid.as_deref(), k.kind)).collect();
        assert_eq!(
            kinds,
            [
                (Some("r"), KeyKind::Rsa),
                (Some("e"), KeyKind::P256),
                (Some("d"), KeyKind::Ed25519)
            ]
        );
        assert!(keys[0].fits(Some("r"), Algorithm::RS256));
        assert!(
            !keys[0].fits(Some("r"), Algorithm::PS256),
            "its alg says RS256"
        );
        assert!(!keys[0].fits(Some("e"), Algorithm::RS256));
        assert!(!keys[0].fits(None, Algorithm::HS256));
        assert!(keys[1].fits(None, Algorithm::ES256));
        assert!(!keys[1].fits(None, Algorithm::ES384));
        assert!(keys[2].fits(Some("d"), Algorithm::EdDSA));
    }

    #[test]
    fn keys_that_cannot_verify_are_skipped_and_the_rest_kept() {
        let short_n = &RSA_N[..170];
        let set = format!(
            r#"{{"keys":[
            {{"kty":"oct","kid":"s","k":"c2VjcmV0"}},
            {{"kty":"RSA","kid":"enc","use":"enc","n":"{RSA_N}","e":"{RSA_E}"}},
            {{"kty":"RSA","kid":"oaep","alg":"RSA-OAEP","n":"{RSA_N}","e":"{RSA_E}"}},
            {{"kty":"RSA","kid":"hs","alg":"HS256","n":"{RSA_N}","e":"{RSA_E}"}},
            {{"kty":"RSA","kid":"es","alg":"ES256","n":"{RSA_N}","e":"{RSA_E}"}},
            {{"kty":"RSA","kid":"small","n":"{short_n}","e":"{RSA_E}"}},
            {{"kty":"RSA","kid":"ops","key_ops":["encrypt"],"n":"{RSA_N}","e":"{RSA_E}"}},
            {{"kty":"EC","kid":"p521","crv":"P-521","x":"{EC_X}","y":"{EC_Y}"}},
            {{"kty":"EC","kid":"p384","crv":"P-384","x":"{EC_X}","y":"{EC_Y}"}},
            {{"kty":"EC","kid":"bad","crv":"P-256","x":"!!","y":"{EC_Y}"}},
            {{"kty":"OKP","kid":"x","crv":"X25519","x":"{ED_X}"}},
            {{"kty":"EC","kid":"es512","alg":"ES512","crv":"P-256","x":"{EC_X}","y":"{EC_Y}"}},
            {{"kty":"XYZ"}},
            "not an object",
            {{"kty":"EC","kid":"ok","crv":"P-256","x":"{EC_X}=","y":"{EC_Y}"}}
        ]}}"#
        );
        let (keys, skipped) = parse_jwks(set.as_bytes()).unwrap();
        let kids: Vec<_> = keys.iter().map(|k| k.kid.as_deref()).collect();
        assert_eq!(kids, [Some("ok")]);
        assert_eq!(skipped, 14);
    }

    #[test]
    fn a_document_that_is_not_a_jwks_is_an_error() {
        for body in ["", "[]", "{}", r#"{"keys":{}}"#, "<html>"] {
            assert!(parse_jwks(body.as_bytes()).is_err(), "{body}");
        }
        assert_eq!(parse_jwks(br#"{"keys":[]}"#).unwrap().0.len(), 0);
    }
}
