//! The `csrfmiddlewaretoken` field of a POST form body, found the way
//! Django's `request.POST.get("csrfmiddlewaretoken")` finds it (the last
//! value wins; file parts are not fields), in the first bytes of the body.
//!
//! Only the start of the body is read (see `csrf.form_body_limit`): HTML
//! forms render the hidden token field first, and the whole body is
//! forwarded untouched either way. Multipart is parsed here rather than with
//! a streaming crate (multer) because only one small field is needed from a
//! buffer already in hand.

/// The two form encodings Django parses into `request.POST`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormKind<'a> {
    UrlEncoded,
    Multipart { boundary: &'a str },
}

pub const FIELD: &str = "csrfmiddlewaretoken";

/// The form kind of a Content-Type value, if Django would parse it as one.
pub fn form_kind(content_type: &str) -> Option<FormKind<'_>> {
    let mut params = content_type.split(';');
    let media_type = params.next()?.trim();
    if media_type.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Some(FormKind::UrlEncoded);
    }
    if !media_type.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    let boundary = params.find_map(|p| {
        let (key, value) = p.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| value.trim().trim_matches('"'))
    })?;
    (!boundary.is_empty()).then_some(FormKind::Multipart { boundary })
}

/// The last `csrfmiddlewaretoken` value in `body`. `complete` is false when
/// `body` is only the start of a longer body: a field cut off at the end is
/// then ignored rather than read short.
pub fn token_field(kind: FormKind<'_>, body: &[u8], complete: bool) -> Option<String> {
    match kind {
        FormKind::UrlEncoded => url_encoded_field(body, complete),
        FormKind::Multipart { boundary } => multipart_field(body, boundary),
    }
}

fn url_encoded_field(body: &[u8], complete: bool) -> Option<String> {
    let body = if complete {
        body
    } else {
        // Keep whole `key=value` pairs only.
        let end = body.iter().rposition(|&b| b == b'&')?;
        &body[..end]
    };
    form_urlencoded::parse(body)
        .filter(|(key, _)| key == FIELD)
        .last()
        .map(|(_, value)| value.into_owned())
}

fn multipart_field(body: &[u8], boundary: &str) -> Option<String> {
    let delimiter = format!("--{boundary}");
    let mut found = None;
    let mut rest = body;
    // Skip the preamble up to the first delimiter.
    let start = find(rest, delimiter.as_bytes())?;
    rest = &rest[start + delimiter.len()..];
    loop {
        if rest.starts_with(b"--") {
            break; // closing delimiter
        }
        let Some(part_start) = rest.strip_prefix(b"\r\n") else {
            break;
        };
        let Some(head_end) = find(part_start, b"\r\n\r\n") else {
            break;
        };
        let head = &part_start[..head_end];
        let content = &part_start[head_end + 4..];
        let closing = format!("\r\n{delimiter}");
        // A part with no delimiter after it was cut off: ignore it.
        let Some(content_end) = find(content, closing.as_bytes()) else {
            break;
        };
        if is_token_field(head) {
            found = Some(String::from_utf8_lossy(&content[..content_end]).into_owned());
        }
        rest = &content[content_end + closing.len()..];
    }
    found
}

/// True for a part whose Content-Disposition is `form-data; name="csrfmiddlewaretoken"`
/// without a filename (a file part is not a POST field in Django).
fn is_token_field(head: &[u8]) -> bool {
    let head = String::from_utf8_lossy(head);
    head.split("\r\n").any(|line| {
        let Some((name, value)) = line.split_once(':') else {
            return false;
        };
        if !name.trim().eq_ignore_ascii_case("content-disposition") {
            return false;
        }
        let mut params = value.split(';').map(str::trim);
        let is_form_data = params
            .next()
            .is_some_and(|d| d.eq_ignore_ascii_case("form-data"));
        let mut field_name = None;
        let mut has_filename = false;
        for param in params {
            if let Some((key, value)) = param.split_once('=') {
                match key.trim().to_ascii_lowercase().as_str() {
                    "name" => field_name = Some(value.trim().trim_matches('"').to_string()),
                    "filename" | "filename*" => has_filename = true,
                    _ => {}
                }
            }
        }
        is_form_data && !has_filename && field_name.as_deref() == Some(FIELD)
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert_eq!(
            form_kind("application/x-www-form-urlencoded"),
            Some(FormKind::UrlEncoded)
        );
        assert_eq!(
            form_kind("Application/X-WWW-Form-Urlencoded; charset=utf-8"),
            Some(FormKind::UrlEncoded)
        );
        assert_eq!(
            form_kind("multipart/form-data; boundary=\"abc\""),
            Some(FormKind::Multipart { boundary: "abc" })
        );
        assert_eq!(form_kind("multipart/form-data"), None);
        assert_eq!(form_kind("application/json"), None);
    }

    #[test]
    fn url_encoded_last_value_wins_and_cut_fields_are_ignored() {
        let body = b"a=1&csrfmiddlewaretoken=first&csrfmiddlewaretoken=sec%20ond&b=2";
        assert_eq!(
            token_field(FormKind::UrlEncoded, body, true).as_deref(),
            Some("sec ond")
        );
        let cut = b"csrfmiddlewaretoken=whole&csrfmiddlewaretoken=cu";
        assert_eq!(
            token_field(FormKind::UrlEncoded, cut, false).as_deref(),
            Some("whole")
        );
        assert_eq!(token_field(FormKind::UrlEncoded, b"a=1", true), None);
    }

    #[test]
    fn multipart_fields_not_files() {
        let body = b"preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"csrfmiddlewaretoken\"; filename=\"t.txt\"\r\n\r\nFROMFILE\r\n--XyZ\r\ncontent-disposition: form-data; name=\"csrfmiddlewaretoken\"\r\n\r\nTOKEN\r\n--XyZ\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--XyZ--\r\n";
        let kind = FormKind::Multipart { boundary: "XyZ" };
        assert_eq!(token_field(kind, body, true).as_deref(), Some("TOKEN"));
        let cut = &body[..body.len() - 60];
        assert_eq!(token_field(kind, cut, false).as_deref(), Some("TOKEN"));
        assert_eq!(token_field(kind, b"--XyZ\r\nbroken", false), None);
    }
}
