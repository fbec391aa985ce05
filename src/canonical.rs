//! Stage 1: one canonical path per request. The path the routes are matched
//! against is the path forwarded upstream, so no upstream can be made to see
//! a different path than the one that was authorised (SECURITY_CASES A).
//!
//! Rules (RFC 3986 normalisation plus refusals):
//! - percent-encoded unreserved characters (`A-Z a-z 0-9 - . _ ~`) are
//!   decoded; every other escape is kept, with upper-case hex;
//! - dot segments are resolved, also encoded ones (`%2e%2e`); `..` never
//!   climbs above `/`;
//! - repeated slashes are merged; a trailing slash is kept;
//! - refused with 400: encoded `/` or `\`, raw `\`, `;` (path parameters,
//!   raw or encoded), `#` (raw or encoded), control characters and spaces
//!   (raw or encoded), raw non-ASCII bytes, malformed escapes, and escapes
//!   that decode to invalid UTF-8.

use std::borrow::Cow;

use http::{header, HeaderMap, Method};

use super::denial::Denial;

/// Why a path was refused. The client only ever sees "Malformed request path."
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadPath {
    NotOriginForm,
    ForbiddenCharacter,
    EncodedSeparator,
    MalformedEscape,
    InvalidUtf8,
}

/// The canonical form of `raw` (the path part of the request target, without
/// the query). Borrowed when `raw` is already canonical, the common case.
pub fn canonicalize(raw: &str) -> Result<Cow<'_, str>, BadPath> {
    let bytes = raw.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(BadPath::NotOriginForm);
    }
    let mut needs_rewrite = false;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'%' => needs_rewrite = true,
            b'/' => {
                // "//", "/./", "/../", or a trailing "/." or "/.." need rewriting.
                let next = &bytes[i + 1..];
                if next.first() == Some(&b'/') || is_dot_segment_start(next) {
                    needs_rewrite = true;
                }
            }
            _ if is_forbidden_raw(b) => return Err(BadPath::ForbiddenCharacter),
            _ => {}
        }
    }
    if !needs_rewrite {
        return Ok(Cow::Borrowed(raw));
    }
    rewrite(raw).map(Cow::Owned)
}

fn is_dot_segment_start(after_slash: &[u8]) -> bool {
    matches!(
        after_slash,
        [b'.'] | [b'.', b'/', ..] | [b'.', b'.'] | [b'.', b'.', b'/', ..]
    )
}

/// Bytes that may not appear raw in a path: controls, space, DEL, non-ASCII,
/// `\`, `;` and `#`.
fn is_forbidden_raw(b: u8) -> bool {
    b <= 0x20 || b >= 0x7f || matches!(b, b'\\' | b';' | b'#')
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// The slow path: decode, resolve dot segments, merge slashes.
fn rewrite(raw: &str) -> Result<String, BadPath> {
    let mut kept: Vec<String> = Vec::new();
    let body = &raw[1..];
    let mut parts = body.split('/').peekable();
    let mut trailing_slash = false;
    while let Some(part) = parts.next() {
        let last = parts.peek().is_none();
        let segment = decode_segment(part)?;
        match segment.as_str() {
            "" => {
                if last {
                    trailing_slash = true;
                }
            }
            "." => trailing_slash = last,
            ".." => {
                kept.pop();
                trailing_slash = last;
            }
            _ => {
                kept.push(segment);
                trailing_slash = false;
            }
        }
    }
    let mut out = String::with_capacity(raw.len());
    for segment in &kept {
        out.push('/');
        out.push_str(segment);
    }
    if trailing_slash || kept.is_empty() {
        out.push('/');
    }
    Ok(out)
}

/// Decodes unreserved escapes in one segment, normalises the others to
/// upper-case hex, and refuses what must never reach matching.
fn decode_segment(part: &str) -> Result<String, BadPath> {
    let bytes = part.as_bytes();
    let mut out = String::with_capacity(part.len());
    // Escaped bytes >= 0x80 in a row must form valid UTF-8 on their own:
    // their neighbours are ASCII, so no sequence can span past them.
    let mut escaped_run: Vec<u8> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b != b'%' {
            check_utf8(&mut escaped_run)?;
            if is_forbidden_raw(b) {
                return Err(BadPath::ForbiddenCharacter);
            }
            out.push(b as char);
            i += 1;
            continue;
        }
        let (Some(hi), Some(lo)) = (
            bytes.get(i + 1).and_then(|h| hex_value(*h)),
            bytes.get(i + 2).and_then(|l| hex_value(*l)),
        ) else {
            return Err(BadPath::MalformedEscape);
        };
        let decoded = hi << 4 | lo;
        i += 3;
        if is_unreserved(decoded) {
            check_utf8(&mut escaped_run)?;
            out.push(decoded as char);
            continue;
        }
        match decoded {
            b'/' | b'\\' => return Err(BadPath::EncodedSeparator),
            b';' | b'#' => return Err(BadPath::ForbiddenCharacter),
            0x00..=0x20 | 0x7f => return Err(BadPath::ForbiddenCharacter),
            0x80.. => escaped_run.push(decoded),
            _ => check_utf8(&mut escaped_run)?,
        }
        out.push('%');
        out.push(HEX_UPPER[(decoded >> 4) as usize] as char);
        out.push(HEX_UPPER[(decoded & 0xf) as usize] as char);
    }
    check_utf8(&mut escaped_run)?;
    Ok(out)
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn check_utf8(run: &mut Vec<u8>) -> Result<(), BadPath> {
    if run.is_empty() {
        return Ok(());
    }
    let valid = std::str::from_utf8(run).is_ok();
    run.clear();
    if valid {
        Ok(())
    } else {
        Err(BadPath::InvalidUtf8)
    }
}

/// Upper-cases a method sent with lower-case letters (`delete`), so the
/// routes see the method Django, Werkzeug and most frameworks will act on
/// (they upper-case it before dispatching), and the upstream receives that
/// same canonical method. Without this, `delete` would skip a route limited to
/// `methods = ["DELETE"]` and still be handled as DELETE upstream.
pub fn canonicalize_method(parts: &mut http::request::Parts) {
    let method = parts.method.as_str();
    if method.bytes().any(|b| b.is_ascii_lowercase()) {
        // Upper-casing ASCII letters keeps a valid token valid.
        if let Ok(upper) = Method::from_bytes(method.to_ascii_uppercase().as_bytes()) {
            parts.method = upper;
        }
    }
}

/// The request's canonical path and the Host it was addressed to.
#[derive(Debug)]
pub struct Target<'a> {
    pub path: Cow<'a, str>,
    /// The Host header, or the URI authority for HTTP/2 and absolute-form.
    pub host: Option<&'a str>,
}

/// Canonicalises the request target, and refuses a request whose Host is
/// duplicated or disagrees with an absolute-form authority (SECURITY B15, A10).
pub fn canonical_target<'a>(
    headers: &'a HeaderMap,
    uri: &'a http::Uri,
) -> Result<Target<'a>, Denial> {
    let host = request_host(headers, uri)?;
    // A raw '#' never reaches us: the `http` crate drops a fragment while
    // parsing the target, and we forward only the path we matched, so the
    // upstream can never see the dropped part either. An encoded %23 is ours
    // to refuse.
    let path = canonicalize(uri.path()).map_err(|_| Denial::bad_path())?;
    Ok(Target { path, host })
}

fn request_host<'a>(headers: &'a HeaderMap, uri: &'a http::Uri) -> Result<Option<&'a str>, Denial> {
    let mut values = headers.get_all(header::HOST).iter();
    let header_host = match (values.next(), values.next()) {
        (None, _) => None,
        (Some(value), None) => Some(value.to_str().map_err(|_| Denial::bad_host())?),
        (Some(_), Some(_)) => return Err(Denial::bad_host()),
    };
    match (header_host, uri.authority()) {
        (Some(host), Some(authority)) if !host.eq_ignore_ascii_case(authority.as_str()) => {
            Err(Denial::bad_host())
        }
        (Some(host), _) => Ok(Some(host)),
        (None, Some(authority)) => Ok(Some(authority.as_str())),
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Request;

    fn ok(raw: &str) -> String {
        canonicalize(raw)
            .unwrap_or_else(|e| panic!("{raw:?} refused: {e:?}"))
            .into_owned()
    }

    #[test]
    fn already_canonical_paths_are_borrowed() {
        for p in ["/", "/life/1/", "/a/b.c/d..e/.f", "/a-b_c~d/x"] {
            assert!(matches!(canonicalize(p), Ok(Cow::Borrowed(_))), "{p}");
        }
    }

    #[test]
    fn dot_segments_plain_and_encoded() {
        for raw in [
            "/public/../admin",
            "/public/%2e%2e/admin",
            "/public/%2E./admin",
            "/public/.%2e/admin",
            "/public/./../admin",
            "/../../admin",
        ] {
            assert_eq!(ok(raw), "/admin", "{raw}");
        }
        assert_eq!(ok("/a/b/.."), "/a/");
        assert_eq!(ok("/a/b/."), "/a/b/");
        assert_eq!(ok("/.."), "/");
        assert_eq!(ok("/a/.."), "/");
    }

    #[test]
    fn repeated_slashes_merge() {
        assert_eq!(ok("//admin"), "/admin");
        assert_eq!(ok("/a///b"), "/a/b");
        assert_eq!(ok("/a/b//"), "/a/b/");
        assert_eq!(ok("//"), "/");
    }

    #[test]
    fn unreserved_escapes_decode_others_normalise() {
        assert_eq!(ok("/%61dmin"), "/admin");
        assert_eq!(ok("/a%7eb"), "/a~b");
        assert_eq!(ok("/caf%c3%a9"), "/caf%C3%A9");
        assert_eq!(ok("/a%3fb"), "/a%3Fb");
        assert_eq!(ok("/100%25"), "/100%25");
    }

    #[test]
    fn refusals() {
        use BadPath::*;
        let cases = [
            ("/admin%2Fusers", EncodedSeparator),
            ("/public%2F..%2Fadmin", EncodedSeparator),
            ("/a%5cb", EncodedSeparator),
            ("/public\\..\\admin", ForbiddenCharacter),
            ("/..;/admin", ForbiddenCharacter),
            ("/public;/../admin", ForbiddenCharacter),
            ("/admin;jsessionid=x", ForbiddenCharacter),
            ("/a%3bb", ForbiddenCharacter),
            ("/a%00b", ForbiddenCharacter),
            ("/a%0ab", ForbiddenCharacter),
            ("/a%0db", ForbiddenCharacter),
            ("/a%09b", ForbiddenCharacter),
            ("/a%20b", ForbiddenCharacter),
            ("/a%7fb", ForbiddenCharacter),
            ("/a\tb", ForbiddenCharacter),
            ("/a#b", ForbiddenCharacter),
            ("/a%23b", ForbiddenCharacter),
            ("/caf\u{e9}", ForbiddenCharacter),
            ("/%c0%afadmin", InvalidUtf8),
            ("/%ff", InvalidUtf8),
            ("/%c3", InvalidUtf8),
            ("/%c3/%a9", InvalidUtf8),
            ("/%", MalformedEscape),
            ("/%4", MalformedEscape),
            ("/%zz", MalformedEscape),
            ("*", NotOriginForm),
            ("", NotOriginForm),
        ];
        for (raw, why) in cases {
            assert_eq!(canonicalize(raw), Err(why), "{raw:?}");
        }
    }

    #[test]
    fn methods_are_upper_cased() {
        for (sent, seen) in [
            ("delete", "DELETE"),
            ("Get", "GET"),
            ("PURGE", "PURGE"),
            ("m-search", "M-SEARCH"),
        ] {
            let (mut parts, ()) = Request::builder()
                .method(Method::from_bytes(sent.as_bytes()).unwrap())
                .body(())
                .unwrap()
                .into_parts();
            canonicalize_method(&mut parts);
            assert_eq!(parts.method.as_str(), seen);
        }
        let (mut parts, ()) = Request::builder()
            .method("delete")
            .body(())
            .unwrap()
            .into_parts();
        canonicalize_method(&mut parts);
        assert_eq!(parts.method, Method::DELETE);
    }

    #[test]
    fn case_is_significant() {
        assert_eq!(ok("/ADMIN"), "/ADMIN");
    }
}
