//! Template values and Go's `fmt` rules for printing them (`%v`, `Printf` verbs and flags,
//! `Sprint`/`Sprintln` spacing) plus `encoding/json` output for sprig's `toJson`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::rc::Rc;

use crate::strconv::go_quote_into;
use crate::time::GoTime;

/// A map value. `str_elems` marks Go `map[string]string` (its zero value is `""`, not nil).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MapVal {
    /// Entries, sorted by key as Go's fmt and encoding/json print them.
    pub entries: BTreeMap<String, Val>,
    /// True for `map[string]string`.
    pub str_elems: bool,
}

/// A value flowing through template execution, typed like the Go values it stands for.
#[derive(Debug, Clone, Default)]
pub enum Val {
    /// A missing value (`<no value>` at top level) or a nil interface (`<nil>` inside fmt).
    #[default]
    Nil,
    /// `bool`.
    Bool(bool),
    /// `int`.
    Int(i64),
    /// `int64`.
    Int64(i64),
    /// `float64`.
    Float(f64),
    /// `string`.
    Str(String),
    /// A slice (`[]interface{}`, `[]string`, `[]int` alike).
    List(Rc<Vec<Val>>),
    /// A map; shared so sprig's `set`/`unset` mutate it in place as in Go.
    Map(Rc<RefCell<MapVal>>),
    /// `time.Time`.
    Time(Box<GoTime>),
    /// The template's root data (`.` at the start, `$`); resolved lazily.
    Data,
}

impl PartialEq for Val {
    fn eq(&self, other: &Val) -> bool {
        match (self, other) {
            (Val::Nil, Val::Nil) | (Val::Data, Val::Data) => true,
            (Val::Bool(a), Val::Bool(b)) => a == b,
            (Val::Int(a), Val::Int(b)) | (Val::Int64(a), Val::Int64(b)) => a == b,
            (Val::Float(a), Val::Float(b)) => a == b,
            (Val::Str(a), Val::Str(b)) => a == b,
            (Val::List(a), Val::List(b)) => a == b,
            (Val::Map(a), Val::Map(b)) => *a.borrow() == *b.borrow(),
            (Val::Time(a), Val::Time(b)) => a == b,
            _ => false,
        }
    }
}

impl Val {
    /// A string value.
    pub fn str(s: impl Into<String>) -> Val {
        Val::Str(s.into())
    }

    /// A list value.
    pub fn list(v: Vec<Val>) -> Val {
        Val::List(Rc::new(v))
    }

    /// A `[]string` value.
    pub fn str_list(v: Vec<String>) -> Val {
        Val::List(Rc::new(v.into_iter().map(Val::Str).collect()))
    }

    /// A map value.
    pub fn map(entries: BTreeMap<String, Val>, str_elems: bool) -> Val {
        Val::Map(Rc::new(RefCell::new(MapVal { entries, str_elems })))
    }

    /// Go's `%T` name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Val::Nil => "<nil>",
            Val::Bool(_) => "bool",
            Val::Int(_) => "int",
            Val::Int64(_) => "int64",
            Val::Float(_) => "float64",
            Val::Str(_) => "string",
            Val::List(_) => "[]interface {}",
            Val::Map(m) => {
                if m.borrow().str_elems {
                    "map[string]string"
                } else {
                    "map[string]interface {}"
                }
            }
            Val::Time(_) => "time.Time",
            Val::Data => "map[string]interface {}",
        }
    }

    /// `reflect.Kind` name, as sprig's `kindOf` prints it.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Val::Nil => "invalid",
            Val::Bool(_) => "bool",
            Val::Int(_) => "int",
            Val::Int64(_) => "int64",
            Val::Float(_) => "float64",
            Val::Str(_) => "string",
            Val::List(_) => "slice",
            Val::Map(_) | Val::Data => "map",
            Val::Time(_) => "struct",
        }
    }

    /// text/template's truth: non-zero numbers, non-empty strings, lists and maps, `true`, structs.
    pub fn truth(&self) -> bool {
        match self {
            Val::Nil => false,
            Val::Bool(b) => *b,
            Val::Int(i) | Val::Int64(i) => *i != 0,
            Val::Float(f) => *f != 0.0,
            Val::Str(s) => !s.is_empty(),
            Val::List(l) => !l.is_empty(),
            Val::Map(m) => !m.borrow().entries.is_empty(),
            Val::Time(_) | Val::Data => true,
        }
    }

    /// The string, when this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)` as `%v` prints it: shortest digits, exponent
/// form when the exponent is < -4 or >= 6 (`1e+06`).
pub fn fmt_float_v(f: f64) -> String {
    fmt_float_g(f, -1, true)
}

/// Shortest decimal digits and the decimal exponent (`d.ddd × 10^exp`) of a finite float.
fn shortest_digits(f: f64) -> (String, i32) {
    let s = format!("{:e}", f.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    (digits, exp.parse().unwrap_or(0))
}

/// Digits rounded to `prec` significant digits and the exponent.
fn prec_digits(f: f64, prec: usize) -> (String, i32) {
    let s = format!("{:.*e}", prec.saturating_sub(1), f.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    (digits, exp.parse().unwrap_or(0))
}

fn special_float(f: f64) -> Option<String> {
    if f.is_nan() {
        Some("NaN".into())
    } else if f.is_infinite() {
        Some(if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        })
    } else {
        None
    }
}

fn exp_suffix(out: &mut String, exp: i32, upper: bool) {
    out.push(if upper { 'E' } else { 'e' });
    out.push(if exp < 0 { '-' } else { '+' });
    let a = exp.unsigned_abs();
    if a < 10 {
        out.push('0');
    }
    let _ = write!(out, "{a}");
}

/// `%g` with a precision (-1 = shortest). `v_mode` marks `%v` (same rules as `%g`).
fn fmt_float_g(f: f64, prec: i32, v_mode: bool) -> String {
    if let Some(s) = special_float(f) {
        return s;
    }
    let (digits, exp) = if prec < 0 {
        shortest_digits(f)
    } else {
        prec_digits(f, prec.max(1) as usize)
    };
    let digits = digits.trim_end_matches('0').to_string();
    let digits = if digits.is_empty() {
        "0".into()
    } else {
        digits
    };
    let mut eprec = if prec < 0 { 6 } else { prec.max(1) };
    if prec >= 0 && eprec > digits.len() as i32 && digits.len() as i32 > exp {
        eprec = digits.len() as i32;
    }
    let _ = v_mode;
    let mut out = String::new();
    if f.is_sign_negative() {
        out.push('-');
    }
    if exp < -4 || exp >= eprec {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        exp_suffix(&mut out, exp, false);
    } else if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let int_len = (exp + 1) as usize;
        if digits.len() <= int_len {
            out.push_str(&digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
    out
}

/// `%e` with a precision.
fn fmt_float_e(f: f64, prec: usize, upper: bool) -> String {
    if let Some(s) = special_float(f) {
        return s;
    }
    let s = format!("{:.*e}", prec, f);
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let mut out = mant.to_string();
    exp_suffix(&mut out, exp.parse().unwrap_or(0), upper);
    out
}

/// Prints a value with `%v`. `top` selects `<no value>` for a missing value.
pub fn write_v(out: &mut String, v: &Val, top: bool) {
    match v {
        Val::Nil => out.push_str(if top { "<no value>" } else { "<nil>" }),
        Val::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Val::Int(i) | Val::Int64(i) => {
            let _ = write!(out, "{i}");
        }
        Val::Float(f) => out.push_str(&fmt_float_v(*f)),
        Val::Str(s) => out.push_str(s),
        Val::List(l) => {
            out.push('[');
            for (i, e) in l.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_v(out, e, false);
            }
            out.push(']');
        }
        Val::Map(m) => {
            out.push_str("map[");
            for (i, (k, e)) in m.borrow().entries.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                write_v(out, e, false);
            }
            out.push(']');
        }
        Val::Time(t) => out.push_str(&t.go_string()),
        Val::Data => out.push_str("map[]"),
    }
}

/// `fmt.Sprint(v)` of one value.
pub fn to_v(v: &Val) -> String {
    let mut s = String::new();
    write_v(&mut s, v, false);
    s
}

/// `fmt.Sprint(args...)`: a space between operands when neither is a string.
pub fn sprint(args: &[Val]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !matches!(a, Val::Str(_)) && !matches!(args[i - 1], Val::Str(_)) {
            out.push(' ');
        }
        write_v(&mut out, a, false);
    }
    out
}

/// `fmt.Sprintln(args...)`.
pub fn sprintln(args: &[Val]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        write_v(&mut out, a, false);
    }
    out.push('\n');
    out
}

#[derive(Default, Clone, Copy)]
struct Flags {
    plus: bool,
    minus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    wid: Option<usize>,
    prec: Option<usize>,
}

impl Flags {
    fn pad(&self, out: &mut String, s: &str) {
        let Some(w) = self.wid else {
            out.push_str(s);
            return;
        };
        let n = s.chars().count();
        let fill = w.saturating_sub(n);
        let pc = if self.zero { '0' } else { ' ' };
        if self.minus {
            out.push_str(s);
            out.extend(std::iter::repeat_n(' ', fill));
        } else {
            out.extend(std::iter::repeat_n(pc, fill));
            out.push_str(s);
        }
    }
}

fn fmt_integer(out: &mut String, i: i64, verb: char, f: &Flags) -> bool {
    let neg = i < 0;
    let u = i.unsigned_abs();
    let digits = match verb {
        'd' | 'v' => u.to_string(),
        'b' => format!("{u:b}"),
        'o' | 'O' => format!("{u:o}"),
        'x' => format!("{u:x}"),
        'X' => format!("{u:X}"),
        'c' => {
            let c = char::from_u32(i as u32).unwrap_or('\u{fffd}');
            f.pad(out, &c.to_string());
            return true;
        }
        'q' => {
            let c = char::from_u32(i as u32).unwrap_or('\u{fffd}');
            let mut q = String::new();
            go_quote_into(&mut q, &c.to_string());
            let inner = &q[1..q.len() - 1];
            let inner = if inner == "'" { "\\'" } else { inner };
            let inner = if inner == "\\\"" { "\"" } else { inner };
            f.pad(out, &format!("'{inner}'"));
            return true;
        }
        'U' => {
            f.pad(out, &format!("U+{u:04X}"));
            return true;
        }
        _ => return false,
    };
    let mut prec = f.prec;
    let mut zero_pad = false;
    if prec.is_none() && f.zero && !f.minus {
        if let Some(w) = f.wid {
            let mut p = w;
            if neg || f.plus || f.space {
                p = p.saturating_sub(1);
            }
            prec = Some(p);
            zero_pad = true;
        }
    }
    let mut body = String::new();
    if neg {
        body.push('-');
    } else if f.plus {
        body.push('+');
    } else if f.space {
        body.push(' ');
    }
    if f.sharp {
        match verb {
            'x' => body.push_str("0x"),
            'X' => body.push_str("0X"),
            'o' if !digits.starts_with('0') => body.push('0'),
            'b' => body.push_str("0b"),
            _ => {}
        }
    }
    if verb == 'O' {
        body.push_str("0o");
    }
    let digits = if f.prec == Some(0) && i == 0 {
        String::new()
    } else {
        digits
    };
    if let Some(p) = prec {
        for _ in digits.len()..p {
            body.push('0');
        }
    }
    body.push_str(&digits);
    // Zero padding (when requested) is already in `body`; the rest pads with spaces.
    let _ = zero_pad;
    let mut f2 = *f;
    f2.zero = false;
    f2.pad(out, &body);
    true
}

fn fmt_float(out: &mut String, v: f64, verb: char, f: &Flags) -> bool {
    let mut s = match verb {
        'v' => fmt_float_g(v, f.prec.map(|p| p as i32).unwrap_or(-1), f.prec.is_none()),
        'g' => fmt_float_g(v, f.prec.map(|p| p as i32).unwrap_or(-1), false),
        'G' => fmt_float_g(v, f.prec.map(|p| p as i32).unwrap_or(-1), false).to_uppercase(),
        'f' | 'F' => {
            if let Some(sp) = special_float(v) {
                sp
            } else {
                format!("{:.*}", f.prec.unwrap_or(6), v)
            }
        }
        'e' => fmt_float_e(v, f.prec.unwrap_or(6), false),
        'E' => fmt_float_e(v, f.prec.unwrap_or(6), true),
        _ => return false,
    };
    if (f.plus || f.space) && !s.starts_with('-') && !s.starts_with('+') {
        s.insert(0, if f.plus { '+' } else { ' ' });
    } else if !f.plus && s.starts_with('+') && v.is_infinite() {
        s.remove(0);
    }
    if f.zero && !f.minus && v.is_finite() {
        if let Some(w) = f.wid {
            let n = s.chars().count();
            if n < w {
                let sign = if s.starts_with(['-', '+', ' ']) {
                    s.remove(0).to_string()
                } else {
                    String::new()
                };
                let zeros = "0".repeat(w - n);
                out.push_str(&sign);
                out.push_str(&zeros);
                out.push_str(&s);
                return true;
            }
        }
    }
    let mut f2 = *f;
    f2.zero = false;
    f2.pad(out, &s);
    true
}

fn fmt_string(out: &mut String, s: &str, verb: char, f: &Flags) -> bool {
    match verb {
        'v' | 's' => {
            let s = match f.prec {
                Some(p) => s.chars().take(p).collect::<String>(),
                None => s.to_string(),
            };
            f.pad(out, &s);
        }
        'q' => {
            let mut q = String::new();
            if f.sharp && !s.contains('`') {
                q = format!("`{s}`");
            } else {
                go_quote_into(&mut q, s);
            }
            f.pad(out, &q);
        }
        'x' | 'X' => {
            let mut h = String::new();
            for (i, b) in s.bytes().enumerate() {
                if f.space && i > 0 {
                    h.push(' ');
                }
                if verb == 'x' {
                    let _ = write!(h, "{b:02x}");
                } else {
                    let _ = write!(h, "{b:02X}");
                }
            }
            f.pad(out, &h);
        }
        _ => return false,
    }
    true
}

fn print_arg(out: &mut String, v: &Val, verb: char, f: &Flags) {
    if verb == 'T' {
        f.pad(out, v.type_name());
        return;
    }
    let ok = match v {
        Val::Nil => {
            if verb == 'v' {
                f.pad(out, "<nil>");
                true
            } else {
                false
            }
        }
        Val::Bool(b) => {
            if verb == 'v' || verb == 't' {
                f.pad(out, if *b { "true" } else { "false" });
                true
            } else {
                false
            }
        }
        Val::Int(i) | Val::Int64(i) => fmt_integer(out, *i, verb, f),
        Val::Float(x) => fmt_float(out, *x, verb, f),
        Val::Str(s) => fmt_string(out, s, verb, f),
        Val::Time(t) => fmt_string(out, &t.go_string(), verb, f),
        Val::List(l) => {
            out.push('[');
            for (i, e) in l.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                print_arg(out, e, verb, f);
            }
            out.push(']');
            true
        }
        Val::Map(m) => {
            out.push_str("map[");
            for (i, (k, e)) in m.borrow().entries.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                print_arg(out, &Val::Str(k.clone()), verb, f);
                out.push(':');
                print_arg(out, e, verb, f);
            }
            out.push(']');
            true
        }
        Val::Data => {
            out.push_str("map[]");
            true
        }
    };
    if !ok {
        out.push_str("%!");
        out.push(verb);
        out.push('(');
        match v {
            Val::Nil => out.push_str("<nil>"),
            _ => {
                out.push_str(v.type_name());
                out.push('=');
                print_arg(out, v, 'v', f);
            }
        }
        out.push(')');
    }
}

/// Go's `fmt.Sprintf`.
pub fn sprintf(format: &str, args: &[Val]) -> String {
    let mut out = String::with_capacity(format.len() + 16);
    let mut arg = 0usize;
    let mut chars = format.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut f = Flags::default();
        // Flags.
        while let Some(&(_, c)) = chars.peek() {
            match c {
                '#' => f.sharp = true,
                '0' => f.zero = !f.minus,
                '+' => f.plus = true,
                '-' => {
                    f.minus = true;
                    f.zero = false;
                }
                ' ' => f.space = true,
                _ => break,
            }
            chars.next();
        }
        // Width.
        if let Some(&(_, '*')) = chars.peek() {
            chars.next();
            match args.get(arg) {
                Some(Val::Int(w)) | Some(Val::Int64(w)) => {
                    if *w < 0 {
                        f.minus = true;
                        f.zero = false;
                    }
                    f.wid = Some((w.unsigned_abs() as usize).min(1 << 20));
                }
                _ => out.push_str("%!(BADWIDTH)"),
            }
            arg += 1;
        } else {
            let mut w = None;
            while let Some(&(_, c @ '0'..='9')) = chars.peek() {
                w = Some(w.unwrap_or(0usize).saturating_mul(10) + (c as usize - '0' as usize));
                chars.next();
            }
            f.wid = w.map(|w: usize| w.min(1 << 20));
        }
        // Precision.
        if let Some(&(_, '.')) = chars.peek() {
            chars.next();
            if let Some(&(_, '*')) = chars.peek() {
                chars.next();
                match args.get(arg) {
                    Some(Val::Int(p)) | Some(Val::Int64(p)) if *p >= 0 => {
                        f.prec = Some((*p as usize).min(1 << 20))
                    }
                    _ => out.push_str("%!(BADPREC)"),
                }
                arg += 1;
            } else {
                let mut p = 0usize;
                while let Some(&(_, c @ '0'..='9')) = chars.peek() {
                    p = p.saturating_mul(10) + (c as usize - '0' as usize);
                    chars.next();
                }
                f.prec = Some(p.min(1 << 20));
            }
        }
        let Some((_, verb)) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(a) = args.get(arg) else {
            out.push_str("%!");
            out.push(verb);
            out.push_str("(MISSING)");
            continue;
        };
        arg += 1;
        print_arg(&mut out, a, verb, &f);
    }
    if arg < args.len() {
        out.push_str("%!(EXTRA ");
        for (i, a) in args[arg..].iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            match a {
                Val::Nil => out.push_str("<nil>"),
                _ => {
                    out.push_str(a.type_name());
                    out.push('=');
                    write_v(&mut out, a, false);
                }
            }
        }
        out.push(')');
    }
    out
}

/// `encoding/json` number formatting for float64.
fn json_float(out: &mut String, f: f64) -> bool {
    if !f.is_finite() {
        return false;
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let (digits, exp) = shortest_digits(f);
        if f < 0.0 {
            out.push('-');
        }
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let a = exp.unsigned_abs();
        if a < 10 {
            out.push('0');
        }
        let _ = write!(out, "{a}");
    } else {
        out.push_str(&crate::strconv::format_go_float(f));
    }
    true
}

fn json_string(out: &mut String, s: &str, html: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' if html => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `encoding/json` encoding (`json.Marshal`, or `MarshalIndent` with `indent`). `None` on
/// unsupported values (NaN).
pub fn to_json(v: &Val, html: bool, indent: Option<&str>) -> Option<String> {
    let mut out = String::new();
    write_json(&mut out, v, html, indent, 0)?;
    Some(out)
}

fn newline(out: &mut String, indent: Option<&str>, depth: usize) {
    if let Some(ind) = indent {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(ind);
        }
    }
}

fn write_json(
    out: &mut String,
    v: &Val,
    html: bool,
    indent: Option<&str>,
    depth: usize,
) -> Option<()> {
    match v {
        Val::Nil => out.push_str("null"),
        Val::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Val::Int(i) | Val::Int64(i) => {
            let _ = write!(out, "{i}");
        }
        Val::Float(f) => {
            if !json_float(out, *f) {
                return None;
            }
        }
        Val::Str(s) => json_string(out, s, html),
        Val::Time(t) => {
            let s = t.format(crate::time::RFC3339_NANO);
            json_string(out, &s, html);
        }
        Val::List(l) => {
            if l.is_empty() {
                out.push_str("[]");
                return Some(());
            }
            out.push('[');
            for (i, e) in l.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent, depth + 1);
                write_json(out, e, html, indent, depth + 1)?;
            }
            newline(out, indent, depth);
            out.push(']');
        }
        Val::Map(m) => {
            let m = m.borrow();
            if m.entries.is_empty() {
                out.push_str("{}");
                return Some(());
            }
            out.push('{');
            for (i, (k, e)) in m.entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent, depth + 1);
                json_string(out, k, html);
                out.push(':');
                if indent.is_some() {
                    out.push(' ');
                }
                write_json(out, e, html, indent, depth + 1)?;
            }
            newline(out, indent, depth);
            out.push('}');
        }
        Val::Data => out.push_str("{}"),
    }
    Some(())
}

/// `encoding/json` decoding into `interface{}` (numbers become float64). `None` on invalid JSON.
pub fn from_json(s: &str) -> Option<Val> {
    let v: serde_json::Value = serde_json::from_str(s).ok()?;
    Some(from_serde(&v))
}

fn from_serde(v: &serde_json::Value) -> Val {
    match v {
        serde_json::Value::Null => Val::Nil,
        serde_json::Value::Bool(b) => Val::Bool(*b),
        serde_json::Value::Number(n) => Val::Float(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => Val::Str(s.clone()),
        serde_json::Value::Array(a) => Val::list(a.iter().map(from_serde).collect()),
        serde_json::Value::Object(o) => Val::map(
            o.iter().map(|(k, v)| (k.clone(), from_serde(v))).collect(),
            false,
        ),
    }
}

/// sprig's `strval`: strings as is, everything else with `%v`.
pub fn strval(v: &Val) -> String {
    match v {
        Val::Str(s) => s.clone(),
        other => to_v(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_go() {
        for (f, want) in [
            (2.5, "2.5"),
            (3.0, "3"),
            (0.25, "0.25"),
            (100000.0, "100000"),
            (1e6, "1e+06"),
            (1e21, "1e+21"),
            (123456789.0, "1.23456789e+08"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (-0.5, "-0.5"),
        ] {
            assert_eq!(fmt_float_v(f), want, "{f}");
        }
    }

    #[test]
    fn printf_verbs() {
        let s = |x: &str| Val::str(x);
        assert_eq!(sprintf("%05d", &[s("00041")]), "%!d(string=00041)");
        assert_eq!(sprintf("%05d", &[Val::Int(41)]), "00041");
        assert_eq!(sprintf("%-5d|", &[Val::Int(41)]), "41   |");
        assert_eq!(sprintf("%q", &[s("1.5")]), "\"1.5\"");
        assert_eq!(sprintf("%T", &[s("x")]), "string");
        assert_eq!(sprintf("%v %s", &[Val::Int(1), s("a")]), "1 a");
        assert_eq!(sprintf("%.2f", &[Val::Float(1.23456)]), "1.23");
        assert_eq!(sprintf("%8.3f|", &[Val::Float(-1.23456)]), "  -1.235|");
        assert_eq!(sprintf("%e", &[Val::Float(1234.5)]), "1.234500e+03");
        assert_eq!(sprintf("%x %X", &[Val::Int(255), s("hi")]), "ff 6869");
        assert_eq!(sprintf("%d", &[]), "%!d(MISSING)");
        assert_eq!(sprintf("a", &[Val::Int(1)]), "a%!(EXTRA int=1)");
        assert_eq!(sprintf("%t %v", &[Val::Bool(true), Val::Nil]), "true <nil>");
        assert_eq!(sprintf("%5s|%-5s|", &[s("ab"), s("cd")]), "   ab|cd   |");
        assert_eq!(sprintf("%.1s", &[s("abc")]), "a");
        assert_eq!(sprintf("%c", &[Val::Int(65)]), "A");
        assert_eq!(sprintf("%d%%", &[Val::Int(5)]), "5%");
        assert_eq!(sprintf("%+d", &[Val::Int(5)]), "+5");
        assert_eq!(sprintf("%s", &[Val::Int(5)]), "%!s(int=5)");
        assert_eq!(sprintf("%g", &[Val::Float(0.000001)]), "1e-06");
    }

    #[test]
    fn json_like_encoding_json() {
        let m = Val::map(
            [
                ("z".to_string(), Val::str("x<")),
                ("a".to_string(), Val::Int(1)),
                ("f".to_string(), Val::Float(1e-7)),
            ]
            .into_iter()
            .collect(),
            false,
        );
        assert_eq!(
            to_json(&m, true, None).unwrap(),
            r#"{"a":1,"f":1e-07,"z":"x\u003c"}"#
        );
        assert_eq!(
            to_json(&m, false, Some("  ")).unwrap(),
            "{\n  \"a\": 1,\n  \"f\": 1e-07,\n  \"z\": \"x<\"\n}"
        );
    }
}
