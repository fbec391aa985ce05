//! Session ids: 32 characters of `a-z0-9` from a CSPRNG, the same shape as
//! Django's session keys. Anything else in the cookie is anonymous before
//! any store is asked (SECURITY_CASES E27).

use std::fmt;

use rand::Rng;

const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";
pub const SESSION_ID_LEN: usize = 32;

/// A well-formed session id. `Debug` never prints it: ids are bearer secrets.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId([u8; SESSION_ID_LEN]);

impl SessionId {
    /// A fresh id from the thread-local CSPRNG (ChaCha, seeded by the OS).
    pub fn generate() -> SessionId {
        let mut rng = rand::rng();
        let mut id = [0u8; SESSION_ID_LEN];
        for byte in &mut id {
            // random_range samples without modulo bias.
            *byte = ALPHABET[rng.random_range(0..ALPHABET.len())];
        }
        SessionId(id)
    }

    /// Accepts exactly 32 chars of `a-z0-9`; anything else is `None`.
    pub fn parse(text: &str) -> Option<SessionId> {
        let bytes: [u8; SESSION_ID_LEN] = text.as_bytes().try_into().ok()?;
        bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            .then_some(SessionId(bytes))
    }

    /// An id derived from a secret (an API token's key): SHA-256 over
    /// `domain` and `secret`, in the same alphabet, so it can key the
    /// same stores and caches while the secret itself is never kept.
    pub fn digest_of(domain: &[u8], secret: &[u8]) -> SessionId {
        let mut context = ring::digest::Context::new(&ring::digest::SHA256);
        context.update(domain);
        context.update(&[0]);
        context.update(secret);
        let digest = context.finish();
        let mut id = [0u8; SESSION_ID_LEN];
        for (byte, source) in id.iter_mut().zip(digest.as_ref()) {
            // 256 is not a multiple of 36: a slight bias, harmless for a
            // digest (its entropy is the secret's, not this mapping's).
            *byte = ALPHABET[usize::from(*source) % ALPHABET.len()];
        }
        SessionId(id)
    }

    pub fn as_str(&self) -> &str {
        // Invariant: only ASCII from ALPHABET is ever stored.
        std::str::from_utf8(&self.0).expect("session ids are ASCII")
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionId(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_and_differ() {
        let a = SessionId::generate();
        let b = SessionId::generate();
        assert_ne!(a, b);
        assert_eq!(SessionId::parse(a.as_str()), Some(a));
    }

    #[test]
    fn only_the_django_shape_parses() {
        assert!(SessionId::parse("mph3eugf0gh5hyzc8glvrt79r2sd6xu6").is_some());
        for bad in [
            "",
            "mph3eugf0gh5hyzc8glvrt79r2sd6xu",
            "mph3eugf0gh5hyzc8glvrt79r2sd6xu6x",
            "MPH3EUGF0GH5HYZC8GLVRT79R2SD6XU6",
            "mph3eugf0gh5hyzc8glvrt79r2sd6xu-",
            "mph3eugf0gh5hyzc8glvrt79r2sd6x\u{e9}",
        ] {
            assert!(SessionId::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn debug_redacts() {
        assert_eq!(
            format!("{:?}", SessionId::generate()),
            "SessionId(<redacted>)"
        );
    }
}
