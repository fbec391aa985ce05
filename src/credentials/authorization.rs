//! The `Authorization` header as DRF reads it: `request.META
//! ["HTTP_AUTHORIZATION"]` (repeated lines joined with "," as WSGI
//! servers join them), back to Latin-1 bytes, split on ASCII whitespace
//! like Python's `bytes.split()`.

use http::HeaderMap;

/// The header's bytes as Django sees them; `None` when absent.
pub fn authorization_bytes(headers: &HeaderMap) -> Option<std::borrow::Cow<'_, [u8]>> {
    let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
    let first = values.next()?;
    let Some(second) = values.next() else {
        return Some(std::borrow::Cow::Borrowed(trim(first.as_bytes())));
    };
    // WSGI (wsgiref, gunicorn) join repeated lines with ",".
    let mut joined = trim(first.as_bytes()).to_vec();
    for value in std::iter::once(second).chain(values) {
        joined.push(b',');
        joined.extend_from_slice(trim(value.as_bytes()));
    }
    Some(std::borrow::Cow::Owned(joined))
}

/// Python's `bytes.split()` with no argument: runs of ASCII whitespace
/// separate, and leading or trailing whitespace yields no empty part.
pub fn python_split(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes
        .split(|b| is_python_space(*b))
        .filter(|part| !part.is_empty())
}

fn is_python_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// WSGI servers strip each header value.
fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| !is_python_space(*b));
    let end = bytes.iter().rposition(|b| !is_python_space(*b));
    match (start, end) {
        (Some(start), Some(end)) => &bytes[start..=end],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn splits_like_python() {
        let parts: Vec<&[u8]> = python_split(b"  Token \t abc  ").collect();
        assert_eq!(parts, [b"Token".as_slice(), b"abc".as_slice()]);
        assert_eq!(python_split(b"   ").count(), 0);
    }

    #[test]
    fn repeated_lines_are_joined_as_wsgi_joins_them() {
        let mut headers = HeaderMap::new();
        headers.append("authorization", HeaderValue::from_static("Token a"));
        headers.append("authorization", HeaderValue::from_static(" Token b "));
        assert_eq!(
            authorization_bytes(&headers).as_deref(),
            Some(b"Token a,Token b".as_slice())
        );
        assert!(authorization_bytes(&HeaderMap::new()).is_none());
    }
}
