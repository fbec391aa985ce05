//! CSRF token code against vectors computed by Django itself
//! (`shared/fixtures/django_csrf_vectors.json`), plus property tests.

use portcullis::csrf::token::{check_format, Secret, ALPHABET};
use proptest::prelude::*;
use serde_json::Value;

/// The vectors: the shared fixture when this checkout sits beside it (the
/// source of truth), else the copy kept in tests/fixtures/.
fn vectors() -> Value {
    let shared = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/fixtures/django_csrf_vectors.json"
    );
    let vendored = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/django_csrf_vectors.json"
    );
    let text = std::fs::read_to_string(shared)
        .or_else(|_| std::fs::read_to_string(vendored))
        .expect("django_csrf_vectors.json");
    serde_json::from_str(&text).unwrap()
}

#[test]
fn the_alphabet_is_djangos() {
    assert_eq!(vectors()["alphabet"].as_str().unwrap().as_bytes(), ALPHABET);
}

#[test]
fn every_masked_vector() {
    let v = vectors();
    let masked = v["masked"].as_array().unwrap();
    assert!(!masked.is_empty());
    for case in masked {
        let (secret, token) = (
            case["secret"].as_str().unwrap(),
            case["token"].as_str().unwrap(),
        );
        // Some vectors omit the mask: it is always the token's first half.
        let mask = case["mask"].as_str().unwrap_or(&token[..32]);
        assert_eq!(&token[..32], mask);
        let parsed = Secret::from_token(secret).unwrap();
        assert_eq!(
            parsed.mask_with_str(mask).as_deref(),
            Some(token),
            "mask {secret}"
        );
        assert_eq!(Secret::from_token(token).unwrap(), parsed, "unmask {token}");
        assert!(parsed.matches(token), "{token} must match {secret}");
        assert!(parsed.matches(secret));
        // A 64-char cookie (Django < 4.1 stored masked secrets) unmasks too.
        assert!(Secret::from_token(token).unwrap().matches(secret));
    }
}

#[test]
fn every_mismatch_vector() {
    let v = vectors();
    for case in v["mismatch"].as_array().unwrap() {
        let secret = Secret::from_token(case["secret"].as_str().unwrap()).unwrap();
        let token = case["token"].as_str().unwrap();
        assert_eq!(
            secret.matches(token),
            case["matches"].as_bool().unwrap(),
            "{token}"
        );
    }
}

#[test]
fn every_format_vector() {
    let v = vectors();
    for case in v["format"].as_array().unwrap() {
        let token = case["token"].as_str().unwrap();
        let got = check_format(token).err().map(|e| e.phrase());
        assert_eq!(got, case["error"].as_str(), "{token:?}");
    }
}

#[test]
fn two_masked_forms_of_one_secret_match_each_other() {
    let secret = Secret::generate();
    let (a, b) = (secret.mask(), secret.mask());
    assert_ne!(a, b, "every token gets a fresh mask");
    let from_a = Secret::from_token(&a).unwrap();
    assert!(from_a.matches(&b));
}

fn alphabet_string(len: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(0..62usize, len)
        .prop_map(|ix| ix.into_iter().map(|i| ALPHABET[i] as char).collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn mask_then_unmask_is_the_identity(secret in alphabet_string(32), mask in alphabet_string(32)) {
        let s = Secret::from_token(&secret).unwrap();
        let token = s.mask_with_str(&mask).unwrap();
        prop_assert_eq!(Secret::from_token(&token).unwrap(), s);
    }

    #[test]
    fn any_single_character_change_fails(
        secret in alphabet_string(32),
        mask in alphabet_string(32),
        position in 0..64usize,
        shift in 1..62usize,
    ) {
        let s = Secret::from_token(&secret).unwrap();
        let token = s.mask_with_str(&mask).unwrap();
        let mut bytes = token.into_bytes();
        let current = ALPHABET.iter().position(|&c| c == bytes[position]).unwrap();
        bytes[position] = ALPHABET[(current + shift) % 62];
        let changed = String::from_utf8(bytes).unwrap();
        // Changing a mask char changes the unmasked secret too (mask and
        // cipher are paired), so every single change must fail.
        prop_assert!(!s.matches(&changed), "{}", changed);
        // A changed bare secret fails as well.
        let mut bare = secret.clone().into_bytes();
        let p = position % 32;
        let cur = ALPHABET.iter().position(|&c| c == bare[p]).unwrap();
        bare[p] = ALPHABET[(cur + shift) % 62];
        prop_assert!(!s.matches(&String::from_utf8(bare).unwrap()));
    }
}
