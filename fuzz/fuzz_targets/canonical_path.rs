//! The path canonicaliser: never panics; what it accepts is canonical
//! (idempotent, no dot segments, no empty segments, no raw controls).
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis::canonical::canonicalize;

fuzz_target!(|raw: &str| {
    if let Ok(path) = canonicalize(raw) {
        assert!(path.starts_with('/'), "{raw:?} -> {path:?}");
        let again = canonicalize(&path).expect("a canonical path is accepted again");
        assert_eq!(again, path, "canonicalisation is idempotent for {raw:?}");
        assert!(!path.contains("//"), "{raw:?} -> {path:?}");
        assert!(
            !path.split('/').any(|s| s == "." || s == ".."),
            "{raw:?} -> {path:?}"
        );
        assert!(!path.bytes().any(|b| b < 0x20 || b == 0x7f), "{raw:?} -> {path:?}");
    }
});
