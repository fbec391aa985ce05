//! Cookie parsing as Django does it, over raw header bytes: never panics,
//! and the value found is no longer than the headers (in characters: bytes
//! are read as Latin-1, so one byte may be two in UTF-8).
#![no_main]

use http::header::{HeaderMap, HeaderValue, COOKIE};
use libfuzzer_sys::fuzz_target;
use portcullis::cookies::cookie_value;

fuzz_target!(|data: (&[u8], &[u8], &str)| {
    let (first, second, name) = data;
    let mut headers = HeaderMap::new();
    for field in [first, second] {
        if let Ok(value) = HeaderValue::from_bytes(field) {
            headers.append(COOKIE, value);
        }
    }
    if let Some(value) = cookie_value(&headers, name) {
        assert!(value.chars().count() <= first.len() + second.len());
    }
});
