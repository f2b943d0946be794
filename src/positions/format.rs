//! The positions file in Promtail's exact layout (yaml.v2 marshalling of `map[string]string`
//! under `positions:`), so an existing Promtail file is resumed from and ferrotail's is byte-identical.

use std::collections::BTreeMap;

use gocompat::yaml::{self, NodeKind};

/// Renders the file: keys sorted bytewise, two-space indent, values double-quoted.
pub fn render(positions: &BTreeMap<String, String>) -> String {
    if positions.is_empty() {
        return "positions: {}\n".into();
    }
    let mut out = String::from("positions:\n");
    for (k, v) in positions {
        out.push_str("  ");
        out.push_str(&quote_key(k));
        out.push_str(": ");
        out.push_str(&double_quote(v));
        out.push('\n');
    }
    out
}

/// Parses a positions file. An empty file or a null `positions:` is an empty map. Unknown
/// top-level keys are errors, as Promtail's strict decoding makes them.
pub fn parse(text: &str) -> Result<BTreeMap<String, String>, String> {
    let root = yaml::parse(text).map_err(|e| e.to_string())?;
    let mut out = BTreeMap::new();
    if root.is_null() {
        return Ok(out);
    }
    let NodeKind::Map(entries) = &root.kind else {
        return Err(format!(
            "yaml: unmarshal errors:\n  line {}: cannot unmarshal {} into positions.File",
            root.line,
            root.tag()
        ));
    };
    for (k, v) in entries {
        match k.scalar_text() {
            Some("positions") => {}
            other => {
                return Err(format!(
                    "yaml: unmarshal errors:\n  line {}: field {} not found in type positions.File",
                    k.line,
                    other.unwrap_or("?")
                ))
            }
        }
        if v.is_null() {
            continue;
        }
        let NodeKind::Map(pairs) = &v.kind else {
            return Err(format!(
                "yaml: unmarshal errors:\n  line {}: cannot unmarshal {} into map[string]string",
                v.line,
                v.tag()
            ));
        };
        for (pk, pv) in pairs {
            match (pk.scalar_text(), pv.scalar_text()) {
                (Some(key), Some(value)) => {
                    out.insert(key.to_string(), value.to_string());
                }
                _ => {
                    return Err(format!(
                        "yaml: unmarshal errors:\n  line {}: cannot unmarshal {} into string",
                        pv.line,
                        pv.tag()
                    ))
                }
            }
        }
    }
    Ok(out)
}

/// yaml.v2 writes a key plain unless that would change its meaning; then single-quoted, or
/// double-quoted when it holds characters single quotes cannot carry.
fn quote_key(k: &str) -> String {
    if k.chars().any(|c| c.is_control()) {
        return double_quote(k);
    }
    let resolves_to_non_string = !matches!(yaml::resolve_plain(k), yaml::Resolved::Str(_));
    let first = k.chars().next().unwrap_or(' ');
    let needs = k.is_empty()
        || resolves_to_non_string
        || k.contains(": ")
        || k.contains(" #")
        || k.ends_with(':')
        || k.starts_with(' ')
        || k.ends_with(' ')
        || "-?:,[]{}#&*!|>'\"%@`".contains(first)
            && !(first == '-' && k.len() > 1 && !k[1..].starts_with(' '));
    if needs {
        format!("'{}'", k.replace('\'', "''"))
    } else {
        k.to_string()
    }
}

fn double_quote(v: &str) -> String {
    let mut s = String::with_capacity(v.len() + 2);
    s.push('"');
    for c in v.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\t' => s.push_str("\\t"),
            '\r' => s.push_str("\\r"),
            c if c.is_control() => s.push_str(&format!("\\x{:02X}", c as u32)),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_layout() {
        let golden = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/golden/positions/positions.yaml"
        ))
        .unwrap();
        let parsed = parse(&golden).unwrap();
        assert_eq!(parsed["/var/log/golden/with space.log"], "6");
        assert_eq!(render(&parsed), golden);
        let odd = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/golden/positions/odd-names/positions.yaml"
        ))
        .unwrap();
        let parsed = parse(&odd).unwrap();
        assert!(parsed.contains_key("/var/log/golden/colon: here.log"));
        assert_eq!(render(&parsed), odd);
    }

    #[test]
    fn empty_and_invalid() {
        assert_eq!(render(&BTreeMap::new()), "positions: {}\n");
        assert!(parse("").unwrap().is_empty());
        assert!(parse("positions:\n").unwrap().is_empty());
        assert_eq!(parse("positions:\n  /a: 6\n").unwrap()["/a"], "6");
        assert!(parse("positions:\n  /a: \"1\"\nextra: 1\n")
            .unwrap_err()
            .contains("field extra not found in type positions.File"));
        assert!(parse("positions: [\n").is_err());
    }
}
