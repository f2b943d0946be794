//! Docker's `json-file` log line (moby's `jsonlog.JSONLog` as Go's `encoding/json` reads it):
//! `{"log":"text\n","stream":"stdout","time":"2024-05-01T10:00:00.123456789Z"}`, plus `attrs`
//! when some log options are set.
//!
//! [`decode`] reads such a line with a small hand-written scanner instead of building a generic
//! JSON value: strings without escapes are borrowed from the input, and only strings with
//! escapes are unescaped into a new `String`. Field order does not matter, unknown fields
//! (`attrs`) are skipped, a repeated field keeps its last value, a lone surrogate escape becomes
//! U+FFFD and invalid UTF-8 is replaced, as in Go. Errors are values, never panics.
//!
//! Two readers share it: ferrotail's json-file reader, which then checks `stream` and `time`, and
//! the `docker` pipeline stage, which takes the three values as they are when the line is
//! [`JsonLog::plain`] (json-iterator reads the same values from such a line) and gives anything
//! else to the general JSON parser.

use std::borrow::Cow;
use std::fmt;

use crate::json::{find_quote_or_backslash, short_escape_byte, unescape_short};

/// The three fields of one line as found, unescaped (`None` when the line has no such field).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonLog<'a> {
    /// The `log` value, still with its trailing newline when it has one.
    pub log: Option<Cow<'a, str>>,
    /// The `stream` value.
    pub stream: Option<Cow<'a, str>>,
    /// The `time` value, as written.
    pub time: Option<Cow<'a, str>>,
    /// True when the object held `log`, `stream` and `time` once each and nothing else, and no
    /// string had a `\u` escape: on such a line, if it has no raw control characters,
    /// json-iterator (the `json` stage) reads the same three values.
    pub plain: bool,
}

/// Why a line could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The line is empty or only whitespace.
    Empty,
    /// The line ends inside the JSON object (a line still being written, or a cut file).
    Truncated,
    /// The line is not the JSON object expected.
    Syntax {
        /// Byte offset of the problem.
        offset: usize,
        /// What was expected there.
        expected: &'static str,
    },
    /// A required field (`log`, `stream` or `time`) is missing (the json-file reader's check).
    MissingField(&'static str),
    /// `stream` is neither `stdout` nor `stderr` (the json-file reader's check).
    BadStream(String),
    /// `time` is not an RFC 3339 timestamp (the json-file reader's check).
    BadTime {
        /// The value found.
        value: String,
        /// Why it was rejected.
        reason: &'static str,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Empty => f.write_str("empty docker json log line"),
            DecodeError::Truncated => f.write_str("truncated docker json log line"),
            DecodeError::Syntax { offset, expected } => {
                write!(
                    f,
                    "invalid docker json log line: expected {expected} at byte {offset}"
                )
            }
            DecodeError::MissingField(name) => {
                write!(f, "docker json log line has no {name:?} field")
            }
            DecodeError::BadStream(s) => {
                write!(f, "docker json log line has unknown stream {s:?}")
            }
            DecodeError::BadTime { value, reason } => {
                write!(f, "docker json log line has bad time {value:?}: {reason}")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// Decodes one line of a json-file log (with or without its terminating newline); invalid UTF-8
/// in a string becomes U+FFFD.
pub fn decode(input: &[u8]) -> Result<JsonLog<'_>, DecodeError> {
    // One validation of the whole line is cheaper than one per string; a line with invalid
    // UTF-8 (rare) is read with each string replaced on its own, which gives the same text.
    match std::str::from_utf8(input) {
        Ok(text) => decode_str(text),
        Err(_) => Scanner::new(input, None).line(),
    }
}

/// [`decode`] for text already known to be UTF-8 (no second validation).
pub fn decode_str(input: &str) -> Result<JsonLog<'_>, DecodeError> {
    Scanner::new(input.as_bytes(), Some(input)).line()
}

/// The unescaped bytes as a string. They are UTF-8: spans of UTF-8 text cut at ASCII bytes (or
/// replaced), ASCII escapes and encoded `char`s; the check is kept (it does not fail).
fn utf8_string(out: Vec<u8>) -> String {
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// The fields a line must have, as bits of [`Scanner::line`]'s `seen`.
const LOG: u8 = 1;
const STREAM: u8 = 2;
const TIME: u8 = 4;

struct Scanner<'a> {
    buf: &'a [u8],
    /// `buf` as text when the caller knows it is UTF-8.
    text: Option<&'a str>,
    pos: usize,
    /// A `\u` escape was read.
    unicode_escape: bool,
}

impl<'a> Scanner<'a> {
    fn new(buf: &'a [u8], text: Option<&'a str>) -> Self {
        Scanner {
            buf,
            text,
            pos: 0,
            unicode_escape: false,
        }
    }

    fn line(mut self) -> Result<JsonLog<'a>, DecodeError> {
        let input = self.buf;
        self.skip_ws();
        if self.pos >= input.len() {
            return Err(DecodeError::Empty);
        }
        self.expect(b'{', "'{'")?;
        let mut log: Option<Cow<'a, str>> = None;
        let mut stream: Option<Cow<'a, str>> = None;
        let mut time: Option<Cow<'a, str>> = None;
        let mut seen = 0u8;
        let mut plain = true;
        self.skip_ws();
        if self.peek()? == b'}' {
            self.pos += 1;
        } else {
            loop {
                self.skip_ws();
                let field = self.key()?;
                self.skip_ws();
                self.expect(b':', "':'")?;
                self.skip_ws();
                // A repeated or unknown field: not plain.
                plain &= field != 0 && seen & field == 0;
                seen |= field;
                match field {
                    LOG => log = Some(self.string()?),
                    STREAM => stream = Some(self.string()?),
                    TIME => time = Some(self.string()?),
                    _ => self.skip_value()?,
                }
                self.skip_ws();
                match self.peek()? {
                    b',' => self.pos += 1,
                    b'}' => {
                        self.pos += 1;
                        break;
                    }
                    _ => {
                        return Err(DecodeError::Syntax {
                            offset: self.pos,
                            expected: "',' or '}'",
                        })
                    }
                }
            }
        }
        self.skip_ws();
        if self.pos < input.len() {
            return Err(DecodeError::Syntax {
                offset: self.pos,
                expected: "end of line",
            });
        }
        Ok(JsonLog {
            log,
            stream,
            time,
            plain: plain && seen == LOG | STREAM | TIME && !self.unicode_escape,
        })
    }

    fn peek(&self) -> Result<u8, DecodeError> {
        self.buf
            .get(self.pos)
            .copied()
            .ok_or(DecodeError::Truncated)
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.buf.get(self.pos) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8, expected: &'static str) -> Result<(), DecodeError> {
        if self.peek()? == byte {
            self.pos += 1;
            Ok(())
        } else {
            Err(DecodeError::Syntax {
                offset: self.pos,
                expected,
            })
        }
    }

    /// Reads a key: [`LOG`], [`STREAM`], [`TIME`], or 0 for any other. Docker's own keys are
    /// matched in place; a key with escapes is unescaped first.
    fn key(&mut self) -> Result<u8, DecodeError> {
        let rest = &self.buf[self.pos..];
        for (quoted, field) in [
            (&b"\"log\""[..], LOG),
            (b"\"stream\"", STREAM),
            (b"\"time\"", TIME),
        ] {
            if rest.starts_with(quoted) {
                self.pos += quoted.len();
                return Ok(field);
            }
        }
        Ok(match self.string()?.as_ref() {
            "log" => LOG,
            "stream" => STREAM,
            "time" => TIME,
            _ => 0,
        })
    }

    /// `buf[from..to]` as text (borrowed when valid UTF-8).
    fn text_of(&self, from: usize, to: usize) -> Cow<'a, str> {
        match self.text {
            Some(t) => Cow::Borrowed(&t[from..to]),
            None => String::from_utf8_lossy(&self.buf[from..to]),
        }
    }

    /// Reads a JSON string, borrowing it when it has no escapes.
    fn string(&mut self) -> Result<Cow<'a, str>, DecodeError> {
        self.expect(b'"', "a string")?;
        let start = self.pos;
        let rest = &self.buf[start..];
        // memchr pays off on long spans only (a `log`); `stream`, `time` and keys are short.
        let stop = if rest.len() > 64 {
            memchr::memchr2(b'"', b'\\', rest)
        } else {
            find_quote_or_backslash(rest)
        };
        let Some(stop) = stop else {
            return Err(DecodeError::Truncated);
        };
        if rest[stop] == b'"' {
            self.pos = start + stop + 1;
            return Ok(self.text_of(start, start + stop));
        }
        // Escapes: unescape into a new string, no longer than the rest of the line. The spans
        // between escapes end at an ASCII `"` or `\`, so they are copied as they are when the
        // line is UTF-8 and replaced span by span otherwise, which gives exactly the whole
        // unescaped string replaced.
        let mut out: Vec<u8> = Vec::with_capacity(rest.len());
        // The per-line path (Docker escapes every `"` of a JSON log): locals, not fields.
        let (buf, text) = (self.buf, self.text);
        out.extend_from_slice(self.text_of(start, start + stop).as_bytes());
        let mut pos = start + stop;
        loop {
            if text.is_some() {
                // Short escapes and the spans between them (copied as they are: UTF-8 cut at
                // ASCII bytes), up to the closing `"` or a `\` of another kind.
                pos = unescape_short(buf, pos, &mut out).ok_or(DecodeError::Truncated)?;
            }
            // Here `buf[pos]` is `"` or `\`.
            if buf[pos] == b'"' {
                self.pos = pos + 1;
                return Ok(Cow::Owned(utf8_string(out)));
            }
            let esc_at = pos;
            let Some(&c) = buf.get(pos + 1) else {
                return Err(DecodeError::Truncated);
            };
            pos += 2;
            if let Some(b) = short_escape_byte(c) {
                out.push(b);
            } else if c == b'u' {
                self.unicode_escape = true;
                self.pos = pos;
                let ch = self.unicode_escape(esc_at)?;
                out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                pos = self.pos;
            } else {
                return Err(DecodeError::Syntax {
                    offset: esc_at,
                    expected: "a valid escape",
                });
            }
            if text.is_none() {
                // Not UTF-8: each span between escapes replaced on its own.
                let n = find_quote_or_backslash(&buf[pos..]).ok_or(DecodeError::Truncated)?;
                out.extend_from_slice(String::from_utf8_lossy(&buf[pos..pos + n]).as_bytes());
                pos += n;
            }
        }
    }

    fn hex4(&mut self, esc_at: usize) -> Result<u16, DecodeError> {
        let digits = self
            .buf
            .get(self.pos..self.pos + 4)
            .ok_or(DecodeError::Truncated)?;
        let mut v: u16 = 0;
        for &d in digits {
            let n = match d {
                b'0'..=b'9' => d - b'0',
                b'a'..=b'f' => d - b'a' + 10,
                b'A'..=b'F' => d - b'A' + 10,
                _ => {
                    return Err(DecodeError::Syntax {
                        offset: esc_at,
                        expected: "four hex digits after \\u",
                    })
                }
            };
            v = (v << 4) | u16::from(n);
        }
        self.pos += 4;
        Ok(v)
    }

    /// Decodes the code point after `\u`, combining surrogate pairs; a lone surrogate becomes
    /// U+FFFD as in Go.
    fn unicode_escape(&mut self, esc_at: usize) -> Result<char, DecodeError> {
        let hi = self.hex4(esc_at)?;
        if (0xD800..0xDC00).contains(&hi) {
            if self.buf.get(self.pos..self.pos + 2) == Some(b"\\u") {
                let save = self.pos;
                self.pos += 2;
                let lo = self.hex4(save)?;
                if (0xDC00..0xE000).contains(&lo) {
                    let cp = 0x10000 + ((u32::from(hi) - 0xD800) << 10) + (u32::from(lo) - 0xDC00);
                    return Ok(char::from_u32(cp).unwrap_or('\u{FFFD}'));
                }
                // Not a low surrogate: leave it to be decoded on its own.
                self.pos = save;
            }
            return Ok('\u{FFFD}');
        }
        Ok(char::from_u32(u32::from(hi)).unwrap_or('\u{FFFD}'))
    }

    /// Skips any JSON value (used for `attrs` and unknown fields).
    fn skip_value(&mut self) -> Result<(), DecodeError> {
        let mut depth = 0usize;
        loop {
            self.skip_ws();
            match self.peek()? {
                b'"' => {
                    self.string()?;
                }
                b'{' | b'[' => {
                    depth += 1;
                    self.pos += 1;
                    continue;
                }
                b'}' | b']' if depth > 0 => {
                    depth -= 1;
                    self.pos += 1;
                }
                b',' | b':' if depth > 0 => {
                    self.pos += 1;
                    continue;
                }
                b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => {
                    while let Some(b) = self.buf.get(self.pos) {
                        if matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n' | b':') {
                            break;
                        }
                        self.pos += 1;
                    }
                }
                _ => {
                    return Err(DecodeError::Syntax {
                        offset: self.pos,
                        expected: "a value",
                    })
                }
            }
            if depth == 0 {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_only_for_the_three_fields_without_unicode_escapes() {
        let t = r#""time":"2024-05-01T10:00:00Z""#;
        for (line, plain) in [
            (format!(r#"{{"log":"a\n","stream":"stdout",{t}}}"#), true),
            (
                format!(r#" {{ "stream" : "x\"" , {t}, "log":"a\t"}} "#),
                true,
            ),
            (
                format!(r#"{{"log":"a","stream":"stdout","attrs":{{}},{t}}}"#),
                false,
            ),
            (
                format!(r#"{{"log":"a","log":"b","stream":"stdout",{t}}}"#),
                false,
            ),
            (
                format!(r#"{{"log":"caf\u00e9","stream":"stdout",{t}}}"#),
                false,
            ),
            (r#"{"log":"a","stream":"stdout"}"#.to_string(), false),
        ] {
            let by_str = decode_str(&line).unwrap();
            assert_eq!(by_str.plain, plain, "{line}");
            assert_eq!(decode(line.as_bytes()).unwrap(), by_str, "{line}");
        }
        let l = decode_str(r#"{"log":"a","log":"b\n","stream":"stdout"}"#).unwrap();
        assert_eq!(l.log.as_deref(), Some("b\n"));
        assert_eq!(l.time, None);
    }
}
