//! Django's `session_data` (django.core.signing): reading any string never
//! panics, and what the gateway signs (as Django does) reads back as the
//! same dictionary, compressed or not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis::session::django::signing::{KeyRing, SESSION_SALT};
use serde_json::{Map, Value};

fuzz_target!(|data: (&str, &str, u64)| {
    let (signed, value, timestamp) = data;
    let keys = KeyRing::for_signer(SESSION_SALT, b"fuzz-secret", &[b"old".to_vec()]);
    let _ = keys.loads(signed);
    let mut dict = Map::new();
    dict.insert("_auth_user_id".into(), Value::from(value));
    let round_trip = keys.loads(&keys.dumps(&dict, timestamp));
    assert_eq!(round_trip.as_ref(), Ok(&dict), "{value:?}");
});
