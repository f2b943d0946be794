//! `-inspect`: what each pipeline stage changed, printed to stderr as Promtail 3.4 prints it.
//!
//! # The format
//!
//! One block per inspected stage and entry:
//!
//! ```text
//! [inspect: regex stage]:
//! {stages.Entry}.Extracted["level"]:
//!     +: info
//! [inspect: template stage]:
//! {stages.Entry}.Extracted["level"].(string):
//!     -: info
//!     +: INFO
//! [inspect: labels stage]:
//! {stages.Entry}.Entry.Labels:
//!     -: {job="app"}
//!     +: {job="app", level="INFO"}
//! [inspect: timestamp stage]:
//! {stages.Entry}.Entry.Entry.Timestamp:
//!     -: 2024-01-02 03:04:06.123 +0000 UTC
//!     +: 2024-01-02 03:04:05 +0000 UTC
//! [inspect: output stage]:
//! {stages.Entry}.Entry.Entry.Line:
//!     -: level=info msg=hi
//!     +: hi
//! [inspect: output stage]: none
//! ```
//!
//! The header is `[inspect: <stage> stage]: ` (with a trailing space, before the newline too),
//! then one `<path>:` line per difference followed by `-: <old>` (modifications and removals)
//! and/or `+: <new>` (modifications and additions), each indented by one tab (shown as spaces
//! above); `none` on the header line when nothing changed.
//! Promtail builds this by comparing a copy of the entry taken before the stage with the entry
//! after it with go-cmp, so the paths are go-cmp's Go-syntax paths into Promtail's
//! `stages.Entry` (the extracted map, then the embedded `api.Entry` with the labels, then the
//! embedded push entry with the timestamp and the line), compared in that field order:
//!
//! * extracted values are compared key by key, keys in sorted order; the key is Go-quoted
//!   (`%#v`); a value that changed but kept its Go type gets go-cmp's type assertion suffix
//!   (`.(string)`); a value that changed type (a json number replaced by a template's string)
//!   does not. The copy Promtail compares against went through a YAML round trip, which turns
//!   integral float64s below 1e6 into ints; this is modelled, as it decides the suffix.
//! * the label set is compared as a whole (it has an `Equal` method) and printed as Prometheus'
//!   `LabelSet.String()`;
//! * the timestamp is printed as Go's `Time.String()`; the old value (the read time, or a
//!   previous stage's) in the process's local zone, the new value (a parsed time) in UTC. An
//!   entry timestamp carries no zone here, so this is what Promtail prints for the common cases:
//!   a read time (`time.Now()`, local) replaced by a time parsed from `...Z` or from a layout
//!   without a zone (UTC). A time parsed with a local offset or a Unix format prints in the
//!   local zone in Promtail.
//! * values print with Go's `%v`: strings raw, float64 as `%v` does (`1e+06`), nil as `<nil>`.
//!
//! Colours are fatih/color's: the stage name bold, `none` red, a path and its `-` line yellow
//! for a modification, red for a removal, green for an addition, `+` lines green. fatih/color
//! turns colour off when stdout (not stderr) is not a terminal, when `NO_COLOR` is set to
//! anything non-empty or `TERM=dumb`; Promtail also turns it off on Windows.
//!
//! # Which stages
//!
//! Promtail inspects only the stages it wraps as plain processors: regex, logfmt, replace,
//! template, labels, labeldrop, labelallow, static_labels, timestamp, output and tenant. In
//! 3.4 json, metrics, drop, sampling, limit, multiline, pack, match, decolorize,
//! eventlogmessage, geoip and structured_metadata run as their own stages and print nothing
//! (loki#4335); the stages nested in a `match` are inspected. `docker` and `cri` are nested
//! pipelines whose inner stages are inspected by their own names: docker prints labels,
//! timestamp and output blocks (its json step is not inspected), cri prints regex, labels,
//! timestamp, output and output (the second, `tags`, is always `none`), for every line
//! including partial ones, before partial lines are joined. ferrotail runs these as one stage
//! and so derives the inner blocks from the entry before and after it.
//!
//! Sources: Promtail's troubleshooting documentation ("Inspecting pipeline stages"), example
//! output posted in loki#10753 and elsewhere, loki#4335 and loki#14310 for the uninspected
//! stages, and go-cmp's and fatih/color's documented behaviour.

use std::io::{IsTerminal as _, Write as _};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use super::{Entry, Labels, Value};
use crate::core::entry::Extracted;
use gocompat::strconv::go_quote_into;
use gocompat::template::value::fmt_float_v;
use gocompat::time::{parse_rfc3339_nano, GoTime, Loc};

/// Process-wide `-inspect`, like Promtail's `stages.Inspect`.
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Turns `-inspect` on for the whole process. Pipelines read it when they are built (nested
/// ones included), so call it before building them.
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// True once [`enable`] was called.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The stages Promtail 3.4 inspects under their own name.
const INSPECTED: &[&str] = &[
    "regex",
    "logfmt",
    "replace",
    "template",
    "labels",
    "labeldrop",
    "labelallow",
    "static_labels",
    "timestamp",
    "output",
    "tenant",
];

/// Prints to stderr what `stage` changed, given the entry before it and what it emitted.
pub(crate) fn inspect_diff(stage: &str, before: &Entry, after: &[Entry]) {
    let style = Style {
        color: use_color(),
        local: Loc::Local,
    };
    let text = render(stage, before, after, &style);
    if !text.is_empty() {
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }
}

/// fatih/color's default: colour only when stdout is a terminal, `NO_COLOR` is unset or empty
/// and `TERM` is not `dumb` (and never on Windows, where Promtail disables it).
fn use_color() -> bool {
    static COLOR: OnceLock<bool> = OnceLock::new();
    *COLOR.get_or_init(|| {
        !cfg!(windows)
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            && std::env::var_os("TERM").is_none_or(|v| v != "dumb")
            && std::io::stdout().is_terminal()
    })
}

/// How blocks are rendered.
struct Style {
    /// ANSI colours on.
    color: bool,
    /// The zone old timestamps print in (Go's `time.Local`).
    local: Loc,
}

impl Style {
    /// fatih/color's `Sprintf`: the SGR code, the text, then the code's reset (22 for bold,
    /// 0 for a colour).
    fn paint(&self, out: &mut String, code: u8, text: &str) {
        if !self.color {
            out.push_str(text);
            return;
        }
        let reset = if code == BOLD { 22 } else { 0 };
        out.push_str(&format!("\x1b[{code}m{text}\x1b[{reset}m"));
    }
}

const BOLD: u8 = 1;
const RED: u8 = 31;
const GREEN: u8 = 32;
const YELLOW: u8 = 33;

/// The blocks for one stage run (empty when Promtail prints nothing for it).
fn render(stage: &str, before: &Entry, after: &[Entry], style: &Style) -> String {
    let mut out = String::new();
    match stage {
        // ferrotail's docker stage, named like Promtail's nested pipeline.
        "pipeline" => docker(&mut out, before, after, style),
        "cri" => cri(&mut out, before, after, style),
        name if INSPECTED.contains(&name) => {
            if let [a] = after {
                block(&mut out, name, View::of(before), View::of(a), style);
            }
        }
        _ => {}
    }
    out
}

/// The part of an entry that is compared.
#[derive(Clone, Copy)]
struct View<'a> {
    extracted: &'a Extracted,
    labels: &'a Labels,
    timestamp: i64,
    line: &'a str,
}

impl<'a> View<'a> {
    fn of(e: &'a Entry) -> Self {
        View {
            extracted: &e.extracted,
            labels: &e.labels,
            timestamp: e.timestamp,
            line: &e.line,
        }
    }
}

/// Docker's inner `labels{stream}`, `timestamp{timestamp}` and `output{output}` blocks. Each
/// inner stage touches one field, so the states between them follow from before and after.
fn docker(out: &mut String, before: &Entry, after: &[Entry], style: &Style) {
    let [a] = after else { return };
    let s1 = View {
        extracted: &a.extracted,
        ..View::of(before)
    };
    let s2 = View {
        labels: &a.labels,
        ..s1
    };
    let s3 = View {
        timestamp: a.timestamp,
        ..s2
    };
    block(out, "labels", s1, s2, style);
    block(out, "timestamp", s2, s3, style);
    block(out, "output", s3, View::of(a), style);
}

/// Cri's inner regex, `labels{stream}`, `timestamp{time}`, `output{content}` and
/// `output{tags}` blocks for this line, as they run before partial lines are joined (so also
/// for a partial line the stage holds back). Rebuilt from the line; only a timestamp Promtail
/// would fudge is taken from the stage's result.
fn cri(out: &mut String, before: &Entry, after: &[Entry], style: &Style) {
    // The nested pipeline copies the labels into the extracted map first (not inspected).
    let mut seeded = before.extracted.clone();
    for (k, v) in before.labels.iter() {
        seeded.insert(k.to_string(), Value::Str(v.to_string()));
    }
    let s0 = View {
        extracted: &seeded,
        ..View::of(before)
    };
    let mut ex = seeded.clone();
    if let Some((time, stream, flags, content)) = split_cri(&before.line) {
        for (k, v) in [
            ("time", time),
            ("stream", stream),
            ("flags", flags),
            ("content", content),
        ] {
            ex.insert(k.to_string(), Value::Str(v.to_string()));
        }
    }
    let s1 = View {
        extracted: &ex,
        ..s0
    };
    let mut labels = before.labels.clone();
    if let Some(v) = ex.get("stream").and_then(Value::to_go_string) {
        labels.insert("stream", v);
    }
    let s2 = View {
        labels: &labels,
        ..s1
    };
    let parsed = ex
        .get("time")
        .and_then(Value::to_go_string)
        .and_then(|t| parse_rfc3339_nano(&t));
    let timestamp = match (parsed, after) {
        (Some(ts), _) => ts,
        // Fudged from the stream's last timestamp, which only the stage knows.
        (None, [a]) => a.timestamp,
        (None, _) => before.timestamp,
    };
    let s3 = View { timestamp, ..s2 };
    let content = ex.get("content").and_then(Value::to_go_string);
    let s4 = View {
        line: content.as_deref().unwrap_or(s3.line),
        ..s3
    };
    let tags = ex.get("tags").and_then(Value::to_go_string);
    let s5 = View {
        line: tags.as_deref().unwrap_or(s4.line),
        ..s4
    };
    block(out, "regex", s0, s1, style);
    block(out, "labels", s1, s2, style);
    block(out, "timestamp", s2, s3, style);
    block(out, "output", s3, s4, style);
    block(out, "output", s4, s5, style);
}

/// Matches Promtail's CRI expression
/// `^(?s)(?P<time>\S+?) (?P<stream>stdout|stderr) (?P<flags>\S+?) (?P<content>.*)$`:
/// `\S` excludes RE2's `\s` (`[\t\n\f\r ]`), so each lazy group runs to the first whitespace,
/// which must be a space.
fn split_cri(line: &str) -> Option<(&str, &str, &str, &str)> {
    fn field(s: &str) -> Option<(&str, &str)> {
        let end = s
            .bytes()
            .position(|c| matches!(c, b'\t' | b'\n' | b'\x0c' | b'\r' | b' '))?;
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

/// Appends one stage's block.
fn block(out: &mut String, stage: &str, b: View, a: View, style: &Style) {
    let mut lines: Vec<String> = Vec::new();
    diff_extracted(&mut lines, b.extracted, a.extracted, style);
    if b.labels != a.labels {
        modified(
            &mut lines,
            "{stages.Entry}.Entry.Labels",
            &b.labels.display_string(),
            &a.labels.display_string(),
            style,
        );
    }
    if b.timestamp != a.timestamp {
        modified(
            &mut lines,
            "{stages.Entry}.Entry.Entry.Timestamp",
            &GoTime::from_unix_nanos(b.timestamp, style.local.clone()).go_string(),
            &GoTime::from_unix_nanos(a.timestamp, Loc::Utc).go_string(),
            style,
        );
    }
    if b.line != a.line {
        modified(
            &mut lines,
            "{stages.Entry}.Entry.Entry.Line",
            b.line,
            a.line,
            style,
        );
    }
    out.push_str("[inspect: ");
    style.paint(out, BOLD, stage);
    out.push_str(" stage]: ");
    if lines.is_empty() {
        style.paint(out, RED, "none");
    } else {
        out.push('\n');
        out.push_str(&lines.join("\n"));
    }
    out.push('\n');
}

/// A path whose value changed: yellow title, yellow old value, green new value.
fn modified(lines: &mut Vec<String>, path: &str, old: &str, new: &str, style: &Style) {
    let mut s = String::new();
    style.paint(&mut s, YELLOW, &format!("{path}:"));
    lines.push(s);
    let mut s = String::new();
    style.paint(&mut s, YELLOW, &format!("\t-: {old}"));
    lines.push(s);
    let mut s = String::new();
    style.paint(&mut s, GREEN, &format!("\t+: {new}"));
    lines.push(s);
}

/// The extracted map compared key by key, as go-cmp walks a `map[string]interface{}`.
fn diff_extracted(lines: &mut Vec<String>, b: &Extracted, a: &Extracted, style: &Style) {
    let mut keys: Vec<&str> = b.keys().chain(a.keys()).collect();
    keys.sort_unstable();
    keys.dedup();
    for k in keys {
        let mut path = String::from("{stages.Entry}.Extracted[");
        go_quote_into(&mut path, k);
        path.push(']');
        match (b.get(k).map(yaml_round_trip), a.get(k)) {
            (Some(old), Some(new)) => {
                let (old_s, new_s) = (go_v(&old), go_v(new));
                // go-cmp reports unequal values; Promtail drops those that print alike.
                if old_s == new_s {
                    continue;
                }
                if let (Some(t), Some(u)) = (go_type(&old), go_type(new)) {
                    if t == u {
                        path.push_str(".(");
                        path.push_str(t);
                        path.push(')');
                    }
                }
                modified(lines, &path, &old_s, &new_s, style);
            }
            (Some(old), None) => {
                let mut s = String::new();
                style.paint(&mut s, RED, &format!("{path}:"));
                lines.push(s);
                let mut s = String::new();
                style.paint(&mut s, RED, &format!("\t-: {}", go_v(&old)));
                lines.push(s);
            }
            (None, Some(new)) => {
                let mut s = String::new();
                style.paint(&mut s, GREEN, &format!("{path}:"));
                lines.push(s);
                let mut s = String::new();
                style.paint(&mut s, GREEN, &format!("\t+: {}", go_v(new)));
                lines.push(s);
            }
            (None, None) => {}
        }
    }
}

/// The value as it comes back from Promtail's YAML copy of the entry: a float64 that YAML
/// writes without a fraction or exponent (`strconv.FormatFloat(f, 'g', -1, 64)`: integral
/// and below 1e6 in magnitude) is read back as an int.
fn yaml_round_trip(v: &Value) -> Value {
    match v {
        Value::Float(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e6 => {
            Value::Int(*f as i64)
        }
        other => other.clone(),
    }
}

/// Go's `%v` of the value.
fn go_v(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => fmt_float_v(*f),
        Value::Str(s) => s.clone(),
    }
}

/// The Go type of the value (none for nil).
fn go_type(v: &Value) -> Option<&'static str> {
    match v {
        Value::Null => None,
        Value::Bool(_) => Some("bool"),
        Value::Int(_) => Some("int"),
        Value::Float(_) => Some("float64"),
        Value::Str(_) => Some("string"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::{stages, BuildCtx, Stage};
    use gocompat::yaml;

    const T0: i64 = 1_700_000_000_000_000_000; // 2023-11-14 22:13:20 UTC

    fn plain() -> Style {
        Style {
            color: false,
            local: Loc::Utc,
        }
    }

    fn stage(name: &str, config: &str) -> Box<dyn Stage> {
        let mut warnings = Vec::new();
        let mut ctx = BuildCtx {
            job: "t",
            warnings: &mut warnings,
            base_dir: None,
        };
        let node = yaml::parse(config).unwrap();
        stages::build(&mut ctx, name, &node).unwrap()
    }

    /// An entry as the pipeline hands it to its first stage (labels copied into extracted).
    fn entry(line: &str, extra: &[(&str, Value)]) -> Entry {
        let labels: Labels = [("job", "app")].into_iter().collect();
        let mut e = Entry::new(labels, T0, line.to_string());
        e.extracted
            .insert("job".to_string(), Value::Str("app".to_string()));
        for (k, v) in extra {
            e.extracted.insert(k.to_string(), v.clone());
        }
        e
    }

    /// Runs one stage on `before` and renders its inspect output.
    fn inspect(name: &str, config: &str, before: &Entry, style: &Style) -> String {
        let mut s = stage(name, config);
        let mut out = Vec::new();
        s.process(before.clone(), &mut out);
        render(s.name(), before, &out, style)
    }

    #[test]
    fn regex_adds_extracted_values() {
        let e = entry("level=info msg=hello world", &[]);
        let got = inspect(
            "regex",
            r#"{expression: '^level=(?P<level>\w+) msg=(?P<msg>.*)$'}"#,
            &e,
            &plain(),
        );
        assert_eq!(
            got,
            "[inspect: regex stage]: \n\
             {stages.Entry}.Extracted[\"level\"]:\n\
             \t+: info\n\
             {stages.Entry}.Extracted[\"msg\"]:\n\
             \t+: hello world\n"
        );
    }

    #[test]
    fn labels_stage_adds_a_label() {
        let e = entry("x", &[("level", Value::Str("info".into()))]);
        let got = inspect("labels", "{level: }", &e, &plain());
        assert_eq!(
            got,
            "[inspect: labels stage]: \n\
             {stages.Entry}.Entry.Labels:\n\
             \t-: {job=\"app\"}\n\
             \t+: {job=\"app\", level=\"info\"}\n"
        );
    }

    #[test]
    fn timestamp_stage_changes_the_timestamp() {
        let e = entry(
            "x",
            &[("time", Value::Str("2024-01-02T03:04:05.123456789Z".into()))],
        );
        let config = "{source: time, format: RFC3339Nano}";
        let got = inspect("timestamp", config, &e, &plain());
        assert_eq!(
            got,
            "[inspect: timestamp stage]: \n\
             {stages.Entry}.Entry.Entry.Timestamp:\n\
             \t-: 2023-11-14 22:13:20 +0000 UTC\n\
             \t+: 2024-01-02 03:04:05.123456789 +0000 UTC\n"
        );
        // The old value (the read time) prints in the local zone, the parsed one in UTC.
        let berlin = Style {
            color: false,
            local: Loc::load("Europe/Berlin").unwrap(),
        };
        let got = inspect("timestamp", config, &e, &berlin);
        assert!(
            got.contains("\t-: 2023-11-14 23:13:20 +0100 CET\n\t+: 2024-01-02 03:04:05.123456789 +0000 UTC\n"),
            "{got}"
        );
    }

    #[test]
    fn output_stage_changes_the_line() {
        let e = entry("level=info msg=hi", &[("msg", Value::Str("hi".into()))]);
        let got = inspect("output", "{source: msg}", &e, &plain());
        assert_eq!(
            got,
            "[inspect: output stage]: \n\
             {stages.Entry}.Entry.Entry.Line:\n\
             \t-: level=info msg=hi\n\
             \t+: hi\n"
        );
    }

    #[test]
    fn a_stage_that_changes_nothing_prints_none() {
        let e = entry("no match here", &[]);
        let got = inspect(
            "regex",
            r#"{expression: '^level=(?P<level>\w+)'}"#,
            &e,
            &plain(),
        );
        assert_eq!(got, "[inspect: regex stage]: none\n");
        // An output stage whose source is missing: also none.
        assert_eq!(
            inspect("output", "{source: nope}", &e, &plain()),
            "[inspect: output stage]: none\n"
        );
    }

    #[test]
    fn drops_and_uninspected_stages_print_nothing() {
        // Promtail's drop stage is not a processor stage: a dropped entry shows no block, and
        // neither does one it lets through.
        let e = entry("a debug line", &[]);
        assert_eq!(
            inspect("drop", "{expression: '.*debug.*'}", &e, &plain()),
            ""
        );
        assert_eq!(inspect("drop", "{expression: '^nope$'}", &e, &plain()), "");
        assert_eq!(
            inspect(
                "match",
                "{selector: '{job=\"app\"}', action: drop}",
                &e,
                &plain()
            ),
            ""
        );
        // json (3.x runs it as its own stage, for drop_malformed) changes values unseen.
        let j = entry(r#"{"level":"info"}"#, &[]);
        assert_eq!(
            inspect("json", "{expressions: {level: }}", &j, &plain()),
            ""
        );
    }

    #[test]
    fn template_modifications_removals_and_type_changes() {
        // Same type: go-cmp's type assertion suffix.
        let e = entry("x", &[("level", Value::Str("info".into()))]);
        let got = inspect(
            "template",
            "{source: level, template: '{{ ToUpper .Value }}'}",
            &e,
            &plain(),
        );
        assert_eq!(
            got,
            "[inspect: template stage]: \n\
             {stages.Entry}.Extracted[\"level\"].(string):\n\
             \t-: info\n\
             \t+: INFO\n"
        );
        // A json number replaced by a string: no suffix; the number prints as Go's %v.
        let e = entry("x", &[("status", Value::Float(200.0))]);
        let got = inspect(
            "template",
            r#"{source: status, template: '{{ if eq .Value "200" }}ok{{ end }}'}"#,
            &e,
            &plain(),
        );
        assert_eq!(
            got,
            "[inspect: template stage]: \n\
             {stages.Entry}.Extracted[\"status\"]:\n\
             \t-: 200\n\
             \t+: ok\n"
        );
        // An empty result deletes the key: a removal.
        let e = entry("x", &[("gone", Value::Str("v".into()))]);
        let got = inspect("template", "{source: gone, template: ''}", &e, &plain());
        assert_eq!(
            got,
            "[inspect: template stage]: \n\
             {stages.Entry}.Extracted[\"gone\"]:\n\
             \t-: v\n"
        );
    }

    #[test]
    fn extracted_values_print_as_go_does() {
        let mut b = entry("x", &[]);
        b.extracted.insert("big", Value::Float(1_234_567.0));
        b.extracted.insert("n", Value::Null);
        b.extracted.insert("ok", Value::Bool(true));
        let mut a = b.clone();
        a.extracted.insert("big", Value::Float(2.5));
        a.extracted.insert("n", Value::Str("set".into()));
        a.extracted.insert("ok", Value::Bool(false));
        a.extracted.insert("q\"k", Value::Null);
        // A float that comes back from YAML as an int equals its float: not a change.
        a.extracted.insert("job", Value::Str("app".into()));
        let got = render("replace", &b, std::slice::from_ref(&a), &plain());
        assert_eq!(
            got,
            "[inspect: replace stage]: \n\
             {stages.Entry}.Extracted[\"big\"].(float64):\n\
             \t-: 1.234567e+06\n\
             \t+: 2.5\n\
             {stages.Entry}.Extracted[\"n\"]:\n\
             \t-: <nil>\n\
             \t+: set\n\
             {stages.Entry}.Extracted[\"ok\"].(bool):\n\
             \t-: true\n\
             \t+: false\n\
             {stages.Entry}.Extracted[\"q\\\"k\"]:\n\
             \t+: <nil>\n"
        );
        let mut b = entry("x", &[("s", Value::Float(200.0))]);
        let mut a = b.clone();
        a.extracted.insert("s", Value::Float(300.0));
        assert!(render("replace", &b, std::slice::from_ref(&a), &plain())
            .contains("{stages.Entry}.Extracted[\"s\"]:\n\t-: 200\n\t+: 300\n"));
        b.extracted.insert("s", Value::Str("200".into()));
        a.extracted.insert("s", Value::Float(200.0));
        assert_eq!(
            render("replace", &b, std::slice::from_ref(&a), &plain()),
            "[inspect: replace stage]: none\n"
        );
    }

    #[test]
    fn colours_are_fatih_colors() {
        let style = Style {
            color: true,
            local: Loc::Utc,
        };
        let e = entry("x", &[("level", Value::Str("info".into()))]);
        let got = inspect(
            "template",
            "{source: level, template: '{{ ToUpper .Value }}'}",
            &e,
            &style,
        );
        assert_eq!(
            got,
            "[inspect: \x1b[1mtemplate\x1b[22m stage]: \n\
             \x1b[33m{stages.Entry}.Extracted[\"level\"].(string):\x1b[0m\n\
             \x1b[33m\t-: info\x1b[0m\n\
             \x1b[32m\t+: INFO\x1b[0m\n"
        );
        let got = inspect("regex", "{expression: 'nope'}", &e, &style);
        assert_eq!(
            got,
            "[inspect: \x1b[1mregex\x1b[22m stage]: \x1b[31mnone\x1b[0m\n"
        );
        let mut a = e.clone();
        a.extracted.remove("level");
        a.extracted.insert("new", Value::Str("v".into()));
        assert_eq!(
            render("replace", &e, std::slice::from_ref(&a), &style),
            "[inspect: \x1b[1mreplace\x1b[22m stage]: \n\
             \x1b[31m{stages.Entry}.Extracted[\"level\"]:\x1b[0m\n\
             \x1b[31m\t-: info\x1b[0m\n\
             \x1b[32m{stages.Entry}.Extracted[\"new\"]:\x1b[0m\n\
             \x1b[32m\t+: v\x1b[0m\n"
        );
    }

    #[test]
    fn docker_prints_its_inner_labels_timestamp_and_output_stages() {
        let e = entry(
            r#"{"log":"hello\n","stream":"stderr","time":"2024-01-02T03:04:05.5Z"}"#,
            &[],
        );
        let got = inspect("docker", "{}", &e, &plain());
        assert_eq!(
            got,
            "[inspect: labels stage]: \n\
             {stages.Entry}.Entry.Labels:\n\
             \t-: {job=\"app\"}\n\
             \t+: {job=\"app\", stream=\"stderr\"}\n\
             [inspect: timestamp stage]: \n\
             {stages.Entry}.Entry.Entry.Timestamp:\n\
             \t-: 2023-11-14 22:13:20 +0000 UTC\n\
             \t+: 2024-01-02 03:04:05.5 +0000 UTC\n\
             [inspect: output stage]: \n\
             {stages.Entry}.Entry.Entry.Line:\n\
             \t-: {\"log\":\"hello\\n\",\"stream\":\"stderr\",\"time\":\"2024-01-02T03:04:05.5Z\"}\n\
             \t+: hello\n\n"
        );
        // Not JSON: the three inner stages change nothing.
        let got = inspect("docker", "{}", &entry("plain", &[]), &plain());
        assert_eq!(
            got,
            "[inspect: labels stage]: none\n\
             [inspect: timestamp stage]: none\n\
             [inspect: output stage]: none\n"
        );
    }

    #[test]
    fn cri_prints_its_inner_stages_for_every_line() {
        let expected = |flags: &str, content: &str| {
            format!(
                "[inspect: regex stage]: \n\
                 {{stages.Entry}}.Extracted[\"content\"]:\n\
                 \t+: {content}\n\
                 {{stages.Entry}}.Extracted[\"flags\"]:\n\
                 \t+: {flags}\n\
                 {{stages.Entry}}.Extracted[\"stream\"]:\n\
                 \t+: stdout\n\
                 {{stages.Entry}}.Extracted[\"time\"]:\n\
                 \t+: 2024-01-02T03:04:05Z\n\
                 [inspect: labels stage]: \n\
                 {{stages.Entry}}.Entry.Labels:\n\
                 \t-: {{job=\"app\"}}\n\
                 \t+: {{job=\"app\", stream=\"stdout\"}}\n\
                 [inspect: timestamp stage]: \n\
                 {{stages.Entry}}.Entry.Entry.Timestamp:\n\
                 \t-: 2023-11-14 22:13:20 +0000 UTC\n\
                 \t+: 2024-01-02 03:04:05 +0000 UTC\n\
                 [inspect: output stage]: \n\
                 {{stages.Entry}}.Entry.Entry.Line:\n\
                 \t-: 2024-01-02T03:04:05Z stdout {flags} {content}\n\
                 \t+: {content}\n\
                 [inspect: output stage]: none\n"
            )
        };
        let mut s = stage("cri", "{}");
        let mut out = Vec::new();
        // A partial line is held by the stage, but Promtail inspects it before holding it.
        let p = entry("2024-01-02T03:04:05Z stdout P part one ", &[]);
        s.process(p.clone(), &mut out);
        assert!(out.is_empty());
        assert_eq!(
            render("cri", &p, &out, &plain()),
            expected("P", "part one ")
        );
        // The full line completes it; its blocks show this line's content, not the joined one.
        let f = entry("2024-01-02T03:04:05Z stdout F and two", &[]);
        s.process(f.clone(), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].line, "part one and two");
        assert_eq!(render("cri", &f, &out, &plain()), expected("F", "and two"));
    }

    #[test]
    fn cri_expression() {
        assert_eq!(
            split_cri("t stderr F a b\nc"),
            Some(("t", "stderr", "F", "a b\nc"))
        );
        assert_eq!(split_cri("t stdout F "), Some(("t", "stdout", "F", "")));
        assert_eq!(split_cri("t stdout F"), None);
        assert_eq!(split_cri("t\tstdout F x"), None);
        assert_eq!(split_cri(" stdout F x"), None);
        assert_eq!(split_cri("t stdoutx F x"), None);
        assert_eq!(split_cri("t stdout  x"), None);
    }
}
