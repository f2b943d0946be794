//! The `labeldrop` stage: removes the listed labels.

use crate::core::entry::LabelMemo;
use crate::pipeline::{BuildCtx, Entry, Stage};
use gocompat::mapstructure::top_string_list;
use gocompat::yaml::Node;

/// The built stage.
pub struct LabelDropStage {
    names: Vec<String>,
    memo: LabelMemo,
}

impl Stage for LabelDropStage {
    fn name(&self) -> &'static str {
        "labeldrop"
    }

    fn process(&mut self, mut e: Entry, out: &mut Vec<Entry>) {
        let names = &self.names;
        e.labels = self.memo.get_or(&e.labels, (), |labels| {
            let mut l = labels.clone();
            for n in names {
                l.remove(n);
            }
            l
        });
        out.push(e);
    }
}

/// Builds the stage from its config.
pub fn build(_ctx: &mut BuildCtx, config: &Node) -> Result<Box<dyn Stage>, String> {
    let names = top_string_list(config)?.unwrap_or_default();
    if names.is_empty() {
        return Err("labeldrop stage config cannot be empty".into());
    }
    Ok(Box::new(LabelDropStage {
        names,
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
        // Docs: `labeldrop: [kubernetes_pod_name, kubernetes_container_name]`.
        let mut s = stage("- kubernetes_pod_name\n- absent\n- __tenant_id__\n").unwrap();
        let l: Labels = [
            ("kubernetes_pod_name", "p"),
            ("app", "a"),
            ("__tenant_id__", "t"),
        ]
        .into_iter()
        .collect();
        let mut out = Vec::new();
        s.process(Entry::new(l, 0, String::new()), &mut out);
        let l = &out[0].labels;
        assert_eq!(l.get("kubernetes_pod_name"), None);
        assert_eq!(l.get("__tenant_id__"), None);
        assert_eq!(l.get("app"), Some("a"));
    }

    #[test]
    fn empty_is_an_error() {
        assert_eq!(
            stage("").err().unwrap(),
            "labeldrop stage config cannot be empty"
        );
        assert_eq!(
            stage("[]").err().unwrap(),
            "labeldrop stage config cannot be empty"
        );
    }
}
