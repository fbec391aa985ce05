//! What DRF's `JSONParser` says of a request body, byte for byte: the body
//! decoded as `codecs.getreader("utf-8")` decodes a stream, then CPython
//! 3.11's C JSON scanner (`Modules/_json.c`, the one `json.load` uses)
//! with DRF's strict constants. Only the error is computed, never a value:
//! the gateway needs Python's message (`JSON parse error - <str(exc)>`),
//! with positions in characters of the decoded text as Python counts them.
//!
//! Checked against Python itself (`tests/it/drf_parity.rs` runs DRF's
//! parser on the same bodies). The scan is iterative, so a deeply nested
//! body costs memory, never the stack.

use std::fmt::Write as _;

/// Nesting beyond this is not judged: CPython raises `RecursionError`
/// near its recursion limit (1000 frames, less the stack Django and DRF
/// already use), which DRF does not catch (a 500). The gateway then gives
/// no parse verdict and the CSRF check decides as it would anyway.
pub const MAX_DEPTH: usize = 800;

/// CPython's `sys.int_info.default_max_str_digits`: a longer integer
/// literal is a `ValueError`, which DRF reports like a syntax error.
const MAX_INT_DIGITS: usize = 4300;

/// What DRF's JSONParser makes of a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Python parses it.
    Parses,
    /// Python refuses it with this message (`str(exc)`; DRF prefixes
    /// `JSON parse error - `).
    Fails(String),
    /// Nested deeper than `MAX_DEPTH`: no verdict.
    TooDeep,
}

/// Runs DRF's `JSONParser.parse` on `body` (UTF-8, DRF's default charset).
pub fn verdict(body: &[u8]) -> Verdict {
    let text = match decode(body) {
        Ok(text) => text,
        Err(message) => return Verdict::Fails(message),
    };
    if text.starts_with('\u{feff}') {
        return Verdict::Fails(located(
            text,
            "Unexpected UTF-8 BOM (decode using utf-8-sig)",
            0,
        ));
    }
    let scanner = Scanner {
        text,
        bytes: text.as_bytes(),
    };
    match scanner.document() {
        Ok(()) => Verdict::Parses,
        Err(Problem::At(message, at)) => Verdict::Fails(located(text, message, at)),
        Err(Problem::Plain(message)) => Verdict::Fails(message),
        Err(Problem::TooDeep) => Verdict::TooDeep,
    }
}

/// The body as `codecs.getreader("utf-8")(stream).read()` returns it: an
/// invalid sequence is a `UnicodeDecodeError` (its `str()`, with byte
/// positions); an incomplete sequence at the very end is silently left out
/// (the stream reader decodes with `final=False` and never flushes).
fn decode(body: &[u8]) -> Result<&str, String> {
    match std::str::from_utf8(body) {
        Ok(text) => Ok(text),
        Err(error) => {
            let start = error.valid_up_to();
            let Some(length) = error.error_len() else {
                // Invariant: `valid_up_to` bytes are valid UTF-8.
                return Ok(std::str::from_utf8(&body[..start]).expect("valid prefix"));
            };
            let first = body[start];
            // Python's reasons: a byte that cannot start a sequence, or a
            // start byte whose follower does not fit.
            let reason = if matches!(first, 0x80..=0xc1 | 0xf5..=0xff) {
                "invalid start byte"
            } else {
                "invalid continuation byte"
            };
            Err(if length == 1 {
                format!(
                    "'utf-8' codec can't decode byte 0x{first:02x} in position {start}: {reason}"
                )
            } else {
                format!(
                    "'utf-8' codec can't decode bytes in position {start}-{}: {reason}",
                    start + length - 1
                )
            })
        }
    }
}

/// `JSONDecodeError.__str__`: `<msg>: line L column C (char P)`, where `at`
/// is a byte offset into `text` and L, C, P count characters.
fn located(text: &str, message: &str, at: usize) -> String {
    let before = &text[..at];
    let pos = before.chars().count();
    let line = before.matches('\n').count() + 1;
    let column = match before.rfind('\n') {
        Some(newline) => before[newline + 1..].chars().count() + 1,
        None => pos + 1,
    };
    let mut out = String::with_capacity(message.len() + 40);
    // Invariant: writing to a String cannot fail.
    let _ = write!(out, "{message}: line {line} column {column} (char {pos})");
    out
}

enum Problem {
    /// A `JSONDecodeError` at a byte offset.
    At(&'static str, usize),
    /// A `ValueError` without a position (constants, huge integers).
    Plain(String),
    TooDeep,
}

#[derive(Clone, Copy)]
enum Open {
    Array,
    Object,
}

struct Scanner<'t> {
    text: &'t str,
    bytes: &'t [u8],
}

impl Scanner<'_> {
    /// `JSONDecoder.decode`: whitespace, one value, whitespace, the end.
    fn document(&self) -> Result<(), Problem> {
        let start = self.whitespace(0);
        let end = self.value(start)?;
        let end = self.whitespace(end);
        if end != self.bytes.len() {
            return Err(Problem::At("Extra data", end));
        }
        Ok(())
    }

    /// `IS_WHITESPACE`: space, tab, newline, carriage return.
    fn whitespace(&self, mut at: usize) -> usize {
        while matches!(self.bytes.get(at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            at += 1;
        }
        at
    }

    fn byte(&self, at: usize) -> Option<u8> {
        self.bytes.get(at).copied()
    }

    /// `scan_once_unicode` at `at`, with the containers it opens walked
    /// iteratively (`_parse_object_unicode`, `_parse_array_unicode`);
    /// returns the offset after the value.
    fn value(&self, mut at: usize) -> Result<usize, Problem> {
        let mut open: Vec<Open> = Vec::new();
        'value: loop {
            // One value at `at`; a container opens and loops back here.
            match self.byte(at) {
                None => return Err(Problem::At("Expecting value", at)),
                Some(b'"') => at = self.string(at + 1)?,
                Some(b'{') => {
                    at = self.whitespace(at + 1);
                    if self.byte(at) == Some(b'}') {
                        at += 1;
                    } else {
                        open.push(Open::Object);
                        if open.len() > MAX_DEPTH {
                            return Err(Problem::TooDeep);
                        }
                        at = self.key(at)?;
                        continue 'value;
                    }
                }
                Some(b'[') => {
                    at = self.whitespace(at + 1);
                    if self.byte(at) == Some(b']') {
                        at += 1;
                    } else {
                        open.push(Open::Array);
                        if open.len() > MAX_DEPTH {
                            return Err(Problem::TooDeep);
                        }
                        continue 'value;
                    }
                }
                Some(_) => at = self.scalar(at)?,
            }
            // A value ended at `at`: close what it ends, or go on to the next.
            loop {
                let Some(&container) = open.last() else {
                    return Ok(at);
                };
                let close = match container {
                    Open::Array => b']',
                    Open::Object => b'}',
                };
                at = self.whitespace(at);
                if self.byte(at) == Some(close) {
                    open.pop();
                    at += 1;
                    continue;
                }
                if self.byte(at) != Some(b',') {
                    return Err(Problem::At("Expecting ',' delimiter", at));
                }
                at = self.whitespace(at + 1);
                if let Open::Object = container {
                    at = self.key(at)?;
                }
                continue 'value;
            }
        }
    }

    /// An object's `"key"`, its `:` and the whitespace after: returns where
    /// the member's value starts.
    fn key(&self, at: usize) -> Result<usize, Problem> {
        if self.byte(at) != Some(b'"') {
            return Err(Problem::At(
                "Expecting property name enclosed in double quotes",
                at,
            ));
        }
        let at = self.whitespace(self.string(at + 1)?);
        if self.byte(at) != Some(b':') {
            return Err(Problem::At("Expecting ':' delimiter", at));
        }
        Ok(self.whitespace(at + 1))
    }

    /// The literals, DRF's refused constants, or a number.
    fn scalar(&self, at: usize) -> Result<usize, Problem> {
        let rest = &self.text[at..];
        for literal in ["null", "true", "false"] {
            if rest.starts_with(literal) {
                return Ok(at + literal.len());
            }
        }
        for constant in ["NaN", "Infinity", "-Infinity"] {
            if rest.starts_with(constant) {
                // rest_framework.utils.json.strict_constant
                return Err(Problem::Plain(format!(
                    "Out of range float values are not JSON compliant: '{constant}'"
                )));
            }
        }
        self.number(at)
    }

    /// `_match_number_unicode`: an integer part (one 0, or digits not
    /// starting with 0), then `.digits` only when a digit follows the dot,
    /// then an exponent only when it has digits (else it backtracks).
    fn number(&self, start: usize) -> Result<usize, Problem> {
        let digit = |at: usize| self.byte(at).is_some_and(|b| b.is_ascii_digit());
        let mut at = start;
        if self.byte(at) == Some(b'-') {
            at += 1;
        }
        let digits_from = at;
        match self.byte(at) {
            Some(b'1'..=b'9') => {
                while digit(at) {
                    at += 1;
                }
            }
            Some(b'0') => at += 1,
            _ => return Err(Problem::At("Expecting value", start)),
        }
        let mut float = false;
        if self.byte(at) == Some(b'.') && digit(at + 1) {
            float = true;
            at += 2;
            while digit(at) {
                at += 1;
            }
        }
        if matches!(self.byte(at), Some(b'e' | b'E')) {
            let mut exponent = at + 1;
            if matches!(self.byte(exponent), Some(b'+' | b'-')) {
                exponent += 1;
            }
            if digit(exponent) {
                float = true;
                while digit(exponent) {
                    exponent += 1;
                }
                at = exponent;
            }
        }
        let digits = at - digits_from;
        if !float && digits > MAX_INT_DIGITS {
            return Err(Problem::Plain(format!(
                "Exceeds the limit ({MAX_INT_DIGITS} digits) for integer string conversion: \
                 value has {digits} digits; use sys.set_int_max_str_digits() to increase the limit"
            )));
        }
        Ok(at)
    }

    /// `scanstring_unicode` from just after the opening quote (strict):
    /// returns the offset after the closing quote.
    fn string(&self, from: usize) -> Result<usize, Problem> {
        let begin = from - 1;
        let mut at = from;
        loop {
            let Some(&b) = self.bytes.get(at) else {
                return Err(Problem::At("Unterminated string starting at", begin));
            };
            match b {
                b'"' => return Ok(at + 1),
                b'\\' => at = self.escape(at, begin)?,
                0x00..=0x1f => return Err(Problem::At("Invalid control character at", at)),
                _ => at += 1,
            }
        }
    }

    /// The escape whose backslash is at `at`; returns the offset after it.
    fn escape(&self, at: usize, begin: usize) -> Result<usize, Problem> {
        match self.byte(at + 1) {
            None => Err(Problem::At("Unterminated string starting at", begin)),
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(at + 2),
            Some(b'u') => {
                // Four hex digits, and (as CPython checks `end >= len`)
                // something after them. A pair's second half is checked
                // the same way at its own `u`, where CPython reports it.
                let u = at + 1;
                let hex = self
                    .bytes
                    .get(u + 1..u + 5)
                    .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit));
                if !hex || u + 5 >= self.bytes.len() {
                    return Err(Problem::At("Invalid \\uXXXX escape", u));
                }
                Ok(u + 5)
            }
            Some(_) => Err(Problem::At("Invalid \\escape", at)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn says(body: &[u8]) -> String {
        match verdict(body) {
            Verdict::Fails(message) => message,
            other => format!("{other:?}"),
        }
    }

    /// Messages CPython 3.11 with DRF's JSONParser gave for these bodies.
    #[test]
    fn python_messages() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "Expecting value: line 1 column 1 (char 0)"),
            (b"  ", "Expecting value: line 1 column 3 (char 2)"),
            (
                b"{'a': 1}",
                "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
            ),
            (
                b"{\"a\":\"\xe2\x82",
                "Unterminated string starting at: line 1 column 6 (char 5)",
            ),
            (b"\xe2\x82", "Expecting value: line 1 column 1 (char 0)"),
            (
                b"\xff",
                "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte",
            ),
            (
                b"ab\xe2\x82A",
                "'utf-8' codec can't decode bytes in position 2-3: invalid continuation byte",
            ),
            (
                b"\"\xed\xa0\x80\"",
                "'utf-8' codec can't decode byte 0xed in position 1: invalid continuation byte",
            ),
            (
                b"\xef\xbb\xbf{}",
                "Unexpected UTF-8 BOM (decode using utf-8-sig): line 1 column 1 (char 0)",
            ),
            (b"-", "Expecting value: line 1 column 1 (char 0)"),
            (b"1.", "Extra data: line 1 column 2 (char 1)"),
            (b"1e", "Extra data: line 1 column 2 (char 1)"),
            (b"[1,]", "Expecting value: line 1 column 4 (char 3)"),
            (
                b"{\"a\":1,}",
                "Expecting property name enclosed in double quotes: line 1 column 8 (char 7)",
            ),
            (
                b"\"\\u12",
                "Invalid \\uXXXX escape: line 1 column 3 (char 2)",
            ),
            (
                b"\"\\u1234",
                "Invalid \\uXXXX escape: line 1 column 3 (char 2)",
            ),
            (
                b"\"\\ud800\\uzz\"",
                "Invalid \\uXXXX escape: line 1 column 9 (char 8)",
            ),
            (b"\"\\x\"", "Invalid \\escape: line 1 column 2 (char 1)"),
            (
                b"NaN",
                "Out of range float values are not JSON compliant: 'NaN'",
            ),
            (
                b"[-Infinity]",
                "Out of range float values are not JSON compliant: '-Infinity'",
            ),
            (
                b"\"a\x01\"",
                "Invalid control character at: line 1 column 3 (char 2)",
            ),
            (
                b"{\"a\" 1}",
                "Expecting ':' delimiter: line 1 column 6 (char 5)",
            ),
            (
                b"{\"a\":1 \"b\"}",
                "Expecting ',' delimiter: line 1 column 8 (char 7)",
            ),
            (b"\xc3\xa9\n x", "Expecting value: line 1 column 1 (char 0)"),
            (
                "{\"é\":\n  [1 2]}".as_bytes(),
                "Expecting ',' delimiter: line 2 column 6 (char 11)",
            ),
        ];
        for (body, message) in cases {
            assert_eq!(says(body), *message, "{:?}", String::from_utf8_lossy(body));
        }
        let long = "1".repeat(4301);
        assert_eq!(
            says(format!("-{long}").as_bytes()),
            "Exceeds the limit (4300 digits) for integer string conversion: value has 4301 \
             digits; use sys.set_int_max_str_digits() to increase the limit"
        );
        assert_eq!(verdict(&long.as_bytes()[1..]), Verdict::Parses);
    }

    #[test]
    fn valid_documents_parse() {
        for body in [
            &b"{}"[..],
            b" [ ] ",
            b"{\"a\": [1, -0.5e+3, true, false, null, \"\\ud83d\\ude00\\n\"]}",
            "\"é\"".as_bytes(),
            b"0",
            b"1E400",
        ] {
            assert_eq!(verdict(body), Verdict::Parses, "{body:?}");
        }
    }

    #[test]
    fn deep_nesting_is_no_verdict_and_no_stack_overflow() {
        let deep = "[".repeat(1_000_000);
        assert_eq!(verdict(deep.as_bytes()), Verdict::TooDeep);
        let fine = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert_eq!(verdict(fine.as_bytes()), Verdict::Parses);
    }
}
