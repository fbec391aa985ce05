//! The `csrfmiddlewaretoken` field of a POST form body, found the way
//! Django finds `request.POST.get("csrfmiddlewaretoken")`: the last value
//! wins, and multipart bodies are split the way Django's `MultiPartParser`
//! splits them (`_find_boundary`, `parse_boundary_stream`,
//! `parse_header_parameters`), so the gateway and a Django upstream read the
//! same field from the same bytes.
//!
//! Multipart is parsed here rather than with a streaming crate (multer)
//! because Django's exact leniencies are the point, and only one field is
//! needed from a buffer already in hand. Boundary search is `memchr::memmem`
//! (linear time), and boundaries are limited as Django limits them, so a
//! crafted body cannot make the search quadratic.

use std::borrow::Cow;

use memchr::memmem;

/// The two form encodings Django parses into `request.POST`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormKind<'a> {
    UrlEncoded,
    Multipart { boundary: &'a str },
}

/// A multipart Content-Type whose boundary Django would refuse (400).
#[derive(Debug, PartialEq, Eq)]
pub struct InvalidBoundary;

pub const FIELD: &str = "csrfmiddlewaretoken";

/// Django reads a part's headers from its first 1024 bytes only.
const MAX_PART_HEADER: usize = 1024;
/// `parse_header_parameters` refuses longer lines.
const MAX_HEADER_LINE: usize = 10_000;

/// The form kind of a Content-Type value, if Django would parse the body
/// into `request.POST`; an error for a multipart type with a bad boundary.
pub fn form_kind(content_type: &str) -> Result<Option<FormKind<'_>>, InvalidBoundary> {
    let mut params = content_type.split(';');
    let media_type = params.next().unwrap_or("").trim();
    if media_type.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Ok(Some(FormKind::UrlEncoded));
    }
    if !media_type.eq_ignore_ascii_case("multipart/form-data") {
        return Ok(None);
    }
    let boundary = params
        .find_map(|p| {
            let (key, value) = p.split_once('=')?;
            key.trim()
                .eq_ignore_ascii_case("boundary")
                .then(|| value.trim().trim_matches('"'))
        })
        .unwrap_or("");
    // Django's boundary_re, `[ -~]{0,200}[!-~]`, plus RFC 2046's own cap
    // of 70 being far below it: 1 to 201 printable ASCII characters, the
    // last not a space.
    let valid = !boundary.is_empty()
        && boundary.len() <= 201
        && boundary.bytes().all(|b| (b' '..=b'~').contains(&b))
        && !boundary.ends_with(' ');
    if !valid {
        return Err(InvalidBoundary);
    }
    Ok(Some(FormKind::Multipart { boundary }))
}

/// The last `csrfmiddlewaretoken` value in `body`. `complete` is false when
/// `body` is only the start of a longer body: a field cut off at the end is
/// then ignored rather than read short.
pub fn token_field(kind: FormKind<'_>, body: &[u8], complete: bool) -> Option<String> {
    match kind {
        FormKind::UrlEncoded => url_encoded_field(body, complete),
        FormKind::Multipart { boundary } => multipart_field(body, boundary, complete),
    }
}

fn url_encoded_field(body: &[u8], complete: bool) -> Option<String> {
    let body = if complete {
        body
    } else {
        // Keep whole `key=value` pairs only.
        let end = memchr::memrchr(b'&', body)?;
        &body[..end]
    };
    form_urlencoded::parse(body)
        .filter(|(key, _)| key == FIELD)
        .last()
        .map(|(_, value)| value.into_owned())
}

fn multipart_field(body: &[u8], boundary: &str, complete: bool) -> Option<String> {
    let delimiter = format!("--{boundary}");
    let finder = memmem::Finder::new(delimiter.as_bytes());
    let mut found = None;
    let mut start = 0;
    // Each stretch between two delimiters is a part (the preamble and the
    // epilogue too: they just never have a content-disposition).
    for at in finder.find_iter(body) {
        if let Some(value) = field_value(part_content(&body[start..at])) {
            found = Some(value);
        }
        start = at + delimiter.len();
    }
    // After the last delimiter: a part only when the body is complete.
    if complete {
        if let Some(value) = field_value(&body[start..]) {
            found = Some(value);
        }
    }
    found
}

/// `_find_boundary`: the part ends before the delimiter, less one "\n"
/// and then one "\r" in front of it.
fn part_content(part: &[u8]) -> &[u8] {
    let part = part.strip_suffix(b"\n").unwrap_or(part);
    part.strip_suffix(b"\r").unwrap_or(part)
}

/// The value of a part that is the `csrfmiddlewaretoken` field.
fn field_value(part: &[u8]) -> Option<String> {
    let window = &part[..part.len().min(MAX_PART_HEADER)];
    let header_end = memmem::find(window, b"\r\n\r\n")?;
    let mut is_field = false;
    let mut name = None;
    let mut base64 = false;
    for line in window[..header_end].split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(HeaderLine {
            name: header,
            value,
            params,
        }) = header_line(line)
        else {
            continue;
        };
        match header.as_str() {
            "content-disposition" => {
                let filename = params
                    .iter()
                    .find(|(k, _)| k == "filename")
                    .map(|(_, v)| v.as_str());
                // A part with a non-empty filename is a file, not a field.
                is_field = filename.is_none_or(str::is_empty);
                name = params
                    .into_iter()
                    .find(|(k, _)| k == "name")
                    .map(|(_, v)| v.trim().to_string());
            }
            "content-transfer-encoding" => base64 = value.trim() == "base64",
            _ => {}
        }
    }
    if !is_field || name.as_deref() != Some(FIELD) {
        return None;
    }
    let data = &part[header_end + 4..];
    let data: Cow<[u8]> = if base64 {
        python_b64decode(data).map_or(Cow::Borrowed(data), Cow::Owned)
    } else {
        Cow::Borrowed(data)
    };
    Some(String::from_utf8_lossy(&data).into_owned())
}

/// One part-header line as `parse_header_parameters` reads it: the text
/// before the first ';', lower-cased and split at its first ':' (the name is
/// not trimmed, so "Content-Disposition :" is some other header), and the
/// parameters. `None` for a line Django skips.
/// One parsed part-header line.
struct HeaderLine {
    /// Lower-cased, not trimmed.
    name: String,
    value: String,
    /// Parameter names lower-cased, values unquoted.
    params: Vec<(String, String)>,
}

fn header_line(line: &[u8]) -> Option<HeaderLine> {
    if line.len() > MAX_HEADER_LINE {
        return None;
    }
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = split_params(line).into_iter();
    let key = parts.next()?.to_lowercase();
    let (name, value) = key.split_once(':')?;
    let params = parts
        .filter_map(|p| {
            let (name, value) = p.split_once('=')?;
            let mut name = name.trim().to_lowercase();
            let mut encoded = false;
            if name.ends_with('*') {
                name.pop();
                encoded = p.matches('\'').count() == 2;
            }
            let mut value = value.trim().to_string();
            if value.len() >= 2 && value.starts_with('"') && value.ends_with('"') {
                value = value[1..value.len() - 1]
                    .replace("\\\\", "\\")
                    .replace("\\\"", "\"");
            }
            if encoded {
                // RFC 2231: charset'language'percent-encoded-value
                let raw = value.splitn(3, '\'').nth(2).unwrap_or("");
                value = percent_encoding::percent_decode_str(raw)
                    .decode_utf8_lossy()
                    .into_owned();
            }
            Some((name, value))
        })
        .collect();
    Some(HeaderLine {
        name: name.to_string(),
        value: value.to_string(),
        params,
    })
}

/// `_parseparam`: split at ';' outside double quotes, each piece trimmed.
fn split_params(line: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = line;
    loop {
        let mut end = None;
        let mut search_from = 0;
        while let Some(offset) = rest[search_from..].find(';') {
            let at = search_from + offset;
            let quotes = rest[..at].matches('"').count() - rest[..at].matches("\\\"").count();
            if at > 0 && quotes % 2 == 0 {
                end = Some(at);
                break;
            }
            if at == 0 {
                end = Some(0);
                break;
            }
            search_from = at + 1;
        }
        match end {
            Some(at) => {
                pieces.push(rest[..at].trim());
                rest = &rest[at + 1..];
            }
            None => {
                pieces.push(rest.trim());
                return pieces;
            }
        }
    }
}

/// Python's `base64.b64decode(data)` without `validate`: characters outside
/// the alphabet are discarded, and bad padding is an error (Django then
/// keeps the raw bytes). Written here because the `base64` crate is strict
/// by design and Python's leniency is what must be matched.
fn python_b64decode(data: &[u8]) -> Option<Vec<u8>> {
    fn value(b: u8) -> Option<u8> {
        match b {
            b'A'..=b'Z' => Some(b - b'A'),
            b'a'..=b'z' => Some(b - b'a' + 26),
            b'0'..=b'9' => Some(b - b'0' + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(data.len() * 3 / 4);
    let mut group = [0u8; 4];
    let mut filled = 0;
    let mut padded = false;
    for &b in data {
        if b == b'=' {
            padded = true;
            break;
        }
        let Some(v) = value(b) else { continue };
        group[filled] = v;
        filled += 1;
        if filled == 4 {
            out.push(group[0] << 2 | group[1] >> 4);
            out.push(group[1] << 4 | group[2] >> 2);
            out.push(group[2] << 6 | group[3]);
            filled = 0;
        }
    }
    match (filled, padded) {
        (0, _) => {}
        (2, true) => out.push(group[0] << 2 | group[1] >> 4),
        (3, true) => {
            out.push(group[0] << 2 | group[1] >> 4);
            out.push(group[1] << 4 | group[2] >> 2);
        }
        _ => return None,
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn multipart(body: &str) -> Option<String> {
        token_field(
            FormKind::Multipart { boundary: "XyZ" },
            body.as_bytes(),
            true,
        )
    }

    #[test]
    fn content_types() {
        assert_eq!(
            form_kind("application/x-www-form-urlencoded"),
            Ok(Some(FormKind::UrlEncoded))
        );
        assert_eq!(
            form_kind("Application/X-WWW-Form-Urlencoded; charset=utf-8"),
            Ok(Some(FormKind::UrlEncoded))
        );
        assert_eq!(
            form_kind("multipart/form-data; boundary=\"abc\""),
            Ok(Some(FormKind::Multipart { boundary: "abc" }))
        );
        assert_eq!(form_kind("multipart/form-data"), Err(InvalidBoundary));
        assert_eq!(
            form_kind(&format!(
                "multipart/form-data; boundary={}",
                "-".repeat(300)
            )),
            Err(InvalidBoundary)
        );
        assert_eq!(form_kind("application/json"), Ok(None));
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
        let body = "preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"csrfmiddlewaretoken\"; filename=\"t.txt\"\r\n\r\nFROMFILE\r\n--XyZ\r\ncontent-disposition: form-data; name=\"csrfmiddlewaretoken\"\r\n\r\nTOKEN\r\n--XyZ\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--XyZ--\r\n";
        assert_eq!(multipart(body).as_deref(), Some("TOKEN"));
        let cut = &body.as_bytes()[..body.len() - 60];
        assert_eq!(
            token_field(FormKind::Multipart { boundary: "XyZ" }, cut, false).as_deref(),
            Some("TOKEN")
        );
        assert_eq!(
            token_field(
                FormKind::Multipart { boundary: "XyZ" },
                b"--XyZ\r\nbroken",
                false
            ),
            None
        );
    }

    #[test]
    fn multipart_leniencies_match_django() {
        let part =
            |head: &str, value: &str| format!("--XyZ\r\n{head}\r\n\r\n{value}\r\n--XyZ--\r\n");
        // Accepted by Django:
        for head in [
            "Content-Disposition: form-data; name=\"csrfmiddlewaretoken\"; filename=\"\"",
            "Content-Disposition: attachment; name=\"csrfmiddlewaretoken\"",
            "Content-Disposition: form-data; name*=utf-8''csrfmiddlewaretoken",
            "Content-Disposition: form-data; name=\" csrfmiddlewaretoken \"",
        ] {
            assert_eq!(
                multipart(&part(head, "TOKEN")).as_deref(),
                Some("TOKEN"),
                "{head}"
            );
        }
        // LF only before the delimiter, and spaces after it.
        let lf = "--XyZ  \r\nContent-Disposition: form-data; name=\"csrfmiddlewaretoken\"\r\n\r\nTOKEN\n--XyZ--";
        assert_eq!(multipart(lf).as_deref(), Some("TOKEN"));
        // Not a content-disposition header for Django (space before ':').
        let spaced = part(
            "Content-Disposition : form-data; name=\"csrfmiddlewaretoken\"",
            "TOKEN",
        );
        assert_eq!(multipart(&spaced), None);
        // base64 transfer encoding is decoded.
        let b64 = part(
            "Content-Disposition: form-data; name=\"csrfmiddlewaretoken\"\r\nContent-Transfer-Encoding: base64",
            "VE9LRU4=",
        );
        assert_eq!(multipart(&b64).as_deref(), Some("TOKEN"));
    }

    #[test]
    fn base64_like_python() {
        assert_eq!(
            python_b64decode(b"VE9LRU4=").as_deref(),
            Some(&b"TOKEN"[..])
        );
        assert_eq!(
            python_b64decode(b"VE9L\nRU4=").as_deref(),
            Some(&b"TOKEN"[..])
        );
        assert_eq!(python_b64decode(b"VE9LRU4"), None);
        assert_eq!(python_b64decode(b"abc"), None);
    }

    #[test]
    fn a_longest_boundary_over_a_body_of_near_matches() {
        // The shape of the body that made a naive search quadratic.
        let boundary = "-".repeat(200) + "x";
        let body = "-".repeat(2_600_000);
        let kind = FormKind::Multipart {
            boundary: &boundary,
        };
        assert_eq!(token_field(kind, body.as_bytes(), true), None);
    }
}
