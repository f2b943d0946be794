//! Label and field selectors: validated as `labels.Parse` / `fields.ParseSelector`
//! of apimachinery do (the subset of their grammar used in practice), and
//! matched by the fake API server of [`crate::testing`].

use crate::config::ConfigError;
use std::collections::BTreeMap;

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelReq {
    /// `key=value`, `key==value`
    Eq(String, String),
    /// `key!=value`
    Ne(String, String),
    /// `key in (a,b)`
    In(String, Vec<String>),
    /// `key notin (a,b)`
    NotIn(String, Vec<String>),
    /// `key`
    Exists(String),
    /// `!key`
    NotExists(String),
}

impl LabelReq {
    /// Whether `labels` satisfy this requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            LabelReq::Eq(k, v) => labels.get(k) == Some(v),
            LabelReq::Ne(k, v) => labels.get(k) != Some(v),
            LabelReq::In(k, vs) => labels.get(k).is_some_and(|x| vs.contains(x)),
            LabelReq::NotIn(k, vs) => labels.get(k).is_none_or(|x| !vs.contains(x)),
            LabelReq::Exists(k) => labels.contains_key(k),
            LabelReq::NotExists(k) => !labels.contains_key(k),
        }
    }
}

/// Splits on commas outside parentheses.
fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 316
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

fn valid_value(v: &str) -> bool {
    v.len() <= 63
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn parse_set(rest: &str, whole: &str) -> Result<Vec<String>, ConfigError> {
    let rest = rest.trim();
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| {
            ConfigError(format!(
                "unable to parse requirement: found '{rest}', expected: '('"
            ))
        })?;
    let vals: Vec<String> = inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect();
    if vals.is_empty() || vals.iter().any(|v| !valid_value(v)) {
        return Err(ConfigError(format!(
            "unable to parse requirement: invalid set in {whole:?}"
        )));
    }
    Ok(vals)
}

/// Parses a label selector (`labels.Parse`).
pub fn parse_label_selector(s: &str) -> Result<Vec<LabelReq>, ConfigError> {
    let mut reqs = Vec::new();
    if s.trim().is_empty() {
        return Ok(reqs);
    }
    for part in split_top(s) {
        let p = part.trim();
        let bad = || {
            ConfigError(format!(
                "unable to parse requirement: invalid label selector {p:?}"
            ))
        };
        if p.is_empty() {
            return Err(bad());
        }
        let req = if let Some(k) = p.strip_prefix('!') {
            LabelReq::NotExists(k.trim().to_string())
        } else if let Some((k, v)) = p.split_once("!=") {
            LabelReq::Ne(k.trim().to_string(), v.trim().to_string())
        } else if let Some((k, v)) = p.split_once("==") {
            LabelReq::Eq(k.trim().to_string(), v.trim().to_string())
        } else if let Some((k, v)) = p.split_once('=') {
            LabelReq::Eq(k.trim().to_string(), v.trim().to_string())
        } else if let Some((k, rest)) = p.split_once(" notin ") {
            LabelReq::NotIn(k.trim().to_string(), parse_set(rest, p)?)
        } else if let Some((k, rest)) = p.split_once(" in ") {
            LabelReq::In(k.trim().to_string(), parse_set(rest, p)?)
        } else {
            LabelReq::Exists(p.to_string())
        };
        let (k, v) = match &req {
            LabelReq::Eq(k, v) | LabelReq::Ne(k, v) => (k, Some(v)),
            LabelReq::In(k, _) | LabelReq::NotIn(k, _) => (k, None),
            LabelReq::Exists(k) | LabelReq::NotExists(k) => (k, None),
        };
        if !valid_key(k) || v.is_some_and(|v| !valid_value(v)) {
            return Err(bad());
        }
        reqs.push(req);
    }
    Ok(reqs)
}

/// Validates a label selector.
pub fn validate_label_selector(s: &str) -> Result<(), ConfigError> {
    parse_label_selector(s).map(|_| ())
}

/// One requirement of a field selector: `(path, value, negated)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldReq {
    /// Dotted field path, e.g. `spec.nodeName`.
    pub field: String,
    /// Expected value.
    pub value: String,
    /// `!=` rather than `=`.
    pub negated: bool,
}

/// Parses a field selector (`fields.ParseSelector`).
pub fn parse_field_selector(s: &str) -> Result<Vec<FieldReq>, ConfigError> {
    let mut reqs = Vec::new();
    if s.trim().is_empty() {
        return Ok(reqs);
    }
    for part in s.split(',') {
        let p = part.trim();
        let (field, value, negated) = if let Some((k, v)) = p.split_once("!=") {
            (k, v, true)
        } else if let Some((k, v)) = p.split_once("==") {
            (k, v, false)
        } else if let Some((k, v)) = p.split_once('=') {
            (k, v, false)
        } else {
            return Err(ConfigError(format!(
                "invalid selector: '{s}'; can't understand '{p}'"
            )));
        };
        if field.trim().is_empty() {
            return Err(ConfigError(format!(
                "invalid selector: '{s}'; can't understand '{p}'"
            )));
        }
        reqs.push(FieldReq {
            field: field.trim().to_string(),
            value: value.trim().to_string(),
            negated,
        });
    }
    Ok(reqs)
}

/// Validates a field selector.
pub fn validate_field_selector(s: &str) -> Result<(), ConfigError> {
    parse_field_selector(s).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_selectors() {
        let r = parse_label_selector("app=web, tier in (a,b),!canary,env!=prod,x").unwrap();
        assert_eq!(r.len(), 5);
        let mut l = BTreeMap::new();
        l.insert("app".to_string(), "web".to_string());
        l.insert("tier".to_string(), "b".to_string());
        l.insert("x".to_string(), String::new());
        assert!(r.iter().all(|q| q.matches(&l)));
        assert!(parse_label_selector("a=b=c").is_err());
        assert!(parse_label_selector("a in b").is_err());
        assert!(parse_label_selector("").unwrap().is_empty());
    }

    #[test]
    fn field_selectors() {
        let r = parse_field_selector("spec.nodeName=n1,status.phase!=Failed").unwrap();
        assert!(r[1].negated);
        assert!(parse_field_selector("foo").is_err());
    }
}
