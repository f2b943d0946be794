//! The `replace` stage: replaces every capture group of a regex in the line (or an extracted
//! value) with the output of a Go template that sees the group's text as `.Value`.

use std::collections::HashMap;

use serde::Deserialize;

use super::template::TemplateData;
use crate::pipeline::{BuildCtx, Entry, Stage, Value};
use gocompat::template::Template;
use gocompat::yaml::Node;

#[derive(Debug, Default, Deserialize)]
struct RawConfig {
    #[serde(default)]
    expression: String,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    replace: String,
}

struct ReplaceStage {
    regex: gocompat::regex::GoRegex,
    source: Option<String>,
    /// The `replace` template; Promtail parses it per entry, so a parse error only means that
    /// every entry is left unchanged.
    template: Result<Template, String>,
}

/// Builds the stage from its config.
pub fn build(ctx: &mut BuildCtx, config: &Node) -> Result<Box<dyn Stage>, String> {
    if config.is_null() {
        return Err("empty replace stage configuration".into());
    }
    let raw: RawConfig = ctx.decode("replace", config, false)?;
    if raw.expression.is_empty() {
        return Err("expression is required".into());
    }
    if raw.source.as_deref() == Some("") {
        return Err("empty source in replace stage".into());
    }
    let regex = gocompat::regex::GoRegex::new(&raw.expression)
        .map_err(|e| format!("could not compile regular expression: {e}"))?;
    let template = Template::parse("pipeline_template", &raw.replace);
    Ok(Box::new(ReplaceStage {
        regex,
        source: raw.source,
        template,
    }))
}

impl ReplaceStage {
    /// Returns the replaced text and the named-group updates, or None to leave the entry alone.
    fn replace(
        &mut self,
        input: &str,
        extracted: &crate::core::entry::Extracted,
    ) -> Option<(String, Vec<(String, String)>)> {
        let all: Vec<regex::Captures> = self.regex.captures_all(input);
        if all.is_empty() {
            return None;
        }
        let template = self.template.as_mut().ok()?;
        let mut result = String::with_capacity(input.len());
        let mut prev_end = 0usize;
        let mut captured: HashMap<&str, String> = HashMap::new();
        for caps in &all {
            for i in 1..caps.len() {
                let Some(m) = caps.get(i) else { continue };
                let text = m.as_str();
                let data = TemplateData {
                    extracted,
                    value: Some(text),
                    entry: None,
                    str_elems: true,
                };
                let st = match template.execute(&data) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::debug!(error = %e, "failed to execute replace template");
                        crate::pipeline::stage_failed("failed to execute replace template");
                        return None;
                    }
                };
                if prev_end == 0 || m.start() >= prev_end {
                    result.push_str(&input[prev_end..m.start()]);
                    result.push_str(&st);
                    prev_end = m.end();
                }
                captured.insert(text, st);
            }
        }
        result.push_str(&input[prev_end..]);
        let first = &all[0];
        let updates = self
            .regex
            .names
            .iter()
            .filter_map(|(i, name)| {
                let text = first.get(*i).map(|m| m.as_str()).unwrap_or("");
                captured.get(text).map(|v| (name.clone(), v.clone()))
            })
            .collect();
        Some((result, updates))
    }
}

impl Stage for ReplaceStage {
    fn name(&self) -> &'static str {
        "replace"
    }

    fn process(&mut self, mut entry: Entry, out: &mut Vec<Entry>) {
        let input = match &self.source {
            None => Some(entry.line.clone()),
            Some(src) => entry.extracted.get(src).and_then(Value::to_go_string),
        };
        if let Some(input) = input {
            if let Some((result, updates)) = self.replace(&input, &entry.extracted) {
                match &self.source {
                    Some(src) => {
                        entry.extracted.insert(src.clone(), Value::Str(result));
                    }
                    None => entry.line = result,
                }
                for (k, v) in updates {
                    entry.extracted.insert(k, Value::Str(v));
                }
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

    fn run(cfg: &str, line: &str) -> Entry {
        let mut p = pipeline(&format!("- replace:\n    {cfg}\n")).unwrap();
        let mut out = Vec::new();
        p.process(Entry::new(Labels::new(), 0, line.into()), &mut out);
        out.pop().unwrap()
    }

    /// The expression is read as Go's RE2 reads it: the cases where the regex crate alone
    /// answers differently, and Go's error wording.
    #[test]
    fn go_regex_semantics() {
        for (cfg, line, want) in [
            // ASCII `\d`: the Arabic-Indic digit is not replaced.
            (
                r"expression: '(\d)'
    replace: 'N'",
                "1٢3",
                "N٢N",
            ),
            // `\w` and `\s` are ASCII.
            (
                r"expression: '(\w+)\s'
    replace: 'W'",
                "é\u{a0}ab c",
                "é\u{a0}W c",
            ),
            // A `{` that starts no repeat is a literal.
            (
                r#"expression: '{"(level)"'
    replace: 'lvl'"#,
                r#"{"level":1}"#,
                r#"{"lvl":1}"#,
            ),
            // `\Q...\E` quotes.
            (
                r"expression: '\Q.*\E(x)'
    replace: 'y'",
                "a.*x",
                "a.*y",
            ),
            // Duplicate group names compile.
            (
                r"expression: '(?P<a>x)|(?P<a>z)'
    replace: '_'",
                "xyz",
                "_y_",
            ),
        ] {
            assert_eq!(run(cfg, line).line, want, "{cfg}");
        }
        assert_eq!(
            pipeline("- replace:\n    expression: '(?P<a-b>x)'\n")
                .err()
                .unwrap(),
            "invalid replace stage config: could not compile regular expression: error parsing regexp: invalid named capture: `(?P<a-b>`"
        );
    }

    #[test]
    fn config_errors() {
        assert_eq!(
            pipeline("- replace:\n    replace: x\n").err().unwrap(),
            "invalid replace stage config: expression is required"
        );
        assert_eq!(
            pipeline("- replace:\n    expression: a\n    source: ''\n")
                .err()
                .unwrap(),
            "invalid replace stage config: empty source in replace stage"
        );
        assert!(pipeline("- replace:\n    expression: '('\n")
            .err()
            .unwrap()
            .starts_with("invalid replace stage config: could not compile regular expression"));
        // The template is not validated at config time; a bad one leaves entries unchanged.
        let e = run("expression: '(a)'\n    replace: '{{ .x '", "abc");
        assert_eq!(e.line, "abc");
    }

    #[test]
    fn documented_examples() {
        let cases = [
            (
                "expression: 'password (\\S+)'\n    replace: '****'",
                "password secret",
                "password ****",
            ),
            ("expression: 'a(b)c'", "abc abc", "ac ac"),
            (
                "expression: '((a)b)'\n    replace: '[{{ .Value }}]'",
                "ab ab",
                "[ab] [ab]",
            ),
            ("expression: '(x*)'\n    replace: '-'", "abc", "-a-b-c-"),
            ("expression: '(x*)'\n    replace: '-'", "xxaxx", "-a-"),
            ("expression: '(a|b|c)'", "abc", ""),
            ("expression: 'xyz'\n    replace: 'n'", "xyz", "xyz"),
            (
                "expression: '(?P<x>b+)|(?P<yy>c)'\n    replace: '<{{ .Value }}>'",
                "abbcbc",
                "a<bb><c><b><c>",
            ),
        ];
        for (cfg, line, want) in cases {
            assert_eq!(run(cfg, line).line, want, "{cfg}");
        }
        let e = run(
            "expression: '^(?P<ip>\\S+) (?P<identd>\\S+) (?P<user>\\S+)'\n    replace: '{{ .Value | ToUpper }}'",
            "11.11.11.11 - frank [25/Jan/2000]",
        );
        assert_eq!(e.line, "11.11.11.11 - FRANK [25/Jan/2000]");
        assert_eq!(e.extracted.get("user"), Some(&Value::Str("FRANK".into())));
        let e = run(
            "expression: '(?P<x>b+)|(?P<yy>c)'\n    replace: '<{{ .Value }}>'",
            "abbcbc",
        );
        assert_eq!(e.extracted.get("x"), Some(&Value::Str("<bb>".into())));
        assert_eq!(e.extracted.get("yy"), None);
    }

    #[test]
    fn documented_access_log_example() {
        let cfg = r#"expression: '^(?P<ip>\S+) (?P<identd>\S+) (?P<user>\S+) \[(?P<timestamp>[\w:/]+\s[+\-]\d{4})\] "(?P<action>\S+)\s?(?P<path>\S+)?\s?(?P<protocol>\S+)?" (?P<status>\d{3}|-) (?P<size>\d+|-)\s?"?(?P<referer>[^"]*)"?\s?"?(?P<useragent>[^"]*)?"?$'
    replace: '{{ if eq .Value "200" }}{{ Replace .Value "200" "HttpStatusOk" -1 }}{{ else }}{{ .Value | ToUpper }}{{ end }}'"#;
        let e = run(
            cfg,
            r#"11.11.11.11 - frank [25/Jan/2000:14:00:01 -0500] "GET /1986.js HTTP/1.1" 200 932 "-" "Mozilla/5.0 (Windows; U; Windows NT 5.1; de; rv:1.9.1.7) Gecko/20091221 Firefox/3.5.7 GTB6""#,
        );
        assert_eq!(
            e.line,
            r#"11.11.11.11 - FRANK [25/JAN/2000:14:00:01 -0500] "GET /1986.JS HTTP/1.1" HttpStatusOk 932 "-" "MOZILLA/5.0 (WINDOWS; U; WINDOWS NT 5.1; DE; RV:1.9.1.7) GECKO/20091221 FIREFOX/3.5.7 GTB6""#
        );
        assert_eq!(
            e.extracted.get("status"),
            Some(&Value::Str("HttpStatusOk".into()))
        );
        assert_eq!(e.extracted.get("user"), Some(&Value::Str("FRANK".into())));

        let e = run(
            r#"expression: '^(?P<ip_user>(?P<ip>\S+) - (?P<user>\S+))'
    replace: '{{ .Value | ToUpper }}'"#,
            "11.11.11.11 - frank rest",
        );
        assert_eq!(e.line, "11.11.11.11 - FRANK rest");
        assert_eq!(
            e.extracted.get("ip_user"),
            Some(&Value::Str("11.11.11.11 - FRANK".into()))
        );
        assert_eq!(
            e.extracted.get("ip"),
            Some(&Value::Str("11.11.11.11".into()))
        );
        assert_eq!(e.extracted.get("user"), Some(&Value::Str("FRANK".into())));
    }
}
