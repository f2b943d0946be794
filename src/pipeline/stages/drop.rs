//! The `drop` stage: drops entries that meet every configured condition.
//!
//! Conditions (all must hold, checked in Promtail's order, the first that fails keeps the entry):
//! `longer_than` (line length in bytes, strictly greater), `older_than` (timestamp before now
//! minus the duration), then either `source` alone (every listed key exists in the extracted
//! map, even with a null value), `expression`/`value` alone (the regex matches the line), or
//! `source` with `expression`/`value` (the values of the listed keys that exist are joined with
//! `separator` and the regex must match the result; a null value keeps the entry). `value` is an
//! exact match (`^quoted$`). Drops are counted in `logentry_dropped_lines_total{reason}`.
//!
//! This module also holds the drop counter helpers the action stages share. Durations and byte
//! sizes are read as Promtail reads them, by `gocompat::units`.

use regex::Regex;
use serde::Deserialize;

use crate::core::entry::now_nanos;
use crate::pipeline::{BuildCtx, Entry, Stage, DROPPED_LINES};
use gocompat::units::parse_byte_size;
use gocompat::yaml::{Node, NodeKind, RawNode, Resolved};

/// Help text of `logentry_dropped_lines_total`, as Promtail registers it.
pub const DROPPED_LINES_HELP: &str =
    "A count of all log lines dropped as a result of a pipeline stage";

/// Registers the HELP text of the drop counter with the current recorder.
pub fn describe_dropped() {
    metrics::describe_counter!(DROPPED_LINES, DROPPED_LINES_HELP);
}

/// Counts one dropped entry under `reason`.
pub fn count_dropped(reason: &str) {
    metrics::counter!(DROPPED_LINES, "reason" => reason.to_string()).increment(1);
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawConfig {
    drop_counter_reason: Option<String>,
    source: Option<RawNode>,
    value: Option<String>,
    separator: Option<String>,
    expression: Option<String>,
    older_than: Option<String>,
    longer_than: Option<String>,
}

/// The built stage.
pub struct DropStage {
    reason: String,
    longer_than: Option<usize>,
    older_than: Option<i64>,
    sources: Option<Vec<String>>,
    separator: String,
    regex: Option<Regex>,
}

/// Builds the stage from its config.
pub fn build(ctx: &mut BuildCtx, config: &Node) -> Result<Box<dyn Stage>, String> {
    if let Some(p) = config.get("percentage") {
        let pct = match p.resolve() {
            Some(Resolved::Int(i)) => Some(i as f64),
            Some(Resolved::Float(f)) => Some(f),
            Some(Resolved::Str(s)) => s.trim().trim_end_matches('%').parse().ok(),
            _ => None,
        };
        let hint = match pct {
            Some(p) if (0.0..=100.0).contains(&p) => format!(
                "if `percentage: {}` was meant to drop that share of lines at random, use `sampling: {{rate: {}}}` instead",
                p_text(p),
                gocompat::strconv::format_go_float(((100.0 - p) / 100.0 * 1e6).round() / 1e6)
            ),
            _ => "for random dropping use the `sampling` stage (`sampling: {rate: <fraction kept>}`)"
                .to_string(),
        };
        ctx.warnings.push(format!(
            "drop stage (line {}): `percentage` is not a drop-stage option and is ignored, as Promtail ignores it; the stage drops every entry its other conditions match; {hint}",
            p.line
        ));
    }
    let raw: RawConfig = ctx.decode("drop", config, true)?;
    let source_node = raw.source.map(|n| n.0).filter(|n| !n.is_null());
    if source_node.is_none()
        && raw.expression.is_none()
        && raw.older_than.is_none()
        && raw.longer_than.is_none()
    {
        return Err("drop stage config must contain at least one of `source`, `expression`, `older_than` or `longer_than`".into());
    }
    let reason = match raw.drop_counter_reason.as_deref() {
        None | Some("") => "drop_stage".to_string(),
        Some(r) => r.to_string(),
    };
    let older_than = match &raw.older_than {
        None => None,
        Some(d) => Some(gocompat::units::parse_go_duration_nanos(d).map_err(|e| {
            format!("drop stage invalid duration, {d} cannot be converted to a duration: {e}")
        })?),
    };
    if raw.value.is_some() && raw.expression.is_some() {
        return Err("drop stage config error, `value` and `expression` cannot both be defined at the same time.".into());
    }
    let mut regex = match &raw.expression {
        None => None,
        Some(e) => Some(
            gocompat::regex::GoRegex::new(e)
                .map_err(|err| format!("drop stage regex compilation error: {err}"))?
                .regex,
        ),
    };
    let longer_than = match &raw.longer_than {
        None => None,
        Some(s) => Some(
            parse_byte_size(s)
                .map_err(|e| format!("drop stage failed to parse longer_than to bytes: {e}"))?,
        ),
    };
    if raw.value.is_some() && source_node.is_none() {
        return Err("drop stage config must contain `source` if `value` is specified".into());
    }
    if let Some(v) = &raw.value {
        let pattern = format!("^{}$", regex::escape(v));
        regex = Some(Regex::new(&pattern).map_err(|e| format!("drop stage value: {e}"))?);
    }
    let sources = match &source_node {
        None => None,
        Some(n) => Some(source_list(n)?),
    };
    describe_dropped();
    Ok(Box::new(DropStage {
        reason,
        longer_than: longer_than.map(|n| n as usize),
        older_than,
        sources,
        separator: raw.separator.unwrap_or_else(|| ";".to_string()),
        regex,
    }))
}

fn p_text(p: f64) -> String {
    gocompat::strconv::format_go_float(p)
}

/// `source` as a string or a list of strings.
fn source_list(n: &Node) -> Result<Vec<String>, String> {
    const INVALID: &str = "drop stage source invalid type should be string or list of strings";
    match &n.kind {
        NodeKind::Scalar { .. } => match n.resolve() {
            Some(Resolved::Str(s)) => Ok(vec![s.to_string()]),
            _ => Err(INVALID.into()),
        },
        NodeKind::Seq(items) => items
            .iter()
            .map(|i| match i.resolve() {
                Some(Resolved::Str(s)) => Ok(s.to_string()),
                // Promtail panics on a non-string list item.
                _ => Err(format!(
                    "{INVALID} (item at line {} is not a string)",
                    i.line
                )),
            })
            .collect(),
        NodeKind::Map(_) => Err(INVALID.into()),
    }
}

impl DropStage {
    fn should_drop(&self, e: &Entry) -> bool {
        if let Some(max) = self.longer_than {
            if e.line.len() <= max {
                return false;
            }
        }
        if let Some(age) = self.older_than {
            if e.timestamp >= now_nanos().saturating_sub(age) {
                return false;
            }
        }
        match (&self.sources, &self.regex) {
            (Some(sources), None) => {
                if !sources.iter().all(|s| e.extracted.contains_key(s)) {
                    return false;
                }
            }
            (None, Some(re)) => {
                if !re.is_match(&e.line) {
                    return false;
                }
            }
            (Some(sources), Some(re)) => {
                let mut joined = String::new();
                let mut first = true;
                for s in sources {
                    let Some(v) = e.extracted.get(s) else {
                        continue;
                    };
                    let Some(text) = v.to_go_string() else {
                        return false;
                    };
                    if !first {
                        joined.push_str(&self.separator);
                    }
                    first = false;
                    joined.push_str(&text);
                }
                if !re.is_match(&joined) {
                    return false;
                }
            }
            (None, None) => {}
        }
        true
    }
}

impl Stage for DropStage {
    fn name(&self) -> &'static str {
        "drop"
    }

    fn process(&mut self, entry: Entry, out: &mut Vec<Entry>) {
        if self.should_drop(&entry) {
            count_dropped(&self.reason);
        } else {
            out.push(entry);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::{Labels, Value};
    use gocompat::yaml;

    fn build_from(text: &str) -> (Result<Box<dyn Stage>, String>, Vec<String>) {
        let node = yaml::parse(text).unwrap();
        let mut warnings = Vec::new();
        let mut ctx = BuildCtx {
            job: "test",
            warnings: &mut warnings,
            base_dir: None,
        };
        let r = build(&mut ctx, &node);
        (r, warnings)
    }

    fn entry(line: &str, extracted: &[(&str, Value)]) -> Entry {
        let mut e = Entry::new(Labels::new(), now_nanos(), line.to_string());
        for (k, v) in extracted {
            e.extracted.insert(k.to_string(), v.clone());
        }
        e
    }

    fn kept(cfg: &str, entries: Vec<Entry>) -> Vec<String> {
        let mut stage = build_from(cfg).0.unwrap();
        let mut out = Vec::new();
        for e in entries {
            stage.process(e, &mut out);
        }
        out.into_iter().map(|e| e.line).collect()
    }

    /// `expression` is read as Go's RE2 reads it.
    #[test]
    fn expression_is_go_regex() {
        for (cfg, line, dropped) in [
            (r"expression: '^\d+$'", "٣", false),
            (r"expression: '^\d+$'", "3", true),
            (r"expression: '\s'", "a\u{a0}b", false),
            (r"expression: '\bx\b'", "éxé", true),
            (r#"expression: '^{"debug"'"#, r#"{"debug":1}"#, true),
            (r"expression: '\Q[x]\E'", "[x]", true),
            (r"expression: '(?P<a>d)|(?P<a>e)'", "e", true),
        ] {
            let kept = kept(cfg, vec![entry(line, &[])]);
            assert_eq!(kept.is_empty(), dropped, "{cfg} {line:?}");
        }
        assert_eq!(
            build_from("expression: 'a**'").0.err().unwrap(),
            "drop stage regex compilation error: error parsing regexp: invalid nested repetition operator: `**`"
        );
    }

    #[test]
    fn durations_like_go() {
        for (s, want) in [
            ("0", 0),
            ("1s", 1_000_000_000),
            ("1.5h", 5_400_000_000_000),
            ("-2m", -120_000_000_000),
            ("1h2m3s4ms5us6ns", 3_723_004_005_006),
            ("0.5ms", 500_000),
            (".5s", 500_000_000),
            ("24h", 86_400_000_000_000),
            ("1µs", 1_000),
        ] {
            assert_eq!(gocompat::units::parse_go_duration_nanos(s), Ok(want), "{s}");
        }
        assert_eq!(
            gocompat::units::parse_go_duration_nanos("3").unwrap_err(),
            "time: missing unit in duration \"3\""
        );
        assert_eq!(
            gocompat::units::parse_go_duration_nanos("1d").unwrap_err(),
            "time: unknown unit \"d\" in duration \"1d\""
        );
        assert_eq!(
            gocompat::units::parse_go_duration_nanos("").unwrap_err(),
            "time: invalid duration \"\""
        );
        assert_eq!(
            gocompat::units::parse_go_duration_nanos("s").unwrap_err(),
            "time: invalid duration \"s\""
        );
    }

    #[test]
    fn byte_sizes_like_promtail() {
        for (s, want) in [
            ("1kb", 1024),
            ("1KB", 1024),
            ("8kb", 8192),
            ("100", 100),
            ("2 MB", 2 << 20),
            ("1b", 1),
        ] {
            assert_eq!(parse_byte_size(s), Ok(want), "{s}");
        }
        assert_eq!(
            parse_byte_size("1KiB").unwrap_err(),
            "strconv.UnmarshalText: parsing \"1KIB\": invalid syntax"
        );
        assert!(parse_byte_size("1.5kb").is_err());
        assert!(parse_byte_size("kb").is_err());
    }

    #[test]
    fn validation_errors() {
        for (cfg, want) in [
            ("{}", "drop stage config must contain at least one of `source`, `expression`, `older_than` or `longer_than`"),
            ("value: x", "drop stage config must contain at least one of `source`, `expression`, `older_than` or `longer_than`"),
            ("percentage: 50", "drop stage config must contain at least one of `source`, `expression`, `older_than` or `longer_than`"),
            ("value: x\nolder_than: 1h", "drop stage config must contain `source` if `value` is specified"),
            ("source: a\nvalue: x\nexpression: y", "drop stage config error, `value` and `expression` cannot both be defined at the same time."),
            ("older_than: 3", "drop stage invalid duration, 3 cannot be converted to a duration: time: missing unit in duration \"3\""),
            ("longer_than: 1KiB", "drop stage failed to parse longer_than to bytes: strconv.UnmarshalText: parsing \"1KIB\": invalid syntax"),
            ("source: 5", "drop stage source invalid type should be string or list of strings"),
        ] {
            assert_eq!(build_from(cfg).0.err().unwrap(), want, "{cfg}");
        }
        let e = build_from("expression: '('").0.err().unwrap();
        assert!(
            e.starts_with("drop stage regex compilation error: error parsing regexp: "),
            "{e}"
        );
    }

    /// Examples from Promtail's drop stage documentation.
    #[test]
    fn documented_examples() {
        // Simple drop if a key exists in the extracted map.
        let lines = kept(
            "source: app",
            vec![
                entry("has app", &[("app", Value::Str("foo".into()))]),
                entry("no app", &[]),
            ],
        );
        assert_eq!(lines, vec!["no app"]);
        // Drop by exact value.
        let lines = kept(
            "source: app\nvalue: foo",
            vec![
                entry("foo", &[("app", Value::Str("foo".into()))]),
                entry("foobar", &[("app", Value::Str("foobar".into()))]),
                entry("none", &[]),
            ],
        );
        assert_eq!(lines, vec!["foobar", "none"]);
        // Regex on the line.
        let lines = kept(
            "expression: \".*debug.*\"",
            vec![entry("this is a debug line", &[]), entry("info", &[])],
        );
        assert_eq!(lines, vec!["info"]);
        // Several sources joined with a separator must all match the regex.
        let lines = kept(
            "source: [level, msg]\nseparator: '#'\nexpression: 'debug#.*'",
            vec![
                entry(
                    "both",
                    &[
                        ("level", Value::Str("debug".into())),
                        ("msg", Value::Str("x".into())),
                    ],
                ),
                entry(
                    "info",
                    &[
                        ("level", Value::Str("info".into())),
                        ("msg", Value::Str("x".into())),
                    ],
                ),
            ],
        );
        assert_eq!(lines, vec!["info"]);
        // A list source alone requires every key.
        let lines = kept(
            "source: [level, msg]",
            vec![
                entry("only level", &[("level", Value::Str("debug".into()))]),
                entry(
                    "both",
                    &[("level", Value::Null), ("msg", Value::Str("x".into()))],
                ),
            ],
        );
        assert_eq!(lines, vec!["only level"]);
        // A null source value keeps the entry when a value is configured.
        let lines = kept(
            "source: lvl\nvalue: debug",
            vec![entry("null", &[("lvl", Value::Null)])],
        );
        assert_eq!(lines, vec!["null"]);
        // Length: equal is kept.
        let lines = kept(
            "longer_than: 4",
            vec![entry("1234", &[]), entry("12345", &[])],
        );
        assert_eq!(lines, vec!["1234"]);
        // Age combined with a regex: both must hold.
        let mut old = entry("old debug", &[]);
        old.timestamp -= 2 * 3_600_000_000_000;
        let mut old_info = entry("old info", &[]);
        old_info.timestamp -= 2 * 3_600_000_000_000;
        let lines = kept(
            "older_than: 1h\nexpression: debug",
            vec![old, old_info, entry("new debug", &[])],
        );
        assert_eq!(lines, vec!["old info", "new debug"]);
    }

    #[test]
    fn percentage_gets_a_warning() {
        let (r, warnings) =
            build_from("expression: \".*\"\ndrop_counter_reason: sampling\npercentage: 90");
        assert!(r.is_ok());
        let w = warnings
            .iter()
            .find(|w| w.contains("`percentage` is not a drop-stage option"))
            .expect("specific warning");
        assert!(w.contains("sampling: {rate: 0.1}"), "{w}");
    }
}
