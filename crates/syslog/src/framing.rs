//! Incremental framing of a syslog byte stream (RFC 6587), as Promtail 3.4.6 does it
//! with go-syslog v4's `octetcounting` and `nontransparent` parsers.
//!
//! * The framing is chosen **once per stream** by its first byte (Promtail's
//!   `syslogparser.ParseStream`): `<` → non-transparent, `0`-`9` → octet counting,
//!   anything else → [`FrameError::InvalidFraming`] (Promtail logs
//!   `invalid or unsupported framing` and closes the connection without counting a
//!   parsing error). For UDP, Promtail parses **each datagram as its own stream**:
//!   make one `Framer` per datagram, [`Framer::push`] it, [`Framer::finish`], drain.
//! * Octet counting (`LEN SP MSG`): `LEN` is decimal (leading zeros allowed); a
//!   length above `max_message_length` is [`FrameError::MessageTooLarge`], after which
//!   Promtail stops reading the connection (it counts one parsing error and closes).
//!   Longer messages are **neither truncated nor skipped**: the connection is lost.
//!   `MSG` must start with `<`. One LF after a frame is tolerated. Any framing error is
//!   fatal: the caller counts one parsing error and closes the connection.
//!   A connection closed in the middle of a frame gives [`FrameError::Truncated`]
//!   (go-syslog parses the partial message in best-effort mode but reports an error,
//!   so Promtail drops it and counts one parsing error).
//! * Non-transparent: the trailer is LF only (Promtail does not set `WithTrailer`, so
//!   NUL is an ordinary byte). A message ends at an LF **that is followed by `<`**; an
//!   LF followed by anything else continues the same message (go-syslog's machine
//!   goes back into the message), so `"<13>1 - - - - - - a\nb\n<14>..."` yields the
//!   message `a\nb`. Exactly one trailing LF is removed. Hence a message is only
//!   delivered when the next one starts, or at end of stream. At end of stream the
//!   complete lines form one frame and an unterminated last line is a **separate**
//!   frame (go-syslog parses its `lastChunk` on its own).
//!   go-syslog ignores `max_message_length` here (unbounded); ferrotail bounds memory
//!   with `max_nontransparent_length` instead: a longer message is skipped up to the
//!   next message start and reported as the non-fatal
//!   [`FrameError::NonTransparentTooLong`] (a ferrotail-only divergence).
//!
//! UDP: Promtail reads datagrams into a `max_message_length` buffer, so a longer
//! datagram is cut there by the kernel; see [`truncate_datagram`].

use std::fmt;

/// Promtail's default `max_message_length` (and go-syslog's RFC 5425 default).
pub const DEFAULT_MAX_MESSAGE_LENGTH: usize = 8192;
/// Default bound of a non-transparent message kept in memory (ferrotail-only).
pub const DEFAULT_MAX_NONTRANSPARENT_LENGTH: usize = 1 << 20;

/// Framer limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FramerConfig {
    /// Largest octet-counted message (`max_message_length`, default 8192).
    pub max_message_length: usize,
    /// Largest non-transparent message kept before skipping (ferrotail-only).
    pub max_nontransparent_length: usize,
}

impl Default for FramerConfig {
    fn default() -> Self {
        FramerConfig {
            max_message_length: DEFAULT_MAX_MESSAGE_LENGTH,
            max_nontransparent_length: DEFAULT_MAX_NONTRANSPARENT_LENGTH,
        }
    }
}

impl FramerConfig {
    /// Config with the given `max_message_length` (0 means Promtail's default, 8192)
    /// and a non-transparent bound of at least 1 MiB.
    pub fn with_max_message_length(max_message_length: usize) -> Self {
        let max = if max_message_length == 0 {
            DEFAULT_MAX_MESSAGE_LENGTH
        } else {
            max_message_length
        };
        FramerConfig {
            max_message_length: max,
            max_nontransparent_length: max.max(DEFAULT_MAX_NONTRANSPARENT_LENGTH),
        }
    }
}

/// What Promtail's UDP listener keeps of a datagram: its first `max_message_length`
/// bytes (`0` means the default 8192).
pub fn truncate_datagram(datagram: &[u8], max_message_length: usize) -> &[u8] {
    let max = if max_message_length == 0 {
        DEFAULT_MAX_MESSAGE_LENGTH
    } else {
        max_message_length
    };
    datagram.get(..max).unwrap_or(datagram)
}

/// The framing detected from the first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// RFC 6587 octet counting (`LEN SP MSG`).
    OctetCounting,
    /// RFC 6587 non-transparent framing with an LF trailer.
    NonTransparent,
}

/// A framing problem. All are fatal (the caller closes the connection) except
/// [`FrameError::NonTransparentTooLong`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The stream does not start with `<` or a digit. Promtail does not count this
    /// as a parsing error (it only logs `error initializing syslog stream`).
    InvalidFraming {
        /// The offending first byte.
        first_byte: u8,
    },
    /// Octet count above `max_message_length`
    /// (`message length (N) exceeds maximum length (M)`).
    MessageTooLarge {
        /// Announced length.
        length: u64,
        /// The configured maximum.
        max: usize,
    },
    /// Octet count does not fit in 64 bits (`invalid message length`).
    InvalidLength,
    /// A token other than the expected one (`found X, expecting a Y`).
    Unexpected {
        /// What was found (`EOF`, or the byte).
        found: Found,
        /// `MSGLEN`, `WS` or `SYSLOGMSG`.
        expected: &'static str,
    },
    /// End of stream inside an octet-counted message.
    Truncated {
        /// Announced length.
        expected: usize,
        /// Bytes received.
        got: usize,
    },
    /// Non-transparent message longer than `max_nontransparent_length`; it is
    /// skipped up to the next message start (ferrotail-only, non-fatal).
    NonTransparentTooLong {
        /// The configured maximum.
        max: usize,
    },
}

/// The token found where another was expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// End of stream (or a NUL byte, which go-syslog's scanner takes for EOF).
    Eof,
    /// A byte.
    Byte(u8),
}

impl FrameError {
    /// True when framing is lost and the connection must be closed.
    pub fn is_fatal(&self) -> bool {
        !matches!(self, FrameError::NonTransparentTooLong { .. })
    }

    /// True when Promtail counts this in `promtail_syslog_parsing_errors_total`
    /// (everything go-syslog reports through its listener; not the first-byte check).
    pub fn counts_as_parsing_error(&self) -> bool {
        !matches!(self, FrameError::InvalidFraming { .. })
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::InvalidFraming { first_byte } => write!(
                f,
                "invalid or unsupported framing. first byte: '{}'",
                char::from(*first_byte).escape_default()
            ),
            FrameError::MessageTooLarge { length, max } => {
                write!(
                    f,
                    "message length ({length}) exceeds maximum length ({max})"
                )
            }
            FrameError::InvalidLength => write!(f, "invalid message length"),
            FrameError::Unexpected { found, expected } => match found {
                Found::Eof => write!(f, "found EOF, expecting a {expected}"),
                Found::Byte(b) => write!(
                    f,
                    "found ILLEGAL({}), expecting a {expected}",
                    char::from(*b).escape_default()
                ),
            },
            FrameError::Truncated { expected, got } => write!(
                f,
                "found EOF after {got} octets, expecting a SYSLOGMSG containing {expected} octets"
            ),
            FrameError::NonTransparentTooLong { max } => write!(
                f,
                "non-transparent syslog message longer than {max} bytes, skipped"
            ),
        }
    }
}

impl std::error::Error for FrameError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Oct {
    /// Reading MSGLEN digits; `after_lf` tells a LF was just skipped.
    Len {
        value: u64,
        overflow: bool,
        digits: usize,
    },
    Ws {
        len: usize,
    },
    Msg {
        len: usize,
    },
    AfterMsg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Detect,
    Oct(Oct),
    /// Non-transparent; `scan` is where the LF search resumes.
    Nt {
        scan: usize,
    },
    /// Non-transparent, skipping an oversize message; `last_lf` carries an LF seen
    /// at the end of the previous push.
    NtSkip {
        last_lf: bool,
    },
    /// End of stream: the unterminated last line `[start, end)` is still to emit.
    NtTail {
        start: usize,
        end: usize,
    },
    Done,
}

/// Incremental syslog stream framer. Push bytes, call [`Framer::next_frame`] until
/// it returns `None`, repeat; call [`Framer::finish`] at end of stream and drain.
#[derive(Debug)]
pub struct Framer {
    cfg: FramerConfig,
    buf: Vec<u8>,
    /// Start of the data still needed (octet counting: next token;
    /// non-transparent: the `<` of the current message).
    pos: usize,
    state: State,
    finished: bool,
    framing: Option<Framing>,
}

impl Framer {
    /// A framer for one stream (TCP connection or UDP datagram).
    pub fn new(cfg: FramerConfig) -> Self {
        Framer {
            cfg,
            buf: Vec::new(),
            pos: 0,
            state: State::Detect,
            finished: false,
            framing: None,
        }
    }

    /// The framing chosen by the first byte, once seen.
    pub fn framing(&self) -> Option<Framing> {
        self.framing
    }

    /// Bytes buffered and not yet framed.
    pub fn buffered(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// True once a fatal error was returned or the stream is fully drained.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        if self.state == State::Done || self.finished {
            return;
        }
        self.compact();
        if let State::NtSkip { .. } = self.state {
            // Nothing before the next message start is kept.
            self.buf.clear();
        }
        self.buf.extend_from_slice(data);
    }

    /// True when non-transparent framing holds a message ended by an LF at the end of the
    /// buffered data: it is delivered when the next message starts, or by [`Framer::flush_line`].
    pub fn has_pending_line(&self) -> bool {
        match self.state {
            State::Nt { scan } => {
                self.buf.len() > self.pos
                    && scan + 1 == self.buf.len()
                    && self.buf.last() == Some(&b'\n')
            }
            _ => false,
        }
    }

    /// Delivers the message [`Framer::has_pending_line`] reports, as if the next byte were `<`
    /// (ferrotail-only: a sender that keeps its connection open and goes quiet does not wait
    /// for its next message; the caller decides when the stream is quiet). Bytes arriving later
    /// start a new message. `None` when nothing is pending.
    pub fn flush_line(&mut self) -> Option<&[u8]> {
        if !self.has_pending_line() {
            return None;
        }
        let start = self.pos;
        let lf = self.buf.len() - 1;
        self.pos = self.buf.len();
        self.state = State::Nt { scan: self.pos };
        self.buf.get(start..lf)
    }

    /// Drops the bytes already framed from the buffer.
    fn compact(&mut self) {
        if self.pos > 0 && !self.finished {
            let consumed = self.pos.min(self.buf.len());
            self.buf.drain(..consumed);
            if let State::Nt { scan } = &mut self.state {
                *scan = scan.saturating_sub(consumed);
            }
            self.pos = 0;
        }
    }

    /// Returns memory the buffer no longer needs (the bytes already framed, and spare capacity
    /// well above what is buffered): for a long-lived connection that goes quiet.
    pub fn shrink(&mut self) {
        self.compact();
        if self.buf.capacity() > 2 * self.buf.len() + 4096 {
            self.buf.shrink_to_fit();
        }
    }

    /// Marks the end of the stream (connection closed, or whole datagram pushed).
    pub fn finish(&mut self) {
        self.finished = true;
    }

    /// The next frame, a framing error, or `None` when more input is needed
    /// (or the stream is over).
    #[allow(clippy::type_complexity)]
    pub fn next_frame(&mut self) -> Option<Result<&[u8], FrameError>> {
        match self.step() {
            Step::Frame(s, e) => self.buf.get(s..e).map(Ok),
            Step::Error(err) => Some(Err(err)),
            Step::Pending => None,
        }
    }

    fn fail(&mut self, err: FrameError) -> Step {
        if err.is_fatal() {
            self.state = State::Done;
            self.buf = Vec::new();
            self.pos = 0;
        }
        Step::Error(err)
    }

    fn byte(&self, i: usize) -> Option<u8> {
        self.buf.get(i).copied()
    }

    fn step(&mut self) -> Step {
        loop {
            match self.state {
                State::Done => return Step::Pending,
                State::Detect => match self.byte(self.pos) {
                    None => {
                        if self.finished {
                            self.state = State::Done;
                        }
                        return Step::Pending;
                    }
                    Some(b'<') => {
                        self.framing = Some(Framing::NonTransparent);
                        self.state = State::Nt { scan: self.pos };
                    }
                    Some(b'0'..=b'9') => {
                        self.framing = Some(Framing::OctetCounting);
                        self.state = State::Oct(Oct::Len {
                            value: 0,
                            overflow: false,
                            digits: 0,
                        });
                    }
                    Some(b) => return self.fail(FrameError::InvalidFraming { first_byte: b }),
                },
                State::Oct(oct) => return self.step_oct(oct),
                State::Nt { scan } => return self.step_nt(scan),
                State::NtSkip { last_lf } => {
                    if let Some(s) = self.skip_nt(last_lf) {
                        return s;
                    }
                }
                State::NtTail { start, end } => {
                    self.state = State::Done;
                    return self.nt_frame(start, end);
                }
            }
        }
    }

    fn step_oct(&mut self, mut oct: Oct) -> Step {
        loop {
            match oct {
                Oct::Len {
                    value,
                    overflow,
                    digits,
                } => {
                    let next = self.byte(self.pos);
                    match next {
                        Some(d @ b'0'..=b'9') => {
                            self.pos += 1;
                            let v = value
                                .checked_mul(10)
                                .and_then(|v| v.checked_add(u64::from(d - b'0')));
                            oct = Oct::Len {
                                value: v.unwrap_or(u64::MAX),
                                overflow: overflow || v.is_none(),
                                digits: digits + 1,
                            };
                            continue;
                        }
                        None if !self.finished => {
                            self.state = State::Oct(oct);
                            return Step::Pending;
                        }
                        _ if digits == 0 => {
                            let found = match next {
                                None | Some(0) => Found::Eof,
                                Some(b) => Found::Byte(b),
                            };
                            return self.fail(FrameError::Unexpected {
                                found,
                                expected: "MSGLEN",
                            });
                        }
                        _ => {
                            if next == Some(0) {
                                // go-syslog's scanner consumes the NUL ending the digits.
                                self.pos += 1;
                            }
                            if overflow {
                                return self.fail(FrameError::InvalidLength);
                            }
                            if value > self.cfg.max_message_length as u64 {
                                return self.fail(FrameError::MessageTooLarge {
                                    length: value,
                                    max: self.cfg.max_message_length,
                                });
                            }
                            oct = Oct::Ws {
                                len: value as usize,
                            };
                        }
                    }
                }
                Oct::Ws { len } => match self.byte(self.pos) {
                    None if !self.finished => {
                        self.state = State::Oct(oct);
                        return Step::Pending;
                    }
                    Some(b' ') => {
                        self.pos += 1;
                        oct = Oct::Msg { len };
                    }
                    other => {
                        let found = match other {
                            None | Some(0) => Found::Eof,
                            Some(b) => Found::Byte(b),
                        };
                        return self.fail(FrameError::Unexpected {
                            found,
                            expected: "WS",
                        });
                    }
                },
                Oct::Msg { len } => {
                    let first = self.byte(self.pos);
                    match first {
                        None if !self.finished => {
                            self.state = State::Oct(oct);
                            return Step::Pending;
                        }
                        Some(b'<') if len > 0 => {}
                        other => {
                            let found = match other {
                                None | Some(0) => Found::Eof,
                                Some(b) => Found::Byte(b),
                            };
                            return self.fail(FrameError::Unexpected {
                                found,
                                expected: "SYSLOGMSG",
                            });
                        }
                    }
                    let avail = self.buf.len() - self.pos;
                    if avail < len {
                        if self.finished {
                            return self.fail(FrameError::Truncated {
                                expected: len,
                                got: avail,
                            });
                        }
                        self.state = State::Oct(oct);
                        return Step::Pending;
                    }
                    let start = self.pos;
                    self.pos += len;
                    self.state = State::Oct(Oct::AfterMsg);
                    return Step::Frame(start, start + len);
                }
                Oct::AfterMsg => match self.byte(self.pos) {
                    None if !self.finished => {
                        self.state = State::Oct(oct);
                        return Step::Pending;
                    }
                    None | Some(0) => {
                        self.state = State::Done;
                        return Step::Pending;
                    }
                    Some(b) => {
                        if b == b'\n' {
                            self.pos += 1;
                        }
                        oct = Oct::Len {
                            value: 0,
                            overflow: false,
                            digits: 0,
                        };
                    }
                },
            }
        }
    }
}

enum Step {
    Frame(usize, usize),
    Error(FrameError),
    Pending,
}

impl Framer {
    fn step_nt(&mut self, mut scan: usize) -> Step {
        let start = self.pos;
        loop {
            let rest = self.buf.get(scan..).unwrap_or(&[]);
            match memchr::memchr(b'\n', rest) {
                Some(off) => {
                    let lf = scan + off;
                    match self.byte(lf + 1) {
                        Some(b'<') => {
                            self.pos = lf + 1;
                            self.state = State::Nt { scan: lf + 1 };
                            return self.nt_frame(start, lf);
                        }
                        Some(_) => {
                            scan = lf + 1;
                            continue;
                        }
                        None => {
                            if self.finished {
                                self.state = State::Done;
                                self.pos = self.buf.len();
                                return self.nt_frame(start, lf);
                            }
                            // Wait for the byte after the LF.
                            self.state = State::Nt { scan: lf };
                            return self.check_nt_limit(start);
                        }
                    }
                }
                None => {
                    if self.finished {
                        return self.finish_nt(start);
                    }
                    self.state = State::Nt {
                        scan: self.buf.len(),
                    };
                    return self.check_nt_limit(start);
                }
            }
        }
    }

    /// End of stream in non-transparent mode: complete lines are one frame, an
    /// unterminated last line is another one.
    fn finish_nt(&mut self, start: usize) -> Step {
        let end = self.buf.len();
        self.pos = end;
        let region = self.buf.get(start..end).unwrap_or(&[]);
        if region.is_empty() {
            self.state = State::Done;
            return Step::Pending;
        }
        match memchr::memrchr(b'\n', region) {
            Some(j) => {
                let lf = start + j;
                if lf + 1 < end {
                    self.state = State::NtTail { start: lf + 1, end };
                } else {
                    self.state = State::Done;
                }
                self.nt_frame(start, lf)
            }
            None => {
                self.state = State::Done;
                self.nt_frame(start, end)
            }
        }
    }

    /// A complete non-transparent frame, unless over the bound.
    fn nt_frame(&self, start: usize, end: usize) -> Step {
        if end - start > self.cfg.max_nontransparent_length {
            return Step::Error(FrameError::NonTransparentTooLong {
                max: self.cfg.max_nontransparent_length,
            });
        }
        Step::Frame(start, end)
    }

    fn check_nt_limit(&mut self, start: usize) -> Step {
        if self.buf.len() - start > self.cfg.max_nontransparent_length {
            let last_lf = self.buf.last() == Some(&b'\n');
            self.buf.clear();
            self.pos = 0;
            self.state = State::NtSkip { last_lf };
            return Step::Error(FrameError::NonTransparentTooLong {
                max: self.cfg.max_nontransparent_length,
            });
        }
        Step::Pending
    }

    /// Skips bytes up to the next LF followed by `<`. Returns `None` once the next
    /// message start is found (state switched back to `Nt`).
    fn skip_nt(&mut self, last_lf: bool) -> Option<Step> {
        let data = self.buf.get(self.pos..).unwrap_or(&[]);
        let mut prev_lf = last_lf;
        for (i, &b) in data.iter().enumerate() {
            if prev_lf && b == b'<' {
                self.pos += i;
                self.state = State::Nt { scan: self.pos };
                return None;
            }
            prev_lf = b == b'\n';
        }
        self.pos = self.buf.len();
        if self.finished {
            self.state = State::Done;
        } else {
            self.state = State::NtSkip { last_lf: prev_lf };
        }
        Some(Step::Pending)
    }
}
