//! The `tenant` stage: sets the `__tenant_id__` label from a value, a label or an extracted key.

use crate::pipeline::stages::labels::{set_label, with_go_str};
use crate::pipeline::{BuildCtx, Entry, Stage, TENANT_LABEL};
use gocompat::mapstructure::StructCfg;
use gocompat::yaml::Node;

enum From {
    Source(String),
    Label(String),
    Value(String),
}

/// The built stage.
pub struct TenantStage {
    from: From,
}

impl Stage for TenantStage {
    fn name(&self) -> &'static str {
        "tenant"
    }

    fn process(&mut self, mut e: Entry, out: &mut Vec<Entry>) {
        match &self.from {
            From::Source(src) => {
                if let Some(v) = e.extracted.get(src) {
                    let labels = &mut e.labels;
                    with_go_str(v, |s| {
                        if !s.is_empty() {
                            set_label(labels, TENANT_LABEL, s);
                        }
                    });
                }
            }
            From::Label(name) => {
                if let Some(v) = e.labels.get(name).filter(|v| !v.is_empty()) {
                    let v = v.to_string();
                    set_label(&mut e.labels, TENANT_LABEL, &v);
                }
            }
            From::Value(v) => set_label(&mut e.labels, TENANT_LABEL, v),
        }
        out.push(e);
    }
}

/// Builds the stage from its config.
pub fn build(ctx: &mut BuildCtx, config: &Node) -> Result<Box<dyn Stage>, String> {
    let mut cfg = StructCfg::new(
        ctx.warnings,
        "tenant",
        config,
        false,
        &["label", "source", "value"],
    )?;
    let label = cfg.string("label").unwrap_or_default();
    let source = cfg.string("source").unwrap_or_default();
    let value = cfg.string("value").unwrap_or_default();
    cfg.finish()?;
    let set = [&label, &source, &value]
        .iter()
        .filter(|s| !s.is_empty())
        .count();
    if set == 0 {
        return Err("label, source or value config are required".into());
    }
    if set > 1 {
        return Err("label, source and value are mutually exclusive: you should set source, value or label but not all".into());
    }
    let from = if !source.is_empty() {
        From::Source(source)
    } else if !label.is_empty() {
        From::Label(label)
    } else {
        From::Value(value)
    };
    Ok(Box::new(TenantStage { from }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::{Labels, Value};

    fn stage(yaml: &str) -> Result<Box<dyn Stage>, String> {
        crate::pipeline::build_for_test(build, yaml)
    }

    fn tenant_of(
        yaml: &str,
        extracted: &[(&str, Value)],
        labels: &[(&str, &str)],
    ) -> Option<String> {
        let mut s = stage(yaml).unwrap();
        let l: Labels = labels.iter().copied().collect();
        let mut e = Entry::new(l, 0, String::new());
        for (k, v) in extracted {
            e.extracted.insert(k.to_string(), v.clone());
        }
        let mut out = Vec::new();
        s.process(e, &mut out);
        out[0].labels.get(TENANT_LABEL).map(String::from)
    }

    #[test]
    fn documented_examples() {
        // Docs: `tenant: {source: customer_id}` after json extracting customer_id.
        assert_eq!(
            tenant_of(
                "source: customer_id\n",
                &[("customer_id", Value::Str("1".into()))],
                &[]
            ),
            Some("1".into())
        );
        assert_eq!(
            tenant_of("source: t\n", &[("t", Value::Float(12.0))], &[]),
            Some("12".into())
        );
        assert_eq!(tenant_of("source: t\n", &[("t", Value::Null)], &[]), None);
        // Docs: `tenant: {value: team-a}` and `tenant: {label: namespace}`.
        assert_eq!(
            tenant_of("value: team-a\n", &[], &[]),
            Some("team-a".into())
        );
        assert_eq!(
            tenant_of("label: namespace\n", &[], &[("namespace", "ns1")]),
            Some("ns1".into())
        );
        assert_eq!(tenant_of("label: namespace\n", &[], &[]), None);
    }

    #[test]
    fn errors() {
        assert_eq!(
            stage("{}").err().unwrap(),
            "label, source or value config are required"
        );
        assert_eq!(
            stage("source: a\nvalue: b\n").err().unwrap(),
            "label, source and value are mutually exclusive: you should set source, value or label but not all"
        );
    }
}
