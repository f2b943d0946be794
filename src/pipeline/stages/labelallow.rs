//! The `labelallow` stage: keeps only the listed labels.

use crate::core::entry::LabelMemo;
use crate::pipeline::{BuildCtx, Entry, Stage};
use gocompat::mapstructure::top_string_list;
use gocompat::yaml::Node;

/// The built stage.
pub struct LabelAllowStage {
    names: Vec<String>,
    memo: LabelMemo,
}

impl Stage for LabelAllowStage {
    fn name(&self) -> &'static str {
        "labelallow"
    }

    fn process(&mut self, mut e: Entry, out: &mut Vec<Entry>) {
        let names = &self.names;
        e.labels = self.memo.get_or(&e.labels, (), |labels| {
            let mut l = labels.clone();
            l.retain(|k, _| names.iter().any(|n| n == k));
            l
        });
        out.push(e);
    }
}

/// Builds the stage from its config.
pub fn build(_ctx: &mut BuildCtx, config: &Node) -> Result<Box<dyn Stage>, String> {
    let names = top_string_list(config)?.unwrap_or_default();
    if names.is_empty() {
        return Err("labelallow stage config cannot be empty".into());
    }
    Ok(Box::new(LabelAllowStage {
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
        // Docs: `labelallow: [kubernetes_pod_name, kubernetes_container_name]`.
        let mut s = stage("- kubernetes_pod_name\n- kubernetes_container_name\n").unwrap();
        let l: Labels = [
            ("kubernetes_pod_name", "p"),
            ("kubernetes_container_name", "c"),
            ("filename", "f"),
            ("__tenant_id__", "t"),
        ]
        .into_iter()
        .collect();
        let mut out = Vec::new();
        s.process(Entry::new(l, 0, String::new()), &mut out);
        let l = &out[0].labels;
        assert_eq!(l.len(), 2);
        assert_eq!(l.get("filename"), None);
        assert_eq!(l.get("__tenant_id__"), None);
    }

    #[test]
    fn empty_is_an_error() {
        assert_eq!(
            stage("").err().unwrap(),
            "labelallow stage config cannot be empty"
        );
    }
}
