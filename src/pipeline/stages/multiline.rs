//! The `multiline` stage: joins the lines of a block (a start line plus its continuation lines)
//! into one entry.
//!
//! Streams are kept apart by their label set. Until a stream's first `firstline` match its
//! entries pass through unchanged; from then on every entry of that stream is held. A start line
//! flushes the held block and becomes the block's *start entry*; each line is appended with a
//! `\n` separator (none when the buffer is still empty, so an empty line at the start of a block
//! vanishes); reaching `max_lines` (0 = unlimited) flushes. A block idle for `max_wait_time`
//! is flushed by [`Stage::tick`], and [`Stage::flush`] releases everything at shutdown.
//!
//! A flushed entry takes the start entry's labels, extracted map and timestamp, and the joined
//! text; structured metadata is not carried over (as in Promtail). Promtail never resets the
//! start entry, so after a `max_lines` or idle flush the following continuation lines form a
//! block that again carries the *old* start line's timestamp, labels and extracted values. The
//! emitted entry carries the acks of every line in its block.

use std::collections::HashMap;

use regex::Regex;
use serde::Deserialize;
use smallvec::SmallVec;

use crate::core::ack::Ack;
use crate::core::entry::{now_nanos, Extracted};
use crate::pipeline::{BuildCtx, Entry, Labels, Stage};
use gocompat::yaml::Node;

use gocompat::units::parse_go_duration_nanos as parse_go_duration;

const DEFAULT_MAX_LINES: u64 = 128;
const DEFAULT_MAX_WAIT: i64 = 3_000_000_000;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawConfig {
    firstline: Option<String>,
    max_wait_time: Option<String>,
    max_lines: Option<u64>,
}

/// The start entry of a stream's current block, minus its line.
struct Start {
    labels: Labels,
    extracted: Extracted,
    timestamp: i64,
}

struct StreamState {
    start: Start,
    buffer: String,
    lines: u64,
    acks: SmallVec<[Ack; 1]>,
    last_activity: i64,
}

impl StreamState {
    fn flush(&mut self, out: &mut Vec<Entry>) {
        if self.buffer.is_empty() {
            // Nothing to emit; lines absorbed into the empty buffer (empty lines) are done.
            self.acks.clear();
            return;
        }
        out.push(Entry {
            labels: self.start.labels.clone(),
            extracted: self.start.extracted.clone(),
            timestamp: self.start.timestamp,
            line: std::mem::take(&mut self.buffer),
            structured_metadata: Vec::new(),
            acks: std::mem::take(&mut self.acks),
        });
        self.lines = 0;
    }
}

/// The built stage.
pub struct MultilineStage {
    firstline: Regex,
    max_lines: u64,
    max_wait: i64,
    streams: HashMap<Labels, StreamState>,
}

/// Builds the stage from its config.
pub fn build(ctx: &mut BuildCtx, config: &Node) -> Result<Box<dyn Stage>, String> {
    let raw: RawConfig = ctx.decode("multiline", config, true)?;
    let Some(expr) = raw.firstline else {
        return Err("multiline stage config must define `firstline` regular expression".into());
    };
    let firstline = gocompat::regex::GoRegex::new(&expr)
        .map_err(|e| format!("multiline stage first line regex compilation error: {e}"))?
        .regex;
    let max_wait = match &raw.max_wait_time {
        None => DEFAULT_MAX_WAIT,
        Some(d) => parse_go_duration(d)
            .map_err(|e| format!("multiline stage `max_wait_time` parse error: {e}"))?,
    };
    Ok(Box::new(MultilineStage {
        firstline,
        max_lines: raw.max_lines.unwrap_or(DEFAULT_MAX_LINES),
        max_wait,
        streams: HashMap::new(),
    }))
}

impl Stage for MultilineStage {
    fn name(&self) -> &'static str {
        "multiline"
    }

    fn process(&mut self, entry: Entry, out: &mut Vec<Entry>) {
        let is_first = self.firstline.is_match(&entry.line);
        let Entry {
            labels,
            extracted,
            timestamp,
            line,
            structured_metadata: _,
            acks,
        } = entry;
        let state = match self.streams.get_mut(&labels) {
            Some(state) => {
                if is_first {
                    state.flush(out);
                    state.start = Start {
                        labels,
                        extracted,
                        timestamp,
                    };
                }
                state
            }
            None if !is_first => {
                out.push(Entry {
                    labels,
                    extracted,
                    timestamp,
                    line,
                    structured_metadata: Vec::new(),
                    acks,
                });
                return;
            }
            None => self
                .streams
                .entry(labels.clone())
                .or_insert_with(|| StreamState {
                    start: Start {
                        labels,
                        extracted,
                        timestamp,
                    },
                    buffer: String::new(),
                    lines: 0,
                    acks: SmallVec::new(),
                    last_activity: 0,
                }),
        };
        if !state.buffer.is_empty() {
            state.buffer.push('\n');
        }
        state.buffer.push_str(&line);
        state.lines += 1;
        state.acks.extend(acks);
        if state.lines == self.max_lines {
            state.flush(out);
        }
        state.last_activity = now_nanos();
    }

    fn tick(&mut self, now: i64, out: &mut Vec<Entry>) {
        for state in self.streams.values_mut() {
            if now.saturating_sub(state.last_activity) >= self.max_wait {
                state.flush(out);
                state.last_activity = now;
            }
        }
    }

    fn flush(&mut self, out: &mut Vec<Entry>) {
        for state in self.streams.values_mut() {
            state.flush(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Value;
    use gocompat::yaml;

    fn build_from(text: &str) -> Result<Box<dyn Stage>, String> {
        let node = yaml::parse(text).unwrap();
        let mut warnings = Vec::new();
        let mut ctx = BuildCtx {
            job: "test",
            warnings: &mut warnings,
            base_dir: None,
        };
        build(&mut ctx, &node)
    }

    fn labels(stream: &str) -> Labels {
        [("stream", stream)].into_iter().collect()
    }

    /// Feeds `(stream, timestamp, line)` entries, then an idle tick, and returns
    /// `(stream, timestamp, line)` of what came out.
    fn run(cfg: &str, input: &[(&str, i64, &str)]) -> Vec<(String, i64, String)> {
        let mut stage = build_from(cfg).unwrap();
        let mut out = Vec::new();
        for (s, ts, line) in input {
            stage.process(Entry::new(labels(s), *ts, line.to_string()), &mut out);
        }
        stage.tick(now_nanos() + 3_600_000_000_000, &mut out);
        out.into_iter()
            .map(|e| {
                (
                    e.labels.get("stream").unwrap_or("").to_string(),
                    e.timestamp,
                    e.line,
                )
            })
            .collect()
    }

    /// `firstline` is read as Go's RE2 reads it.
    #[test]
    fn firstline_is_go_regex() {
        // `\d` is ASCII: a line starting with an Arabic-Indic digit continues the block.
        let got = run(
            "firstline: '^\\d{4}'",
            &[("s", 1, "2024 a"), ("s", 2, "٢٠٢٤ b"), ("s", 3, "2025 c")],
        );
        let lines: Vec<&str> = got.iter().map(|(_, _, l)| l.as_str()).collect();
        assert_eq!(lines, vec!["2024 a\n٢٠٢٤ b", "2025 c"]);
        // A `{` that starts no repeat is a literal (a JSON line start).
        let got = run(
            "firstline: '^{\"ts'",
            &[
                ("s", 1, "{\"ts\":1}"),
                ("s", 2, "  at x"),
                ("s", 3, "{\"ts\":2}"),
            ],
        );
        assert_eq!(got.len(), 2);
        assert_eq!(
            build_from("firstline: '\\q'").err().unwrap(),
            "multiline stage first line regex compilation error: error parsing regexp: invalid escape sequence: `\\q`"
        );
    }

    #[test]
    fn validation() {
        assert_eq!(
            build_from("max_lines: 3").err().unwrap(),
            "multiline stage config must define `firstline` regular expression"
        );
        assert_eq!(
            build_from("firstline: x\nmax_wait_time: 3").err().unwrap(),
            "multiline stage `max_wait_time` parse error: time: missing unit in duration \"3\""
        );
        assert!(build_from("firstline: '('")
            .err()
            .unwrap()
            .starts_with("multiline stage first line regex compilation error: "));
    }

    /// The documented example: a Java-style stack trace joined to its start line.
    #[test]
    fn documented_example() {
        let out = run(
            "firstline: '^\\[\\d{4}-\\d{2}-\\d{2} \\d{1,2}:\\d{2}:\\d{2}\\]'\nmax_wait_time: 3s",
            &[
                ("a", 1, "[2020-12-03 11:36:20] info: foo"),
                ("a", 2, "[2020-12-03 11:36:23] ERROR: boom"),
                (
                    "a",
                    3,
                    "Exception in thread \"main\" java.lang.RuntimeException",
                ),
                ("a", 4, "    at com.example.Main.main(Main.java:5)"),
                ("a", 5, "[2020-12-03 11:36:24] info: bar"),
            ],
        );
        assert_eq!(
            out,
            vec![
                ("a".into(), 1, "[2020-12-03 11:36:20] info: foo".into()),
                (
                    "a".into(),
                    2,
                    "[2020-12-03 11:36:23] ERROR: boom\nException in thread \"main\" java.lang.RuntimeException\n    at com.example.Main.main(Main.java:5)".into()
                ),
                ("a".into(), 5, "[2020-12-03 11:36:24] info: bar".into()),
            ]
        );
    }

    #[test]
    fn pass_through_until_first_start_line_per_stream() {
        let out = run(
            "firstline: '^S'",
            &[
                ("a", 1, "orphan a"),
                ("a", 2, "S1"),
                ("b", 3, "orphan b"),
                ("a", 4, "cont"),
                ("b", 5, "S2"),
                ("b", 6, "cont b"),
            ],
        );
        assert_eq!(out[0], ("a".into(), 1, "orphan a".into()));
        assert_eq!(out[1], ("b".into(), 3, "orphan b".into()));
        let mut rest = out[2..].to_vec();
        rest.sort();
        assert_eq!(
            rest,
            vec![
                ("a".into(), 2, "S1\ncont".into()),
                ("b".into(), 5, "S2\ncont b".into())
            ]
        );
    }

    /// `max_lines` flushes but keeps the start entry; an empty line in an empty buffer vanishes.
    #[test]
    fn max_lines_keeps_the_start_entry() {
        let out = run(
            "firstline: '^S'\nmax_lines: 2",
            &[
                ("a", 1, "S1"),
                ("a", 2, "a"),
                ("a", 3, "b"),
                ("a", 4, "c"),
                ("a", 5, "S2"),
                ("a", 6, ""),
                ("a", 7, "S3"),
                ("a", 8, "x"),
                ("a", 9, ""),
                ("a", 10, "d"),
            ],
        );
        let got: Vec<(i64, &str)> = out.iter().map(|(_, t, l)| (*t, l.as_str())).collect();
        assert_eq!(
            got,
            vec![
                (1, "S1\na"),
                (1, "b\nc"),
                (5, "S2\n"),
                (7, "S3\nx"),
                (7, "d")
            ]
        );
    }

    #[test]
    fn max_lines_zero_is_unlimited_and_flush_releases() {
        let mut stage = build_from("firstline: '^S'\nmax_lines: 0").unwrap();
        let mut out = Vec::new();
        for i in 0..300 {
            let line = if i == 0 {
                "S".to_string()
            } else {
                i.to_string()
            };
            stage.process(Entry::new(labels("a"), 0, line), &mut out);
        }
        assert!(out.is_empty());
        stage.flush(&mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].line.lines().count(), 300);
    }

    #[test]
    fn extracted_and_acks_come_from_the_block() {
        let mut stage = build_from("firstline: '^[A-Z]+: '").unwrap();
        let mut out = Vec::new();
        let progress = crate::core::ack::Progress::new(0);
        let mut e1 = Entry::new(labels("a"), 1, "ERROR: first".into());
        e1.extracted.insert("level", Value::Str("ERROR".into()));
        e1.acks.push(progress.register(10));
        let mut e2 = Entry::new(labels("a"), 2, "  caused by WARN: inner".into());
        e2.extracted.insert("level", Value::Str("WARN".into()));
        e2.acks.push(progress.register(20));
        stage.process(e1, &mut out);
        stage.process(e2, &mut out);
        stage.flush(&mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].extracted.get("level"),
            Some(&Value::Str("ERROR".into()))
        );
        assert_eq!(out[0].acks.len(), 2);
    }

    #[test]
    fn idle_flush_waits_for_max_wait() {
        let mut stage = build_from("firstline: '^S'\nmax_wait_time: 1s").unwrap();
        let mut out = Vec::new();
        stage.process(Entry::new(labels("a"), 0, "S".into()), &mut out);
        stage.tick(now_nanos() - 1_000_000_000, &mut out);
        assert!(out.is_empty());
        stage.tick(now_nanos() + 1_000_000_000, &mut out);
        assert_eq!(out.len(), 1);
    }
}
