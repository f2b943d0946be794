//! Syslog framing and parsing with the exact behaviour of Grafana Promtail 3.4.6's
//! `syslog` scrape target.
//!
//! Promtail 3.4.6 (`clients/pkg/promtail/targets/syslog/`) uses
//! `github.com/leodido/go-syslog/v4` (the continuation of `influxdata/go-syslog` v3)
//! with these options, and this crate reproduces their combined behaviour:
//!
//! * framing ([`framing`]): the **first byte of a TCP connection** (or of each UDP
//!   datagram) chooses the framing for the whole stream: `<` selects
//!   non-transparent framing (`nontransparent.NewParser`, LF trailer only),
//!   a digit selects octet counting (`octetcounting.NewParser`), anything else
//!   is refused (`invalid or unsupported framing. first byte: 'x'`) and the
//!   connection is closed;
//! * parsing ([`rfc5424`], [`rfc3164`]): `rfc5424.NewMachine` / `rfc3164.NewMachine`
//!   with `WithBestEffort()` only (no year, no time zone, no RFC 3339 option for
//!   RFC 3164). Promtail drops every result that carries an error, even when best
//!   effort recovered a partial message, so these parsers only need (and only
//!   give) the go-syslog accept/refuse decision and the fields of accepted messages;
//! * labels, line and timestamp ([`promtail`]): `syslogtarget.go`'s
//!   `handleMessageRFC5424` / `handleMessageRFC3164`.
//!
//! # Why hand-written
//! The syslog crates on crates.io (`syslog_loose`, `syslog_rfc5424`) are lenient in
//! other ways than go-syslog (they accept RFC 3164 without a timestamp, guess years,
//! trim messages, refuse non-UTF-8 messages, ...). Promtail's exact accept/refuse
//! set (e.g. RFC 3164 content restricted to visible characters, the first word after
//! the timestamp taken as the hostname, the RFC 5424 `[col N]` grammar limits) is
//! reproduced here directly, borrowing every field from the frame (no allocation
//! except the structured-data vector and escaped SD values).
//!
//! Everything is pure: no sockets, no clocks except the `now` the caller passes.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
#![cfg_attr(
    test,
    allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod framing;
pub mod message;
pub mod promtail;
pub mod rfc3164;
pub mod rfc5424;
mod time;

pub use framing::{FrameError, Framer, FramerConfig, Framing};
pub use message::{Message, ParseError, SdElement, Timestamp};
pub use promtail::{entry_timestamp, labels, line, visit_labels, LabelOptions, SyslogFormat};

/// Parses one frame in the given format with Promtail's options.
///
/// RFC 3164 uses [`rfc3164::Options::default`] (Promtail: year 0, UTC).
pub fn parse(format: SyslogFormat, frame: &[u8]) -> Result<Message<'_>, ParseError> {
    match format {
        SyslogFormat::Rfc5424 => rfc5424::parse(frame),
        SyslogFormat::Rfc3164 => rfc3164::parse(frame, &rfc3164::Options::default()),
    }
}
