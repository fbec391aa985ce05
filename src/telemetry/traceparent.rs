//! W3C Trace Context (<https://www.w3.org/TR/trace-context/>): reading a
//! client's `traceparent` and `tracestate` strictly, and writing ours.
//! Only what the spec calls valid is ever continued or passed on: a
//! `traceparent` that is not, is dropped and a new trace started.

use http::header::{HeaderMap, HeaderName, HeaderValue};

pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
pub const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// The length of a version-00 `traceparent`: `00-<32>-<16>-<2>`.
const LENGTH: usize = 55;

/// The spec's limit on `tracestate` list members: past it the whole
/// header is discarded.
const MAX_TRACESTATE_MEMBERS: usize = 32;

/// A trace id: 16 bytes, never all zero.
pub type TraceId = [u8; 16];
/// A span id: 8 bytes, never all zero.
pub type SpanId = [u8; 8];

/// What a valid `traceparent` says: the trace, the caller's span, and
/// whether the caller sampled it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parent {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub sampled: bool,
}

/// The caller's trace context: its `traceparent` when exactly one valid
/// one came, and then its `tracestate` when that is well-formed too.
pub fn incoming(headers: &HeaderMap) -> Option<(Parent, Option<HeaderValue>)> {
    let mut values = headers.get_all(&TRACEPARENT).iter();
    let value = values.next()?;
    // Two `traceparent` fields cannot be told apart: neither is trusted.
    if values.next().is_some() {
        return None;
    }
    let parent = parse(value.as_bytes())?;
    Some((parent, tracestate(headers)))
}

/// Parses one `traceparent` value (version 00, or a later version read
/// as version 00's fields, as the spec asks of a version-00 reader).
pub fn parse(value: &[u8]) -> Option<Parent> {
    if value.len() < LENGTH {
        return None;
    }
    let version = hex_byte(&value[0..2])?;
    match version {
        // Version ff is forbidden outright.
        0xff => return None,
        // Version 00 is exactly 55 characters.
        0x00 if value.len() != LENGTH => return None,
        // A later version may append fields, after a dash.
        _ if value.len() > LENGTH && value[LENGTH] != b'-' => return None,
        _ => {}
    }
    if value[2] != b'-' || value[35] != b'-' || value[52] != b'-' {
        return None;
    }
    let mut trace_id = [0u8; 16];
    hex_into(&value[3..35], &mut trace_id)?;
    let mut span_id = [0u8; 8];
    hex_into(&value[36..52], &mut span_id)?;
    let flags = hex_byte(&value[53..55])?;
    if trace_id == [0; 16] || span_id == [0; 8] {
        return None;
    }
    Some(Parent {
        trace_id,
        span_id,
        sampled: flags & 0x01 == 0x01,
    })
}

/// Our `traceparent` (version 00): the trace, the span the next hop is a
/// child of, and the sampled flag. Written on the stack; one allocation
/// for the header value.
pub fn format(trace_id: &TraceId, span_id: &SpanId, sampled: bool) -> HeaderValue {
    let mut text = [0u8; LENGTH];
    text[0..3].copy_from_slice(b"00-");
    hex_write(trace_id, &mut text[3..35]);
    text[35] = b'-';
    hex_write(span_id, &mut text[36..52]);
    text[52] = b'-';
    text[53..55].copy_from_slice(if sampled { b"01" } else { b"00" });
    // Invariant: lowercase hex digits and dashes are valid header bytes.
    HeaderValue::from_bytes(&text).expect("hex and dashes are a valid header value")
}

/// Lowercase hex of `bytes` (for the exporter and the logs).
pub fn hex(bytes: &[u8]) -> String {
    let mut text = vec![0u8; bytes.len() * 2];
    hex_write(bytes, &mut text);
    text.into_iter().map(char::from).collect()
}

/// The caller's `tracestate`, passed on as it came when it is well-formed:
/// one field (several are joined, as a list header may be), at most 32
/// list members, each `key=value` with the spec's characters; otherwise
/// none (the spec lets a participant discard one it cannot read).
fn tracestate(headers: &HeaderMap) -> Option<HeaderValue> {
    let mut values = headers.get_all(&TRACESTATE).iter();
    let first = values.next()?;
    let joined = match values.next() {
        None => first.clone(),
        Some(second) => {
            let mut all = first.as_bytes().to_vec();
            for value in std::iter::once(second).chain(values) {
                all.push(b',');
                all.extend_from_slice(value.as_bytes());
            }
            HeaderValue::from_bytes(&all).ok()?
        }
    };
    well_formed_tracestate(joined.as_bytes()).then_some(joined)
}

/// `list-member *( OWS "," OWS list-member )`, with empty members allowed
/// and at most 32 non-empty ones; keys unique.
fn well_formed_tracestate(value: &[u8]) -> bool {
    let mut keys: Vec<&[u8]> = Vec::new();
    for member in value.split(|&b| b == b',') {
        let member = trim_ows(member);
        if member.is_empty() {
            continue;
        }
        let Some(equals) = member.iter().position(|&b| b == b'=') else {
            return false;
        };
        let (key, value) = (&member[..equals], &member[equals + 1..]);
        if !valid_key(key) || !valid_value(value) || keys.contains(&key) {
            return false;
        }
        keys.push(key);
        if keys.len() > MAX_TRACESTATE_MEMBERS {
            return false;
        }
    }
    true
}

/// `simple-key` or `tenant-id@system-id`: lowercase letters first, then
/// `a-z0-9_-*/`, at most 256 (a tenant at most 241, a system at most 14).
fn valid_key(key: &[u8]) -> bool {
    let part = |text: &[u8], max: usize, first_digit_ok: bool| {
        !text.is_empty()
            && text.len() <= max
            && (text[0].is_ascii_lowercase() || (first_digit_ok && text[0].is_ascii_digit()))
            && text
                .iter()
                .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-*/".contains(&b))
    };
    match key.iter().position(|&b| b == b'@') {
        None => part(key, 256, false),
        Some(at) => part(&key[..at], 241, true) && part(&key[at + 1..], 14, false),
    }
}

/// Printable ASCII except `,` and `=`, at most 256, not ending in a space.
fn valid_value(value: &[u8]) -> bool {
    !value.is_empty()
        && value.len() <= 256
        && value.last() != Some(&b' ')
        && value
            .iter()
            .all(|&b| (0x20..=0x7e).contains(&b) && b != b',' && b != b'=')
}

fn trim_ows(mut text: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = text {
        text = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = text {
        text = rest;
    }
    text
}

/// Lowercase hex only: the spec forbids uppercase.
fn nibble(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

fn hex_byte(pair: &[u8]) -> Option<u8> {
    Some(nibble(pair[0])? << 4 | nibble(pair[1])?)
}

fn hex_into(text: &[u8], out: &mut [u8]) -> Option<()> {
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        *byte = hex_byte(pair)?;
    }
    Some(())
}

fn hex_write(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (pair, byte) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0x0f)];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn reads_the_specs_example() {
        let parent = parse(VALID.as_bytes()).unwrap();
        assert_eq!(hex(&parent.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(hex(&parent.span_id), "00f067aa0ba902b7");
        assert!(parent.sampled);
        let unsampled = parse(VALID.replace("-01", "-00").as_bytes()).unwrap();
        assert!(!unsampled.sampled);
    }

    #[test]
    fn refuses_what_the_spec_calls_invalid() {
        let invalid = [
            // all-zero trace id, all-zero parent id
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            // uppercase hex
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A",
            // version ff, version not hex
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            // version 00 with more after it, too short, wrong separators
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
            // a later version whose extra part does not start with a dash
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
            "",
        ];
        for value in invalid {
            assert_eq!(parse(value.as_bytes()), None, "{value:?}");
        }
    }

    #[test]
    fn a_later_version_is_read_as_version_00() {
        let later = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds";
        let parent = parse(later.as_bytes()).unwrap();
        assert_eq!(hex(&parent.span_id), "00f067aa0ba902b7");
        assert!(parse(&later.as_bytes()[..LENGTH]).is_some());
    }

    #[test]
    fn writes_what_it_reads() {
        let parent = parse(VALID.as_bytes()).unwrap();
        let written = format(&parent.trace_id, &parent.span_id, true);
        assert_eq!(written, VALID);
        assert_eq!(
            format(&parent.trace_id, &parent.span_id, false),
            VALID.replace("-01", "-00").as_str()
        );
    }

    #[test]
    fn two_traceparents_are_none() {
        let mut headers = HeaderMap::new();
        headers.append(TRACEPARENT, HeaderValue::from_static(VALID));
        assert!(incoming(&headers).is_some());
        headers.append(TRACEPARENT, HeaderValue::from_static(VALID));
        assert!(incoming(&headers).is_none());
    }

    #[test]
    fn tracestate_is_passed_on_only_when_well_formed() {
        let state = |values: &[&'static str]| {
            let mut headers = HeaderMap::new();
            headers.insert(TRACEPARENT, HeaderValue::from_static(VALID));
            for value in values {
                headers.append(TRACESTATE, HeaderValue::from_static(value));
            }
            incoming(&headers).unwrap().1
        };
        assert_eq!(
            state(&["rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"]).unwrap(),
            "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
        );
        assert_eq!(state(&["rojo=1", "congo=2"]).unwrap(), "rojo=1,congo=2");
        assert_eq!(
            state(&["tenant@vendor=x, b=y"]).unwrap(),
            "tenant@vendor=x, b=y"
        );
        assert_eq!(state(&[]), None);
        for bad in ["Rojo=1", "rojo", "rojo=1,rojo=2", "rojo=a=b", "=1"] {
            assert_eq!(state(&[bad]), None, "{bad:?}");
        }
        let many: String = (0..33).map(|i| format!("k{i}=v,")).collect();
        let many: &'static str = Box::leak(many.into_boxed_str());
        assert_eq!(state(&[many]), None);
    }
}
