//! The `template` stage: renders a Go text/template over the extracted map and stores the result
//! in the `source` key (deleting the key when the output is empty).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::pipeline::{BuildCtx, Entry, Stage, Value};
use gocompat::template::{DataSource, Template, Val};
use gocompat::yaml::Node;

#[derive(Debug, Default, Deserialize)]
struct RawConfig {
    #[serde(default)]
    source: String,
    #[serde(default)]
    template: String,
}

/// The template's data: the extracted map as strings, plus `Value` and `Entry`.
pub(crate) struct TemplateData<'a> {
    /// The entry's extracted map; values that `getString` refuses (nil) are missing.
    pub extracted: &'a crate::core::entry::Extracted,
    /// `.Value`, when set.
    pub value: Option<&'a str>,
    /// `.Entry`, when set (the template stage sets it; the replace stage does not).
    pub entry: Option<&'a str>,
    /// True for the replace stage's `map[string]string`.
    pub str_elems: bool,
}

impl DataSource for TemplateData<'_> {
    fn get(&self, key: &str) -> Option<Val> {
        match key {
            "Entry" if self.entry.is_some() => self.entry.map(Val::str),
            "Value" if self.value.is_some() => self.value.map(Val::str),
            _ => self
                .extracted
                .get(key)
                .and_then(Value::to_go_string)
                .map(Val::Str),
        }
    }

    fn all(&self) -> BTreeMap<String, Val> {
        let mut m: BTreeMap<String, Val> = self
            .extracted
            .iter()
            .filter_map(|(k, v)| v.to_go_string().map(|s| (k.to_string(), Val::Str(s))))
            .collect();
        if let Some(v) = self.value {
            m.insert("Value".into(), Val::str(v));
        }
        if let Some(e) = self.entry {
            m.insert("Entry".into(), Val::str(e));
        }
        m
    }

    fn str_elems(&self) -> bool {
        self.str_elems
    }
}

struct TemplateStage {
    source: String,
    template: Template,
}

/// Builds the stage from its config.
pub fn build(ctx: &mut BuildCtx, config: &Node) -> Result<Box<dyn Stage>, String> {
    let raw: RawConfig = if config.is_null() {
        RawConfig::default()
    } else {
        ctx.decode("template", config, false)?
    };
    if raw.source.is_empty() {
        return Err("template source value is required".into());
    }
    let template = Template::parse("pipeline_template", &raw.template)?;
    Ok(Box::new(TemplateStage {
        source: raw.source,
        template,
    }))
}

impl Stage for TemplateStage {
    fn name(&self) -> &'static str {
        "template"
    }

    fn process(&mut self, mut entry: Entry, out: &mut Vec<Entry>) {
        let value = entry
            .extracted
            .get(&self.source)
            .and_then(Value::to_go_string);
        let data = TemplateData {
            extracted: &entry.extracted,
            value: value.as_deref(),
            entry: Some(&entry.line),
            str_elems: false,
        };
        match self.template.execute(&data) {
            Ok(s) if s.is_empty() => {
                entry.extracted.remove(&self.source);
            }
            Ok(s) => {
                entry.extracted.insert(self.source.clone(), Value::Str(s));
            }
            Err(e) => {
                tracing::debug!(error = %e, "failed to execute template on extracted value");
                crate::pipeline::stage_failed("failed to execute template");
            }
        }
        out.push(entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::{Labels, Pipeline};
    use gocompat::yaml;

    fn pipeline(yaml_text: &str) -> Result<Pipeline, String> {
        let node = yaml::parse(yaml_text).map_err(|e| e.to_string())?;
        let mut warnings = Vec::new();
        let mut ctx = BuildCtx {
            job: "test",
            warnings: &mut warnings,
            base_dir: None,
        };
        Pipeline::build(&mut ctx, &node).map_err(|e| e.msg)
    }

    fn run(p: &mut Pipeline, extracted: &[(&str, Value)], line: &str) -> Entry {
        let mut e = Entry::new(Labels::new(), 0, line.to_string());
        for (k, v) in extracted {
            e.extracted.insert(k.to_string(), v.clone());
        }
        let mut out = Vec::new();
        p.process(e, &mut out);
        out.pop().expect("entry")
    }

    #[test]
    fn parse_error_is_promtails() {
        let err = pipeline("- template:\n    source: x\n    template: '{{ .Value '\n")
            .err()
            .unwrap();
        assert_eq!(
            err,
            "invalid template stage config: template: pipeline_template:1: unclosed action"
        );
        let err = pipeline("- template:\n    template: 'x'\n").err().unwrap();
        assert_eq!(
            err,
            "invalid template stage config: template source value is required"
        );
        let err = pipeline("- template:\n    source: x\n    template: '{{ nope }}'\n")
            .err()
            .unwrap();
        assert_eq!(
            err,
            "invalid template stage config: template: pipeline_template:1: function \"nope\" not defined"
        );
    }

    #[test]
    fn documented_examples() {
        // From Promtail's template stage docs.
        type Case<'a> = (&'a str, &'a [(&'a str, Value)], &'a str, Option<&'a str>);
        let cases: &[Case] = &[
            (
                "source: new_key\n    template: 'hello world!'",
                &[],
                "new_key",
                Some("hello world!"),
            ),
            (
                "source: app\n    template: '{{ .Value }}_some_suffix'",
                &[("app", Value::Str("loki".into()))],
                "app",
                Some("loki_some_suffix"),
            ),
            (
                "source: app\n    template: '{{ ToLower .Value }}'",
                &[("app", Value::Str("LOKI".into()))],
                "app",
                Some("loki"),
            ),
            (
                "source: app\n    template: '{{ .app }}_{{ .level }}'",
                &[
                    ("app", Value::Str("loki".into())),
                    ("level", Value::Float(1.5)),
                ],
                "app",
                Some("loki_1.5"),
            ),
            (
                "source: level\n    template: '{{ if eq .Value \"WARN\" }}{{ Replace .Value \"WARN\" \"OK\" -1 }}{{ else }}{{ .Value }}{{ end }}'",
                &[("level", Value::Str("WARN".into()))],
                "level",
                Some("OK"),
            ),
            (
                "source: output_msg\n    template: '{{ .level }} for app {{ ToUpper .app }}'",
                &[
                    ("level", Value::Str("warn".into())),
                    ("app", Value::Str("loki".into())),
                ],
                "output_msg",
                Some("warn for app LOKI"),
            ),
            (
                "source: x\n    template: '{{ .Entry }}'",
                &[],
                "x",
                Some("the line"),
            ),
            (
                "source: f\n    template: '{{ .Value }}'",
                &[("f", Value::Null)],
                "f",
                Some("<no value>"),
            ),
            (
                "source: level\n    template: '{{ if eq .Value \"debug\" }}{{ end }}'",
                &[("level", Value::Str("debug".into()))],
                "level",
                None,
            ),
            (
                "source: x\n    template: '{{ ToLower .nokey }}'",
                &[("x", Value::Str("keep".into()))],
                "x",
                Some("keep"),
            ),
        ];
        for (cfg, extracted, key, want) in cases {
            let mut p = pipeline(&format!("- template:\n    {cfg}\n")).unwrap();
            let e = run(&mut p, extracted, "the line");
            assert_eq!(
                e.extracted.get(key).and_then(|v| v.as_str()),
                *want,
                "{cfg}"
            );
            assert_eq!(e.line, "the line");
        }
    }
}
