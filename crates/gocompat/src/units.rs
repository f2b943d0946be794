//! Promtail's units: Go durations, Prometheus durations and binary byte sizes. A Go duration is
//! formatted by [`crate::time::duration_string`] (`GoDuration`'s `Display`).

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::strconv::go_quote_into;

/// A Go `time.Duration` field: `1.5s`, `1h30m`, `250ms`; a bare integer is nanoseconds, as yaml.v2
/// decodes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GoDuration(pub Duration);

/// A Prometheus `model.Duration` field: integer combinations of `ms|s|m|h|d|w|y` such as `5s` or
/// `1d`, no fractions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PromDuration(pub Duration);

/// A byte size as Promtail's `flagext.ByteSize` reads it: upper-cased, binary units (`256kb` =
/// 262144, `2M` = 2097152); a bare number is bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ByteSize(pub u64);

/// Parses a Go duration into a `Duration` (negative durations, meaningless in a config, become
/// zero).
pub fn parse_go_duration(s: &str) -> Result<Duration, String> {
    parse_go_duration_nanos(s).map(|ns| Duration::from_nanos(ns.max(0) as u64))
}

/// Parses a Go duration (`time.ParseDuration`): `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+` with units
/// `ns`, `us`, `µs`, `μs`, `ms`, `s`, `m`, `h`, or a bare `0`. Returns nanoseconds, or Go's
/// error text (`time: missing unit in duration "3"`).
pub fn parse_go_duration_nanos(orig: &str) -> Result<i64, String> {
    let quoted = |s: &str| {
        let mut q = String::new();
        go_quote_into(&mut q, s);
        q
    };
    let invalid = || format!("time: invalid duration {}", quoted(orig));
    let mut s = orig.as_bytes();
    let mut neg = false;
    if let Some(&c) = s.first() {
        if c == b'-' || c == b'+' {
            neg = c == b'-';
            s = &s[1..];
        }
    }
    if s == b"0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    const LIMIT: u64 = 1 << 63;
    while !s.is_empty() {
        if !(s[0] == b'.' || s[0].is_ascii_digit()) {
            return Err(invalid());
        }
        // Integer part.
        let mut v: u64 = 0;
        let mut i = 0;
        while i < s.len() && s[i].is_ascii_digit() {
            if v > (LIMIT - 1) / 10 {
                return Err(invalid());
            }
            v = v * 10 + u64::from(s[i] - b'0');
            if v > LIMIT {
                return Err(invalid());
            }
            i += 1;
        }
        let pre = i > 0;
        s = &s[i..];
        // Fraction.
        let mut f: u64 = 0;
        let mut scale: f64 = 1.0;
        let mut post = false;
        if s.first() == Some(&b'.') {
            s = &s[1..];
            let mut j = 0;
            let mut overflow = false;
            while j < s.len() && s[j].is_ascii_digit() {
                if !overflow {
                    if f > (LIMIT - 1) / 10 {
                        overflow = true;
                    } else {
                        let y = f * 10 + u64::from(s[j] - b'0');
                        if y > LIMIT {
                            overflow = true;
                        } else {
                            f = y;
                            scale *= 10.0;
                        }
                    }
                }
                j += 1;
            }
            post = j > 0;
            s = &s[j..];
        }
        if !pre && !post {
            return Err(invalid());
        }
        // Unit.
        let mut k = 0;
        while k < s.len() && !(s[k] == b'.' || s[k].is_ascii_digit()) {
            k += 1;
        }
        if k == 0 {
            return Err(format!("time: missing unit in duration {}", quoted(orig)));
        }
        let unit_bytes = &s[..k];
        s = &s[k..];
        let unit: u64 = match unit_bytes {
            b"ns" => 1,
            b"us" | [0xc2, 0xb5, b's'] | [0xce, 0xbc, b's'] => 1_000,
            b"ms" => 1_000_000,
            b"s" => 1_000_000_000,
            b"m" => 60_000_000_000,
            b"h" => 3_600_000_000_000,
            other => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    quoted(&String::from_utf8_lossy(other)),
                    quoted(orig)
                ))
            }
        };
        if v > LIMIT / unit {
            return Err(invalid());
        }
        v *= unit;
        if f > 0 {
            v += (f as f64 * (unit as f64 / scale)) as u64;
            if v > LIMIT {
                return Err(invalid());
            }
        }
        total += v;
        if total > LIMIT {
            return Err(invalid());
        }
    }
    if neg {
        return Ok((total as i64).wrapping_neg());
    }
    if total > LIMIT - 1 {
        return Err(invalid());
    }
    Ok(total as i64)
}

/// Parses a Prometheus duration: `[0-9]+` followed by a unit (`y`, `w`, `d`, `h`, `m`, `s`, `ms`),
/// repeated with units from largest to smallest, or `0`. Errors read as Prometheus' do.
pub fn parse_prom_duration(s: &str) -> Result<Duration, String> {
    match s {
        "0" => return Ok(Duration::ZERO),
        "" => return Err("empty duration string".into()),
        _ => {}
    }
    let invalid = || format!("not a valid duration string: {s:?}");
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut total_ms: u64 = 0;
    let mut last_pos = 0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Err(invalid());
        }
        let value: u64 = s[start..i].parse().map_err(|_| invalid())?;
        let ustart = i;
        while i < bytes.len() && !bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == ustart {
            return Err(invalid());
        }
        let unit = &s[ustart..i];
        let (pos, mult_ms): (u32, u64) = match unit {
            "y" => (1, 365 * 24 * 3_600_000),
            "w" => (2, 7 * 24 * 3_600_000),
            "d" => (3, 24 * 3_600_000),
            "h" => (4, 3_600_000),
            "m" => (5, 60_000),
            "s" => (6, 1_000),
            "ms" => (7, 1),
            _ => return Err(format!("unknown unit {unit:?} in duration {s:?}")),
        };
        if pos <= last_pos {
            return Err(invalid());
        }
        last_pos = pos;
        // Go's time.Duration holds at most ~292 years of nanoseconds.
        const MAX_MS: u64 = (i64::MAX as u64) / 1_000_000;
        total_ms = value
            .checked_mul(mult_ms)
            .and_then(|v| v.checked_add(total_ms))
            .filter(|&v| v <= MAX_MS)
            .ok_or_else(|| "duration out of range".to_string())?;
    }
    Ok(Duration::from_millis(total_ms))
}

/// Parses a byte size as dskit's `flagext.ByteSize.Set` does (the `flagext.ByteSize` config
/// fields and the drop stage's `longer_than`): the text is upper-cased, then read by
/// `c2h5oh/datasize`'s `UnmarshalText` as digits followed by an optional unit (`B`, `K`/`KB`,
/// `M`/`MB`, ... up to `E`/`EB`, also `KILO`, `KILOBYTE(S)`, ...), in powers of 1024. Errors read
/// like Go's `strconv.UnmarshalText: parsing "1.5KB": invalid syntax`.
pub fn parse_byte_size(text: &str) -> Result<u64, String> {
    let upper = text.to_uppercase();
    let num_error = |what: &str| {
        let mut q = String::new();
        go_quote_into(&mut q, &upper);
        format!("strconv.UnmarshalText: parsing {q}: {what}")
    };
    let syntax = || num_error("invalid syntax");
    let range = || num_error("value out of range");
    let bytes = upper.as_bytes();
    let mut val: u64 = 0;
    let mut i = 0;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        val = val
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(bytes[i] - b'0')))
            .ok_or_else(range)?;
        i += 1;
    }
    if i == 0 {
        return Err(syntax());
    }
    let unit = upper[i..].trim().to_lowercase();
    let shift = match unit.as_str() {
        "" | "b" | "byte" => 0,
        "k" | "kb" | "kilo" | "kilobyte" | "kilobytes" => 10,
        "m" | "mb" | "mega" | "megabyte" | "megabytes" => 20,
        "g" | "gb" | "giga" | "gigabyte" | "gigabytes" => 30,
        "t" | "tb" | "tera" | "terabyte" | "terabytes" => 40,
        "p" | "pb" | "peta" | "petabyte" | "petabytes" => 50,
        "e" | "eb" => 60,
        _ => return Err(syntax()),
    };
    val.checked_mul(1u64 << shift).ok_or_else(range)
}

/// Reads a unit value from a YAML scalar: its text through the parse function, and a null as the
/// zero value (yaml.v2 zeroes a field for `key:`, `key: ~` or `null`, and calls no unmarshaler).
struct UnitVisitor<F>(&'static str, F);

impl<T: Default, F: Fn(&str) -> Result<T, String>> UnitVisitor<F> {
    fn parse<E: de::Error>(self, tag: &str, v: &str) -> Result<T, E> {
        (self.1)(v)
            .map_err(|e| E::custom(format!("cannot unmarshal {tag} `{v}` into {}: {e}", self.0)))
    }
}

impl<T: Default, F: Fn(&str) -> Result<T, String>> Visitor<'_> for UnitVisitor<F> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        self.parse("!!str", v)
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<T, E> {
        self.visit_str(&v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        self.parse("!!int", &v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        self.parse("!!int", &v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        self.parse("!!float", &v.to_string())
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<T, E> {
        self.parse("!!bool", &v.to_string())
    }
    fn visit_unit<E: de::Error>(self) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_none<E: de::Error>(self) -> Result<T, E> {
        Ok(T::default())
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // yaml.v2 decodes a bare integer into time.Duration as nanoseconds.
        let s = d.deserialize_any(UnitVisitor(
            "time.Duration",
            |s: &str| -> Result<Duration, String> {
                if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                    return s
                        .parse::<u64>()
                        .map(Duration::from_nanos)
                        .map_err(|e| e.to_string());
                }
                parse_go_duration(s)
            },
        ))?;
        Ok(GoDuration(s))
    }
}

impl<'de> Deserialize<'de> for PromDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(PromDuration(d.deserialize_any(UnitVisitor(
            "model.Duration",
            parse_prom_duration,
        ))?))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(ByteSize(d.deserialize_any(UnitVisitor(
            "flagext.ByteSize",
            parse_byte_size,
        ))?))
    }
}

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Go's Duration is an int64 of nanoseconds: longer ones saturate.
        let nanos = i64::try_from(self.0.as_nanos()).unwrap_or(i64::MAX);
        f.write_str(&crate::time::duration_string(nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        let cases = [
            ("1s", 1_000_000_000u64),
            ("1.5s", 1_500_000_000),
            ("1h30m", 5_400_000_000_000),
            ("250ms", 250_000_000),
            ("10us", 10_000),
            ("0", 0),
        ];
        for (s, ns) in cases {
            assert_eq!(
                parse_go_duration(s).unwrap(),
                Duration::from_nanos(ns),
                "{s}"
            );
        }
        assert!(parse_go_duration("1d").is_err());
        assert!(parse_go_duration("5").is_err());
        let format_go_duration = |d: Duration| GoDuration(d).to_string();
        assert_eq!(format_go_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_go_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(format_go_duration(Duration::from_secs(300)), "5m0s");
    }

    #[test]
    fn prom_durations() {
        assert_eq!(parse_prom_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(
            parse_prom_duration("1d").unwrap(),
            Duration::from_secs(86400)
        );
        assert_eq!(
            parse_prom_duration("1h30m").unwrap(),
            Duration::from_secs(5400)
        );
        assert!(parse_prom_duration("1.5s").is_err());
        assert!(parse_prom_duration("30m1h").is_err());
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(parse_byte_size("256kb").unwrap(), 262144);
        assert_eq!(parse_byte_size("2M").unwrap(), 2097152);
        assert_eq!(parse_byte_size("10").unwrap(), 10);
        assert_eq!(parse_byte_size("1KB").unwrap(), 1024);
        assert!(parse_byte_size("lots").is_err());
    }
}
