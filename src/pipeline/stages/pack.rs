//! The `pack` stage: wraps the line and selected extracted values into a JSON object.

use crate::pipeline::{BuildCtx, Entry, Stage};
use gocompat::json::{write_string, Flavor};
use gocompat::mapstructure::StructCfg;
use gocompat::yaml::Node;

/// The built stage.
pub struct PackStage {
    /// The configured keys, sorted and de-duplicated.
    keys: Vec<String>,
    ingest_timestamp: bool,
}

impl Stage for PackStage {
    fn name(&self) -> &'static str {
        "pack"
    }

    fn process(&mut self, mut e: Entry, out: &mut Vec<Entry>) {
        let mut line = String::with_capacity(e.line.len() + 32);
        line.push('{');
        for key in &self.keys {
            let Some(v) = e.extracted.get(key).and_then(|v| v.to_go_string()) else {
                continue;
            };
            write_string(&mut line, key, Flavor::Jsoniter);
            line.push(':');
            write_string(&mut line, &v, Flavor::Jsoniter);
            line.push(',');
            e.labels.remove(key);
        }
        line.push_str("\"_entry\":");
        write_string(&mut line, &e.line, Flavor::Jsoniter);
        line.push('}');
        e.line = line;
        if self.ingest_timestamp {
            e.timestamp = crate::core::entry::now_nanos();
        }
        out.push(e);
    }
}

/// Builds the stage from its config (weakly decoded).
pub fn build(ctx: &mut BuildCtx, config: &Node) -> Result<Box<dyn Stage>, String> {
    // Promtail's struct tag on `Labels` is misspelled, so mapstructure matches the Go field name
    // (case-insensitively) and names it `Labels` in errors.
    let mut cfg = StructCfg::new(
        ctx.warnings,
        "pack",
        config,
        true,
        &["Labels", "ingest_timestamp"],
    )?;
    let mut keys = cfg.string_list("Labels").unwrap_or_default();
    let ingest_timestamp = cfg.bool("ingest_timestamp").unwrap_or(true);
    cfg.finish()?;
    keys.sort();
    keys.dedup();
    Ok(Box::new(PackStage {
        keys,
        ingest_timestamp,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::{Labels, Value};
    use gocompat::yaml::parse;

    fn run(yaml: &str, line: &str, extracted: &[(&str, &str)], labels: &[(&str, &str)]) -> Entry {
        let mut w = Vec::new();
        let mut ctx = BuildCtx {
            job: "t",
            warnings: &mut w,
            base_dir: None,
        };
        let mut s = build(&mut ctx, &parse(yaml).unwrap()).unwrap();
        let l: Labels = labels.iter().copied().collect();
        let mut e = Entry::new(l, 5, line.into());
        for (k, v) in extracted {
            e.extracted.insert(k.to_string(), Value::Str(v.to_string()));
        }
        let mut out = Vec::new();
        s.process(e, &mut out);
        out.remove(0)
    }

    #[test]
    fn documented_example() {
        // Docs: `pack: {labels: [pod, container]}` packs them with `_entry`.
        let e = run(
            "labels: [pod, container]\ningest_timestamp: false\n",
            "something went wrong",
            &[("pod", "myapp-abc"), ("container", "myapp")],
            &[("pod", "myapp-abc"), ("container", "myapp"), ("job", "j")],
        );
        assert_eq!(
            e.line,
            r#"{"container":"myapp","pod":"myapp-abc","_entry":"something went wrong"}"#
        );
        assert_eq!(e.labels.get("pod"), None);
        assert_eq!(e.labels.get("job"), Some("j"));
        assert_eq!(e.timestamp, 5);
    }

    #[test]
    fn escaping_single_string_and_ingest_time() {
        let e = run(
            "labels: job\n",
            "\"q\" \\ \t<a&b> \u{2028} \u{7f} é \u{1}",
            &[("job", "j")],
            &[],
        );
        assert_eq!(
            e.line,
            "{\"job\":\"j\",\"_entry\":\"\\\"q\\\" \\\\ \\t\\u003ca\\u0026b\\u003e \\u2028 \u{7f} é \\u0001\"}"
        );
        assert_ne!(e.timestamp, 5);
        let e = run(
            "labels: [missing]\ningest_timestamp: false\n",
            "l",
            &[],
            &[],
        );
        assert_eq!(e.line, r#"{"_entry":"l"}"#);
    }
}
