//! A media type as DRF reads one (`rest_framework.utils.mediatypes.
//! _MediaType`, over Django's `parse_header_parameters` and the stdlib's
//! `email.message._parseparam`): the type lower-cased and split at its
//! first `/`, and only what DRF's matching and precedence look at, which
//! is the type and the names of its parameters.

use std::borrow::Cow;

/// One `Accept` entry or a `Content-Type`, as `_MediaType` holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaType<'a> {
    /// `main/sub`, lower-cased (borrowed when it already was).
    key: Cow<'a, str>,
    /// A parameter other than `q` (precedence 3, "type/subtype; param=val").
    params_beyond_q: bool,
}

impl<'a> MediaType<'a> {
    /// `_MediaType(text)`.
    pub fn parse(text: &'a str) -> MediaType<'a> {
        let (key, params_beyond_q) = header_parameters(text);
        MediaType {
            key,
            params_beyond_q,
        }
    }

    /// The type and subtype, split at the first `/` (`str.partition`).
    fn parts(&self) -> (&str, &str) {
        self.key.split_once('/').unwrap_or((&self.key, ""))
    }

    /// `_MediaType.precedence`: 0 for `*/*`, 1 for `type/*`, 2 for
    /// `type/subtype` (with at most `q`), 3 with other parameters.
    pub fn precedence(&self) -> u8 {
        let (main, sub) = self.parts();
        if main == "*" {
            0
        } else if sub == "*" {
            1
        } else if !self.params_beyond_q {
            2
        } else {
            3
        }
    }

    /// `media_type_matches(server_type, self)` for a renderer's or
    /// parser's own type (`main/sub`, no parameters, never a wildcard):
    /// this side may use `*` for either part.
    pub fn admits(&self, main: &str, sub: &str) -> bool {
        let (own_main, own_sub) = self.parts();
        (own_sub == "*" || own_sub == sub) && (own_main == "*" || own_main == main)
    }
}

/// Django's `parse_header_parameters(line)`: the lower-cased key, and
/// whether a parameter other than `q` is present.
fn header_parameters(line: &str) -> (Cow<'_, str>, bool) {
    if line.is_empty() {
        return (Cow::Borrowed(""), false);
    }
    if !line.contains(';') {
        return (lower(py_strip(line)), false);
    }
    let mut segments = email_segments(line).into_iter();
    // The first segment is the type (what comes before a `=` in it).
    let first = segments.next().unwrap_or_default();
    let key = lower(py_strip(
        first.split_once('=').map_or(first, |(name, _)| name),
    ));
    let beyond_q = segments.any(|segment| {
        let name = py_strip(segment.split_once('=').map_or(segment, |(name, _)| name));
        let name = name.to_lowercase();
        // email.utils.decode_params: `name*` and `name*0*` are RFC 2231
        // pieces of `name`.
        let name = rfc2231_name(&name).unwrap_or(&name);
        !name.is_empty() && name != "q"
    });
    (key, beyond_q)
}

/// Python's `str.lower()`; no copy for the usual text, which already is.
fn lower(text: &str) -> Cow<'_, str> {
    if text
        .bytes()
        .all(|b| b.is_ascii() && !b.is_ascii_uppercase())
    {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.to_lowercase())
    }
}

/// `email.message._parseparam`: `line` split at each `;` that is not
/// inside double quotes (counted as the stdlib counts them).
///
/// The stdlib recounts the quotes before every candidate `;`; the counts
/// are kept here as the scan goes, so a long header costs linear time.
fn email_segments(line: &str) -> Vec<&str> {
    let mut segments = Vec::new();
    let bytes = line.as_bytes();
    let mut start = 0;
    // `"` and `\"` seen since `start`.
    let (mut quotes, mut escaped) = (0usize, 0usize);
    for (at, &byte) in bytes.iter().enumerate() {
        match byte {
            b'"' => {
                quotes += 1;
                if at > start && bytes[at - 1] == b'\\' {
                    escaped += 1;
                }
            }
            // A `;` first in the segment splits at once, as the stdlib's
            // `while end > 0` loop does.
            b';' if at == start || (quotes - escaped) % 2 == 0 => {
                segments.push(&line[start..at]);
                start = at + 1;
                (quotes, escaped) = (0, 0);
            }
            _ => {}
        }
    }
    segments.push(&line[start..]);
    segments
}

/// `rfc2231_continuation`, `^(?P<name>\w+)\*((?P<num>[0-9]+)\*?)?$` (ASCII).
fn rfc2231_name(name: &str) -> Option<&str> {
    let (base, tail) = name.split_once('*')?;
    let word = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    let digits = tail.strip_suffix('*').unwrap_or(tail);
    let tail_ok =
        tail.is_empty() || (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()));
    (word(base) && tail_ok).then_some(base)
}

/// Python's `str.strip()`: whitespace as `str.isspace` knows it (of the
/// Latin-1 characters a header can hold: `\t`..`\r`, `\x1c`..`\x1f`,
/// space, `\x85`, `\xa0`).
pub fn py_strip(text: &str) -> &str {
    text.trim_matches(|c: char| {
        matches!(c, '\t'..='\r' | '\x1c'..='\x1f' | ' ' | '\u{85}' | '\u{a0}') || c.is_whitespace()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_as_drf_counts_it() {
        for (text, precedence) in [
            ("*/*", 0),
            ("*/*;q=0.8", 0),
            ("text/*", 1),
            ("text/html", 2),
            ("text/html;q=0.1", 2),
            ("text/html; Q=0.1", 2),
            ("text/html;level=1", 3),
            ("text/html;;", 2),
            ("text/html;q*=x", 2),
            ("text/html;a*0*=x", 3),
            ("TEXT/HTML ", 2),
            ("html", 2),
            ("", 2),
        ] {
            assert_eq!(MediaType::parse(text).precedence(), precedence, "{text}");
        }
    }

    #[test]
    fn matching_as_drf_matches() {
        assert!(MediaType::parse("Application/JSON").admits("application", "json"));
        assert!(MediaType::parse("*/*").admits("application", "json"));
        assert!(MediaType::parse("application/*; charset=x").admits("application", "json"));
        assert!(!MediaType::parse("application/json/x").admits("application", "json"));
        assert!(!MediaType::parse("*").admits("application", "json"));
        assert!(!MediaType::parse("").admits("application", "json"));
        assert!(MediaType::parse(" text/html ; q=0").admits("text", "html"));
        assert!(MediaType::parse("text/html=x; a").admits("text", "html"));
    }

    #[test]
    fn quoted_semicolons_stay_in_their_parameter() {
        assert_eq!(
            email_segments(r#"a/b; x="1;2"; q=1"#),
            vec!["a/b", r#" x="1;2""#, " q=1"]
        );
        assert_eq!(email_segments("a/b;;c"), vec!["a/b", "", "c"]);
    }

    /// The stdlib's own loop, which recounts the quotes before each `;`.
    fn stdlib_segments(line: &str) -> Vec<&str> {
        let mut segments = Vec::new();
        let mut rest = line;
        loop {
            let mut end = rest.find(';');
            while let Some(at) = end.filter(|&at| at > 0) {
                let quotes = rest[..at].matches('"').count() - rest[..at].matches("\\\"").count();
                if quotes % 2 == 0 {
                    break;
                }
                end = rest[at + 1..].find(';').map(|next| at + 1 + next);
            }
            match end {
                Some(at) => {
                    segments.push(&rest[..at]);
                    rest = &rest[at + 1..];
                }
                None => {
                    segments.push(rest);
                    return segments;
                }
            }
        }
    }

    #[test]
    fn the_linear_scan_splits_as_the_stdlib_does() {
        // Every string of up to 6 characters over the ones that matter.
        let alphabet = ['a', ';', '"', '\\', '='];
        let mut lines = vec![String::new()];
        for _ in 0..6 {
            let longer: Vec<String> = lines
                .iter()
                .flat_map(|line| alphabet.iter().map(move |c| format!("{line}{c}")))
                .collect();
            for line in &longer {
                assert_eq!(email_segments(line), stdlib_segments(line), "{line:?}");
            }
            lines = longer;
        }
        // A header built to be quadratic for the stdlib's loop.
        let long = format!("a/b;\"{}", ";".repeat(60_000));
        assert_eq!(email_segments(&long).len(), 2);
    }
}
