//! Promtail's pipeline stages.
//!
//! A [`Pipeline`] is built once per job from its `pipeline_stages` and run once per line. It is
//! synchronous and does no IO: stages are pure over the [`Entry`] apart from metrics and, for the
//! few stages that hold entries (multiline, cri), the clock passed to [`Pipeline::tick`].
//!
//! Each stage lives in its own file under `stages/` and exposes
//! `pub fn build(ctx: &mut BuildCtx, config: &Node) -> Result<Box<dyn Stage>, String>`; the
//! registry in `stages/mod.rs` maps Promtail's stage names to those functions.

#[cfg(test)]
mod hostile_tests;
pub mod inspect;
pub mod stages;

pub use crate::core::entry::{Entry, Labels, Value, TENANT_LABEL};
use gocompat::yaml::{self, Mode, Node, NodeKind};
use inspect::inspect_diff;

/// Metric counting entries dropped by stages, labelled by `reason`.
pub const DROPPED_LINES: &str = "logentry_dropped_lines_total";

/// One pipeline stage.
pub trait Stage: Send {
    /// Promtail's name for the stage (used by `-inspect`).
    fn name(&self) -> &'static str;

    /// Processes one entry, pushing what it emits (usually the entry itself; nothing when it is
    /// dropped; several when held entries are released) onto `out`.
    fn process(&mut self, entry: Entry, out: &mut Vec<Entry>);

    /// Called periodically with the wall clock (Unix nanoseconds); stages that hold entries
    /// release those whose wait has expired.
    fn tick(&mut self, _now: i64, _out: &mut Vec<Entry>) {}

    /// Releases everything held (shutdown).
    fn flush(&mut self, _out: &mut Vec<Entry>) {}
}

/// What a stage's `build` function gets besides its config node.
pub struct BuildCtx<'a> {
    /// The scrape config's `job_name`.
    pub job: &'a str,
    /// Warnings to log once the pipeline is built (ignored keys, suspicious settings).
    pub warnings: &'a mut Vec<String>,
    /// Directory relative paths in stage configs (geoip `db`) resolve against.
    pub base_dir: Option<&'a std::path::Path>,
}

impl BuildCtx<'_> {
    /// Decodes a stage's config as Promtail's mapstructure does (`weak` = `WeakDecode`), recording
    /// ignored keys as warnings.
    pub fn decode<T: serde::de::DeserializeOwned>(
        &mut self,
        stage: &str,
        node: &Node,
        weak: bool,
    ) -> Result<T, String> {
        let mode = if weak {
            Mode::StageWeak
        } else {
            Mode::StageStrict
        };
        match yaml::from_node::<T>(node, mode) {
            Ok(d) => {
                for w in d.warnings {
                    self.warnings.push(format!("{stage} stage: {w}"));
                }
                Ok(d.value)
            }
            Err(e) => Err(e
                .0
                .iter()
                .map(|e| e.msg.clone())
                .collect::<Vec<_>>()
                .join("; ")),
        }
    }
}

/// A pipeline build error naming the job, the stage's index and its line.
#[derive(Debug, thiserror::Error)]
#[error("job {job:?}: pipeline_stages[{index}] (line {line}): {msg}")]
pub struct PipelineError {
    /// The job.
    pub job: String,
    /// Index of the failing stage in its list (nested lists count from 0 again).
    pub index: usize,
    /// Line of the stage in the config file.
    pub line: usize,
    /// Promtail's message, e.g. `invalid regex stage config: ...`.
    pub msg: String,
}

thread_local! {
    /// The failure the running stage reported for the entry it is processing.
    static FAILURE: std::cell::Cell<Option<&'static str>> = const { std::cell::Cell::new(None) };
}

/// Reports that the running stage could not process its entry (a line that is not JSON, a time
/// that does not parse, a template that fails): the entry goes on as Promtail lets it, and the
/// pipeline counts the failure in `ferrotail_stage_errors_total` and logs it at debug level with
/// the job, the stage and the line's position.
pub fn stage_failed(reason: &'static str) {
    FAILURE.with(|f| f.set(Some(reason)));
}

/// Counts and logs a failure the stage just reported, if any. `e` is the entry it came out as.
fn report_failure(job: &str, stage: &'static str, e: Option<&Entry>) {
    let Some(reason) = FAILURE.with(|f| f.take()) else {
        return;
    };
    metrics::counter!(crate::telemetry::metrics::STAGE_ERRORS, "job" => job.to_string(), "stage" => stage)
        .increment(1);
    let filename = e.and_then(|e| e.labels.get("filename")).unwrap_or("");
    let offset = e.and_then(|e| e.acks.last()).map(|a| a.end_offset());
    tracing::debug!(
        job,
        stage,
        reason,
        filename,
        block_end_offset = ?offset,
        "stage failed on a line; the line goes on"
    );
}

/// A built pipeline.
pub struct Pipeline {
    /// The job, for failure reports.
    job: std::sync::Arc<str>,
    stages: Vec<Box<dyn Stage>>,
    buf_a: Vec<Entry>,
    buf_b: Vec<Entry>,
    inspect: bool,
    label_values: crate::core::entry::LabelValuesCache,
}

impl Pipeline {
    /// An empty pipeline (entries pass through, labels copied into the extracted map).
    pub fn empty() -> Self {
        Pipeline {
            job: std::sync::Arc::from(""),
            stages: Vec::new(),
            buf_a: Vec::new(),
            buf_b: Vec::new(),
            label_values: Default::default(),
            inspect: inspect::enabled(),
        }
    }

    /// Builds the pipeline from a `pipeline_stages` node (a sequence, or null for none).
    pub fn build(ctx: &mut BuildCtx, stages: &Node) -> Result<Self, PipelineError> {
        let mut pipeline = Pipeline::empty();
        pipeline.job = std::sync::Arc::from(ctx.job);
        let items: &[Node] = match &stages.kind {
            NodeKind::Seq(items) => items,
            _ if stages.is_null() => &[],
            _ => {
                return Err(PipelineError {
                    job: ctx.job.to_string(),
                    index: 0,
                    line: stages.line,
                    msg: "pipeline_stages must be a list".into(),
                })
            }
        };
        for (index, item) in items.iter().enumerate() {
            let err = |msg: String| PipelineError {
                job: ctx.job.to_string(),
                index,
                line: item.line,
                msg,
            };
            let (key, config) = match &item.kind {
                NodeKind::Map(entries) if entries.len() == 1 => (&entries[0].0, &entries[0].1),
                NodeKind::Map(_) => return Err(err("pipeline stage must contain only one key".into())),
                _ => {
                    return Err(err(format!(
                        "invalid YAML config, make sure each stage of your pipeline is a YAML object (must end with a `:`), check stage `- {}`",
                        item.scalar_text().unwrap_or("")
                    )))
                }
            };
            let name = match key.resolve() {
                Some(yaml::Resolved::Str(s)) => s.to_string(),
                _ => return Err(err("pipeline stage key must be a string".into())),
            };
            let stage = stages::build(ctx, &name, config)
                .map_err(|m| err(format!("invalid {name} stage config: {m}")))?;
            pipeline.stages.push(stage);
        }
        Ok(pipeline)
    }

    /// Turns on `-inspect`: each stage's changes are printed to stderr.
    pub fn set_inspect(&mut self, on: bool) {
        self.inspect = on;
    }

    /// Number of stages.
    pub fn len(&self) -> usize {
        self.stages.len()
    }

    /// True when the pipeline has no stages.
    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    /// Runs one entry through every stage, appending the results to `out`.
    pub fn process(&mut self, mut entry: Entry, out: &mut Vec<Entry>) {
        if self.stages.is_empty() {
            out.push(entry);
            return;
        }
        // Promtail copies the labels into the extracted map at the start of every run.
        entry
            .extracted
            .copy_labels(&entry.labels, Some(&mut self.label_values));
        let mut cur = std::mem::take(&mut self.buf_a);
        cur.push(entry);
        self.run_from(0, cur, out);
    }

    /// Releases held entries whose wait expired.
    pub fn tick(&mut self, now: i64, out: &mut Vec<Entry>) {
        for i in 0..self.stages.len() {
            let mut held = std::mem::take(&mut self.buf_a);
            self.stages[i].tick(now, &mut held);
            if !held.is_empty() {
                self.run_from(i + 1, held, out);
            } else {
                self.buf_a = held;
            }
        }
    }

    /// Releases everything held (shutdown).
    pub fn flush(&mut self, out: &mut Vec<Entry>) {
        for i in 0..self.stages.len() {
            let mut held = std::mem::take(&mut self.buf_a);
            self.stages[i].flush(&mut held);
            if !held.is_empty() {
                self.run_from(i + 1, held, out);
            } else {
                self.buf_a = held;
            }
        }
    }

    fn run_from(&mut self, first: usize, mut cur: Vec<Entry>, out: &mut Vec<Entry>) {
        let mut next = std::mem::take(&mut self.buf_b);
        for stage in &mut self.stages[first..] {
            for e in cur.drain(..) {
                let start = next.len();
                if self.inspect {
                    let before = e.clone();
                    stage.process(e, &mut next);
                    inspect_diff(stage.name(), &before, &next[start..]);
                } else {
                    stage.process(e, &mut next);
                }
                report_failure(&self.job, stage.name(), next.get(start));
            }
            std::mem::swap(&mut cur, &mut next);
            if cur.is_empty() {
                break;
            }
        }
        out.append(&mut cur);
        self.buf_a = cur;
        self.buf_b = next;
    }
}

/// A stage file's `build` function.
pub type StageBuilder = fn(&mut BuildCtx, &Node) -> Result<Box<dyn Stage>, String>;

/// Builds one stage from YAML with a throw-away context (stage unit tests).
#[cfg(test)]
pub(crate) fn build_for_test(build: StageBuilder, yaml: &str) -> Result<Box<dyn Stage>, String> {
    let mut warnings = Vec::new();
    let mut ctx = BuildCtx {
        job: "t",
        warnings: &mut warnings,
        base_dir: None,
    };
    let node = yaml::parse(yaml).map_err(|e| e.to_string())?;
    build(&mut ctx, &node)
}

/// The stage-config cases of `tests/data/golden/errors/` that concern the parsing stages, run
/// through [`Pipeline::build`].
#[cfg(test)]
mod golden_errors {
    use super::{BuildCtx, Pipeline};
    use gocompat::yaml::parse;

    /// The `error="..."` text of the start-up log line, unescaped.
    fn expected_error(case: &str) -> String {
        let dir = format!(
            "{}/tests/data/golden/errors/{case}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(format!("{dir}/expected.txt")).unwrap();
        let line = text
            .lines()
            .find(|l| l.contains("error=\"failed to make file target manager: "))
            .unwrap();
        let start = line.find("error=\"").unwrap() + 7;
        let quoted = &line[start..line.len() - 1];
        let mut out = String::new();
        let mut chars = quoted.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('n') => out.push('\n'),
                    Some(o) => out.push(o),
                    None => {}
                }
            } else {
                out.push(c);
            }
        }
        out.trim_start_matches("failed to make file target manager: ")
            .to_string()
    }

    fn build_error(case: &str) -> String {
        let dir = format!(
            "{}/tests/data/golden/errors/{case}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(format!("{dir}/case.yml")).unwrap();
        let root = parse(&text).unwrap();
        let stages = match &root.get("scrape_configs").unwrap().kind {
            gocompat::yaml::NodeKind::Seq(items) => {
                items[0].get("pipeline_stages").unwrap().clone()
            }
            _ => panic!("no scrape config"),
        };
        let mut w = Vec::new();
        let mut ctx = BuildCtx {
            job: "golden",
            warnings: &mut w,
            base_dir: None,
        };
        match Pipeline::build(&mut ctx, &stages) {
            Ok(_) => String::from("<built>"),
            Err(e) => e.msg,
        }
    }

    #[test]
    fn stage_config_errors_match_promtail() {
        for case in [
            "006-bad-regex-in-stage",
            "012-stage-with-two-keys",
            "013-stage-as-scalar",
            "016-static-labels-int-value",
            "019-invalid-label-name",
            "020-yaml-bool-label-name",
            "024-json-unquoted-jmespath",
        ] {
            assert_eq!(build_error(case), expected_error(case), "{case}");
        }
    }
}
