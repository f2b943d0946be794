//! `-config.expand-env`: `${VAR}` substitution with drone/envsubst's rules, which Promtail uses.
//!
//! Bare `$VAR` and `$1` are left alone (so relabel replacements survive), `${1}` is expanded like
//! any unset variable, `$$` becomes `$`, and `\\` becomes `\`.

/// Expands `text` using `lookup` for variables.
pub fn expand(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if i + 1 < bytes.len() && matches!(bytes[i + 1], b'\\' | b'/' | b'$') => {
                out.push(bytes[i + 1] as char);
                i += 2;
            }
            b'$' if i + 1 < bytes.len() && bytes[i + 1] == b'$' => {
                out.push('$');
                i += 2;
            }
            b'$' if i + 1 < bytes.len() && bytes[i + 1] == b'{' => {
                let close = text[i + 2..]
                    .find('}')
                    .ok_or_else(|| format!("unterminated ${{ at byte {i}"))?;
                let body = &text[i + 2..i + 2 + close];
                out.push_str(&expand_one(body, &lookup));
                i += close + 3;
            }
            _ => {
                let ch = text[i..].chars().next().unwrap_or('\u{fffd}');
                out.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    Ok(out)
}

fn expand_one(body: &str, lookup: &impl Fn(&str) -> Option<String>) -> String {
    if let Some(name) = body.strip_prefix('#') {
        return lookup(name).unwrap_or_default().chars().count().to_string();
    }
    let name_end = body
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(body.len());
    let (name, op) = body.split_at(name_end);
    let value = lookup(name);
    let v = value.clone().unwrap_or_default();
    if op.is_empty() {
        return v;
    }
    if let Some(d) = op.strip_prefix(":-").or_else(|| op.strip_prefix(":=")) {
        return if v.is_empty() { d.to_string() } else { v };
    }
    if let Some(d) = op.strip_prefix('=') {
        return value.unwrap_or_else(|| d.to_string());
    }
    match op {
        ",," => return v.to_lowercase(),
        "^^" => return v.to_uppercase(),
        "," => return lower_first(&v, false),
        "^" => return lower_first(&v, true),
        _ => {}
    }
    if let Some(pat) = op.strip_prefix("##").or_else(|| op.strip_prefix('#')) {
        return v.strip_prefix(pat).map(str::to_string).unwrap_or(v);
    }
    if let Some(pat) = op.strip_prefix("%%").or_else(|| op.strip_prefix('%')) {
        return v.strip_suffix(pat).map(str::to_string).unwrap_or(v);
    }
    if let Some(rest) = op.strip_prefix("//") {
        let (a, b) = rest.split_once('/').unwrap_or((rest, ""));
        return if a.is_empty() { v } else { v.replace(a, b) };
    }
    if let Some(rest) = op.strip_prefix('/') {
        let (a, b) = rest.split_once('/').unwrap_or((rest, ""));
        return if a.is_empty() { v } else { v.replacen(a, b, 1) };
    }
    if let Some(rest) = op.strip_prefix(':') {
        let mut parts = rest.splitn(2, ':');
        let pos: usize = parts
            .next()
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or(0);
        let chars: Vec<char> = v.chars().collect();
        let start = pos.min(chars.len());
        let end = match parts.next().and_then(|l| l.trim().parse::<usize>().ok()) {
            Some(len) => (start + len).min(chars.len()),
            None => chars.len(),
        };
        return chars[start..end].iter().collect();
    }
    v
}

fn lower_first(v: &str, upper: bool) -> String {
    let mut c = v.chars();
    match c.next() {
        None => String::new(),
        Some(f) => {
            let f: String = if upper {
                f.to_uppercase().collect()
            } else {
                f.to_lowercase().collect()
            };
            f + c.as_str()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("loki".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn envsubst_table() {
        let cases = [
            ("url: http://${HOST}:3100", "url: http://loki:3100"),
            ("${NOPE}", ""),
            ("${NOPE:-dflt}", "dflt"),
            ("${EMPTY:-dflt}", "dflt"),
            ("${EMPTY=dflt}", ""),
            ("${NOPE=dflt}", "dflt"),
            ("$1 and $HOST stay", "$1 and $HOST stay"),
            ("${1}-z", "-z"),
            ("$$", "$"),
            (r"a\\.b", r"a\.b"),
            ("${HOST^^}", "LOKI"),
            ("${#HOST}", "4"),
            ("${HOST:1:2}", "ok"),
            ("${HOST/o/0}", "l0ki"),
        ];
        for (input, want) in cases {
            assert_eq!(expand(input, env).unwrap(), want, "{input}");
        }
    }
}
