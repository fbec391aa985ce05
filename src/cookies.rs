//! The `Cookie` request header, read exactly as Django under WSGI reads it.

use std::borrow::Cow;

use bytes::BytesMut;
use http::{header, HeaderMap, HeaderValue};

/// The value of cookie `name`, parsed exactly as Django's
/// `django.http.cookie.parse_cookie` does: split on `;`, split each chunk at
/// its first `=` (a chunk without one is a value with an empty name), strip
/// whitespace, unquote as Python's `http.cookies._unquote`, and let the last
/// occurrence of a name win. Matching Django's parser, rather than a generic
/// RFC 6265 one, means the gateway and a Django backend always agree on
/// which cookie a request carries; it is also the cheapest parse on the hot
/// path (no allocation for plain ASCII cookies).
///
/// What Django parses is `WSGIRequest.COOKIES`' string: several `Cookie`
/// lines joined with `,` (as WSGI servers join repeated headers, so two
/// HTTP/1.1 lines run into one cookie), and the header's bytes decoded as
/// UTF-8 with each invalid sequence replaced by U+FFFD
/// (`get_str_from_wsgi`). HTTP/2's one field per cookie is joined with
/// `; ` before anything reads it (`join_fields`, at intake).
pub fn cookie_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<Cow<'h, str>> {
    let mut fields = headers.get_all(header::COOKIE).iter();
    let first = fields.next()?;
    let text = match fields.next() {
        None => String::from_utf8_lossy(first.as_bytes()),
        Some(_) => {
            let mut joined = String::new();
            for (i, field) in headers.get_all(header::COOKIE).iter().enumerate() {
                if i > 0 {
                    joined.push(',');
                }
                joined.push_str(&String::from_utf8_lossy(field.as_bytes()));
            }
            Cow::Owned(joined)
        }
    };
    match text {
        Cow::Borrowed(text) => last_in(text, name).map(unquote),
        Cow::Owned(text) => last_in(&text, name).map(|v| Cow::Owned(unquote(v).into_owned())),
    }
}

/// Every `Cookie` field joined into one with `separator`: `; ` for
/// HTTP/2's one field per cookie (RFC 9113 §8.2.3), `,` for repeated
/// HTTP/1.1 lines (what a WSGI server makes of them), so the upstream is
/// sent exactly the cookie string the gateway read.
pub fn join_fields(headers: &mut HeaderMap, separator: &[u8]) {
    let mut fields = headers.get_all(header::COOKIE).iter();
    let (Some(first), Some(_)) = (fields.next(), fields.next()) else {
        return;
    };
    let mut joined = BytesMut::from(first.as_bytes());
    for field in headers.get_all(header::COOKIE).iter().skip(1) {
        joined.extend_from_slice(separator);
        joined.extend_from_slice(field.as_bytes());
    }
    // Invariant: valid header values joined with "; " or "," are valid.
    if let Ok(value) = HeaderValue::from_maybe_shared(joined.freeze()) {
        headers.insert(header::COOKIE, value);
    }
}

fn last_in<'t>(text: &'t str, name: &str) -> Option<&'t str> {
    // The last occurrence wins: search from the end.
    text.split(';').rev().find_map(|chunk| {
        let (key, val) = chunk.split_once('=').unwrap_or(("", chunk));
        (key.trim() == name).then(|| val.trim())
    })
}

/// Python's `http.cookies._unquote`: a value in double quotes loses them,
/// and `\ooo` (octal) and `\c` escapes inside are decoded.
fn unquote(value: &str) -> Cow<'_, str> {
    let Some(inner) = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .filter(|_| value.len() >= 2)
    else {
        return Cow::Borrowed(value);
    };
    if !inner.contains('\\') {
        return Cow::Borrowed(inner);
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let octal: String = chars.clone().take(3).collect();
        let is_octal = octal.len() == 3
            && octal.starts_with(|d: char| ('0'..='3').contains(&d))
            && octal.chars().all(|d| ('0'..='7').contains(&d));
        if is_octal {
            // Invariant: three octal digits with the first <= 3 fit a u8.
            out.push(u8::from_str_radix(&octal, 8).map_or('?', char::from));
            chars.nth(2);
        } else if let Some(next) = chars.next() {
            out.push(next);
        } else {
            out.push('\\');
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    fn headers(cookies: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for c in cookies {
            map.append(header::COOKIE, HeaderValue::from_str(c).unwrap());
        }
        map
    }
    #[test]
    fn repeated_lines_run_together_as_under_wsgi() {
        let h = headers(&["a=1; sessionid=abc", "csrftoken=x"]);
        assert_eq!(
            cookie_value(&h, "sessionid").as_deref(),
            Some("abc,csrftoken=x")
        );
        assert_eq!(cookie_value(&h, "csrftoken").as_deref(), None);
        assert_eq!(cookie_value(&h, "a").as_deref(), Some("1"));
        let h = headers(&["sessionid=first", "sessionid=second"]);
        assert_eq!(
            cookie_value(&h, "sessionid").as_deref(),
            Some("first,sessionid=second")
        );
    }

    #[test]
    fn http2_fields_joined_with_semicolons_are_separate_cookies() {
        let mut h = headers(&["a=1; sessionid=abc", "csrftoken=x", "sessionid=def"]);
        join_fields(&mut h, b"; ");
        assert_eq!(h.get_all(header::COOKIE).iter().count(), 1);
        assert_eq!(cookie_value(&h, "sessionid").as_deref(), Some("def"));
        assert_eq!(cookie_value(&h, "csrftoken").as_deref(), Some("x"));
    }

    #[test]
    fn last_duplicate_wins_like_django() {
        let h = headers(&["sessionid=first; sessionid=second"]);
        assert_eq!(cookie_value(&h, "sessionid").as_deref(), Some("second"));
    }

    #[test]
    fn parses_like_djangos_parse_cookie() {
        // Cases from Django's tests/requests_tests/tests.py (test_parse_cookie).
        let h = headers(&["  sessionid = abc ; x=1"]);
        assert_eq!(cookie_value(&h, "sessionid").as_deref(), Some("abc"));
        let h = headers(&["sessionid=\"abc\""]);
        assert_eq!(cookie_value(&h, "sessionid").as_deref(), Some("abc"));
        let h = headers(&["token=a=b=c"]);
        assert_eq!(cookie_value(&h, "token").as_deref(), Some("a=b=c"));
        let h = headers(&["novalue; sessionid=ok"]);
        assert_eq!(cookie_value(&h, "").as_deref(), Some("novalue"));
        let h = headers(&["sessionid="]);
        assert_eq!(cookie_value(&h, "sessionid").as_deref(), Some(""));
    }

    #[test]
    fn non_ascii_bytes_are_utf8_with_replacement_like_djangos_cookies() {
        let mut map = HeaderMap::new();
        map.append(
            header::COOKIE,
            HeaderValue::from_bytes(b"x=\xe9; y=\xc3\xa9; csrftoken=abc").unwrap(),
        );
        assert_eq!(cookie_value(&map, "csrftoken").as_deref(), Some("abc"));
        assert_eq!(cookie_value(&map, "x").as_deref(), Some("\u{fffd}"));
        assert_eq!(cookie_value(&map, "y").as_deref(), Some("\u{e9}"));
    }

    #[test]
    fn quoted_values_unquote_like_python() {
        let h = headers(&[r#"a="\141\142c"; b="x\"y"; c="\F"; d="\"; e=""""#]);
        assert_eq!(cookie_value(&h, "a").as_deref(), Some("abc"));
        assert_eq!(cookie_value(&h, "b").as_deref(), Some("x\"y"));
        assert_eq!(cookie_value(&h, "c").as_deref(), Some("F"));
        assert_eq!(cookie_value(&h, "d").as_deref(), Some("\\"));
        assert_eq!(cookie_value(&h, "e").as_deref(), Some("\""));
    }

    #[test]
    fn garbage_is_not_a_crash() {
        let h = headers(&[";;; =; sessionid; ==x; sessionid=ok"]);
        assert_eq!(cookie_value(&h, "sessionid").as_deref(), Some("ok"));
        let big = format!("sessionid={}", "a".repeat(100_000));
        let h = headers(&[&big]);
        assert_eq!(
            cookie_value(&h, "sessionid").map(|v| v.len()),
            Some(100_000)
        );
    }
}
