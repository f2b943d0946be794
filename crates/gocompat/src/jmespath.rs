//! JMESPath for the json stage, as `github.com/jmespath/go-jmespath` v0.4.0 behaves.
//!
//! Owns:
//! * [`go_check`]: a port of go-jmespath's lexer and Pratt parser that only checks syntax, so a
//!   bad expression fails with Go's exact message (`SyntaxError: Unexpected token at the end of
//!   the expression: tNumber`). The `jmespath` crate then builds the AST it evaluates.
//! * [`Expr`]: a compiled expression. Plain field paths (`a.b`, `"k8s.io".name`, `items[0]`) are
//!   evaluated directly on the parsed JSON; everything else goes through the `jmespath` crate with
//!   a runtime whose `to_string()` marshals like Go's `encoding/json`.

use std::sync::LazyLock;

use jmespath::functions::{ArgumentType, Function, Signature};
use jmespath::{Context, Rcvar, Runtime, Variable};

use crate::json::{self, JVal};

// ---------------------------------------------------------------------------------------------
// go-jmespath syntax check
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Unknown,
    Star,
    Dot,
    Filter,
    Flatten,
    Lparen,
    Rparen,
    Lbracket,
    Rbracket,
    Lbrace,
    Rbrace,
    Or,
    Pipe,
    Number,
    UnquotedIdentifier,
    QuotedIdentifier,
    Comma,
    Colon,
    Lt,
    Lte,
    Gt,
    Gte,
    Eq,
    Ne,
    JsonLiteral,
    StringLiteral,
    Current,
    Expref,
    And,
    Not,
    Eof,
}

impl Tok {
    fn name(self) -> &'static str {
        match self {
            Tok::Unknown => "tUnknown",
            Tok::Star => "tStar",
            Tok::Dot => "tDot",
            Tok::Filter => "tFilter",
            Tok::Flatten => "tFlatten",
            Tok::Lparen => "tLparen",
            Tok::Rparen => "tRparen",
            Tok::Lbracket => "tLbracket",
            Tok::Rbracket => "tRbracket",
            Tok::Lbrace => "tLbrace",
            Tok::Rbrace => "tRbrace",
            Tok::Or => "tOr",
            Tok::Pipe => "tPipe",
            Tok::Number => "tNumber",
            Tok::UnquotedIdentifier => "tUnquotedIdentifier",
            Tok::QuotedIdentifier => "tQuotedIdentifier",
            Tok::Comma => "tComma",
            Tok::Colon => "tColon",
            Tok::Lt => "tLT",
            Tok::Lte => "tLTE",
            Tok::Gt => "tGT",
            Tok::Gte => "tGTE",
            Tok::Eq => "tEQ",
            Tok::Ne => "tNE",
            Tok::JsonLiteral => "tJSONLiteral",
            Tok::StringLiteral => "tStringLiteral",
            Tok::Current => "tCurrent",
            Tok::Expref => "tExpref",
            Tok::And => "tAnd",
            Tok::Not => "tNot",
            Tok::Eof => "tEOF",
        }
    }

    fn binding_power(self) -> u32 {
        match self {
            Tok::Pipe => 1,
            Tok::Or => 2,
            Tok::And => 3,
            Tok::Eq | Tok::Lt | Tok::Lte | Tok::Gt | Tok::Gte | Tok::Ne => 5,
            Tok::Flatten => 9,
            Tok::Star => 20,
            Tok::Filter => 21,
            Tok::Dot => 40,
            Tok::Not => 45,
            Tok::Lbrace => 50,
            Tok::Lbracket => 55,
            Tok::Lparen => 60,
            _ => 0,
        }
    }
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    value: String,
}

fn syntax(msg: impl std::fmt::Display) -> String {
    format!("SyntaxError: {msg}")
}

/// Go's `strconv.QuoteRuneToASCII`.
fn quote_rune_ascii(c: char) -> String {
    let inner = match c {
        '\'' => "\\'".to_string(),
        '\\' => "\\\\".to_string(),
        '\u{7}' => "\\a".into(),
        '\u{8}' => "\\b".into(),
        '\u{c}' => "\\f".into(),
        '\n' => "\\n".into(),
        '\r' => "\\r".into(),
        '\t' => "\\t".into(),
        '\u{b}' => "\\v".into(),
        c if (' '..='~').contains(&c) => c.to_string(),
        c if (c as u32) < 0x80 => format!("\\x{:02x}", c as u32),
        c if (c as u32) < 0x10000 => format!("\\u{:04x}", c as u32),
        c => format!("\\U{:08x}", c as u32),
    };
    format!("'{inner}'")
}

/// Go `encoding/json`'s `quoteChar` for its error messages.
fn go_quote_char(c: char) -> String {
    match c {
        '\'' => "'\\''".into(),
        '"' => "'\"'".into(),
        c => {
            let mut q = String::new();
            crate::strconv::go_quote_into(&mut q, &c.to_string());
            format!("'{}'", &q[1..q.len() - 1])
        }
    }
}

/// Validates `text` as a JSON document, with encoding/json-style messages.
fn go_json_check(text: &str) -> Result<serde_json::Value, String> {
    let trimmed = text.trim_start_matches([' ', '\t', '\n', '\r']);
    let Some(first) = trimmed.chars().next() else {
        return Err("unexpected end of JSON input".into());
    };
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) => Ok(v),
        Err(e) => {
            if !matches!(first, '{' | '[' | '"' | '-' | '0'..='9' | 't' | 'f' | 'n') {
                return Err(format!(
                    "invalid character {} looking for beginning of value",
                    go_quote_char(first)
                ));
            }
            // A bare word: encoding/json checks it against the literal its first letter starts.
            let lit = match first {
                't' => Some("true"),
                'f' => Some("false"),
                'n' => Some("null"),
                _ => None,
            };
            if let Some(lit) = lit {
                for (want, got) in lit.chars().zip(trimmed.chars()).skip(1) {
                    if want != got {
                        return Err(format!(
                            "invalid character {} in literal {lit} (expecting {})",
                            go_quote_char(got),
                            go_quote_char(want)
                        ));
                    }
                }
            }
            if e.is_eof() {
                return Err("unexpected end of JSON input".into());
            }
            // Find the offending character from serde's column (1-based, on a single line).
            let col = e.column().saturating_sub(1);
            let line_start: usize = text
                .split_inclusive('\n')
                .take(e.line().saturating_sub(1))
                .map(str::len)
                .sum();
            let at = text[line_start..]
                .char_indices()
                .nth(col)
                .map(|(i, _)| line_start + i)
                .unwrap_or(text.len());
            let c = text[at..].chars().next().unwrap_or(' ');
            if e.to_string().contains("trailing characters") {
                return Err(format!(
                    "invalid character {} after top-level value",
                    go_quote_char(c)
                ));
            }
            Err(format!(
                "invalid character {} looking for beginning of value",
                go_quote_char(c)
            ))
        }
    }
}

fn tokenize(expr: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let chars: Vec<(usize, char)> = expr.char_indices().collect();
    let mut i = 0;
    let push = |tokens: &mut Vec<Token>, tok: Tok, value: &str| {
        tokens.push(Token {
            tok,
            value: value.to_string(),
        })
    };
    while i < chars.len() {
        let (pos, c) = chars[i];
        i += 1;
        let next = chars.get(i).map(|&(_, c)| c);
        match c {
            'a'..='z' | 'A'..='Z' | '_' => {
                let mut j = i;
                while j < chars.len()
                    && matches!(chars[j].1, 'a'..='z' | 'A'..='Z' | '0'..='9' | '_')
                {
                    j += 1;
                }
                let end = chars.get(j).map(|&(p, _)| p).unwrap_or(expr.len());
                push(&mut tokens, Tok::UnquotedIdentifier, &expr[pos..end]);
                i = j;
            }
            '.' => push(&mut tokens, Tok::Dot, "."),
            '*' => push(&mut tokens, Tok::Star, "*"),
            ',' => push(&mut tokens, Tok::Comma, ","),
            ':' => push(&mut tokens, Tok::Colon, ":"),
            '{' => push(&mut tokens, Tok::Lbrace, "{"),
            '}' => push(&mut tokens, Tok::Rbrace, "}"),
            ']' => push(&mut tokens, Tok::Rbracket, "]"),
            '(' => push(&mut tokens, Tok::Lparen, "("),
            ')' => push(&mut tokens, Tok::Rparen, ")"),
            '@' => push(&mut tokens, Tok::Current, "@"),
            '-' | '0'..='9' => {
                let mut j = i;
                while j < chars.len() && chars[j].1.is_ascii_digit() {
                    j += 1;
                }
                let end = chars.get(j).map(|&(p, _)| p).unwrap_or(expr.len());
                push(&mut tokens, Tok::Number, &expr[pos..end]);
                i = j;
            }
            '[' => match next {
                Some('?') => {
                    i += 1;
                    push(&mut tokens, Tok::Filter, "[?")
                }
                Some(']') => {
                    i += 1;
                    push(&mut tokens, Tok::Flatten, "[]")
                }
                _ => push(&mut tokens, Tok::Lbracket, "["),
            },
            '"' | '`' => {
                // consumeUntil: a backslash skips the next rune.
                let start = i;
                let mut j = i;
                let mut closed = false;
                while j < chars.len() {
                    let cj = chars[j].1;
                    if cj == c {
                        closed = true;
                        break;
                    }
                    if cj == '\\' && j + 1 < chars.len() {
                        j += 1;
                    }
                    j += 1;
                }
                if !closed {
                    return Err(syntax(format!("Unclosed delimiter: {c}")));
                }
                let s = chars.get(start).map(|&(p, _)| p).unwrap_or(expr.len());
                let e = chars[j].0;
                let body = &expr[s..e];
                i = j + 1;
                if c == '"' {
                    let decoded = go_json_check(&format!("\"{body}\""))?;
                    let v = decoded.as_str().unwrap_or_default().to_string();
                    tokens.push(Token {
                        tok: Tok::QuotedIdentifier,
                        value: v,
                    });
                } else {
                    push(&mut tokens, Tok::JsonLiteral, &body.replace("\\`", "`"));
                }
            }
            '\'' => {
                // consumeRawStringLiteral: ends at `'` unless the expression ends first.
                let mut j = i;
                let mut value = String::new();
                let mut closed = false;
                while j < chars.len() {
                    let cj = chars[j].1;
                    if cj == '\'' {
                        closed = true;
                        break;
                    }
                    if cj == '\\' && chars.get(j + 1).map(|c| c.1) == Some('\'') {
                        value.push('\'');
                        j += 2;
                        continue;
                    }
                    value.push(cj);
                    j += 1;
                }
                if !closed {
                    return Err(syntax("Unclosed delimiter: '"));
                }
                i = j + 1;
                tokens.push(Token {
                    tok: Tok::StringLiteral,
                    value,
                });
            }
            '|' | '<' | '>' | '!' | '=' | '&' => {
                let (second, two, one) = match c {
                    '|' => ('|', Tok::Or, Tok::Pipe),
                    '<' => ('=', Tok::Lte, Tok::Lt),
                    '>' => ('=', Tok::Gte, Tok::Gt),
                    '!' => ('=', Tok::Ne, Tok::Not),
                    '=' => ('=', Tok::Eq, Tok::Unknown),
                    _ => ('&', Tok::And, Tok::Expref),
                };
                if next == Some(second) {
                    i += 1;
                    push(&mut tokens, two, "");
                } else {
                    push(&mut tokens, one, "");
                }
            }
            ' ' | '\t' | '\n' | '\r' => {}
            other => return Err(syntax(format!("Unknown char: {}", quote_rune_ascii(other)))),
        }
    }
    tokens.push(Token {
        tok: Tok::Eof,
        value: String::new(),
    });
    Ok(tokens)
}

struct GoParser {
    tokens: Vec<Token>,
    index: usize,
}

/// Go's `strconv.Atoi` error text.
fn go_atoi(s: &str) -> Result<i64, String> {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.Atoi: parsing {s:?}: invalid syntax"));
    }
    s.parse::<i64>()
        .map_err(|_| format!("strconv.Atoi: parsing {s:?}: value out of range"))
}

impl GoParser {
    fn tok_at(&self, n: usize) -> &Token {
        let i = (self.index + n).min(self.tokens.len() - 1);
        &self.tokens[i]
    }

    fn current(&self) -> Tok {
        self.tok_at(0).tok
    }

    fn lookahead(&self, n: usize) -> Tok {
        self.tok_at(n).tok
    }

    fn advance(&mut self) {
        self.index += 1;
    }

    fn matches(&mut self, t: Tok) -> Result<(), String> {
        if self.current() == t {
            self.advance();
            Ok(())
        } else {
            Err(syntax(format!(
                "Expected {}, received: {}",
                t.name(),
                self.current().name()
            )))
        }
    }

    fn parse(&mut self) -> Result<(), String> {
        self.expression(0)?;
        if self.current() != Tok::Eof {
            return Err(syntax(format!(
                "Unexpected token at the end of the expression: {}",
                self.current().name()
            )));
        }
        Ok(())
    }

    fn expression(&mut self, bp: u32) -> Result<(), String> {
        let left = self.tok_at(0).clone();
        self.advance();
        self.nud(&left)?;
        let mut current = self.current();
        while bp < current.binding_power() {
            self.advance();
            self.led(current)?;
            current = self.current();
        }
        Ok(())
    }

    /// Returns whether the bracket held a slice.
    fn index_expression(&mut self) -> Result<bool, String> {
        if self.lookahead(0) == Tok::Colon || self.lookahead(1) == Tok::Colon {
            let mut index = 0;
            let mut current = self.current();
            while current != Tok::Rbracket && index < 3 {
                if current == Tok::Colon {
                    index += 1;
                    self.advance();
                } else if current == Tok::Number {
                    go_atoi(&self.tok_at(0).value)?;
                    self.advance();
                } else {
                    return Err(syntax(format!(
                        "Expected tColon or tNumber, received: {}",
                        self.current().name()
                    )));
                }
                current = self.current();
            }
            self.matches(Tok::Rbracket)?;
            return Ok(true);
        }
        go_atoi(&self.tok_at(0).value)?;
        self.advance();
        self.matches(Tok::Rbracket)?;
        Ok(false)
    }

    fn project_if_slice(&mut self, is_slice: bool) -> Result<(), String> {
        if is_slice {
            self.projection_rhs(Tok::Star.binding_power())?;
        }
        Ok(())
    }

    fn led(&mut self, t: Tok) -> Result<(), String> {
        match t {
            Tok::Dot => {
                if self.current() != Tok::Star {
                    return self.dot_rhs(Tok::Dot.binding_power());
                }
                self.advance();
                self.projection_rhs(Tok::Dot.binding_power())
            }
            Tok::Pipe | Tok::Or | Tok::And => self.expression(t.binding_power()),
            Tok::Lparen => {
                while self.current() != Tok::Rparen {
                    self.expression(0)?;
                    if self.current() == Tok::Comma {
                        self.matches(Tok::Comma)?;
                    }
                }
                self.matches(Tok::Rparen)
            }
            Tok::Filter => self.filter(),
            Tok::Flatten => self.projection_rhs(Tok::Flatten.binding_power()),
            Tok::Eq | Tok::Ne | Tok::Gt | Tok::Gte | Tok::Lt | Tok::Lte => {
                self.expression(t.binding_power())
            }
            Tok::Lbracket => {
                let cur = self.current();
                if cur == Tok::Number || cur == Tok::Colon {
                    let is_slice = self.index_expression()?;
                    return self.project_if_slice(is_slice);
                }
                self.matches(Tok::Star)?;
                self.matches(Tok::Rbracket)?;
                self.projection_rhs(Tok::Star.binding_power())
            }
            other => Err(syntax(format!("Unexpected token: {}", other.name()))),
        }
    }

    fn nud(&mut self, token: &Token) -> Result<(), String> {
        match token.tok {
            Tok::JsonLiteral => go_json_check(&token.value).map(|_| ()),
            Tok::StringLiteral | Tok::UnquotedIdentifier | Tok::Current => Ok(()),
            Tok::QuotedIdentifier => {
                if self.current() == Tok::Lparen {
                    return Err(syntax("Can't have quoted identifier as function name."));
                }
                Ok(())
            }
            Tok::Star => {
                if self.current() == Tok::Rbracket {
                    Ok(())
                } else {
                    self.projection_rhs(Tok::Star.binding_power())
                }
            }
            Tok::Filter => self.filter(),
            Tok::Lbrace => self.multi_select_hash(),
            Tok::Flatten => self.projection_rhs(Tok::Flatten.binding_power()),
            Tok::Lbracket => {
                let cur = self.current();
                if cur == Tok::Number || cur == Tok::Colon {
                    // go-jmespath drops an error from the index expression here.
                    match self.index_expression() {
                        Ok(is_slice) => self.project_if_slice(is_slice),
                        Err(_) => Ok(()),
                    }
                } else if cur == Tok::Star && self.lookahead(1) == Tok::Rbracket {
                    self.advance();
                    self.advance();
                    self.projection_rhs(Tok::Star.binding_power())
                } else {
                    self.multi_select_list()
                }
            }
            Tok::Expref => self.expression(Tok::Expref.binding_power()),
            Tok::Not => self.expression(Tok::Not.binding_power()),
            Tok::Lparen => {
                self.expression(0)?;
                self.matches(Tok::Rparen)
            }
            Tok::Eof => Err(syntax("Incomplete expression")),
            other => Err(syntax(format!("Invalid token: {}", other.name()))),
        }
    }

    fn multi_select_list(&mut self) -> Result<(), String> {
        loop {
            self.expression(0)?;
            if self.current() == Tok::Rbracket {
                break;
            }
            self.matches(Tok::Comma)?;
        }
        self.matches(Tok::Rbracket)
    }

    fn multi_select_hash(&mut self) -> Result<(), String> {
        loop {
            if self.matches(Tok::UnquotedIdentifier).is_err()
                && self.matches(Tok::QuotedIdentifier).is_err()
            {
                return Err(syntax("Expected tQuotedIdentifier or tUnquotedIdentifier"));
            }
            self.matches(Tok::Colon)?;
            self.expression(0)?;
            if self.current() == Tok::Comma {
                self.advance();
            } else if self.current() == Tok::Rbrace {
                self.advance();
                break;
            }
        }
        Ok(())
    }

    fn filter(&mut self) -> Result<(), String> {
        self.expression(0)?;
        self.matches(Tok::Rbracket)?;
        if self.current() == Tok::Flatten {
            Ok(())
        } else {
            self.projection_rhs(Tok::Filter.binding_power())
        }
    }

    fn dot_rhs(&mut self, bp: u32) -> Result<(), String> {
        match self.current() {
            Tok::QuotedIdentifier | Tok::UnquotedIdentifier | Tok::Star => self.expression(bp),
            Tok::Lbracket => {
                self.advance();
                self.multi_select_list()
            }
            Tok::Lbrace => {
                self.advance();
                self.multi_select_hash()
            }
            _ => Err(syntax("Expected identifier, lbracket, or lbrace")),
        }
    }

    fn projection_rhs(&mut self, bp: u32) -> Result<(), String> {
        let current = self.current();
        if current.binding_power() < 10 {
            Ok(())
        } else if current == Tok::Lbracket || current == Tok::Filter {
            self.expression(bp)
        } else if current == Tok::Dot {
            self.advance();
            self.dot_rhs(bp)
        } else {
            Err(syntax("Error"))
        }
    }
}

/// Checks `expr` as go-jmespath's `Compile` does, returning its error text.
pub fn go_check(expr: &str) -> Result<(), String> {
    let tokens = tokenize(expr)?;
    let mut p = GoParser { tokens, index: 0 };
    p.parse()
}

/// A plain path: fields and indexes only.
fn simple_path(expr: &str) -> Option<Vec<PathSeg>> {
    let tokens = tokenize(expr).ok()?;
    let mut segs = Vec::new();
    let mut i = 0;
    let mut expect_field = true;
    while tokens[i].tok != Tok::Eof {
        let t = &tokens[i];
        match t.tok {
            Tok::UnquotedIdentifier | Tok::QuotedIdentifier if expect_field => {
                segs.push(PathSeg::Field(t.value.clone()));
                expect_field = false;
                i += 1;
            }
            Tok::Dot if !expect_field => {
                expect_field = true;
                i += 1;
            }
            Tok::Lbracket if !expect_field => {
                if tokens.get(i + 1)?.tok != Tok::Number || tokens.get(i + 2)?.tok != Tok::Rbracket
                {
                    return None;
                }
                segs.push(PathSeg::Index(tokens[i + 1].value.parse().ok()?));
                i += 3;
            }
            _ => return None,
        }
    }
    if expect_field {
        return None;
    }
    Some(segs)
}

/// go-jmespath's `to_string`: strings unchanged, anything else through `encoding/json`.
struct GoToString {
    signature: Signature,
}

impl Function for GoToString {
    fn evaluate(&self, args: &[Rcvar], ctx: &mut Context<'_>) -> jmespath::SearchResult {
        self.signature.validate(args, ctx)?;
        match &*args[0] {
            Variable::String(_) => Ok(args[0].clone()),
            other => {
                let mut s = String::new();
                json::write_encoding_json_var(&mut s, other);
                Ok(Rcvar::new(Variable::String(s)))
            }
        }
    }
}

/// go-jmespath's `to_number`: numbers unchanged, strings through `strconv.ParseFloat` (null when
/// that fails or overflows), anything else null.
struct GoToNumber {
    signature: Signature,
}

impl Function for GoToNumber {
    fn evaluate(&self, args: &[Rcvar], ctx: &mut Context<'_>) -> jmespath::SearchResult {
        self.signature.validate(args, ctx)?;
        match &*args[0] {
            Variable::Number(_) => Ok(args[0].clone()),
            Variable::String(s) => Ok(Rcvar::new(
                s.parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .map(|f| Variable::Number(json::number_from_f64(f)))
                    .unwrap_or(Variable::Null),
            )),
            _ => Ok(Rcvar::new(Variable::Null)),
        }
    }
}

static RUNTIME: LazyLock<Runtime> = LazyLock::new(|| {
    let mut rt = Runtime::new();
    rt.register_builtin_functions();
    rt.register_function(
        "to_number",
        Box::new(GoToNumber {
            signature: Signature::new(vec![ArgumentType::Any], None),
        }),
    );
    rt.register_function(
        "to_string",
        Box::new(GoToString {
            signature: Signature::new(vec![ArgumentType::Any], None),
        }),
    );
    rt
});

/// A JMESPath runtime error: the expression's key is not set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchFailed;

/// The result of evaluating an expression.
pub enum Found<'v, 'a> {
    /// A value inside the parsed document.
    Json(Option<&'v JVal<'a>>),
    /// A value computed by the JMESPath interpreter.
    Var(Rcvar),
}

/// A compiled json-stage expression.
pub enum Expr {
    /// A plain field/index path evaluated on the parsed JSON.
    Path(Vec<PathSeg>),
    /// A full JMESPath expression.
    Jmes(Box<jmespath::Expression<'static>>),
    /// Accepted by go-jmespath but not by the Rust parser: fails at search time, as a Go
    /// runtime error would (the key is not set).
    AlwaysFails,
}

/// One step of a plain path.
#[derive(Debug, Clone, PartialEq)]
pub enum PathSeg {
    /// An object key.
    Field(String),
    /// An array index (negative counts from the end).
    Index(i64),
}

impl Expr {
    /// Compiles `expr`, failing with go-jmespath's message.
    pub fn compile(expr: &str) -> Result<Expr, String> {
        go_check(expr)?;
        if let Some(segs) = simple_path(expr) {
            return Ok(Expr::Path(segs));
        }
        match RUNTIME.compile(expr) {
            Ok(e) => Ok(Expr::Jmes(Box::new(e))),
            Err(e) => {
                tracing::warn!(expression = expr, error = %e, "JMESPath expression accepted by Promtail's parser but not evaluable here; it will never match");
                Ok(Expr::AlwaysFails)
            }
        }
    }

    /// The field names when this is a path of fields only.
    pub fn field_path(&self) -> Option<Vec<&str>> {
        match self {
            Expr::Path(segs) => segs
                .iter()
                .map(|s| match s {
                    PathSeg::Field(f) => Some(f.as_str()),
                    PathSeg::Index(_) => None,
                })
                .collect(),
            _ => None,
        }
    }

    /// True when evaluating needs the document as a JMESPath variable.
    pub fn needs_variable(&self) -> bool {
        matches!(self, Expr::Jmes(_))
    }

    /// Evaluates on the parsed document (`None` = JSON `null` input). `var` must be the
    /// document converted with [`json::to_variable`] when [`Expr::needs_variable`].
    /// `Err` is a runtime error: the key is not set.
    pub fn search<'v, 'a>(
        &self,
        doc: Option<&'v JVal<'a>>,
        var: Option<&Rcvar>,
    ) -> Result<Found<'v, 'a>, SearchFailed> {
        match self {
            Expr::Path(segs) => {
                let mut cur = doc;
                for seg in segs {
                    cur = match (cur, seg) {
                        (Some(v), PathSeg::Field(f)) => v.get(f),
                        (Some(JVal::Arr(items)), PathSeg::Index(i)) => {
                            let idx = if *i < 0 { items.len() as i64 + *i } else { *i };
                            if idx < 0 {
                                None
                            } else {
                                items.get(idx as usize)
                            }
                        }
                        _ => None,
                    };
                    if cur.is_none() {
                        break;
                    }
                }
                Ok(Found::Json(cur))
            }
            Expr::Jmes(e) => {
                let null = Rcvar::new(Variable::Null);
                let data = var.unwrap_or(&null);
                let mut ctx = Context::new(e.as_str(), &RUNTIME);
                jmespath::interpret(data, e.as_ast(), &mut ctx)
                    .map(Found::Var)
                    .map_err(|err| {
                        tracing::debug!(error = %err, "failed to search JMES expression");
                        SearchFailed
                    })
            }
            Expr::AlwaysFails => Err(SearchFailed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_syntax_errors() {
        let cases = [
            (
                "foo-bar",
                "SyntaxError: Unexpected token at the end of the expression: tNumber",
            ),
            (
                "@timestamp",
                "SyntaxError: Unexpected token at the end of the expression: tUnquotedIdentifier",
            ),
            ("1abc", "SyntaxError: Invalid token: tNumber"),
            ("a[", "SyntaxError: Expected tStar, received: tEOF"),
            (
                "a.",
                "SyntaxError: Expected identifier, lbracket, or lbrace",
            ),
            ("", "SyntaxError: Incomplete expression"),
            ("a#", "SyntaxError: Unknown char: '#'"),
            ("'abc", "SyntaxError: Unclosed delimiter: '"),
            ("\"abc", "SyntaxError: Unclosed delimiter: \""),
            (
                "\"a\"(b)",
                "SyntaxError: Can't have quoted identifier as function name.",
            ),
        ];
        for (expr, want) in cases {
            assert_eq!(go_check(expr).unwrap_err(), want, "{expr}");
        }
        for ok in [
            "\"foo-bar\"",
            "\"we\\\"ird\"",
            "a.b.c",
            "items[-1]",
            "length(items)",
            "join(',', items[?v > `1`].k)",
            "missing || 'default'",
            "a[*].b",
            "a[0:2]",
            "{a: b, c: d}",
            "[a, b]",
            "!a && b",
            "sort_by(a, &b)",
            "a[]",
            "*.b",
            "@",
        ] {
            assert!(go_check(ok).is_ok(), "{ok}: {:?}", go_check(ok));
        }
    }

    #[test]
    fn simple_paths() {
        assert_eq!(
            simple_path("\"k8s.io\".name"),
            Some(vec![
                PathSeg::Field("k8s.io".into()),
                PathSeg::Field("name".into())
            ])
        );
        assert_eq!(
            simple_path("items[-1]"),
            Some(vec![PathSeg::Field("items".into()), PathSeg::Index(-1)])
        );
        assert_eq!(simple_path("length(a)"), None);
    }
}
