//! The `output` stage: replaces the line with an extracted value.

use crate::pipeline::stages::labels::with_go_str;
use crate::pipeline::{BuildCtx, Entry, Stage};
use gocompat::mapstructure::StructCfg;
use gocompat::yaml::Node;

/// The built stage.
pub struct OutputStage {
    source: String,
}

impl OutputStage {
    /// An output stage reading `source`.
    pub(crate) fn new(source: &str) -> Self {
        OutputStage {
            source: source.to_string(),
        }
    }

    /// Applies the stage to one entry: a missing or null source leaves the line unchanged.
    pub(crate) fn apply(&self, e: &mut Entry) {
        if let Some(v) = e.extracted.get(&self.source) {
            let line = &mut e.line;
            with_go_str(v, |s| {
                if line != s {
                    line.clear();
                    line.push_str(s);
                }
            });
        }
    }
}

impl Stage for OutputStage {
    fn name(&self) -> &'static str {
        "output"
    }

    fn process(&mut self, mut entry: Entry, out: &mut Vec<Entry>) {
        self.apply(&mut entry);
        out.push(entry);
    }
}

/// Builds the stage from its config.
pub fn build(ctx: &mut BuildCtx, config: &Node) -> Result<Box<dyn Stage>, String> {
    let mut cfg = StructCfg::new(ctx.warnings, "output", config, false, &["source"])?;
    let source = cfg.string("source");
    cfg.finish()?;
    match source {
        Some(s) if !s.is_empty() => Ok(Box::new(OutputStage::new(&s))),
        _ => Err("output source value is required if output is specified".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::{Labels, Value};

    fn stage(yaml: &str) -> Result<Box<dyn Stage>, String> {
        crate::pipeline::build_for_test(build, yaml)
    }

    #[test]
    fn documented_example_and_values() {
        // Docs: `output: {source: message}` after a json stage extracting message.
        let cases: &[(Option<Value>, &str)] = &[
            (Some(Value::Str("hello world".into())), "hello world"),
            (Some(Value::Float(1e21)), "1000000000000000000000"),
            (Some(Value::Bool(true)), "true"),
            (Some(Value::Str(String::new())), ""),
            (Some(Value::Null), "orig"),
            (None, "orig"),
        ];
        for (v, want) in cases {
            let mut s = stage("source: message\n").unwrap();
            let mut e = Entry::new(Labels::new(), 0, "orig".into());
            if let Some(v) = v {
                e.extracted.insert("message", v.clone());
            }
            let mut out = Vec::new();
            s.process(e, &mut out);
            assert_eq!(out[0].line, *want, "{v:?}");
        }
    }

    #[test]
    fn errors() {
        assert_eq!(
            stage("{}").err().unwrap(),
            "output source value is required if output is specified"
        );
        assert_eq!(
            stage("source: 1\n").err().unwrap(),
            "1 error(s) decoding:\n\n* 'source' expected type 'string', got unconvertible type 'int', value: '1'"
        );
    }
}
