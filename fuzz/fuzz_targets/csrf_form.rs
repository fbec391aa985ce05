//! The form-field token reader (urlencoded and multipart, as Django reads
//! them) over any content type and body: never panics, never loops.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis::csrf::form::{form_kind, token_field};

fuzz_target!(|data: (&str, &[u8], bool)| {
    let (content_type, body, complete) = data;
    if let Ok(Some(kind)) = form_kind(content_type) {
        let _ = token_field(kind, body, complete);
    }
});
