//! The `labels` stage: sets labels from values in the extracted map.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};

use smallvec::SmallVec;

use crate::core::entry::LabelMemo;
use crate::pipeline::{BuildCtx, Entry, Labels, Stage, Value};
use gocompat::mapstructure::{is_legacy_label_name, top_string_map};
use gocompat::yaml::Node;

/// Calls `f` with Promtail's `getString` of `v` without allocating for strings; `None` for null.
pub(crate) fn with_go_str<R>(v: &Value, f: impl FnOnce(&str) -> R) -> Option<R> {
    go_str(v).map(|s| f(&s))
}

/// Sets `name` to `value` unless it already has that value (no allocation then).
pub(crate) fn set_label(labels: &mut Labels, name: &str, value: &str) {
    if labels.get(name) != Some(value) {
        labels.insert(name, value);
    }
}

/// Decodes a `map[string]*string` label config and validates the names (labels,
/// structured_metadata). A null source means the label's own name.
pub(crate) fn parse_label_map(config: &Node) -> Result<Vec<(String, String)>, String> {
    let map = top_string_map(config)?.unwrap_or_default();
    let mut pairs = Vec::with_capacity(map.len());
    for (name, src) in map {
        if !is_legacy_label_name(&name) {
            return Err(format!("invalid label name: {name}"));
        }
        let src = match src {
            Some(s) if !s.is_empty() => s,
            _ => name.clone(),
        };
        pairs.push((name, src));
    }
    Ok(pairs)
}

/// Promtail's `getString` of `v`, borrowed for strings; `None` for null.
pub(crate) fn go_str(v: &Value) -> Option<Cow<'_, str>> {
    match v {
        Value::Str(s) => Some(Cow::Borrowed(s)),
        Value::Null => None,
        other => other.to_go_string().map(Cow::Owned),
    }
}

/// A remembered result: the input set (kept alive, so its storage id is not reused), the values
/// set and the output set.
type Remembered = (Labels, Vec<Option<String>>, Labels);

/// The built stage.
pub struct LabelsStage {
    pairs: Vec<(String, String)>,
    /// Output label sets by input set and values, so that the entries of a stream share one set
    /// instead of each copying it.
    memo: HashMap<u64, Remembered, foldhash::fast::FixedState>,
}

impl LabelsStage {
    /// A stage setting each `(label, source)` pair.
    pub(crate) fn new(pairs: Vec<(String, String)>) -> Self {
        LabelsStage {
            pairs,
            memo: HashMap::default(),
        }
    }

    /// Applies the stage to one entry.
    pub(crate) fn apply(&mut self, e: &mut Entry) {
        let values: SmallVec<[Option<Cow<str>>; 4]> = self
            .pairs
            .iter()
            .map(|(_, src)| e.extracted.get(src).and_then(go_str))
            .collect();
        if values.iter().all(Option::is_none) {
            return;
        }
        let mut h = foldhash::fast::FixedState::default().build_hasher();
        e.labels.storage_id().hash(&mut h);
        values.hash(&mut h);
        let key = h.finish();
        if let Some((input, remembered, output)) = self.memo.get(&key) {
            if input.ptr_eq(&e.labels)
                && remembered
                    .iter()
                    .zip(&values)
                    .all(|(a, b)| a.as_deref() == b.as_deref())
            {
                e.labels = output.clone();
                return;
            }
        }
        let input = e.labels.clone();
        for ((name, _), v) in self.pairs.iter().zip(&values) {
            if let Some(s) = v {
                set_label(&mut e.labels, name, s);
            }
        }
        if self.memo.len() >= LabelMemo::<()>::CAPACITY {
            self.memo.clear();
        }
        let remembered = values.into_iter().map(|v| v.map(Cow::into_owned)).collect();
        self.memo.insert(key, (input, remembered, e.labels.clone()));
    }
}

impl Stage for LabelsStage {
    fn name(&self) -> &'static str {
        "labels"
    }

    fn process(&mut self, mut entry: Entry, out: &mut Vec<Entry>) {
        self.apply(&mut entry);
        out.push(entry);
    }
}

/// Builds the stage from its config.
pub fn build(_ctx: &mut BuildCtx, config: &Node) -> Result<Box<dyn Stage>, String> {
    Ok(Box::new(LabelsStage::new(parse_label_map(config)?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(yaml: &str) -> Result<Box<dyn Stage>, String> {
        crate::pipeline::build_for_test(build, yaml)
    }

    fn run(yaml: &str, extracted: &[(&str, Value)], labels: &[(&str, &str)]) -> Labels {
        let mut s = stage(yaml).unwrap();
        let mut e = Entry::new(labels.iter().copied().collect(), 0, String::new());
        for (k, v) in extracted {
            e.extracted.insert(k.to_string(), v.clone());
        }
        let mut out = Vec::new();
        s.process(e, &mut out);
        out.remove(0).labels
    }

    #[test]
    fn documented_examples() {
        // Docs: `labels: {env:, user_id: user}` sets env from env and user_id from user.
        let l = run(
            "env:\nuser_id: user\n",
            &[
                ("env", Value::Str("prod".into())),
                ("user", Value::Str("bob".into())),
            ],
            &[],
        );
        assert_eq!(l.get("env"), Some("prod"));
        assert_eq!(l.get("user_id"), Some("bob"));
    }

    #[test]
    fn value_formatting_and_skips() {
        let cases: &[(Value, Option<&str>)] = &[
            (Value::Float(1.5), Some("1.5")),
            (Value::Float(1e21), Some("1000000000000000000000")),
            (Value::Float(1e-7), Some("0.0000001")),
            (Value::Bool(true), Some("true")),
            (Value::Float(-0.0), Some("-0")),
            (Value::Str(String::new()), Some("")),
            (Value::Null, Some("keep")),
        ];
        for (v, want) in cases {
            let l = run("a:\n", &[("a", v.clone())], &[("a", "keep")]);
            assert_eq!(l.get("a"), *want, "{v:?}");
        }
        // A missing source key leaves the labels alone.
        let l = run("b:\n", &[], &[("a", "x")]);
        assert_eq!(l.get("b"), None);
    }

    #[test]
    fn config_errors() {
        assert_eq!(
            stage("foo-bar:\n").err().unwrap(),
            "invalid label name: foo-bar"
        );
        assert_eq!(
            stage("n:\n").err().unwrap(),
            "1 error(s) decoding:\n\n* '[<interface {} Value>]' expected type 'string', got unconvertible type 'bool', value: 'false'"
        );
        assert!(stage("").is_ok());
    }
}
