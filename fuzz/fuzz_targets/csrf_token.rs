//! CSRF tokens: the format check, unmasking and comparison never panic; a
//! token that passes the format check compares without error, and a
//! freshly masked token always matches its secret.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis::csrf::token::{check_format, Secret};

fuzz_target!(|data: (&str, &str)| {
    let (cookie, submitted) = data;
    let _ = check_format(submitted);
    if let Ok(secret) = Secret::from_token(cookie) {
        let _ = secret.matches(submitted);
        assert!(secret.matches(&secret.mask()));
        if let Some(masked) = secret.mask_with_str(submitted) {
            assert!(secret.matches(&masked), "{cookie:?} masked with {submitted:?}");
        }
    }
});
