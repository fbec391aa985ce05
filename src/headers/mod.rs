//! Removing headers by a rule in one pass over the names a request has.
//! A request carries a handful of headers and the lists of names the
//! gateway strips are long (identity, overrides, hop-by-hop): asking the map
//! for each listed name costs a hash per name per request, while checking
//! each present name against the lists costs a few comparisons, and
//! nothing at all is removed or allocated in the usual case.

pub mod hop_by_hop;

use http::header::{HeaderMap, HeaderName};

/// Removes every header whose name `matches`.
pub fn remove_matching(headers: &mut HeaderMap, matches: impl Fn(&HeaderName) -> bool) {
    if !headers.keys().any(&matches) {
        return;
    }
    let doomed: Vec<HeaderName> = headers.keys().filter(|n| matches(n)).cloned().collect();
    for name in doomed {
        // `remove` drops every value stored under the name.
        headers.remove(name);
    }
}

/// A header value as WSGI/ASGI give it to Django: bytes decoded as Latin-1
/// (one char per byte). Borrowed when it is plain ASCII.
pub fn latin1(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) if text.is_ascii() => std::borrow::Cow::Borrowed(text),
        _ => std::borrow::Cow::Owned(bytes.iter().map(|&b| b as char).collect()),
    }
}
