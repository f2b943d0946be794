//! Promtail's units: Go durations, Prometheus durations and binary byte sizes.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

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

/// Parses a Go duration string.
pub fn parse_go_duration(s: &str) -> Result<Duration, String> {
    let err = || format!("time: invalid duration {s:?}");
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(err());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("time: missing unit in duration {s:?}"))?;
        if num_end == 0 {
            return Err(err());
        }
        let value: f64 = rest[..num_end].parse().map_err(|_| err())?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        rest = &rest[unit_end..];
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(format!("time: unknown unit {unit:?} in duration {s:?}")),
        };
        total += value * scale;
    }
    if neg {
        // Negative durations have no use in Promtail's config; treat them as zero.
        return Ok(Duration::ZERO);
    }
    Ok(Duration::from_nanos(total.round() as u64))
}

/// Parses a Prometheus duration string.
pub fn parse_prom_duration(s: &str) -> Result<Duration, String> {
    let err = || format!("not a valid duration string: {s:?}");
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err("empty duration string".into());
    }
    let mut rest = s;
    let mut total_ms: u128 = 0;
    let mut last_rank = 0;
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
        if num_end == 0 {
            return Err(err());
        }
        let value: u128 = rest[..num_end].parse().map_err(|_| err())?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (rank, ms) = match &rest[..unit_end] {
            "y" => (7, 365 * 24 * 3600 * 1000),
            "w" => (6, 7 * 24 * 3600 * 1000),
            "d" => (5, 24 * 3600 * 1000),
            "h" => (4, 3600 * 1000),
            "m" => (3, 60 * 1000),
            "s" => (2, 1000),
            "ms" => (1, 1),
            _ => return Err(err()),
        };
        if last_rank != 0 && rank >= last_rank {
            return Err(err());
        }
        last_rank = rank;
        total_ms += value * ms;
        rest = &rest[unit_end..];
    }
    Ok(Duration::from_millis(total_ms as u64))
}

/// Parses a byte size the way `c2h5oh/datasize` does after upper-casing.
pub fn parse_byte_size(s: &str) -> Result<u64, String> {
    let up = s.trim().to_ascii_uppercase();
    let num_end = up.find(|c: char| !c.is_ascii_digit()).unwrap_or(up.len());
    if num_end == 0 {
        return Err(format!("invalid byte size {s:?}"));
    }
    let value: u64 = up[..num_end]
        .parse()
        .map_err(|_| format!("invalid byte size {s:?}"))?;
    let shift = match up[num_end..].trim() {
        "" | "B" => 0,
        "K" | "KB" => 10,
        "M" | "MB" => 20,
        "G" | "GB" => 30,
        "T" | "TB" => 40,
        "P" | "PB" => 50,
        "E" | "EB" => 60,
        _ => return Err(format!("invalid byte size {s:?}")),
    };
    value
        .checked_mul(1u64 << shift)
        .ok_or_else(|| format!("byte size {s:?} overflows"))
}

struct UnitVisitor<F>(&'static str, F);

impl<T, F: Fn(&str) -> Result<T, String>> Visitor<'_> for UnitVisitor<F> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.1)(v)
            .map_err(|e| E::custom(format!("cannot unmarshal !!str `{v}` into {}: {e}", self.0)))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<T, E> {
        self.visit_str(&v)
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // yaml.v2 decodes a bare integer into time.Duration as nanoseconds.
        let s = d.deserialize_string(UnitVisitor(
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
        Ok(PromDuration(d.deserialize_string(UnitVisitor(
            "model.Duration",
            parse_prom_duration,
        ))?))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(ByteSize(d.deserialize_string(UnitVisitor(
            "flagext.ByteSize",
            parse_byte_size,
        ))?))
    }
}

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_go_duration(self.0))
    }
}

/// Formats a duration as Go's `Duration.String()` (`1m30s`, `500ms`, `0s`).
pub fn format_go_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return format!("{}µs", trim_frac(ns as f64 / 1e3));
    }
    if ns < 1_000_000_000 {
        return format!("{}ms", trim_frac(ns as f64 / 1e6));
    }
    let total_s = ns as f64 / 1e9;
    let h = (ns / 3_600_000_000_000) as u64;
    let m = ((ns / 60_000_000_000) % 60) as u64;
    let s = total_s - (h * 3600 + m * 60) as f64;
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&format!("{}s", trim_frac(s)));
    out
}

fn trim_frac(v: f64) -> String {
    let s = format!("{v:.9}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
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
