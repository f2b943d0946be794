//! The output of Go's `encoding/json.Marshal` (Go ≥ 1.22) for the values a GELF
//! message holds: HTML-safe string escaping, `float64` formatting, sorted map keys.

use serde_json::Value;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `s` as a Go JSON string (quotes included). Invalid UTF-8 becomes
/// U+FFFD; `<`, `>`, `&`, U+2028 and U+2029 are `\u` escaped.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, ch) in s.char_indices() {
        let esc: Option<&[u8]> = match ch {
            '"' => Some(b"\\\""),
            '\\' => Some(b"\\\\"),
            '\n' => Some(b"\\n"),
            '\r' => Some(b"\\r"),
            '\t' => Some(b"\\t"),
            '\u{8}' => Some(b"\\b"),
            '\u{c}' => Some(b"\\f"),
            '\u{2028}' => Some(b"\\u2028"),
            '\u{2029}' => Some(b"\\u2029"),
            c if (c as u32) < 0x20 || c == '<' || c == '>' || c == '&' => None,
            _ => continue,
        };
        out.extend_from_slice(bytes.get(start..i).unwrap_or(&[]));
        match esc {
            Some(e) => out.extend_from_slice(e),
            None => {
                let b = ch as u32 as u8;
                out.extend_from_slice(b"\\u00");
                out.push(HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0'));
                out.push(HEX.get(usize::from(b & 0xf)).copied().unwrap_or(b'0'));
            }
        }
        start = i + ch.len_utf8();
    }
    out.extend_from_slice(bytes.get(start..).unwrap_or(&[]));
    out.push(b'"');
}

/// Appends a `float64` as Go's JSON encoder does: shortest representation,
/// exponent form only below 1e-6 or from 1e21 (`1e+21`, `1e-7`).
pub(crate) fn write_f64(out: &mut Vec<u8>, f: f64) {
    if !f.is_finite() {
        // Go refuses to marshal these; JSON input cannot hold them.
        out.push(b'0');
        return;
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format!("{f:e}");
        match s.split_once('e') {
            Some((mant, exp)) if !exp.starts_with('-') => {
                out.extend_from_slice(mant.as_bytes());
                out.extend_from_slice(b"e+");
                out.extend_from_slice(exp.as_bytes());
            }
            _ => out.extend_from_slice(s.as_bytes()),
        }
    } else {
        out.extend_from_slice(format!("{f}").as_bytes());
    }
}

/// Appends a JSON value decoded into Go's `interface{}` (numbers are `float64`,
/// object keys sorted).
pub(crate) fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_f64(out, n.as_f64().unwrap_or(0.0)),
        Value::String(s) => write_str(out, s),
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, x);
            }
            out.push(b']');
        }
        Value::Object(m) => {
            out.push(b'{');
            // serde_json's default map is a BTreeMap: keys already sorted bytewise.
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, k);
                out.push(b':');
                write_value(out, x);
            }
            out.push(b'}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(x: f64) -> String {
        let mut v = Vec::new();
        write_f64(&mut v, x);
        String::from_utf8(v).unwrap()
    }

    fn s(x: &str) -> String {
        let mut v = Vec::new();
        write_str(&mut v, x);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn floats_like_go() {
        assert_eq!(f(0.0), "0");
        assert_eq!(f(-0.0), "-0");
        assert_eq!(f(10.25), "10.25");
        assert_eq!(f(1_700_000_000.123), "1700000000.123");
        assert_eq!(f(1e20), "100000000000000000000");
        assert_eq!(f(1e21), "1e+21");
        assert_eq!(f(1.5e300), "1.5e+300");
        assert_eq!(f(0.000001), "0.000001");
        assert_eq!(f(1e-7), "1e-7");
        assert_eq!(f(-2.5e-10), "-2.5e-10");
        assert_eq!(f(3.0), "3");
        assert_eq!(f(0.1 + 0.2), "0.30000000000000004");
    }

    #[test]
    fn strings_like_go() {
        assert_eq!(s("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(s("<a>&"), r#""\u003ca\u003e\u0026""#);
        assert_eq!(
            s("\n\r\t\u{8}\u{c}\u{1}\u{1f}"),
            r#""\n\r\t\b\f\u0001\u001f""#
        );
        assert_eq!(s("\u{2028}\u{2029}é\u{7f}"), "\"\\u2028\\u2029é\u{7f}\"");
    }
}
