//! Lexer and parser for Go's text/template syntax, following `text/template/parse`: the same
//! tokens, trim markers, keywords, variable scoping and error messages
//! (`template: NAME:LINE: MSG`).

use std::collections::HashMap;

use super::funcs::{self, FuncDef};

/// A parsed number literal.
#[derive(Debug, Clone, PartialEq)]
pub struct Number {
    /// The literal text.
    pub text: String,
    /// The value as an integer, when it is integral.
    pub int: Option<i64>,
    /// The value as a float.
    pub float: Option<f64>,
    /// True when an interface context sees a float64 (`1.5`, `1e3`, `1.0`).
    pub float_syntax: bool,
}

/// An operand of a command.
#[derive(Debug, Clone)]
pub enum Arg {
    /// `.a.b`
    Field(Vec<String>),
    /// `$x.a.b` (`$` alone is the root)
    Var(String, Vec<String>),
    /// `.`
    Dot,
    /// `nil`
    Nil,
    /// `true`/`false`
    Bool(bool),
    /// A number or character constant.
    Num(Number),
    /// A string literal.
    Str(String),
    /// A function name.
    Func(&'static FuncDef),
    /// `( pipeline )`
    Pipe(Box<Pipe>),
    /// `(x).a.b`
    Chain(Box<Arg>, Vec<String>),
}

/// One command of a pipeline: a function or value and its arguments.
#[derive(Debug, Clone)]
pub struct Cmd {
    /// Operands; the first is the function or value.
    pub args: Vec<Arg>,
}

/// A pipeline with optional variable declarations.
#[derive(Debug, Clone)]
pub struct Pipe {
    /// Declared or assigned variables.
    pub decl: Vec<String>,
    /// `=` rather than `:=`.
    pub is_assign: bool,
    /// The commands, joined by `|`.
    pub cmds: Vec<Cmd>,
}

/// A node of the template tree.
#[derive(Debug, Clone)]
pub enum Node {
    /// Literal text.
    Text(String),
    /// `{{ pipeline }}`
    Action(Pipe),
    /// `{{ if }}`
    If(Pipe, Vec<Node>, Option<Vec<Node>>),
    /// `{{ range }}`
    Range(Pipe, Vec<Node>, Option<Vec<Node>>),
    /// `{{ with }}`
    With(Pipe, Vec<Node>, Option<Vec<Node>>),
    /// `{{ template "name" pipeline }}`
    Template(String, Option<Pipe>),
    /// `{{ break }}`
    Break,
    /// `{{ continue }}`
    Continue,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Text(String),
    LeftDelim,
    RightDelim,
    Space,
    Field(String),
    Var(String),
    Ident(String),
    Str(String),
    RawStr(String),
    Char(String),
    Num(String),
    Bool(bool),
    Nil,
    Dot,
    Pipe,
    LParen,
    RParen,
    Assign,
    Declare,
    Punct(char),
    Kw(&'static str),
    Eof,
    Error(String),
}

impl Tok {
    fn describe(&self) -> String {
        let q = |s: &str| -> String {
            if s.chars().count() > 10 {
                let short: String = s.chars().take(10).collect();
                let mut out = String::new();
                crate::strconv::go_quote_into(&mut out, &short);
                format!("{out}...")
            } else {
                let mut out = String::new();
                crate::strconv::go_quote_into(&mut out, s);
                out
            }
        };
        match self {
            Tok::Eof => "EOF".into(),
            Tok::Error(e) => e.clone(),
            Tok::Kw(k) => format!("<{k}>"),
            Tok::Nil => "<nil>".into(),
            Tok::Dot => "<.>".into(),
            Tok::Text(s)
            | Tok::Field(s)
            | Tok::Var(s)
            | Tok::Ident(s)
            | Tok::Str(s)
            | Tok::RawStr(s)
            | Tok::Char(s)
            | Tok::Num(s) => q(s),
            Tok::Bool(b) => q(if *b { "true" } else { "false" }),
            Tok::LeftDelim => q("{{"),
            Tok::RightDelim => q("}}"),
            Tok::Space => q(" "),
            Tok::Pipe => q("|"),
            Tok::LParen => q("("),
            Tok::RParen => q(")"),
            Tok::Assign => q("="),
            Tok::Declare => q(":="),
            Tok::Punct(c) => q(&c.to_string()),
        }
    }
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphabetic() || c.is_numeric()
}

struct Lexer<'a> {
    input: &'a str,
    pos: usize,
    line: usize,
    toks: Vec<(Tok, usize)>,
    paren: i32,
}

const KEYWORDS: &[&str] = &[
    "block", "break", "continue", "define", "else", "end", "if", "range", "template", "with",
];

impl<'a> Lexer<'a> {
    fn rest(&self) -> &'a str {
        &self.input[self.pos..]
    }

    fn emit(&mut self, t: Tok, line: usize) {
        self.toks.push((t, line));
    }

    fn advance(&mut self, n: usize) {
        let s = &self.input[self.pos..self.pos + n];
        self.line += s.matches('\n').count();
        self.pos += n;
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn at_right_delim(&self) -> (bool, bool) {
        let r = self.rest();
        let b = r.as_bytes();
        if b.len() >= 2 && is_space(b[0] as char) && b[1] == b'-' && r[2..].starts_with("}}") {
            return (true, true);
        }
        (r.starts_with("}}"), false)
    }

    fn at_terminator(&self) -> bool {
        match self.peek() {
            None => true,
            Some(c) if is_space(c) => true,
            Some('.' | ',' | '|' | ':' | ')' | '(') => true,
            _ => self.rest().starts_with("}}"),
        }
    }

    /// Lexes everything; a lexer error becomes the last token.
    fn run(mut self) -> Vec<(Tok, usize)> {
        if let Err(e) = self.lex_all() {
            let line = self.line;
            self.emit(Tok::Error(e), line);
        }
        let line = self.line;
        self.emit(Tok::Eof, line);
        self.toks
    }

    fn lex_all(&mut self) -> Result<(), String> {
        loop {
            // Text.
            let rest = self.rest();
            let Some(x) = rest.find("{{") else {
                if !rest.is_empty() {
                    let line = self.line;
                    self.emit(Tok::Text(rest.to_string()), line);
                    self.advance(rest.len());
                }
                return Ok(());
            };
            let after = &rest[x + 2..];
            let ab = after.as_bytes();
            let trim = ab.len() >= 2 && ab[0] == b'-' && is_space(ab[1] as char);
            let mut text = &rest[..x];
            if trim {
                text = text.trim_end_matches([' ', '\t', '\r', '\n']);
            }
            if !text.is_empty() {
                let line = self.line;
                self.emit(Tok::Text(text.to_string()), line);
            }
            self.advance(x + 2);
            let after_marker = if trim { 2 } else { 0 };
            if self.rest()[after_marker..].starts_with("/*") {
                self.advance(after_marker + 2);
                let Some(end) = self.rest().find("*/") else {
                    return Err("unclosed comment".into());
                };
                self.advance(end + 2);
                let (delim, trim_right) = self.at_right_delim();
                if !delim {
                    return Err("comment ends before closing delimiter".into());
                }
                self.advance(if trim_right { 4 } else { 2 });
                if trim_right {
                    self.skip_leading_space();
                }
                continue;
            }
            let line = self.line;
            self.emit(Tok::LeftDelim, line);
            self.advance(after_marker);
            self.paren = 0;
            self.lex_action()?;
        }
    }

    fn skip_leading_space(&mut self) {
        let n = self.rest().len()
            - self
                .rest()
                .trim_start_matches([' ', '\t', '\r', '\n'])
                .len();
        self.advance(n);
    }

    fn lex_action(&mut self) -> Result<(), String> {
        loop {
            let (delim, trim) = self.at_right_delim();
            if delim {
                if self.paren != 0 {
                    return Err("unclosed left paren".into());
                }
                if trim {
                    self.advance(2);
                }
                self.advance(2);
                let line = self.line;
                self.emit(Tok::RightDelim, line);
                if trim {
                    self.skip_leading_space();
                }
                return Ok(());
            }
            let line = self.line;
            let Some(c) = self.peek() else {
                return Err("unclosed action".into());
            };
            match c {
                c if is_space(c) => {
                    let mut n = 0;
                    let mut count = 0;
                    for ch in self.rest().chars() {
                        if !is_space(ch) {
                            break;
                        }
                        n += ch.len_utf8();
                        count += 1;
                    }
                    // A trim-marked closing delimiter starts with a space: leave it.
                    let after = &self.rest()[n..];
                    if after.starts_with("-}}") {
                        if count == 1 {
                            // The single space belongs to the trim marker.
                            continue;
                        }
                        self.advance(n - 1);
                    } else {
                        self.advance(n);
                    }
                    self.emit(Tok::Space, line);
                }
                '=' => {
                    self.advance(1);
                    self.emit(Tok::Assign, line);
                }
                ':' => {
                    if !self.rest().starts_with(":=") {
                        return Err("expected :=".into());
                    }
                    self.advance(2);
                    self.emit(Tok::Declare, line);
                }
                '|' => {
                    self.advance(1);
                    self.emit(Tok::Pipe, line);
                }
                '"' => {
                    let mut end = None;
                    let mut esc = false;
                    for (i, ch) in self.rest().char_indices().skip(1) {
                        if esc {
                            if ch == '\n' {
                                return Err("unterminated quoted string".into());
                            }
                            esc = false;
                            continue;
                        }
                        match ch {
                            '\\' => esc = true,
                            '\n' => return Err("unterminated quoted string".into()),
                            '"' => {
                                end = Some(i);
                                break;
                            }
                            _ => {}
                        }
                    }
                    let Some(end) = end else {
                        return Err("unterminated quoted string".into());
                    };
                    let s = self.rest()[..end + 1].to_string();
                    self.advance(end + 1);
                    self.emit(Tok::Str(s), line);
                }
                '`' => {
                    let Some(end) = self.rest()[1..].find('`') else {
                        return Err("unterminated raw quoted string".into());
                    };
                    let s = self.rest()[..end + 2].to_string();
                    self.advance(end + 2);
                    self.emit(Tok::RawStr(s), line);
                }
                '$' => {
                    self.advance(1);
                    let tok = self.lex_field_or_var(true)?;
                    self.emit(tok, line);
                }
                '\'' => {
                    let mut end = None;
                    let mut esc = false;
                    for (i, ch) in self.rest().char_indices().skip(1) {
                        if esc {
                            esc = false;
                            continue;
                        }
                        match ch {
                            '\\' => esc = true,
                            '\n' => return Err("unterminated character constant".into()),
                            '\'' => {
                                end = Some(i);
                                break;
                            }
                            _ => {}
                        }
                    }
                    let Some(end) = end else {
                        return Err("unterminated character constant".into());
                    };
                    let s = self.rest()[..end + 1].to_string();
                    self.advance(end + 1);
                    self.emit(Tok::Char(s), line);
                }
                '.' if !self.rest()[1..].starts_with(|c: char| c.is_ascii_digit()) => {
                    self.advance(1);
                    let tok = self.lex_field_or_var(false)?;
                    self.emit(tok, line);
                }
                '.' | '+' | '-' | '0'..='9' => {
                    let n = scan_number(self.rest());
                    match n {
                        Some(n) => {
                            let s = self.rest()[..n].to_string();
                            self.advance(n);
                            self.emit(Tok::Num(s), line);
                        }
                        None => {
                            let bad: String = self
                                .rest()
                                .chars()
                                .take_while(|c| is_alnum(*c) || "+-.".contains(*c))
                                .collect();
                            let mut q = String::new();
                            crate::strconv::go_quote_into(&mut q, &bad);
                            return Err(format!("bad number syntax: {q}"));
                        }
                    }
                }
                c if is_alnum(c) => {
                    let n: usize = self
                        .rest()
                        .chars()
                        .take_while(|c| is_alnum(*c))
                        .map(|c| c.len_utf8())
                        .sum();
                    let word = self.rest()[..n].to_string();
                    self.advance(n);
                    if !self.at_terminator() {
                        let c = self.peek().unwrap_or(' ');
                        return Err(format!("bad character U+{:04X} '{}'", c as u32, c));
                    }
                    let tok = if let Some(k) = KEYWORDS.iter().find(|k| **k == word) {
                        Tok::Kw(k)
                    } else if word == "true" || word == "false" {
                        Tok::Bool(word == "true")
                    } else if word == "nil" {
                        Tok::Nil
                    } else {
                        Tok::Ident(word)
                    };
                    self.emit(tok, line);
                }
                '(' => {
                    self.advance(1);
                    self.paren += 1;
                    self.emit(Tok::LParen, line);
                }
                ')' => {
                    self.advance(1);
                    self.paren -= 1;
                    if self.paren < 0 {
                        return Err("unexpected right paren".into());
                    }
                    self.emit(Tok::RParen, line);
                }
                c if c.is_ascii() && !c.is_ascii_control() => {
                    self.advance(1);
                    self.emit(Tok::Punct(c), line);
                }
                c => {
                    return Err(format!(
                        "unrecognized character in action: U+{:04X}",
                        c as u32
                    ))
                }
            }
        }
    }

    fn lex_field_or_var(&mut self, var: bool) -> Result<Tok, String> {
        if self.at_terminator() {
            return Ok(if var { Tok::Var("$".into()) } else { Tok::Dot });
        }
        let n: usize = self
            .rest()
            .chars()
            .take_while(|c| is_alnum(*c))
            .map(|c| c.len_utf8())
            .sum();
        let name = self.rest()[..n].to_string();
        self.advance(n);
        if !self.at_terminator() {
            let c = self.peek().unwrap_or(' ');
            return Err(format!("bad character U+{:04X} '{}'", c as u32, c));
        }
        Ok(if var {
            Tok::Var(format!("${name}"))
        } else {
            Tok::Field(name)
        })
    }
}

/// Go's `scanNumber`: the length of the number at the start of `s`, or None on bad syntax.
fn scan_number(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let mut digits: &[u8] = b"0123456789_";
    if i + 1 < b.len()
        && b[i] == b'0'
        && matches!(b[i + 1], b'x' | b'X' | b'o' | b'O' | b'b' | b'B')
    {
        digits = match b[i + 1] {
            b'x' | b'X' => b"0123456789abcdefABCDEF_",
            b'o' | b'O' => b"01234567_",
            _ => b"01_",
        };
        i += 2;
    }
    let hex = digits.len() > 12;
    let run = |i: &mut usize, set: &[u8]| {
        while *i < b.len() && set.contains(&b[*i]) {
            *i += 1;
        }
    };
    run(&mut i, digits);
    if i < b.len() && b[i] == b'.' {
        i += 1;
        run(&mut i, digits);
    }
    if digits.len() == 11 && i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        run(&mut i, b"0123456789_");
    }
    if hex && i < b.len() && (b[i] == b'p' || b[i] == b'P') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        run(&mut i, b"0123456789_");
    }
    if i < b.len() && b[i] == b'i' {
        i += 1;
    }
    if let Some(c) = s[i..].chars().next() {
        if is_alnum(c) {
            return None;
        }
    }
    if i == 0 {
        return None;
    }
    Some(i)
}

fn parse_number(text: &str) -> Result<Number, String> {
    let bad = || {
        let mut q = String::new();
        crate::strconv::go_quote_into(&mut q, text);
        format!("illegal number syntax: {q}")
    };
    if text.starts_with('\'') {
        let c = unquote_char(text).ok_or_else(bad)?;
        return Ok(Number {
            text: text.into(),
            int: Some(c as i64),
            float: Some(c as u32 as f64),
            float_syntax: false,
        });
    }
    if text.ends_with('i') {
        return Err(bad());
    }
    let clean: String = text.chars().filter(|c| *c != '_').collect();
    let (neg, body) = match clean.as_bytes().first() {
        Some(b'-') => (true, &clean[1..]),
        Some(b'+') => (false, &clean[1..]),
        _ => (false, &clean[..]),
    };
    let lower = body.to_ascii_lowercase();
    let int = if let Some(h) = lower.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()
    } else if let Some(o) = lower.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()
    } else if let Some(bn) = lower.strip_prefix("0b") {
        i64::from_str_radix(bn, 2).ok()
    } else if body.len() > 1 && body.starts_with('0') && body.bytes().all(|c| c.is_ascii_digit()) {
        i64::from_str_radix(&body[1..], 8).ok()
    } else {
        body.parse::<i64>().ok()
    }
    .map(|v| if neg { -v } else { v });
    let is_hex = lower.starts_with("0x");
    let float = if let Some(i) = int {
        Some(i as f64)
    } else if is_hex {
        None
    } else {
        body.parse::<f64>().ok().map(|v| if neg { -v } else { v })
    };
    let float_syntax = !is_hex && text.contains(['.', 'e', 'E', 'p', 'P']);
    let int = int.or_else(|| {
        float.and_then(|f| {
            if f.fract() == 0.0 && f.abs() < 9.2e18 {
                Some(f as i64)
            } else {
                None
            }
        })
    });
    if int.is_none() && float.is_none() {
        return Err(bad());
    }
    Ok(Number {
        text: text.into(),
        int,
        float,
        float_syntax,
    })
}

fn unquote_char(text: &str) -> Option<char> {
    let inner = text.strip_prefix('\'')?.strip_suffix('\'')?;
    let s = unquote_body(inner, '\'')?;
    let mut it = s.chars();
    let c = it.next()?;
    if it.next().is_some() {
        return None;
    }
    Some(c)
}

/// Go's `strconv.Unquote` body handling for double-quoted strings and char constants.
fn unquote_body(inner: &str, quote: char) -> Option<String> {
    let mut out = String::with_capacity(inner.len());
    let mut it = inner.chars().peekable();
    while let Some(c) = it.next() {
        if c == quote || c == '\n' {
            return None;
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        let e = it.next()?;
        match e {
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\u{b}'),
            '\\' => out.push('\\'),
            '\'' if quote == '\'' => out.push('\''),
            '"' if quote == '"' => out.push('"'),
            'x' | 'u' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let hex: String = (0..n).filter_map(|_| it.next()).collect();
                if hex.len() != n {
                    return None;
                }
                let v = u32::from_str_radix(&hex, 16).ok()?;
                if e == 'x' {
                    // A byte; only ASCII keeps the string valid UTF-8 here.
                    out.push(char::from_u32(v)?);
                } else {
                    out.push(char::from_u32(v)?);
                }
            }
            '0'..='7' => {
                let mut v = e.to_digit(8)?;
                for _ in 0..2 {
                    v = v * 8 + it.next()?.to_digit(8)?;
                }
                if v > 255 {
                    return None;
                }
                out.push(char::from_u32(v)?);
            }
            _ => return None,
        }
    }
    Some(out)
}

fn unquote(tok: &Tok) -> Result<String, String> {
    match tok {
        Tok::RawStr(s) => Ok(s[1..s.len() - 1].to_string()),
        Tok::Str(s) => {
            unquote_body(&s[1..s.len() - 1], '"').ok_or_else(|| "invalid syntax".to_string())
        }
        _ => Err("invalid syntax".into()),
    }
}

/// The parsed template set: the main tree and the `define`d ones.
#[derive(Debug, Clone)]
pub struct Trees {
    /// The main template.
    pub root: Vec<Node>,
    /// `{{ define }}`d and `{{ block }}` templates.
    pub defs: HashMap<String, Vec<Node>>,
}

struct Parser {
    name: String,
    toks: Vec<(Tok, usize)>,
    pos: usize,
    vars: Vec<String>,
    range_depth: usize,
    action_line: usize,
    defs: HashMap<String, Vec<Node>>,
    nesting: usize,
}

/// Deepest nesting of parentheses and control structures accepted (keeps recursion bounded).
const MAX_NESTING: usize = 100;

type PResult<T> = Result<T, String>;

/// Parses template `text` named `name`.
pub fn parse(name: &str, text: &str) -> Result<Trees, String> {
    let toks = Lexer {
        input: text,
        pos: 0,
        line: 1,
        toks: Vec::new(),
        paren: 0,
    }
    .run();
    let mut p = Parser {
        name: name.to_string(),
        toks,
        pos: 0,
        vars: vec!["$".into()],
        range_depth: 0,
        action_line: 0,
        defs: HashMap::new(),
        nesting: 0,
    };
    let mut root = Vec::new();
    loop {
        if *p.peek() == Tok::Eof {
            break;
        }
        if *p.peek() == Tok::LeftDelim {
            let save = p.pos;
            p.next();
            if *p.next_non_space() == Tok::Kw("define") {
                p.parse_definition()?;
                continue;
            }
            p.pos = save;
        }
        match p.text_or_action()? {
            Item::End => return Err(p.error("unexpected {{end}}")),
            Item::Else => return Err(p.error("unexpected {{else}}")),
            Item::Node(n) => root.push(n),
        }
    }
    Ok(Trees { root, defs: p.defs })
}

enum Item {
    Node(Node),
    End,
    Else,
}

impl Parser {
    fn line(&self) -> usize {
        let i = self.pos.saturating_sub(1).min(self.toks.len() - 1);
        self.toks[i].1
    }

    fn error(&self, msg: &str) -> String {
        format!("template: {}:{}: {}", self.name, self.line(), msg)
    }

    fn peek(&self) -> &Tok {
        &self.toks[self.pos.min(self.toks.len() - 1)].0
    }

    fn next(&mut self) -> &Tok {
        let i = self.pos.min(self.toks.len() - 1);
        self.pos = (self.pos + 1).min(self.toks.len());
        &self.toks[i].0
    }

    fn backup(&mut self) {
        self.pos = self.pos.saturating_sub(1);
    }

    fn next_non_space(&mut self) -> &Tok {
        while *self.peek() == Tok::Space {
            self.pos += 1;
        }
        self.next()
    }

    fn peek_non_space(&mut self) -> Tok {
        let t = self.next_non_space().clone();
        self.backup();
        t
    }

    fn unexpected(&self, tok: &Tok, context: &str) -> String {
        if let Tok::Error(e) = tok {
            let line = self.line();
            let mut extra = String::new();
            if self.action_line != 0 && self.action_line != line {
                let ctx = if e.ends_with(" action") {
                    context.to_string()
                } else {
                    format!("in {context}")
                };
                extra = format!(" ({ctx} started on line {})", self.action_line);
            }
            return self.error(&format!("{e}{extra}"));
        }
        self.error(&format!("unexpected {} in {}", tok.describe(), context))
    }

    fn expect(&mut self, want: Tok, context: &str) -> PResult<()> {
        let t = self.next_non_space().clone();
        if t != want {
            return Err(self.unexpected(&t, context));
        }
        Ok(())
    }

    fn parse_definition(&mut self) -> PResult<()> {
        let context = "define clause";
        let t = self.next_non_space().clone();
        let name = match t {
            Tok::Str(_) | Tok::RawStr(_) => unquote(&t).map_err(|e| self.error(&e))?,
            _ => return Err(self.unexpected(&t, context)),
        };
        self.expect(Tok::RightDelim, context)?;
        let saved = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let (list, end) = self.item_list()?;
        self.vars = saved;
        if !matches!(end, Item::End) {
            return Err(self.error(&format!("unexpected {{{{else}}}} in {context}")));
        }
        self.add_def(name, list);
        Ok(())
    }

    fn add_def(&mut self, name: String, list: Vec<Node>) {
        // An empty redefinition does not replace a non-empty one.
        let empty = list
            .iter()
            .all(|n| matches!(n, Node::Text(t) if t.trim().is_empty()));
        if empty && self.defs.contains_key(&name) {
            return;
        }
        self.defs.insert(name, list);
    }

    fn item_list(&mut self) -> PResult<(Vec<Node>, Item)> {
        let mut list = Vec::new();
        while self.peek_non_space() != Tok::Eof {
            match self.text_or_action()? {
                Item::Node(n) => list.push(n),
                other => return Ok((list, other)),
            }
        }
        Err(self.error("unexpected EOF"))
    }

    fn text_or_action(&mut self) -> PResult<Item> {
        let t = self.next_non_space().clone();
        match t {
            Tok::Text(s) => Ok(Item::Node(Node::Text(s))),
            Tok::LeftDelim => {
                self.action_line = self.line();
                let r = self.action();
                self.action_line = 0;
                r
            }
            other => Err(self.unexpected(&other, "input")),
        }
    }

    fn action(&mut self) -> PResult<Item> {
        let t = self.next_non_space().clone();
        match t {
            Tok::Kw("block") => return self.block_control().map(Item::Node),
            Tok::Kw("break") | Tok::Kw("continue") => {
                let is_break = t == Tok::Kw("break");
                let what = if is_break {
                    "{{break}}"
                } else {
                    "{{continue}}"
                };
                let n = self.next_non_space().clone();
                if n != Tok::RightDelim {
                    return Err(self.unexpected(&n, what));
                }
                if self.range_depth == 0 {
                    return Err(self.error(&format!("{what} outside {{{{range}}}}")));
                }
                return Ok(Item::Node(if is_break {
                    Node::Break
                } else {
                    Node::Continue
                }));
            }
            Tok::Kw("else") => {
                let p = self.peek_non_space();
                if p == Tok::Kw("if") || p == Tok::Kw("with") {
                    return Ok(Item::Else);
                }
                self.expect(Tok::RightDelim, "else")?;
                return Ok(Item::Else);
            }
            Tok::Kw("end") => {
                self.expect(Tok::RightDelim, "end")?;
                return Ok(Item::End);
            }
            Tok::Kw("if") => return self.control("if").map(Item::Node),
            Tok::Kw("range") => return self.control("range").map(Item::Node),
            Tok::Kw("with") => return self.control("with").map(Item::Node),
            Tok::Kw("template") => return self.template_control().map(Item::Node),
            _ => {}
        }
        self.backup();
        let pipe = self.pipeline("command", Tok::RightDelim)?;
        Ok(Item::Node(Node::Action(pipe)))
    }

    fn control(&mut self, context: &str) -> PResult<Node> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err(self.error("template nesting too deep"));
        }
        let r = self.control_inner(context);
        self.nesting -= 1;
        r
    }

    fn control_inner(&mut self, context: &str) -> PResult<Node> {
        let nvars = self.vars.len();
        let pipe = self.pipeline(context, Tok::RightDelim)?;
        if context == "range" {
            self.range_depth += 1;
        }
        let (list, next) = self.item_list()?;
        if context == "range" {
            self.range_depth -= 1;
        }
        let mut else_list = None;
        if let Item::Else = next {
            if context == "if" && *self.peek() == Tok::Kw("if") {
                self.next();
                else_list = Some(vec![self.control("if")?]);
            } else if context == "with" && *self.peek() == Tok::Kw("with") {
                self.next();
                else_list = Some(vec![self.control("with")?]);
            } else {
                let (l, n) = self.item_list()?;
                if !matches!(n, Item::End) {
                    return Err(self.error("expected end; found {{else}}"));
                }
                else_list = Some(l);
            }
        }
        self.vars.truncate(nvars);
        Ok(match context {
            "if" => Node::If(pipe, list, else_list),
            "range" => Node::Range(pipe, list, else_list),
            _ => Node::With(pipe, list, else_list),
        })
    }

    fn template_name(&mut self, context: &str) -> PResult<String> {
        let t = self.next_non_space().clone();
        match t {
            Tok::Str(_) | Tok::RawStr(_) => unquote(&t).map_err(|e| self.error(&e)),
            _ => Err(self.unexpected(&t, context)),
        }
    }

    fn template_control(&mut self) -> PResult<Node> {
        let context = "template clause";
        let name = self.template_name(context)?;
        let pipe = if *self.next_non_space() != Tok::RightDelim {
            self.backup();
            Some(self.pipeline(context, Tok::RightDelim)?)
        } else {
            None
        };
        Ok(Node::Template(name, pipe))
    }

    fn block_control(&mut self) -> PResult<Node> {
        let context = "block clause";
        let name = self.template_name(context)?;
        let pipe = self.pipeline(context, Tok::RightDelim)?;
        let saved = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let (list, end) = self.item_list()?;
        self.vars = saved;
        if !matches!(end, Item::End) {
            return Err(self.error(&format!("unexpected {{{{else}}}} in {context}")));
        }
        self.add_def(name.clone(), list);
        Ok(Node::Template(name, Some(pipe)))
    }

    fn pipeline(&mut self, context: &str, end: Tok) -> PResult<Pipe> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err(self.error("template nesting too deep"));
        }
        let r = self.pipeline_inner(context, end);
        self.nesting -= 1;
        r
    }

    fn pipeline_inner(&mut self, context: &str, end: Tok) -> PResult<Pipe> {
        let mut pipe = Pipe {
            decl: Vec::new(),
            is_assign: false,
            cmds: Vec::new(),
        };
        'decls: loop {
            let v = self.peek_non_space();
            let Tok::Var(name) = v else { break };
            let save = self.pos;
            self.next_non_space();
            let after = self.peek().clone();
            let next = self.peek_non_space();
            match next {
                Tok::Assign | Tok::Declare => {
                    pipe.is_assign = next == Tok::Assign;
                    self.next_non_space();
                    if pipe.is_assign && !self.vars.contains(&name) {
                        return Err(self.error(&format!("undefined variable {name:?}")));
                    }
                    pipe.decl.push(name.clone());
                    self.vars.push(name);
                }
                Tok::Punct(',') => {
                    self.next_non_space();
                    pipe.decl.push(name.clone());
                    self.vars.push(name);
                    if context == "range" && pipe.decl.len() < 2 {
                        match self.peek_non_space() {
                            Tok::Var(_) | Tok::RightDelim | Tok::RParen => continue 'decls,
                            _ => return Err(self.error("range can only initialize variables")),
                        }
                    }
                    return Err(self.error(&format!("too many declarations in {context}")));
                }
                _ => {
                    let _ = after;
                    self.pos = save;
                }
            }
            break;
        }
        loop {
            let t = self.next_non_space().clone();
            if t == end {
                if pipe.cmds.is_empty() {
                    return Err(self.error(&format!("missing value for {context}")));
                }
                for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
                    if matches!(
                        c.args.first(),
                        Some(Arg::Bool(_) | Arg::Dot | Arg::Nil | Arg::Num(_) | Arg::Str(_))
                    ) {
                        return Err(self.error(&format!(
                            "non executable command in pipeline stage {}",
                            i + 1
                        )));
                    }
                }
                return Ok(pipe);
            }
            match t {
                Tok::Bool(_)
                | Tok::Char(_)
                | Tok::Dot
                | Tok::Field(_)
                | Tok::Ident(_)
                | Tok::Num(_)
                | Tok::Nil
                | Tok::RawStr(_)
                | Tok::Str(_)
                | Tok::Var(_)
                | Tok::LParen => {
                    self.backup();
                    let c = self.command()?;
                    pipe.cmds.push(c);
                }
                other => return Err(self.unexpected(&other, context)),
            }
        }
    }

    fn command(&mut self) -> PResult<Cmd> {
        let mut args = Vec::new();
        loop {
            self.peek_non_space();
            if let Some(op) = self.operand()? {
                args.push(op);
            }
            let t = self.next().clone();
            match t {
                Tok::Space => continue,
                Tok::RightDelim | Tok::RParen => self.backup(),
                Tok::Pipe => {}
                other => return Err(self.unexpected(&other, "operand")),
            }
            break;
        }
        if args.is_empty() {
            return Err(self.error("empty command"));
        }
        Ok(Cmd { args })
    }

    fn operand(&mut self) -> PResult<Option<Arg>> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        if let Tok::Field(_) = self.peek() {
            let mut fields = Vec::new();
            while let Tok::Field(f) = self.peek().clone() {
                self.next();
                fields.push(f);
            }
            return Ok(Some(match node {
                Arg::Field(mut f) => {
                    f.extend(fields);
                    Arg::Field(f)
                }
                Arg::Var(v, mut f) => {
                    f.extend(fields);
                    Arg::Var(v, f)
                }
                Arg::Bool(_) | Arg::Str(_) | Arg::Num(_) | Arg::Nil | Arg::Dot => {
                    return Err(self.error("unexpected . after term"));
                }
                other => Arg::Chain(Box::new(other), fields),
            }));
        }
        Ok(Some(node))
    }

    fn term(&mut self) -> PResult<Option<Arg>> {
        let t = self.next_non_space().clone();
        Ok(Some(match t {
            Tok::Ident(name) => match funcs::lookup(&name) {
                Some(f) => Arg::Func(f),
                None => return Err(self.error(&format!("function {name:?} not defined"))),
            },
            Tok::Dot => Arg::Dot,
            Tok::Nil => Arg::Nil,
            Tok::Var(name) => {
                if !self.vars.contains(&name) {
                    return Err(self.error(&format!("undefined variable {name:?}")));
                }
                Arg::Var(name, Vec::new())
            }
            Tok::Field(f) => Arg::Field(vec![f]),
            Tok::Bool(b) => Arg::Bool(b),
            Tok::Char(s) | Tok::Num(s) => Arg::Num(parse_number(&s).map_err(|e| self.error(&e))?),
            Tok::LParen => Arg::Pipe(Box::new(
                self.pipeline("parenthesized pipeline", Tok::RParen)?,
            )),
            Tok::Str(_) | Tok::RawStr(_) => Arg::Str(unquote(&t).map_err(|e| self.error(&e))?),
            _ => {
                self.backup();
                return Ok(None);
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(t: &str) -> String {
        parse("pipeline_template", t).unwrap_err()
    }

    #[test]
    fn parse_errors_match_go() {
        assert_eq!(
            err("{{ .Value "),
            "template: pipeline_template:1: unclosed action"
        );
        assert_eq!(
            err("{{ nosuch .Value }}"),
            "template: pipeline_template:1: function \"nosuch\" not defined"
        );
        assert_eq!(
            err("{{ if .a }}x"),
            "template: pipeline_template:1: unexpected EOF"
        );
        assert_eq!(
            err("{{ end }}"),
            "template: pipeline_template:1: unexpected {{end}}"
        );
        assert_eq!(
            err("{{ $x }}"),
            "template: pipeline_template:1: undefined variable \"$x\""
        );
        assert_eq!(
            err("{{ }}"),
            "template: pipeline_template:1: missing value for command"
        );
        assert_eq!(
            err("a\n{{ \"x }}"),
            "template: pipeline_template:2: unterminated quoted string"
        );
    }

    #[test]
    fn numbers() {
        let n = parse_number("1.0").unwrap();
        assert!(n.float_syntax && n.int == Some(1));
        assert_eq!(parse_number("0x10").unwrap().int, Some(16));
        assert_eq!(parse_number("'a'").unwrap().int, Some(97));
        assert_eq!(parse_number("-3").unwrap().int, Some(-3));
        assert!(parse_number("1e3").unwrap().float_syntax);
    }

    #[test]
    fn trim_markers() {
        let t = parse("t", "a  {{- 1 -}}  b").unwrap();
        assert!(matches!(&t.root[0], Node::Text(s) if s == "a"));
        assert!(matches!(&t.root[2], Node::Text(s) if s == "b"));
        let t = parse("t", "{{- /* c */ -}} x").unwrap();
        assert!(matches!(&t.root[0], Node::Text(s) if s == "x"));
    }
}
