//! A sign-in in progress, bound to the browser that started it: `state`,
//! `nonce`, the PKCE verifier, where to go afterwards and the redirect URI
//! used, sealed (ChaCha20-Poly1305, so neither read nor forged) into a
//! short-lived cookie. Every replica derives the same key from the client
//! secret, so the callback may land on any of them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use serde::{Deserialize, Serialize};

/// The cookie that carries a sealed `Pending`.
pub const COOKIE_NAME: &str = "portcullis_oidc";

/// How long a sign-in may take at the provider.
pub const LIFETIME: Duration = Duration::from_secs(600);

/// The most a sealed cookie may be: larger is not ours.
const MAX_SEALED: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// The `state` sent to the provider; the callback must bring it back.
    pub state: String,
    /// The `nonce` sent; the ID token must carry it.
    pub nonce: String,
    /// PKCE's `code_verifier` (RFC 7636), sent with the code.
    pub verifier: String,
    /// A local path (already checked) to go to once signed in.
    pub next: String,
    /// The `redirect_uri` sent, which the token request must repeat.
    pub redirect_uri: String,
    /// Seconds since the epoch after which this sign-in is refused.
    pub expires: u64,
}

impl Pending {
    /// A new sign-in: fresh random `state`, `nonce` and verifier (256 bits
    /// each).
    pub fn start(next: &str, redirect_uri: &str, now: SystemTime) -> Pending {
        Pending {
            state: random_token(),
            nonce: random_token(),
            verifier: random_token(),
            next: next.to_string(),
            redirect_uri: redirect_uri.to_string(),
            expires: seconds(now + LIFETIME),
        }
    }

    /// PKCE's S256 `code_challenge`: base64url(SHA-256(verifier)).
    pub fn challenge(&self) -> String {
        let digest = ring::digest::digest(&ring::digest::SHA256, self.verifier.as_bytes());
        URL_SAFE_NO_PAD.encode(digest.as_ref())
    }

    pub fn expired(&self, now: SystemTime) -> bool {
        seconds(now) >= self.expires
    }
}

/// Seals and opens `Pending` cookies with one key.
pub struct Sealer {
    key: LessSafeKey,
}

impl Sealer {
    /// The key derived from the client secret (SHA-256 with a label, so
    /// the secret itself is never the key).
    pub fn new(client_secret: &str) -> Sealer {
        let mut context = ring::digest::Context::new(&ring::digest::SHA256);
        context.update(b"portcullis oidc sign-in cookie v1\0");
        context.update(client_secret.as_bytes());
        let digest = context.finish();
        // Invariant: a SHA-256 digest is ChaCha20-Poly1305's key length.
        let key = UnboundKey::new(&CHACHA20_POLY1305, digest.as_ref()).expect("a 32-byte key");
        Sealer {
            key: LessSafeKey::new(key),
        }
    }

    /// `pending` as a cookie value: base64url(nonce || ciphertext || tag).
    pub fn seal(&self, pending: &Pending) -> String {
        // Invariant: a struct of strings and a number serialises.
        let mut data = serde_json::to_vec(pending).expect("serialise a sign-in");
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        // Invariant: sealing in place fails only for inputs over ~256 GiB.
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut data)
            .expect("seal a sign-in");
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&data);
        URL_SAFE_NO_PAD.encode(sealed)
    }

    /// The `Pending` in a cookie value, when this key sealed it.
    pub fn open(&self, value: &str) -> Option<Pending> {
        if value.len() > MAX_SEALED {
            return None;
        }
        let sealed = URL_SAFE_NO_PAD.decode(value).ok()?;
        if sealed.len() < NONCE_LEN {
            return None;
        }
        let (nonce, data) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut data = data.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::empty(), &mut data)
            .ok()?;
        serde_json::from_slice(plain).ok()
    }
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_sealing_key_opens_a_cookie_and_nothing_is_readable() {
        let now = SystemTime::now();
        let pending = Pending::start(
            "/life/1/",
            "https://shop.test/_portcullis/oidc/callback",
            now,
        );
        let sealer = Sealer::new("secret");
        let sealed = sealer.seal(&pending);
        assert_eq!(sealer.open(&sealed), Some(pending.clone()));
        assert!(!sealed.contains(&pending.state) && !sealed.contains("life"));
        assert_eq!(Sealer::new("other").open(&sealed), None);
        // Any change to the sealed bytes is refused.
        let mut bytes = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert_eq!(sealer.open(&URL_SAFE_NO_PAD.encode(bytes)), None);
        for junk in ["", "a", "!!!!", &"A".repeat(5000)] {
            assert_eq!(sealer.open(junk), None);
        }
        assert!(!pending.expired(now));
        assert!(pending.expired(now + LIFETIME));
    }

    #[test]
    fn the_challenge_is_rfc_7636s_s256() {
        // RFC 7636, appendix B.
        let pending = Pending {
            verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into(),
            ..Pending::start("/", "https://x/", SystemTime::now())
        };
        assert_eq!(
            pending.challenge(),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
