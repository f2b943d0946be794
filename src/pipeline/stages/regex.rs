//! The `regex` stage: extracts named groups of a Go (RE2) regular expression.

use regex::CaptureLocations;

use crate::pipeline::{BuildCtx, Entry, Stage, Value};
use gocompat::mapstructure::StructCfg;
use gocompat::regex::GoRegex;
use gocompat::yaml::Node;

/// The built stage.
pub struct RegexStage {
    re: GoRegex,
    source: Option<String>,
    locs: CaptureLocations,
}

impl RegexStage {
    /// A stage for a compiled pattern reading `source` (the line when `None`).
    pub(crate) fn new(re: GoRegex, source: Option<String>) -> Self {
        let locs = re.regex.capture_locations();
        RegexStage { re, source, locs }
    }

    /// Applies the stage to one entry.
    pub(crate) fn apply(&mut self, e: &mut Entry) {
        let owned;
        let input: &str = match &self.source {
            None => &e.line,
            Some(src) => match e.extracted.get(src) {
                None => return,
                Some(Value::Str(s)) => {
                    owned = s.clone();
                    &owned
                }
                Some(v) => match v.to_go_string() {
                    Some(s) => {
                        owned = s;
                        &owned
                    }
                    None => {
                        tracing::debug!(source = %src, "regex stage: source value is null");
                        return;
                    }
                },
            },
        };
        if self.re.regex.captures_read(&mut self.locs, input).is_none() {
            return;
        }
        for (idx, name) in &self.re.names {
            let text = match self.locs.get(*idx) {
                Some((s, e)) => &input[s..e],
                None => "",
            };
            // One hash per key: the entry is usually fresh, so the key is new anyway.
            e.extracted
                .insert(name.clone(), Value::Str(text.to_string()));
        }
    }
}

impl Stage for RegexStage {
    fn name(&self) -> &'static str {
        "regex"
    }

    fn process(&mut self, mut entry: Entry, out: &mut Vec<Entry>) {
        self.apply(&mut entry);
        out.push(entry);
    }
}

/// Builds the stage from its config.
pub fn build(ctx: &mut BuildCtx, config: &Node) -> Result<Box<dyn Stage>, String> {
    let mut cfg = StructCfg::new(
        ctx.warnings,
        "regex",
        config,
        false,
        &["expression", "source"],
    )?;
    let expression = cfg.string("expression").unwrap_or_default();
    let source = cfg.string("source");
    cfg.finish()?;
    if expression.is_empty() {
        return Err("expression is required".into());
    }
    if source.as_deref() == Some("") {
        return Err("empty source".into());
    }
    let re = GoRegex::new(&expression)
        .map_err(|e| format!("could not compile regular expression: {e}"))?;
    Ok(Box::new(RegexStage::new(re, source)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Labels;

    fn stage(yaml: &str) -> Result<Box<dyn Stage>, String> {
        crate::pipeline::build_for_test(build, yaml)
    }

    fn run(yaml: &str, line: &str, extracted: &[(&str, Value)]) -> Entry {
        let mut s = stage(yaml).unwrap();
        let mut e = Entry::new(Labels::new(), 0, line.into());
        for (k, v) in extracted {
            e.extracted.insert(k.to_string(), v.clone());
        }
        let mut out = Vec::new();
        s.process(e, &mut out);
        out.remove(0)
    }

    fn get<'a>(e: &'a Entry, k: &str) -> Option<&'a str> {
        e.extracted.get(k).and_then(|v| v.as_str())
    }

    #[test]
    fn documented_example() {
        // Docs: `^(?s)(?P<time>\S+?) (?P<stream>stdout|stderr) (?P<flags>\S+?) (?P<content>.*)$`.
        let e = run(
            "expression: '^(?s)(?P<time>\\S+?) (?P<stream>stdout|stderr) (?P<flags>\\S+?) (?P<content>.*)$'\n",
            "2019-01-01T01:00:00.000000001Z stderr P i'm a log message!",
            &[],
        );
        assert_eq!(get(&e, "time"), Some("2019-01-01T01:00:00.000000001Z"));
        assert_eq!(get(&e, "stream"), Some("stderr"));
        assert_eq!(get(&e, "flags"), Some("P"));
        assert_eq!(get(&e, "content"), Some("i'm a log message!"));
        assert_eq!(
            e.line,
            "2019-01-01T01:00:00.000000001Z stderr P i'm a log message!"
        );
    }

    #[test]
    fn source_example() {
        // Docs: a regex with `source: time` extracting year/month/day.
        let e = run(
            "expression: '^(?P<year>\\d+)'\nsource: time\n",
            "ignored",
            &[("time", Value::Str("2019-01-01".into()))],
        );
        assert_eq!(get(&e, "year"), Some("2019"));
        // Missing or null source: nothing happens.
        let e = run("expression: '(?P<a>.)'\nsource: x\n", "line", &[]);
        assert!(e.extracted.is_empty());
        let e = run(
            "expression: '(?P<a>.)'\nsource: x\n",
            "line",
            &[("x", Value::Null)],
        );
        assert_eq!(e.extracted.len(), 1);
        // A float source is converted with getString.
        let e = run(
            "expression: '(?P<a>.*)'\nsource: x\n",
            "l",
            &[("x", Value::Float(1e21))],
        );
        assert_eq!(get(&e, "a"), Some("1000000000000000000000"));
    }

    #[test]
    fn groups() {
        let e = run("expression: '^(?P<a>a)?(?P<b>b)'\n", "b", &[]);
        assert_eq!(get(&e, "a"), Some(""));
        assert_eq!(get(&e, "b"), Some("b"));
        let e = run("expression: '(?P<a>x)(?P<a>y)'\n", "xy", &[]);
        assert_eq!(get(&e, "a"), Some("y"));
        let e = run("expression: '(?P<a>z)'\n", "xy", &[]);
        assert!(e.extracted.is_empty());
    }

    #[test]
    fn errors() {
        assert_eq!(stage("").err().unwrap(), "expression is required");
        assert_eq!(
            stage("source: a\n").err().unwrap(),
            "expression is required"
        );
        assert_eq!(
            stage("expression: a\nsource: \"\"\n").err().unwrap(),
            "empty source"
        );
        assert_eq!(
            stage("expression: '(?P<ts[0-9]+).*'\n").err().unwrap(),
            "could not compile regular expression: error parsing regexp: invalid named capture: `(?P<ts[0-9]+).*`"
        );
    }
}
