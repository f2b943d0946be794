//! Go's `strconv` quoting and float formatting, as Go 1.23 prints them.

use std::fmt::Write as _;

/// Appends `v` quoted as Go's `strconv.Quote` does.
pub fn go_quote_into(out: &mut String, v: &str) {
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if is_go_printable(c) => out.push(c),
            c if (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push('"');
}

/// Go's `strconv.IsPrint`, closely approximated: control and format characters and unassigned
/// separators are escaped, everything else is kept raw.
fn is_go_printable(c: char) -> bool {
    let u = c as u32;
    if u < 0x20 || u == 0x7f || (0x80..0xa0).contains(&u) {
        return false;
    }
    !matches!(u, 0xad | 0x2028 | 0x2029 | 0x200b..=0x200f | 0x202a..=0x202e | 0x2060..=0x2064 | 0xfeff | 0xfff9..=0xfffb | 0xe000..=0xf8ff)
        && !(0xd800..0xe000).contains(&u)
}

/// Formats a float as Go's `strconv.FormatFloat(f, 'f', -1, 64)`: shortest round-trip digits,
/// never exponent notation.
pub fn format_go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    // Rust's Display for f64 prints the shortest round-trip digits without an exponent.
    let s = format!("{f}");
    if f == 0.0 && f.is_sign_negative() {
        return "-0".into();
    }
    s
}

/// Formats a float as Go's `strconv.FormatFloat(f, 'g', -1, 64)` and `fmt`'s `%v` do: the
/// shortest round-trip digits, in exponent form (`1e+06`, `1e-05`) when the decimal exponent is
/// below -4 or at least 6, otherwise in plain decimal form. Prometheus' Go client formats
/// sample values and `le` bounds this way; mapstructure's errors print floats this way.
pub fn format_go_float_g(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.into();
    }
    // Rust's `{:e}` prints the shortest round-trip digits as `d.ddde[-]x`.
    let sci = format!("{f:e}");
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => return format_go_float(f),
    };
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    format_go_float(f)
}
