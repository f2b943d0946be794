//! The `docker` stage: Promtail's built-in pipeline for Docker json-file lines
//! (`json{output: log, stream: stream, timestamp: time}` + `labels{stream}` +
//! `timestamp{timestamp, RFC3339Nano, fudge}` + `output{output}`).
//!
//! Also owns what docker and cri need of the timestamp stage: Go's `time.Parse(RFC3339Nano)`
//! and the fudge history (an LRU of the last timestamp per label set).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use gocompat::yaml::Node;

use crate::pipeline::stages::json::JsonStage;
use crate::pipeline::stages::labels::{with_go_str, LabelsStage};
use crate::pipeline::stages::output::OutputStage;
use crate::pipeline::{BuildCtx, Entry, Labels, Stage, Value};

/// Copies every label into the extracted map, as each nested pipeline run does.
pub(crate) fn copy_labels_to_extracted(e: &mut Entry) {
    e.extracted.copy_labels(&e.labels, None);
}

/// Go's `time.Parse(time.RFC3339Nano, s)` as Unix nanoseconds (shared with the timestamp stage).
pub(crate) use gocompat::time::parse_rfc3339_nano;

/// The last known timestamp per label set (Promtail's fudge LRU of 10 000 entries). The most
/// recently used set is held apart from the map: consecutive entries of one stream, the common
/// case, then touch neither the hash map nor the recency order.
pub(crate) struct FudgeHistory {
    map: HashMap<Labels, (i64, u64), foldhash::fast::FixedState>,
    order: BTreeMap<u64, Labels>,
    tick: u64,
    last: Option<(Labels, i64)>,
}

const FUDGE_CAPACITY: usize = 10_000;

impl FudgeHistory {
    pub(crate) fn new() -> Self {
        FudgeHistory {
            map: HashMap::default(),
            order: BTreeMap::new(),
            tick: 0,
            last: None,
        }
    }

    fn is_last(&self, labels: &Labels) -> bool {
        self.last
            .as_ref()
            .is_some_and(|(l, _)| l.ptr_eq(labels) || l == labels)
    }

    /// Makes `labels` (with `ts`) the most recently used set, moving the previous one into the map.
    fn promote(&mut self, labels: &Labels, ts: i64) {
        if let Some((_, tick)) = self.map.remove(labels) {
            self.order.remove(&tick);
        }
        if let Some((prev, prev_ts)) = self.last.take() {
            self.tick += 1;
            self.order.insert(self.tick, prev.clone());
            self.map.insert(prev, (prev_ts, self.tick));
        }
        self.last = Some((labels.clone(), ts));
        while self.map.len() + 1 > FUDGE_CAPACITY {
            match self.order.pop_first() {
                Some((_, oldest)) => {
                    self.map.remove(&oldest);
                }
                None => break,
            }
        }
    }

    /// Records `ts` as the latest timestamp of `labels` (LRU `Add`).
    pub(crate) fn record(&mut self, labels: &Labels, ts: i64) {
        if self.is_last(labels) {
            if let Some((_, t)) = &mut self.last {
                *t = ts;
            }
            return;
        }
        self.promote(labels, ts);
    }

    /// The latest timestamp of `labels` (LRU `Get`, which refreshes recency).
    pub(crate) fn get(&mut self, labels: &Labels) -> Option<i64> {
        if self.is_last(labels) {
            return self.last.as_ref().map(|(_, t)| *t);
        }
        let ts = self.map.get(labels)?.0;
        self.promote(labels, ts);
        Some(ts)
    }
}

/// A `timestamp` stage with format `RFC3339Nano` and `action_on_failure: fudge`.
pub(crate) struct Rfc3339NanoFudge {
    source: &'static str,
    history: FudgeHistory,
}

impl Rfc3339NanoFudge {
    pub(crate) fn new(source: &'static str) -> Self {
        Rfc3339NanoFudge {
            source,
            history: FudgeHistory::new(),
        }
    }

    pub(crate) fn apply(&mut self, e: &mut Entry) {
        let parsed = e
            .extracted
            .get(self.source)
            .and_then(|v| with_go_str(v, parse_rfc3339_nano).flatten());
        match parsed {
            Some(ts) => {
                e.timestamp = ts;
                self.history.record(&e.labels, ts);
            }
            None => {
                if let Some(last) = self.history.get(&e.labels) {
                    e.timestamp = last.saturating_add(1);
                    self.history.record(&e.labels, e.timestamp);
                }
            }
        }
    }
}

/// The built stage.
pub struct DockerStage {
    json: JsonStage,
    labels: LabelsStage,
    timestamp: Rfc3339NanoFudge,
    output: OutputStage,
}

impl DockerStage {
    /// The docker pipeline.
    pub fn new() -> Self {
        let exprs = [
            ("output".to_string(), "log".to_string()),
            ("stream".to_string(), "stream".to_string()),
            ("timestamp".to_string(), "time".to_string()),
        ];
        DockerStage {
            // These fixed expressions always compile.
            json: JsonStage::new(&exprs, None, false).unwrap_or_else(|_| unreachable!()),
            labels: LabelsStage::new(vec![("stream".into(), "stream".into())]),
            timestamp: Rfc3339NanoFudge::new("timestamp"),
            output: OutputStage::new("output"),
        }
    }
}

impl Default for DockerStage {
    fn default() -> Self {
        Self::new()
    }
}

impl Stage for DockerStage {
    /// Promtail's docker stage is a nested pipeline, whose name is `pipeline`.
    fn name(&self) -> &'static str {
        "pipeline"
    }

    fn process(&mut self, mut e: Entry, out: &mut Vec<Entry>) {
        copy_labels_to_extracted(&mut e);
        match docker_shape(&e.line) {
            Some((log, stream, time)) => {
                let (stream, time) = (
                    Value::Str(stream.into_owned()),
                    Value::Str(time.into_owned()),
                );
                e.extracted.insert_static("output", Value::Str(log));
                e.extracted.insert_static("stream", stream);
                e.extracted.insert_static("timestamp", time);
            }
            None => {
                self.json.apply(&mut e);
            }
        }
        self.labels.apply(&mut e);
        self.timestamp.apply(&mut e);
        self.output.apply(&mut e);
        out.push(e);
    }
}

/// Reads a line of the shape dockerd's json-file driver writes, `{"log":…,"stream":…,"time":…}`,
/// with `gocompat::jsonlog` (the json-file reader's decoder), returning the unescaped `log`,
/// `stream` and `time` as the json stage would extract them. `None` for anything else (other or
/// repeated keys, values that are not strings, `\u` escapes, raw control characters), which then
/// goes through the general JSON parser: on the lines read here both read the same values
/// (tested below).
fn docker_shape(line: &str) -> Option<(String, Cow<'_, str>, Cow<'_, str>)> {
    let b = line.as_bytes();
    if b.iter().fold(0u8, |acc, &c| acc | u8::from(c < 0x20)) != 0 {
        return None;
    }
    let l = gocompat::jsonlog::decode_str(line)
        .ok()
        .filter(|l| l.plain)?;
    Some((l.log?.into_owned(), l.stream?, l.time?))
}

/// Builds the stage; any config is ignored, as Promtail ignores it.
pub fn build(_ctx: &mut BuildCtx, _config: &Node) -> Result<Box<dyn Stage>, String> {
    Ok(Box::new(DockerStage::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On every line the fast reader accepts, the general json stage extracts the same values;
    /// on lines it declines, the stage still works through the general parser.
    #[test]
    fn docker_shape_agrees_with_the_json_stage() {
        let logs = [
            "",
            r"plain\n",
            r#"{\"level\":\"info\",\"msg\":\"a \\\"quoted\\\" word\"}\n"#,
            r"tab\there\r\nslash\/ bs\\ ff\f bell\b",
            r"caf\u00e9 \ud83d\ude00",
            r"lone \ud800 surrogate",
            r"bad \x escape",
            "ünïcödé ✓",
        ];
        let mut lines: Vec<String> = Vec::new();
        for log in logs {
            for stream in ["stdout", "stderr", "weird\\\"", ""] {
                lines.push(format!(
                    r#"{{"log":"{log}","stream":"{stream}","time":"2024-05-01T10:00:00.123456789Z"}}"#
                ));
            }
            lines.push(format!(
                r#"{{"log":"{log}","stream":"stdout","time":"x","attrs":{{}}}}"#
            ));
            lines.push(format!(
                r#"{{"log":"{log}", "stream":"stdout","time":"x"}}"#
            ));
            lines.push(format!(
                "{{\"log\":\"{log}\u{1}\",\"stream\":\"stdout\",\"time\":\"x\"}}"
            ));
            lines.push(format!(
                r#"{{"log":"{log}","stream":"stdout","time":"x"}} "#
            ));
            lines.push(format!(r#"{{"log":"{log}","stream":"stdout","time":"x""#));
        }
        let exprs = [
            ("output".to_string(), "log".to_string()),
            ("stream".to_string(), "stream".to_string()),
            ("timestamp".to_string(), "time".to_string()),
        ];
        let json = JsonStage::new(&exprs, None, false).unwrap();
        let mut fast_hits = 0;
        for line in &lines {
            let mut general = Entry::new(Labels::new(), 0, line.clone());
            json.apply(&mut general);
            if let Some((log, stream, time)) = docker_shape(line) {
                fast_hits += 1;
                assert_eq!(
                    general.extracted.get("output"),
                    Some(&Value::Str(log)),
                    "{line}"
                );
                assert_eq!(
                    general.extracted.get("stream"),
                    Some(&Value::Str(stream.into())),
                    "{line}"
                );
                assert_eq!(
                    general.extracted.get("timestamp"),
                    Some(&Value::Str(time.into())),
                    "{line}"
                );
            }
        }
        assert!(fast_hits >= 10, "{fast_hits}");
    }

    fn ts(s: &str) -> Option<i64> {
        parse_rfc3339_nano(s)
    }

    #[test]
    fn rfc3339_nano_like_go() {
        assert_eq!(ts("1970-01-01T00:00:01Z"), Some(1_000_000_000));
        assert_eq!(
            ts("2024-05-01T10:00:00.5Z"),
            Some(1_714_557_600_500_000_000)
        );
        assert_eq!(
            ts("2024-05-01T12:00:03.000000001+02:00"),
            Some(1_714_557_603_000_000_001)
        );
        assert_eq!(
            ts("2019-04-30T02:12:41.8443515Z"),
            Some(1_556_590_361_844_351_500)
        );
        // Extra fraction digits are truncated; a comma works; a one-digit hour works.
        assert_eq!(ts("1970-01-01T00:00:00.1234567891Z"), Some(123_456_789));
        assert_eq!(ts("1970-01-01T00:00:00,5Z"), Some(500_000_000));
        assert_eq!(ts("1970-01-01T1:00:00Z"), Some(3_600_000_000_000));
        for bad in [
            "hi!",
            "2024-05-01 10:00:00Z",
            "2024-05-01t10:00:00Z",
            "2024-05-01T10:00:00z",
            "2024-05-01T10:00:00",
            "2024-02-30T10:00:00Z",
            "2024-05-01T24:00:00Z",
            "2024-05-01T10:00:60Z",
            "2024-05-01T10:00:00+0200",
            "2024-05-01T10:00:00Zx",
            "2024-05-01T10:00:00.Z",
        ] {
            assert_eq!(ts(bad), None, "{bad}");
        }
    }

    fn entry(line: &str, labels: &[(&str, &str)]) -> Entry {
        let mut e = Entry::new(labels.iter().copied().collect(), 42, line.into());
        copy_labels_to_extracted(&mut e);
        e
    }

    #[test]
    fn documented_example() {
        // Docs: {"log":"log message\n","stream":"stderr","time":"2019-04-30T02:12:41.8443515Z"}
        let mut s = DockerStage::new();
        let mut out = Vec::new();
        s.process(
            entry(
                r#"{"log":"log message\n","stream":"stderr","time":"2019-04-30T02:12:41.8443515Z"}"#,
                &[("job", "j")],
            ),
            &mut out,
        );
        let e = &out[0];
        assert_eq!(e.line, "log message\n");
        assert_eq!(e.labels.get("stream"), Some("stderr"));
        assert_eq!(e.timestamp, 1_556_590_361_844_351_500);
        assert_eq!(
            e.extracted["timestamp"],
            Value::Str("2019-04-30T02:12:41.8443515Z".into())
        );
    }

    #[test]
    fn fudge_and_invalid() {
        let mut s = DockerStage::new();
        let mut out = Vec::new();
        for l in [
            r#"{"log":"first\n","stream":"stdout","time":"2024-05-01T10:00:00.5Z"}"#,
            r#"{"log":"bad time\n","stream":"stdout","time":"hi!"}"#,
            "i'm not json!",
            r#"{"log":"missing time\n","stream":"stdout"}"#,
        ] {
            s.process(entry(l, &[("job", "j")]), &mut out);
        }
        assert_eq!(out[0].timestamp, 1_714_557_600_500_000_000);
        assert_eq!(out[1].timestamp, 1_714_557_600_500_000_001);
        assert_eq!(out[1].line, "bad time\n");
        assert_eq!(out[2].timestamp, 42);
        assert_eq!(out[2].line, "i'm not json!");
        assert_eq!(out[2].labels.get("stream"), None);
        assert_eq!(out[3].timestamp, 1_714_557_600_500_000_002);
    }

    #[test]
    fn lru_evicts_oldest() {
        let mut h = FudgeHistory::new();
        let a: Labels = [("a", "1")].into_iter().collect();
        h.record(&a, 5);
        for i in 0..FUDGE_CAPACITY {
            let l: Labels = [("n", i.to_string())].into_iter().collect();
            h.record(&l, i as i64);
        }
        assert_eq!(h.get(&a), None);
        let l: Labels = [("n", "9999".to_string())].into_iter().collect();
        assert_eq!(h.get(&l), Some(9999));
    }
}
