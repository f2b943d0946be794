//! Docker's `json-file` log lines: decoding one line, and joining Docker's partial messages.
//!
//! dockerd's `json-file` driver writes one JSON object per line:
//! `{"log":"text\n","stream":"stdout","time":"2024-05-01T10:00:00.123456789Z"}` (plus `attrs` when
//! some log options are set). [`decode_line`] reads such a line with `gocompat::jsonlog` (shared
//! with the `docker` stage's fast path: strings without escapes borrowed from the input, errors
//! as values, never panics) and checks `stream` and `time`.
//!
//! A `log` value that does not end in `\n` is a *partial* message: Docker's copier cuts lines at
//! 16 KiB and writes the pieces separately, all with the first piece's timestamp. [`PartialJoiner`]
//! puts them back together exactly as Promtail's docker target joins the frames of the Docker logs
//! API (one accumulator per stream, flushed on a timestamp change, capped at `max_line_size` or
//! 256 KiB), so the file reader and the API fallback produce the same entries.
//!
//! The RFC 3339 timestamp parser here ([`parse_rfc3339_nanos`]) is also used for the timestamp
//! prefix of the Docker logs API.

use std::borrow::Cow;
use std::fmt;

use gocompat::time::parse_rfc3339_nanos;

/// The output stream a log message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// Standard output (and everything a TTY container writes).
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    /// `stdout` or `stderr`, the value of `__meta_docker_container_log_stream`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    /// 0 for stdout, 1 for stderr: an index into per-stream arrays.
    pub(crate) fn index(self) -> usize {
        match self {
            Stream::Stdout => 0,
            Stream::Stderr => 1,
        }
    }
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One decoded `json-file` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonLogLine<'a> {
    /// The `log` value, unescaped, still with its trailing newline when it has one.
    pub log: Cow<'a, str>,
    /// The `stream` value.
    pub stream: Stream,
    /// The `time` value as Unix nanoseconds.
    pub time_nanos: i64,
    /// True when `log` does not end in `\n`: a piece of a longer message that continues in the
    /// following line(s) of the same stream.
    pub partial: bool,
}

impl JsonLogLine<'_> {
    /// The entry line Promtail ships for a complete message: `log` with every trailing `\r` and
    /// `\n` removed.
    pub fn line(&self) -> &str {
        trim_line_end(&self.log)
    }
}

/// Why a line could not be decoded.
pub use gocompat::jsonlog::DecodeError;

/// Removes every trailing `\r` and `\n`, as Promtail's `strings.TrimRight(s, "\r\n")`.
pub fn trim_line_end(s: &str) -> &str {
    s.trim_end_matches(['\r', '\n'])
}

/// Decodes one `json-file` line (with or without its terminating newline).
///
/// Field order does not matter, unknown fields (`attrs`) are skipped, and a repeated field keeps
/// its last value, as Go's `encoding/json` does.
pub fn decode_line(input: &[u8]) -> Result<JsonLogLine<'_>, DecodeError> {
    let l = gocompat::jsonlog::decode(input)?;
    let log = l.log.ok_or(DecodeError::MissingField("log"))?;
    let stream = match l
        .stream
        .ok_or(DecodeError::MissingField("stream"))?
        .as_ref()
    {
        "stdout" => Stream::Stdout,
        "stderr" => Stream::Stderr,
        other => return Err(DecodeError::BadStream(other.to_string())),
    };
    let time = l.time.ok_or(DecodeError::MissingField("time"))?;
    let time_nanos = parse_rfc3339_nanos(&time).map_err(|reason| DecodeError::BadTime {
        value: time.to_string(),
        reason,
    })?;
    let partial = !log.ends_with('\n');
    Ok(JsonLogLine {
        log,
        stream,
        time_nanos,
        partial,
    })
}

/// The joined-line cap Promtail applies when `max_line_size` is 0 (256 KiB).
pub const DEFAULT_JOIN_LIMIT: usize = 256 * 1024;

/// One complete entry produced by [`PartialJoiner`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedLine {
    /// The stream the pieces came from.
    pub stream: Stream,
    /// The entry timestamp (Unix nanoseconds).
    pub ts_nanos: i64,
    /// The line, trailing `\r`/`\n` removed.
    pub line: String,
    /// True when the line was cut at the size limit (the rest of that message is discarded).
    pub truncated: bool,
}

#[derive(Debug, Default, Clone)]
struct StreamAcc {
    acc: String,
    cur_ts: Option<i64>,
    discarding: bool,
}

/// Joins Docker's partial messages back into whole lines, per stream, exactly as Promtail's
/// docker target joins log frames:
///
/// * a piece whose timestamp differs from the pending one first flushes what is pending (Docker
///   gives every piece of one message the first piece's timestamp);
/// * a piece ending in `\n` completes the line; trailing `\r`/`\n` are trimmed from every piece;
/// * once the joined text exceeds the limit (`max_line_size`, or 256 KiB when 0), what has been
///   joined so far is emitted and the rest of that message is discarded.
#[derive(Debug, Clone)]
pub struct PartialJoiner {
    limit: usize,
    streams: [StreamAcc; 2],
}

impl PartialJoiner {
    /// A joiner with Promtail's cap: `max_line_size` bytes, or 256 KiB when it is 0.
    pub fn new(max_line_size: usize) -> Self {
        PartialJoiner {
            limit: if max_line_size == 0 {
                DEFAULT_JOIN_LIMIT
            } else {
                max_line_size
            },
            streams: Default::default(),
        }
    }

    /// Feeds one piece: `payload` is the message text with its newline if it has one (a json-file
    /// `log` value, or a logs-API frame without its timestamp). Completed lines are pushed onto
    /// `out` (at most two: a flushed pending line and this one).
    ///
    /// An owned payload that completes a line by itself (the common case) becomes the line
    /// without a copy.
    pub fn push<'p>(
        &mut self,
        stream: Stream,
        ts_nanos: i64,
        payload: impl Into<Cow<'p, str>>,
        out: &mut Vec<JoinedLine>,
    ) {
        let payload = payload.into();
        let limit = self.limit;
        let s = &mut self.streams[stream.index()];
        if s.cur_ts != Some(ts_nanos) {
            s.discarding = false;
            if !s.acc.is_empty() {
                out.push(JoinedLine {
                    stream,
                    ts_nanos: s.cur_ts.unwrap_or(ts_nanos),
                    line: std::mem::take(&mut s.acc),
                    truncated: false,
                });
            }
        }
        let eol = payload.ends_with('\n');
        if s.discarding {
            s.discarding = !eol;
            return;
        }
        if s.acc.is_empty() && eol {
            let line = match payload {
                Cow::Owned(mut line) => {
                    let keep = trim_line_end(&line).len();
                    line.truncate(keep);
                    line
                }
                Cow::Borrowed(p) => trim_line_end(p).to_string(),
            };
            out.push(JoinedLine {
                stream,
                ts_nanos,
                line,
                truncated: false,
            });
            return;
        }
        s.acc.push_str(trim_line_end(&payload));
        s.cur_ts = Some(ts_nanos);
        if eol || s.acc.len() > limit {
            s.discarding = !eol;
            out.push(JoinedLine {
                stream,
                ts_nanos,
                line: std::mem::take(&mut s.acc),
                truncated: !eol,
            });
        }
    }

    /// The timestamp of the message being joined on `stream`, if a piece is pending.
    pub fn pending(&self, stream: Stream) -> Option<i64> {
        let s = &self.streams[stream.index()];
        if s.acc.is_empty() {
            None
        } else {
            s.cur_ts
        }
    }

    /// True when any stream has a pending piece.
    pub fn has_pending(&self) -> bool {
        self.streams.iter().any(|s| !s.acc.is_empty())
    }

    /// Emits what is pending on every stream (end of the log: a container that stopped in the
    /// middle of a long line). Promtail drops such a tail; ferrotail ships it.
    pub fn flush(&mut self, out: &mut Vec<JoinedLine>) {
        for stream in [Stream::Stdout, Stream::Stderr] {
            let s = &mut self.streams[stream.index()];
            if !s.acc.is_empty() {
                out.push(JoinedLine {
                    stream,
                    ts_nanos: s.cur_ts.unwrap_or_default(),
                    line: std::mem::take(&mut s.acc),
                    truncated: false,
                });
            }
            s.discarding = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T0: &str = "2024-05-01T10:00:00.123456789Z";
    const T0_NANOS: i64 = 1_714_557_600_123_456_789;

    /// An owned payload (an unescaped `log`) becomes the line without a copy, and gives exactly
    /// what the borrowed payload gives: trailing `\r`/`\n` trimmed, pieces joined alike.
    #[test]
    fn owned_and_borrowed_payloads_join_alike() {
        let pieces: &[(Stream, i64, &str)] = &[
            (Stream::Stdout, 1, "whole\r\n"),
            (Stream::Stdout, 2, "part one "),
            (Stream::Stderr, 2, "err\n"),
            (Stream::Stdout, 2, "part two\n"),
            (Stream::Stdout, 3, "\n"),
            (Stream::Stdout, 4, "cut"),
            (Stream::Stdout, 5, "next\n"),
        ];
        let (mut a, mut b) = (PartialJoiner::new(0), PartialJoiner::new(0));
        let (mut out_a, mut out_b) = (Vec::new(), Vec::new());
        for &(stream, ts, p) in pieces {
            a.push(stream, ts, p, &mut out_a);
            b.push(stream, ts, Cow::Owned(p.to_string()), &mut out_b);
        }
        assert_eq!(out_a, out_b);
        let lines: Vec<&str> = out_a.iter().map(|j| j.line.as_str()).collect();
        assert_eq!(
            lines,
            ["whole", "err", "part one part two", "", "cut", "next"]
        );
    }

    #[test]
    fn decodes_docker_lines() {
        let l = decode_line(
            br#"{"log":"out1\n","stream":"stdout","time":"2024-05-01T10:00:00.123456789Z"}"#,
        )
        .unwrap();
        assert_eq!(l.log, "out1\n");
        assert!(matches!(l.log, Cow::Owned(_)));
        let b =
            decode_line(br#"{"log":"no escapes","stream":"stdout","time":"2024-05-01T10:00:00Z"}"#)
                .unwrap();
        assert!(matches!(b.log, Cow::Borrowed("no escapes")));
        assert_eq!(l.stream, Stream::Stdout);
        assert_eq!(l.time_nanos, T0_NANOS);
        assert!(!l.partial);
        assert_eq!(l.line(), "out1");

        // Escapes, attrs, other order, trailing newline of the file.
        let l = decode_line(
            b"{\"stream\":\"stderr\",\"attrs\":{\"tag\":\"a\\\"b\",\"n\":[1,2,{\"x\":null}]},\"log\":\"tab\\there \\\"quotes\\\" caf\\u00e9 \\u003cb\\u003e \\ud83d\\ude00\\r\\n\",\"time\":\"2024-05-01T12:00:00.123456789+02:00\"}\n",
        )
        .unwrap();
        assert_eq!(l.log, "tab\there \"quotes\" café <b> 😀\r\n");
        assert_eq!(l.line(), "tab\there \"quotes\" café <b> 😀");
        assert_eq!(l.stream, Stream::Stderr);
        assert_eq!(l.time_nanos, T0_NANOS);

        // A partial piece.
        let l = decode_line(br#"{"log":"abc","stream":"stdout","time":"2024-05-01T10:00:00Z"}"#)
            .unwrap();
        assert!(l.partial);
        assert_eq!(l.time_nanos, 1_714_557_600_000_000_000);
    }

    #[test]
    fn decode_errors_are_values() {
        let full = br#"{"log":"x\n","stream":"stdout","time":"2024-05-01T10:00:00Z"}"#;
        for cut in 1..full.len() - 1 {
            let r = decode_line(&full[..cut]);
            assert!(r.is_err(), "cut at {cut} decoded");
        }
        assert_eq!(decode_line(b""), Err(DecodeError::Empty));
        assert_eq!(decode_line(b"  \n"), Err(DecodeError::Empty));
        assert_eq!(decode_line(br#"{"log":"x"#), Err(DecodeError::Truncated));
        assert_eq!(
            decode_line(br#"{"stream":"stdout","time":"2024-05-01T10:00:00Z"}"#),
            Err(DecodeError::MissingField("log"))
        );
        assert_eq!(
            decode_line(br#"{"log":"a","time":"2024-05-01T10:00:00Z"}"#),
            Err(DecodeError::MissingField("stream"))
        );
        assert_eq!(
            decode_line(br#"{"log":"a","stream":"stdout"}"#),
            Err(DecodeError::MissingField("time"))
        );
        assert_eq!(
            decode_line(br#"{"log":"a","stream":"stdin","time":"2024-05-01T10:00:00Z"}"#),
            Err(DecodeError::BadStream("stdin".into()))
        );
        assert!(matches!(
            decode_line(br#"{"log":"a","stream":"stdout","time":"yesterday"}"#),
            Err(DecodeError::BadTime { .. })
        ));
        assert!(matches!(
            decode_line(br#"{"log":"a","stream":"stdout","time":"2024-05-01T10:00:00Z"} x"#),
            Err(DecodeError::Syntax { .. })
        ));
        assert!(matches!(
            decode_line(br#"{"log":"\q","stream":"stdout","time":"2024-05-01T10:00:00Z"}"#),
            Err(DecodeError::Syntax { .. })
        ));
        assert!(matches!(
            decode_line(br#"{"log":1,"stream":"stdout","time":"2024-05-01T10:00:00Z"}"#),
            Err(DecodeError::Syntax { .. })
        ));
        let msg = decode_line(br#"{"log":"a","stream":"stdout"}"#)
            .unwrap_err()
            .to_string();
        assert_eq!(msg, "docker json log line has no \"time\" field");
    }

    #[test]
    fn not_json_lines_are_syntax_errors_with_offsets() {
        // Plain text, other JSON values, binary bytes and NULs: errors, never panics.
        for (input, offset) in [
            (&b"hello world"[..], 0),
            (b"[1,2,3]", 0),
            (b"\"just a string\"", 0),
            (b"\x00\x01\x02{}", 0),
            (b"{log: \"unquoted key\"}", 1),
            (b"{\"log\":\"a\",,}", 11),
        ] {
            match decode_line(input) {
                Err(DecodeError::Syntax { offset: at, .. }) => {
                    assert_eq!(at, offset, "{:?}", String::from_utf8_lossy(input))
                }
                other => panic!("{:?}: {other:?}", String::from_utf8_lossy(input)),
            }
        }
        // A raw NUL inside a string (Docker always escapes control characters) is accepted
        // leniently and kept.
        let l = decode_line(
            b"{\"log\":\"a\x00b\",\"stream\":\"stdout\",\"time\":\"2024-05-01T10:00:00Z\"}",
        )
        .unwrap();
        assert_eq!(l.log, "a\0b");
        // Escaped NULs are kept.
        let l =
            decode_line(br#"{"log":"a\u0000b\n","stream":"stdout","time":"2024-05-01T10:00:00Z"}"#)
                .unwrap();
        assert_eq!(l.line(), "a\0b");
        // A huge truncated line is still just truncated.
        let mut long = br#"{"log":""#.to_vec();
        long.extend(std::iter::repeat_n(b'x', 1 << 20));
        assert_eq!(decode_line(&long), Err(DecodeError::Truncated));
    }

    #[test]
    fn lone_surrogates_and_bad_utf8_become_replacement_chars() {
        let l = decode_line(b"{\"log\":\"a\\ud800b\\udc00\xff\\n\",\"stream\":\"stdout\",\"time\":\"2024-05-01T10:00:00Z\"}").unwrap();
        assert_eq!(l.log, "a\u{FFFD}b\u{FFFD}\u{FFFD}\n");
        let l = decode_line(
            b"{\"log\":\"\xff\",\"stream\":\"stdout\",\"time\":\"2024-05-01T10:00:00Z\"}",
        )
        .unwrap();
        assert_eq!(l.log, "\u{FFFD}");
    }

    #[test]
    fn rfc3339() {
        let cases: &[(&str, Result<i64, ()>)] = &[
            ("1970-01-01T00:00:00Z", Ok(0)),
            ("1970-01-01T00:00:00.5Z", Ok(500_000_000)),
            ("1969-12-31T23:59:59.999999999Z", Ok(-1)),
            (T0, Ok(T0_NANOS)),
            ("2024-05-01T10:00:00.1234567891234Z", Ok(T0_NANOS)),
            ("2024-02-29T00:00:00Z", Ok(1_709_164_800_000_000_000)),
            ("2023-02-29T00:00:00Z", Err(())),
            ("2024-13-01T00:00:00Z", Err(())),
            ("2024-05-01T24:00:00Z", Err(())),
            ("2024-05-01T10:00:60Z", Err(())),
            ("2024-05-01 10:00:00Z", Err(())),
            ("2024-05-01T10:00:00", Err(())),
            ("2024-05-01T10:00:00.Z", Err(())),
            ("2024-05-01T10:00:00+0200", Err(())),
            ("2024-05-01T10:00:00Zjunk", Err(())),
            ("9999-12-31T23:59:59Z", Err(())),
            ("", Err(())),
        ];
        for (s, want) in cases {
            let got = parse_rfc3339_nanos(s).map_err(|_| ());
            assert_eq!(&got, want, "{s}");
        }
        assert_eq!(
            parse_rfc3339_nanos("2024-05-01T05:30:00.123456789-04:30"),
            Ok(T0_NANOS)
        );
        assert_eq!(gocompat::time::format_rfc3339_nano(T0_NANOS), T0);
        assert_eq!(
            gocompat::time::format_rfc3339_nano(0),
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(
            gocompat::time::format_rfc3339_nano(-1),
            "1969-12-31T23:59:59.999999999Z"
        );
    }

    fn join(limit: usize, pieces: &[(Stream, i64, &str)]) -> Vec<JoinedLine> {
        let mut j = PartialJoiner::new(limit);
        let mut out = Vec::new();
        for (s, ts, p) in pieces {
            j.push(*s, *ts, *p, &mut out);
        }
        out
    }

    fn jl(stream: Stream, ts: i64, line: &str, truncated: bool) -> JoinedLine {
        JoinedLine {
            stream,
            ts_nanos: ts,
            line: line.into(),
            truncated,
        }
    }

    #[test]
    fn joins_partials_per_stream() {
        use Stream::*;
        let out = join(
            0,
            &[
                (Stdout, 1, "aaa"),
                (Stderr, 2, "err\n"),
                (Stdout, 1, "bbb"),
                (Stdout, 1, "ccc\r\n"),
                (Stdout, 3, "single\n"),
            ],
        );
        assert_eq!(
            out,
            vec![
                jl(Stderr, 2, "err", false),
                jl(Stdout, 1, "aaabbbccc", false),
                jl(Stdout, 3, "single", false),
            ]
        );
    }

    #[test]
    fn timestamp_change_flushes_pending() {
        use Stream::*;
        let out = join(0, &[(Stdout, 1, "aaa"), (Stdout, 2, "bbb\n")]);
        assert_eq!(
            out,
            vec![jl(Stdout, 1, "aaa", false), jl(Stdout, 2, "bbb", false)]
        );
    }

    #[test]
    fn cap_emits_joined_so_far_and_discards_rest() {
        use Stream::*;
        // Limit 5: "abc" (3) + "def" (6 > 5) -> emit "abcdef", discard until the newline.
        let out = join(
            5,
            &[
                (Stdout, 1, "abc"),
                (Stdout, 1, "def"),
                (Stdout, 1, "ghi"),
                (Stdout, 1, "jkl\n"),
                (Stdout, 1, "next\n"),
            ],
        );
        assert_eq!(
            out,
            vec![jl(Stdout, 1, "abcdef", true), jl(Stdout, 1, "next", false)]
        );
        // A new timestamp ends the discarding too.
        let out = join(
            2,
            &[(Stdout, 1, "abc"), (Stdout, 1, "zzz"), (Stdout, 2, "new\n")],
        );
        assert_eq!(
            out,
            vec![jl(Stdout, 1, "abc", true), jl(Stdout, 2, "new", false)]
        );
        // 256 KiB default.
        let piece = "x".repeat(16 * 1024);
        let mut pieces: Vec<(Stream, i64, &str)> = vec![(Stdout, 7, piece.as_str()); 20];
        pieces.push((Stdout, 7, "end\n"));
        let out = join(0, &pieces);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].line.len(), 17 * 16 * 1024);
        assert!(out[0].truncated);
    }

    #[test]
    fn flush_emits_pending() {
        let mut j = PartialJoiner::new(0);
        let mut out = Vec::new();
        j.push(Stream::Stderr, 9, "tail", &mut out);
        assert!(out.is_empty());
        assert_eq!(j.pending(Stream::Stderr), Some(9));
        assert!(j.has_pending());
        j.flush(&mut out);
        assert_eq!(out, vec![jl(Stream::Stderr, 9, "tail", false)]);
        assert!(!j.has_pending());
    }

    /// `s` JSON-escaped as Go escapes it (HTML characters as `\u003c`...), without the quotes.
    fn json_escape(s: &str) -> String {
        let mut out = String::new();
        gocompat::json::write_string(&mut out, s, gocompat::json::Flavor::Jsoniter);
        out[1..out.len() - 1].to_string()
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_line(&bytes);
        }

        #[test]
        fn never_panics_on_mangled_lines(log in ".{0,40}", cut in 0usize..120, flip in 0usize..120, b in any::<u8>()) {
            let mut line = format!(
                "{{\"log\":\"{}\",\"stream\":\"stdout\",\"time\":\"{T0}\"}}",
                json_escape(&log)
            ).into_bytes();
            if flip < line.len() { line[flip] = b; }
            line.truncate(cut.min(line.len()));
            let _ = decode_line(&line);
        }

        #[test]
        fn round_trips(log in "\\PC{0,60}\n?", stderr in any::<bool>(), nanos in -2_000_000_000_000_000_000i64..4_000_000_000_000_000_000i64) {
            let stream = if stderr { Stream::Stderr } else { Stream::Stdout };
            let time = gocompat::time::format_rfc3339_nano(nanos);
            let line = format!(
                "{{\"log\":\"{}\",\"stream\":\"{}\",\"time\":\"{}\"}}\n",
                json_escape(&log), stream, time
            );
            let d = decode_line(line.as_bytes()).unwrap();
            prop_assert_eq!(d.log.as_ref(), log.as_str());
            prop_assert_eq!(d.stream, stream);
            prop_assert_eq!(d.time_nanos, nanos);
            prop_assert_eq!(d.partial, !log.ends_with('\n'));
        }
    }
}
