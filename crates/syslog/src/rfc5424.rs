//! RFC 5424 parser with go-syslog v4 `rfc5424` machine semantics (best effort on,
//! non-compliant MSG allowed: any octets), as Promtail 3.4.6 uses it.
//!
//! Accepted: `<PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP
//! STRUCTURED-DATA [SP MSG]` where PRI is `0` or 1..=191 without leading zeros,
//! VERSION 1..=999, TIMESTAMP `-` or RFC 3339 with 1 to 6 fraction digits and a
//! `Z`/`±hh:mm` offset (invalid dates such as Feb 30 are refused, as Go's
//! `time.Parse` does), header fields 1..=255/48/128/32 printable US-ASCII bytes
//! (`-` alone is nil), SD-IDs and param names 1..=32 printable bytes except
//! `= ] " SP`, param values UTF-8 with only `\"`, `\\`, `\]` escapes (an unescaped
//! `]` or `"`, or a backslash before anything else, is refused), no duplicate
//! SD-ID. MSG is every remaining byte (BOM, invalid UTF-8, LF and CR included).

use std::borrow::Cow;

use crate::message::{err, Message, ParseError, ParseErrorKind as K, SdElement, Timestamp};
use crate::time::{days_from_civil, days_in_month};

/// Parses one RFC 5424 message.
pub fn parse(input: &[u8]) -> Result<Message<'_>, ParseError> {
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
    let version = parse_version(&mut c)?;
    c.sp(K::Parse)?;
    let timestamp = if c.peek() == Some(b'-') {
        c.p += 1;
        None
    } else {
        Some(parse_timestamp(&mut c)?)
    };
    c.sp(K::Timestamp)?;
    let hostname = c.field(255, K::Hostname)?;
    c.sp(K::Hostname)?;
    let app_name = c.field(48, K::AppName)?;
    c.sp(K::AppName)?;
    let proc_id = c.field(128, K::ProcId)?;
    c.sp(K::ProcId)?;
    let msg_id = c.field(32, K::MsgId)?;
    c.sp(K::MsgId)?;
    let structured_data = match c.peek() {
        Some(b'-') => {
            c.p += 1;
            None
        }
        Some(b'[') => Some(parse_sd(&mut c)?),
        _ => return err(K::StructuredData, c.p),
    };
    let message = match c.peek() {
        None => None,
        Some(b' ') => {
            let rest = input.get(c.p + 1..).unwrap_or(&[]);
            if rest.is_empty() {
                None
            } else {
                Some(rest)
            }
        }
        Some(_) => return err(K::Parse, c.p),
    };
    Ok(Message {
        priority,
        facility: priority / 8,
        severity: priority % 8,
        version,
        timestamp,
        hostname: nil(hostname),
        app_name: nil(app_name),
        proc_id: nil(proc_id),
        msg_id: nil(msg_id),
        structured_data,
        message,
    })
}

fn nil(s: &str) -> Option<&str> {
    if s == "-" || s.is_empty() {
        None
    } else {
        Some(s)
    }
}

pub(crate) struct Cursor<'a> {
    pub(crate) s: &'a [u8],
    pub(crate) p: usize,
}

impl<'a> Cursor<'a> {
    #[inline]
    pub(crate) fn peek(&self) -> Option<u8> {
        self.s.get(self.p).copied()
    }

    #[inline]
    fn sp(&mut self, kind: K) -> Result<(), ParseError> {
        if self.peek() == Some(b' ') {
            self.p += 1;
            Ok(())
        } else {
            err(kind, self.p)
        }
    }

    /// `graph{1,max}` followed by whatever comes next (checked by the caller).
    #[inline]
    fn field(&mut self, max: usize, kind: K) -> Result<&'a str, ParseError> {
        let start = self.p;
        let rest = self.s.get(start..).unwrap_or(&[]);
        let n = rest
            .iter()
            .position(|b| !b.is_ascii_graphic())
            .unwrap_or(rest.len());
        if n == 0 {
            return err(kind, start);
        }
        if n > max {
            return err(kind, start + max);
        }
        self.p = start + n;
        // All bytes are ASCII graphic, hence valid UTF-8.
        std::str::from_utf8(rest.get(..n).unwrap_or(&[])).or_else(|_| err(kind, start))
    }

    /// Exactly `n` ASCII digits as a number.
    pub(crate) fn digits(&mut self, n: usize, kind: K) -> Result<u32, ParseError> {
        let mut v = 0u32;
        for _ in 0..n {
            match self.peek() {
                Some(d @ b'0'..=b'9') => {
                    v = v * 10 + u32::from(d - b'0');
                    self.p += 1;
                }
                _ => return err(kind, self.p),
            }
        }
        Ok(v)
    }

    pub(crate) fn lit(&mut self, b: u8, kind: K) -> Result<(), ParseError> {
        if self.peek() == Some(b) {
            self.p += 1;
            Ok(())
        } else {
            err(kind, self.p)
        }
    }
}

/// PRIVAL: `0`, or 1..=191 without a leading zero.
pub(crate) fn parse_prival(c: &mut Cursor<'_>) -> Result<u8, ParseError> {
    let start = c.p;
    let mut v: u32 = 0;
    let mut n = 0;
    while let Some(d @ b'0'..=b'9') = c.peek() {
        if n == 3 || (n == 1 && v == 0) {
            return err(K::Prival, c.p);
        }
        v = v * 10 + u32::from(d - b'0');
        n += 1;
        c.p += 1;
    }
    if n == 0 || v > 191 {
        return err(K::Prival, start);
    }
    Ok(v as u8)
}

fn parse_version(c: &mut Cursor<'_>) -> Result<u16, ParseError> {
    let start = c.p;
    let mut v: u16 = 0;
    let mut n = 0;
    while let Some(d @ b'0'..=b'9') = c.peek() {
        if n == 3 || (n == 0 && d == b'0') {
            return err(K::Version, c.p);
        }
        v = v * 10 + u16::from(d - b'0');
        n += 1;
        c.p += 1;
    }
    if n == 0 {
        return err(K::Version, start);
    }
    Ok(v)
}

fn range(c: &Cursor<'_>, v: u32, lo: u32, hi: u32, at: usize) -> Result<u32, ParseError> {
    if v < lo || v > hi {
        return err(K::Timestamp, at.min(c.s.len()));
    }
    Ok(v)
}

/// `YYYY-MM-DDThh:mm:ss[.f{1,6}](Z|±hh:mm)`.
fn parse_timestamp(c: &mut Cursor<'_>) -> Result<Timestamp, ParseError> {
    let t = K::Timestamp;
    let at = c.p;
    let year = c.digits(4, t)?;
    c.lit(b'-', t)?;
    let month = c.digits(2, t)?;
    range(c, month, 1, 12, at)?;
    c.lit(b'-', t)?;
    let day = c.digits(2, t)?;
    range(c, day, 1, 31, at)?;
    c.lit(b'T', t)?;
    let hour = c.digits(2, t)?;
    range(c, hour, 0, 23, at)?;
    c.lit(b':', t)?;
    let min = c.digits(2, t)?;
    range(c, min, 0, 59, at)?;
    c.lit(b':', t)?;
    let sec = c.digits(2, t)?;
    range(c, sec, 0, 59, at)?;
    let mut nanos = 0u32;
    if c.peek() == Some(b'.') {
        c.p += 1;
        let mut n = 0;
        while let Some(d @ b'0'..=b'9') = c.peek() {
            if n == 6 {
                return err(t, c.p);
            }
            nanos = nanos * 10 + u32::from(d - b'0');
            n += 1;
            c.p += 1;
        }
        if n == 0 {
            return err(t, c.p);
        }
        for _ in n..9 {
            nanos *= 10;
        }
    }
    let offset_secs: i32 = match c.peek() {
        Some(b'Z') => {
            c.p += 1;
            0
        }
        Some(sign @ (b'+' | b'-')) => {
            c.p += 1;
            let oh = c.digits(2, t)?;
            range(c, oh, 0, 23, at)?;
            c.lit(b':', t)?;
            let om = c.digits(2, t)?;
            range(c, om, 0, 59, at)?;
            let off = (oh * 3600 + om * 60) as i32;
            if sign == b'-' {
                -off
            } else {
                off
            }
        }
        _ => return err(t, c.p),
    };
    let year = i64::from(year);
    if day > days_in_month(year, month) {
        // Go: `parsing time ...: day out of range`.
        return err(t, c.p);
    }
    let secs = days_from_civil(year, month, day) * 86_400 + i64::from(hour * 3600 + min * 60 + sec)
        - i64::from(offset_secs);
    Ok(Timestamp {
        secs,
        nanos,
        offset_secs,
    })
}

fn is_sdname_byte(b: u8) -> bool {
    b.is_ascii_graphic() && !matches!(b, b'=' | b']' | b'"')
}

fn sdname<'a>(c: &mut Cursor<'a>, kind: K) -> Result<&'a str, ParseError> {
    let start = c.p;
    let rest = c.s.get(start..).unwrap_or(&[]);
    let n = rest
        .iter()
        .position(|&b| !is_sdname_byte(b))
        .unwrap_or(rest.len());
    if n == 0 || n > 32 {
        return err(kind, start + n.min(32));
    }
    c.p = start + n;
    std::str::from_utf8(rest.get(..n).unwrap_or(&[])).or_else(|_| err(kind, start))
}

fn parse_sd<'a>(c: &mut Cursor<'a>) -> Result<Vec<SdElement<'a>>, ParseError> {
    let mut elements: Vec<SdElement<'a>> = Vec::new();
    while c.peek() == Some(b'[') {
        c.p += 1;
        let id = sdname(c, K::SdId)?;
        if elements.iter().any(|e| e.id == id) {
            return err(K::SdIdDuplicated, c.p);
        }
        let mut params = Vec::new();
        loop {
            match c.peek() {
                Some(b']') => {
                    c.p += 1;
                    break;
                }
                Some(b' ') => {
                    c.p += 1;
                    let name = sdname(c, K::SdParam)?;
                    c.lit(b'=', K::SdParam)?;
                    c.lit(b'"', K::SdParam)?;
                    let value = param_value(c)?;
                    params.push((name, value));
                }
                _ => {
                    let kind = if params.is_empty() {
                        K::SdId
                    } else {
                        K::SdParam
                    };
                    return err(kind, c.p);
                }
            }
        }
        elements.push(SdElement { id, params });
    }
    Ok(elements)
}

/// Value up to the closing quote (consumed), unescaped.
fn param_value<'a>(c: &mut Cursor<'a>) -> Result<Cow<'a, str>, ParseError> {
    let start = c.p;
    let mut escapes = false;
    loop {
        match c.peek() {
            None => return err(K::SdParam, c.p),
            Some(b'"') => break,
            Some(b']') => return err(K::SdParam, c.p),
            Some(b'\\') => {
                c.p += 1;
                match c.peek() {
                    Some(b'"' | b']' | b'\\') => {
                        escapes = true;
                        c.p += 1;
                    }
                    _ => return err(K::Escape, c.p),
                }
            }
            Some(_) => c.p += 1,
        }
    }
    let raw = c.s.get(start..c.p).unwrap_or(&[]);
    c.p += 1;
    let text = std::str::from_utf8(raw).or_else(|e| err(K::SdParam, start + e.valid_up_to()))?;
    if !escapes {
        return Ok(Cow::Borrowed(text));
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(ch) = chars.next() {
        if ch == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(ch);
        }
    }
    Ok(Cow::Owned(out))
}
