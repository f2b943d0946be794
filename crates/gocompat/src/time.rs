//! Go's `time` package layouts: parsing and formatting with reference layouts such as
//! `2006-01-02T15:04:05Z07:00`, Go's `time.Date` normalisation, and the process-local zone.
//!
//! This module owns everything that has to behave like Go's `time.Parse`, `time.ParseInLocation`
//! and `Time.Format`: the `timestamp` stage, the sprig date functions of the template engine and
//! any other stage that reads Go-formatted times call into it. A layout is compiled once with
//! [`Layout::new`] and then used per line without further allocation beyond the result.

use std::sync::OnceLock;

use chrono::{Offset, TimeZone};
use chrono_tz::{OffsetName, Tz};

/// Nanoseconds per second.
const NANOS: i64 = 1_000_000_000;

/// Go's `time.RFC3339`.
pub const RFC3339: &str = "2006-01-02T15:04:05Z07:00";
/// Go's `time.RFC3339Nano`.
pub const RFC3339_NANO: &str = "2006-01-02T15:04:05.999999999Z07:00";

/// The named layouts of Go's `time` package that Promtail's timestamp stage accepts by name.
pub fn named_layout(name: &str) -> Option<&'static str> {
    Some(match name {
        "ANSIC" => "Mon Jan _2 15:04:05 2006",
        "UnixDate" => "Mon Jan _2 15:04:05 MST 2006",
        "RubyDate" => "Mon Jan 02 15:04:05 -0700 2006",
        "RFC822" => "02 Jan 06 15:04 MST",
        "RFC822Z" => "02 Jan 06 15:04 -0700",
        "RFC850" => "Monday, 02-Jan-06 15:04:05 MST",
        "RFC1123" => "Mon, 02 Jan 2006 15:04:05 MST",
        "RFC1123Z" => "Mon, 02 Jan 2006 15:04:05 -0700",
        "RFC3339" => RFC3339,
        "RFC3339Nano" => RFC3339_NANO,
        "Kitchen" => "3:04PM",
        "Stamp" => "Jan _2 15:04:05",
        "StampMilli" => "Jan _2 15:04:05.000",
        "StampMicro" => "Jan _2 15:04:05.000000",
        "StampNano" => "Jan _2 15:04:05.000000000",
        "DateTime" => "2006-01-02 15:04:05",
        "DateOnly" => "2006-01-02",
        "TimeOnly" => "15:04:05",
        _ => return None,
    })
}

/// A time zone as Go's `*time.Location` sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Loc {
    /// `time.UTC`.
    Utc,
    /// `time.Local`, the process zone (see [`local_tz`]).
    Local,
    /// A zone from the IANA database.
    Tz(Tz),
    /// `time.FixedZone(name, offset)`.
    Fixed {
        /// Abbreviation printed by `MST`; may be empty.
        name: String,
        /// Seconds east of UTC.
        offset: i32,
    },
}

impl Loc {
    /// Loads an IANA zone as Go's `time.LoadLocation` does: `""` and `UTC` are UTC, `Local` is the
    /// process zone. The error text is Go's.
    pub fn load(name: &str) -> Result<Loc, String> {
        match name {
            "" | "UTC" => Ok(Loc::Utc),
            "Local" => Ok(Loc::Local),
            _ => name
                .parse::<Tz>()
                .map(Loc::Tz)
                .map_err(|_| format!("unknown time zone {name}")),
        }
    }

    /// The offset (seconds east of UTC) and abbreviation in force at the Unix second `unix`.
    pub fn lookup(&self, unix: i64) -> (i32, String) {
        match self {
            Loc::Utc => (0, "UTC".into()),
            Loc::Local => match local_tz() {
                Some(tz) => tz_lookup(tz, unix),
                None => (0, "UTC".into()),
            },
            Loc::Tz(tz) => tz_lookup(*tz, unix),
            Loc::Fixed { name, offset } => (*offset, name.clone()),
        }
    }

    /// The offset (seconds east of UTC) in force at the Unix second `unix`, without the name.
    pub fn offset_at(&self, unix: i64) -> i32 {
        match self {
            Loc::Utc => 0,
            Loc::Local => local_tz().map_or(0, |tz| tz_offset(tz, unix)),
            Loc::Tz(tz) => tz_offset(*tz, unix),
            Loc::Fixed { offset, .. } => *offset,
        }
    }

    /// Go's `Location.lookupName`: the offset of a zone abbreviation in this location near `unix`.
    fn lookup_name(&self, name: &str, unix: i64) -> Option<i32> {
        let candidates: Vec<(String, i32)> = match self {
            Loc::Utc => vec![("UTC".into(), 0)],
            Loc::Fixed { name, offset } => vec![(name.clone(), *offset)],
            Loc::Local | Loc::Tz(_) => {
                // Sample the zone around the instant to learn its abbreviations.
                let year = 365 * 86_400;
                let mut v = Vec::new();
                for d in [0, year / 4, year / 2, 3 * year / 4, -year / 2] {
                    let (off, abbr) = self.lookup(unix + d);
                    if !v.iter().any(|(a, o)| *a == abbr && *o == off) {
                        v.push((abbr, off));
                    }
                }
                v
            }
        };
        for (abbr, off) in &candidates {
            if abbr == name {
                let (o2, a2) = self.lookup(unix - *off as i64);
                if a2 == *abbr {
                    return Some(o2);
                }
            }
        }
        candidates
            .iter()
            .find(|(abbr, _)| abbr == name)
            .map(|(_, off)| *off)
    }
}

fn tz_lookup(tz: Tz, unix: i64) -> (i32, String) {
    let Some(naive) = chrono::DateTime::from_timestamp(unix, 0).map(|d| d.naive_utc()) else {
        return (0, "UTC".into());
    };
    let off = tz.offset_from_utc_datetime(&naive);
    let abbr = off.abbreviation().unwrap_or("").to_string();
    (off.fix().local_minus_utc(), abbr)
}

fn tz_offset(tz: Tz, unix: i64) -> i32 {
    match chrono::DateTime::from_timestamp(unix, 0) {
        Some(d) => tz
            .offset_from_utc_datetime(&d.naive_utc())
            .fix()
            .local_minus_utc(),
        None => 0,
    }
}

/// The process-local zone, resolved once like Go's `time.Local`: `$TZ` (empty or `UTC` means UTC),
/// else `/etc/localtime`. `None` means UTC.
pub fn local_tz() -> Option<Tz> {
    static LOCAL: OnceLock<Option<Tz>> = OnceLock::new();
    *LOCAL.get_or_init(|| match std::env::var("TZ") {
        Ok(tz) => {
            let tz = tz.trim_start_matches(':');
            if tz.is_empty() || tz == "UTC" {
                None
            } else {
                tz.parse::<Tz>().ok()
            }
        }
        Err(_) => std::fs::read_link("/etc/localtime")
            .ok()
            .and_then(|p| {
                let s = p.to_string_lossy().into_owned();
                s.split_once("zoneinfo/").map(|(_, n)| n.to_string())
            })
            .and_then(|n| n.parse::<Tz>().ok()),
    })
}

/// An instant with a location, like Go's `time.Time`.
#[derive(Debug, Clone, PartialEq)]
pub struct GoTime {
    /// Seconds since the Unix epoch.
    pub unix: i64,
    /// Nanoseconds within the second, 0..1e9.
    pub nsec: u32,
    /// The location used for formatting.
    pub loc: Loc,
}

impl GoTime {
    /// The instant `nanos` (Unix nanoseconds) in `loc`.
    pub fn from_unix_nanos(nanos: i64, loc: Loc) -> Self {
        GoTime {
            unix: nanos.div_euclid(NANOS),
            nsec: nanos.rem_euclid(NANOS) as u32,
            loc,
        }
    }

    /// Go's `UnixNano` (wraps on overflow as Go does).
    pub fn unix_nanos(&self) -> i64 {
        self.unix.wrapping_mul(NANOS).wrapping_add(self.nsec as i64)
    }

    /// The same instant in another location.
    pub fn in_loc(&self, loc: Loc) -> Self {
        GoTime {
            unix: self.unix,
            nsec: self.nsec,
            loc,
        }
    }

    /// The civil fields in this time's location.
    pub fn civil(&self) -> Civil {
        let (offset, abbr) = self.loc.lookup(self.unix);
        let local = self
            .unix
            .clamp(-(1 << 60), 1 << 60)
            .saturating_add(offset as i64);
        let days = local.div_euclid(86_400);
        let secs = local.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        Civil {
            year,
            month,
            day,
            hour: (secs / 3600) as u32,
            minute: ((secs / 60) % 60) as u32,
            second: (secs % 60) as u32,
            nsec: self.nsec,
            weekday: (days + 4).rem_euclid(7) as u32,
            yday: (days - days_from_civil(year, 1, 1) + 1) as u32,
            offset,
            abbr,
        }
    }

    /// Go's `Time.Format` with a layout string.
    pub fn format(&self, layout: &str) -> String {
        Layout::new(layout).format(self)
    }

    /// Go's `Time.String`: `2006-01-02 15:04:05.999999999 -0700 MST`.
    pub fn go_string(&self) -> String {
        self.format("2006-01-02 15:04:05.999999999 -0700 MST")
    }
}

/// Civil (wall clock) fields of a [`GoTime`].
#[derive(Debug, Clone, PartialEq)]
pub struct Civil {
    /// Year (may be 0 or negative).
    pub year: i64,
    /// Month 1..=12.
    pub month: u32,
    /// Day of the month 1..=31.
    pub day: u32,
    /// Hour 0..24.
    pub hour: u32,
    /// Minute.
    pub minute: u32,
    /// Second.
    pub second: u32,
    /// Nanosecond.
    pub nsec: u32,
    /// Day of the week, 0 = Sunday.
    pub weekday: u32,
    /// Day of the year, 1-based.
    pub yday: u32,
    /// Zone offset in seconds.
    pub offset: i32,
    /// Zone abbreviation.
    pub abbr: String,
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date of a day count since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in(month: u32, year: i64) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Go's `time.Date`: fields out of range are normalised (month 13 is January of the next year,
/// Feb 30 is in March), and a wall time in `loc` that falls into a gap or overlap is resolved as
/// Go does (the offset in force just before the transition, looked up from the UTC guess).
#[allow(clippy::too_many_arguments)]
pub fn date(
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    min: i64,
    sec: i64,
    nsec: i64,
    loc: Loc,
) -> GoTime {
    let m0 = month.clamp(-(1 << 40), 1 << 40) - 1;
    let year = year
        .clamp(-100_000_000_000, 100_000_000_000)
        .saturating_add(m0.div_euclid(12));
    let month = (m0.rem_euclid(12) + 1) as u32;
    let sec = sec + nsec.div_euclid(NANOS);
    let nsec = nsec.rem_euclid(NANOS);
    let days = days_from_civil(year, month, 1).saturating_add(day.clamp(-(1 << 50), 1 << 50) - 1);
    let unix = days
        .saturating_mul(86_400)
        .saturating_add(hour.saturating_mul(3600))
        .saturating_add(min.saturating_mul(60))
        .saturating_add(sec);
    let o1 = loc.offset_at(unix);
    let unix = if o1 != 0 {
        let o2 = loc.offset_at(unix.saturating_sub(o1 as i64));
        unix.saturating_sub(o2 as i64)
    } else {
        unix
    };
    GoTime {
        unix,
        nsec: nsec as u32,
        loc,
    }
}

/// One element of a compiled layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Std {
    /// `January`
    LongMonth,
    /// `Jan`
    Month,
    /// `1`
    NumMonth,
    /// `01`
    ZeroMonth,
    /// `Monday`
    LongWeekDay,
    /// `Mon`
    WeekDay,
    /// `2`
    Day,
    /// `_2`
    UnderDay,
    /// `02`
    ZeroDay,
    /// `__2`
    UnderYearDay,
    /// `002`
    ZeroYearDay,
    /// `15`
    Hour,
    /// `3`
    Hour12,
    /// `03`
    ZeroHour12,
    /// `4`
    Minute,
    /// `04`
    ZeroMinute,
    /// `5`
    Second,
    /// `05`
    ZeroSecond,
    /// `2006`
    LongYear,
    /// `06`
    Year,
    /// `PM`
    PM,
    /// `pm`
    Pm,
    /// `MST`
    TZ,
    /// `Z0700`
    ISO8601TZ,
    /// `Z070000`
    ISO8601SecondsTZ,
    /// `Z07`
    ISO8601ShortTZ,
    /// `Z07:00`
    ISO8601ColonTZ,
    /// `Z07:00:00`
    ISO8601ColonSecondsTZ,
    /// `-0700`
    NumTZ,
    /// `-070000`
    NumSecondsTz,
    /// `-07`
    NumShortTZ,
    /// `-07:00`
    NumColonTZ,
    /// `-07:00:00`
    NumColonSecondsTZ,
    /// `.000` (digits, separator)
    FracSecond0(u8, u8),
    /// `.999` (digits, separator)
    FracSecond9(u8, u8),
}

/// A compiled Go reference layout.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    text: String,
    chunks: Vec<Chunk>,
}

#[derive(Debug, Clone, PartialEq)]
enum Chunk {
    Lit(String),
    Std(Std),
}

fn starts_lower(s: &[u8]) -> bool {
    matches!(s.first(), Some(b'a'..=b'z'))
}

/// Go's `nextStdChunk`: the literal prefix, the element and the rest of the layout.
fn next_std(layout: &str) -> (&str, Option<Std>, &str) {
    let b = layout.as_bytes();
    let n = b.len();
    let has = |i: usize, s: &str| b[i..].starts_with(s.as_bytes());
    for i in 0..n {
        let c = b[i];
        let found: Option<(Std, usize)> = match c {
            b'J' if has(i, "Jan") => {
                if has(i, "January") {
                    Some((Std::LongMonth, 7))
                } else if !starts_lower(&b[i + 3..]) {
                    Some((Std::Month, 3))
                } else {
                    None
                }
            }
            b'M' => {
                if has(i, "Mon") {
                    if has(i, "Monday") {
                        Some((Std::LongWeekDay, 6))
                    } else if !starts_lower(&b[i + 3..]) {
                        Some((Std::WeekDay, 3))
                    } else {
                        None
                    }
                } else if has(i, "MST") {
                    Some((Std::TZ, 3))
                } else {
                    None
                }
            }
            b'0' => {
                if i + 1 < n && (b'1'..=b'6').contains(&b[i + 1]) {
                    let s = match b[i + 1] {
                        b'1' => Std::ZeroMonth,
                        b'2' => Std::ZeroDay,
                        b'3' => Std::ZeroHour12,
                        b'4' => Std::ZeroMinute,
                        b'5' => Std::ZeroSecond,
                        _ => Std::Year,
                    };
                    Some((s, 2))
                } else if has(i, "002") {
                    Some((Std::ZeroYearDay, 3))
                } else {
                    None
                }
            }
            b'1' => {
                if i + 1 < n && b[i + 1] == b'5' {
                    Some((Std::Hour, 2))
                } else {
                    Some((Std::NumMonth, 1))
                }
            }
            b'2' => {
                if has(i, "2006") {
                    Some((Std::LongYear, 4))
                } else {
                    Some((Std::Day, 1))
                }
            }
            b'_' => {
                if i + 1 < n && b[i + 1] == b'2' {
                    if has(i + 1, "2006") {
                        // `_2006` is a literal `_` followed by the long year.
                        return (&layout[..i + 1], Some(Std::LongYear), &layout[i + 5..]);
                    }
                    Some((Std::UnderDay, 2))
                } else if has(i, "__2") {
                    Some((Std::UnderYearDay, 3))
                } else {
                    None
                }
            }
            b'3' => Some((Std::Hour12, 1)),
            b'4' => Some((Std::Minute, 1)),
            b'5' => Some((Std::Second, 1)),
            b'P' if i + 1 < n && b[i + 1] == b'M' => Some((Std::PM, 2)),
            b'p' if i + 1 < n && b[i + 1] == b'm' => Some((Std::Pm, 2)),
            b'-' => {
                if has(i, "-070000") {
                    Some((Std::NumSecondsTz, 7))
                } else if has(i, "-07:00:00") {
                    Some((Std::NumColonSecondsTZ, 9))
                } else if has(i, "-0700") {
                    Some((Std::NumTZ, 5))
                } else if has(i, "-07:00") {
                    Some((Std::NumColonTZ, 6))
                } else if has(i, "-07") {
                    Some((Std::NumShortTZ, 3))
                } else {
                    None
                }
            }
            b'Z' => {
                if has(i, "Z070000") {
                    Some((Std::ISO8601SecondsTZ, 7))
                } else if has(i, "Z07:00:00") {
                    Some((Std::ISO8601ColonSecondsTZ, 9))
                } else if has(i, "Z0700") {
                    Some((Std::ISO8601TZ, 5))
                } else if has(i, "Z07:00") {
                    Some((Std::ISO8601ColonTZ, 6))
                } else if has(i, "Z07") {
                    Some((Std::ISO8601ShortTZ, 3))
                } else {
                    None
                }
            }
            b'.' | b',' if i + 1 < n && (b[i + 1] == b'0' || b[i + 1] == b'9') => {
                let ch = b[i + 1];
                let mut j = i + 1;
                while j < n && b[j] == ch {
                    j += 1;
                }
                if !(j < n && b[j].is_ascii_digit()) {
                    let digits = (j - (i + 1)).min(255) as u8;
                    let s = if ch == b'0' {
                        Std::FracSecond0(digits, c)
                    } else {
                        Std::FracSecond9(digits, c)
                    };
                    Some((s, j - i))
                } else {
                    None
                }
            }
            _ => None,
        };
        if let Some((std, len)) = found {
            return (&layout[..i], Some(std), &layout[i + len..]);
        }
    }
    (layout, None, "")
}

const SHORT_MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const LONG_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const SHORT_DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const LONG_DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// The English name of a month (1-based), as Go's `Month.String`.
pub fn month_name(m: u32) -> &'static str {
    LONG_MONTHS
        .get((m as usize).wrapping_sub(1))
        .copied()
        .unwrap_or("%!Month")
}

/// The English name of a weekday (0 = Sunday), as Go's `Weekday.String`.
pub fn weekday_name(d: u32) -> &'static str {
    LONG_DAYS.get(d as usize).copied().unwrap_or("%!Weekday")
}

fn is_digit(s: &[u8], i: usize) -> bool {
    s.get(i).is_some_and(|c| c.is_ascii_digit())
}

fn getnum(s: &[u8], fixed: bool) -> Option<(i64, &[u8])> {
    if !is_digit(s, 0) {
        return None;
    }
    if !is_digit(s, 1) {
        if fixed {
            return None;
        }
        return Some(((s[0] - b'0') as i64, &s[1..]));
    }
    Some((((s[0] - b'0') * 10 + (s[1] - b'0')) as i64, &s[2..]))
}

fn getnum3(s: &[u8], fixed: bool) -> Option<(i64, &[u8])> {
    let mut n = 0i64;
    let mut i = 0;
    while i < 3 && is_digit(s, i) {
        n = n * 10 + (s[i] - b'0') as i64;
        i += 1;
    }
    if i == 0 || (fixed && i != 3) {
        return None;
    }
    Some((n, &s[i..]))
}

/// Go's `time.atoi`: optional sign, then decimal digits only.
fn go_atoi(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut n: i64 = 0;
    for &c in digits {
        n = n.checked_mul(10)?.checked_add((c - b'0') as i64)?;
    }
    Some(if neg { -n } else { n })
}

fn lookup<'a>(tab: &[&str], val: &'a [u8]) -> Option<(usize, &'a [u8])> {
    for (i, v) in tab.iter().enumerate() {
        if val.len() >= v.len() && val[..v.len()].eq_ignore_ascii_case(v.as_bytes()) {
            return Some((i, &val[v.len()..]));
        }
    }
    None
}

fn cutspace(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&c| c == b' ').count();
    &s[n..]
}

fn skip<'a>(mut value: &'a [u8], prefix: &str) -> Option<&'a [u8]> {
    let mut p = prefix.as_bytes();
    while !p.is_empty() {
        if p[0] == b' ' {
            if !value.is_empty() && value[0] != b' ' {
                return None;
            }
            p = cutspace(p);
            value = cutspace(value);
            continue;
        }
        if value.is_empty() || value[0] != p[0] {
            return None;
        }
        p = &p[1..];
        value = &value[1..];
    }
    Some(value)
}

fn leading_int(s: &[u8]) -> Option<(i64, &[u8])> {
    let mut i = 0;
    let mut x: i64 = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        x = x.checked_mul(10)?.checked_add((s[i] - b'0') as i64)?;
        i += 1;
    }
    Some((x, &s[i..]))
}

fn parse_signed_offset(value: &[u8]) -> usize {
    match value.first() {
        Some(b'-') | Some(b'+') => {}
        _ => return 0,
    }
    match leading_int(&value[1..]) {
        Some((x, rem)) if rem.len() != value.len() - 1 && x <= 23 => value.len() - rem.len(),
        _ => 0,
    }
}

fn parse_time_zone(value: &[u8]) -> Option<usize> {
    if value.len() < 3 {
        return None;
    }
    if value.len() >= 4 && (&value[..4] == b"ChST" || &value[..4] == b"MeST") {
        return Some(4);
    }
    if &value[..3] == b"GMT" {
        let rest = &value[3..];
        return Some(if rest.is_empty() {
            3
        } else {
            3 + parse_signed_offset(rest)
        });
    }
    if value[0] == b'+' || value[0] == b'-' {
        let n = parse_signed_offset(value);
        return if n > 0 { Some(n) } else { None };
    }
    let mut upper = 0;
    while upper < 6 && upper < value.len() && value[upper].is_ascii_uppercase() {
        upper += 1;
    }
    match upper {
        3 => Some(3),
        4 if value[3] == b'T' || &value[..4] == b"WITA" => Some(4),
        5 if value[4] == b'T' => Some(5),
        _ => None,
    }
}

/// Go's `parseNanoseconds`: `value` starts with the separator; `nbytes` includes it.
fn parse_nanos(value: &[u8], nbytes: usize) -> Result<i64, &'static str> {
    if !matches!(value.first(), Some(b'.') | Some(b',')) {
        return Err("");
    }
    let nbytes = nbytes.min(10);
    let ns = go_atoi(&value[1..nbytes]).ok_or("")?;
    if ns < 0 {
        return Err("fractional second");
    }
    let mut ns = ns;
    for _ in 0..(10 - nbytes) {
        ns *= 10;
    }
    Ok(ns)
}

fn std_text(std: Std) -> String {
    match std {
        Std::LongMonth => "January".into(),
        Std::Month => "Jan".into(),
        Std::NumMonth => "1".into(),
        Std::ZeroMonth => "01".into(),
        Std::LongWeekDay => "Monday".into(),
        Std::WeekDay => "Mon".into(),
        Std::Day => "2".into(),
        Std::UnderDay => "_2".into(),
        Std::ZeroDay => "02".into(),
        Std::UnderYearDay => "__2".into(),
        Std::ZeroYearDay => "002".into(),
        Std::Hour => "15".into(),
        Std::Hour12 => "3".into(),
        Std::ZeroHour12 => "03".into(),
        Std::Minute => "4".into(),
        Std::ZeroMinute => "04".into(),
        Std::Second => "5".into(),
        Std::ZeroSecond => "05".into(),
        Std::LongYear => "2006".into(),
        Std::Year => "06".into(),
        Std::PM => "PM".into(),
        Std::Pm => "pm".into(),
        Std::TZ => "MST".into(),
        Std::ISO8601TZ => "Z0700".into(),
        Std::ISO8601SecondsTZ => "Z070000".into(),
        Std::ISO8601ShortTZ => "Z07".into(),
        Std::ISO8601ColonTZ => "Z07:00".into(),
        Std::ISO8601ColonSecondsTZ => "Z07:00:00".into(),
        Std::NumTZ => "-0700".into(),
        Std::NumSecondsTz => "-070000".into(),
        Std::NumShortTZ => "-07".into(),
        Std::NumColonTZ => "-07:00".into(),
        Std::NumColonSecondsTZ => "-07:00:00".into(),
        Std::FracSecond0(n, sep) => {
            let mut s = String::from(sep as char);
            s.extend(std::iter::repeat_n('0', n as usize));
            s
        }
        Std::FracSecond9(n, sep) => {
            let mut s = String::from(sep as char);
            s.extend(std::iter::repeat_n('9', n as usize));
            s
        }
    }
}

/// Quotes like Go's `time` package error messages (`quote`).
fn err_quote(s: &[u8]) -> String {
    let mut out = String::from("\"");
    for c in String::from_utf8_lossy(s).chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Layout {
    /// Compiles a Go reference layout. Every string is a valid layout (unknown text is literal).
    pub fn new(layout: &str) -> Self {
        let mut chunks = Vec::new();
        let mut rest = layout;
        loop {
            let (prefix, std, suffix) = next_std(rest);
            if !prefix.is_empty() {
                chunks.push(Chunk::Lit(prefix.to_string()));
            }
            match std {
                Some(s) => chunks.push(Chunk::Std(s)),
                None => break,
            }
            rest = suffix;
        }
        Layout {
            text: layout.to_string(),
            chunks,
        }
    }

    /// The layout text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Go's `time.Parse` (`default_loc` UTC, `local` Local) or `time.ParseInLocation` (both the
    /// given location). The error text is Go's `*time.ParseError` message.
    pub fn parse(&self, value: &str, default_loc: &Loc, local: &Loc) -> Result<GoTime, String> {
        let avalue = value;
        let mut value = value.as_bytes();
        let mut year: i64 = 0;
        let mut month: i64 = -1;
        let mut day: i64 = -1;
        let mut yday: i64 = -1;
        let mut hour: i64 = 0;
        let mut min: i64 = 0;
        let mut sec: i64 = 0;
        let mut nsec: i64 = 0;
        let mut z: Option<Loc> = None;
        let mut zone_offset: i64 = -1;
        let mut zone_name: Option<String> = None;
        let (mut am_set, mut pm_set) = (false, false);
        let bad = |std_str: &str, val: &[u8], extra: &str| -> String {
            format!(
                "parsing time {} as {}: cannot parse {} as {}{}",
                err_quote(avalue.as_bytes()),
                err_quote(self.text.as_bytes()),
                err_quote(val),
                err_quote(std_str.as_bytes()),
                extra
            )
        };
        let range_err = |what: &str| -> String {
            format!(
                "parsing time {}: {} out of range",
                err_quote(avalue.as_bytes()),
                what
            )
        };
        let mut idx = 0;
        while idx < self.chunks.len() {
            let std = match &self.chunks[idx] {
                Chunk::Lit(p) => {
                    value = skip(value, p).ok_or_else(|| bad(p, value, ""))?;
                    idx += 1;
                    continue;
                }
                Chunk::Std(s) => *s,
            };
            idx += 1;
            let hold = value;
            let mut range: Option<&'static str> = None;
            let ok: Option<()> = (|| {
                match std {
                    Std::Year => {
                        if value.len() < 2 {
                            return None;
                        }
                        let p = &value[..2];
                        value = &value[2..];
                        year = go_atoi(p)?;
                        year += if year >= 69 { 1900 } else { 2000 };
                    }
                    Std::LongYear => {
                        if value.len() < 4 || !is_digit(value, 0) {
                            return None;
                        }
                        let p = &value[..4];
                        value = &value[4..];
                        year = go_atoi(p)?;
                    }
                    Std::Month => {
                        let (m, rest) = lookup(&SHORT_MONTHS, value)?;
                        month = m as i64 + 1;
                        value = rest;
                    }
                    Std::LongMonth => {
                        let (m, rest) = lookup(&LONG_MONTHS, value)?;
                        month = m as i64 + 1;
                        value = rest;
                    }
                    Std::NumMonth | Std::ZeroMonth => {
                        let (m, rest) = getnum(value, std == Std::ZeroMonth)?;
                        month = m;
                        value = rest;
                        if !(1..=12).contains(&month) {
                            range = Some("month");
                        }
                    }
                    Std::WeekDay => value = lookup(&SHORT_DAYS, value)?.1,
                    Std::LongWeekDay => value = lookup(&LONG_DAYS, value)?.1,
                    Std::Day | Std::UnderDay | Std::ZeroDay => {
                        if std == Std::UnderDay && value.first() == Some(&b' ') {
                            value = &value[1..];
                        }
                        let (d, rest) = getnum(value, std == Std::ZeroDay)?;
                        day = d;
                        value = rest;
                    }
                    Std::UnderYearDay | Std::ZeroYearDay => {
                        for _ in 0..2 {
                            if std == Std::UnderYearDay && value.first() == Some(&b' ') {
                                value = &value[1..];
                            }
                        }
                        let (d, rest) = getnum3(value, std == Std::ZeroYearDay)?;
                        yday = d;
                        value = rest;
                    }
                    Std::Hour => {
                        let (h, rest) = getnum(value, false)?;
                        hour = h;
                        value = rest;
                        if !(0..24).contains(&hour) {
                            range = Some("hour");
                        }
                    }
                    Std::Hour12 | Std::ZeroHour12 => {
                        let (h, rest) = getnum(value, std == Std::ZeroHour12)?;
                        hour = h;
                        value = rest;
                        if !(0..=12).contains(&hour) {
                            range = Some("hour");
                        }
                    }
                    Std::Minute | Std::ZeroMinute => {
                        let (m, rest) = getnum(value, std == Std::ZeroMinute)?;
                        min = m;
                        value = rest;
                        if !(0..60).contains(&min) {
                            range = Some("minute");
                        }
                    }
                    Std::Second | Std::ZeroSecond => {
                        let (s, rest) = getnum(value, std == Std::ZeroSecond)?;
                        sec = s;
                        value = rest;
                        if !(0..60).contains(&sec) {
                            range = Some("second");
                            return Some(());
                        }
                        if value.len() >= 2 && matches!(value[0], b'.' | b',') && is_digit(value, 1)
                        {
                            let next = self.chunks[idx..].iter().find_map(|c| match c {
                                Chunk::Std(s) => Some(*s),
                                _ => None,
                            });
                            if matches!(next, Some(Std::FracSecond0(..) | Std::FracSecond9(..))) {
                                return Some(());
                            }
                            let mut n = 2;
                            while n < value.len() && is_digit(value, n) {
                                n += 1;
                            }
                            match parse_nanos(value, n) {
                                Ok(ns) => nsec = ns,
                                Err("") => return None,
                                Err(r) => range = Some(r),
                            }
                            value = &value[n..];
                        }
                    }
                    Std::PM | Std::Pm => {
                        if value.len() < 2 {
                            return None;
                        }
                        let p = &value[..2];
                        value = &value[2..];
                        let (pm, am): (&[u8], &[u8]) = if std == Std::PM {
                            (b"PM", b"AM")
                        } else {
                            (b"pm", b"am")
                        };
                        if p == pm {
                            pm_set = true;
                        } else if p == am {
                            am_set = true;
                        } else {
                            return None;
                        }
                    }
                    Std::ISO8601TZ
                    | Std::ISO8601ShortTZ
                    | Std::ISO8601ColonTZ
                    | Std::ISO8601SecondsTZ
                    | Std::ISO8601ColonSecondsTZ
                    | Std::NumTZ
                    | Std::NumShortTZ
                    | Std::NumColonTZ
                    | Std::NumSecondsTz
                    | Std::NumColonSecondsTZ => {
                        let iso = matches!(
                            std,
                            Std::ISO8601TZ
                                | Std::ISO8601ShortTZ
                                | Std::ISO8601ColonTZ
                                | Std::ISO8601SecondsTZ
                                | Std::ISO8601ColonSecondsTZ
                        );
                        if iso && value.first() == Some(&b'Z') {
                            value = &value[1..];
                            z = Some(Loc::Utc);
                            return Some(());
                        }
                        let (sign, hh, mm, ss): (u8, &[u8], &[u8], &[u8]);
                        match std {
                            Std::ISO8601ColonTZ | Std::NumColonTZ => {
                                if value.len() < 6 || value[3] != b':' {
                                    return None;
                                }
                                (sign, hh, mm, ss) = (value[0], &value[1..3], &value[4..6], b"00");
                                value = &value[6..];
                            }
                            Std::NumShortTZ | Std::ISO8601ShortTZ => {
                                if value.len() < 3 {
                                    return None;
                                }
                                (sign, hh, mm, ss) = (value[0], &value[1..3], b"00", b"00");
                                value = &value[3..];
                            }
                            Std::ISO8601ColonSecondsTZ | Std::NumColonSecondsTZ => {
                                if value.len() < 9 || value[3] != b':' || value[6] != b':' {
                                    return None;
                                }
                                (sign, hh, mm, ss) =
                                    (value[0], &value[1..3], &value[4..6], &value[7..9]);
                                value = &value[9..];
                            }
                            Std::ISO8601SecondsTZ | Std::NumSecondsTz => {
                                if value.len() < 7 {
                                    return None;
                                }
                                (sign, hh, mm, ss) =
                                    (value[0], &value[1..3], &value[3..5], &value[5..7]);
                                value = &value[7..];
                            }
                            _ => {
                                if value.len() < 5 {
                                    return None;
                                }
                                (sign, hh, mm, ss) = (value[0], &value[1..3], &value[3..5], b"00");
                                value = &value[5..];
                            }
                        }
                        let hr = getnum(hh, true)?.0;
                        let mi = getnum(mm, true)?.0;
                        let se = getnum(ss, true)?.0;
                        if hr > 24 {
                            range = Some("time zone offset hour");
                        }
                        if mi > 60 {
                            range = Some("time zone offset minute");
                        }
                        if se > 60 {
                            range = Some("time zone offset second");
                        }
                        zone_offset = (hr * 60 + mi) * 60 + se;
                        match sign {
                            b'+' => {}
                            b'-' => zone_offset = -zone_offset,
                            _ => return None,
                        }
                    }
                    Std::TZ => {
                        if value.len() >= 3 && &value[..3] == b"UTC" {
                            z = Some(Loc::Utc);
                            value = &value[3..];
                            return Some(());
                        }
                        let n = parse_time_zone(value)?;
                        zone_name = Some(String::from_utf8_lossy(&value[..n]).into_owned());
                        value = &value[n..];
                    }
                    Std::FracSecond0(digits, _) => {
                        let nd = 1 + digits as usize;
                        if value.len() < nd {
                            return None;
                        }
                        match parse_nanos(value, nd) {
                            Ok(ns) => nsec = ns,
                            Err("") => return None,
                            Err(r) => range = Some(r),
                        }
                        value = &value[nd..];
                    }
                    Std::FracSecond9(..) => {
                        if value.len() < 2
                            || !matches!(value[0], b'.' | b',')
                            || !value[1].is_ascii_digit()
                        {
                            return Some(());
                        }
                        let mut i = 0;
                        while i + 1 < value.len() && value[i + 1].is_ascii_digit() {
                            i += 1;
                        }
                        match parse_nanos(value, 1 + i) {
                            Ok(ns) => nsec = ns,
                            Err("") => return None,
                            Err(r) => range = Some(r),
                        }
                        value = &value[1 + i..];
                    }
                }
                Some(())
            })();
            if let Some(r) = range {
                return Err(range_err(r));
            }
            if ok.is_none() {
                return Err(bad(&std_text(std), hold, ""));
            }
        }
        if !value.is_empty() {
            return Err(format!(
                "parsing time {}: extra text: {}",
                err_quote(avalue.as_bytes()),
                err_quote(value)
            ));
        }
        if pm_set && hour < 12 {
            hour += 12;
        } else if am_set && hour == 12 {
            hour = 0;
        }
        if yday >= 0 {
            let mut m = 0i64;
            let mut d = 0i64;
            let mut yd = yday;
            if is_leap(year) {
                if yd == 31 + 29 {
                    m = 2;
                    d = 29;
                } else if yd > 31 + 29 {
                    yd -= 1;
                }
            }
            if !(1..=365).contains(&yd) {
                return Err(range_err("day-of-year"));
            }
            if m == 0 {
                let before = |mo: i64| -> i64 {
                    const B: [i64; 13] =
                        [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365];
                    B[(mo - 1).clamp(0, 12) as usize]
                };
                m = (yd - 1) / 31 + 1;
                if before(m + 1) < yd {
                    m += 1;
                }
                d = yd - before(m);
            }
            if month >= 0 && month != m {
                return Err(format!(
                    "parsing time {}: day-of-year does not match month",
                    err_quote(avalue.as_bytes())
                ));
            }
            month = m;
            if day >= 0 && day != d {
                return Err(format!(
                    "parsing time {}: day-of-year does not match day",
                    err_quote(avalue.as_bytes())
                ));
            }
            day = d;
        } else {
            if month < 0 {
                month = 1;
            }
            if day < 0 {
                day = 1;
            }
        }
        if day < 1 || day > days_in(month as u32, year) as i64 {
            return Err(range_err("day"));
        }
        if let Some(z) = z {
            return Ok(date(year, month, day, hour, min, sec, nsec, z));
        }
        if zone_offset != -1 {
            let mut t = date(year, month, day, hour, min, sec, nsec, Loc::Utc);
            t.unix -= zone_offset;
            let off = local.offset_at(t.unix);
            if off as i64 == zone_offset
                && zone_name
                    .as_deref()
                    .is_none_or(|z| z == local.lookup(t.unix).1)
            {
                t.loc = local.clone();
                return Ok(t);
            }
            t.loc = Loc::Fixed {
                name: zone_name.unwrap_or_default(),
                offset: zone_offset as i32,
            };
            return Ok(t);
        }
        if let Some(name) = zone_name {
            let mut t = date(year, month, day, hour, min, sec, nsec, Loc::Utc);
            if let Some(off) = local.lookup_name(&name, t.unix) {
                t.unix -= off as i64;
                t.loc = local.clone();
                return Ok(t);
            }
            let mut offset = 0i32;
            if name.len() > 3 && name.starts_with("GMT") {
                offset = go_atoi(&name.as_bytes()[3..]).unwrap_or(0) as i32 * 3600;
            }
            t.unix -= offset as i64;
            t.loc = Loc::Fixed { name, offset };
            return Ok(t);
        }
        Ok(date(
            year,
            month,
            day,
            hour,
            min,
            sec,
            nsec,
            default_loc.clone(),
        ))
    }

    /// Go's `Time.Format`.
    pub fn format(&self, t: &GoTime) -> String {
        let c = t.civil();
        let mut b = String::with_capacity(self.text.len() + 10);
        let pad = |b: &mut String, v: i64, width: usize| {
            if v < 0 {
                b.push('-');
            }
            let s = v.unsigned_abs().to_string();
            for _ in s.len()..width {
                b.push('0');
            }
            b.push_str(&s);
        };
        for chunk in &self.chunks {
            let std = match chunk {
                Chunk::Lit(s) => {
                    b.push_str(s);
                    continue;
                }
                Chunk::Std(s) => *s,
            };
            match std {
                Std::Year => pad(&mut b, c.year.rem_euclid(100), 2),
                Std::LongYear => pad(&mut b, c.year, 4),
                Std::Month => b.push_str(SHORT_MONTHS[(c.month - 1) as usize]),
                Std::LongMonth => b.push_str(LONG_MONTHS[(c.month - 1) as usize]),
                Std::NumMonth => pad(&mut b, c.month as i64, 0),
                Std::ZeroMonth => pad(&mut b, c.month as i64, 2),
                Std::WeekDay => b.push_str(SHORT_DAYS[c.weekday as usize]),
                Std::LongWeekDay => b.push_str(LONG_DAYS[c.weekday as usize]),
                Std::Day => pad(&mut b, c.day as i64, 0),
                Std::UnderDay => {
                    if c.day < 10 {
                        b.push(' ');
                    }
                    pad(&mut b, c.day as i64, 0);
                }
                Std::ZeroDay => pad(&mut b, c.day as i64, 2),
                Std::UnderYearDay => {
                    if c.yday < 100 {
                        b.push(' ');
                        if c.yday < 10 {
                            b.push(' ');
                        }
                    }
                    pad(&mut b, c.yday as i64, 0);
                }
                Std::ZeroYearDay => pad(&mut b, c.yday as i64, 3),
                Std::Hour => pad(&mut b, c.hour as i64, 2),
                Std::Hour12 | Std::ZeroHour12 => {
                    let mut h = c.hour % 12;
                    if h == 0 {
                        h = 12;
                    }
                    pad(&mut b, h as i64, if std == Std::ZeroHour12 { 2 } else { 0 });
                }
                Std::Minute => pad(&mut b, c.minute as i64, 0),
                Std::ZeroMinute => pad(&mut b, c.minute as i64, 2),
                Std::Second => pad(&mut b, c.second as i64, 0),
                Std::ZeroSecond => pad(&mut b, c.second as i64, 2),
                Std::PM => b.push_str(if c.hour >= 12 { "PM" } else { "AM" }),
                Std::Pm => b.push_str(if c.hour >= 12 { "pm" } else { "am" }),
                Std::ISO8601TZ
                | Std::ISO8601ColonTZ
                | Std::ISO8601SecondsTZ
                | Std::ISO8601ShortTZ
                | Std::ISO8601ColonSecondsTZ
                | Std::NumTZ
                | Std::NumColonTZ
                | Std::NumSecondsTz
                | Std::NumShortTZ
                | Std::NumColonSecondsTZ => {
                    let iso = matches!(
                        std,
                        Std::ISO8601TZ
                            | Std::ISO8601ColonTZ
                            | Std::ISO8601SecondsTZ
                            | Std::ISO8601ShortTZ
                            | Std::ISO8601ColonSecondsTZ
                    );
                    if c.offset == 0 && iso {
                        b.push('Z');
                        continue;
                    }
                    let mut zone = c.offset / 60;
                    let mut abs = c.offset;
                    if zone < 0 {
                        b.push('-');
                        zone = -zone;
                        abs = -abs;
                    } else {
                        b.push('+');
                    }
                    pad(&mut b, (zone / 60) as i64, 2);
                    if matches!(
                        std,
                        Std::ISO8601ColonTZ
                            | Std::NumColonTZ
                            | Std::ISO8601ColonSecondsTZ
                            | Std::NumColonSecondsTZ
                    ) {
                        b.push(':');
                    }
                    if !matches!(std, Std::NumShortTZ | Std::ISO8601ShortTZ) {
                        pad(&mut b, (zone % 60) as i64, 2);
                    }
                    if matches!(
                        std,
                        Std::ISO8601SecondsTZ
                            | Std::NumSecondsTz
                            | Std::NumColonSecondsTZ
                            | Std::ISO8601ColonSecondsTZ
                    ) {
                        if matches!(std, Std::NumColonSecondsTZ | Std::ISO8601ColonSecondsTZ) {
                            b.push(':');
                        }
                        pad(&mut b, (abs % 60) as i64, 2);
                    }
                }
                Std::TZ => {
                    if !c.abbr.is_empty() {
                        b.push_str(&c.abbr);
                    } else {
                        let mut zone = c.offset / 60;
                        if zone < 0 {
                            b.push('-');
                            zone = -zone;
                        } else {
                            b.push('+');
                        }
                        pad(&mut b, (zone / 60) as i64, 2);
                        pad(&mut b, (zone % 60) as i64, 2);
                    }
                }
                Std::FracSecond0(n, sep) => {
                    let digits = format!("{:09}", c.nsec);
                    let n = (n as usize).min(9);
                    b.push(sep as char);
                    b.push_str(&digits[..n]);
                }
                Std::FracSecond9(n, sep) => {
                    let digits = format!("{:09}", c.nsec);
                    let n = (n as usize).min(9);
                    let d = digits[..n].trim_end_matches('0');
                    if !d.is_empty() {
                        b.push(sep as char);
                        b.push_str(d);
                    }
                }
            }
        }
        b
    }

    /// True when the layout text mentions a year (`06` or `2006`), as Promtail checks.
    pub fn has_year(&self) -> bool {
        self.text.contains("06")
    }
}

/// Go's `time.Parse(time.RFC3339Nano, s)` as Unix nanoseconds (the zone is applied).
pub fn parse_rfc3339_nano(s: &str) -> Option<i64> {
    // What Docker and most loggers write (two-digit fields, `.` fraction, `Z` or `±hh:mm`) is
    // read by the strict fast parser, which accepts a subset of Go's forms with Go's result; the
    // general layout parser reads the rest.
    if let Ok(n) = parse_rfc3339_nanos(s) {
        return Some(n);
    }
    static L: OnceLock<Layout> = OnceLock::new();
    L.get_or_init(|| Layout::new(RFC3339_NANO))
        .parse(s, &Loc::Utc, &Loc::Local)
        .ok()
        .map(|t| t.unix_nanos())
}

/// Go's `time.Parse(time.RFC3339, s)` as Unix nanoseconds; like [`parse_rfc3339_nano`] since Go
/// accepts a fraction either way.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    parse_rfc3339_nano(s)
}

/// Formats Unix nanoseconds in UTC as Go's `RFC3339Nano`.
pub fn format_rfc3339_nano(nanos: i64) -> String {
    static L: OnceLock<Layout> = OnceLock::new();
    L.get_or_init(|| Layout::new(RFC3339_NANO))
        .format(&GoTime::from_unix_nanos(nanos, Loc::Utc))
}

/// Go's `time.Duration.String`: `1h2m3.5s`, `1.5ms`, `0s` (also `units::GoDuration`'s `Display`).
pub fn duration_string(d: i64) -> String {
    if d == 0 {
        return "0s".into();
    }
    let neg = d < 0;
    let u = d.unsigned_abs();
    let mut out = String::new();
    if u < 1_000_000_000 {
        // Sub-second: ns, µs or ms with a fraction.
        let (unit, scale) = if u < 1_000 {
            ("ns", 1u64)
        } else if u < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        out.push_str(&frac_str(u, scale));
        out.push_str(unit);
    } else {
        let h = u / 3_600_000_000_000;
        let rem = u % 3_600_000_000_000;
        let m = rem / 60_000_000_000;
        let s = rem % 60_000_000_000;
        if h > 0 {
            out.push_str(&format!("{h}h"));
        }
        if h > 0 || m > 0 {
            out.push_str(&format!("{m}m"));
        }
        out.push_str(&frac_str(s, 1_000_000_000));
        out.push('s');
    }
    if neg {
        out.insert(0, '-');
    }
    out
}

fn frac_str(v: u64, scale: u64) -> String {
    let int = v / scale;
    let frac = v % scale;
    if frac == 0 {
        return int.to_string();
    }
    let width = scale.to_string().len() - 1;
    let f = format!("{frac:0width$}");
    format!("{int}.{}", f.trim_end_matches('0'))
}

/// Parses a Go duration string (`1h30m`, `-1.5s`, `300ms`) into nanoseconds, as
/// `time.ParseDuration`.
pub fn parse_duration(s: &str) -> Option<i64> {
    crate::units::parse_go_duration_nanos(s).ok()
}

/// The current wall clock in Unix nanoseconds (0 if the clock is before 1970).
pub fn now_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Parses an RFC 3339 timestamp as Go parses the layout `2006-01-02T15:04:05.999999999Z07:00`
/// (what Docker writes, with up to nine fraction digits), returning Unix nanoseconds.
///
/// Consecutive log lines mostly share their second: the seconds of the last date and time read
/// (`2006-01-02T15:04:05`, checked) are kept per thread, so such a line costs a 19-byte
/// comparison and the fraction. Anything the quick path does not accept goes to the full parse,
/// which gives the result and the error.
pub fn parse_rfc3339_nanos(s: &str) -> Result<i64, &'static str> {
    thread_local! {
        /// The last date and time read, and its seconds since the epoch (zone not applied).
        static LAST: std::cell::Cell<([u8; 19], i64)> = const { std::cell::Cell::new(([0; 19], i64::MIN)) };
    }
    let b = s.as_bytes();
    let (Some(head), Some(rest)) = (b.get(..19), b.get(19..)) else {
        return parse_rfc3339_nanos_full(s);
    };
    let mut prefix = [0u8; 19];
    prefix.copy_from_slice(head);
    let (last, last_secs) = LAST.get();
    let secs = if last_secs != i64::MIN && last == prefix {
        last_secs
    } else {
        match date_time_seconds(&prefix) {
            Some(secs) => {
                LAST.set((prefix, secs));
                secs
            }
            None => return parse_rfc3339_nanos_full(s),
        }
    };
    // The fraction (Go keeps nine digits and ignores the rest) and the zone.
    let mut pos = 0;
    let mut nanos = 0i64;
    if rest.first() == Some(&b'.') {
        pos = 1;
        let mut digits = 0u32;
        while let Some(&d) = rest.get(pos).filter(|d| d.is_ascii_digit()) {
            if digits < 9 {
                nanos = nanos * 10 + i64::from(d - b'0');
                digits += 1;
            }
            pos += 1;
        }
        if digits == 0 {
            return parse_rfc3339_nanos_full(s);
        }
        nanos *= 10i64.pow(9 - digits);
    }
    let offset_secs = match rest.get(pos..) {
        Some(b"Z") => 0,
        Some(&[sign @ (b'+' | b'-'), h1, h2, b':', m1, m2])
            if [h1, h2, m1, m2].iter().all(u8::is_ascii_digit) =>
        {
            let oh = i64::from(h1 - b'0') * 10 + i64::from(h2 - b'0');
            let om = i64::from(m1 - b'0') * 10 + i64::from(m2 - b'0');
            if oh > 23 || om > 59 {
                return parse_rfc3339_nanos_full(s);
            }
            let o = oh * 3600 + om * 60;
            if sign == b'-' {
                -o
            } else {
                o
            }
        }
        _ => return parse_rfc3339_nanos_full(s),
    };
    match (secs - offset_secs)
        .checked_mul(1_000_000_000)
        .and_then(|n| n.checked_add(nanos))
    {
        Some(n) => Ok(n),
        None => parse_rfc3339_nanos_full(s),
    }
}

/// The seconds since the epoch of `2006-01-02T15:04:05` (no zone applied); `None` unless every
/// field is there and in range.
fn date_time_seconds(b: &[u8; 19]) -> Option<i64> {
    let num = |at: usize, len: usize| -> Option<i64> {
        let mut v = 0i64;
        for &d in b.get(at..at + len)? {
            if !d.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i64::from(d - b'0');
        }
        Some(v)
    };
    if [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')]
        .iter()
        .any(|&(at, c)| b[at] != c)
    {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    Some(
        days_from_civil(year, month as u32, day as u32) * 86_400
            + hour * 3600
            + minute * 60
            + second,
    )
}

/// [`parse_rfc3339_nanos`] without the remembered second: every field parsed and checked, in the
/// order that picks the error reported.
fn parse_rfc3339_nanos_full(s: &str) -> Result<i64, &'static str> {
    let b = s.as_bytes();
    fn num(b: &[u8], at: usize, len: usize) -> Result<i64, &'static str> {
        let digits = b.get(at..at + len).ok_or("too short")?;
        let mut v = 0i64;
        for &d in digits {
            if !d.is_ascii_digit() {
                return Err("expected a digit");
            }
            v = v * 10 + i64::from(d - b'0');
        }
        Ok(v)
    }
    fn lit(b: &[u8], at: usize, c: u8) -> Result<(), &'static str> {
        if b.get(at) == Some(&c) {
            Ok(())
        } else {
            Err("unexpected character")
        }
    }
    let year = num(b, 0, 4)?;
    lit(b, 4, b'-')?;
    let month = num(b, 5, 2)?;
    lit(b, 7, b'-')?;
    let day = num(b, 8, 2)?;
    lit(b, 10, b'T')?;
    let hour = num(b, 11, 2)?;
    lit(b, 13, b':')?;
    let minute = num(b, 14, 2)?;
    lit(b, 16, b':')?;
    let second = num(b, 17, 2)?;
    let mut pos = 19;
    let mut nanos = 0i64;
    if b.get(pos) == Some(&b'.') {
        pos += 1;
        let start = pos;
        while b.get(pos).is_some_and(u8::is_ascii_digit) {
            pos += 1;
        }
        if pos == start {
            return Err("expected fraction digits");
        }
        // Go keeps nine digits and ignores the rest.
        for (i, &d) in b[start..pos].iter().enumerate().take(9) {
            nanos += i64::from(d - b'0') * 10i64.pow(8 - i as u32);
        }
    }
    let offset_secs = match b.get(pos) {
        Some(b'Z') => {
            pos += 1;
            0
        }
        Some(&sign @ (b'+' | b'-')) => {
            let oh = num(b, pos + 1, 2)?;
            lit(b, pos + 3, b':')?;
            let om = num(b, pos + 4, 2)?;
            pos += 6;
            if oh > 23 || om > 59 {
                return Err("time zone offset out of range");
            }
            let o = oh * 3600 + om * 60;
            if sign == b'-' {
                -o
            } else {
                o
            }
        }
        _ => return Err("expected a time zone"),
    };
    if pos != b.len() {
        return Err("extra text after the timestamp");
    }
    if !(1..=12).contains(&month) {
        return Err("month out of range");
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err("day out of range");
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err("time out of range");
    }
    let days = days_from_civil(year, month as u32, day as u32);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    secs.checked_mul(1_000_000_000)
        .and_then(|n| n.checked_add(nanos))
        .ok_or("timestamp out of range")
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(layout: &str, v: &str) -> Result<String, String> {
        Layout::new(layout)
            .parse(v, &Loc::Utc, &Loc::Utc)
            .map(|t| t.in_loc(Loc::Utc).format(RFC3339_NANO))
    }

    #[test]
    fn named_layouts_parse() {
        let cases = [
            ("ANSIC", "Mon Jan  2 15:04:05 2006", "2006-01-02T15:04:05Z"),
            (
                "UnixDate",
                "Mon Jan  2 15:04:05 MST 2006",
                "2006-01-02T15:04:05Z",
            ),
            (
                "RubyDate",
                "Mon Jan 02 15:04:05 -0700 2006",
                "2006-01-02T22:04:05Z",
            ),
            ("RFC822", "02 Jan 06 15:04 UTC", "2006-01-02T15:04:00Z"),
            ("RFC822Z", "02 Jan 06 15:04 +0100", "2006-01-02T14:04:00Z"),
            (
                "RFC850",
                "Monday, 02-Jan-06 15:04:05 CET",
                "2006-01-02T15:04:05Z",
            ),
            (
                "RFC1123",
                "Mon, 02 Jan 2006 15:04:05 UTC",
                "2006-01-02T15:04:05Z",
            ),
            (
                "RFC1123Z",
                "Mon, 02 Jan 2006 15:04:05 -0700",
                "2006-01-02T22:04:05Z",
            ),
            (
                "RFC3339",
                "2024-05-01T12:00:00+02:00",
                "2024-05-01T10:00:00Z",
            ),
            (
                "RFC3339",
                "2024-05-01T10:00:00.123456789Z",
                "2024-05-01T10:00:00.123456789Z",
            ),
            (
                "RFC3339Nano",
                "2006-01-02T15:04:05.999999999+01:00",
                "2006-01-02T14:04:05.999999999Z",
            ),
            ("Kitchen", "3:04PM", "0000-01-01T15:04:00Z"),
            (
                "StampMilli",
                "Jan  2 15:04:05.123",
                "0000-01-02T15:04:05.123Z",
            ),
            ("DateTime", "2024-05-01 10:00:00", "2024-05-01T10:00:00Z"),
        ];
        for (name, v, want) in cases {
            let layout = named_layout(name).unwrap();
            assert_eq!(p(layout, v).as_deref(), Ok(want), "{name} {v}");
        }
    }

    #[test]
    fn parse_failures() {
        for (layout, v) in [
            (RFC3339, "2024-05-01t10:00:00z"),
            (RFC3339, "2024-05-01 10:00:00Z"),
            ("2006-01-02 15:04:05.000", "2023-10-10 13:55:36.25"),
            ("2006-01-02", "2024-02-30"),
            ("2006-01-02", "2024-13-01"),
            ("2006-01-02", "2024-01-01 extra"),
        ] {
            assert!(p(layout, v).is_err(), "{layout} {v}");
        }
        assert_eq!(
            p(RFC3339, "2024-05-01t10:00:00z").unwrap_err(),
            r#"parsing time "2024-05-01t10:00:00z" as "2006-01-02T15:04:05Z07:00": cannot parse "t10:00:00z" as "T""#
        );
    }

    #[test]
    fn fraction_leniency() {
        let l = "2006-01-02 15:04:05";
        assert_eq!(
            p(l, "2024-05-01 10:00:00.987654321").unwrap(),
            "2024-05-01T10:00:00.987654321Z"
        );
        assert_eq!(
            p(l, "2024-05-01 10:00:00,123").unwrap(),
            "2024-05-01T10:00:00.123Z"
        );
        assert_eq!(
            p(l, "2024-05-01 10:00:00.1234567891").unwrap(),
            "2024-05-01T10:00:00.123456789Z"
        );
    }

    #[test]
    fn custom_layouts() {
        assert_eq!(
            p("02/Jan/2006:15:04:05 -0700", "10/Oct/2023:13:55:36 -0700").unwrap(),
            "2023-10-10T20:55:36Z"
        );
        assert_eq!(
            p(
                "Jan 2, 2006 at 3:04pm (MST)",
                "Oct 10, 2023 at 1:55pm (UTC)"
            )
            .unwrap(),
            "2023-10-10T13:55:00Z"
        );
        assert_eq!(p("2006.002", "2024.060").unwrap(), "2024-02-29T00:00:00Z");
        assert_eq!(p("06-1-2", "69-1-2").unwrap(), "1969-01-02T00:00:00Z");
        assert_eq!(p("06-1-2", "68-1-2").unwrap(), "2068-01-02T00:00:00Z");
    }

    #[test]
    fn location_gap_and_overlap() {
        let ny = Loc::load("America/New_York").unwrap();
        let l = Layout::new("2006-01-02 15:04:05");
        let f = |v: &str| format_rfc3339_nano(l.parse(v, &ny, &ny).unwrap().unix_nanos());
        assert_eq!(f("2024-01-15 10:00:00"), "2024-01-15T15:00:00Z");
        assert_eq!(f("2024-07-15 10:00:00"), "2024-07-15T14:00:00Z");
        assert_eq!(f("2024-03-10 02:30:00"), "2024-03-10T06:30:00Z");
        assert_eq!(f("2024-11-03 01:30:00"), "2024-11-03T05:30:00Z");
        let est = Layout::new("2006-01-02 15:04 MST")
            .parse("2024-01-15 10:00 EST", &ny, &ny)
            .unwrap();
        assert_eq!(
            format_rfc3339_nano(est.unix_nanos()),
            "2024-01-15T15:00:00Z"
        );
        assert_eq!(
            Loc::load("Foo/Bar").unwrap_err(),
            "unknown time zone Foo/Bar"
        );
    }

    #[test]
    fn formatting() {
        let t = GoTime::from_unix_nanos(1_714_559_400_000_000_000, Loc::Utc);
        assert_eq!(
            t.format("Mon Jan 2 2006 15:04:05 MST"),
            "Wed May 1 2024 10:30:00 UTC"
        );
        let ny = t.in_loc(Loc::load("America/New_York").unwrap());
        assert_eq!(ny.format("2006-01-02 15:04 MST"), "2024-05-01 06:30 EDT");
        assert_eq!(ny.format(RFC3339), "2024-05-01T06:30:00-04:00");
        assert_eq!(
            t.format("3:04PM _2 __2 002 .000 ,999"),
            "10:30AM  1 122 122 .000 "
        );
        assert_eq!(t.go_string(), "2024-05-01 10:30:00 +0000 UTC");
        assert_eq!(format_rfc3339_nano(-500_000_000), "1969-12-31T23:59:59.5Z");
    }

    #[test]
    fn durations() {
        assert_eq!(duration_string(0), "0s");
        assert_eq!(duration_string(3_661_000_000_000), "1h1m1s");
        assert_eq!(duration_string(1_500_000), "1.5ms");
        assert_eq!(duration_string(-90_000_000_000), "-1m30s");
        assert_eq!(duration_string(2_500_000_000), "2.5s");
        assert_eq!(parse_duration("1h30m"), Some(5_400_000_000_000));
        assert_eq!(parse_duration("0.5ms"), Some(500_000));
    }

    proptest::proptest! {
        #[test]
        fn layout_never_panics(layout in ".{0,40}", value in ".{0,40}") {
            let l = Layout::new(&layout);
            let _ = l.parse(&value, &Loc::Utc, &Loc::Local);
            let _ = l.format(&GoTime::from_unix_nanos(1_700_000_000_123_456_789, Loc::Utc));
        }

        #[test]
        fn layout_roundtrip(secs in -10_000_000_000i64..10_000_000_000i64, nsec in 0u32..1_000_000_000) {
            let t = GoTime { unix: secs, nsec, loc: Loc::Utc };
            let l = Layout::new(RFC3339_NANO);
            let s = l.format(&t);
            let back = l.parse(&s, &Loc::Utc, &Loc::Utc).unwrap();
            proptest::prop_assert_eq!(back.unix_nanos(), t.unix_nanos());
        }

        /// The remembered second never changes a result: sequences of timestamps that share
        /// their date and time or not, valid or not, read as the full parse reads them.
        #[test]
        fn remembered_second_reads_as_the_full_parse(
            values in proptest::collection::vec(
                "(2024-0[1-2]-(2[89]|3[01])T(23:59:5[89]|00:00:00)|[0-9T:-]{19})(\\.[0-9]{0,12})?(Z|[+-](0[0-9]|2[3-5]):[0-6][0-9]|[0-9Z:.+-]{0,4})",
                1..20,
            )
        ) {
            for v in &values {
                proptest::prop_assert_eq!(parse_rfc3339_nanos(v), parse_rfc3339_nanos_full(v), "{}", v);
            }
        }

        #[test]
        fn layout_values_from_digits(value in "[0-9 :.,+-TZ]{0,30}") {
            for name in ["ANSIC", "RFC3339", "RFC1123Z", "StampNano"] {
                let _ = Layout::new(named_layout(name).unwrap()).parse(&value, &Loc::Utc, &Loc::Local);
            }
        }
    }

    #[test]
    fn rfc3339_fast_path_agrees_with_the_layout_parser() {
        let layout = Layout::new(RFC3339_NANO);
        for t in [
            "2024-05-01T10:00:00Z",
            "2024-05-01T10:00:00.5Z",
            "2024-05-01T10:00:00.123456789Z",
            "2024-05-01T10:00:00.1234567891Z",
            "2024-05-01T12:00:03.000000001+02:00",
            "2024-05-01T12:00:03-07:30",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999999Z",
            "2024-02-29T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-05-01T24:00:00Z",
            "2024-05-01T10:60:00Z",
            "2024-05-01T10:00:60Z",
            "2024-05-01T10:00:00+23:59",
            "2024-05-01T10:00:00+24:00",
            "2024-05-01T10:00:00.Z",
            "2024-13-01T10:00:00Z",
            "2024-05-01T10:00:00",
        ] {
            let general = layout
                .parse(t, &Loc::Utc, &Loc::Local)
                .ok()
                .map(|t| t.unix_nanos());
            if let Ok(fast) = parse_rfc3339_nanos(t) {
                assert_eq!(Some(fast), general, "{t}");
            }
            assert_eq!(parse_rfc3339_nanos(t), parse_rfc3339_nanos_full(t), "{t}");
            assert_eq!(parse_rfc3339_nano(t), general, "{t}");
        }
    }
}
