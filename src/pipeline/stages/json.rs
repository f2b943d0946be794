//! The `json` stage: parses the line (or an extracted value) as JSON and extracts JMESPath
//! results into the extracted map.

use jmespath::{Rcvar, Variable};
use smallvec::SmallVec;

use crate::pipeline::{BuildCtx, Entry, Stage, Value};
use gocompat::jmespath::{Expr, Found};
use gocompat::json::JVal;
use gocompat::mapstructure::StructCfg;
use gocompat::yaml::Node;

/// The built stage.
pub struct JsonStage {
    /// Names shared with every entry's extracted map (no key allocation per entry).
    exprs: Vec<(std::sync::Arc<str>, Expr)>,
    source: Option<String>,
    drop_malformed: bool,
    needs_var: bool,
    /// Every expression is a field path and none is a prefix of another, so values can be
    /// moved out of the parsed document instead of copied.
    movable: Option<Vec<Vec<String>>>,
    /// Every expression is a top-level field (`level`, `msg`): only those values are built, the
    /// rest of the document is checked and skipped.
    top_level: Option<Vec<String>>,
}

/// Converts a value found in the document as the json stage stores it.
fn jval_to_value(v: &JVal<'_>) -> Value {
    match v {
        JVal::Null => Value::Null,
        JVal::Bool(b) => Value::Bool(*b),
        JVal::Num(f) => Value::Float(*f),
        JVal::Str(s) => Value::Str(s.to_string()),
        other => {
            let mut s = String::new();
            gocompat::json::write_jsoniter(&mut s, other);
            Value::Str(s)
        }
    }
}

/// Converts a JMESPath result as the json stage stores it.
fn var_to_value(v: &Variable) -> Value {
    match v {
        Variable::Null => Value::Null,
        Variable::Bool(b) => Value::Bool(*b),
        Variable::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
        Variable::String(s) => Value::Str(s.clone()),
        other => {
            let mut s = String::new();
            gocompat::json::write_jsoniter_var(&mut s, other);
            Value::Str(s)
        }
    }
}

/// Converts a value moved out of the document (no copy for unescaped-then-owned strings).
fn jval_into_value(mut v: JVal<'_>) -> Value {
    match &mut v {
        JVal::Str(s) => Value::Str(std::mem::take(s).into_owned()),
        other => jval_to_value(other),
    }
}

fn set(extracted: &mut crate::core::entry::Extracted, name: &std::sync::Arc<str>, v: Value) {
    extracted.insert_shared(name, v);
}

impl JsonStage {
    /// Builds a stage from `(key, expression)` pairs; an empty expression means the key.
    pub(crate) fn new(
        exprs: &[(String, String)],
        source: Option<String>,
        drop_malformed: bool,
    ) -> Result<Self, String> {
        let mut compiled = Vec::with_capacity(exprs.len());
        for (name, e) in exprs {
            let text = if e.is_empty() { name } else { e };
            let c = Expr::compile(text)
                .map_err(|err| format!("could not compile JMES expression: {err}"))?;
            compiled.push((std::sync::Arc::from(name.as_str()), c));
        }
        let needs_var = compiled.iter().any(|(_, e)| e.needs_variable());
        let paths: Option<Vec<Vec<String>>> = compiled
            .iter()
            .map(|(_, e)| {
                e.field_path()
                    .map(|p| p.into_iter().map(String::from).collect())
            })
            .collect();
        let movable = paths.filter(|paths| {
            paths.iter().enumerate().all(|(i, a)| {
                paths
                    .iter()
                    .enumerate()
                    .all(|(j, b)| i == j || !(a.len() <= b.len() && b.starts_with(a)))
            })
        });
        let top_level = movable.as_ref().and_then(|paths| {
            paths
                .iter()
                .map(|p| match p.as_slice() {
                    [field] => Some(field.clone()),
                    _ => None,
                })
                .collect()
        });
        Ok(JsonStage {
            exprs: compiled,
            source,
            drop_malformed,
            needs_var,
            movable,
            top_level,
        })
    }

    /// A line that is not JSON: reported; false when the entry must be dropped.
    #[cold]
    fn malformed(&self) -> bool {
        tracing::debug!("json stage: failed to unmarshal log line");
        crate::pipeline::stage_failed("failed to unmarshal log line");
        !self.drop_malformed
    }

    /// Applies the stage; returns false when the entry must be dropped (`drop_malformed`).
    pub(crate) fn apply(&self, e: &mut Entry) -> bool {
        let owned;
        let input: &str = match &self.source {
            None => &e.line,
            Some(src) => match e.extracted.get(src) {
                None => return true,
                Some(v) => match v.to_go_string() {
                    Some(s) => {
                        owned = s;
                        &owned
                    }
                    None => return true,
                },
            },
        };
        if let Some(fields) = &self.top_level {
            let mut found: SmallVec<[Option<JVal<'_>>; 8]> = fields.iter().map(|_| None).collect();
            if gocompat::json::extract_top_level(input, fields, &mut found).is_err() {
                return self.malformed();
            }
            for ((name, _), v) in self.exprs.iter().zip(found) {
                let value = v.map_or(Value::Null, jval_into_value);
                set(&mut e.extracted, name, value);
            }
            return true;
        }
        let mut doc = match gocompat::json::parse_object(input) {
            Ok(d) => d,
            Err(_) => return self.malformed(),
        };
        if let Some(paths) = &self.movable {
            for ((name, _), path) in self.exprs.iter().zip(paths) {
                let mut cur = doc.as_mut();
                for field in path {
                    cur = cur.and_then(|v| v.get_mut(field));
                }
                let value = match cur {
                    Some(v) => jval_into_value(std::mem::replace(v, JVal::Null)),
                    None => Value::Null,
                };
                set(&mut e.extracted, name, value);
            }
            return true;
        }
        let var = if self.needs_var {
            Some(Rcvar::new(
                doc.as_ref()
                    .map(gocompat::json::to_variable)
                    .unwrap_or(Variable::Null),
            ))
        } else {
            None
        };
        for (name, expr) in &self.exprs {
            let value = match expr.search(doc.as_ref(), var.as_ref()) {
                Err(_) => continue,
                Ok(Found::Json(None)) => Value::Null,
                Ok(Found::Json(Some(v))) => jval_to_value(v),
                Ok(Found::Var(r)) => {
                    let value = var_to_value(&r);
                    gocompat::json::drop_variable(r);
                    value
                }
            };
            set(&mut e.extracted, name, value);
        }
        if let Some(var) = var {
            gocompat::json::drop_variable(var);
        }
        true
    }
}

impl Stage for JsonStage {
    fn name(&self) -> &'static str {
        "json"
    }

    fn process(&mut self, mut entry: Entry, out: &mut Vec<Entry>) {
        if self.apply(&mut entry) {
            out.push(entry);
        }
    }
}

/// Builds the stage from its config.
pub fn build(ctx: &mut BuildCtx, config: &Node) -> Result<Box<dyn Stage>, String> {
    let mut cfg = StructCfg::new(
        ctx.warnings,
        "json",
        config,
        false,
        &["expressions", "source", "drop_malformed"],
    )?;
    let exprs = cfg.string_map("expressions").unwrap_or_default();
    let source = cfg.string("source");
    let drop_malformed = cfg.bool("drop_malformed").unwrap_or(false);
    cfg.finish()?;
    if exprs.is_empty() {
        return Err("JMES expression is required".into());
    }
    if source.as_deref() == Some("") {
        return Err("empty source".into());
    }
    let exprs: Vec<(String, String)> = exprs
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect();
    Ok(Box::new(JsonStage::new(&exprs, source, drop_malformed)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Labels;
    use gocompat::yaml::parse;

    fn stage(yaml: &str) -> Result<Box<dyn Stage>, String> {
        crate::pipeline::build_for_test(build, yaml)
    }

    fn run(yaml: &str, line: &str) -> Option<Entry> {
        let mut s = stage(yaml).unwrap();
        let mut out = Vec::new();
        s.process(Entry::new(Labels::new(), 0, line.into()), &mut out);
        out.pop()
    }

    const DOC_LINE: &str = r#"{"log":"log message\n","stream":"stderr","time":"2019-04-30T02:12:41.8443515Z","extra":"{\"user\":\"marco\"}","nested":{"child":"value"},"num":125}"#;

    #[test]
    fn documented_example() {
        // Docs: output: log, stream: stream, timestamp: time, plus a missing key and a number.
        let e = run(
            "expressions:\n  output: log\n  stream: stream\n  timestamp: time\n  unknown:\n  num:\n  nested:\n",
            DOC_LINE,
        )
        .unwrap();
        let x = &e.extracted;
        assert_eq!(x["output"], Value::Str("log message\n".into()));
        assert_eq!(x["stream"], Value::Str("stderr".into()));
        assert_eq!(
            x["timestamp"],
            Value::Str("2019-04-30T02:12:41.8443515Z".into())
        );
        assert_eq!(x["unknown"], Value::Null);
        assert_eq!(x["num"], Value::Float(125.0));
        assert_eq!(x["nested"], Value::Str(r#"{"child":"value"}"#.into()));
    }

    #[test]
    fn source_example() {
        // Docs: a second json stage with `source: extra` extracting `user`.
        let mut w = Vec::new();
        let mut ctx = BuildCtx {
            job: "t",
            warnings: &mut w,
            base_dir: None,
        };
        let mut a = build(&mut ctx, &parse("expressions: {extra:}\n").unwrap()).unwrap();
        let mut b = build(
            &mut ctx,
            &parse("expressions: {user:}\nsource: extra\n").unwrap(),
        )
        .unwrap();
        let mut out = Vec::new();
        a.process(Entry::new(Labels::new(), 0, DOC_LINE.into()), &mut out);
        let e = out.pop().unwrap();
        b.process(e, &mut out);
        assert_eq!(out[0].extracted["user"], Value::Str("marco".into()));
    }

    #[test]
    fn functions_and_to_string() {
        let e = run(
            "expressions:\n  cnt: length(items)\n  s: to_string(obj)\n  bad: abs(name)\n  f: missing || 'd'\n  num: to_number(txt)\n  nan: to_number(name)\n  k: keys(obj)\n",
            r#"{"items":[1,2],"obj":{"z":1,"a":[1e-7,"<"]},"name":"x","txt":".5"}"#,
        )
        .unwrap();
        assert_eq!(e.extracted["cnt"], Value::Float(2.0));
        assert_eq!(
            e.extracted["s"],
            Value::Str(r#"{"a":[1e-7,"\u003c"],"z":1}"#.into())
        );
        assert!(!e.extracted.contains_key("bad"));
        assert_eq!(e.extracted["f"], Value::Str("d".into()));
        assert_eq!(e.extracted["num"], Value::Float(0.5));
        assert_eq!(e.extracted["nan"], Value::Null);
        assert_eq!(e.extracted["k"], Value::Str(r#"["a","z"]"#.into()));
    }

    #[test]
    fn overlapping_paths_and_escaped_strings() {
        // `a` and `a.b` overlap, so values are copied rather than moved out of the document.
        let e = run(
            "expressions:\n  whole: a\n  inner: a.b\n",
            r#"{"a":{"b":"x\ny"}}"#,
        )
        .unwrap();
        assert_eq!(e.extracted["whole"], Value::Str(r#"{"b":"x\ny"}"#.into()));
        assert_eq!(e.extracted["inner"], Value::Str("x\ny".into()));
        // Disjoint paths (moved out): duplicates keep the last value.
        let e = run(
            "expressions:\n  one: a\n  two: c.d\n",
            r#"{"a":"1\t","a":"2\t","c":{"d":[1,{"e":null}]}}"#,
        )
        .unwrap();
        assert_eq!(e.extracted["one"], Value::Str("2\t".into()));
        assert_eq!(e.extracted["two"], Value::Str(r#"[1,{"e":null}]"#.into()));
    }

    #[test]
    fn malformed() {
        assert!(run("expressions: {a:}\ndrop_malformed: true\n", "not json").is_none());
        assert!(run("expressions: {a:}\ndrop_malformed: true\n", "[1]").is_none());
        let e = run("expressions: {a:}\ndrop_malformed: true\n", "null").unwrap();
        assert_eq!(e.extracted["a"], Value::Null);
        let e = run("expressions: {a:}\n", "not json").unwrap();
        assert!(e.extracted.is_empty());
    }

    #[test]
    fn errors() {
        assert_eq!(stage("{}").err().unwrap(), "JMES expression is required");
        assert_eq!(
            stage("expressions: {a:}\nsource: ''\n").err().unwrap(),
            "empty source"
        );
        assert_eq!(
            stage("expressions: {fb: foo-bar}\n").err().unwrap(),
            "could not compile JMES expression: SyntaxError: Unexpected token at the end of the expression: tNumber"
        );
        assert_eq!(
            stage("expressions: {num: n}\n").err().unwrap(),
            "1 error(s) decoding:\n\n* 'expressions[<interface {} Value>]' expected type 'string', got unconvertible type 'bool', value: 'false'"
        );
    }
}
