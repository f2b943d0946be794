//! The function map: Go text/template's built-ins, sprig v3.3.0's `TxtFuncMap()` and Promtail's
//! own functions (which override sprig's of the same name), each with Go's parameter types so
//! argument checking behaves as in Go.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::OnceLock;

use regex::Regex;
use sha2::Digest;

use crate::regex::GoRegex;

use super::exec::ZERO_TIME_UNIX;
use super::value::{from_json, sprint, sprintf, sprintln, strval, to_json, to_v, Val};
use crate::time::{self, GoTime, Layout, Loc};

/// A parameter type, as far as text/template's argument checking needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// `interface{}` / `reflect.Value`.
    Any,
    /// `string`.
    Str,
    /// `int`.
    Int,
    /// `int64`.
    Int64,
    /// `float64`.
    Float,
    /// `bool`.
    Bool,
    /// `map[string]interface{}`.
    Map,
    /// `time.Time`.
    Time,
}

impl Ty {
    /// The Go type name used in error messages.
    pub fn go_name(self) -> &'static str {
        match self {
            Ty::Any => "interface {}",
            Ty::Str => "string",
            Ty::Int => "int",
            Ty::Int64 => "int64",
            Ty::Float => "float64",
            Ty::Bool => "bool",
            Ty::Map => "map[string]interface {}",
            Ty::Time => "time.Time",
        }
    }
}

/// Per-template execution environment: compiled regexes of the regex functions, cached. Every
/// pattern compiles through [`GoRegex`], so it reads as Go's `regexp` reads it.
#[derive(Default)]
pub struct Env {
    regexes: HashMap<String, GoRegex>,
}

impl Env {
    fn go_regex(&mut self, pat: &str) -> Result<&GoRegex, String> {
        if !self.regexes.contains_key(pat) {
            let re = GoRegex::new(pat).map_err(|e| format!("regexp: Compile({pat:?}): {e}"))?;
            if self.regexes.len() > 256 {
                self.regexes.clear();
            }
            self.regexes.insert(pat.to_string(), re);
        }
        self.regexes
            .get(pat)
            .ok_or_else(|| "regex cache error".to_string())
    }

    fn regex(&mut self, pat: &str) -> Result<&Regex, String> {
        self.go_regex(pat).map(|r| &r.regex)
    }
}

type F = fn(&mut Env, Vec<Val>) -> Result<Val, String>;

/// How a function is called.
#[derive(Clone, Copy)]
pub enum Kind {
    /// Evaluated arguments.
    Normal(F),
    /// Short-circuit `and`.
    And,
    /// Short-circuit `or`.
    Or,
}

/// One function of the map.
pub struct FuncDef {
    /// Its template name.
    pub name: &'static str,
    /// Fixed parameters.
    pub params: &'static [Ty],
    /// Type of the variadic tail, if any.
    pub variadic: Option<Ty>,
    /// Implementation.
    pub kind: Kind,
}

impl std::fmt::Debug for FuncDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "func {}", self.name)
    }
}

/// Looks a function up by name.
pub fn lookup(name: &str) -> Option<&'static FuncDef> {
    static MAP: OnceLock<HashMap<&'static str, FuncDef>> = OnceLock::new();
    MAP.get_or_init(|| {
        let mut m = HashMap::new();
        for f in table() {
            // Later entries (Promtail's) override earlier ones (sprig's).
            m.insert(f.name, f);
        }
        m
    })
    .get(name)
}

use Ty::{Any, Bool, Float, Int, Map, Str, Time};

fn d(name: &'static str, params: &'static [Ty], variadic: Option<Ty>, f: F) -> FuncDef {
    FuncDef {
        name,
        params,
        variadic,
        kind: Kind::Normal(f),
    }
}

fn s(a: &[Val], i: usize) -> &str {
    a.get(i).and_then(|v| v.as_str()).unwrap_or("")
}

fn n(a: &[Val], i: usize) -> i64 {
    match a.get(i) {
        Some(Val::Int(x)) | Some(Val::Int64(x)) => *x,
        _ => 0,
    }
}

fn ok_s(x: impl Into<String>) -> Result<Val, String> {
    Ok(Val::Str(x.into()))
}

fn unsupported(_: &mut Env, _: Vec<Val>) -> Result<Val, String> {
    Err("this function is not supported by ferrotail".into())
}

/// Go's `unicode.ToUpper` applied per rune (simple case mapping: `ß` stays `ß`).
pub fn go_upper(s: &str) -> String {
    s.chars()
        .map(|c| {
            let mut u = c.to_uppercase();
            match (u.next(), u.next()) {
                (Some(x), None) => x,
                _ => c,
            }
        })
        .collect()
}

/// Go's `unicode.ToLower` applied per rune.
pub fn go_lower(s: &str) -> String {
    s.chars()
        .map(|c| {
            let mut u = c.to_lowercase();
            match (u.next(), u.next()) {
                (Some(x), None) => x,
                _ => c,
            }
        })
        .collect()
}

fn upper_char(c: char) -> char {
    go_upper(&c.to_string()).chars().next().unwrap_or(c)
}

fn lower_char(c: char) -> char {
    go_lower(&c.to_string()).chars().next().unwrap_or(c)
}

/// Byte slicing that never splits UTF-8 in a panicking way (invalid bytes become U+FFFD).
fn byte_slice(s: &str, from: usize, to: usize) -> String {
    String::from_utf8_lossy(&s.as_bytes()[from..to]).into_owned()
}

/// spf13/cast `ToInt64`.
pub fn to_int64(v: &Val) -> i64 {
    match v {
        Val::Int(i) | Val::Int64(i) => *i,
        Val::Float(f) => *f as i64,
        Val::Bool(b) => *b as i64,
        Val::Str(s) => parse_int_base0(trim_zero_decimal(s)).unwrap_or(0),
        _ => 0,
    }
}

fn trim_zero_decimal(s: &str) -> &str {
    let b = s.as_bytes();
    let mut found_zero = false;
    for i in (1..=b.len()).rev() {
        match b[i - 1] {
            b'.' => {
                if found_zero {
                    return &s[..i - 1];
                }
                return s;
            }
            b'0' => found_zero = true,
            _ => return s,
        }
    }
    s
}

/// Go's `strconv.ParseInt(s, 0, 64)`.
fn parse_int_base0(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() {
        return None;
    }
    let lower = body.to_ascii_lowercase();
    let (radix, digits, prefixed) = if let Some(h) = lower.strip_prefix("0x") {
        (16, h.to_string(), true)
    } else if let Some(o) = lower.strip_prefix("0o") {
        (8, o.to_string(), true)
    } else if let Some(b) = lower.strip_prefix("0b") {
        (2, b.to_string(), true)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].to_string(), true)
    } else {
        (10, lower.clone(), false)
    };
    if digits.contains('_') && !prefixed {
        return None;
    }
    let digits: String = digits.chars().filter(|c| *c != '_').collect();
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    let v = i128::from_str_radix(&digits, radix).ok()?;
    let v = if neg { -v } else { v };
    i64::try_from(v).ok()
}

/// spf13/cast `ToFloat64`.
pub fn to_float64(v: &Val) -> f64 {
    match v {
        Val::Int(i) | Val::Int64(i) => *i as f64,
        Val::Float(f) => *f,
        Val::Bool(b) => *b as i64 as f64,
        Val::Str(s) => go_parse_float(s).unwrap_or(0.0),
        _ => 0.0,
    }
}

fn go_parse_float(s: &str) -> Option<f64> {
    match s.to_ascii_lowercase().trim_start_matches(['+', '-']) {
        "inf" | "infinity" => {
            return Some(if s.starts_with('-') {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            })
        }
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    if s.is_empty() || s.contains(['i', 'I', 'n', 'N']) {
        return None;
    }
    s.parse::<f64>().ok()
}

/// A decimal as mantissa × 10^-scale, for shopspring/decimal-like exact float arithmetic.
#[derive(Clone, Copy)]
struct Dec {
    m: i128,
    scale: u32,
}

impl Dec {
    fn from_f64(f: f64) -> Option<Dec> {
        if !f.is_finite() {
            return None;
        }
        let s = crate::strconv::format_go_float(f);
        let (neg, s) = match s.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, s.as_str()),
        };
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        let digits = format!("{int}{frac}");
        if digits.len() > 36 {
            return None;
        }
        let m: i128 = digits.parse().ok()?;
        Some(Dec {
            m: if neg { -m } else { m },
            scale: frac.len() as u32,
        })
    }

    fn rescale(self, scale: u32) -> Option<i128> {
        self.m.checked_mul(10i128.checked_pow(scale - self.scale)?)
    }

    fn to_f64(self) -> f64 {
        let neg = self.m < 0;
        let mut digits = self.m.unsigned_abs().to_string();
        let scale = self.scale as usize;
        while digits.len() <= scale {
            digits.insert(0, '0');
        }
        let (int, frac) = digits.split_at(digits.len() - scale);
        let s = format!("{}{int}.{frac}0", if neg { "-" } else { "" });
        s.parse().unwrap_or(0.0)
    }

    fn op(a: f64, b: f64, op: char) -> f64 {
        let fallback = match op {
            '+' => a + b,
            '-' => a - b,
            '*' => a * b,
            _ => a / b,
        };
        let (Some(x), Some(y)) = (Dec::from_f64(a), Dec::from_f64(b)) else {
            return fallback;
        };
        let r = match op {
            '+' | '-' => {
                let scale = x.scale.max(y.scale);
                let (Some(xm), Some(ym)) = (x.rescale(scale), y.rescale(scale)) else {
                    return fallback;
                };
                let m = if op == '+' {
                    xm.checked_add(ym)
                } else {
                    xm.checked_sub(ym)
                };
                m.map(|m| Dec { m, scale })
            }
            '*' => x.m.checked_mul(y.m).map(|m| Dec {
                m,
                scale: x.scale + y.scale,
            }),
            _ => {
                if y.m == 0 {
                    return fallback;
                }
                // Quotient rounded half away from zero to 16 decimal places.
                let prec = 16u32;
                let shift = prec as i64 + y.scale as i64 - x.scale as i64;
                let (num, den) = if shift >= 0 {
                    (
                        x.m.checked_mul(10i128.checked_pow(shift as u32).unwrap_or(0)),
                        Some(y.m),
                    )
                } else {
                    (
                        Some(x.m),
                        y.m.checked_mul(10i128.checked_pow((-shift) as u32).unwrap_or(0)),
                    )
                };
                match (num, den) {
                    (Some(nm), Some(dn)) if dn != 0 => {
                        let q = nm / dn;
                        let r = nm % dn;
                        let q = if r.unsigned_abs() * 2 >= dn.unsigned_abs() {
                            if (nm < 0) != (dn < 0) {
                                q - 1
                            } else {
                                q + 1
                            }
                        } else {
                            q
                        };
                        Some(Dec { m: q, scale: prec })
                    }
                    _ => None,
                }
            }
        };
        r.map(|d| d.to_f64()).unwrap_or(fallback)
    }
}

/// Go's `strings.SplitN` (`n < 0` = all; an empty separator splits into UTF-8 characters).
fn go_split(s: &str, sep: &str, n: i64) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    if sep.is_empty() {
        let chars: Vec<String> = s.chars().map(String::from).collect();
        if n > 0 && chars.len() > n as usize {
            let mut out: Vec<String> = chars[..n as usize - 1].to_vec();
            let used: usize = out.iter().map(|c| c.len()).sum();
            out.push(s[used..].to_string());
            return out;
        }
        return chars;
    }
    if n < 0 {
        s.split(sep).map(String::from).collect()
    } else {
        s.splitn(n as usize, sep).map(String::from).collect()
    }
}

fn list_items(v: &Val) -> Option<Vec<Val>> {
    match v {
        Val::List(l) => Some(l.as_ref().clone()),
        _ => None,
    }
}

fn must_list(v: &Val, what: &str) -> Result<Vec<Val>, String> {
    list_items(v).ok_or_else(|| format!("Cannot find {what} on type {}", v.kind_name()))
}

/// sprig's `strslice`.
fn strslice(v: &Val) -> Vec<String> {
    match v {
        Val::List(l) => l
            .iter()
            .filter(|e| !matches!(e, Val::Nil))
            .map(strval)
            .collect(),
        Val::Nil => Vec::new(),
        other => vec![strval(other)],
    }
}

/// sprig's `empty`.
fn is_empty(v: &Val) -> bool {
    match v {
        Val::Nil => true,
        Val::Time(_) | Val::Data => false,
        other => !other.truth(),
    }
}

fn map_of(v: &Val) -> Option<BTreeMap<String, Val>> {
    match v {
        Val::Map(m) => Some(m.borrow().entries.clone()),
        _ => None,
    }
}

fn deep_copy(v: &Val) -> Val {
    match v {
        Val::List(l) => Val::list(l.iter().map(deep_copy).collect()),
        Val::Map(m) => {
            let m = m.borrow();
            Val::map(
                m.entries
                    .iter()
                    .map(|(k, v)| (k.clone(), deep_copy(v)))
                    .collect(),
                m.str_elems,
            )
        }
        other => other.clone(),
    }
}

fn go_quote(s: &str) -> String {
    let mut q = String::new();
    crate::strconv::go_quote_into(&mut q, s);
    q
}

/// Go's `template.HTMLEscapeString`.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Go's `template.JSEscapeString`.
fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 || c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// Go's `url.QueryEscape`.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// text/template's `evalArgs`: a lone string as is, else `fmt.Sprint`.
fn eval_args(a: &[Val]) -> String {
    match a {
        [Val::Str(s)] => s.clone(),
        _ => sprint(a),
    }
}

#[derive(PartialEq, Clone, Copy)]
enum BasicKind {
    Invalid,
    Bool,
    Int,
    Float,
    Str,
    Other,
}

fn basic_kind(v: &Val) -> BasicKind {
    match v {
        Val::Nil => BasicKind::Invalid,
        Val::Bool(_) => BasicKind::Bool,
        Val::Int(_) | Val::Int64(_) => BasicKind::Int,
        Val::Float(_) => BasicKind::Float,
        Val::Str(_) => BasicKind::Str,
        _ => BasicKind::Other,
    }
}

fn go_eq(a: &[Val]) -> Result<bool, String> {
    let a1 = &a[0];
    if a.len() < 2 {
        return Err("missing argument for comparison".into());
    }
    let k1 = basic_kind(a1);
    for b in &a[1..] {
        let k2 = basic_kind(b);
        let truth = if k1 != k2 {
            if !matches!(a1, Val::Nil) && !matches!(b, Val::Nil) {
                return Err("incompatible types for comparison".into());
            }
            false
        } else {
            match (a1, b) {
                (Val::Int(x) | Val::Int64(x), Val::Int(y) | Val::Int64(y)) => x == y,
                (Val::List(_), _) | (Val::Map(_), _) => {
                    return Err(format!("non-comparable type {}", to_v(b)))
                }
                _ => a1 == b,
            }
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

fn go_lt(a: &Val, b: &Val) -> Result<bool, String> {
    let (k1, k2) = (basic_kind(a), basic_kind(b));
    if matches!(k1, BasicKind::Invalid | BasicKind::Bool | BasicKind::Other)
        || matches!(k2, BasicKind::Invalid | BasicKind::Bool | BasicKind::Other)
    {
        return Err("invalid type for comparison".into());
    }
    if k1 != k2 {
        return Err("incompatible types for comparison".into());
    }
    Ok(match (a, b) {
        (Val::Int(x) | Val::Int64(x), Val::Int(y) | Val::Int64(y)) => x < y,
        (Val::Float(x), Val::Float(y)) => x < y,
        (Val::Str(x), Val::Str(y)) => x < y,
        _ => false,
    })
}

fn go_index(a: Vec<Val>) -> Result<Val, String> {
    let mut item = a[0].clone();
    for idx in &a[1..] {
        item = match &item {
            Val::Nil => return Err("index of untyped nil".into()),
            Val::List(l) => {
                let i = match idx {
                    Val::Int(i) | Val::Int64(i) => *i,
                    _ => return Err("cannot index slice/array with type".into()),
                };
                if i < 0 || i as usize >= l.len() {
                    return Err(format!("index out of range: {i}"));
                }
                l[i as usize].clone()
            }
            Val::Str(s) => {
                let i = match idx {
                    Val::Int(i) | Val::Int64(i) => *i,
                    _ => return Err("cannot index slice/array with type".into()),
                };
                if i < 0 || i as usize >= s.len() {
                    return Err(format!("index out of range: {i}"));
                }
                Val::Int(s.as_bytes()[i as usize] as i64)
            }
            Val::Map(m) => {
                let Val::Str(k) = idx else {
                    return Err(format!(
                        "value has type {}; should be string",
                        idx.type_name()
                    ));
                };
                let m = m.borrow();
                match m.entries.get(k) {
                    Some(v) => v.clone(),
                    None if m.str_elems => Val::str(""),
                    None => Val::Nil,
                }
            }
            other => return Err(format!("can't index item of type {}", other.type_name())),
        };
    }
    Ok(item)
}

fn time_arg(v: &Val) -> GoTime {
    match v {
        Val::Time(t) => (**t).clone(),
        Val::Int(i) | Val::Int64(i) => GoTime {
            unix: *i,
            nsec: 0,
            loc: Loc::Local,
        },
        _ => now(),
    }
}

fn now() -> GoTime {
    GoTime::from_unix_nanos(crate::time::now_nanos(), Loc::Local)
}

fn zero_time() -> GoTime {
    GoTime {
        unix: ZERO_TIME_UNIX,
        nsec: 0,
        loc: Loc::Utc,
    }
}

fn date_in_zone(layout: &str, date: &Val, zone: &str) -> String {
    let t = time_arg(date);
    let loc = Loc::load(zone).unwrap_or(Loc::Utc);
    t.in_loc(loc).format(layout)
}

fn re_err<T>(r: Result<T, String>) -> Result<T, String> {
    r
}

/// Go's `Regexp.FindAllString` limit: n < 0 means all.
fn find_all(re: &GoRegex, s: &str, n: i64) -> Vec<String> {
    re.find_all(s, n)
        .into_iter()
        .filter_map(|(b, e)| s.get(b..e).map(str::to_string))
        .collect()
}

fn regex_split(re: &GoRegex, s: &str, n: i64) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    if !re.regex.as_str().is_empty() && s.is_empty() {
        return vec![String::new()];
    }
    let mut out = Vec::new();
    let (mut beg, mut end) = (0, 0);
    let matches = re.find_all(s, n);
    for (ms, me) in matches {
        if n > 0 && out.len() as i64 == n - 1 {
            break;
        }
        end = ms;
        if me != 0 {
            out.push(s[beg..end].to_string());
        }
        beg = me;
    }
    if end != s.len() {
        out.push(s[beg..].to_string());
    }
    out
}

/// Go's `regexp.QuoteMeta`.
fn quote_meta(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// goutils `WrapCustom`.
fn wrap_custom(s: &str, len: i64, nl: &str, long_words: bool) -> String {
    if s.is_empty() {
        return String::new();
    }
    let nl = if nl.is_empty() { "\n" } else { nl };
    let wl = len.max(1) as usize;
    let b = s.as_bytes();
    let total = b.len();
    let mut offset = 0usize;
    let mut out: Vec<u8> = Vec::new();
    while total - offset > wl {
        if b[offset] == b' ' {
            offset += 1;
            continue;
        }
        let end = (wl + offset + 1).min(total);
        let space = b[offset..end].iter().rposition(|&c| c == b' ');
        if let Some(sp) = space {
            let at = sp + offset;
            out.extend_from_slice(&b[offset..at]);
            out.extend_from_slice(nl.as_bytes());
            offset = at + 1;
        } else if long_words {
            let end = wl + offset;
            out.extend_from_slice(&b[offset..end]);
            out.extend_from_slice(nl.as_bytes());
            offset += wl;
        } else {
            let end = wl + offset;
            match b[end..].iter().position(|&c| c == b' ') {
                None => {
                    out.extend_from_slice(&b[offset..]);
                    offset = total;
                }
                Some(i) => {
                    let at = i + end;
                    out.extend_from_slice(&b[offset..at]);
                    out.extend_from_slice(nl.as_bytes());
                    offset = at + 1;
                }
            }
        }
    }
    out.extend_from_slice(&b[offset.min(total)..]);
    String::from_utf8_lossy(&out).into_owned()
}

/// goutils `AbbreviateFull` (byte based).
fn abbreviate_full(s: &str, offset: i64, max: i64) -> String {
    if s.is_empty() || max < 4 {
        return s.to_string();
    }
    let len = s.len() as i64;
    if len <= max {
        return s.to_string();
    }
    let mut offset = offset.min(len);
    if len - offset < max - 3 {
        offset = len - (max - 3);
    }
    if offset <= 4 {
        return format!("{}...", byte_slice(s, 0, (max - 3) as usize));
    }
    if max < 7 {
        return s.to_string();
    }
    if offset + max - 3 < len {
        let rest = byte_slice(s, offset as usize, s.len());
        return format!("...{}", abbreviate_full(&rest, 0, max - 3));
    }
    format!("...{}", byte_slice(s, (len - (max - 3)) as usize, s.len()))
}

/// Go's `strings.Title`.
fn title(s: &str) -> String {
    let is_sep = |c: char| {
        if c.is_ascii() {
            return !(c.is_ascii_alphanumeric() || c == '_');
        }
        if c.is_alphabetic() || c.is_numeric() {
            return false;
        }
        c.is_whitespace()
    };
    let mut prev = ' ';
    s.chars()
        .map(|c| {
            let r = if is_sep(prev) { upper_char(c) } else { c };
            prev = c;
            r
        })
        .collect()
}

fn is_connector(c: char) -> bool {
    c == '-' || c == '_' || c.is_whitespace()
}

fn is_alpha(c: char) -> bool {
    c.is_ascii_alphabetic()
}

/// Go's `unicode.IsPunct` for ASCII (non-ASCII punctuation is treated as other text).
fn is_punct(c: char) -> bool {
    "!\"#%&'()*,-./:;?@[\\]_{}".contains(c)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum WordType {
    Invalid,
    Number,
    Upper,
    Alpha,
    Connector,
    Punct,
    Other,
}

fn take_while_from(s: &str, end: &mut usize, f: &dyn Fn(char) -> bool) {
    for ch in s[*end..].chars() {
        if !f(ch) {
            break;
        }
        *end += ch.len_utf8();
    }
}

/// xstrings `nextWord`: the type and text of the next word and the rest of the string.
fn next_word(s: &str) -> (WordType, &str, &str) {
    let Some(c) = s.chars().next() else {
        return (WordType::Invalid, "", "");
    };
    let mut end = c.len_utf8();
    let wt = if is_connector(c) {
        take_while_from(s, &mut end, &is_connector);
        WordType::Connector
    } else if is_punct(c) {
        take_while_from(s, &mut end, &is_punct);
        WordType::Punct
    } else if c.is_uppercase() {
        if let Some(n) = s[end..].chars().next() {
            if n.is_uppercase() {
                let mut prev_size = n.len_utf8();
                end += prev_size;
                let mut next = None;
                for ch in s[end..].chars() {
                    if !ch.is_uppercase() {
                        next = Some(ch);
                        break;
                    }
                    prev_size = ch.len_utf8();
                    end += prev_size;
                }
                // "HTTPStatus" splits into "HTTP" and "Status".
                if next.is_some_and(is_alpha) {
                    end -= prev_size;
                }
            } else if is_alpha(n) {
                end += n.len_utf8();
                take_while_from(s, &mut end, &|ch| is_alpha(ch) && !ch.is_uppercase());
            }
        }
        WordType::Upper
    } else if is_alpha(c) {
        take_while_from(s, &mut end, &|ch| is_alpha(ch) && !ch.is_uppercase());
        WordType::Alpha
    } else if c.is_numeric() {
        take_while_from(s, &mut end, &|ch| ch.is_numeric());
        WordType::Number
    } else {
        take_while_from(s, &mut end, &|ch| {
            !(is_connector(ch) || is_alpha(ch) || ch.is_numeric() || is_punct(ch))
        });
        WordType::Other
    };
    (wt, &s[..end], &s[end..])
}

fn push_lower(out: &mut String, wt: WordType, w: &str, conn: char) {
    if wt != WordType::Upper && wt != WordType::Connector {
        out.push_str(w);
        return;
    }
    for c in w.chars() {
        if is_connector(c) {
            out.push(conn);
        } else if c.is_uppercase() {
            out.push(lower_char(c));
        } else {
            out.push(c);
        }
    }
}

/// xstrings `ToSnakeCase`/`ToKebabCase` (`camelCaseToLowerCase`).
fn to_lower_words(s: &str, conn: char) -> String {
    use WordType as W;
    if s.is_empty() {
        return String::new();
    }
    let mut out = String::with_capacity(s.len() + 4);
    let (mut wt, mut word, mut rest) = next_word(s);
    while !rest.is_empty() {
        if wt != W::Connector {
            push_lower(&mut out, wt, word, conn);
        }
        let prev = wt;
        let last = word;
        (wt, word, rest) = next_word(rest);
        match prev {
            W::Number => {
                while wt == W::Alpha || wt == W::Number {
                    push_lower(&mut out, wt, word, conn);
                    (wt, word, rest) = next_word(rest);
                }
                if wt != W::Invalid && wt != W::Punct && wt != W::Connector {
                    out.push(conn);
                }
            }
            W::Connector => push_lower(&mut out, prev, last, conn),
            W::Punct => {}
            _ => {
                if wt != W::Number {
                    if wt != W::Connector && wt != W::Punct {
                        out.push(conn);
                    }
                    continue;
                }
                if rest.is_empty() {
                    continue;
                }
                let last = word;
                (wt, word, rest) = next_word(rest);
                if wt != W::Alpha {
                    push_lower(&mut out, W::Number, last, conn);
                    if wt != W::Connector && wt != W::Punct {
                        out.push(conn);
                    }
                    continue;
                }
                out.push(conn);
                push_lower(&mut out, W::Number, last, conn);
                while wt == W::Alpha || wt == W::Number {
                    push_lower(&mut out, wt, word, conn);
                    (wt, word, rest) = next_word(rest);
                }
                if wt != W::Invalid && wt != W::Connector && wt != W::Punct {
                    out.push(conn);
                }
            }
        }
    }
    push_lower(&mut out, wt, word, conn);
    out
}

/// xstrings `ToPascalCase` (sprig's `camelcase`).
fn to_camel(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.is_empty() {
        return String::new();
    }
    let mut out = String::with_capacity(s.len());
    let mut first_upper = false;
    let mut i = 0;
    let mut r0 = ' ';
    let mut found = false;
    while i < chars.len() {
        r0 = chars[i];
        i += 1;
        if !is_connector(r0) {
            first_upper = r0.is_uppercase();
            r0 = upper_char(r0);
            found = true;
            break;
        }
        out.push(r0);
    }
    if i >= chars.len() {
        if found {
            out.push(r0);
        }
        return out;
    }
    while i < chars.len() {
        let r1 = r0;
        r0 = chars[i];
        i += 1;
        if is_connector(r0) && is_connector(r1) {
            out.push(r1);
            continue;
        }
        if is_connector(r1) {
            first_upper = r0.is_uppercase();
            r0 = upper_char(r0);
        } else {
            if first_upper {
                if r0.is_uppercase() {
                    r0 = lower_char(r0);
                } else {
                    first_upper = false;
                }
            }
            out.push(r1);
        }
    }
    out.push(r0);
    out
}

fn go_path_clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let body = parts.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".into(),
        (false, false) => body,
    }
}

fn go_path_base(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return "/".into();
    }
    t.rsplit('/').next().unwrap_or(t).to_string()
}

fn go_path_dir(p: &str) -> String {
    let dir = match p.rfind('/') {
        Some(i) => &p[..i + 1],
        None => "",
    };
    go_path_clean(dir)
}

fn go_path_ext(p: &str) -> String {
    for (i, c) in p.char_indices().rev() {
        if c == '/' {
            break;
        }
        if c == '.' {
            return p[i..].to_string();
        }
    }
    String::new()
}

const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn b32enc(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let v = buf.iter().fold(0u64, |acc, b| (acc << 8) | *b as u64);
        let nchars = (chunk.len() * 8).div_ceil(5);
        for i in 0..8 {
            if i < nchars {
                out.push(B32[((v >> (35 - i * 5)) & 31) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn b32dec(s: &str) -> Result<Vec<u8>, String> {
    let s = s.trim_end_matches(['\n', '\r']);
    let mut out = Vec::new();
    let bytes = s.as_bytes();
    if bytes.len() % 8 != 0 {
        return Err(format!(
            "illegal base32 data at input byte {}",
            bytes.len() / 8 * 8
        ));
    }
    for (ci, chunk) in bytes.chunks(8).enumerate() {
        let mut v = 0u64;
        let mut n = 0;
        for (i, &c) in chunk.iter().enumerate() {
            if c == b'=' {
                break;
            }
            let Some(x) = B32.iter().position(|&b| b == c) else {
                return Err(format!("illegal base32 data at input byte {}", ci * 8 + i));
            };
            v |= (x as u64) << (35 - i * 5);
            n += 1;
        }
        let nbytes = n * 5 / 8;
        for i in 0..nbytes {
            out.push(((v >> (32 - i * 8)) & 0xff) as u8);
        }
    }
    Ok(out)
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + x as u32) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn rand_string(n: i64, set: &[u8]) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..n.clamp(0, 1 << 20))
        .map(|_| set[rng.random_range(0..set.len())] as char)
        .collect()
}

fn until_step(start: i64, stop: i64, step: i64) -> Result<Vec<Val>, String> {
    let mut v = Vec::new();
    let limit = 1_000_000;
    if stop < start {
        if step >= 0 {
            return Ok(v);
        }
        let mut i = start;
        while i > stop {
            v.push(Val::Int(i));
            i += step;
            if v.len() > limit {
                return Err("sequence too long".into());
            }
        }
        return Ok(v);
    }
    if step <= 0 {
        return Ok(v);
    }
    let mut i = start;
    while i < stop {
        v.push(Val::Int(i));
        i += step;
        if v.len() > limit {
            return Err("sequence too long".into());
        }
    }
    Ok(v)
}

fn seq_fn(p: &[i64]) -> Result<String, String> {
    let mut inc = 1;
    let v = match p.len() {
        1 => {
            let (start, end) = (1, p[0]);
            if end < start {
                inc = -1;
            }
            until_step(start, end + inc, inc)?
        }
        2 => {
            let (start, end) = (p[0], p[1]);
            let step = if end < start { -1 } else { 1 };
            until_step(start, end + step, step)?
        }
        3 => {
            let (start, step, end) = (p[0], p[1], p[2]);
            if end < start {
                inc = -1;
                if step > 0 {
                    return Ok(String::new());
                }
            }
            until_step(start, end + inc, step)?
        }
        _ => return Ok(String::new()),
    };
    Ok(v.iter().map(to_v).collect::<Vec<_>>().join(" "))
}

fn duration_round(v: &Val) -> String {
    let d: i64 = match v {
        Val::Str(s) => time::parse_duration(s).unwrap_or(0),
        Val::Int64(i) => *i,
        Val::Time(t) => crate::time::now_nanos().wrapping_sub(t.unix_nanos()),
        _ => 0,
    };
    let u = d.unsigned_abs();
    let second = 1_000_000_000u64;
    let minute = 60 * second;
    let hour = 60 * minute;
    let day = 24 * hour;
    let month = 30 * day;
    let year = 365 * day;
    for (unit, suffix) in [
        (year, "y"),
        (month, "mo"),
        (day, "d"),
        (hour, "h"),
        (minute, "m"),
        (second, "s"),
    ] {
        if u > unit {
            return format!("{}{suffix}", u / unit);
        }
    }
    "0s".into()
}

/// Go's `os.Expand` with environment variables.
fn expand_env(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    let mut last = 0;
    while i < b.len() {
        if b[i] == b'$' && i + 1 < b.len() {
            out.push_str(&s[last..i]);
            let (name, w) = if b[i + 1] == b'{' {
                match s[i + 2..].find('}') {
                    Some(e) if e > 0 => (&s[i + 2..i + 2 + e], e + 2),
                    Some(_) => ("", 2),
                    None => ("", 1),
                }
            } else if (b[i + 1] as char).is_ascii_digit() || "*#$@!?-".contains(b[i + 1] as char) {
                (&s[i + 1..i + 2], 1)
            } else {
                let n = s[i + 1..]
                    .bytes()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_')
                    .count();
                (&s[i + 1..i + 1 + n], n)
            };
            if name.is_empty() && w > 0 && b[i + 1] != b'{' {
                out.push('$');
            } else {
                out.push_str(&std::env::var(name).unwrap_or_default());
            }
            i += 1 + w;
            last = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&s[last.min(s.len())..]);
    out
}

fn url_parse(s: &str) -> Result<Val, String> {
    let mut m = BTreeMap::new();
    let (rest, fragment) = s.split_once('#').unwrap_or((s, ""));
    let (scheme, rest) = match rest.split_once(':') {
        Some((sc, r))
            if !sc.is_empty()
                && sc.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && sc
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            (sc.to_ascii_lowercase(), r)
        }
        _ => (String::new(), rest),
    };
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (mut host, mut userinfo, mut path, mut opaque) =
        (String::new(), String::new(), String::new(), String::new());
    if let Some(r) = rest.strip_prefix("//") {
        let (authority, p) = match r.find('/') {
            Some(i) => (&r[..i], &r[i..]),
            None => (r, ""),
        };
        let (ui, h) = match authority.rsplit_once('@') {
            Some((u, h)) => (u, h),
            None => ("", authority),
        };
        userinfo = ui.to_string();
        host = h.to_string();
        path = p.to_string();
    } else if !scheme.is_empty() && !rest.starts_with('/') {
        opaque = rest.to_string();
    } else {
        path = rest.to_string();
    }
    let hostname = if host.starts_with('[') {
        host.split(']')
            .next()
            .unwrap_or("")
            .trim_start_matches('[')
            .to_string()
    } else {
        host.rsplit_once(':')
            .map(|(h, _)| h.to_string())
            .unwrap_or_else(|| host.clone())
    };
    m.insert("scheme".into(), Val::Str(scheme));
    m.insert("host".into(), Val::Str(host));
    m.insert("hostname".into(), Val::Str(hostname));
    m.insert("path".into(), Val::Str(path));
    m.insert("query".into(), Val::str(query));
    m.insert("opaque".into(), Val::Str(opaque));
    m.insert("fragment".into(), Val::str(fragment));
    m.insert("userinfo".into(), Val::Str(userinfo));
    Ok(Val::map(m, false))
}

fn url_join(d: &BTreeMap<String, Val>) -> String {
    let g = |k: &str| d.get(k).map(strval).unwrap_or_default();
    let mut out = String::new();
    let scheme = g("scheme");
    if !scheme.is_empty() {
        out.push_str(&scheme);
        out.push(':');
    }
    let opaque = g("opaque");
    if !opaque.is_empty() {
        out.push_str(&opaque);
    } else {
        let host = g("host");
        let ui = g("userinfo");
        if !host.is_empty() || !scheme.is_empty() || !ui.is_empty() {
            out.push_str("//");
            if !ui.is_empty() {
                out.push_str(&ui);
                out.push('@');
            }
            out.push_str(&host);
        }
        let path = g("path");
        if !path.is_empty() && !path.starts_with('/') && !host.is_empty() {
            out.push('/');
        }
        out.push_str(&path);
    }
    let q = g("query");
    if !q.is_empty() {
        out.push('?');
        out.push_str(&q);
    }
    let f = g("fragment");
    if !f.is_empty() {
        out.push('#');
        out.push_str(&f);
    }
    out
}

fn uuid_v4() -> String {
    use rand::Rng;
    let mut b = [0u8; 16];
    rand::rng().fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn merge_into(dst: &mut BTreeMap<String, Val>, src: &BTreeMap<String, Val>, overwrite: bool) {
    for (k, v) in src {
        match dst.get_mut(k) {
            Some(Val::Map(dm)) => {
                if let Val::Map(sm) = v {
                    if !std::rc::Rc::ptr_eq(dm, sm) {
                        let sm = sm.borrow().entries.clone();
                        merge_into(&mut dm.borrow_mut().entries, &sm, overwrite);
                    }
                } else if overwrite && !is_empty(v) {
                    dst.insert(k.clone(), v.clone());
                }
            }
            Some(existing) => {
                if (overwrite && !is_empty(v)) || is_empty(existing) {
                    dst.insert(k.clone(), v.clone());
                }
            }
            None => {
                dst.insert(k.clone(), v.clone());
            }
        }
    }
}

fn merge_fn(a: Vec<Val>, overwrite: bool) -> Result<Val, String> {
    let Val::Map(dst) = &a[0] else {
        return Ok(Val::Nil);
    };
    for src in &a[1..] {
        if let Val::Map(sm) = src {
            if std::rc::Rc::ptr_eq(dst, sm) {
                continue;
            }
            let sm = sm.borrow().entries.clone();
            merge_into(&mut dst.borrow_mut().entries, &sm, overwrite);
        }
    }
    Ok(a[0].clone())
}

fn dig(a: &[Val]) -> Result<Val, String> {
    if a.len() < 3 {
        return Err("dig needs at least three arguments".into());
    }
    let Val::Map(m) = &a[a.len() - 1] else {
        return Err("dig: last argument must be a dict".into());
    };
    let def = a[a.len() - 2].clone();
    let mut cur = Val::Map(m.clone());
    for k in &a[..a.len() - 2] {
        let Val::Str(k) = k else {
            return Err("dig: keys must be strings".into());
        };
        let next = match &cur {
            Val::Map(m) => m.borrow().entries.get(k).cloned(),
            _ => return Err("dig: value is not a dict".into()),
        };
        match next {
            Some(v) => cur = v,
            None => return Ok(def),
        }
    }
    Ok(cur)
}

fn slice_fn(a: &[Val]) -> Result<Val, String> {
    let l = must_list(&a[0], "slice")?;
    if l.is_empty() {
        return Ok(Val::Nil);
    }
    let start = a.get(1).map(to_int64).unwrap_or(0);
    let end = a.get(2).map(to_int64).unwrap_or(l.len() as i64);
    if start < 0 || end < start || end as usize > l.len() {
        return Err(format!("slice bounds out of range [{start}:{end}]"));
    }
    Ok(Val::list(l[start as usize..end as usize].to_vec()))
}

fn math_reduce(a: &[Val], f: fn(i64, i64) -> Option<i64>) -> Result<Val, String> {
    let mut acc = to_int64(&a[0]);
    for v in &a[1..] {
        acc = f(acc, to_int64(v)).ok_or("runtime error: integer divide by zero")?;
    }
    Ok(Val::Int64(acc))
}

fn float_reduce(a: &[Val], op: char) -> Val {
    let mut acc = to_float64(&a[0]);
    for v in &a[1..] {
        acc = Dec::op(acc, to_float64(v), op);
    }
    Val::Float(acc)
}

#[allow(clippy::too_many_lines)]
fn table() -> Vec<FuncDef> {
    vec![
        // ---- Go text/template built-ins.
        FuncDef {
            name: "and",
            params: &[Any],
            variadic: Some(Any),
            kind: Kind::And,
        },
        FuncDef {
            name: "or",
            params: &[Any],
            variadic: Some(Any),
            kind: Kind::Or,
        },
        d("call", &[Any], Some(Any), |_, _| {
            Err("call of non-function".into())
        }),
        d("html", &[], Some(Any), |_, a| {
            ok_s(html_escape(&eval_args(&a)))
        }),
        d("js", &[], Some(Any), |_, a| ok_s(js_escape(&eval_args(&a)))),
        d("urlquery", &[], Some(Any), |_, a| {
            ok_s(query_escape(&eval_args(&a)))
        }),
        d("index", &[Any], Some(Any), |_, a| go_index(a)),
        d("len", &[Any], None, |_, a| match &a[0] {
            Val::Str(s) => Ok(Val::Int(s.len() as i64)),
            Val::List(l) => Ok(Val::Int(l.len() as i64)),
            Val::Map(m) => Ok(Val::Int(m.borrow().entries.len() as i64)),
            Val::Nil => Err("len of nil pointer".into()),
            other => Err(format!("len of type {}", other.type_name())),
        }),
        d("not", &[Any], None, |_, a| Ok(Val::Bool(!a[0].truth()))),
        d("print", &[], Some(Any), |_, a| ok_s(sprint(&a))),
        d("printf", &[Str], Some(Any), |_, a| {
            ok_s(sprintf(s(&a, 0), &a[1..]))
        }),
        d("println", &[], Some(Any), |_, a| ok_s(sprintln(&a))),
        d("eq", &[Any], Some(Any), |_, a| Ok(Val::Bool(go_eq(&a)?))),
        d("ne", &[Any, Any], None, |_, a| Ok(Val::Bool(!go_eq(&a)?))),
        d("lt", &[Any, Any], None, |_, a| {
            Ok(Val::Bool(go_lt(&a[0], &a[1])?))
        }),
        d("le", &[Any, Any], None, |_, a| {
            Ok(Val::Bool(go_lt(&a[0], &a[1])? || go_eq(&a)?))
        }),
        d("gt", &[Any, Any], None, |_, a| {
            Ok(Val::Bool(!(go_lt(&a[0], &a[1])? || go_eq(&a)?)))
        }),
        d("ge", &[Any, Any], None, |_, a| {
            Ok(Val::Bool(!go_lt(&a[0], &a[1])?))
        }),
        // ---- sprig: misc, dates.
        d("hello", &[], None, |_, _| ok_s("Hello!")),
        d("ago", &[Any], None, |_, a| {
            let t = time_arg(&a[0]);
            let d = crate::time::now_nanos().wrapping_sub(t.unix_nanos());
            let r = (d as f64 / 1e9).round() as i64 * 1_000_000_000;
            ok_s(time::duration_string(r))
        }),
        d("date", &[Str, Any], None, |_, a| {
            ok_s(date_in_zone(s(&a, 0), &a[1], "Local"))
        }),
        d("date_in_zone", &[Str, Any, Str], None, |_, a| {
            ok_s(date_in_zone(s(&a, 0), &a[1], s(&a, 2)))
        }),
        d("dateInZone", &[Str, Any, Str], None, |_, a| {
            ok_s(date_in_zone(s(&a, 0), &a[1], s(&a, 2)))
        }),
        d("date_modify", &[Str, Time], None, |_, a| {
            date_modify(&a).or_else(|_| Ok(a[1].clone()))
        }),
        d("dateModify", &[Str, Time], None, |_, a| {
            date_modify(&a).or_else(|_| Ok(a[1].clone()))
        }),
        d("must_date_modify", &[Str, Time], None, |_, a| {
            date_modify(&a)
        }),
        d("mustDateModify", &[Str, Time], None, |_, a| date_modify(&a)),
        d("duration", &[Any], None, |_, a| {
            let n = match &a[0] {
                Val::Str(s) => s.parse::<i64>().unwrap_or(0),
                Val::Int64(i) => *i,
                _ => 0,
            };
            ok_s(time::duration_string(n.wrapping_mul(1_000_000_000)))
        }),
        d("durationRound", &[Any], None, |_, a| {
            ok_s(duration_round(&a[0]))
        }),
        d("htmlDate", &[Any], None, |_, a| {
            ok_s(date_in_zone("2006-01-02", &a[0], "Local"))
        }),
        d("htmlDateInZone", &[Any, Str], None, |_, a| {
            ok_s(date_in_zone("2006-01-02", &a[0], s(&a, 1)))
        }),
        d("now", &[], None, |_, _| Ok(Val::Time(Box::new(now())))),
        d("toDate", &[Str, Str], None, |_, a| {
            let t = Layout::new(s(&a, 0))
                .parse(s(&a, 1), &Loc::Local, &Loc::Local)
                .unwrap_or_else(|_| zero_time());
            Ok(Val::Time(Box::new(t)))
        }),
        d("mustToDate", &[Str, Str], None, |_, a| {
            let t = Layout::new(s(&a, 0)).parse(s(&a, 1), &Loc::Local, &Loc::Local)?;
            Ok(Val::Time(Box::new(t)))
        }),
        d("unixEpoch", &[Time], None, |_, a| match &a[0] {
            Val::Time(t) => ok_s(t.unix.to_string()),
            _ => Err("expected time.Time".into()),
        }),
        // ---- sprig: strings.
        d("abbrev", &[Int, Str], None, |_, a| {
            ok_s(abbreviate_full(s(&a, 1), 0, n(&a, 0)))
        }),
        d("abbrevboth", &[Int, Int, Str], None, |_, a| {
            let (l, r) = (n(&a, 0), n(&a, 1));
            if r < 4 || (l > 0 && r < 7) {
                return ok_s(s(&a, 2));
            }
            ok_s(abbreviate_full(s(&a, 2), l, r))
        }),
        d("trunc", &[Int, Str], None, |_, a| {
            let (c, st) = (n(&a, 0), s(&a, 1));
            let len = st.len() as i64;
            if c < 0 && len + c > 0 {
                return ok_s(byte_slice(st, (len + c) as usize, st.len()));
            }
            if c >= 0 && len > c {
                return ok_s(byte_slice(st, 0, c as usize));
            }
            ok_s(st)
        }),
        d("trim", &[Str], None, |_, a| ok_s(s(&a, 0).trim())),
        d("upper", &[Str], None, |_, a| ok_s(go_upper(s(&a, 0)))),
        d("lower", &[Str], None, |_, a| ok_s(go_lower(s(&a, 0)))),
        d("title", &[Str], None, |_, a| ok_s(title(s(&a, 0)))),
        d("untitle", &[Str], None, |_, a| {
            let mut next = true;
            ok_s(
                s(&a, 0)
                    .chars()
                    .map(|c| {
                        if c.is_whitespace() {
                            next = true;
                            c
                        } else if next {
                            next = false;
                            lower_char(c)
                        } else {
                            c
                        }
                    })
                    .collect::<String>(),
            )
        }),
        d("substr", &[Int, Int, Str], None, |_, a| {
            let (start, end, st) = (n(&a, 0), n(&a, 1), s(&a, 2));
            let len = st.len() as i64;
            let range = if start < 0 {
                (0, end)
            } else if end < 0 || end > len {
                (start, len)
            } else {
                (start, end)
            };
            if range.0 < 0 || range.1 < range.0 || range.1 > len {
                return Err(format!(
                    "runtime error: slice bounds out of range [{}:{}]",
                    range.0, range.1
                ));
            }
            ok_s(byte_slice(st, range.0 as usize, range.1 as usize))
        }),
        d("repeat", &[Int, Str], None, |_, a| {
            let c = n(&a, 0);
            if c < 0 {
                return Err("strings: negative Repeat count".into());
            }
            if (c as u128) * (s(&a, 1).len() as u128) > (64 << 20) {
                return Err("strings: Repeat output length overflow".into());
            }
            ok_s(s(&a, 1).repeat(c as usize))
        }),
        d("trimall", &[Str, Str], None, |_, a| {
            let cut = s(&a, 0);
            ok_s(s(&a, 1).trim_matches(|c| cut.contains(c)))
        }),
        d("trimAll", &[Str, Str], None, |_, a| {
            let cut = s(&a, 0);
            ok_s(s(&a, 1).trim_matches(|c| cut.contains(c)))
        }),
        d("trimSuffix", &[Str, Str], None, |_, a| {
            ok_s(s(&a, 1).strip_suffix(s(&a, 0)).unwrap_or(s(&a, 1)))
        }),
        d("trimPrefix", &[Str, Str], None, |_, a| {
            ok_s(s(&a, 1).strip_prefix(s(&a, 0)).unwrap_or(s(&a, 1)))
        }),
        d("nospace", &[Str], None, |_, a| {
            ok_s(
                s(&a, 0)
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .collect::<String>(),
            )
        }),
        d("initials", &[Str], None, |_, a| {
            let mut gap = true;
            let mut out = String::new();
            for c in s(&a, 0).chars() {
                if c.is_whitespace() {
                    gap = true;
                } else if gap {
                    out.push(c);
                    gap = false;
                }
            }
            ok_s(out)
        }),
        d("randAlphaNum", &[Int], None, |_, a| {
            ok_s(rand_string(
                n(&a, 0),
                b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
            ))
        }),
        d("randAlpha", &[Int], None, |_, a| {
            ok_s(rand_string(
                n(&a, 0),
                b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
            ))
        }),
        d("randAscii", &[Int], None, |_, a| {
            let set: Vec<u8> = (32u8..127).collect();
            ok_s(rand_string(n(&a, 0), &set))
        }),
        d("randNumeric", &[Int], None, |_, a| {
            ok_s(rand_string(n(&a, 0), b"0123456789"))
        }),
        d("swapcase", &[Str], None, |_, a| {
            let mut ws = true;
            ok_s(
                s(&a, 0)
                    .chars()
                    .map(|c| {
                        if c.is_uppercase() {
                            ws = false;
                            lower_char(c)
                        } else if c.is_lowercase() {
                            if ws {
                                ws = false;
                            }
                            upper_char(c)
                        } else {
                            ws = c.is_whitespace();
                            c
                        }
                    })
                    .collect::<String>(),
            )
        }),
        d("shuffle", &[Str], None, |_, a| {
            use rand::seq::SliceRandom;
            let mut v: Vec<char> = s(&a, 0).chars().collect();
            v.shuffle(&mut rand::rng());
            ok_s(v.into_iter().collect::<String>())
        }),
        d("snakecase", &[Str], None, |_, a| {
            ok_s(to_lower_words(s(&a, 0), '_'))
        }),
        d("camelcase", &[Str], None, |_, a| ok_s(to_camel(s(&a, 0)))),
        d("kebabcase", &[Str], None, |_, a| {
            ok_s(to_lower_words(s(&a, 0), '-'))
        }),
        d("wrap", &[Int, Str], None, |_, a| {
            ok_s(wrap_custom(s(&a, 1), n(&a, 0), "", false))
        }),
        d("wrapWith", &[Int, Str, Str], None, |_, a| {
            ok_s(wrap_custom(s(&a, 2), n(&a, 0), s(&a, 1), true))
        }),
        d("contains", &[Str, Str], None, |_, a| {
            Ok(Val::Bool(s(&a, 1).contains(s(&a, 0))))
        }),
        d("hasPrefix", &[Str, Str], None, |_, a| {
            Ok(Val::Bool(s(&a, 1).starts_with(s(&a, 0))))
        }),
        d("hasSuffix", &[Str, Str], None, |_, a| {
            Ok(Val::Bool(s(&a, 1).ends_with(s(&a, 0))))
        }),
        d("quote", &[], Some(Any), |_, a| {
            ok_s(
                a.iter()
                    .filter(|v| !matches!(v, Val::Nil))
                    .map(|v| go_quote(&strval(v)))
                    .collect::<Vec<_>>()
                    .join(" "),
            )
        }),
        d("squote", &[], Some(Any), |_, a| {
            ok_s(
                a.iter()
                    .filter(|v| !matches!(v, Val::Nil))
                    .map(|v| format!("'{}'", strval(v)))
                    .collect::<Vec<_>>()
                    .join(" "),
            )
        }),
        d("cat", &[], Some(Any), |_, a| {
            let v: Vec<String> = a
                .iter()
                .filter(|v| !matches!(v, Val::Nil))
                .map(to_v)
                .collect();
            ok_s(v.join(" "))
        }),
        d("indent", &[Int, Str], None, |_, a| {
            let pad = " ".repeat(n(&a, 0).clamp(0, 1 << 16) as usize);
            ok_s(format!(
                "{pad}{}",
                s(&a, 1).replace('\n', &format!("\n{pad}"))
            ))
        }),
        d("nindent", &[Int, Str], None, |_, a| {
            let pad = " ".repeat(n(&a, 0).clamp(0, 1 << 16) as usize);
            ok_s(format!(
                "\n{pad}{}",
                s(&a, 1).replace('\n', &format!("\n{pad}"))
            ))
        }),
        d("replace", &[Str, Str, Str], None, |_, a| {
            ok_s(s(&a, 2).replace(s(&a, 0), s(&a, 1)))
        }),
        d("plural", &[Str, Str, Int], None, |_, a| {
            ok_s(if n(&a, 2) == 1 { s(&a, 0) } else { s(&a, 1) })
        }),
        d("sha1sum", &[Str], None, |_, a| {
            ok_s(hex(&sha1::Sha1::digest(s(&a, 0).as_bytes())))
        }),
        d("sha256sum", &[Str], None, |_, a| {
            ok_s(hex(&sha2::Sha256::digest(s(&a, 0).as_bytes())))
        }),
        d("sha512sum", &[Str], None, |_, a| {
            ok_s(hex(&sha2::Sha512::digest(s(&a, 0).as_bytes())))
        }),
        d("adler32sum", &[Str], None, |_, a| {
            ok_s(adler32(s(&a, 0).as_bytes()).to_string())
        }),
        d("toString", &[Any], None, |_, a| ok_s(strval(&a[0]))),
        // ---- sprig: conversion.
        d("atoi", &[Str], None, |_, a| {
            let st = s(&a, 0);
            let v = if st.starts_with('+') && st[1..].starts_with(['+', '-']) {
                0
            } else {
                st.parse::<i64>().unwrap_or(0)
            };
            Ok(Val::Int(v))
        }),
        d("int64", &[Any], None, |_, a| {
            Ok(Val::Int64(to_int64(&a[0])))
        }),
        d("int", &[Any], None, |_, a| Ok(Val::Int(to_int64(&a[0])))),
        d("float64", &[Any], None, |_, a| {
            Ok(Val::Float(to_float64(&a[0])))
        }),
        d("seq", &[], Some(Int), |_, a| {
            let p: Vec<i64> = a.iter().map(to_int64).collect();
            ok_s(seq_fn(&p)?)
        }),
        d("toDecimal", &[Any], None, |_, a| {
            Ok(Val::Int64(
                i64::from_str_radix(&to_v(&a[0]), 8).unwrap_or(0),
            ))
        }),
        d("split", &[Str, Str], None, |_, a| {
            let m = go_split(s(&a, 1), s(&a, 0), -1)
                .into_iter()
                .enumerate()
                .map(|(i, p)| (format!("_{i}"), Val::str(p)))
                .collect();
            Ok(Val::map(m, true))
        }),
        d("splitList", &[Str, Str], None, |_, a| {
            Ok(Val::str_list(go_split(s(&a, 1), s(&a, 0), -1)))
        }),
        d("splitn", &[Str, Int, Str], None, |_, a| {
            let m = go_split(s(&a, 2), s(&a, 0), n(&a, 1))
                .into_iter()
                .enumerate()
                .map(|(i, p)| (format!("_{i}"), Val::str(p)))
                .collect();
            Ok(Val::map(m, true))
        }),
        d("toStrings", &[Any], None, |_, a| {
            Ok(Val::str_list(strslice(&a[0])))
        }),
        d("until", &[Int], None, |_, a| {
            let c = n(&a, 0);
            let step = if c < 0 { -1 } else { 1 };
            Ok(Val::list(until_step(0, c, step)?))
        }),
        d("untilStep", &[Int, Int, Int], None, |_, a| {
            Ok(Val::list(until_step(n(&a, 0), n(&a, 1), n(&a, 2))?))
        }),
        // ---- sprig: integer math.
        d("add1", &[Any], None, |_, a| {
            Ok(Val::Int64(to_int64(&a[0]).wrapping_add(1)))
        }),
        d("add", &[], Some(Any), |_, a| {
            Ok(Val::Int64(
                a.iter().fold(0i64, |acc, v| acc.wrapping_add(to_int64(v))),
            ))
        }),
        d("sub", &[Any, Any], None, |_, a| {
            Ok(Val::Int64(to_int64(&a[0]).wrapping_sub(to_int64(&a[1]))))
        }),
        d("div", &[Any, Any], None, |_, a| {
            math_reduce(&a, |x, y| x.checked_div(y))
        }),
        d("mod", &[Any, Any], None, |_, a| {
            math_reduce(&a, |x, y| x.checked_rem(y))
        }),
        d("mul", &[Any], Some(Any), |_, a| {
            math_reduce(&a, |x, y| Some(x.wrapping_mul(y)))
        }),
        d("randInt", &[Int, Int], None, |_, a| {
            use rand::Rng;
            let (lo, hi) = (n(&a, 0), n(&a, 1));
            if hi <= lo {
                return Err("invalid argument to Intn".into());
            }
            Ok(Val::Int(rand::rng().random_range(lo..hi)))
        }),
        d("max", &[Any], Some(Any), |_, a| {
            math_reduce(&a, |x, y| Some(x.max(y)))
        }),
        d("biggest", &[Any], Some(Any), |_, a| {
            math_reduce(&a, |x, y| Some(x.max(y)))
        }),
        d("min", &[Any], Some(Any), |_, a| {
            math_reduce(&a, |x, y| Some(x.min(y)))
        }),
        // ---- sprig: float math.
        d("add1f", &[Any], None, |_, a| {
            Ok(Val::Float(Dec::op(to_float64(&a[0]), 1.0, '+')))
        }),
        d("addf", &[], Some(Any), |_, a| {
            let mut v = vec![Val::Float(0.0)];
            v.extend(a);
            Ok(float_reduce(&v, '+'))
        }),
        d("subf", &[Any], Some(Any), |_, a| Ok(float_reduce(&a, '-'))),
        d("divf", &[Any], Some(Any), |_, a| Ok(float_reduce(&a, '/'))),
        d("mulf", &[Any], Some(Any), |_, a| {
            let mut v = vec![Val::Float(1.0)];
            v.extend(a);
            Ok(float_reduce(&v, '*'))
        }),
        d("maxf", &[Any], Some(Any), |_, a| {
            Ok(Val::Float(
                a.iter()
                    .skip(1)
                    .fold(to_float64(&a[0]), |m, v| m.max(to_float64(v))),
            ))
        }),
        d("minf", &[Any], Some(Any), |_, a| {
            Ok(Val::Float(
                a.iter()
                    .skip(1)
                    .fold(to_float64(&a[0]), |m, v| m.min(to_float64(v))),
            ))
        }),
        d("ceil", &[Any], None, |_, a| {
            Ok(Val::Float(to_float64(&a[0]).ceil()))
        }),
        d("floor", &[Any], None, |_, a| {
            Ok(Val::Float(to_float64(&a[0]).floor()))
        }),
        d("round", &[Any, Int], Some(Float), |_, a| {
            let round_on = match a.get(2) {
                Some(Val::Float(f)) => *f,
                _ => 0.5,
            };
            let val = to_float64(&a[0]);
            let pow = 10f64.powi(n(&a, 1) as i32);
            let digit = pow * val;
            let frac = digit.fract();
            let r = if frac >= round_on {
                digit.ceil()
            } else {
                digit.floor()
            };
            Ok(Val::Float(r / pow))
        }),
        // ---- sprig: defaults, JSON, lists.
        d("join", &[Str, Any], None, |_, a| {
            ok_s(strslice(&a[1]).join(s(&a, 0)))
        }),
        d("sortAlpha", &[Any], None, |_, a| match &a[0] {
            Val::List(_) => {
                let mut v = strslice(&a[0]);
                v.sort();
                Ok(Val::str_list(v))
            }
            other => Ok(Val::str_list(vec![strval(other)])),
        }),
        d("default", &[Any], Some(Any), |_, a| {
            if a.len() < 2 || is_empty(&a[1]) {
                Ok(a[0].clone())
            } else {
                Ok(a[1].clone())
            }
        }),
        d("empty", &[Any], None, |_, a| Ok(Val::Bool(is_empty(&a[0])))),
        d("coalesce", &[], Some(Any), |_, a| {
            Ok(a.into_iter().find(|v| !is_empty(v)).unwrap_or(Val::Nil))
        }),
        d("all", &[], Some(Any), |_, a| {
            Ok(Val::Bool(a.iter().all(|v| !is_empty(v))))
        }),
        d("any", &[], Some(Any), |_, a| {
            Ok(Val::Bool(a.iter().any(|v| !is_empty(v))))
        }),
        d("compact", &[Any], None, |_, a| {
            Ok(Val::list(
                must_list(&a[0], "compact")?
                    .into_iter()
                    .filter(|v| !is_empty(v))
                    .collect(),
            ))
        }),
        d("mustCompact", &[Any], None, |_, a| {
            Ok(Val::list(
                must_list(&a[0], "compact")?
                    .into_iter()
                    .filter(|v| !is_empty(v))
                    .collect(),
            ))
        }),
        d("fromJson", &[Str], None, |_, a| {
            Ok(from_json(s(&a, 0)).unwrap_or(Val::Nil))
        }),
        d("mustFromJson", &[Str], None, |_, a| {
            from_json(s(&a, 0)).ok_or_else(|| "invalid JSON".to_string())
        }),
        d("toJson", &[Any], None, |_, a| {
            ok_s(to_json(&a[0], true, None).unwrap_or_default())
        }),
        d("mustToJson", &[Any], None, |_, a| {
            to_json(&a[0], true, None)
                .map(Val::Str)
                .ok_or_else(|| "json: unsupported value".to_string())
        }),
        d("toPrettyJson", &[Any], None, |_, a| {
            ok_s(to_json(&a[0], true, Some("  ")).unwrap_or_default())
        }),
        d("mustToPrettyJson", &[Any], None, |_, a| {
            to_json(&a[0], true, Some("  "))
                .map(Val::Str)
                .ok_or_else(|| "json: unsupported value".to_string())
        }),
        d("toRawJson", &[Any], None, |_, a| {
            ok_s(to_json(&a[0], false, None).unwrap_or_default())
        }),
        d("mustToRawJson", &[Any], None, |_, a| {
            to_json(&a[0], false, None)
                .map(Val::Str)
                .ok_or_else(|| "json: unsupported value".to_string())
        }),
        d("ternary", &[Any, Any, Bool], None, |_, a| {
            Ok(if matches!(a[2], Val::Bool(true)) {
                a[0].clone()
            } else {
                a[1].clone()
            })
        }),
        d("deepCopy", &[Any], None, |_, a| Ok(deep_copy(&a[0]))),
        d("mustDeepCopy", &[Any], None, |_, a| Ok(deep_copy(&a[0]))),
        // ---- sprig: reflection.
        d("typeOf", &[Any], None, |_, a| ok_s(a[0].type_name())),
        d("typeIs", &[Str, Any], None, |_, a| {
            Ok(Val::Bool(s(&a, 0) == a[1].type_name()))
        }),
        d("typeIsLike", &[Str, Any], None, |_, a| {
            let t = a[1].type_name();
            Ok(Val::Bool(s(&a, 0) == t || s(&a, 0) == format!("*{t}")))
        }),
        d("kindOf", &[Any], None, |_, a| ok_s(a[0].kind_name())),
        d("kindIs", &[Str, Any], None, |_, a| {
            Ok(Val::Bool(s(&a, 0) == a[1].kind_name()))
        }),
        d("deepEqual", &[Any, Any], None, |_, a| {
            Ok(Val::Bool(a[0] == a[1]))
        }),
        // ---- sprig: OS, paths.
        d("env", &[Str], None, |_, a| {
            ok_s(std::env::var(s(&a, 0)).unwrap_or_default())
        }),
        d("expandenv", &[Str], None, |_, a| ok_s(expand_env(s(&a, 0)))),
        d("getHostByName", &[Str], None, |_, a| {
            use std::net::ToSocketAddrs;
            let addr = (s(&a, 0), 0)
                .to_socket_addrs()
                .ok()
                .and_then(|mut it| it.next())
                .ok_or("runtime error: index out of range [0] with length 0")?;
            ok_s(addr.ip().to_string())
        }),
        d("base", &[Str], None, |_, a| ok_s(go_path_base(s(&a, 0)))),
        d("dir", &[Str], None, |_, a| ok_s(go_path_dir(s(&a, 0)))),
        d("clean", &[Str], None, |_, a| ok_s(go_path_clean(s(&a, 0)))),
        d("ext", &[Str], None, |_, a| ok_s(go_path_ext(s(&a, 0)))),
        d("isAbs", &[Str], None, |_, a| {
            Ok(Val::Bool(s(&a, 0).starts_with('/')))
        }),
        d("osBase", &[Str], None, |_, a| ok_s(go_path_base(s(&a, 0)))),
        d("osDir", &[Str], None, |_, a| ok_s(go_path_dir(s(&a, 0)))),
        d("osClean", &[Str], None, |_, a| {
            ok_s(go_path_clean(s(&a, 0)))
        }),
        d("osExt", &[Str], None, |_, a| ok_s(go_path_ext(s(&a, 0)))),
        d("osIsAbs", &[Str], None, |_, a| {
            Ok(Val::Bool(s(&a, 0).starts_with('/')))
        }),
        // ---- sprig: encoding.
        d("b64enc", &[Str], None, |_, a| {
            use base64::Engine;
            ok_s(base64::engine::general_purpose::STANDARD.encode(s(&a, 0)))
        }),
        d("b64dec", &[Str], None, |_, a| {
            use base64::Engine;
            match base64::engine::general_purpose::STANDARD.decode(s(&a, 0)) {
                Ok(b) => ok_s(String::from_utf8_lossy(&b)),
                Err(base64::DecodeError::InvalidByte(i, _))
                | Err(base64::DecodeError::InvalidLastSymbol(i, _)) => {
                    ok_s(format!("illegal base64 data at input byte {i}"))
                }
                Err(_) => ok_s(format!(
                    "illegal base64 data at input byte {}",
                    s(&a, 0).len() / 4 * 4
                )),
            }
        }),
        d("b32enc", &[Str], None, |_, a| {
            ok_s(b32enc(s(&a, 0).as_bytes()))
        }),
        d("b32dec", &[Str], None, |_, a| match b32dec(s(&a, 0)) {
            Ok(b) => ok_s(String::from_utf8_lossy(&b)),
            Err(e) => ok_s(e),
        }),
        // ---- sprig: dicts and lists.
        d("tuple", &[], Some(Any), |_, a| Ok(Val::list(a))),
        d("list", &[], Some(Any), |_, a| Ok(Val::list(a))),
        d("dict", &[], Some(Any), |_, a| {
            let mut m = BTreeMap::new();
            let mut i = 0;
            while i < a.len() {
                let k = strval(&a[i]);
                let v = a.get(i + 1).cloned().unwrap_or(Val::str(""));
                m.insert(k, v);
                i += 2;
            }
            Ok(Val::map(m, false))
        }),
        d("get", &[Map, Str], None, |_, a| {
            Ok(map_of(&a[0])
                .and_then(|m| m.get(s(&a, 1)).cloned())
                .unwrap_or(Val::str("")))
        }),
        d("set", &[Map, Str, Any], None, |_, a| {
            if let Val::Map(m) = &a[0] {
                m.borrow_mut()
                    .entries
                    .insert(s(&a, 1).to_string(), a[2].clone());
            }
            Ok(a[0].clone())
        }),
        d("unset", &[Map, Str], None, |_, a| {
            if let Val::Map(m) = &a[0] {
                m.borrow_mut().entries.remove(s(&a, 1));
            }
            Ok(a[0].clone())
        }),
        d("hasKey", &[Map, Str], None, |_, a| {
            Ok(Val::Bool(
                map_of(&a[0]).is_some_and(|m| m.contains_key(s(&a, 1))),
            ))
        }),
        d("pluck", &[Str], Some(Map), |_, a| {
            let k = s(&a, 0);
            Ok(Val::list(
                a[1..]
                    .iter()
                    .filter_map(|m| map_of(m).and_then(|m| m.get(k).cloned()))
                    .collect(),
            ))
        }),
        d("keys", &[], Some(Map), |_, a| {
            let mut v: Vec<String> = a
                .iter()
                .filter_map(map_of)
                .flat_map(|m| m.into_keys())
                .collect();
            v.sort();
            Ok(Val::str_list(v))
        }),
        d("pick", &[Map], Some(Str), |_, a| {
            let m = map_of(&a[0]).unwrap_or_default();
            let out = a[1..]
                .iter()
                .filter_map(|k| {
                    let k = k.as_str()?;
                    m.get(k).map(|v| (k.to_string(), v.clone()))
                })
                .collect();
            Ok(Val::map(out, false))
        }),
        d("omit", &[Map], Some(Str), |_, a| {
            let m = map_of(&a[0]).unwrap_or_default();
            let drop: Vec<&str> = a[1..].iter().filter_map(|k| k.as_str()).collect();
            let out = m
                .into_iter()
                .filter(|(k, _)| !drop.contains(&k.as_str()))
                .collect();
            Ok(Val::map(out, false))
        }),
        d("merge", &[Map], Some(Map), |_, a| merge_fn(a, false)),
        d("mergeOverwrite", &[Map], Some(Map), |_, a| {
            merge_fn(a, true)
        }),
        d("mustMerge", &[Map], Some(Map), |_, a| merge_fn(a, false)),
        d("mustMergeOverwrite", &[Map], Some(Map), |_, a| {
            merge_fn(a, true)
        }),
        d("values", &[Map], None, |_, a| {
            Ok(Val::list(
                map_of(&a[0]).unwrap_or_default().into_values().collect(),
            ))
        }),
        d("append", &[Any, Any], None, |_, a| {
            let mut l = must_list(&a[0], "append")?;
            l.push(a[1].clone());
            Ok(Val::list(l))
        }),
        d("push", &[Any, Any], None, |_, a| {
            let mut l = must_list(&a[0], "push")?;
            l.push(a[1].clone());
            Ok(Val::list(l))
        }),
        d("mustAppend", &[Any, Any], None, |_, a| {
            let mut l = must_list(&a[0], "append")?;
            l.push(a[1].clone());
            Ok(Val::list(l))
        }),
        d("mustPush", &[Any, Any], None, |_, a| {
            let mut l = must_list(&a[0], "push")?;
            l.push(a[1].clone());
            Ok(Val::list(l))
        }),
        d("prepend", &[Any, Any], None, |_, a| {
            let mut l = must_list(&a[0], "prepend")?;
            l.insert(0, a[1].clone());
            Ok(Val::list(l))
        }),
        d("mustPrepend", &[Any, Any], None, |_, a| {
            let mut l = must_list(&a[0], "prepend")?;
            l.insert(0, a[1].clone());
            Ok(Val::list(l))
        }),
        d("first", &[Any], None, |_, a| {
            Ok(must_list(&a[0], "first")?
                .first()
                .cloned()
                .unwrap_or(Val::Nil))
        }),
        d("mustFirst", &[Any], None, |_, a| {
            Ok(must_list(&a[0], "first")?
                .first()
                .cloned()
                .unwrap_or(Val::Nil))
        }),
        d("rest", &[Any], None, |_, a| {
            let l = must_list(&a[0], "rest")?;
            Ok(if l.is_empty() {
                Val::Nil
            } else {
                Val::list(l[1..].to_vec())
            })
        }),
        d("mustRest", &[Any], None, |_, a| {
            let l = must_list(&a[0], "rest")?;
            Ok(if l.is_empty() {
                Val::Nil
            } else {
                Val::list(l[1..].to_vec())
            })
        }),
        d("last", &[Any], None, |_, a| {
            Ok(must_list(&a[0], "last")?
                .last()
                .cloned()
                .unwrap_or(Val::Nil))
        }),
        d("mustLast", &[Any], None, |_, a| {
            Ok(must_list(&a[0], "last")?
                .last()
                .cloned()
                .unwrap_or(Val::Nil))
        }),
        d("initial", &[Any], None, |_, a| {
            let l = must_list(&a[0], "initial")?;
            Ok(if l.is_empty() {
                Val::Nil
            } else {
                Val::list(l[..l.len() - 1].to_vec())
            })
        }),
        d("mustInitial", &[Any], None, |_, a| {
            let l = must_list(&a[0], "initial")?;
            Ok(if l.is_empty() {
                Val::Nil
            } else {
                Val::list(l[..l.len() - 1].to_vec())
            })
        }),
        d("reverse", &[Any], None, |_, a| {
            let mut l = must_list(&a[0], "reverse")?;
            l.reverse();
            Ok(Val::list(l))
        }),
        d("mustReverse", &[Any], None, |_, a| {
            let mut l = must_list(&a[0], "reverse")?;
            l.reverse();
            Ok(Val::list(l))
        }),
        d("uniq", &[Any], None, |_, a| {
            let mut out: Vec<Val> = Vec::new();
            for v in must_list(&a[0], "uniq")? {
                if !out.contains(&v) {
                    out.push(v);
                }
            }
            Ok(Val::list(out))
        }),
        d("mustUniq", &[Any], None, |_, a| {
            let mut out: Vec<Val> = Vec::new();
            for v in must_list(&a[0], "uniq")? {
                if !out.contains(&v) {
                    out.push(v);
                }
            }
            Ok(Val::list(out))
        }),
        d("without", &[Any], Some(Any), |_, a| {
            let l = must_list(&a[0], "without")?;
            Ok(Val::list(
                l.into_iter().filter(|v| !a[1..].contains(v)).collect(),
            ))
        }),
        d("mustWithout", &[Any], Some(Any), |_, a| {
            let l = must_list(&a[0], "without")?;
            Ok(Val::list(
                l.into_iter().filter(|v| !a[1..].contains(v)).collect(),
            ))
        }),
        d("has", &[Any, Any], None, |_, a| {
            if matches!(a[1], Val::Nil) {
                return Ok(Val::Bool(false));
            }
            Ok(Val::Bool(must_list(&a[1], "has")?.contains(&a[0])))
        }),
        d("mustHas", &[Any, Any], None, |_, a| {
            if matches!(a[1], Val::Nil) {
                return Ok(Val::Bool(false));
            }
            Ok(Val::Bool(must_list(&a[1], "has")?.contains(&a[0])))
        }),
        d("slice", &[Any], Some(Any), |_, a| slice_fn(&a)),
        d("mustSlice", &[Any], Some(Any), |_, a| slice_fn(&a)),
        d("concat", &[], Some(Any), |_, a| {
            let mut out = Vec::new();
            for l in &a {
                out.extend(
                    list_items(l)
                        .ok_or_else(|| format!("Cannot concat type {} as list", l.kind_name()))?,
                );
            }
            Ok(Val::list(out))
        }),
        d("dig", &[], Some(Any), |_, a| dig(&a)),
        d("chunk", &[Int, Any], None, |_, a| {
            let size = n(&a, 0);
            let l = must_list(&a[1], "chunk")?;
            if size <= 0 {
                return Err("runtime error: integer divide by zero".into());
            }
            Ok(Val::list(
                l.chunks(size as usize)
                    .map(|c| Val::list(c.to_vec()))
                    .collect(),
            ))
        }),
        d("mustChunk", &[Int, Any], None, |_, a| {
            let size = n(&a, 0);
            let l = must_list(&a[1], "chunk")?;
            if size <= 0 {
                return Err("runtime error: integer divide by zero".into());
            }
            Ok(Val::list(
                l.chunks(size as usize)
                    .map(|c| Val::list(c.to_vec()))
                    .collect(),
            ))
        }),
        // ---- sprig: crypto (only the digests and random helpers are implemented).
        d("bcrypt", &[Str], None, unsupported),
        d("htpasswd", &[Str, Str], None, unsupported),
        d("genPrivateKey", &[Str], None, unsupported),
        d(
            "derivePassword",
            &[Int, Str, Str, Str, Str],
            None,
            unsupported,
        ),
        d("buildCustomCert", &[Str, Str], None, unsupported),
        d("genCA", &[Str, Int], None, unsupported),
        d("genCAWithKey", &[Str, Int, Str], None, unsupported),
        d(
            "genSelfSignedCert",
            &[Str, Any, Any, Int],
            None,
            unsupported,
        ),
        d(
            "genSelfSignedCertWithKey",
            &[Str, Any, Any, Int, Str],
            None,
            unsupported,
        ),
        d(
            "genSignedCert",
            &[Str, Any, Any, Int, Any],
            None,
            unsupported,
        ),
        d(
            "genSignedCertWithKey",
            &[Str, Any, Any, Int, Any, Str],
            None,
            unsupported,
        ),
        d("encryptAES", &[Str, Str], None, unsupported),
        d("decryptAES", &[Str, Str], None, unsupported),
        d("randBytes", &[Int], None, |_, a| {
            use base64::Engine;
            use rand::Rng;
            let mut b = vec![0u8; n(&a, 0).clamp(0, 1 << 20) as usize];
            rand::rng().fill(&mut b[..]);
            ok_s(base64::engine::general_purpose::STANDARD.encode(b))
        }),
        d("uuidv4", &[], None, |_, _| ok_s(uuid_v4())),
        d("semver", &[Str], None, |_, a| {
            let v = super::semver::Version::parse(s(&a, 0))?;
            let mut m = BTreeMap::new();
            m.insert("Major".into(), Val::Int64(v.major as i64));
            m.insert("Minor".into(), Val::Int64(v.minor as i64));
            m.insert("Patch".into(), Val::Int64(v.patch as i64));
            m.insert("Prerelease".into(), Val::str(v.pre.clone()));
            m.insert("Metadata".into(), Val::str(v.meta.clone()));
            m.insert("Original".into(), Val::str(s(&a, 0)));
            m.insert("String".into(), Val::Str(v.text()));
            Ok(Val::map(m, false))
        }),
        d("semverCompare", &[Str, Str], None, |_, a| {
            Ok(Val::Bool(super::semver::compare(s(&a, 0), s(&a, 1))?))
        }),
        d("fail", &[Str], None, |_, a| Err(s(&a, 0).to_string())),
        // ---- sprig: regex (regex first).
        d("regexMatch", &[Str, Str], None, |e, a| {
            Ok(Val::Bool(
                e.regex(s(&a, 0))
                    .map(|r| r.is_match(s(&a, 1)))
                    .unwrap_or(false),
            ))
        }),
        d("mustRegexMatch", &[Str, Str], None, |e, a| {
            Ok(Val::Bool(e.regex(s(&a, 0))?.is_match(s(&a, 1))))
        }),
        d("regexFindAll", &[Str, Str, Int], None, |e, a| {
            Ok(Val::str_list(find_all(
                e.go_regex(s(&a, 0))?,
                s(&a, 1),
                n(&a, 2),
            )))
        }),
        d("mustRegexFindAll", &[Str, Str, Int], None, |e, a| {
            Ok(Val::str_list(find_all(
                e.go_regex(s(&a, 0))?,
                s(&a, 1),
                n(&a, 2),
            )))
        }),
        d("regexFind", &[Str, Str], None, |e, a| {
            ok_s(
                e.regex(s(&a, 0))?
                    .find(s(&a, 1))
                    .map(|m| m.as_str().to_string())
                    .unwrap_or_default(),
            )
        }),
        d("mustRegexFind", &[Str, Str], None, |e, a| {
            ok_s(
                e.regex(s(&a, 0))?
                    .find(s(&a, 1))
                    .map(|m| m.as_str().to_string())
                    .unwrap_or_default(),
            )
        }),
        d("mustRegexReplaceAll", &[Str, Str, Str], None, |e, a| {
            ok_s(e.go_regex(s(&a, 0))?.replace_all(s(&a, 1), s(&a, 2), false))
        }),
        d(
            "mustRegexReplaceAllLiteral",
            &[Str, Str, Str],
            None,
            |e, a| ok_s(e.go_regex(s(&a, 0))?.replace_all(s(&a, 1), s(&a, 2), true)),
        ),
        d("regexSplit", &[Str, Str, Int], None, |e, a| {
            Ok(Val::str_list(regex_split(
                e.go_regex(s(&a, 0))?,
                s(&a, 1),
                n(&a, 2),
            )))
        }),
        d("mustRegexSplit", &[Str, Str, Int], None, |e, a| {
            Ok(Val::str_list(regex_split(
                e.go_regex(s(&a, 0))?,
                s(&a, 1),
                n(&a, 2),
            )))
        }),
        d("regexQuoteMeta", &[Str], None, |_, a| {
            ok_s(quote_meta(s(&a, 0)))
        }),
        // ---- sprig: URLs.
        d("urlParse", &[Str], None, |_, a| url_parse(s(&a, 0))),
        d("urlJoin", &[Map], None, |_, a| {
            ok_s(url_join(&map_of(&a[0]).unwrap_or_default()))
        }),
        // ---- Promtail's own functions (override sprig's).
        d("ToLower", &[Str], None, |_, a| ok_s(go_lower(s(&a, 0)))),
        d("ToUpper", &[Str], None, |_, a| ok_s(go_upper(s(&a, 0)))),
        d("Replace", &[Str, Str, Str, Int], None, |_, a| {
            let c = n(&a, 3);
            ok_s(if c < 0 {
                s(&a, 0).replace(s(&a, 1), s(&a, 2))
            } else {
                s(&a, 0).replacen(s(&a, 1), s(&a, 2), c as usize)
            })
        }),
        d("Trim", &[Str, Str], None, |_, a| {
            let cut = s(&a, 1);
            ok_s(s(&a, 0).trim_matches(|c| cut.contains(c)))
        }),
        d("TrimLeft", &[Str, Str], None, |_, a| {
            let cut = s(&a, 1);
            ok_s(s(&a, 0).trim_start_matches(|c| cut.contains(c)))
        }),
        d("TrimRight", &[Str, Str], None, |_, a| {
            let cut = s(&a, 1);
            ok_s(s(&a, 0).trim_end_matches(|c| cut.contains(c)))
        }),
        d("TrimPrefix", &[Str, Str], None, |_, a| {
            ok_s(s(&a, 0).strip_prefix(s(&a, 1)).unwrap_or(s(&a, 0)))
        }),
        d("TrimSuffix", &[Str, Str], None, |_, a| {
            ok_s(s(&a, 0).strip_suffix(s(&a, 1)).unwrap_or(s(&a, 0)))
        }),
        d("TrimSpace", &[Str], None, |_, a| ok_s(s(&a, 0).trim())),
        d("Hash", &[Str, Str], None, |_, a| {
            let mut h = sha3::Sha3_256::new();
            h.update(s(&a, 0).as_bytes());
            h.update(s(&a, 1).as_bytes());
            ok_s(hex(&h.finalize()))
        }),
        d("Sha2Hash", &[Str, Str], None, |_, a| {
            let mut h = sha2::Sha256::new();
            h.update(s(&a, 0).as_bytes());
            h.update(s(&a, 1).as_bytes());
            ok_s(hex(&h.finalize()))
        }),
        d("regexReplaceAll", &[Str, Str, Str], None, |e, a| {
            ok_s(re_err(e.go_regex(s(&a, 0)))?.replace_all(s(&a, 1), s(&a, 2), false))
        }),
        d("regexReplaceAllLiteral", &[Str, Str, Str], None, |e, a| {
            ok_s(e.go_regex(s(&a, 0))?.replace_all(s(&a, 1), s(&a, 2), true))
        }),
    ]
}

fn date_modify(a: &[Val]) -> Result<Val, String> {
    let Val::Time(t) = &a[1] else {
        return Err("expected time.Time".into());
    };
    let d = time::parse_duration(s(a, 0))
        .ok_or_else(|| format!("time: invalid duration {:?}", s(a, 0)))?;
    Ok(Val::Time(Box::new(GoTime::from_unix_nanos(
        t.unix_nanos().wrapping_add(d),
        t.loc.clone(),
    ))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_match_go() {
        assert_eq!(to_int64(&Val::str("41")), 41);
        assert_eq!(to_int64(&Val::str("41.0")), 41);
        assert_eq!(to_int64(&Val::str("0x10")), 16);
        assert_eq!(to_int64(&Val::str("12x")), 0);
        assert_eq!(to_float64(&Val::str("1.5")), 1.5);
        assert_eq!(Dec::op(0.1, 0.2, '+'), 0.3);
        assert_eq!(Dec::op(2.0, 3.0, '/'), 0.6666666666666667);
        assert_eq!(b32enc(b"41"), "GQYQ====");
        assert_eq!(b32dec("GQYQ====").unwrap(), b"41");
        assert_eq!(adler32(b"41"), 10158182);
        assert_eq!(query_escape("a b&c"), "a+b%26c");
        assert_eq!(wrap_custom("1234567890", 5, "\t", true), "12345\t67890");
        assert_eq!(abbreviate_full("hello world", 0, 8), "hello...");
        assert_eq!(title("hello world"), "Hello World");
        assert_eq!(to_camel("foo_bar"), "FooBar");
        for (input, snake) in [
            ("FirstName", "first_name"),
            ("HTTPServer", "http_server"),
            ("NoHTTPS", "no_https"),
            ("GO_PATH", "go_path"),
            ("GO PATH", "go_path"),
            ("GO-PATH", "go_path"),
            ("http2xx", "http_2xx"),
            ("HTTP20xOK", "http_20x_ok"),
            ("Duration2m3s", "duration_2m3s"),
            ("Bld4Floor3rd", "bld4_floor_3rd"),
        ] {
            assert_eq!(to_lower_words(input, '_'), snake, "{input}");
        }
        assert_eq!(to_lower_words("FooBar", '-'), "foo-bar");
        for (input, pascal) in [
            ("some_words", "SomeWords"),
            ("http_server", "HttpServer"),
            ("no_https", "NoHttps"),
            ("_complex__case_", "_Complex_Case_"),
            ("some words", "SomeWords"),
            ("GOLANG_IS_GREAT", "GolangIsGreat"),
        ] {
            assert_eq!(to_camel(input), pascal, "{input}");
        }
        assert_eq!(go_path_clean("a/../b/./c/"), "b/c");
        assert_eq!(go_path_base("/a/b.txt"), "b.txt");
        assert_eq!(go_path_dir("/a/b.txt"), "/a");
        assert_eq!(go_path_ext("/a/b.txt"), ".txt");
        assert_eq!(seq_fn(&[3]).unwrap(), "1 2 3");
        assert_eq!(seq_fn(&[5, 2]).unwrap(), "5 4 3 2");
        assert_eq!(quote_meta("a.b"), "a\\.b");
        assert_eq!(go_upper("straße"), "STRAßE");
        assert_eq!(duration_round(&Val::str("2h5m")), "2h");
        assert_eq!(go_split("abc", "", -1), vec!["a", "b", "c"]);
        assert_eq!(go_split("abc", "", 2), vec!["a", "bc"]);
        assert_eq!(go_split("a,b,c", ",", 2), vec!["a", "b,c"]);
    }
}
