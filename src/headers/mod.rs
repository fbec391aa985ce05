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

/// The size of a request head as it crossed the wire: the request line
/// and every field with its separators. hyper bounds a head only while it
/// is still incomplete in its read buffer, and a kept-alive connection's
/// buffer may have grown past `server.max_header_bytes`, so the gateway
/// measures every head it is given.
pub fn head_size(parts: &http::request::Parts) -> usize {
    let uri = &parts.uri;
    let target = uri.scheme_str().map_or(0, |s| s.len() + 3)
        + uri.authority().map_or(0, |a| a.as_str().len())
        + uri.path_and_query().map_or(1, |pq| pq.as_str().len());
    // "METHOD target HTTP/1.1\r\n"
    let request_line = parts.method.as_str().len() + target + 12;
    parts
        .headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum::<usize>()
        + request_line
        + 2
}

/// A header value as WSGI/ASGI give it to Django: bytes decoded as Latin-1
/// (one char per byte). Borrowed when it is plain ASCII.
pub fn latin1(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) if text.is_ascii() => std::borrow::Cow::Borrowed(text),
        _ => std::borrow::Cow::Owned(bytes.iter().map(|&b| b as char).collect()),
    }
}
