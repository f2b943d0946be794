//! RFC 3164 (BSD syslog) parser with go-syslog v4 `rfc3164` machine semantics as
//! Promtail 3.4.6 configures it: best effort only — no `WithYear`, no
//! `WithTimezone`, no `WithRFC3339`, no second fractions, no Cisco sequence.
//!
//! Grammar (go-syslog): `<PRI> SP* Mmm SP DD SP hh:mm:ss SP+ [HOSTNAME SP+] MSG [LF]`
//! where `DD` is ` 1`..` 9`, `01`..`31`; `MSG = [TAG ["[" CONTENT "]"] ":" SP] TEXT`,
//! and TEXT is one or more *visible* bytes (0x20..=0x7E, 0x80..=0xFF): a TAB, CR or
//! any other control byte anywhere after the timestamp makes go-syslog report an
//! error, so Promtail drops the message. The timestamp is parsed with Go's
//! `time.Stamp` in UTC **in year 0** (Promtail keeps it so; Grafana Alloy documents
//! "mimic Promtail behavior and leave the year as 0"). Feb 29 is valid (year 0 is a
//! leap year); Feb 30, Apr 31, ... are refused.
//!
//! go-syslog runs all alternatives of that grammar at once (a ragel DFA with a single
//! mark register), which gives these field rules, reproduced here:
//! * the first word after the timestamp is the HOSTNAME when it is printable
//!   US-ASCII without `:` (≤ 255 bytes) and is followed by a space — so
//!   `Jan  1 00:00:00 hello world` has hostname `hello`, message `world`;
//! * a TAG (≤ 48 printable bytes without ` `, `:`, `[`) directly followed by `[` or
//!   `:` sets APP-NAME, `[CONTENT]` sets PROCID, even on an alternative that fails
//!   later; the last alternative wins;
//! * MSG starts at the last place where any alternative could start it (or start a
//!   TAG or CONTENT).

use crate::message::{err, Message, ParseError, ParseErrorKind as K, Timestamp};
use crate::rfc5424::{parse_prival, Cursor};
use crate::time::{days_from_civil, days_in_month, is_leap};

/// Parser options. The default is Promtail's behaviour.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Year given to the year-less timestamp. `None` (Promtail) keeps year 0;
    /// `Some(y)` is go-syslog's `WithYear` (Feb 29 becomes Mar 1 in a non-leap year).
    pub year: Option<i32>,
}

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// Parses one RFC 3164 message.
pub fn parse<'a>(input: &'a [u8], opts: &Options) -> Result<Message<'a>, ParseError> {
    let mut c = Cursor { s: input, p: 0 };
    if c.peek() != Some(b'<') {
        return err(K::Pri, 0);
    }
    c.p = 1;
    let priority = parse_prival(&mut c)?;
    if c.peek() != Some(b'>') {
        return err(K::Pri, c.p);
    }
    c.p += 1;
    while c.peek() == Some(b' ') {
        c.p += 1;
    }
    let timestamp = parse_stamp(&mut c, opts)?;
    let mut body = input.get(c.p..).unwrap_or(&[]);
    if let [rest @ .., b'\n'] = body {
        body = rest;
    }
    let base = c.p;
    if body.len() < 2 || body.first() != Some(&b' ') {
        return err(K::Content, base + body.len().min(1));
    }
    if let Some(bad) = body.iter().position(|&b| !is_visible(b)) {
        return err(K::Content, base + bad);
    }
    let f = fields(body);
    let s = |r: Option<(usize, usize)>| {
        r.and_then(|(a, b)| body.get(a..b))
            .and_then(|v| std::str::from_utf8(v).ok())
            .filter(|v| !v.is_empty() && *v != "-")
    };
    Ok(Message {
        priority,
        facility: priority / 8,
        severity: priority % 8,
        version: 0,
        timestamp: Some(timestamp),
        hostname: s(f.hostname),
        app_name: s(f.tag),
        proc_id: s(f.content),
        msg_id: None,
        structured_data: None,
        message: body.get(f.mark..).filter(|m| !m.is_empty()),
    })
}

#[inline]
fn is_visible(b: u8) -> bool {
    (0x20..=0x7e).contains(&b) || b >= 0x80
}

#[inline]
fn is_tag_byte(b: u8) -> bool {
    b.is_ascii_graphic() && b != b':' && b != b'['
}

#[inline]
fn is_content_byte(b: u8) -> bool {
    b.is_ascii_graphic() && b != b'[' && b != b']'
}

#[derive(Debug, Default)]
struct Fields {
    hostname: Option<(usize, usize)>,
    tag: Option<(usize, usize)>,
    content: Option<(usize, usize)>,
    /// Last mark: where MSG starts.
    mark: usize,
}

/// Runs the `[TAG [CONTENT] ":" SP] TEXT` alternative starting at `i`, recording
/// the actions it fires before it dies.
fn msg_alternative(body: &[u8], i: usize, f: &mut Fields) {
    f.mark = f.mark.max(i);
    let mut q = i;
    while q < body.len() && q - i < 48 && body.get(q).is_some_and(|&b| is_tag_byte(b)) {
        q += 1;
    }
    if q == i {
        return;
    }
    let after_colon = match body.get(q) {
        Some(b':') => {
            f.tag = Some((i, q));
            q + 1
        }
        Some(b'[') => {
            f.tag = Some((i, q));
            let r = q + 1;
            let mut s = r;
            while body.get(s).is_some_and(|&b| is_content_byte(b)) {
                s += 1;
            }
            if s > r {
                f.mark = f.mark.max(r);
            }
            if body.get(s) != Some(&b']') {
                return;
            }
            if s == r {
                f.mark = f.mark.max(s);
            }
            f.content = Some((r, s));
            if body.get(s + 1) != Some(&b':') {
                return;
            }
            s + 2
        }
        _ => return,
    };
    if body.get(after_colon) == Some(&b' ') && after_colon + 1 < body.len() {
        f.mark = f.mark.max(after_colon + 1);
    }
}

/// `body` starts with a space, has ≥ 2 bytes, all visible.
fn fields(body: &[u8]) -> Fields {
    let mut f = Fields::default();
    let len = body.len();
    let i0 = body.iter().position(|&b| b != b' ');
    let Some(i0) = i0 else {
        // Only spaces: TEXT may start at any of them but the first.
        f.mark = len - 1;
        return f;
    };
    // Alternative (a): SP+ MSG.
    msg_alternative(body, i0, &mut f);
    // Alternative (b): SP+ HOSTNAME SP+ MSG.
    let e1 = body
        .get(i0..)
        .and_then(|r| r.iter().position(|&b| b == b' '))
        .map(|o| i0 + o);
    if let Some(e1) = e1 {
        let word = body.get(i0..e1).unwrap_or(&[]);
        if word.len() <= 255 && word.iter().all(|&b| b.is_ascii_graphic() && b != b':') {
            f.hostname = Some((i0, e1));
            let i1 = body
                .get(e1..)
                .and_then(|r| r.iter().position(|&b| b != b' '))
                .map(|o| e1 + o);
            match i1 {
                Some(i1) => msg_alternative(body, i1, &mut f),
                None => f.mark = f.mark.max(len - 1),
            }
        }
    }
    f
}

/// `Mmm SP DD SP hh:mm:ss` (Go `time.Stamp`), year 0 UTC unless `opts.year`.
fn parse_stamp(c: &mut Cursor<'_>, opts: &Options) -> Result<Timestamp, ParseError> {
    let t = K::Timestamp;
    let at = c.p;
    let mon = c.s.get(at..at + 3).ok_or(ParseError { kind: t, col: at })?;
    let month = MONTHS
        .iter()
        .position(|m| m.as_slice() == mon)
        .ok_or(ParseError { kind: t, col: at })? as u32
        + 1;
    c.p += 3;
    c.lit(b' ', t)?;
    let day = match (c.s.get(c.p).copied(), c.s.get(c.p + 1).copied()) {
        (Some(b' '), Some(d @ b'1'..=b'9')) => u32::from(d - b'0'),
        (Some(b'0'), Some(d @ b'1'..=b'9')) => u32::from(d - b'0'),
        (Some(t1 @ b'1'..=b'2'), Some(d @ b'0'..=b'9')) => {
            u32::from(t1 - b'0') * 10 + u32::from(d - b'0')
        }
        (Some(b'3'), Some(d @ b'0'..=b'1')) => 30 + u32::from(d - b'0'),
        _ => return err(t, c.p),
    };
    c.p += 2;
    c.lit(b' ', t)?;
    let hour = c.digits(2, t)?;
    c.lit(b':', t)?;
    let min = c.digits(2, t)?;
    c.lit(b':', t)?;
    let sec = c.digits(2, t)?;
    if hour > 23 || min > 59 || sec > 59 {
        return err(t, c.p);
    }
    // Go parses in year 0 (a leap year) first.
    if day > days_in_month(0, month) {
        return err(t, c.p);
    }
    let (year, month, day) = match opts.year {
        None => (0i64, month, day),
        Some(y) => {
            let y = i64::from(y);
            if month == 2 && day == 29 && !is_leap(y) {
                (y, 3, 1)
            } else {
                (y, month, day)
            }
        }
    };
    Ok(Timestamp {
        secs: days_from_civil(year, month, day) * 86_400 + i64::from(hour * 3600 + min * 60 + sec),
        nanos: 0,
        offset_secs: 0,
    })
}
