//! argon2id password hashes in PHC string form (RustCrypto `argon2`), as
//! `portcullis hash-password` prints them and `[[users]] password_hash`
//! holds them.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::Rng;

/// Why a `password_hash` is refused by `check`.
#[derive(Debug, PartialEq, Eq)]
pub struct BadHash(pub String);

/// Hashes `password` with argon2id, the crate's recommended parameters and
/// a fresh 16-byte salt.
pub fn hash_password(password: &str) -> String {
    hash_with(password, Params::default())
}

fn hash_with(password: &str, params: Params) -> String {
    let mut salt = [0u8; 16];
    rand::rng().fill(&mut salt);
    // Invariant: 16 bytes is a valid salt length for base64 encoding.
    let salt = SaltString::encode_b64(&salt).expect("16-byte salt");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(password.as_bytes(), &salt)
        // Invariant: default/validated params and a valid salt cannot fail.
        .expect("argon2 hashing")
        .to_string()
}

/// Checks that `phc` is an argon2id PHC string with usable parameters and
/// returns them.
pub fn parse(phc: &str) -> Result<Params, BadHash> {
    let hash = PasswordHash::new(phc).map_err(|e| BadHash(format!("not a PHC string ({e})")))?;
    if hash.algorithm.as_str() != "argon2id" {
        return Err(BadHash(format!(
            "algorithm {:?} is not argon2id; make one with `portcullis hash-password`",
            hash.algorithm.as_str()
        )));
    }
    if hash.hash.is_none() {
        return Err(BadHash("the PHC string has no hash".into()));
    }
    Params::try_from(&hash).map_err(|e| BadHash(format!("bad argon2 parameters ({e})")))
}

/// Whether `password` matches `phc`. CPU-heavy by design: call it off the
/// async workers (`spawn_blocking`).
pub fn verify(phc: &str, password: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(hash) => Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash of a random password with `params`, verified against when the
/// username is unknown so that the answer takes as long as for a real user.
pub fn dummy_hash(params: Params) -> String {
    let mut random = [0u8; 24];
    rand::rng().fill(&mut random);
    hash_with(&String::from_utf8_lossy(&random), params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify() {
        let phc = hash_password("correct horse");
        assert!(phc.starts_with("$argon2id$v=19$"));
        assert!(parse(&phc).is_ok());
        assert!(verify(&phc, "correct horse"));
        assert!(!verify(&phc, "wrong"));
        assert_ne!(phc, hash_password("correct horse"), "fresh salt every time");
    }

    #[test]
    fn only_argon2id_phc_strings_are_accepted() {
        assert!(parse("plaintext").is_err());
        assert!(parse("$argon2i$v=19$m=16,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo").is_err());
        assert!(parse("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ").is_err());
    }

    #[test]
    fn dummy_hashes_cost_what_real_ones_cost() {
        let params = Params::new(8192, 3, 1, None).unwrap();
        let dummy = dummy_hash(params.clone());
        let parsed = parse(&dummy).unwrap();
        assert_eq!(
            (parsed.m_cost(), parsed.t_cost(), parsed.p_cost()),
            (8192, 3, 1)
        );
    }
}
