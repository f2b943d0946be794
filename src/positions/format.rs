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

/// What can be kept of a positions file that does not parse (truncated mid-write, a disk that
/// filled up): every complete `key: value` line under `positions:`, each parsed on its own. A
/// last line without its newline may have lost the end of its value, so it is left out. Returns
/// the entries kept and the number of lines left out.
pub fn recover(text: &str) -> (BTreeMap<String, String>, usize) {
    let mut out = BTreeMap::new();
    let mut skipped = 0;
    let complete = match text.rfind('\n') {
        Some(i) => &text[..=i],
        None => "",
    };
    if complete.len() < text.len() && !text[complete.len()..].trim().is_empty() {
        skipped += 1;
    }
    let mut in_positions = false;
    for line in complete.lines() {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        if !line.starts_with(' ') {
            in_positions = line.trim_end() == "positions:";
            continue;
        }
        if !in_positions {
            skipped += 1;
            continue;
        }
        match parse(&format!("positions:\n{line}\n")) {
            Ok(one) if one.len() == 1 => out.extend(one),
            _ => skipped += 1,
        }
    }
    (out, skipped)
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
    fn a_truncated_file_keeps_its_complete_entries() {
        let full = "positions:\n  /a.log: \"120\"\n  /b c.log: \"7\"\n  cursor-x: \"99\"\n";
        // Cut at every byte: never a panic, never an entry that was not in the file whole.
        for cut in 0..full.len() {
            let text = &full[..cut];
            let (kept, _) = recover(text);
            for (k, v) in &kept {
                assert!(
                    full.contains(&format!("  {k}: \"{v}\"\n")),
                    "{cut}: {k}={v}"
                );
            }
        }
        let cut = &full[..full.find("cursor-x: \"9").unwrap() + 11];
        assert!(parse(cut).is_err());
        let (kept, skipped) = recover(cut);
        assert_eq!(kept.len(), 2);
        assert_eq!(kept["/a.log"], "120");
        assert_eq!(kept["/b c.log"], "7");
        assert_eq!(skipped, 1);
        // A broken line in the middle is skipped, the rest kept.
        let (kept, skipped) = recover("positions:\n  /a.log: \"1\n  /b.log: \"2\"\n");
        assert_eq!((kept.len(), skipped), (1, 1));
        assert_eq!(kept["/b.log"], "2");
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
