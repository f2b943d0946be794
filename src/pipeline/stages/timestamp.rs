//! The `timestamp` stage: parses an extracted value with a Go layout (or a named format, or a
//! Unix epoch format) and sets the entry timestamp; on failure it skips or "fudges" the
//! timestamp to 1 ns after the last one seen for the same label set.

use std::collections::HashMap;

use serde::Deserialize;

use crate::pipeline::{BuildCtx, Entry, Labels, Stage, Value};
use gocompat::time::{GoTime, Layout, Loc};
use gocompat::yaml::Node;

/// Size of the fudge history, as Promtail's LRU.
const MAX_LAST_KNOWN: usize = 10_000;

#[derive(Debug, Default, Deserialize)]
struct RawConfig {
    #[serde(default)]
    source: String,
    #[serde(default)]
    format: String,
    #[serde(default)]
    fallback_formats: Vec<String>,
    #[serde(default)]
    location: Option<String>,
    #[serde(default)]
    action_on_failure: Option<String>,
}

/// One compiled format.
#[derive(Debug, Clone)]
pub enum TimeParser {
    /// A named Go layout, parsed with `time.Parse` (the location is ignored).
    Named(Layout),
    /// A custom layout, parsed in the location (UTC if none).
    Custom(Layout, Option<Loc>),
    /// A custom layout without a year: the current year is added.
    NoYear(Layout, Option<Loc>),
    /// Unix seconds with an optional fraction.
    Unix,
    /// Unix milliseconds.
    UnixMs,
    /// Unix microseconds.
    UnixUs,
    /// Unix nanoseconds.
    UnixNs,
}

impl TimeParser {
    /// Compiles a format as Promtail's `convertDateLayout` resolves it.
    pub fn new(format: &str, loc: Option<&Loc>) -> Self {
        match format {
            "ANSIC" | "UnixDate" | "RubyDate" | "RFC822" | "RFC822Z" | "RFC850" | "RFC1123"
            | "RFC1123Z" | "RFC3339" | "RFC3339Nano" => TimeParser::Named(Layout::new(
                gocompat::time::named_layout(format).unwrap_or(format),
            )),
            "Unix" => TimeParser::Unix,
            "UnixMs" => TimeParser::UnixMs,
            "UnixUs" => TimeParser::UnixUs,
            "UnixNs" => TimeParser::UnixNs,
            _ => {
                let layout = Layout::new(format);
                if format.contains("06") {
                    TimeParser::Custom(layout, loc.cloned())
                } else {
                    TimeParser::NoYear(layout, loc.cloned())
                }
            }
        }
    }

    /// Parses `s` into Unix nanoseconds.
    pub fn parse(&self, s: &str) -> Result<i64, String> {
        // Only the no-year rule needs the clock.
        let now = match self {
            TimeParser::NoYear(..) => crate::core::entry::now_nanos(),
            _ => 0,
        };
        self.parse_at(s, now)
    }

    fn parse_in(layout: &Layout, s: &str, loc: &Option<Loc>) -> Result<GoTime, String> {
        match loc {
            Some(l) => layout.parse(s, l, l),
            None => layout.parse(s, &Loc::Utc, &Loc::Local),
        }
    }

    /// Like [`TimeParser::parse`] with an explicit "now" (for the no-year rule).
    pub fn parse_at(&self, s: &str, now: i64) -> Result<i64, String> {
        let int = |s: &str| {
            s.parse::<i64>()
                .map_err(|e| format!("strconv.ParseInt: parsing {s:?}: {e}"))
        };
        match self {
            TimeParser::Named(l) => Ok(l.parse(s, &Loc::Utc, &Loc::Local)?.unix_nanos()),
            TimeParser::Custom(l, loc) => Ok(Self::parse_in(l, s, loc)?.unix_nanos()),
            TimeParser::NoYear(l, loc) => {
                let t = Self::parse_in(l, s, loc)?;
                let c = t.civil();
                if c.year != 0 {
                    return Err(format!(
                        "timestamp '{s}' is expected to not contain the year date component"
                    ));
                }
                let n = GoTime::from_unix_nanos(now, Loc::Local).civil();
                let add = if c.month == 12 && n.month == 1 {
                    n.year - 1
                } else if c.month == 1 && n.month == 12 {
                    n.year + 1
                } else {
                    n.year
                };
                Ok(gocompat::time::date(
                    c.year + add,
                    c.month as i64,
                    c.day as i64,
                    c.hour as i64,
                    c.minute as i64,
                    c.second as i64,
                    c.nsec as i64,
                    t.loc.clone(),
                )
                .unix_nanos())
            }
            TimeParser::Unix => {
                if s.matches('.').count() == 1 {
                    let (sec, frac) = s.split_once('.').unwrap_or((s, ""));
                    let sec = int(sec)?;
                    let f = int(frac)?;
                    let nsec = (f as f64 * 10f64.powi(9 - frac.len() as i32)) as i64;
                    return Ok(sec.wrapping_mul(1_000_000_000).wrapping_add(nsec));
                }
                Ok(int(s)?.wrapping_mul(1_000_000_000))
            }
            TimeParser::UnixMs => Ok(int(s)?.wrapping_mul(1_000_000)),
            TimeParser::UnixUs => Ok(int(s)?.wrapping_mul(1_000)),
            TimeParser::UnixNs => int(s),
        }
    }
}

/// Parses `value` with `format` then each fallback; the first success wins, else the main
/// format's error is returned.
fn parse_all(parsers: &[TimeParser], value: &str) -> Result<i64, String> {
    let mut first_err = None;
    for p in parsers {
        match p.parse(value) {
            Ok(t) => return Ok(t),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    Err(first_err.unwrap_or_default())
}

struct TimestampStage {
    source: String,
    parsers: Vec<TimeParser>,
    fudge: bool,
    /// Label-set string → (last timestamp, recency tick).
    last_known: HashMap<String, (i64, u64)>,
    tick: u64,
    /// The previous entry's labels and their string form (most lines share a label set).
    last_labels: Option<(Labels, String)>,
}

/// Builds the stage from its config.
pub fn build(ctx: &mut BuildCtx, config: &Node) -> Result<Box<dyn Stage>, String> {
    let raw: RawConfig = if config.is_null() {
        RawConfig::default()
    } else {
        ctx.decode("timestamp", config, false)?
    };
    if raw.source.is_empty() {
        return Err("timestamp source value is required if timestamp is specified".into());
    }
    if raw.format.is_empty() {
        return Err("timestamp format is required".into());
    }
    let loc = match &raw.location {
        Some(l) => Some(Loc::load(l).map_err(|e| format!("invalid location specified: {e}"))?),
        None => None,
    };
    let fudge = match raw.action_on_failure.as_deref() {
        None | Some("fudge") => true,
        Some("skip") => false,
        Some(_) => {
            return Err("invalid action on failure (supported values are [skip fudge])".into())
        }
    };
    let mut parsers = vec![TimeParser::new(&raw.format, loc.as_ref())];
    for f in &raw.fallback_formats {
        parsers.push(TimeParser::new(f, loc.as_ref()));
    }
    Ok(Box::new(TimestampStage {
        source: raw.source,
        parsers,
        fudge,
        last_known: HashMap::new(),
        tick: 0,
        last_labels: None,
    }))
}

impl TimestampStage {
    /// `labels.String()`, cached for runs of entries with the same label set.
    fn label_key(&mut self, labels: &Labels) -> String {
        match &self.last_labels {
            Some((l, s)) if l == labels => s.clone(),
            _ => {
                let s = labels.display_string();
                self.last_labels = Some((labels.clone(), s.clone()));
                s
            }
        }
    }

    fn remember(&mut self, key: String, ts: i64) {
        self.tick += 1;
        if let Some(slot) = self.last_known.get_mut(&key) {
            *slot = (ts, self.tick);
            return;
        }
        self.last_known.insert(key, (ts, self.tick));
        if self.last_known.len() > MAX_LAST_KNOWN {
            if let Some(oldest) = self
                .last_known
                .iter()
                .min_by_key(|(_, (_, t))| *t)
                .map(|(k, _)| k.clone())
            {
                self.last_known.remove(&oldest);
            }
        }
    }
}

impl Stage for TimestampStage {
    fn name(&self) -> &'static str {
        "timestamp"
    }

    fn process(&mut self, mut entry: Entry, out: &mut Vec<Entry>) {
        let parsed = entry
            .extracted
            .get(&self.source)
            .and_then(Value::to_go_string)
            .ok_or_else(|| "extracted data did not contain a timestamp".to_string())
            .and_then(|s| parse_all(&self.parsers, &s));
        match parsed {
            Ok(ts) => {
                entry.timestamp = ts;
                if self.fudge {
                    let key = self.label_key(&entry.labels);
                    self.remember(key, ts);
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "failed to parse time");
                crate::pipeline::stage_failed("failed to parse time");
                if self.fudge {
                    let key = self.label_key(&entry.labels);
                    if let Some(&(last, _)) = self.last_known.get(&key) {
                        let ts = last.wrapping_add(1);
                        entry.timestamp = ts;
                        self.remember(key, ts);
                    }
                }
            }
        }
        out.push(entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::{Labels, Pipeline};
    use gocompat::yaml;

    fn pipeline(yaml_text: &str) -> Result<Pipeline, String> {
        let node = yaml::parse(yaml_text).map_err(|e| e.to_string())?;
        let mut warnings = Vec::new();
        let mut ctx = BuildCtx {
            job: "test",
            warnings: &mut warnings,
            base_dir: None,
        };
        Pipeline::build(&mut ctx, &node).map_err(|e| e.msg)
    }

    fn ts(format: &str, loc: Option<&str>, v: &str) -> Result<String, String> {
        let loc = loc.map(|l| Loc::load(l).unwrap());
        TimeParser::new(format, loc.as_ref())
            .parse(v)
            .map(gocompat::time::format_rfc3339_nano)
    }

    #[test]
    fn config_errors() {
        assert_eq!(
            pipeline("- timestamp:\n    source: ts\n    format: RFC3339\n    location: Foo/Bar\n")
                .err()
                .unwrap(),
            "invalid timestamp stage config: invalid location specified: unknown time zone Foo/Bar"
        );
        assert_eq!(
            pipeline("- timestamp:\n    format: RFC3339\n").err().unwrap(),
            "invalid timestamp stage config: timestamp source value is required if timestamp is specified"
        );
        assert_eq!(
            pipeline("- timestamp:\n    source: ts\n").err().unwrap(),
            "invalid timestamp stage config: timestamp format is required"
        );
        assert_eq!(
            pipeline("- timestamp:\n    source: ts\n    format: Unix\n    action_on_failure: drop\n")
                .err().unwrap(),
            "invalid timestamp stage config: invalid action on failure (supported values are [skip fudge])"
        );
    }

    #[test]
    fn documented_formats() {
        // Examples from Promtail's timestamp stage docs and tests.
        let cases = [
            (
                "RFC3339",
                None,
                "2019-07-09T21:48:36+00:00",
                "2019-07-09T21:48:36Z",
            ),
            (
                "RFC3339Nano",
                None,
                "2019-07-09T21:48:36.123456789Z",
                "2019-07-09T21:48:36.123456789Z",
            ),
            (
                "ANSIC",
                None,
                "Mon Jan  2 15:04:05 2006",
                "2006-01-02T15:04:05Z",
            ),
            (
                "UnixDate",
                None,
                "Mon Jan  2 15:04:05 UTC 2006",
                "2006-01-02T15:04:05Z",
            ),
            (
                "RubyDate",
                None,
                "Mon Jan 02 15:04:05 -0700 2006",
                "2006-01-02T22:04:05Z",
            ),
            (
                "RFC822",
                None,
                "02 Jan 06 15:04 UTC",
                "2006-01-02T15:04:00Z",
            ),
            (
                "RFC822Z",
                None,
                "02 Jan 06 15:04 -0700",
                "2006-01-02T22:04:00Z",
            ),
            (
                "RFC850",
                None,
                "Monday, 02-Jan-06 15:04:05 UTC",
                "2006-01-02T15:04:05Z",
            ),
            (
                "RFC1123",
                None,
                "Mon, 02 Jan 2006 15:04:05 UTC",
                "2006-01-02T15:04:05Z",
            ),
            (
                "RFC1123Z",
                None,
                "Mon, 02 Jan 2006 15:04:05 -0700",
                "2006-01-02T22:04:05Z",
            ),
            ("Unix", None, "1562708916", "2019-07-09T21:48:36Z"),
            (
                "Unix",
                None,
                "1562708916.414123",
                "2019-07-09T21:48:36.414123Z",
            ),
            ("Unix", None, "-1.5", "1969-12-31T23:59:59.5Z"),
            ("Unix", None, "1.-5", "1970-01-01T00:00:00.95Z"),
            (
                "Unix",
                None,
                "1700000000.1234567891",
                "2023-11-14T22:13:20.123456789Z",
            ),
            ("UnixMs", None, "1562708916919", "2019-07-09T21:48:36.919Z"),
            (
                "UnixUs",
                None,
                "1562708916414123",
                "2019-07-09T21:48:36.414123Z",
            ),
            (
                "UnixNs",
                None,
                "1562708916000000123",
                "2019-07-09T21:48:36.000000123Z",
            ),
            (
                "2006-01-02 15:04:05",
                Some("America/New_York"),
                "2009-07-01 03:30:20",
                "2009-07-01T07:30:20Z",
            ),
            (
                "2006-01-02 15:04:05 -0700",
                Some("America/New_York"),
                "2009-07-01 03:30:20 +0000",
                "2009-07-01T03:30:20Z",
            ),
            (
                "ANSIC",
                Some("Asia/Tokyo"),
                "Mon Jan  2 15:04:05 2006",
                "2006-01-02T15:04:05Z",
            ),
            (
                "Mon Jan _2 15:04:05 2006",
                Some("Asia/Tokyo"),
                "Mon Jan  2 15:04:05 2006",
                "2006-01-02T06:04:05Z",
            ),
            (
                "02/Jan/2006:15:04:05 -0700",
                None,
                "10/Oct/2023:13:55:36 -0700",
                "2023-10-10T20:55:36Z",
            ),
        ];
        for (f, loc, v, want) in cases {
            assert_eq!(ts(f, loc, v).as_deref(), Ok(want), "{f} {v}");
        }
        for (f, v) in [
            ("Unix", "1."),
            ("Unix", ".5"),
            ("UnixMs", "1700000000123.5"),
            ("RFC3339", "2024-05-01t10:00:00z"),
            ("2006-01-02 15:04:05.000", "2023-10-10 13:55:36.25"),
        ] {
            assert!(ts(f, None, v).is_err(), "{f} {v}");
        }
    }

    #[test]
    fn no_year_layouts() {
        let now = |s: &str| gocompat::time::parse_rfc3339_nano(s).unwrap();
        let p = TimeParser::new("Jan _2 15:04:05", None);
        let f =
            |v: &str, n: &str| gocompat::time::format_rfc3339_nano(p.parse_at(v, now(n)).unwrap());
        assert_eq!(
            f("May  1 10:00:00", "2024-06-01T00:00:00Z"),
            "2024-05-01T10:00:00Z"
        );
        assert_eq!(
            f("Dec 31 23:59:59", "2025-01-01T00:00:01Z"),
            "2024-12-31T23:59:59Z"
        );
        assert_eq!(
            f("Jan  1 00:00:01", "2024-12-31T23:59:00Z"),
            "2025-01-01T00:00:01Z"
        );
        assert_eq!(
            f("Feb 29 00:00:00", "2026-03-01T00:00:00Z"),
            "2026-03-01T00:00:00Z"
        );
        let p2 = TimeParser::new("Jan _2 2006", None);
        assert!(matches!(p2, TimeParser::Custom(..)));
        let p3 = TimeParser::new("Jan _2 15:04:05 MST", None);
        assert!(p3
            .parse_at("Jan  2 15:04:05 UTC", now("2024-06-01T00:00:00Z"))
            .is_ok());
    }

    #[test]
    fn fudge_and_skip() {
        let mut p = pipeline("- timestamp:\n    source: ts\n    format: RFC3339\n").unwrap();
        let mut out = Vec::new();
        let mk = |ts: Option<&str>| {
            let mut e = Entry::new(Labels::new(), 42, "l".into());
            if let Some(t) = ts {
                e.extracted.insert("ts", Value::Str(t.into()));
            }
            e
        };
        p.process(mk(Some("bad")), &mut out);
        p.process(mk(Some("2024-05-01T10:00:00Z")), &mut out);
        p.process(mk(Some("bad")), &mut out);
        p.process(mk(None), &mut out);
        let got: Vec<i64> = out.iter().map(|e| e.timestamp).collect();
        let base = gocompat::time::parse_rfc3339_nano("2024-05-01T10:00:00Z").unwrap();
        assert_eq!(got, vec![42, base, base + 1, base + 2]);

        let mut p = pipeline(
            "- timestamp:\n    source: ts\n    format: RFC3339\n    action_on_failure: skip\n",
        )
        .unwrap();
        let mut out = Vec::new();
        p.process(mk(Some("2024-05-01T10:00:00Z")), &mut out);
        p.process(mk(Some("bad")), &mut out);
        assert_eq!(out[1].timestamp, 42);
    }
}
