//! Prometheus `relabel_configs`, as Promtail 3.4.6 vendors them (prometheus v0.55).
//!
//! **Invariant:** pure functions over label sets; no IO. Runs once per target (file targets) or
//! once per container and stream (docker targets), never per line.

use gocompat::regex::GoRegex;
use md5::{Digest, Md5};
use regex::Regex;

use serde::Deserialize;

use crate::core::Labels;

/// `relabel_configs[]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename = "relabel.plain", default)]
pub struct RawRelabel {
    /// `source_labels`.
    pub source_labels: Option<Vec<String>>,
    /// `separator` (default `;`).
    pub separator: Option<String>,
    /// `target_label`.
    pub target_label: Option<String>,
    /// `regex` (default `(.*)`).
    pub regex: Option<String>,
    /// `modulus`.
    pub modulus: Option<u64>,
    /// `replacement` (default `$1`).
    pub replacement: Option<String>,
    /// `action` (default `replace`).
    pub action: Option<String>,
}

/// A relabel action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Set `target_label` from the expanded replacement.
    Replace,
    /// Keep the target only if the regex matches.
    Keep,
    /// Drop the target if the regex matches.
    Drop,
    /// Keep the target only if `target_label` equals the joined source value.
    KeepEqual,
    /// Drop the target if `target_label` equals the joined source value.
    DropEqual,
    /// Hash the joined value modulo `modulus` into `target_label`.
    HashMod,
    /// Copy labels whose names match to the replaced name.
    LabelMap,
    /// Delete labels whose names match.
    LabelDrop,
    /// Delete labels whose names do not match.
    LabelKeep,
    /// Lower-case the joined value into `target_label`.
    Lowercase,
    /// Upper-case the joined value into `target_label`.
    Uppercase,
}

impl Action {
    fn parse(s: &str) -> Result<Action, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "replace" => Action::Replace,
            "keep" => Action::Keep,
            "drop" => Action::Drop,
            "keepequal" => Action::KeepEqual,
            "dropequal" => Action::DropEqual,
            "hashmod" => Action::HashMod,
            "labelmap" => Action::LabelMap,
            "labeldrop" => Action::LabelDrop,
            "labelkeep" => Action::LabelKeep,
            "lowercase" => Action::Lowercase,
            "uppercase" => Action::Uppercase,
            _ => return Err(format!("unknown relabel action {s:?}")),
        })
    }

    fn name(self) -> &'static str {
        match self {
            Action::Replace => "replace",
            Action::Keep => "keep",
            Action::Drop => "drop",
            Action::KeepEqual => "keepequal",
            Action::DropEqual => "dropequal",
            Action::HashMod => "hashmod",
            Action::LabelMap => "labelmap",
            Action::LabelDrop => "labeldrop",
            Action::LabelKeep => "labelkeep",
            Action::Lowercase => "lowercase",
            Action::Uppercase => "uppercase",
        }
    }
}

/// One compiled relabel rule.
#[derive(Debug, Clone)]
pub struct Rule {
    source_labels: Vec<String>,
    separator: String,
    target_label: String,
    regex: GoRegex,
    modulus: u64,
    replacement: String,
    action: Action,
}

const DEFAULT_REGEX: &str = "(.*)";
const DEFAULT_REPLACEMENT: &str = "$1";

/// True for a legacy Prometheus label name `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Prometheus' `relabelTarget` pattern: label-name characters with `$name`/`${name}` references.
fn is_valid_target_template(s: &str) -> bool {
    static PATTERN: std::sync::OnceLock<Option<Regex>> = std::sync::OnceLock::new();
    PATTERN
        .get_or_init(|| {
            GoRegex::new(r"^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$")
                .ok()
                .map(|r| r.regex)
        })
        .as_ref()
        .is_some_and(|re| re.is_match(s))
}

impl Rule {
    /// Compiles and validates one rule with Prometheus' defaults and messages.
    pub fn compile(raw: &RawRelabel) -> Result<Rule, String> {
        let action = match raw.action.as_deref() {
            None => Action::Replace,
            Some("") => return Err("relabel action cannot be empty".into()),
            Some(a) => Action::parse(a)?,
        };
        let regex_src = raw.regex.clone().unwrap_or_else(|| DEFAULT_REGEX.into());
        let regex = GoRegex::anchored(&regex_src)?;
        let target = raw.target_label.clone().unwrap_or_default();
        let replacement = raw
            .replacement
            .clone()
            .unwrap_or_else(|| DEFAULT_REPLACEMENT.into());
        let separator = raw.separator.clone().unwrap_or_else(|| ";".into());
        let modulus = raw.modulus.unwrap_or(0);
        let name = action.name();

        if action == Action::HashMod && modulus == 0 {
            return Err("relabel configuration for hashmod requires non-zero modulus".into());
        }
        let needs_target = matches!(
            action,
            Action::Replace
                | Action::HashMod
                | Action::Lowercase
                | Action::Uppercase
                | Action::KeepEqual
                | Action::DropEqual
        );
        if needs_target && target.is_empty() {
            return Err(format!(
                "relabel configuration for {name} action requires 'target_label' value"
            ));
        }
        let simple_target = matches!(
            action,
            Action::Lowercase | Action::Uppercase | Action::KeepEqual | Action::DropEqual
        );
        if (action == Action::Replace || simple_target) && !is_valid_target_template(&target) {
            return Err(format!(
                "{target:?} is invalid 'target_label' for {name} action"
            ));
        }
        if simple_target && !is_valid_label_name(&target) {
            return Err(format!(
                "{target:?} is invalid 'target_label' for {name} action"
            ));
        }
        if simple_target && replacement != DEFAULT_REPLACEMENT {
            return Err(format!("'replacement' can not be set for {name} action"));
        }
        if action == Action::LabelMap && !is_valid_target_template(&replacement) {
            return Err(format!(
                "{replacement:?} is invalid 'replacement' for {name} action"
            ));
        }
        if action == Action::HashMod && !is_valid_label_name(&target) {
            return Err(format!(
                "{target:?} is invalid 'target_label' for {name} action"
            ));
        }
        if matches!(action, Action::KeepEqual | Action::DropEqual)
            && (regex_src != DEFAULT_REGEX
                || modulus != 0
                || separator != ";"
                || replacement != DEFAULT_REPLACEMENT)
        {
            return Err(format!(
                "{name} action requires only 'source_labels' and `target_label`, and no other fields"
            ));
        }
        if matches!(action, Action::LabelDrop | Action::LabelKeep)
            && (raw.source_labels.is_some()
                || !target.is_empty()
                || modulus != 0
                || separator != ";"
                || replacement != DEFAULT_REPLACEMENT)
        {
            return Err(format!(
                "{name} action requires only 'regex', and no other fields"
            ));
        }
        Ok(Rule {
            source_labels: raw.source_labels.clone().unwrap_or_default(),
            separator,
            target_label: target,
            regex,
            modulus,
            replacement,
            action,
        })
    }

    /// Applies the rule; `false` means the target is dropped.
    pub fn apply(&self, labels: &mut Labels) -> bool {
        let val = self
            .source_labels
            .iter()
            .map(|l| labels.get(l).unwrap_or(""))
            .collect::<Vec<_>>()
            .join(&self.separator);
        match self.action {
            Action::Drop => return !self.regex.regex.is_match(&val),
            Action::Keep => return self.regex.regex.is_match(&val),
            Action::DropEqual => return labels.get(&self.target_label).unwrap_or("") != val,
            Action::KeepEqual => return labels.get(&self.target_label).unwrap_or("") == val,
            Action::Replace => {
                let Some(caps) = self.regex.regex.captures(&val) else {
                    return true;
                };
                let mut target = String::new();
                self.regex.expand(&caps, &self.target_label, &mut target);
                if !is_valid_label_name(&target) {
                    return true;
                }
                let mut res = String::new();
                self.regex.expand(&caps, &self.replacement, &mut res);
                if res.is_empty() {
                    labels.remove(&target);
                } else {
                    labels.insert(target, res);
                }
            }
            Action::Lowercase => {
                labels.insert(self.target_label.clone(), go_simple_case(&val, false))
            }
            Action::Uppercase => {
                labels.insert(self.target_label.clone(), go_simple_case(&val, true))
            }
            Action::HashMod => {
                let digest = Md5::digest(val.as_bytes());
                let mut tail = [0u8; 8];
                tail.copy_from_slice(&digest[8..16]);
                let m = u64::from_be_bytes(tail) % self.modulus;
                labels.insert(self.target_label.clone(), m.to_string());
            }
            Action::LabelMap => {
                let snapshot: Vec<(String, String)> = labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                for (name, value) in snapshot {
                    if let Some(caps) = self.regex.regex.captures(&name) {
                        let mut res = String::new();
                        self.regex.expand(&caps, &self.replacement, &mut res);
                        // A result that is no label name (emptied by `$a` with no group `a`, or
                        // starting with a digit) would make the whole stream invalid for Loki.
                        if is_valid_label_name(&res) {
                            labels.insert(res, value);
                        }
                    }
                }
            }
            Action::LabelDrop => labels.retain(|k, _| !self.regex.regex.is_match(k)),
            Action::LabelKeep => labels.retain(|k, _| self.regex.regex.is_match(k)),
        }
        true
    }
}

/// Go's `strings.ToUpper`/`ToLower`: one character maps to one character (simple case mapping),
/// so `ß` stays `ß` where Rust's full mapping would give `SS`.
fn go_simple_case(s: &str, upper: bool) -> String {
    s.chars()
        .map(|c| {
            let mut it: Box<dyn Iterator<Item = char>> = if upper {
                Box::new(c.to_uppercase())
            } else {
                Box::new(c.to_lowercase())
            };
            match (it.next(), it.next()) {
                (Some(m), None) => m,
                _ => c,
            }
        })
        .collect()
}

/// A list of compiled rules.
#[derive(Debug, Clone, Default)]
pub struct Relabeler {
    rules: Vec<Rule>,
}

impl Relabeler {
    /// Compiles every rule; the error names the rule's index.
    pub fn compile(raw: &[RawRelabel]) -> Result<Self, String> {
        let rules = raw
            .iter()
            .enumerate()
            .map(|(i, r)| Rule::compile(r).map_err(|e| format!("relabel_configs[{i}]: {e}")))
            .collect::<Result<_, _>>()?;
        Ok(Relabeler { rules })
    }

    /// Runs every rule in order; `None` when a keep/drop rule dropped the target.
    pub fn process(&self, mut labels: Labels) -> Option<Labels> {
        for rule in &self.rules {
            if !rule.apply(&mut labels) {
                return None;
            }
        }
        Some(labels)
    }

    /// True when there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(yaml: &str) -> Result<Rule, String> {
        let node = gocompat::yaml::parse(yaml).unwrap();
        let raw: RawRelabel = gocompat::yaml::from_node(&node, gocompat::yaml::Mode::Config)
            .map_err(|e| e.to_string())?
            .value;
        Rule::compile(&raw)
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().copied().collect()
    }

    #[test]
    fn actions_table() {
        // (rule, input, expected output or None when dropped)
        type Case<'a> = (
            &'a str,
            Vec<(&'a str, &'a str)>,
            Option<Vec<(&'a str, &'a str)>>,
        );
        let cases: Vec<Case> = vec![
            (
                "source_labels: [team]\nregex: '([a-z]+)-(.+)'\ntarget_label: area\nreplacement: '$2'",
                vec![("team", "web-core-api")],
                Some(vec![("area", "core-api"), ("team", "web-core-api")]),
            ),
            ("source_labels: [team]\nregex: '([a-z]+)-(.+)'\ntarget_label: area", vec![("team", "solo")], Some(vec![("team", "solo")])),
            ("source_labels: [a]\ntarget_label: b\nreplacement: ''", vec![("a", "x"), ("b", "y")], Some(vec![("a", "x")])),
            ("source_labels: [a, missing]\ntarget_label: b", vec![("a", "x")], Some(vec![("a", "x"), ("b", "x;")])),
            ("source_labels: [a]\nregex: x\naction: keep", vec![("a", "x")], Some(vec![("a", "x")])),
            ("source_labels: [a]\nregex: x\naction: keep", vec![("a", "xy")], None),
            ("source_labels: [a]\nregex: x.*\naction: DROP", vec![("a", "xy")], None),
            ("regex: '__meta_(.+)'\naction: labelmap", vec![("__meta_k", "v")], Some(vec![("__meta_k", "v"), ("k", "v")])),
            ("regex: 'tmp.*'\naction: labeldrop", vec![("tmp1", "v"), ("keep", "k")], Some(vec![("keep", "k")])),
            ("regex: 'keep'\naction: labelkeep", vec![("tmp1", "v"), ("keep", "k")], Some(vec![("keep", "k")])),
            ("source_labels: [a]\ntarget_label: u\naction: uppercase", vec![("a", "straße")], Some(vec![("a", "straße"), ("u", "STRAßE")])),
            ("source_labels: [a]\ntarget_label: l\naction: lowercase", vec![("a", "ABC")], Some(vec![("a", "ABC"), ("l", "abc")])),
            ("source_labels: [a]\ntarget_label: b\naction: keepequal", vec![("a", "x"), ("b", "x")], Some(vec![("a", "x"), ("b", "x")])),
            ("source_labels: [a]\ntarget_label: b\naction: keepequal", vec![("a", "x"), ("b", "y")], None),
            ("source_labels: [a]\ntarget_label: b\naction: dropequal", vec![("a", "x"), ("b", "x")], None),
            ("source_labels: [a]\nregex: '(.*)'\ntarget_label: '$1'\nreplacement: v", vec![("a", "1bad")], Some(vec![("a", "1bad")])),
            ("source_labels: [a]\nregex: '(?P<name>.*)'\ntarget_label: '${name}_x'\nreplacement: v", vec![("a", "n")], Some(vec![("a", "n"), ("n_x", "v")])),
        ];
        for (yaml, input, want) in cases {
            let r = rule(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"));
            let mut l = labels(&input);
            let kept = r.apply(&mut l);
            match want {
                None => assert!(!kept, "{yaml}: expected drop"),
                Some(w) => {
                    assert!(kept, "{yaml}: expected keep");
                    assert_eq!(l, labels(&w), "{yaml}");
                }
            }
        }
    }

    /// Rule regexes are read as Go's RE2 reads `^(?:regex)$` (Prometheus 2.55).
    #[test]
    fn regexes_are_go() {
        for (yaml, input, want) in [
            // ASCII `\w`: `é` does not match, so the target is kept unchanged.
            ("source_labels: [a]\nregex: '(\\w+)'\ntarget_label: b", vec![("a", "é")], Some(vec![("a", "é")])),
            ("source_labels: [a]\nregex: '(\\w+)'\ntarget_label: b", vec![("a", "e")], Some(vec![("a", "e"), ("b", "e")])),
            // `.` does not match a newline; the match is anchored.
            ("source_labels: [a]\nregex: 'x.y'\naction: keep", vec![("a", "x\ny")], None),
            ("source_labels: [a]\nregex: 'x'\naction: keep", vec![("a", "xx")], None),
            // A literal `{`; duplicate names, `$name` takes the first group that matched.
            ("source_labels: [a]\nregex: '{(?P<v>x)}|(?P<v>y)'\ntarget_label: b\nreplacement: '$v'", vec![("a", "y")], Some(vec![("a", "y"), ("b", "y")])),
            ("source_labels: [a]\nregex: '{(?P<v>x)}|(?P<v>y)'\ntarget_label: b\nreplacement: '${v}!'", vec![("a", "{x}")], Some(vec![("a", "{x}"), ("b", "x!")])),
            ("regex: '__meta_(\\w+)'\naction: labelmap", vec![("__meta_k", "v")], Some(vec![("__meta_k", "v"), ("k", "v")])),
        ] {
            let r = rule(yaml).unwrap();
            let mut l = labels(&input);
            let kept = r.apply(&mut l);
            let got = kept.then(|| l.clone());
            assert_eq!(got, want.map(|w| labels(&w)), "{yaml}");
        }
        assert_eq!(
            rule("regex: '(a'\naction: keep\nsource_labels: [a]")
                .err()
                .unwrap(),
            "error parsing regexp: missing closing ): `^(?:(a)$`"
        );
    }

    #[test]
    fn hashmod_matches_prometheus() {
        let r = rule("source_labels: [a]\nmodulus: 10\ntarget_label: h\naction: hashmod").unwrap();
        let mut l = labels(&[("a", "foo")]);
        r.apply(&mut l);
        // md5("foo") = acbd18db4cc2f85cedef654fccc4a4d8; bytes 8..16 = 0xedef654fccc4a4d8.
        assert_eq!(
            l.get("h"),
            Some((0xedef654fccc4a4d8u64 % 10).to_string().as_str())
        );
    }

    #[test]
    fn validation_messages() {
        let cases = [
            ("action: ''", "relabel action cannot be empty"),
            ("action: hashmod\ntarget_label: x", "relabel configuration for hashmod requires non-zero modulus"),
            ("action: bogus", "unknown relabel action \"bogus\""),
            ("action: replace", "relabel configuration for replace action requires 'target_label' value"),
            ("target_label: 'bad-$1'", "\"bad-$1\" is invalid 'target_label' for replace action"),
            ("action: uppercase\ntarget_label: x\nreplacement: y", "'replacement' can not be set for uppercase action"),
            ("action: labeldrop\nregex: x\ntarget_label: y", "labeldrop action requires only 'regex', and no other fields"),
            ("action: keepequal\ntarget_label: y\nregex: x", "keepequal action requires only 'source_labels' and `target_label`, and no other fields"),
            ("action: labelmap\nreplacement: 'a-b'", "\"a-b\" is invalid 'replacement' for labelmap action"),
        ];
        for (yaml, want) in cases {
            assert_eq!(rule(yaml).err().as_deref(), Some(want), "{yaml}");
        }
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// Any rule that compiles applies to any label set without panicking, and the result only
        /// holds valid label names (replace/labelmap skip invalid targets, as Prometheus does).
        #[test]
        fn rules_never_panic(
            action in prop::sample::select(vec!["replace", "keep", "drop", "hashmod", "labelmap", "labeldrop", "labelkeep", "lowercase", "uppercase", "keepequal", "dropequal"]),
            regex in "[a-z().*+|$0-9]{0,8}",
            replacement in "[a-z$0-9{}_]{0,8}",
            target in "[a-z_$0-9]{0,6}",
            labels in prop::collection::vec(("[a-z_][a-z0-9_]{0,5}", ".{0,8}"), 0..5),
        ) {
            let raw = RawRelabel {
                source_labels: Some(labels.iter().take(2).map(|(k, _)| k.clone()).collect()),
                separator: None,
                target_label: Some(target),
                regex: Some(regex),
                modulus: Some(7),
                replacement: Some(replacement),
                action: Some(action.to_string()),
            };
            if let Ok(rule) = Rule::compile(&raw) {
                let mut l: Labels = labels.into_iter().collect();
                let _ = rule.apply(&mut l);
                for (k, _) in l.iter() {
                    prop_assert!(is_valid_label_name(k), "{k:?}");
                }
            }
        }
    }
}
