//! Decoding stage configs the way Promtail's `mitchellh/mapstructure` does, with its exact error
//! messages.
//!
//! [`crate::pipeline::BuildCtx::decode`] reports type errors without the field path and without
//! mapstructure's `N error(s) decoding:` wrapper. The parsing stages need those messages byte for
//! byte (`'[<interface {} Value>]' expected type 'string', got unconvertible type 'int', value:
//! '1'`), so this module walks the YAML [`Node`] itself. It owns: struct decoding with
//! case-insensitive field matching, `map[string]string`/`map[string]*string`, `[]string`, strings,
//! bools, ints and uints in strict (`Decode`) and weak (`WeakDecode`) mode, and the error list
//! formatting. Unknown keys are recorded as warnings, as `BuildCtx::decode` records them.

use crate::yaml::{Node, NodeKind, Resolved};

/// The name mapstructure gives an element of a `map[interface{}]interface{}`.
pub const MAP_ELEM: &str = "[<interface {} Value>]";

/// A decoded `map[string]*string`, in document order.
pub type StringMap = Vec<(String, Option<String>)>;

/// Formats a list of mapstructure errors as its `*Error` prints them (sorted).
pub fn format_errors(mut errs: Vec<String>) -> String {
    let mut points: Vec<String> = errs.drain(..).map(|e| format!("* {e}")).collect();
    points.sort();
    format!(
        "{} error(s) decoding:\n\n{}",
        points.len(),
        points.join("\n")
    )
}

/// Go's type name for a YAML value decoded into `interface{}` and its `%v` rendering.
fn go_type_and_value(node: &Node) -> (&'static str, String) {
    match node.resolve() {
        Some(Resolved::Bool(b)) => ("bool", b.to_string()),
        Some(Resolved::Int(i)) => ("int", i.to_string()),
        Some(Resolved::Float(f)) => ("float64", crate::strconv::format_go_float_g(f)),
        Some(Resolved::Str(s)) => ("string", s.to_string()),
        Some(Resolved::Null) => ("<nil>", "<nil>".to_string()),
        None => match &node.kind {
            NodeKind::Seq(_) => ("[]interface {}", go_fmt_v(node)),
            _ => ("map[interface {}]interface {}", go_fmt_v(node)),
        },
    }
}

/// Go's `reflect.Kind` name of a YAML value.
fn go_kind(node: &Node) -> &'static str {
    match node.resolve() {
        Some(Resolved::Bool(_)) => "bool",
        Some(Resolved::Int(_)) => "int",
        Some(Resolved::Float(_)) => "float64",
        Some(Resolved::Str(_)) => "string",
        Some(Resolved::Null) => "invalid",
        None => match &node.kind {
            NodeKind::Seq(_) => "slice",
            _ => "map",
        },
    }
}

/// `fmt.Sprintf("%v")` of a YAML value.
fn go_fmt_v(node: &Node) -> String {
    match &node.kind {
        NodeKind::Seq(items) => {
            let parts: Vec<String> = items.iter().map(go_fmt_v).collect();
            format!("[{}]", parts.join(" "))
        }
        NodeKind::Map(entries) => {
            let mut parts: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("{}:{}", go_fmt_v(k), go_fmt_v(v)))
                .collect();
            parts.sort();
            format!("map[{}]", parts.join(" "))
        }
        NodeKind::Scalar { .. } => go_type_and_value(node).1,
    }
}

/// Go's `strconv.Quote` of a string.
fn go_quote(s: &str) -> String {
    let mut out = String::new();
    crate::strconv::go_quote_into(&mut out, s);
    out
}

/// Error for a value that cannot become the target type.
fn unconvertible(name: &str, target: &str, node: &Node) -> String {
    let (ty, v) = go_type_and_value(node);
    format!("'{name}' expected type '{target}', got unconvertible type '{ty}', value: '{v}'")
}

/// Decodes a string (`string` or `*string` target). `Ok(None)` for null (left unset).
pub fn decode_string(name: &str, node: &Node, weak: bool) -> Result<Option<String>, String> {
    match node.resolve() {
        Some(Resolved::Null) => Ok(None),
        Some(Resolved::Str(s)) => Ok(Some(s.to_string())),
        Some(Resolved::Bool(b)) if weak => Ok(Some(if b { "1" } else { "0" }.into())),
        Some(Resolved::Int(i)) if weak => Ok(Some(i.to_string())),
        Some(Resolved::Float(f)) if weak => Ok(Some(crate::strconv::format_go_float(f))),
        _ => Err(unconvertible(name, "string", node)),
    }
}

/// Decodes a bool. `Ok(None)` for null.
pub fn decode_bool(name: &str, node: &Node, weak: bool) -> Result<Option<bool>, String> {
    match node.resolve() {
        Some(Resolved::Null) => Ok(None),
        Some(Resolved::Bool(b)) => Ok(Some(b)),
        Some(Resolved::Int(i)) if weak => Ok(Some(i != 0)),
        Some(Resolved::Float(f)) if weak => Ok(Some(f != 0.0)),
        Some(Resolved::Str(s)) if weak => match s {
            "" => Ok(Some(false)),
            "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(Some(true)),
            "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(Some(false)),
            _ => Err(format!(
                "cannot parse '{name}' as bool: strconv.ParseBool: parsing {}: invalid syntax",
                go_quote(s)
            )),
        },
        _ => Err(unconvertible(name, "bool", node)),
    }
}

/// Go's `strconv.ParseUint(s, 0, 64)` / `ParseInt(s, 0, 64)` magnitude parsing.
fn parse_go_uint(s: &str) -> Result<u64, &'static str> {
    let (digits, radix) = if let Some(r) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (r, 16)
    } else if let Some(r) = s.strip_prefix("0b").or_else(|| s.strip_prefix("0B")) {
        (r, 2)
    } else if let Some(r) = s.strip_prefix("0o").or_else(|| s.strip_prefix("0O")) {
        (r, 8)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    let underscores_ok = radix != 10 || s.len() > 1 && s.starts_with('0');
    let clean: String = if underscores_ok {
        digits.chars().filter(|&c| c != '_').collect()
    } else {
        digits.to_string()
    };
    if clean.is_empty() || !clean.chars().all(|c| c.is_digit(radix)) {
        return Err("invalid syntax");
    }
    u64::from_str_radix(&clean, radix).map_err(|_| "value out of range")
}

/// Decodes an `int`. `Ok(None)` for null.
pub fn decode_int(name: &str, node: &Node, weak: bool) -> Result<Option<i64>, String> {
    match node.resolve() {
        Some(Resolved::Null) => Ok(None),
        Some(Resolved::Int(i)) => Ok(Some(i)),
        Some(Resolved::Float(f)) => Ok(Some(f as i64)),
        Some(Resolved::Bool(b)) if weak => Ok(Some(b as i64)),
        Some(Resolved::Str(s)) if weak => {
            let src = if s.is_empty() { "0" } else { s };
            let (neg, body) = match src.as_bytes()[0] {
                b'-' => (true, &src[1..]),
                b'+' => (false, &src[1..]),
                _ => (false, src),
            };
            let fail = |why: &str| {
                format!(
                    "cannot parse '{name}' as int: strconv.ParseInt: parsing {}: {why}",
                    go_quote(s)
                )
            };
            let mag = parse_go_uint(body).map_err(fail)?;
            let v = if neg {
                if mag > i64::MAX as u64 + 1 {
                    return Err(fail("value out of range"));
                }
                (mag as i128).wrapping_neg() as i64
            } else {
                i64::try_from(mag).map_err(|_| fail("value out of range"))?
            };
            Ok(Some(v))
        }
        _ => Err(unconvertible(name, "int", node)),
    }
}

/// Decodes a `uint64` (e.g. `flagext.ByteSize`). `Ok(None)` for null.
pub fn decode_uint(
    name: &str,
    target: &str,
    node: &Node,
    weak: bool,
) -> Result<Option<u64>, String> {
    match node.resolve() {
        Some(Resolved::Null) => Ok(None),
        Some(Resolved::Int(i)) => {
            if i < 0 && !weak {
                return Err(format!("cannot parse '{name}', {i} overflows uint"));
            }
            Ok(Some(i as u64))
        }
        Some(Resolved::Float(f)) => {
            if f < 0.0 && !weak {
                return Err(format!("cannot parse '{name}', {f:.6} overflows uint"));
            }
            Ok(Some(f as u64))
        }
        Some(Resolved::Bool(b)) if weak => Ok(Some(b as u64)),
        Some(Resolved::Str(s)) if weak => {
            let src = if s.is_empty() { "0" } else { s };
            parse_go_uint(src).map(Some).map_err(|why| {
                format!(
                    "cannot parse '{name}' as uint: strconv.ParseUint: parsing {}: {why}",
                    go_quote(s)
                )
            })
        }
        _ => Err(unconvertible(name, target, node)),
    }
}

/// Decodes a `[]string`; element errors are appended to `errs`. `Err` when the node is not a
/// list at all (strict mode).
pub fn decode_string_list(
    name: &str,
    node: &Node,
    weak: bool,
    errs: &mut Vec<String>,
) -> Result<Option<Vec<String>>, String> {
    let single;
    let items: &[Node] = match &node.kind {
        NodeKind::Seq(items) => items,
        _ if node.is_null() => return Ok(None),
        NodeKind::Map(m) if weak && m.is_empty() => return Ok(Some(Vec::new())),
        _ if weak => {
            single = [node.clone()];
            &single
        }
        _ => {
            return Err(format!(
                "'{name}': source data must be an array or slice, got {}",
                go_kind(node)
            ));
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match decode_string(&format!("{name}[{i}]"), item, weak) {
            Ok(v) => out.push(v.unwrap_or_default()),
            Err(e) => errs.push(e),
        }
    }
    Ok(Some(out))
}

/// Decodes a `map[string]*string` (values `None` for null), in document order; entry errors
/// are appended to `errs`. `Err` when the node is not a map at all.
pub fn decode_string_map(
    name: &str,
    node: &Node,
    weak: bool,
    errs: &mut Vec<String>,
) -> Result<Option<StringMap>, String> {
    let entries = match &node.kind {
        NodeKind::Map(entries) => entries,
        _ if node.is_null() => return Ok(None),
        NodeKind::Seq(items) if weak && items.is_empty() => return Ok(Some(Vec::new())),
        _ => return Err(format!("'{name}' expected a map, got '{}'", go_kind(node))),
    };
    let elem = format!("{name}{MAP_ELEM}");
    let mut out: Vec<(String, Option<String>)> = Vec::with_capacity(entries.len());
    for (k, v) in entries {
        let key = match decode_string(&elem, k, weak) {
            Ok(k) => k.unwrap_or_default(),
            Err(e) => {
                errs.push(e);
                continue;
            }
        };
        match decode_string(&elem, v, weak) {
            Ok(v) => {
                out.retain(|(n, _)| *n != key);
                out.push((key, v));
            }
            Err(e) => errs.push(e),
        }
    }
    Ok(Some(out))
}

/// A stage config decoded as a Go struct: fields are looked up by their mapstructure name
/// (exactly, then case-insensitively) and every error is collected.
pub struct StructCfg<'a> {
    entries: Vec<(&'static str, &'a Node)>,
    weak: bool,
    errs: Vec<String>,
}

impl<'a> StructCfg<'a> {
    /// Starts decoding `node` as a struct with the given field names. A null node decodes as an
    /// empty struct; any other non-map is mapstructure's `expected a map` error.
    pub fn new(
        warnings: &mut Vec<String>,
        stage: &str,
        node: &'a Node,
        weak: bool,
        fields: &[&'static str],
    ) -> Result<Self, String> {
        let mut cfg = StructCfg {
            entries: Vec::new(),
            weak,
            errs: Vec::new(),
        };
        let entries = match &node.kind {
            NodeKind::Map(entries) => entries,
            _ if node.is_null() => return Ok(cfg),
            _ => return Err(format!("'' expected a map, got '{}'", go_kind(node))),
        };
        let mut used = vec![false; entries.len()];
        for field in fields {
            let mut found = None;
            for (i, (k, _)) in entries.iter().enumerate() {
                if let Some(Resolved::Str(s)) = k.resolve() {
                    if s == *field {
                        found = Some(i);
                        break;
                    }
                }
            }
            if found.is_none() {
                for (i, (k, _)) in entries.iter().enumerate() {
                    if let Some(Resolved::Str(s)) = k.resolve() {
                        if s.eq_ignore_ascii_case(field) {
                            found = Some(i);
                            break;
                        }
                    }
                }
            }
            if let Some(i) = found {
                used[i] = true;
                cfg.entries.push((field, &entries[i].1));
            }
        }
        for (i, (k, _)) in entries.iter().enumerate() {
            if !used[i] {
                let name = k.scalar_text().unwrap_or("");
                warnings.push(format!(
                    "{stage} stage: unknown key {name:?} ignored (line {})",
                    k.line
                ));
            }
        }
        Ok(cfg)
    }

    fn get(&self, field: &str) -> Option<&'a Node> {
        self.entries
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, n)| *n)
    }

    fn record<T>(&mut self, r: Result<Option<T>, String>) -> Option<T> {
        match r {
            Ok(v) => v,
            Err(e) => {
                self.errs.push(e);
                None
            }
        }
    }

    /// A `string`/`*string` field: `None` when absent or null.
    pub fn string(&mut self, field: &str) -> Option<String> {
        let node = self.get(field)?;
        let r = decode_string(field, node, self.weak);
        self.record(r)
    }

    /// A `bool` field.
    pub fn bool(&mut self, field: &str) -> Option<bool> {
        let node = self.get(field)?;
        let r = decode_bool(field, node, self.weak);
        self.record(r)
    }

    /// An `int` field.
    pub fn int(&mut self, field: &str) -> Option<i64> {
        let node = self.get(field)?;
        let r = decode_int(field, node, self.weak);
        self.record(r)
    }

    /// A `uint64`-based field whose Go type is `target`.
    pub fn uint(&mut self, field: &str, target: &str) -> Option<u64> {
        let node = self.get(field)?;
        let r = decode_uint(field, target, node, self.weak);
        self.record(r)
    }

    /// A `[]string` field.
    pub fn string_list(&mut self, field: &str) -> Option<Vec<String>> {
        let node = self.get(field)?;
        let weak = self.weak;
        let r = decode_string_list(field, node, weak, &mut self.errs);
        self.record(r)
    }

    /// A `map[string]string` field (null values become `None`).
    pub fn string_map(&mut self, field: &str) -> Option<StringMap> {
        let node = self.get(field)?;
        let weak = self.weak;
        let r = decode_string_map(field, node, weak, &mut self.errs);
        self.record(r)
    }

    /// Ends decoding: mapstructure's error list if anything failed.
    pub fn finish(self) -> Result<(), String> {
        if self.errs.is_empty() {
            Ok(())
        } else {
            Err(format_errors(self.errs))
        }
    }
}

/// Decodes a whole stage config that is a `map[string]*string` (labels, static_labels,
/// structured_metadata).
pub fn top_string_map(node: &Node) -> Result<Option<StringMap>, String> {
    let mut errs = Vec::new();
    let r = decode_string_map("", node, false, &mut errs)?;
    if !errs.is_empty() {
        return Err(format_errors(errs));
    }
    Ok(r)
}

/// Decodes a whole stage config that is a `[]string` (labeldrop, labelallow).
pub fn top_string_list(node: &Node) -> Result<Option<Vec<String>>, String> {
    let mut errs = Vec::new();
    let r = decode_string_list("", node, false, &mut errs)?;
    if !errs.is_empty() {
        return Err(format_errors(errs));
    }
    Ok(r)
}

/// Prometheus' legacy label-name rule `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_legacy_label_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse;

    #[test]
    fn map_errors_match_mapstructure() {
        let n = parse("a: 1\n").unwrap();
        assert_eq!(
            top_string_map(&n).unwrap_err(),
            "1 error(s) decoding:\n\n* '[<interface {} Value>]' expected type 'string', got unconvertible type 'int', value: '1'"
        );
        let n = parse("n:\n").unwrap();
        assert_eq!(
            top_string_map(&n).unwrap_err(),
            "1 error(s) decoding:\n\n* '[<interface {} Value>]' expected type 'string', got unconvertible type 'bool', value: 'false'"
        );
    }

    #[test]
    fn top_level_shape_errors_are_not_wrapped() {
        let n = parse("foo").unwrap();
        assert_eq!(
            top_string_list(&n).unwrap_err(),
            "'': source data must be an array or slice, got string"
        );
        assert_eq!(
            top_string_map(&n).unwrap_err(),
            "'' expected a map, got 'string'"
        );
        let n = parse(
            "- 1
",
        )
        .unwrap();
        assert_eq!(
            top_string_list(&n).unwrap_err(),
            "1 error(s) decoding:\n\n* '[0]' expected type 'string', got unconvertible type 'int', value: '1'"
        );
    }

    #[test]
    fn uint_weak_parse_error() {
        let n = parse("x: 256KB\n").unwrap();
        let v = n.get("x").unwrap();
        assert_eq!(
            decode_uint("max_partial_line_size", "flagext.ByteSize", v, true).unwrap_err(),
            "cannot parse 'max_partial_line_size' as uint: strconv.ParseUint: parsing \"256KB\": invalid syntax"
        );
    }

    #[test]
    fn go_g_format() {
        assert_eq!(crate::strconv::format_go_float_g(1.5), "1.5");
        assert_eq!(crate::strconv::format_go_float_g(1e21), "1e+21");
        assert_eq!(crate::strconv::format_go_float_g(123456.0), "123456");
        assert_eq!(crate::strconv::format_go_float_g(1234567.0), "1.234567e+06");
        assert_eq!(crate::strconv::format_go_float_g(1e-7), "1e-07");
    }

    #[test]
    fn legacy_names() {
        assert!(is_legacy_label_name("_a1"));
        assert!(!is_legacy_label_name("1a"));
        assert!(!is_legacy_label_name("foo-bar"));
        assert!(!is_legacy_label_name(""));
    }
}
