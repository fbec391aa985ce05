//! The `Cookie` request header, read exactly as Django reads it.

use std::borrow::Cow;

use http::{header, HeaderMap};

use crate::headers::latin1;

/// The value of cookie `name`, looking through every `Cookie` header (HTTP/2
/// sends one per cookie), parsed exactly as Django's
/// `django.http.cookie.parse_cookie` does: split on `;`, split each chunk at
/// its first `=` (a chunk without one is a value with an empty name), strip
/// whitespace, unquote as Python's `http.cookies._unquote`, and let the last
/// occurrence of a name win. Matching Django's parser, rather than a generic
/// RFC 6265 one, means the gateway and a Django backend always agree on
/// which cookie a request carries; it is also the cheapest parse on the hot
/// path (no allocation for plain ASCII cookies). Header bytes are read as
/// Latin-1, as WSGI hands them to Django.
pub fn cookie_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<Cow<'h, str>> {
    let mut found = None;
    for value in headers.get_all(header::COOKIE) {
        match latin1(value.as_bytes()) {
            Cow::Borrowed(text) => {
                if let Some(v) = last_in(text, name) {
                    found = Some(unquote(v));
                }
            }
            Cow::Owned(text) => {
                if let Some(v) = last_in(&text, name) {
                    found = Some(Cow::Owned(unquote(v).into_owned()));
                }
            }
        }
    }
    found
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
    fn finds_the_cookie_across_split_headers() {
        let h = headers(&["a=1; sessionid=abc", "csrftoken=x"]);
        assert_eq!(cookie_value(&h, "sessionid").as_deref(), Some("abc"));
        assert_eq!(cookie_value(&h, "csrftoken").as_deref(), Some("x"));
        assert_eq!(cookie_value(&h, "missing").as_deref(), None);
    }

    #[test]
    fn last_duplicate_wins_like_django() {
        let h = headers(&["sessionid=first; sessionid=second"]);
        assert_eq!(cookie_value(&h, "sessionid").as_deref(), Some("second"));
        let h = headers(&["sessionid=first", "sessionid=second"]);
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
    fn non_ascii_bytes_are_latin1_not_a_reason_to_skip_the_header() {
        let mut map = HeaderMap::new();
        map.append(
            header::COOKIE,
            HeaderValue::from_bytes(b"x=\xe9; csrftoken=abc").unwrap(),
        );
        assert_eq!(cookie_value(&map, "csrftoken").as_deref(), Some("abc"));
        assert_eq!(cookie_value(&map, "x").as_deref(), Some("\u{e9}"));
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
