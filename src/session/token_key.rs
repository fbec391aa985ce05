//! API token keys (DRF's `TokenAuthentication`): made like DRF's
//! `Token.generate_key`, and kept by the memory and Redis stores only as
//! a digest.

use rand::RngCore;

use super::SessionId;

/// A new key as DRF's `Token.generate_key` makes one: 40 hex digits from
/// 20 random bytes.
pub fn generate_key() -> String {
    let mut bytes = [0u8; 20];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where the memory and Redis stores keep a key: a digest of it (SHA-256,
/// domain-separated), so a copy of the store holds no usable token. It is
/// also the token's public id (`DELETE /tokens/{id}`).
pub fn key_digest(key: &str) -> SessionId {
    SessionId::digest_of(b"portcullis drf token", key.as_bytes())
}
