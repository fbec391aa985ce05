//! DRF's request parsing, as far as it decides an answer: reading
//! `request.POST` through DRF's `Request` (which Django's CSRF check does
//! inside `SessionAuthentication.enforce_csrf`) runs the parser the
//! Content-Type selects among DRF's defaults (`JSONParser`, `FormParser`,
//! `MultiPartParser`): none selected is `415 Unsupported media type`, a
//! JSON body Python cannot parse is `400 JSON parse error - ...`. Both come
//! before the token is looked at, so they are what DRF answers a request
//! the CSRF check would refuse.

pub mod python_json;

use http::header::{self, HeaderMap};

use crate::body::ForwardBody;
use crate::denial::Denial;
use crate::headers::latin1;
use crate::negotiate::media_type::MediaType;

/// The parser DRF's `DefaultContentNegotiation.select_parser` picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parser {
    /// `JSONParser`, `application/json`.
    Json,
    /// `FormParser`, `application/x-www-form-urlencoded`.
    Form,
    /// `MultiPartParser`, `multipart/form-data`.
    MultiPart,
}

/// `request.content_type` under WSGI: the first Content-Type line, Latin-1;
/// without one, `wsgiref` (the stdlib's WSGI server) sets `text/plain`.
pub fn wsgi_content_type(headers: &HeaderMap) -> String {
    headers.get(header::CONTENT_TYPE).map_or_else(
        || "text/plain".to_string(),
        |v| latin1(v.as_bytes()).into_owned(),
    )
}

/// The first of DRF's default parsers whose media type the Content-Type
/// admits (so `*/*` and `application/*` select JSON), or none.
pub fn select_parser(content_type: &str) -> Option<Parser> {
    let media_type = MediaType::parse(content_type);
    [
        (Parser::Json, "application", "json"),
        (Parser::Form, "application", "x-www-form-urlencoded"),
        (Parser::MultiPart, "multipart", "form-data"),
    ]
    .into_iter()
    .find(|(_, main, sub)| media_type.admits(main, sub))
    .map(|(parser, _, _)| parser)
}

/// What DRF answers instead of a CSRF refusal because of the body of a
/// POST with a `Content-Length` (DRF sees no body without one): 415 when no
/// parser is selected, 400 with Python's message when the JSON parser
/// refuses the body. `None` when the body parses, is a form (the form
/// readers judge those), declares a charset other than UTF-8 (Python
/// would decode it another way: not judged), or is longer than `limit`
/// (not read whole: not judged); the refusal then stands.
pub async fn refusal(headers: &HeaderMap, body: &mut ForwardBody, limit: usize) -> Option<Denial> {
    let content_type = wsgi_content_type(headers);
    match select_parser(&content_type) {
        None => Some(Denial::unsupported_media_type(&content_type)),
        Some(Parser::Form | Parser::MultiPart) => None,
        Some(Parser::Json) => {
            if !utf8_charset(&content_type) {
                return None;
            }
            let (bytes, complete) = body.peek(limit).await.ok()?;
            if !complete {
                return None;
            }
            match python_json::verdict(&bytes) {
                python_json::Verdict::Fails(message) => Some(Denial::json_parse_error(&message)),
                python_json::Verdict::Parses | python_json::Verdict::TooDeep => None,
            }
        }
    }
}

/// No `charset` parameter, or a spelling of UTF-8: Django then decodes the
/// body as UTF-8 (`request.encoding`).
fn utf8_charset(content_type: &str) -> bool {
    content_type.split(';').skip(1).all(|param| {
        let Some((name, value)) = param.split_once('=') else {
            return true;
        };
        if !name.trim().eq_ignore_ascii_case("charset") {
            return true;
        }
        let value = value
            .trim()
            .trim_matches('"')
            .to_ascii_lowercase()
            .replace(['-', '_'], "");
        value == "utf8"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers_as_drf_selects_them() {
        assert_eq!(select_parser("application/json"), Some(Parser::Json));
        assert_eq!(
            select_parser("Application/JSON; charset=utf-8"),
            Some(Parser::Json)
        );
        assert_eq!(select_parser("*/*"), Some(Parser::Json));
        assert_eq!(select_parser("application/*"), Some(Parser::Json));
        assert_eq!(select_parser("multipart/*"), Some(Parser::MultiPart));
        assert_eq!(
            select_parser("application/x-www-form-urlencoded"),
            Some(Parser::Form)
        );
        assert_eq!(
            select_parser("multipart/form-data; boundary=x"),
            Some(Parser::MultiPart)
        );
        assert_eq!(select_parser("text/plain"), None);
        assert_eq!(select_parser("application/json-patch+json"), None);
        assert_eq!(select_parser(""), None);
    }

    #[test]
    fn charsets() {
        assert!(utf8_charset("application/json"));
        assert!(utf8_charset("application/json; charset=UTF-8"));
        assert!(utf8_charset("application/json; charset=\"utf8\""));
        assert!(!utf8_charset("application/json; charset=latin-1"));
    }
}
