//! The `cri` stage: Promtail's built-in pipeline for CRI log lines (`regex` + `labels{stream}` +
//! `timestamp{time, RFC3339Nano, fudge}` + `output{content}` + `output{tags}`), followed by the
//! joining of partial (`P`) lines per label set.
//!
//! The `regex` step does not run the regex engine: its expression (four fields separated by single
//! spaces, the last one the rest of the line) is matched by [`split`], which finds exactly the
//! groups the expression does (`split_is_the_expression`, checked against it); the engine's
//! capture search was a third of the CPU time of a `cri: {}` pipeline.

use crate::pipeline::stages::docker::{copy_labels_to_extracted, Rfc3339NanoFudge};
use crate::pipeline::stages::labels::LabelsStage;
use crate::pipeline::stages::output::OutputStage;
use crate::pipeline::{BuildCtx, Entry, Labels, Stage, Value};
use gocompat::mapstructure::StructCfg;
use gocompat::yaml::Node;

/// Promtail's expression, which [`split`] matches (the tests check one against the other).
#[cfg(test)]
const CRI_EXPRESSION: &str =
    r"^(?s)(?P<time>\S+?) (?P<stream>stdout|stderr) (?P<flags>\S+?) (?P<content>.*)$";

/// The expression's named groups, in order.
const GROUPS: [&str; 4] = ["time", "stream", "flags", "content"];

/// Go's `\s`, which the expression's `\S` excludes (ASCII only, no vertical tab).
fn is_go_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | b'\x0C' | b'\r' | b' ')
}

/// `time`, `stream`, `flags` and `content` where `line` matches [`CRI_EXPRESSION`], else `None`.
/// `\S+?` cannot cross a space, so `time` and `flags` run to the first Go space after their start,
/// which must be a plain space; `content` (`(?s).*$`) is the rest, newlines included.
/// (`pipeline::inspect` has its own copy, `split_cri`, which could call this one.)
pub(crate) fn split(line: &str) -> Option<(&str, &str, &str, &str)> {
    fn field(s: &str) -> Option<(&str, &str)> {
        let end = s.bytes().position(is_go_space)?;
        if end == 0 || s.as_bytes()[end] != b' ' {
            return None;
        }
        Some((&s[..end], &s[end + 1..]))
    }
    let (time, rest) = field(line)?;
    let stream = ["stdout", "stderr"]
        .into_iter()
        .find(|s| rest.strip_prefix(s).is_some_and(|r| r.starts_with(' ')))?;
    let (flags, content) = field(&rest[stream.len() + 1..])?;
    Some((time, stream, flags, content))
}

/// Default bound on buffered partial streams.
const MAX_PARTIAL_LINES_DEFAULT: i64 = 100;

/// The built stage.
pub struct CriStage {
    labels: LabelsStage,
    timestamp: Rfc3339NanoFudge,
    content: OutputStage,
    tags: OutputStage,
    /// Buffered partial entries keyed by label set, in arrival order.
    partial: Vec<(Labels, Entry)>,
    max_partial_lines: i64,
    max_line_size: u64,
    truncate: bool,
}

impl CriStage {
    fn truncate_if_required(&self, e: &mut Entry) {
        if self.truncate && e.line.len() as u64 > self.max_line_size {
            // Promtail cuts bytes; a Rust string keeps whole characters.
            let mut cut = self.max_line_size as usize;
            while !e.line.is_char_boundary(cut) {
                cut -= 1;
            }
            e.line.truncate(cut);
        }
    }

    /// The `regex` step: `time`, `stream`, `flags` and `content` extracted, as the expression's
    /// named groups (in their order), when the line matches it.
    fn extract(e: &mut Entry) {
        let Some((time, stream, flags, content)) = split(&e.line) else {
            return;
        };
        let values = [time, stream, flags, content].map(|v| Value::Str(v.to_string()));
        for (name, value) in GROUPS.into_iter().zip(values) {
            e.extracted.insert(name, value);
        }
    }

    fn merge_into(prev: Entry, e: &mut Entry) {
        let mut line = prev.line;
        line.push_str(&e.line);
        e.line = line;
        let mut acks = prev.acks;
        acks.extend(e.acks.drain(..));
        e.acks = acks;
    }
}

impl Stage for CriStage {
    fn name(&self) -> &'static str {
        "cri"
    }

    fn process(&mut self, mut e: Entry, out: &mut Vec<Entry>) {
        copy_labels_to_extracted(&mut e);
        Self::extract(&mut e);
        self.labels.apply(&mut e);
        self.timestamp.apply(&mut e);
        self.content.apply(&mut e);
        self.tags.apply(&mut e);

        let is_partial = matches!(e.extracted.get("flags"), Some(Value::Str(f)) if f == "P");
        let slot = self.partial.iter().position(|(l, _)| *l == e.labels);
        if is_partial {
            if self.partial.len() as i64 >= self.max_partial_lines {
                tracing::warn!(
                    threshold = self.max_partial_lines,
                    "cri stage: partial lines upperbound exceeded. merging it to single line"
                );
                out.extend(self.partial.drain(..).map(|(_, p)| p));
                self.truncate_if_required(&mut e);
                self.partial.push((e.labels.clone(), e));
                return;
            }
            match slot {
                Some(i) => {
                    let prev = std::mem::replace(
                        &mut self.partial[i].1,
                        Entry::new(Labels::new(), 0, String::new()),
                    );
                    Self::merge_into(prev, &mut e);
                    self.truncate_if_required(&mut e);
                    self.partial[i].1 = e;
                }
                None => {
                    self.truncate_if_required(&mut e);
                    self.partial.push((e.labels.clone(), e));
                }
            }
            return;
        }
        if let Some(i) = slot {
            let (_, prev) = self.partial.remove(i);
            Self::merge_into(prev, &mut e);
            self.truncate_if_required(&mut e);
        }
        out.push(e);
    }
}

/// Builds the stage from its config (weakly decoded).
pub fn build(ctx: &mut BuildCtx, config: &Node) -> Result<Box<dyn Stage>, String> {
    let mut cfg = StructCfg::new(
        ctx.warnings,
        "cri",
        config,
        true,
        &[
            "max_partial_lines",
            "max_partial_line_size",
            "max_partial_line_size_truncate",
        ],
    )?;
    let max_partial_lines = cfg.int("max_partial_lines").unwrap_or(0);
    let max_line_size = cfg
        .uint("max_partial_line_size", "flagext.ByteSize")
        .unwrap_or(0);
    let truncate = cfg.bool("max_partial_line_size_truncate").unwrap_or(false);
    cfg.finish()?;
    Ok(Box::new(CriStage {
        labels: LabelsStage::new(vec![("stream".into(), "stream".into())]),
        timestamp: Rfc3339NanoFudge::new("time"),
        content: OutputStage::new("content"),
        tags: OutputStage::new("tags"),
        partial: Vec::new(),
        max_partial_lines: if max_partial_lines == 0 {
            MAX_PARTIAL_LINES_DEFAULT
        } else {
            max_partial_lines
        },
        max_line_size,
        truncate,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use gocompat::regex::GoRegex;

    /// The groups of Promtail's expression, through the regex engine.
    fn by_regex<'a>(re: &GoRegex, line: &'a str) -> Option<(&'a str, &'a str, &'a str, &'a str)> {
        let caps = re.regex.captures(line)?;
        let group = |name: &str| {
            let (idx, _) = re.names.iter().find(|(_, n)| n == name)?;
            caps.get(*idx).map(|m| m.as_str())
        };
        Some((
            group("time")?,
            group("stream")?,
            group("flags")?,
            group("content")?,
        ))
    }

    #[test]
    fn split_is_the_expression() {
        let re = GoRegex::new(CRI_EXPRESSION).unwrap();
        for line in [
            "2019-01-01T01:00:00.000000001Z stderr P i'm a log message!",
            "2019-04-30T02:12:43Z stdout F ",
            "2019-04-30T02:12:44Z stdout F",
            "2019-04-30T02:12:45Z stdout XX a  b",
            "2019-04-30T02:12:45Z stdout F multi\nline\r\n",
            "bad line",
            "",
            " stdout F x",
            "t  stdout F x",
            "t stdout  F x",
            "t stdout F  x",
            "t stdoutF x",
            "t stdouts F x",
            "t stdin F x",
            "t\tstdout F x",
            "t stdout F\tx",
            "t stdout F\x0bx y",
            "t\u{a0}u stdout F\u{85}G x",
            "ünï stderr ✓ çontent ✓",
        ] {
            assert_eq!(split(line), by_regex(&re, line), "{line:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn split_is_the_expression_on_any_line(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    "2024-01-01T00:00:00Z", "stdout", "stderr", "std", "F", "P", "x", "é",
                    " ", " ", " ", "\t", "\n", "\r", "\x0b", "\x0c", "\u{a0}", "\u{85}", "",
                ]),
                0..9,
            )
        ) {
            let re = GoRegex::new(CRI_EXPRESSION).unwrap();
            let line: String = parts.concat();
            proptest::prop_assert_eq!(split(&line), by_regex(&re, &line), "{:?}", line);
        }
    }

    fn stage(yaml: &str) -> Result<Box<dyn Stage>, String> {
        crate::pipeline::build_for_test(build, yaml)
    }

    fn run(yaml: &str, lines: &[&str]) -> Vec<Entry> {
        let mut s = stage(yaml).unwrap();
        let mut out = Vec::new();
        for l in lines {
            let labels: Labels = [("job", "j")].into_iter().collect();
            let mut e = Entry::new(labels, 7, l.to_string());
            copy_labels_to_extracted(&mut e);
            s.process(e, &mut out);
        }
        s.flush(&mut out);
        out
    }

    #[test]
    fn documented_example() {
        // Docs: `2019-01-01T01:00:00.000000001Z stderr P i'm a log message!`
        let out = run(
            "{}",
            &["2019-01-01T01:00:00.000000001Z stderr F i'm a log message!"],
        );
        assert_eq!(out[0].line, "i'm a log message!");
        assert_eq!(out[0].labels.get("stream"), Some("stderr"));
        assert_eq!(out[0].timestamp, 1_546_304_400_000_000_001);
        assert_eq!(out[0].extracted["flags"], Value::Str("F".into()));
    }

    #[test]
    fn edge_lines() {
        let out = run(
            "{}",
            &[
                "2019-04-30T02:12:43Z stdout F ",
                "2019-04-30T02:12:44Z stdout F",
                "2019-04-30T02:12:45Z stdout XX a  b",
                "bad line",
            ],
        );
        assert_eq!(out[0].line, "");
        assert_eq!(out[1].line, "2019-04-30T02:12:44Z stdout F");
        assert_eq!(out[1].labels.get("stream"), None);
        assert_eq!(out[1].timestamp, 7);
        assert_eq!(out[2].line, "a  b");
        assert_eq!(out[3].line, "bad line");
    }

    #[test]
    fn partial_multi_stream_with_truncation() {
        // Promtail's test `tag P multi-stream with truncation` (size 11).
        let out = run(
            "max_partial_line_size: 11\nmax_partial_line_size_truncate: true\n",
            &[
                "2019-05-07T18:57:50.904275087+00:00 stdout P partial line 1 ",
                "2019-05-07T18:57:50.904275087+00:00 stdout F log finished",
                "2019-05-07T18:57:55.904275087+00:00 stderr P partial",
                "2019-05-07T18:57:55.904275087+00:00 stderr F full",
                "2019-05-07T18:57:55.904275087+00:00 stdout F a full line longer than 11",
            ],
        );
        let lines: Vec<&str> = out.iter().map(|e| e.line.as_str()).collect();
        assert_eq!(
            lines,
            ["partial lin", "partialfull", "a full line longer than 11"]
        );
    }

    #[test]
    fn partial_overflow_flushes_unmerged() {
        let out = run(
            "max_partial_lines: 1\n",
            &[
                "2024-05-01T10:00:01Z stdout P a1 ",
                "2024-05-01T10:00:02Z stdout P a2 ",
                "2024-05-01T10:00:03Z stdout F a3",
                "2024-05-01T10:00:04Z stdout P never finished",
            ],
        );
        let lines: Vec<&str> = out.iter().map(|e| e.line.as_str()).collect();
        assert_eq!(lines, ["a1 ", "a2 a3"]);
    }

    #[test]
    fn config_errors() {
        assert_eq!(
            stage("max_partial_line_size: 256KB\n").err().unwrap(),
            "1 error(s) decoding:\n\n* cannot parse 'max_partial_line_size' as uint: strconv.ParseUint: parsing \"256KB\": invalid syntax"
        );
        assert!(stage("max_partial_lines: '3'\n").is_ok());
    }
}
