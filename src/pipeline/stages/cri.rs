//! The `cri` stage: Promtail's built-in pipeline for CRI log lines (`regex` + `labels{stream}` +
//! `timestamp{time, RFC3339Nano, fudge}` + `output{content}` + `output{tags}`), followed by the
//! joining of partial (`P`) lines per label set.

use crate::pipeline::stages::docker::{copy_labels_to_extracted, Rfc3339NanoFudge};
use crate::pipeline::stages::labels::LabelsStage;
use crate::pipeline::stages::output::OutputStage;
use crate::pipeline::stages::regex::RegexStage;
use crate::pipeline::{BuildCtx, Entry, Labels, Stage, Value};
use gocompat::mapstructure::StructCfg;
use gocompat::regex::GoRegex;
use gocompat::yaml::Node;

const CRI_EXPRESSION: &str =
    r"^(?s)(?P<time>\S+?) (?P<stream>stdout|stderr) (?P<flags>\S+?) (?P<content>.*)$";

/// Default bound on buffered partial streams.
const MAX_PARTIAL_LINES_DEFAULT: i64 = 100;

/// The built stage.
pub struct CriStage {
    regex: RegexStage,
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
        self.regex.apply(&mut e);
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
    let re = GoRegex::new(CRI_EXPRESSION).map_err(|e| e.to_string())?;
    Ok(Box::new(CriStage {
        regex: RegexStage::new(re, None),
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
