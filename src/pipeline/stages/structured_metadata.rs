//! The `structured_metadata` stage (alias `non_indexed_labels`): appends structured-metadata
//! pairs from the extracted map and from labels, then removes those labels.

use crate::pipeline::stages::labels::parse_label_map;
use crate::pipeline::{BuildCtx, Entry, Stage};
use gocompat::yaml::Node;

/// The built stage.
pub struct StructuredMetadataStage {
    pairs: Vec<(String, String)>,
}

impl Stage for StructuredMetadataStage {
    fn name(&self) -> &'static str {
        "structured_metadata"
    }

    fn process(&mut self, mut e: Entry, out: &mut Vec<Entry>) {
        // Pass 1: from the extracted map.
        for (name, src) in &self.pairs {
            if let Some(v) = e.extracted.get(src) {
                if let Some(s) = v.to_go_string() {
                    e.structured_metadata.push((name.clone(), s));
                }
            }
        }
        // Pass 2: from labels, which are then removed.
        let mut found = false;
        for (name, src) in &self.pairs {
            if let Some(v) = e.labels.get(src) {
                let v = v.to_string();
                e.structured_metadata.push((name.clone(), v));
                found = true;
            }
        }
        if found {
            for (_, src) in &self.pairs {
                e.labels.remove(src);
            }
        }
        out.push(e);
    }
}

/// Builds the stage from its config.
pub fn build(_ctx: &mut BuildCtx, config: &Node) -> Result<Box<dyn Stage>, String> {
    Ok(Box::new(StructuredMetadataStage {
        pairs: parse_label_map(config)?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::{Labels, Value};
    use gocompat::yaml::parse;

    fn run(yaml: &str, extracted: &[(&str, &str)], labels: &[(&str, &str)]) -> Entry {
        let mut w = Vec::new();
        let mut ctx = BuildCtx {
            job: "t",
            warnings: &mut w,
            base_dir: None,
        };
        let mut s = build(&mut ctx, &parse(yaml).unwrap()).unwrap();
        let l: Labels = labels.iter().copied().collect();
        let mut e = Entry::new(l, 0, String::new());
        for (k, v) in extracted {
            e.extracted.insert(k.to_string(), Value::Str(v.to_string()));
        }
        let mut out = Vec::new();
        s.process(e, &mut out);
        out.remove(0)
    }

    #[test]
    fn from_extracted_only() {
        let e = run("trace_id:\n", &[("trace_id", "abc")], &[("job", "j")]);
        assert_eq!(
            e.structured_metadata,
            vec![("trace_id".into(), "abc".into())]
        );
        assert_eq!(e.labels.get("job"), Some("j"));
    }

    #[test]
    fn label_source_is_added_twice_and_removed() {
        // Labels are in the extracted map too (copied at pipeline start).
        let e = run("app:\n", &[("app", "loki")], &[("app", "loki")]);
        assert_eq!(
            e.structured_metadata,
            vec![("app".into(), "loki".into()), ("app".into(), "loki".into())]
        );
        assert_eq!(e.labels.get("app"), None);
    }

    #[test]
    fn label_only_source_added_once() {
        let e = run("env:\n", &[], &[("env", "prod")]);
        assert_eq!(e.structured_metadata, vec![("env".into(), "prod".into())]);
        assert_eq!(e.labels.get("env"), None);
    }

    #[test]
    fn invalid_name() {
        let mut w = Vec::new();
        let mut ctx = BuildCtx {
            job: "t",
            warnings: &mut w,
            base_dir: None,
        };
        assert_eq!(
            build(&mut ctx, &parse("a.b:\n").unwrap()).err().unwrap(),
            "invalid label name: a.b"
        );
    }
}
