//! What Promtail's journal target makes of one journal entry: its labels (the `__journal_*`
//! labels of its fields relabelled with the job's rules) and its line (`MESSAGE`, or the whole
//! entry as JSON).
//!
//! Promtail (go-systemd's `GetEntry`) turns an entry's fields into a `map[string]string`, so a
//! field that occurs twice keeps its last value, the trusted `__CURSOR`/`__REALTIME_TIMESTAMP`/
//! `__MONOTONIC_TIMESTAMP` pseudo fields are not part of it, and binary values are Go strings of
//! their raw bytes. With `json: true` that map is marshalled by json-iterator (standard-library
//! compatible): keys sorted, every value a string, HTML characters escaped, invalid UTF-8 as
//! U+FFFD.

use std::collections::HashMap;

use crate::core::Labels;
use crate::relabel::{RawRelabel, Relabeler};

/// The label Promtail adds for `PRIORITY`, with the priority's keyword.
pub const PRIORITY_KEYWORD: &str = "__journal_priority_keyword";

/// Promtail's keyword of a syslog priority (`makeJournalPriority`): `3` is `error` (not `err`,
/// whatever its documentation says); an unknown value is kept as it is.
pub fn priority_keyword(p: &str) -> &str {
    match p {
        "0" => "emerg",
        "1" => "alert",
        "2" => "crit",
        "3" => "error",
        "4" => "warning",
        "5" => "notice",
        "6" => "info",
        "7" => "debug",
        other => other,
    }
}

/// The label of a journal field: `__journal_` and the field name lower-cased.
pub fn field_label(name: &str) -> String {
    let mut l = String::with_capacity(10 + name.len());
    l.push_str("__journal_");
    l.extend(name.chars().map(|c| c.to_ascii_lowercase()));
    l
}

/// The last value of each field, by name (Go's map keeps the last).
fn last_values(fields: &[(String, Vec<u8>)]) -> Vec<(&str, &[u8])> {
    let mut v: Vec<(&str, &[u8])> = Vec::with_capacity(fields.len());
    for (k, val) in fields {
        match v.iter_mut().find(|(n, _)| *n == k.as_str()) {
            Some(slot) => slot.1 = val.as_slice(),
            None => v.push((k.as_str(), val.as_slice())),
        }
    }
    v
}

/// Appends the entry's fields as Promtail's JSON object.
pub fn write_json(out: &mut String, fields: &[(String, Vec<u8>)]) {
    let mut v = last_values(fields);
    v.sort_unstable_by(|a, b| a.0.cmp(b.0));
    out.push('{');
    for (i, (k, val)) in v.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_go_string(out, k.as_bytes());
        out.push(':');
        write_go_string(out, val);
    }
    out.push('}');
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends a Go string (any bytes) as json-iterator's standard-library-compatible encoder writes
/// it: `"`, `\\`, `\n`, `\r`, `\t` short escapes, other control characters as `\u00XX`; `<`, `>`,
/// `&`, U+2028 and U+2029 escaped; each byte of invalid UTF-8 as `\ufffd`.
pub fn write_go_string(out: &mut String, b: &[u8]) {
    out.push('"');
    for chunk in b.utf8_chunks() {
        let s = chunk.valid();
        let mut start = 0;
        for (i, ch) in s.char_indices() {
            let esc: &str = match ch {
                '"' => "\\\"",
                '\\' => "\\\\",
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                '<' => "\\u003c",
                '>' => "\\u003e",
                '&' => "\\u0026",
                '\u{2028}' => "\\u2028",
                '\u{2029}' => "\\u2029",
                c if (c as u32) < 0x20 => "",
                _ => continue,
            };
            out.push_str(&s[start..i]);
            if esc.is_empty() {
                let c = ch as u32 as u8;
                out.push_str("\\u00");
                out.push(HEX[(c >> 4) as usize] as char);
                out.push(HEX[(c & 0xf) as usize] as char);
            } else {
                out.push_str(esc);
            }
            start = i + ch.len_utf8();
        }
        out.push_str(&s[start..]);
        for _ in chunk.invalid() {
            out.push_str("\\ufffd");
        }
    }
    out.push('"');
}

/// Which `__journal_*` labels the rules can see, and so which fields decide an entry's labels.
#[derive(Debug, Clone)]
enum Needed {
    /// A rule looks at every label name (`labelmap`, `labeldrop`, `labelkeep`).
    All,
    /// Field names (upper-cased label suffixes) the rules read, sorted.
    Fields(Vec<String>),
}

/// Most distinct label decisions remembered before the memo starts over.
const MEMO_CAPACITY: usize = 4096;

/// Turns entries' fields into their final labels, as Promtail does for every entry: the
/// `__journal_*` labels of the fields (plus `__journal_priority_keyword`), the job's constant
/// labels over them, the job's relabel rules, then every `__` label removed; `None` when the rules
/// drop the entry or no label is left.
///
/// Only the fields some rule reads can change the result, so the result is remembered by the
/// values of those fields: a stream's entries cost a hash lookup, not a relabelling.
pub struct EntryLabels {
    constant: Vec<(String, String)>,
    relabel: Relabeler,
    needed: Needed,
    memo: HashMap<Vec<u8>, Option<Labels>, foldhash::fast::FixedState>,
    key: Vec<u8>,
}

impl EntryLabels {
    /// The labeller of a job: its `journal.labels`, its relabel rules compiled and as written.
    pub fn new(
        constant: &std::collections::BTreeMap<String, String>,
        relabel: Relabeler,
        raw: &[RawRelabel],
    ) -> EntryLabels {
        let mut all = false;
        let mut names: Vec<String> = Vec::new();
        for r in raw {
            let action = r
                .action
                .as_deref()
                .unwrap_or("replace")
                .to_ascii_lowercase();
            if matches!(action.as_str(), "labelmap" | "labeldrop" | "labelkeep") {
                all = true;
            }
            let mut refs: Vec<&str> = r
                .source_labels
                .iter()
                .flatten()
                .map(String::as_str)
                .collect();
            if matches!(action.as_str(), "keepequal" | "dropequal") {
                refs.extend(r.target_label.as_deref());
            }
            for l in refs {
                let Some(suffix) = l.strip_prefix("__journal_") else {
                    continue;
                };
                let field = if l == PRIORITY_KEYWORD {
                    "PRIORITY".to_string()
                } else {
                    suffix.to_ascii_uppercase()
                };
                if !names.contains(&field) {
                    names.push(field);
                }
            }
        }
        names.sort();
        EntryLabels {
            constant: constant
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            relabel,
            needed: if all {
                Needed::All
            } else {
                Needed::Fields(names)
            },
            memo: HashMap::default(),
            key: Vec::new(),
        }
    }

    /// The labels of an entry with these fields.
    pub fn labels(&mut self, fields: &[(String, Vec<u8>)]) -> Option<Labels> {
        let names = match &self.needed {
            Needed::All => return self.compute(fields, None),
            Needed::Fields(n) => n,
        };
        self.key.clear();
        for name in names {
            // The last occurrence wins, as in Go's map.
            let v = fields
                .iter()
                .rev()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_slice());
            match v {
                Some(v) => {
                    self.key.push(1);
                    self.key.extend_from_slice(&(v.len() as u64).to_le_bytes());
                    self.key.extend_from_slice(v);
                }
                None => self.key.push(0),
            }
        }
        if let Some(l) = self.memo.get(self.key.as_slice()) {
            return l.clone();
        }
        let names = names.clone();
        let out = self.compute(fields, Some(&names));
        if self.memo.len() >= MEMO_CAPACITY {
            self.memo.clear();
        }
        self.memo.insert(self.key.clone(), out.clone());
        out
    }

    fn compute(&self, fields: &[(String, Vec<u8>)], only: Option<&[String]>) -> Option<Labels> {
        let mut l = Labels::new();
        for (k, v) in last_values(fields) {
            if only.is_some_and(|n| !n.iter().any(|x| x.eq_ignore_ascii_case(k))) {
                continue;
            }
            let v = String::from_utf8_lossy(v);
            if k == "PRIORITY" {
                l.insert(PRIORITY_KEYWORD, priority_keyword(&v));
            }
            l.insert(field_label(k), v.into_owned());
        }
        for (k, v) in &self.constant {
            l.insert(k.clone(), v.clone());
        }
        let mut l = self.relabel.process(l)?;
        l.retain(|k, _| !k.starts_with("__"));
        (!l.is_empty()).then_some(l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(pairs: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    fn raw(yaml: &str) -> Vec<RawRelabel> {
        gocompat::yaml::from_str::<Vec<RawRelabel>>(yaml).unwrap().0
    }

    #[test]
    fn labels_relabelled_per_entry() {
        let rules = raw(
            "- source_labels: ['__journal__systemd_unit']\n  target_label: unit\n- source_labels: ['__journal_priority_keyword']\n  target_label: level\n- source_labels: ['__journal__systemd_unit']\n  regex: 'drop.*'\n  action: drop\n",
        );
        let constant = [("job".to_string(), "systemd-journal".to_string())]
            .into_iter()
            .collect();
        let mut el = EntryLabels::new(&constant, Relabeler::compile(&rules).unwrap(), &rules);
        let a = el
            .labels(&f(&[
                ("MESSAGE", "hi"),
                ("_SYSTEMD_UNIT", "ssh.service"),
                ("PRIORITY", "3"),
            ]))
            .unwrap();
        assert_eq!(
            a.display_string(),
            "{job=\"systemd-journal\", level=\"error\", unit=\"ssh.service\"}"
        );
        // Same deciding fields, another message: the remembered set.
        let b = el
            .labels(&f(&[
                ("MESSAGE", "other"),
                ("_SYSTEMD_UNIT", "ssh.service"),
                ("PRIORITY", "3"),
            ]))
            .unwrap();
        assert!(a.ptr_eq(&b));
        assert_eq!(
            el.labels(&f(&[
                ("MESSAGE", "x"),
                ("_SYSTEMD_UNIT", "drop-me.service")
            ])),
            None
        );
        // No rules and no constant labels: nothing left, dropped as Promtail drops it.
        let mut none = EntryLabels::new(&Default::default(), Relabeler::default(), &[]);
        assert_eq!(none.labels(&f(&[("MESSAGE", "x")])), None);
    }

    #[test]
    fn labelmap_sees_every_field() {
        let rules = raw("- action: labelmap\n  regex: __journal_(.+)\n");
        let mut el = EntryLabels::new(
            &Default::default(),
            Relabeler::compile(&rules).unwrap(),
            &rules,
        );
        let l = el
            .labels(&f(&[
                ("MESSAGE", "m"),
                ("PRIORITY", "6"),
                ("_PID", "1"),
                ("_PID", "2"),
            ]))
            .unwrap();
        assert_eq!(
            l.display_string(),
            "{_pid=\"2\", message=\"m\", priority=\"6\", priority_keyword=\"info\"}"
        );
    }

    #[test]
    fn json_like_promtail() {
        let mut s = String::new();
        write_json(
            &mut s,
            &[
                ("MESSAGE".into(), b"a <b> & \"c\"\n".to_vec()),
                ("CODE_FILE".into(), b"x.go".to_vec()),
                (
                    "BIN".into(),
                    vec![0x01, 0xff, 0xe2, 0x82, b'z', 0xef, 0xbf, 0xbd],
                ),
                ("CODE_FILE".into(), b"y.go".to_vec()),
            ],
        );
        assert_eq!(
            s,
            r#"{"BIN":"\u0001\ufffd\ufffd\ufffdz�","CODE_FILE":"y.go","MESSAGE":"a \u003cb\u003e \u0026 \"c\"\n"}"#
        );
    }

    #[test]
    fn priority_keywords() {
        assert_eq!(priority_keyword("3"), "error");
        assert_eq!(priority_keyword("4"), "warning");
        assert_eq!(priority_keyword("x"), "x");
        assert_eq!(field_label("_SYSTEMD_UNIT"), "__journal__systemd_unit");
    }
}
