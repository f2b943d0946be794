//! The `static_labels` stage: sets fixed labels (the extracted map is not touched).

use crate::core::entry::LabelMemo;
use crate::pipeline::stages::labels::set_label;
use crate::pipeline::{BuildCtx, Entry, Stage};
use gocompat::mapstructure::{is_legacy_label_name, top_string_map};
use gocompat::yaml::Node;

/// The built stage.
pub struct StaticLabelsStage {
    pairs: Vec<(String, String)>,
    memo: LabelMemo,
}

impl Stage for StaticLabelsStage {
    fn name(&self) -> &'static str {
        "static_labels"
    }

    fn process(&mut self, mut e: Entry, out: &mut Vec<Entry>) {
        let pairs = &self.pairs;
        e.labels = self.memo.get_or(&e.labels, (), |labels| {
            let mut l = labels.clone();
            for (name, value) in pairs {
                set_label(&mut l, name, value);
            }
            l
        });
        out.push(e);
    }
}

/// Builds the stage from its config.
pub fn build(_ctx: &mut BuildCtx, config: &Node) -> Result<Box<dyn Stage>, String> {
    let map = top_string_map(config)?.unwrap_or_default();
    let mut pairs = Vec::new();
    for (name, value) in map {
        if !is_legacy_label_name(&name) {
            return Err(format!("invalid label name: {name}"));
        }
        // Null and empty values are skipped: an existing label is kept.
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            pairs.push((name, v));
        }
    }
    Ok(Box::new(StaticLabelsStage {
        pairs,
        memo: LabelMemo::default(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Labels;

    fn stage(yaml: &str) -> Result<Box<dyn Stage>, String> {
        crate::pipeline::build_for_test(build, yaml)
    }

    #[test]
    fn documented_example() {
        // Docs: `static_labels: {custom_key: custom_value}`.
        let mut s = stage("custom_key: custom_value\njob: override\nb: \"\"\nc:\n").unwrap();
        let l: Labels = [("job", "j"), ("b", "keep")].into_iter().collect();
        let mut out = Vec::new();
        s.process(Entry::new(l, 0, String::new()), &mut out);
        let e = out.remove(0);
        assert_eq!(e.labels.get("custom_key"), Some("custom_value"));
        assert_eq!(e.labels.get("job"), Some("override"));
        assert_eq!(e.labels.get("b"), Some("keep"));
        assert_eq!(e.labels.get("c"), None);
        assert!(e.extracted.is_empty());
    }

    #[test]
    fn errors() {
        assert_eq!(
            stage("a: 1\n").err().unwrap(),
            "1 error(s) decoding:\n\n* '[<interface {} Value>]' expected type 'string', got unconvertible type 'int', value: '1'"
        );
        assert_eq!(stage("a-b: x\n").err().unwrap(), "invalid label name: a-b");
        assert!(stage("").is_ok());
    }
}
