//! The `metrics` stage: turns entries into Prometheus metrics; the entries themselves pass
//! through unchanged.
//!
//! Each configured metric is named `prefix + name` (prefix `promtail_custom_` by default) and is
//! labelled with the entry's labels, minus `__`-prefixed and invalid names. It is registered
//! through the `metrics` crate, with the configured `description` as HELP text, so whatever
//! recorder the process installed (the Prometheus exporter behind `/metrics`) renders it.
//!
//! * Counters: `match_all: true` counts every entry (or adds the line's byte length with
//!   `count_entry_bytes`); otherwise the counter updates when `source` exists in the extracted
//!   map, optionally only when its string value equals `value`. `inc` adds 1; `add` adds the
//!   value converted as Promtail's `getFloat` does (numbers, bools as 1/0, numeric strings, Go
//!   durations in seconds).
//! * Gauges: `set`, `inc`, `dec`, `add`, `sub` with the same conversions.
//! * Histograms: observe the converted value into the configured buckets (Prometheus' default
//!   buckets when none are given).
//!
//! Differences imposed by the `metrics` crate, documented so nobody is surprised:
//! * Its counters hold integers, so a counter whose action is `add` (without
//!   `count_entry_bytes`) is registered as a *gauge* that only goes up: values such as `1.5` or
//!   durations stay exact, and the sample lines match Promtail's, but `# TYPE` says `gauge`.
//!   A negative `add` (which makes Promtail panic) is skipped with a warning.
//! * Its histograms take their buckets from the exporter's build-time configuration, so each
//!   histogram is emitted as the three series families Prometheus scrapes from a histogram:
//!   `<name>_bucket{le}` and `<name>_count` counters and a `<name>_sum` gauge. The sample lines
//!   are the same as Promtail's; the `# TYPE` lines name three families instead of one.
//! * Each series is removed once it has not been updated for the metric's `max_idle_duration`
//!   (5m by default), checked on every scrape, as Promtail's metric vectors prune themselves: the
//!   names are declared to `telemetry::series`, which holds them instead of the exporter.

use metrics::Label;
use serde::Deserialize;

use crate::pipeline::{BuildCtx, Entry, Labels, Stage, Value};
use crate::telemetry::series::{self, Scope};
use gocompat::strconv::format_go_float_g;
use gocompat::yaml::{Node, NodeKind, RawNode, Resolved};

use gocompat::units::parse_go_duration_nanos as parse_go_duration;

const DEFAULT_PREFIX: &str = "promtail_custom_";
/// Promtail's default `max_idle_duration`.
const DEFAULT_MAX_IDLE: std::time::Duration = std::time::Duration::from_secs(300);
const DEFAULT_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawMetric {
    #[serde(rename = "type")]
    metric_type: String,
    description: String,
    source: Option<String>,
    prefix: String,
    max_idle_duration: Option<String>,
    config: Option<RawNode>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawCounter {
    value: Option<String>,
    action: String,
    match_all: Option<bool>,
    count_entry_bytes: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawGauge {
    value: Option<String>,
    action: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawHistogram {
    value: Option<String>,
    buckets: Vec<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CounterAction {
    Inc,
    Add,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GaugeAction {
    Set,
    Inc,
    Dec,
    Add,
    Sub,
}

#[derive(Debug)]
enum Kind {
    Counter {
        action: CounterAction,
        match_all: bool,
        count_bytes: bool,
    },
    Gauge(GaugeAction),
    Histogram {
        buckets: Vec<f64>,
        /// The `le` label of each bucket, formatted as Prometheus' Go client does.
        le: Vec<String>,
        bucket_name: String,
        sum_name: String,
        count_name: String,
    },
}

#[derive(Debug)]
struct Metric {
    name: String,
    source: String,
    value: Option<String>,
    kind: Kind,
}

/// The built stage.
pub struct MetricsStage {
    metrics: Vec<Metric>,
}

fn decode_sub<T: serde::de::DeserializeOwned + Default>(
    ctx: &mut BuildCtx,
    node: Option<&Node>,
) -> Result<T, String> {
    match node {
        None => Ok(T::default()),
        Some(n) => ctx.decode("metrics", n, false),
    }
}

/// Builds the stage from its config.
pub fn build(ctx: &mut BuildCtx, config: &Node) -> Result<Box<dyn Stage>, String> {
    let entries = match &config.kind {
        NodeKind::Map(entries) => entries,
        _ if config.is_null() => return Err("empty metric stage configuration".into()),
        _ => {
            return Err(format!(
                "1 error(s) decoding:\n\n* '' expected a map, got '{}'",
                match config.kind {
                    NodeKind::Seq(_) => "slice",
                    _ => "string",
                }
            ))
        }
    };
    let mut metrics = Vec::with_capacity(entries.len());
    for (key, def) in entries {
        let name = match key.resolve() {
            Some(Resolved::Str(s)) => s.to_string(),
            _ => {
                return Err(format!(
                    "1 error(s) decoding:\n\n* metric name at line {} must be a string",
                    key.line
                ))
            }
        };
        let raw: RawMetric = ctx.decode("metrics", def, false)?;
        let source = raw.source.clone().unwrap_or_else(|| name.clone());
        let metric_type = raw.metric_type.to_lowercase();
        if !matches!(metric_type.as_str(), "counter" | "gauge" | "histogram") {
            return Err(format!(
                "invalid metric type '{metric_type}', metric type must be one of 'counter', 'gauge', or 'histogram'"
            ));
        }
        let mut max_idle = DEFAULT_MAX_IDLE;
        if let Some(d) = &raw.max_idle_duration {
            let nanos = parse_go_duration(d).map_err(|e| {
                format!("max_idle_duration could not be parsed as a time.Duration: '{e}'")
            })?;
            if nanos < 1_000_000_000 {
                return Err("max_idle_duration less than 1s not allowed".into());
            }
            max_idle = std::time::Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX));
        }
        let idle = Scope::Idle(max_idle);
        let prefix = if raw.prefix.is_empty() {
            DEFAULT_PREFIX
        } else {
            raw.prefix.as_str()
        };
        let full_name = format!("{prefix}{name}");
        if !valid_metric_name(&full_name) {
            return Err(format!(
                "invalid metric name {full_name:?}: Prometheus metric names must match [a-zA-Z_:][a-zA-Z0-9_:]*"
            ));
        }
        let sub = raw.config.as_ref().map(|n| &n.0);
        let description = raw.description.clone();
        series::declare(&full_name, idle);
        let (kind, value) = match metric_type.as_str() {
            "counter" => {
                let c: RawCounter = decode_sub(ctx, sub)?;
                let kind = counter_kind(&c)?;
                match kind {
                    Kind::Counter {
                        action: CounterAction::Add,
                        count_bytes: false,
                        ..
                    } => metrics::describe_gauge!(full_name.clone(), description),
                    _ => metrics::describe_counter!(full_name.clone(), description),
                }
                (kind, c.value)
            }
            "gauge" => {
                let g: RawGauge = decode_sub(ctx, sub)?;
                if g.action.is_empty() {
                    return Err(
                        "gauge action must be defined as `set`, `inc`, `dec`, `add`, or `sub`"
                            .into(),
                    );
                }
                let action = match g.action.to_lowercase().as_str() {
                    "set" => GaugeAction::Set,
                    "inc" => GaugeAction::Inc,
                    "dec" => GaugeAction::Dec,
                    "add" => GaugeAction::Add,
                    "sub" => GaugeAction::Sub,
                    other => {
                        return Err(format!(
                            "action {other} is not valid, action must be `set`, `inc`, `dec`, `add`, or `sub`"
                        ))
                    }
                };
                metrics::describe_gauge!(full_name.clone(), description);
                (Kind::Gauge(action), g.value)
            }
            _ => {
                let h: RawHistogram = decode_sub(ctx, sub)?;
                let mut buckets = if h.buckets.is_empty() {
                    DEFAULT_BUCKETS.to_vec()
                } else {
                    h.buckets
                };
                buckets.retain(|b| !b.is_nan());
                buckets.sort_by(|a, b| a.total_cmp(b));
                buckets.dedup();
                if buckets.last() == Some(&f64::INFINITY) {
                    buckets.pop();
                }
                let le = buckets.iter().map(|b| format_go_float_g(*b)).collect();
                let bucket_name = format!("{full_name}_bucket");
                let sum_name = format!("{full_name}_sum");
                let count_name = format!("{full_name}_count");
                for n in [&bucket_name, &sum_name, &count_name] {
                    series::declare(n, idle);
                }
                metrics::describe_counter!(bucket_name.clone(), description.clone());
                metrics::describe_gauge!(sum_name.clone(), description.clone());
                metrics::describe_counter!(count_name.clone(), description);
                (
                    Kind::Histogram {
                        buckets,
                        le,
                        bucket_name,
                        sum_name,
                        count_name,
                    },
                    h.value,
                )
            }
        };
        metrics.push(Metric {
            name: full_name,
            source,
            value,
            kind,
        });
    }
    Ok(Box::new(MetricsStage { metrics }))
}

fn counter_kind(c: &RawCounter) -> Result<Kind, String> {
    if c.action.is_empty() {
        return Err("counter action must be defined as either `inc` or `add`".into());
    }
    let action = match c.action.to_lowercase().as_str() {
        "inc" => CounterAction::Inc,
        "add" => CounterAction::Add,
        other => {
            return Err(format!(
                "action {other} is not valid, action must be either `inc` or `add`"
            ))
        }
    };
    let match_all = c.match_all == Some(true);
    let count_bytes = c.count_entry_bytes == Some(true);
    if match_all && c.value.is_some() {
        return Err("`match_all: true` cannot be combined with `value`, please remove `match_all` or `value`".into());
    }
    if count_bytes && !match_all {
        return Err("`count_entry_bytes: true` can only be set with `match_all: true`".into());
    }
    if count_bytes && action != CounterAction::Add {
        return Err("`count_entry_bytes: true` can only be used with `action: add`".into());
    }
    Ok(Kind::Counter {
        action,
        match_all,
        count_bytes,
    })
}

fn valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The metric labels of an entry: its labels minus `__`-prefixed and invalid names, in name
/// order (as Prometheus' Go client prints them).
fn metric_labels(labels: &Labels) -> Vec<Label> {
    labels
        .iter()
        .filter(|(k, _)| !k.starts_with("__") && valid_label_name(k))
        .map(|(k, v)| Label::new(k.to_string(), v.to_string()))
        .collect()
}

/// Promtail's `getFloat`: numbers as they are, bools as 1/0, strings parsed as floats or else as
/// Go durations in seconds; null is an error.
pub fn get_float(v: &Value) -> Option<f64> {
    match v {
        Value::Float(f) => Some(*f),
        Value::Int(i) => Some(*i as f64),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        Value::Str(s) => parse_go_float(s).or_else(|| {
            parse_go_duration(s).ok().map(|d| {
                // time.Duration.Seconds(): whole seconds plus the remainder, as Go computes it.
                let (sec, nsec) = (d / 1_000_000_000, d % 1_000_000_000);
                sec as f64 + nsec as f64 / 1e9
            })
        }),
        Value::Null => None,
    }
}

/// Go's `strconv.ParseFloat(s, 64)` for the common syntaxes.
fn parse_go_float(s: &str) -> Option<f64> {
    let t = s.strip_prefix('+').unwrap_or(s);
    let lower = t.trim_start_matches('-').to_ascii_lowercase();
    if matches!(lower.as_str(), "inf" | "infinity" | "nan") {
        return s.parse().ok();
    }
    if s.is_empty()
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
    {
        return None;
    }
    s.parse().ok()
}

/// Rewrites the sample values of a text exposition rendered by `metrics-exporter-prometheus`
/// (Rust number formatting: `1234567`, `inf`) into the form Prometheus' Go client writes
/// (`1.234567e+06`, `+Inf`), so a `/metrics` endpoint can match Promtail's byte for byte.
/// Comment lines and label sets are left untouched.
pub fn to_go_exposition(rendered: &str) -> String {
    let mut out = String::with_capacity(rendered.len());
    for line in rendered.split_inclusive('\n') {
        let (body, nl) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        if body.starts_with('#') || body.is_empty() {
            out.push_str(line);
            continue;
        }
        match body.rsplit_once(' ') {
            Some((series, value)) => {
                let formatted = match value {
                    "inf" | "+inf" | "+Inf" => Some("+Inf".to_string()),
                    "-inf" | "-Inf" => Some("-Inf".to_string()),
                    "NaN" | "nan" => Some("NaN".to_string()),
                    v => v.parse::<f64>().ok().map(format_go_float_g),
                };
                match formatted {
                    Some(v) => {
                        out.push_str(series);
                        out.push(' ');
                        out.push_str(&v);
                        out.push_str(nl);
                    }
                    None => out.push_str(line),
                }
            }
            None => out.push_str(line),
        }
    }
    out
}

impl MetricsStage {
    fn record(metric: &Metric, labels: &[Label], v: Option<&Value>) {
        if let Some(want) = &metric.value {
            match v.and_then(|v| v.to_go_string()) {
                Some(s) if &s == want => {}
                _ => return,
            }
        }
        match &metric.kind {
            Kind::Counter {
                action,
                count_bytes,
                ..
            } => match action {
                CounterAction::Inc => {
                    metrics::counter!(metric.name.clone(), labels.iter()).increment(1)
                }
                CounterAction::Add if *count_bytes => {
                    if let Some(Value::Int(n)) = v {
                        metrics::counter!(metric.name.clone(), labels.iter())
                            .increment(u64::try_from(*n).unwrap_or(0));
                    }
                }
                CounterAction::Add => {
                    let Some(f) = v.and_then(get_float) else {
                        return;
                    };
                    if f < 0.0 {
                        tracing::warn!(
                            metric = %metric.name,
                            value = f,
                            "counter cannot decrease: negative `add` skipped (Promtail would panic)"
                        );
                        return;
                    }
                    metrics::gauge!(metric.name.clone(), labels.iter()).increment(f);
                }
            },
            Kind::Gauge(action) => {
                let gauge = || metrics::gauge!(metric.name.clone(), labels.iter());
                match action {
                    GaugeAction::Inc => gauge().increment(1.0),
                    GaugeAction::Dec => gauge().decrement(1.0),
                    GaugeAction::Set | GaugeAction::Add | GaugeAction::Sub => {
                        let Some(f) = v.and_then(get_float) else {
                            return;
                        };
                        match action {
                            GaugeAction::Set => gauge().set(f),
                            GaugeAction::Add => gauge().increment(f),
                            _ => gauge().decrement(f),
                        }
                    }
                }
            }
            Kind::Histogram {
                buckets,
                le,
                bucket_name,
                sum_name,
                count_name,
            } => {
                let Some(f) = v.and_then(get_float) else {
                    return;
                };
                let mut with_le = Vec::with_capacity(labels.len() + 1);
                for (bound, le) in buckets.iter().zip(le) {
                    with_le.clear();
                    with_le.extend_from_slice(labels);
                    with_le.push(Label::new("le", le.clone()));
                    let c = metrics::counter!(bucket_name.clone(), with_le.iter());
                    if f <= *bound {
                        c.increment(1);
                    }
                }
                with_le.clear();
                with_le.extend_from_slice(labels);
                with_le.push(Label::new("le", "+Inf"));
                metrics::counter!(bucket_name.clone(), with_le.iter()).increment(1);
                metrics::gauge!(sum_name.clone(), labels.iter()).increment(f);
                metrics::counter!(count_name.clone(), labels.iter()).increment(1);
            }
        }
    }
}

impl Stage for MetricsStage {
    fn name(&self) -> &'static str {
        "metrics"
    }

    fn process(&mut self, entry: Entry, out: &mut Vec<Entry>) {
        let mut labels: Option<Vec<Label>> = None;
        for metric in &self.metrics {
            if let Kind::Counter {
                match_all: true,
                count_bytes,
                ..
            } = metric.kind
            {
                let l = labels.get_or_insert_with(|| metric_labels(&entry.labels));
                let len = count_bytes.then_some(Value::Int(entry.line.len() as i64));
                Self::record(metric, l, len.as_ref());
                continue;
            }
            if let Some(v) = entry.extracted.get(&metric.source) {
                let l = labels.get_or_insert_with(|| metric_labels(&entry.labels));
                Self::record(metric, l, Some(v));
            }
        }
        out.push(entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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

    /// Runs `lines` (with extracted values) through a metrics stage under a local recorder and
    /// returns the rendered sample lines.
    fn render(cfg: &str, entries: Vec<Vec<(&str, Value)>>) -> Vec<String> {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            let mut stage = build_from(cfg).unwrap();
            let labels: Labels = [("job", "test"), ("__hidden", "x")].into_iter().collect();
            let mut out = Vec::new();
            for extracted in entries {
                let mut e = Entry::new(labels.clone(), 0, "line".into());
                for (k, v) in extracted {
                    e.extracted.insert(k.to_string(), v);
                }
                stage.process(e, &mut out);
            }
        });
        let mut lines: Vec<String> = handle
            .render()
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(String::from)
            .collect();
        lines.sort();
        lines
    }

    #[test]
    fn go_g_format() {
        for (f, want) in [
            (0.1, "0.1"),
            (1.0, "1"),
            (10.0, "10"),
            (0.005, "0.005"),
            (2.5, "2.5"),
            (1e6, "1e+06"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (0.00001, "1e-05"),
            (0.0001, "0.0001"),
            (-0.5, "-0.5"),
            (52.52, "52.52"),
        ] {
            assert_eq!(format_go_float_g(f), want, "{f}");
        }
    }

    #[test]
    fn go_exposition_values() {
        let rendered =
            "# HELP a help 1000000\n# TYPE a counter\na{x=\"1 2\"} 1234567\nb 17.3\nc inf\nd 0\n";
        assert_eq!(
            to_go_exposition(rendered),
            "# HELP a help 1000000\n# TYPE a counter\na{x=\"1 2\"} 1.234567e+06\nb 17.3\nc +Inf\nd 0\n"
        );
    }

    #[test]
    fn get_float_conversions() {
        assert_eq!(get_float(&Value::Str("1.5".into())), Some(1.5));
        assert_eq!(get_float(&Value::Str("-4".into())), Some(-4.0));
        assert_eq!(get_float(&Value::Str("0.5ms".into())), Some(0.0005));
        assert_eq!(get_float(&Value::Str("250ms".into())), Some(0.25));
        assert_eq!(get_float(&Value::Str("bad".into())), None);
        assert_eq!(get_float(&Value::Bool(true)), Some(1.0));
        assert_eq!(get_float(&Value::Int(3)), Some(3.0));
        assert_eq!(get_float(&Value::Null), None);
    }

    #[test]
    fn validation_errors() {
        for (cfg, want) in [
            ("", "empty metric stage configuration"),
            ("m: {type: Summary}", "invalid metric type 'summary', metric type must be one of 'counter', 'gauge', or 'histogram'"),
            ("m: {type: Counter, max_idle_duration: 10ms, config: {action: inc}}", "max_idle_duration less than 1s not allowed"),
            ("m: {type: Counter, max_idle_duration: '10', config: {action: inc}}", "max_idle_duration could not be parsed as a time.Duration: 'time: missing unit in duration \"10\"'"),
            ("m: {type: Counter}", "counter action must be defined as either `inc` or `add`"),
            ("m: {type: Counter, config: {action: dec}}", "action dec is not valid, action must be either `inc` or `add`"),
            ("m: {type: Counter, config: {action: inc, match_all: true, value: x}}", "`match_all: true` cannot be combined with `value`, please remove `match_all` or `value`"),
            ("m: {type: Counter, config: {action: add, count_entry_bytes: true}}", "`count_entry_bytes: true` can only be set with `match_all: true`"),
            ("m: {type: Counter, config: {action: inc, match_all: true, count_entry_bytes: true}}", "`count_entry_bytes: true` can only be used with `action: add`"),
            ("m: {type: Gauge}", "gauge action must be defined as `set`, `inc`, `dec`, `add`, or `sub`"),
            ("m: {type: Gauge, config: {action: mul}}", "action mul is not valid, action must be `set`, `inc`, `dec`, `add`, or `sub`"),
        ] {
            assert_eq!(build_from(cfg).err().unwrap(), want, "{cfg}");
        }
    }

    /// The documented counter example: count `order_status` values and sum a field.
    #[test]
    fn counters() {
        let samples = render(
            "log_lines_total:\n  type: Counter\n  description: total\n  source: tag\n  config:\n    action: inc\n\
             payload:\n  type: Counter\n  source: size\n  config:\n    action: add\n\
             successful_orders_total:\n  type: Counter\n  source: order_status\n  config:\n    value: success\n    action: inc\n\
             all:\n  type: Counter\n  config:\n    match_all: true\n    action: inc\n\
             bytes:\n  type: Counter\n  prefix: my_\n  config:\n    match_all: true\n    count_entry_bytes: true\n    action: add\n",
            vec![
                vec![
                    ("tag", Value::Str("a".into())),
                    ("size", Value::Str("1.5".into())),
                    ("order_status", Value::Str("success".into())),
                ],
                vec![
                    ("size", Value::Float(2.0)),
                    ("order_status", Value::Str("fail".into())),
                ],
                vec![],
            ],
        );
        assert_eq!(
            samples,
            vec![
                "my_bytes{job=\"test\"} 12",
                "promtail_custom_all{job=\"test\"} 3",
                "promtail_custom_log_lines_total{job=\"test\"} 1",
                "promtail_custom_payload{job=\"test\"} 3.5",
                "promtail_custom_successful_orders_total{job=\"test\"} 1",
            ]
        );
    }

    #[test]
    fn gauges_and_histograms() {
        let samples = render(
            "g:\n  type: Gauge\n  source: v\n  config:\n    action: add\n\
             h:\n  type: Histogram\n  source: v\n  config:\n    buckets: [1, 2]\n",
            vec![
                vec![("v", Value::Str("1.5".into()))],
                vec![("v", Value::Str("500ms".into()))],
                vec![("v", Value::Str("x".into()))],
            ],
        );
        assert_eq!(
            samples,
            vec![
                "promtail_custom_g{job=\"test\"} 2",
                "promtail_custom_h_bucket{job=\"test\",le=\"+Inf\"} 2",
                "promtail_custom_h_bucket{job=\"test\",le=\"1\"} 1",
                "promtail_custom_h_bucket{job=\"test\",le=\"2\"} 2",
                "promtail_custom_h_count{job=\"test\"} 2",
                "promtail_custom_h_sum{job=\"test\"} 2",
            ]
        );
    }
}
