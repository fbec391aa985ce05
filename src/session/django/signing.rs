//! `django.core.signing` and `django.utils.crypto.salted_hmac`, for reading
//! what Django signed: the `session_data` of its database sessions
//! (`signing.loads`) and the `_auth_user_hash` it keeps in them. Keys are
//! derived once, when the config is compiled, for the current
//! `SECRET_KEY` and each of `SECRET_KEY_FALLBACKS`.

use std::io::Read;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use ring::{digest, hmac};
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

/// Django's `b64_encode`/`b64_decode`: URL-safe, padding stripped on the
/// way out and optional on the way in.
const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// `SessionBase.key_salt` for the `db` and `cached_db` backends (both
/// classes are named `SessionStore`).
pub const SESSION_SALT: &str = "django.contrib.sessions.SessionStore";
/// The salt of `AbstractBaseUser.get_session_auth_hash`.
pub const AUTH_HASH_SALT: &str =
    "django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash";

/// The largest session dictionary inflated from its zlib form. Django
/// signed it, so it is not hostile; this bounds a mistake, not an attack.
const MAX_SESSION_JSON: u64 = 1 << 20;

/// `salted_hmac(key_salt, value, secret, algorithm="sha256")`'s key:
/// `sha256(key_salt + secret)`, then HMAC-SHA256 with it.
pub fn salted_hmac_key(key_salt: &str, secret: &[u8]) -> hmac::Key {
    let mut context = digest::Context::new(&digest::SHA256);
    context.update(key_salt.as_bytes());
    context.update(secret);
    hmac::Key::new(hmac::HMAC_SHA256, context.finish().as_ref())
}

/// Keys for one purpose, current `SECRET_KEY` first, then each fallback,
/// in the order Django tries them.
#[derive(Clone)]
pub struct KeyRing(Vec<hmac::Key>);

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyRing({} keys)", self.0.len())
    }
}

impl KeyRing {
    /// Keys for `salt` from `secret_key` and `fallbacks`.
    pub fn new(salt: &str, secret_key: &[u8], fallbacks: &[Vec<u8>]) -> KeyRing {
        KeyRing(
            std::iter::once(secret_key)
                .chain(fallbacks.iter().map(Vec::as_slice))
                .map(|secret| salted_hmac_key(salt, secret))
                .collect(),
        )
    }

    /// The `Signer` keys for data signed with `salt` (`Signer` appends
    /// "signer" to the salt before deriving).
    pub fn for_signer(salt: &str, secret_key: &[u8], fallbacks: &[Vec<u8>]) -> KeyRing {
        KeyRing::new(&format!("{salt}signer"), secret_key, fallbacks)
    }

    /// True when `expected_hex` is `salted_hmac(...).hexdigest()` of
    /// `value` under any key (`constant_time_compare`, as Django does).
    pub fn hex_digest_matches(&self, value: &[u8], expected_hex: &str) -> bool {
        self.0.iter().any(|key| {
            let tag = hmac::sign(key, value);
            let hex = hex_lower(tag.as_ref());
            bool::from(hex.as_bytes().ct_eq(expected_hex.as_bytes()))
        })
    }

    /// `Signer.unsign`: the value before the last `:` when the signature
    /// after it is the base64 HMAC of that value under any key.
    fn unsign<'s>(&self, signed: &'s str) -> Result<&'s str, SigningError> {
        let (value, signature) = signed.rsplit_once(':').ok_or(SigningError::BadSignature)?;
        let matches = self.0.iter().any(|key| {
            let expected = B64.encode(hmac::sign(key, value.as_bytes()).as_ref());
            bool::from(expected.as_bytes().ct_eq(signature.as_bytes()))
        });
        if matches {
            Ok(value)
        } else {
            Err(SigningError::BadSignature)
        }
    }

    /// `signing.loads(data, salt=..., serializer=JSONSerializer)` with no
    /// `max_age` (how database sessions are read): verifies the signature,
    /// drops the `TimestampSigner`'s timestamp, inflates a `.`-prefixed
    /// (compressed) payload and parses the JSON object.
    pub fn loads(&self, signed: &str) -> Result<Map<String, Value>, SigningError> {
        let timestamped = self.unsign(signed)?;
        let (payload, timestamp) = timestamped
            .rsplit_once(':')
            .ok_or(SigningError::Malformed("no timestamp"))?;
        if !is_base62_integer(timestamp) {
            return Err(SigningError::Malformed("timestamp is not base62"));
        }
        let (compressed, payload) = match payload.strip_prefix('.') {
            Some(rest) => (true, rest),
            None => (false, payload),
        };
        let mut data = B64
            .decode(payload)
            .map_err(|_| SigningError::Malformed("payload is not base64"))?;
        if compressed {
            let mut inflated = Vec::new();
            flate2::read::ZlibDecoder::new(data.as_slice())
                .take(MAX_SESSION_JSON + 1)
                .read_to_end(&mut inflated)
                .map_err(|_| SigningError::Malformed("payload is not zlib"))?;
            if inflated.len() as u64 > MAX_SESSION_JSON {
                return Err(SigningError::Malformed("payload is too large"));
            }
            data = inflated;
        }
        // JSONSerializer decodes as Latin-1 before parsing.
        let text: String = data.iter().map(|&b| char::from(b)).collect();
        match serde_json::from_str(&text) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(SigningError::Malformed("payload is not a JSON object")),
        }
    }

    /// `signing.dumps(obj, salt=..., compress=True)` with the current key
    /// (for tests and tools; the gateway never writes Django's sessions).
    pub fn dumps(&self, object: &Map<String, Value>, timestamp: u64) -> String {
        let json = ascii_json(&serde_json::to_string(object).unwrap_or_default());
        let mut encoder =
            flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        let compressed = std::io::Write::write_all(&mut encoder, json.as_bytes())
            .and_then(|()| encoder.finish())
            .ok()
            .filter(|c| c.len() < json.len().saturating_sub(1));
        let payload = match compressed {
            Some(c) => format!(".{}", B64.encode(c)),
            None => B64.encode(json.as_bytes()),
        };
        let value = format!("{payload}:{}", base62(timestamp));
        let signature = self
            .0
            .first()
            .map(|key| B64.encode(hmac::sign(key, value.as_bytes()).as_ref()))
            .unwrap_or_default();
        format!("{value}:{signature}")
    }
}

/// Why signed data was not accepted.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    /// Django logs "Session data corrupted" for this one.
    #[error("bad signature")]
    BadSignature,
    #[error("signed but unreadable: {0}")]
    Malformed(&'static str),
}

/// JSON as Python's `json.dumps` writes it (`ensure_ascii=True`): every
/// character past ASCII as `\uXXXX`, astral ones as a surrogate pair.
/// Non-ASCII can only stand inside strings, where the escape means the same.
fn ascii_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// What `b62_decode` accepts without raising.
fn is_base62_integer(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn base62(mut n: u64) -> String {
    let mut digits = Vec::new();
    loop {
        digits.push(BASE62[(n % 62) as usize]);
        n /= 62;
        if n == 0 {
            break;
        }
    }
    digits.reverse();
    String::from_utf8(digits).unwrap_or_default()
}

fn hex_lower(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions(secret: &str, fallbacks: &[&str]) -> KeyRing {
        let fallbacks: Vec<Vec<u8>> = fallbacks.iter().map(|f| f.as_bytes().to_vec()).collect();
        KeyRing::for_signer(SESSION_SALT, secret.as_bytes(), &fallbacks)
    }

    #[test]
    fn round_trip_plain_and_compressed() {
        let keys = sessions("s3cret", &[]);
        let mut small = Map::new();
        small.insert("a".into(), Value::from(1));
        let signed = keys.dumps(&small, 1_700_000_000);
        assert!(!signed.starts_with('.'));
        assert_eq!(keys.loads(&signed).unwrap(), small);
        let mut big = Map::new();
        big.insert("k".into(), Value::from("x".repeat(500)));
        let signed = keys.dumps(&big, 1_700_000_000);
        assert!(signed.starts_with('.'));
        assert_eq!(keys.loads(&signed).unwrap(), big);
    }

    #[test]
    fn tampering_and_other_keys_are_refused_and_fallbacks_verify() {
        let old = sessions("old-key", &[]);
        let mut map = Map::new();
        map.insert("_auth_user_id".into(), Value::from("1"));
        let signed = old.dumps(&map, 1);
        assert_eq!(
            sessions("new-key", &[]).loads(&signed),
            Err(SigningError::BadSignature)
        );
        assert!(sessions("new-key", &["old-key"]).loads(&signed).is_ok());
        let mut tampered = signed.clone().into_bytes();
        tampered[2] ^= 1;
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(old.loads(&tampered), Err(SigningError::BadSignature));
        assert_eq!(old.loads("no-separator"), Err(SigningError::BadSignature));
        assert_eq!(old.loads(""), Err(SigningError::BadSignature));
    }

    /// Made by Django 5.2.19 with SECRET_KEY = "vector-secret":
    /// `signing.dumps(d, salt=SESSION_SALT, compress=True)` and
    /// `salted_hmac(AUTH_HASH_SALT, password, algorithm="sha256")`.
    #[test]
    fn known_answers_from_django() {
        let signed = ".eJyrVopPLC3JiC8tTi2Kz0xRslIyVNJBFktKTM5OzQNJpGQl5qXn6yXn55UUZSbpgZToQWWL9XzzU1JznKBqUQzISCzOAOquUKoFAD_nJsU:1xV0xG:Qo9DeYWQq3XhSRovwpv-bV_tOHhvhOW3dFprJXdCysE";
        let map = sessions("vector-secret", &[]).loads(signed).unwrap();
        assert_eq!(map["_auth_user_id"], "1");
        assert_eq!(
            map["_auth_user_backend"],
            "django.contrib.auth.backends.ModelBackend"
        );
        assert_eq!(
            sessions("other", &["vector-secret"]).loads(signed).unwrap(),
            map
        );
        assert_eq!(
            sessions("other", &[]).loads(signed),
            Err(SigningError::BadSignature)
        );
        let hashes = KeyRing::new(AUTH_HASH_SALT, b"vector-secret", &[]);
        assert!(hashes.hex_digest_matches(
            b"pbkdf2_sha256$1000000$abc$def",
            "44874dafb10552cbdbbf2ad18cf91baaebfa1c5cdd670c6ede8ab4bcd0dd1bb9"
        ));
        assert!(!hashes.hex_digest_matches(
            b"pbkdf2_sha256$1000000$abc$changed",
            "44874dafb10552cbdbbf2ad18cf91baaebfa1c5cdd670c6ede8ab4bcd0dd1bb9"
        ));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let keys = sessions("k", &[]);
        for input in [":", "::", "a:b:c", ".:0:x", "\u{0}:\u{0}", "é:é:é"] {
            assert!(keys.loads(input).is_err(), "{input:?}");
        }
    }

    /// The fuzzer's first find (django_session_data): `dumps` wrote UTF-8,
    /// which `loads` (Latin-1, as Django) read back as another string.
    /// Django escapes non-ASCII; so does `dumps` now.
    #[test]
    fn non_ascii_values_round_trip_as_django_writes_them() {
        let keys = sessions("k", &[]);
        for value in ["\u{10c}", "zo\u{eb}", "\u{1f600}", "a\"b\\c"] {
            let mut dict = Map::new();
            dict.insert("_auth_user_id".into(), Value::from(value));
            let signed = keys.dumps(&dict, 7);
            assert!(signed.is_ascii(), "{signed}");
            assert_eq!(keys.loads(&signed).unwrap(), dict, "{value:?}");
        }
        assert_eq!(
            ascii_json("\"\u{10c}\u{1f600}\""),
            "\"\\u010c\\ud83d\\ude00\""
        );
    }

    #[test]
    fn base62_like_django() {
        assert_eq!(base62(0), "0");
        assert_eq!(base62(61), "z");
        assert_eq!(base62(62), "10");
        assert!(is_base62_integer("1qZ") && is_base62_integer("-1"));
        assert!(!is_base62_integer("") && !is_base62_integer("-") && !is_base62_integer("a_b"));
    }
}
