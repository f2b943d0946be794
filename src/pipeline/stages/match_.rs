//! The `match` stage: runs nested stages on, or drops, the entries a selector picks.
//!
//! The selector is Promtail's restricted LogQL grammar (see [`gocompat::logql`]): label
//! matchers against the entry's current labels plus optional line filters. With `action: keep`
//! (the default) a matching entry runs through the nested `stages`, which form a full
//! [`Pipeline`] and so copy the labels into the extracted map again at their start (Promtail
//! does the same: a value a parser extracted under a label's name is overwritten by the label's
//! value, inside the match and after it). A non-matching entry passes through untouched. With
//! `action: drop` a matching entry is dropped and counted in
//! `logentry_dropped_lines_total{reason}` (`match_stage` unless `drop_counter_reason` is set).
//!
//! `pipeline_name` is accepted and validated but, as in Promtail, has no observable effect.
//!
//! Difference from Promtail: a label-matcher regex that does not compile (`{job=~"("}`) makes
//! Promtail panic at start-up with exit code 2. ferrotail refuses the config with an error that
//! names the matcher and the selector instead.

use serde::Deserialize;

use crate::pipeline::{BuildCtx, Entry, Pipeline, Stage};
use gocompat::logql::{self, CompiledSelector, SelectorError};
use gocompat::yaml::{Node, NodeKind, RawNode, Resolved};

use super::drop::count_dropped;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawConfig {
    selector: Option<String>,
    pipeline_name: Option<String>,
    action: Option<String>,
    drop_counter_reason: Option<String>,
    stages: Option<RawNode>,
}

enum Action {
    Keep(Box<Pipeline>),
    Drop(String),
}

/// The built stage.
pub struct MatchStage {
    selector: CompiledSelector,
    action: Action,
}

/// Builds the stage from its config.
pub fn build(ctx: &mut BuildCtx, config: &Node) -> Result<Box<dyn Stage>, String> {
    let raw: RawConfig = ctx.decode("match", config, false)?;
    if raw.pipeline_name.as_deref() == Some("") {
        return Err(
            "match stage pipeline name can be omitted but cannot be an empty string".into(),
        );
    }
    let selector_text = raw.selector.unwrap_or_default();
    if selector_text.is_empty() {
        return Err("selector statement required for match stage".into());
    }
    let keep = match raw.action.as_deref() {
        None | Some("") | Some("keep") => true,
        Some("drop") => false,
        Some(_) => return Err("match stage action should be 'keep' or 'drop'".into()),
    };
    let stages = raw.stages.map(|n| n.0);
    let stage_count = match &stages {
        None => 0,
        Some(n) => match &n.kind {
            NodeKind::Seq(items) => items.len(),
            _ if n.is_null() => 0,
            _ => {
                return Err(format!(
                "1 error(s) decoding:\n\n* 'stages': source data must be an array or slice, got {}",
                go_kind(n)
            ))
            }
        },
    };
    if keep && stage_count == 0 {
        return Err(
            "match stage requires at least one additional stage to be defined in '- stages'".into(),
        );
    }
    if !keep && stage_count != 0 {
        return Err("match stage configured to drop entries cannot contains stages".into());
    }
    let selector = logql::parse(&selector_text).map_err(|e| match e {
        SelectorError::Parse { .. } => format!("invalid selector syntax for match stage: {e}"),
        SelectorError::MatcherRegex { .. } => {
            format!("invalid selector {selector_text}: {e} (Promtail panics on this selector)")
        }
    })?;
    let action = if keep {
        let nested_node = stages.unwrap_or(Node {
            kind: NodeKind::Seq(Vec::new()),
            line: config.line,
            col: config.col,
        });
        let pipeline = Pipeline::build(ctx, &nested_node).map_err(|e| {
            format!(
                "match stage failed to create pipeline from config: {}: {} (nested stage {} at line {})",
                go_value_string(config),
                e.msg,
                e.index,
                e.line
            )
        })?;
        Action::Keep(Box::new(pipeline))
    } else {
        super::drop::describe_dropped();
        let reason = match raw.drop_counter_reason.as_deref() {
            None | Some("") => "match_stage".to_string(),
            Some(r) => r.to_string(),
        };
        Action::Drop(reason)
    };
    let selector = selector
        .compile()
        .map_err(|e| format!("error parsing pipeline: {e}"))?;
    Ok(Box::new(MatchStage { selector, action }))
}

impl Stage for MatchStage {
    fn name(&self) -> &'static str {
        "match"
    }

    fn process(&mut self, entry: Entry, out: &mut Vec<Entry>) {
        if !self.selector.matches(&entry.labels, &entry.line) {
            out.push(entry);
            return;
        }
        match &mut self.action {
            Action::Keep(pipeline) => pipeline.process(entry, out),
            Action::Drop(reason) => count_dropped(reason),
        }
    }

    fn tick(&mut self, now: i64, out: &mut Vec<Entry>) {
        if let Action::Keep(pipeline) = &mut self.action {
            pipeline.tick(now, out);
        }
    }

    fn flush(&mut self, out: &mut Vec<Entry>) {
        if let Action::Keep(pipeline) = &mut self.action {
            pipeline.flush(out);
        }
    }
}

/// mapstructure's name for the kind of a node that should have been a list.
fn go_kind(n: &Node) -> &'static str {
    match (&n.kind, n.resolve()) {
        (NodeKind::Map(_), _) => "map",
        (_, Some(Resolved::Bool(_))) => "bool",
        (_, Some(Resolved::Int(_))) => "int",
        (_, Some(Resolved::Float(_))) => "float64",
        _ => "string",
    }
}

/// Renders a config node as Go's `%v` prints the decoded `interface{}` value (maps with sorted
/// keys as `map[k:v]`, lists as `[a b]`, null as `<nil>`).
pub(crate) fn go_value_string(n: &Node) -> String {
    let mut s = String::new();
    write_go_value(&mut s, n);
    s
}

fn write_go_value(s: &mut String, n: &Node) {
    match &n.kind {
        NodeKind::Map(entries) => {
            let mut items: Vec<(String, &Node)> = entries
                .iter()
                .map(|(k, v)| (go_value_string(k), v))
                .collect();
            items.sort_by(|a, b| a.0.cmp(&b.0));
            s.push_str("map[");
            for (i, (k, v)) in items.iter().enumerate() {
                if i > 0 {
                    s.push(' ');
                }
                s.push_str(k);
                s.push(':');
                write_go_value(s, v);
            }
            s.push(']');
        }
        NodeKind::Seq(items) => {
            s.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    s.push(' ');
                }
                write_go_value(s, v);
            }
            s.push(']');
        }
        NodeKind::Scalar { .. } => match n.resolve() {
            Some(Resolved::Null) | None => s.push_str("<nil>"),
            Some(Resolved::Bool(b)) => s.push_str(if b { "true" } else { "false" }),
            Some(Resolved::Int(i)) => s.push_str(&i.to_string()),
            Some(Resolved::Float(f)) => s.push_str(&gocompat::strconv::format_go_float(f)),
            Some(Resolved::Str(t)) => s.push_str(t),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Labels;
    use gocompat::yaml;

    fn build_err(yaml_text: &str) -> String {
        let node = yaml::parse(yaml_text).unwrap();
        let mut warnings = Vec::new();
        let mut ctx = BuildCtx {
            job: "test",
            warnings: &mut warnings,
            base_dir: None,
        };
        match build(&mut ctx, &node) {
            Ok(_) => panic!("expected an error for {yaml_text}"),
            Err(e) => e,
        }
    }

    fn run(yaml_text: &str, labels: &[(&str, &str)], lines: &[&str]) -> Vec<Entry> {
        let node = yaml::parse(yaml_text).unwrap();
        let mut warnings = Vec::new();
        let mut ctx = BuildCtx {
            job: "test",
            warnings: &mut warnings,
            base_dir: None,
        };
        let mut stage = build(&mut ctx, &node).unwrap();
        let labels: Labels = labels.iter().copied().collect();
        let mut out = Vec::new();
        for l in lines {
            stage.process(Entry::new(labels.clone(), 0, l.to_string()), &mut out);
        }
        out
    }

    /// Selector regexes (`=~`, `!~`, `|~`, `!~` on lines) are read as Go's RE2 reads them.
    #[test]
    fn selector_regexes_are_go() {
        let cfg =
            |sel: &str| format!("selector: '{sel}'\nstages: [{{static_labels: {{hit: 'y'}}}}]");
        for (sel, labels, line, hit) in [
            (r#"{n=~"\\d"}"#, vec![("n", "٣")], "x", false),
            (r#"{n=~"\\d"}"#, vec![("n", "3")], "x", true),
            (
                r#"{n=~".+"} |~ "\\w+\\s\\w+""#,
                vec![("n", "a")],
                "é\u{a0}é",
                false,
            ),
            (
                r#"{n=~".+"} |~ "^{.a""#,
                vec![("n", "a")],
                "{\"a\":1}",
                true,
            ),
            (r#"{n=~".+"} !~ "\\Q.*\\E""#, vec![("n", "a")], "ab", true),
        ] {
            let out = run(&cfg(sel), &labels, &[line]);
            assert_eq!(out[0].labels.get("hit").is_some(), hit, "{sel} {line:?}");
        }
    }

    #[test]
    fn validation_errors() {
        for (cfg, want) in [
            (
                "selector: '{a=\"b\"}'\npipeline_name: ''\nstages: [{labeldrop: [a]}]",
                "match stage pipeline name can be omitted but cannot be an empty string",
            ),
            (
                "stages: [{labeldrop: [a]}]",
                "selector statement required for match stage",
            ),
            (
                "selector: '{a=\"b\"}'\naction: Drop",
                "match stage action should be 'keep' or 'drop'",
            ),
            (
                "selector: '{a=\"b\"}'",
                "match stage requires at least one additional stage to be defined in '- stages'",
            ),
            (
                "selector: '{a=\"b\"}'\naction: drop\nstages: [{labeldrop: [a]}]",
                "match stage configured to drop entries cannot contains stages",
            ),
            (
                "selector: '{}'\naction: drop",
                "invalid selector syntax for match stage: parse error at line 1, col 2: syntax error: unexpected }, expecting IDENTIFIER",
            ),
        ] {
            assert_eq!(build_err(cfg), want, "{cfg}");
        }
        let e = build_err("selector: '{a=\"b\"} |~ \"(\"'\naction: drop");
        assert!(
            e.starts_with("error parsing pipeline: error parsing regexp: "),
            "{e}"
        );
        let e = build_err("selector: '{job=~\"(\"}'\naction: drop");
        assert!(e.contains("{job=~\"(\"}"), "{e}");
    }

    #[test]
    fn drop_action_drops_matching_lines() {
        let out = run(
            "selector: '{app=\"foo\"} |~ \"debug|trace\"'\naction: drop\ndrop_counter_reason: noisy",
            &[("app", "foo")],
            &["info keep", "debug drop me", "trace drop", "warn keep"],
        );
        let lines: Vec<_> = out.iter().map(|e| e.line.as_str()).collect();
        assert_eq!(lines, vec!["info keep", "warn keep"]);
        let out = run(
            "selector: '{app=\"bar\"}'\naction: drop",
            &[("app", "foo")],
            &["debug stays: labels do not match"],
        );
        assert_eq!(out.len(), 1);
    }

    /// Keep runs the nested stages only on matching entries; the nested pipeline copies the
    /// labels into the extracted map again, overwriting a parsed value of the same name.
    #[test]
    fn keep_runs_nested_stages_on_matches() {
        let node = yaml::parse(
            "selector: '{job=\"golden\"} |= \"error\"'\nstages:\n  - drop:\n      source: app\n      value: other\n  - drop:\n      expression: secret\n",
        )
        .unwrap();
        let mut warnings = Vec::new();
        let mut ctx = BuildCtx {
            job: "test",
            warnings: &mut warnings,
            base_dir: None,
        };
        let mut stage = build(&mut ctx, &node).unwrap();
        let labels: Labels = [("job", "golden"), ("app", "loki")].into_iter().collect();
        let mut out = Vec::new();
        for line in ["error one", "info secret", "error secret"] {
            let mut e = Entry::new(labels.clone(), 0, line.to_string());
            e.extracted
                .insert("app", crate::pipeline::Value::Str("other".into()));
            stage.process(e, &mut out);
        }
        let lines: Vec<_> = out.iter().map(|e| e.line.as_str()).collect();
        // "info secret" does not match the filter, so the nested drop never sees it.
        assert_eq!(lines, vec!["error one", "info secret"]);
        assert_eq!(
            out[0].extracted.get("app"),
            Some(&crate::pipeline::Value::Str("loki".into()))
        );
        assert_eq!(
            out[1].extracted.get("app"),
            Some(&crate::pipeline::Value::Str("other".into()))
        );
    }

    #[test]
    fn go_value_rendering() {
        let node =
            yaml::parse("selector: '{a=\"b\"}'\nstages:\n  - x: {b: 1, a: [z, null]}\n").unwrap();
        assert_eq!(
            go_value_string(&node),
            "map[selector:{a=\"b\"} stages:[map[x:map[a:[z <nil>] b:1]]]]"
        );
    }
}
