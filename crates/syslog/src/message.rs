//! The parsed syslog message shared by both parsers.

use std::borrow::Cow;
use std::fmt;

/// An instant with the UTC offset it was written with.
///
/// Seconds are signed and unbounded enough for RFC 3164 timestamps, which Promtail
/// leaves in year 0 (go-syslog without `WithYear`), i.e. before what an `i64` of
/// nanoseconds can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timestamp {
    /// Seconds since 1970-01-01T00:00:00Z.
    pub secs: i64,
    /// Nanoseconds within the second, `0..1_000_000_000`.
    pub nanos: u32,
    /// UTC offset in seconds the timestamp was written with (0 for `Z` and RFC 3164).
    pub offset_secs: i32,
}

impl Timestamp {
    /// Nanoseconds since the Unix epoch, or `None` when outside `i64` (years before
    /// 1678 or after 2262, e.g. Promtail's year-0 RFC 3164 timestamps).
    pub fn unix_nanos(&self) -> Option<i64> {
        self.secs
            .checked_mul(1_000_000_000)
            .and_then(|n| n.checked_add(i64::from(self.nanos)))
    }

    /// Builds a UTC timestamp from nanoseconds since the Unix epoch.
    pub fn from_unix_nanos(nanos: i64) -> Self {
        Timestamp {
            secs: nanos.div_euclid(1_000_000_000),
            nanos: nanos.rem_euclid(1_000_000_000) as u32,
            offset_secs: 0,
        }
    }

    /// The civil date and time in the timestamp's own offset:
    /// (year, month, day, hour, minute, second).
    pub fn civil(&self) -> (i64, u32, u32, u32, u32, u32) {
        let local = self.secs + i64::from(self.offset_secs);
        let days = local.div_euclid(86_400);
        let sod = local.rem_euclid(86_400) as u32;
        let (y, m, d) = crate::time::civil_from_days(days);
        (y, m, d, sod / 3600, (sod / 60) % 60, sod % 60)
    }

    /// Formats like Go's `time.Format("2006-01-02T15:04:05.999999Z07:00")`
    /// (fraction trimmed of trailing zeros, `Z` for a zero offset).
    pub fn write_rfc3339_micro(&self, out: &mut Vec<u8>) {
        use std::io::Write;
        let (y, mo, d, h, mi, s) = self.civil();
        let _ = write!(out, "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}");
        let micros = self.nanos / 1000;
        if micros != 0 {
            let mut frac = format!("{micros:06}");
            while frac.ends_with('0') {
                frac.pop();
            }
            out.push(b'.');
            out.extend_from_slice(frac.as_bytes());
        }
        if self.offset_secs == 0 {
            out.push(b'Z');
        } else {
            let sign = if self.offset_secs < 0 { '-' } else { '+' };
            let off = self.offset_secs.unsigned_abs();
            let _ = write!(out, "{sign}{:02}:{:02}", off / 3600, (off / 60) % 60);
        }
    }
}

/// One structured-data element (`[id name="value" ...]`), in input order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdElement<'a> {
    /// SD-ID, e.g. `exampleSDID@32473`.
    pub id: &'a str,
    /// Parameters in input order; values are unescaped (`\"`, `\\`, `\]`).
    /// A repeated name keeps every occurrence here; go-syslog keeps the last one.
    pub params: Vec<(&'a str, Cow<'a, str>)>,
}

/// A parsed syslog message, borrowing from its frame.
///
/// Absent values follow go-syslog's export rules: `-` and empty header fields are
/// `None`, and an empty MSG is `None` (Promtail then drops the message and counts it
/// in `promtail_syslog_empty_messages_total`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    /// PRI value, 0..=191.
    pub priority: u8,
    /// `priority / 8`.
    pub facility: u8,
    /// `priority % 8`.
    pub severity: u8,
    /// RFC 5424 VERSION (1..=999); 0 for RFC 3164.
    pub version: u16,
    /// TIMESTAMP; `None` for the RFC 5424 nil value `-`.
    pub timestamp: Option<Timestamp>,
    /// HOSTNAME.
    pub hostname: Option<&'a str>,
    /// APP-NAME (RFC 3164: the TAG).
    pub app_name: Option<&'a str>,
    /// PROCID (RFC 3164: the content between `[` and `]` after the TAG).
    pub proc_id: Option<&'a str>,
    /// MSGID (always `None` for RFC 3164).
    pub msg_id: Option<&'a str>,
    /// STRUCTURED-DATA elements in input order; `None` for `-` and for RFC 3164.
    pub structured_data: Option<Vec<SdElement<'a>>>,
    /// MSG, raw bytes (may be non-UTF-8; a leading BOM is kept, as go-syslog does).
    pub message: Option<&'a [u8]>,
}

impl Message<'_> {
    /// go-syslog's `SeverityLevel()` keyword, e.g. `informational`.
    pub fn severity_level(&self) -> &'static str {
        severity_keyword(self.severity)
    }

    /// go-syslog's `FacilityLevel()` keyword, e.g. `local4`.
    pub fn facility_level(&self) -> &'static str {
        facility_keyword(self.facility)
    }
}

/// go-syslog v4 `common.SeverityLevels`.
pub fn severity_keyword(severity: u8) -> &'static str {
    match severity {
        0 => "emergency",
        1 => "alert",
        2 => "critical",
        3 => "error",
        4 => "warning",
        5 => "notice",
        6 => "informational",
        _ => "debug",
    }
}

/// go-syslog v4 `common.FacilityKeywords` (RFC 5427 names).
pub fn facility_keyword(facility: u8) -> &'static str {
    const K: [&str; 24] = [
        "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
        "authpriv", "ftp", "ntp", "security", "console", "cron2", "local0", "local1", "local2",
        "local3", "local4", "local5", "local6", "local7",
    ];
    K.get(usize::from(facility)).copied().unwrap_or("")
}

/// Why a frame was refused. `col` is the byte offset where go-syslog stopped,
/// like its `[col N]` suffix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// What was expected (go-syslog's wording).
    pub kind: ParseErrorKind,
    /// Byte offset in the frame.
    pub col: usize,
}

/// The go-syslog error classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseErrorKind {
    Pri,
    Prival,
    Version,
    Timestamp,
    Hostname,
    AppName,
    ProcId,
    MsgId,
    StructuredData,
    SdId,
    SdIdDuplicated,
    SdParam,
    Escape,
    /// RFC 3164: the part after the timestamp is missing or has a non-visible byte.
    Content,
    Parse,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ParseErrorKind::Pri => "expecting a priority value within angle brackets",
            ParseErrorKind::Prival => "expecting a priority value in the range 1-191 or equal to 0",
            ParseErrorKind::Version => "expecting a version value in the range 1-999",
            ParseErrorKind::Timestamp => "expecting a timestamp (RFC3339MICRO or nil for RFC 5424, Stamp for RFC 3164)",
            ParseErrorKind::Hostname => "expecting an hostname (from 1 to max 255 US-ASCII characters) or a nil value",
            ParseErrorKind::AppName => "expecting an app-name (from 1 to max 48 US-ASCII characters) or a nil value",
            ParseErrorKind::ProcId => "expecting a procid (from 1 to max 128 US-ASCII characters) or a nil value",
            ParseErrorKind::MsgId => "expecting a msgid (from 1 to max 32 US-ASCII characters) or a nil value",
            ParseErrorKind::StructuredData => "expecting a structured data section containing one or more elements (`[id( key=\"value\")*]+`) or a nil value",
            ParseErrorKind::SdId => "expecting a structured data element id (from 1 to max 32 US-ASCII characters; except `=`, ` `, `]`, and `\"`",
            ParseErrorKind::SdIdDuplicated => "duplicate structured data element id",
            ParseErrorKind::SdParam => "expecting a structured data parameter (`key=\"value\"`)",
            ParseErrorKind::Escape => "expecting chars `]`, `\"`, and `\\` to be escaped within param value",
            ParseErrorKind::Content => "expecting a space and a message of visible characters after the timestamp",
            ParseErrorKind::Parse => "parsing error",
        };
        write!(f, "{what} [col {}]", self.col)
    }
}

impl std::error::Error for ParseError {}

pub(crate) fn err<T>(kind: ParseErrorKind, col: usize) -> Result<T, ParseError> {
    Err(ParseError { kind, col })
}
