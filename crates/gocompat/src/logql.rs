//! The restricted LogQL selector grammar of the `match` stage.
//!
//! Promtail's `match` stage does not use Loki's full LogQL parser but an old, separate grammar
//! (`clients/pkg/logentry/logql`): one stream selector `{name op "value", ...}` followed by zero
//! or more line filters (`|= "text"`, `!= "text"`, `|~ "re"`, `!~ "re"`). Its lexer is Go's
//! `text/scanner`, so `//` and `/* */` comments are skipped, strings must be double-quoted Go
//! literals (unescaped with Go rules), and anything the scanner does not know becomes an
//! `IDENTIFIER` token. This module reproduces that grammar and the parser's error messages,
//! `parse error at line L, col C: syntax error: unexpected X, expecting Y`, with the column of
//! the offending token as the scanner counts it (characters, 1-based).
//!
//! Label matchers follow Prometheus: a missing label counts as `""`, and regex matchers are
//! fully anchored (`^(?:re)$`, Prometheus 2.55). Line filters are unanchored. Compiled values live in
//! [`Selector`]; nothing here allocates per entry.
//!
//! One deliberate difference: Promtail *panics* (exit code 2) when a label-matcher regex does
//! not compile (`{job=~"("}`), because its grammar builds matchers with a must-style
//! constructor. ferrotail returns [`SelectorError::MatcherRegex`] instead, a clear error that
//! names the matcher and the selector.

use std::fmt;

use memchr::memmem;
use regex::Regex;

use crate::regex::GoRegex;

/// A label set a selector can be matched against (a missing label reads as `""`).
pub trait LabelSet {
    /// The value of label `name`, if set.
    fn label(&self, name: &str) -> Option<&str>;
}

impl LabelSet for std::collections::BTreeMap<String, String> {
    fn label(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

/// How a label matcher compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    /// `=`: equal.
    Eq,
    /// `!=`: not equal.
    Neq,
    /// `=~`: fully anchored regex match.
    Re,
    /// `!~`: negated fully anchored regex match.
    Nre,
}

impl MatchOp {
    fn as_str(self) -> &'static str {
        match self {
            MatchOp::Eq => "=",
            MatchOp::Neq => "!=",
            MatchOp::Re => "=~",
            MatchOp::Nre => "!~",
        }
    }
}

/// One label matcher of the stream selector.
#[derive(Debug, Clone)]
pub struct LabelMatcher {
    /// The label name (as the scanner read it; not validated, like Promtail).
    pub name: String,
    /// The comparison.
    pub op: MatchOp,
    /// The value after Go unquoting.
    pub value: String,
    re: Option<Regex>,
}

impl LabelMatcher {
    /// True when `value` (the label's value, `""` when the label is missing) satisfies the
    /// matcher.
    pub fn matches(&self, value: &str) -> bool {
        match (self.op, &self.re) {
            (MatchOp::Eq, _) => value == self.value,
            (MatchOp::Neq, _) => value != self.value,
            (MatchOp::Re, Some(re)) => re.is_match(value),
            (MatchOp::Nre, Some(re)) => !re.is_match(value),
            // Regex matchers always carry their compiled regex.
            (MatchOp::Re | MatchOp::Nre, None) => false,
        }
    }
}

/// The kind of a line filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterOp {
    /// `|=`: the line contains the text.
    Contains,
    /// `!=`: the line does not contain the text.
    NotContains,
    /// `|~`: the regex matches somewhere in the line.
    Regex,
    /// `!~`: the regex matches nowhere in the line.
    NotRegex,
}

/// A parsed (not yet compiled) line filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterSpec {
    /// The kind.
    pub op: FilterOp,
    /// The text or regex after Go unquoting.
    pub text: String,
}

/// A compiled line filter.
#[derive(Debug, Clone)]
enum LineFilter {
    Contains(memmem::Finder<'static>),
    NotContains(memmem::Finder<'static>),
    Regex(Regex),
    NotRegex(Regex),
}

impl LineFilter {
    fn matches(&self, line: &str) -> bool {
        match self {
            LineFilter::Contains(f) => f.find(line.as_bytes()).is_some(),
            LineFilter::NotContains(f) => f.find(line.as_bytes()).is_none(),
            LineFilter::Regex(re) => re.is_match(line),
            LineFilter::NotRegex(re) => !re.is_match(line),
        }
    }
}

/// A parsed selector: label matchers plus line filters in source order.
#[derive(Debug, Clone)]
pub struct Selector {
    /// The label matchers (at least one).
    pub matchers: Vec<LabelMatcher>,
    /// The line filters, in the order written.
    pub filters: Vec<FilterSpec>,
}

/// A selector whose line filters are compiled and ready to test entries.
#[derive(Debug, Clone)]
pub struct CompiledSelector {
    matchers: Vec<LabelMatcher>,
    filters: Vec<LineFilter>,
}

impl Selector {
    /// Compiles the line filters. Promtail compiles them from the last to the first, so with
    /// several bad regexes the error names the last one; so does this.
    pub fn compile(self) -> Result<CompiledSelector, String> {
        let mut filters = Vec::with_capacity(self.filters.len());
        for spec in self.filters.iter().rev() {
            let f = match spec.op {
                FilterOp::Contains => {
                    LineFilter::Contains(memmem::Finder::new(spec.text.as_bytes()).into_owned())
                }
                FilterOp::NotContains => {
                    LineFilter::NotContains(memmem::Finder::new(spec.text.as_bytes()).into_owned())
                }
                FilterOp::Regex => LineFilter::Regex(GoRegex::new(&spec.text)?.regex),
                FilterOp::NotRegex => LineFilter::NotRegex(GoRegex::new(&spec.text)?.regex),
            };
            filters.push(f);
        }
        filters.reverse();
        Ok(CompiledSelector {
            matchers: self.matchers,
            filters,
        })
    }
}

impl CompiledSelector {
    /// True when every label matcher holds for `labels`.
    pub fn matches_labels<L: LabelSet + ?Sized>(&self, labels: &L) -> bool {
        self.matchers
            .iter()
            .all(|m| m.matches(labels.label(&m.name).unwrap_or("")))
    }

    /// True when every line filter holds for `line`.
    pub fn matches_line(&self, line: &str) -> bool {
        self.filters.iter().all(|f| f.matches(line))
    }

    /// True when the entry with these labels and this line is selected.
    pub fn matches<L: LabelSet + ?Sized>(&self, labels: &L, line: &str) -> bool {
        self.matches_labels(labels) && self.matches_line(line)
    }

    /// The label matchers.
    pub fn matchers(&self) -> &[LabelMatcher] {
        &self.matchers
    }
}

/// Formats a regex compile error as Go's `regexp` package words it, `error parsing regexp:
/// <reason>: `<pattern>``. The reasons Go and the `regex` crate share are translated (`missing
/// closing )`, `unexpected )`); others keep the crate's wording.
pub fn go_regex_error(pattern: &str, e: &regex::Error) -> String {
    let detail = e.to_string();
    // The regex crate's message is multi-line with a caret diagram; its last line states the
    // problem.
    let reason = detail
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("invalid regex")
        .trim()
        .trim_start_matches("error: ");
    let reason = match reason {
        "unclosed group" => "missing closing )",
        "unopened group" => "unexpected )",
        other => other,
    };
    format!("error parsing regexp: {reason}: `{pattern}`")
}

/// Why a selector could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectorError {
    /// A syntax or scanner error, positioned as Promtail reports it.
    Parse {
        /// 1-based line.
        line: usize,
        /// 1-based column in characters.
        col: usize,
        /// The message after the position, e.g. `syntax error: unexpected }, expecting IDENTIFIER`.
        msg: String,
    },
    /// A label matcher's regex does not compile (Promtail panics here; see the module docs).
    MatcherRegex {
        /// The matcher as written back, e.g. `job=~"("`.
        matcher: String,
        /// The compile error.
        error: String,
    },
}

impl fmt::Display for SelectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SelectorError::Parse { line, col, msg } => {
                write!(f, "parse error at line {line}, col {col}: {msg}")
            }
            SelectorError::MatcherRegex { matcher, error } => {
                write!(f, "invalid regex in label matcher {matcher}: {error}")
            }
        }
    }
}

impl std::error::Error for SelectorError {}

/// Parses a selector with Promtail's grammar.
pub fn parse(input: &str) -> Result<Selector, SelectorError> {
    Parser {
        lex: Lexer::new(input),
    }
    .parse()
}

/// A token of the grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    End,
    Ident(String),
    Str(String),
    OpenBrace,
    CloseBrace,
    Comma,
    Dot,
    Eq,
    Neq,
    Re,
    Nre,
    PipeExact,
    PipeMatch,
}

impl Tok {
    /// The name goyacc prints for the token (Promtail maps punctuation to its text).
    fn name(&self) -> &'static str {
        match self {
            Tok::End => "$end",
            Tok::Ident(_) => "IDENTIFIER",
            Tok::Str(_) => "STRING",
            Tok::OpenBrace => "{",
            Tok::CloseBrace => "}",
            Tok::Comma => ",",
            Tok::Dot => ".",
            Tok::Eq => "=",
            Tok::Neq => "!=",
            Tok::Re => "=~",
            Tok::Nre => "!~",
            Tok::PipeExact => "|=",
            Tok::PipeMatch => "|~",
        }
    }
}

/// A minimal re-creation of Go's `text/scanner` in `GoTokens` mode, as Promtail's lexer uses it.
struct Lexer<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    /// Line and column of the next character (the column is 1-based once a character is read).
    line: usize,
    col: usize,
    /// Whether any character was read at all (an empty input reports position 0:0 at EOF).
    started: bool,
}

type LexResult = Result<(Tok, usize, usize), SelectorError>;

impl<'a> Lexer<'a> {
    fn new(input: &'a str) -> Self {
        Lexer {
            chars: input.chars().peekable(),
            line: 1,
            col: 0,
            started: false,
        }
    }

    /// Position the next character (or EOF) will have.
    fn next_pos(&mut self) -> (usize, usize) {
        if !self.started && self.chars.peek().is_none() {
            return (0, 0);
        }
        (self.line, self.col + 1)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        self.started = true;
        if c == '\n' {
            self.line += 1;
            self.col = 0;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn peek(&mut self) -> Option<char> {
        self.chars.peek().copied()
    }

    fn err(line: usize, col: usize, msg: &str) -> SelectorError {
        SelectorError::Parse {
            line,
            col,
            msg: msg.to_string(),
        }
    }

    /// Returns the next token and its start position.
    fn next_token(&mut self) -> LexResult {
        loop {
            while matches!(self.peek(), Some(' ' | '\t' | '\n' | '\r')) {
                self.bump();
            }
            let (line, col) = self.next_pos();
            let Some(c) = self.bump() else {
                return Ok((Tok::End, line, col));
            };
            let tok = match c {
                '/' if matches!(self.peek(), Some('/')) => {
                    while !matches!(self.peek(), None | Some('\n')) {
                        self.bump();
                    }
                    continue;
                }
                '/' if matches!(self.peek(), Some('*')) => {
                    self.bump();
                    let mut prev = '\0';
                    loop {
                        match self.bump() {
                            None => return Err(Self::err(line, col, "comment not terminated")),
                            Some('/') if prev == '*' => break,
                            Some(ch) => prev = ch,
                        }
                    }
                    continue;
                }
                '"' => Tok::Str(self.string(line, col)?),
                '`' => {
                    // A raw string is not a STRING token for this grammar.
                    let mut text = String::from("`");
                    loop {
                        match self.bump() {
                            None => return Err(Self::err(line, col, "literal not terminated")),
                            Some('`') => break,
                            Some(ch) => text.push(ch),
                        }
                    }
                    text.push('`');
                    Tok::Ident(text)
                }
                '\'' => {
                    let n = self.char_literal(line, col)?;
                    if n != 1 {
                        return Err(Self::err(line, col, "invalid char literal"));
                    }
                    Tok::Ident("'".into())
                }
                c if c == '_' || c.is_alphabetic() => {
                    let mut s = String::from(c);
                    while let Some(n) = self.peek() {
                        if n == '_' || n.is_alphabetic() || n.is_numeric() {
                            s.push(n);
                            self.bump();
                        } else {
                            break;
                        }
                    }
                    Tok::Ident(s)
                }
                c if c.is_ascii_digit()
                    || (c == '.' && self.peek().is_some_and(|n| n.is_ascii_digit())) =>
                {
                    // Numbers are IDENTIFIER tokens to the grammar; this scans Go's number
                    // syntax closely enough to split tokens where Go's scanner does.
                    let mut s = String::from(c);
                    let hex = c == '0' && matches!(self.peek(), Some('x' | 'X'));
                    if hex {
                        s.extend(self.bump());
                    }
                    let digit = |n: char| {
                        n == '_'
                            || if hex {
                                n.is_ascii_hexdigit()
                            } else {
                                n.is_ascii_digit()
                            }
                    };
                    self.take_while_into(&mut s, digit);
                    if c != '.' && self.peek() == Some('.') {
                        s.extend(self.bump());
                        self.take_while_into(&mut s, digit);
                    }
                    let exp: &[char] = if hex { &['p', 'P'] } else { &['e', 'E'] };
                    if self.peek().is_some_and(|n| exp.contains(&n)) {
                        s.extend(self.bump());
                        if matches!(self.peek(), Some('+' | '-')) {
                            s.extend(self.bump());
                        }
                        self.take_while_into(&mut s, |n| n == '_' || n.is_ascii_digit());
                    }
                    if self.peek() == Some('i') {
                        // Go's imaginary literal suffix.
                        s.extend(self.bump());
                    }
                    Tok::Ident(s)
                }
                c => {
                    // Single characters, combined with the next one when the pair is a token.
                    let next = self.peek();
                    let pair = match (c, next) {
                        ('!', Some('=')) => Some(Tok::Neq),
                        ('!', Some('~')) => Some(Tok::Nre),
                        ('=', Some('~')) => Some(Tok::Re),
                        ('|', Some('=')) => Some(Tok::PipeExact),
                        ('|', Some('~')) => Some(Tok::PipeMatch),
                        _ => None,
                    };
                    if let Some(t) = pair {
                        self.bump();
                        t
                    } else {
                        match c {
                            ',' => Tok::Comma,
                            '.' => Tok::Dot,
                            '{' => Tok::OpenBrace,
                            '}' => Tok::CloseBrace,
                            '=' => Tok::Eq,
                            other => Tok::Ident(other.to_string()),
                        }
                    }
                }
            };
            return Ok((tok, line, col));
        }
    }

    /// Appends characters to `s` while `f` accepts them.
    fn take_while_into(&mut self, s: &mut String, f: impl Fn(char) -> bool) {
        while let Some(n) = self.peek() {
            if !f(n) {
                break;
            }
            s.push(n);
            self.bump();
        }
    }

    /// Scans a char literal body after `'`, returning the number of characters in it.
    fn char_literal(&mut self, line: usize, col: usize) -> Result<usize, SelectorError> {
        let mut n = 0;
        loop {
            match self.bump() {
                None | Some('\n') => return Err(Self::err(line, col, "literal not terminated")),
                Some('\'') => return Ok(n),
                Some('\\') => {
                    self.escape('\'', &mut Vec::new())
                        .map_err(|m| Self::err(line, col, m))?;
                }
                Some(_) => {}
            }
            n += 1;
        }
    }

    /// Scans a double-quoted Go string after its opening quote and unquotes it.
    fn string(&mut self, line: usize, col: usize) -> Result<String, SelectorError> {
        let mut out: Vec<u8> = Vec::new();
        loop {
            match self.bump() {
                None | Some('\n') => return Err(Self::err(line, col, "literal not terminated")),
                Some('"') => break,
                Some('\\') => self
                    .escape('"', &mut out)
                    .map_err(|m| Self::err(line, col, m))?,
                Some(c) => {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        // Go strings may hold arbitrary bytes (`\xff`); ours must be UTF-8.
        Ok(match String::from_utf8(out) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }

    /// Decodes one escape after a backslash, appending its bytes.
    fn escape(&mut self, quote: char, out: &mut Vec<u8>) -> Result<(), &'static str> {
        let Some(c) = self.bump() else {
            return Err("literal not terminated");
        };
        let simple = match c {
            'a' => Some(0x07u8),
            'b' => Some(0x08),
            'f' => Some(0x0c),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(0x0b),
            '\\' => Some(b'\\'),
            q if q == quote => Some(q as u8),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            return Ok(());
        }
        let (first, base, n) = match c {
            '0'..='7' => (Some(c), 8, 3),
            'x' => (None, 16, 2),
            'u' => (None, 16, 4),
            'U' => (None, 16, 8),
            _ => return Err("invalid char escape"),
        };
        let mut value: u32 = 0;
        let mut digits = 0;
        if let Some(f) = first {
            value = f.to_digit(8).unwrap_or(0);
            digits = 1;
        }
        while digits < n {
            match self.peek().and_then(|d| d.to_digit(base)) {
                Some(d) => {
                    self.bump();
                    value = value.wrapping_mul(base).wrapping_add(d);
                    digits += 1;
                }
                None => return Err("invalid char escape"),
            }
        }
        match c {
            '0'..='7' if value > 255 => Err("invalid syntax"),
            '0'..='7' | 'x' => {
                out.push(value as u8);
                Ok(())
            }
            _ => match char::from_u32(value) {
                Some(ch) => {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                    Ok(())
                }
                None => Err("invalid syntax"),
            },
        }
    }
}

struct Parser<'a> {
    lex: Lexer<'a>,
}

impl Parser<'_> {
    fn syntax(tok: &Tok, line: usize, col: usize, expecting: &str) -> SelectorError {
        SelectorError::Parse {
            line,
            col,
            msg: format!(
                "syntax error: unexpected {}, expecting {expecting}",
                tok.name()
            ),
        }
    }

    fn parse(&mut self) -> Result<Selector, SelectorError> {
        let (tok, line, col) = self.lex.next_token()?;
        if tok != Tok::OpenBrace {
            return Err(Self::syntax(&tok, line, col, "{"));
        }
        let mut matchers = Vec::new();
        loop {
            let (tok, line, col) = self.lex.next_token()?;
            let Tok::Ident(name) = tok else {
                return Err(Self::syntax(&tok, line, col, "IDENTIFIER"));
            };
            let (tok, line, col) = self.lex.next_token()?;
            let op = match tok {
                Tok::Eq => MatchOp::Eq,
                Tok::Neq => MatchOp::Neq,
                Tok::Re => MatchOp::Re,
                Tok::Nre => MatchOp::Nre,
                other => return Err(Self::syntax(&other, line, col, "= or != or =~ or !~")),
            };
            let (tok, line, col) = self.lex.next_token()?;
            let Tok::Str(value) = tok else {
                return Err(Self::syntax(&tok, line, col, "STRING"));
            };
            matchers.push(new_matcher(name, op, value)?);
            let (tok, line, col) = self.lex.next_token()?;
            match tok {
                Tok::Comma => continue,
                Tok::CloseBrace => break,
                other => return Err(Self::syntax(&other, line, col, "} or ,")),
            }
        }
        let mut filters = Vec::new();
        loop {
            let (tok, line, col) = self.lex.next_token()?;
            let op = match tok {
                Tok::End => break,
                Tok::PipeExact => FilterOp::Contains,
                Tok::Neq => FilterOp::NotContains,
                Tok::PipeMatch => FilterOp::Regex,
                Tok::Nre => FilterOp::NotRegex,
                other => {
                    return Err(Self::syntax(&other, line, col, "!= or !~ or |~ or |="));
                }
            };
            let (tok, line, col) = self.lex.next_token()?;
            let Tok::Str(text) = tok else {
                return Err(Self::syntax(&tok, line, col, "STRING"));
            };
            filters.push(FilterSpec { op, text });
        }
        Ok(Selector { matchers, filters })
    }
}

fn new_matcher(name: String, op: MatchOp, value: String) -> Result<LabelMatcher, SelectorError> {
    let re = match op {
        MatchOp::Re | MatchOp::Nre => {
            // Prometheus 2.55 parses the value alone (so errors show it), then anchors it.
            match GoRegex::new(&value).and_then(|_| GoRegex::anchored(&value)) {
                Ok(re) => Some(re.regex),
                Err(error) => {
                    let mut matcher = format!("{name}{}", op.as_str());
                    crate::strconv::go_quote_into(&mut matcher, &value);
                    return Err(SelectorError::MatcherRegex { matcher, error });
                }
            }
        }
        _ => None,
    };
    Ok(LabelMatcher {
        name,
        op,
        value,
        re,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    type Labels = std::collections::BTreeMap<String, String>;

    fn err(input: &str) -> String {
        parse(input).expect_err("parse error").to_string()
    }

    #[test]
    fn parses_promtail_examples() {
        let s = parse(r#"{foo="bar"}"#).unwrap();
        assert_eq!(s.matchers.len(), 1);
        assert_eq!(s.matchers[0].name, "foo");
        assert_eq!(s.matchers[0].op, MatchOp::Eq);
        assert_eq!(s.matchers[0].value, "bar");
        assert!(s.filters.is_empty());

        let s = parse(r#"{ foo = "bar", bar != "baz" }"#).unwrap();
        assert_eq!(s.matchers.len(), 2);
        assert_eq!(s.matchers[1].op, MatchOp::Neq);

        let s = parse(r#"{foo="bar"} |= "baz" |~ "blip" != "flip" !~ "flap""#).unwrap();
        let ops: Vec<_> = s.filters.iter().map(|f| f.op).collect();
        assert_eq!(
            ops,
            vec![
                FilterOp::Contains,
                FilterOp::Regex,
                FilterOp::NotContains,
                FilterOp::NotRegex
            ]
        );
        assert_eq!(s.filters[3].text, "flap");

        let s = parse(r#"{ foo = "ba\"r" }"#).unwrap();
        assert_eq!(s.matchers[0].value, "ba\"r");
    }

    #[test]
    fn promtail_parse_errors() {
        for (input, want) in [
            (
                r#"{foo="bar}"#,
                "parse error at line 1, col 6: literal not terminated",
            ),
            (
                r#"{foo="bar""#,
                "parse error at line 1, col 11: syntax error: unexpected $end, expecting } or ,",
            ),
            (
                r#"{foo="bar"} |~"#,
                "parse error at line 1, col 15: syntax error: unexpected $end, expecting STRING",
            ),
            (
                r#"{foo="bar"} "foo""#,
                "parse error at line 1, col 13: syntax error: unexpected STRING, expecting != or !~ or |~ or |=",
            ),
            (
                r#"{foo="bar"} foo"#,
                "parse error at line 1, col 13: syntax error: unexpected IDENTIFIER, expecting != or !~ or |~ or |=",
            ),
            (
                "{}",
                "parse error at line 1, col 2: syntax error: unexpected }, expecting IDENTIFIER",
            ),
            (
                r#"{a.b="x"}"#,
                "parse error at line 1, col 3: syntax error: unexpected ., expecting = or != or =~ or !~",
            ),
            (
                "{a=`x`}",
                "parse error at line 1, col 4: syntax error: unexpected IDENTIFIER, expecting STRING",
            ),
            (
                r#"{a="x"} | json"#,
                "parse error at line 1, col 9: syntax error: unexpected IDENTIFIER, expecting != or !~ or |~ or |=",
            ),
            (
                r#"job="x""#,
                "parse error at line 1, col 1: syntax error: unexpected IDENTIFIER, expecting {",
            ),
            (
                r#"{a="\q"}"#,
                "parse error at line 1, col 4: invalid char escape",
            ),
            (
                r#"{1a="x"}"#,
                "parse error at line 1, col 3: syntax error: unexpected IDENTIFIER, expecting = or != or =~ or !~",
            ),
            (
                "{a='xy'}",
                "parse error at line 1, col 4: invalid char literal",
            ),
            (
                "{a=\"x\"}\n  /* open",
                "parse error at line 2, col 3: comment not terminated",
            ),
        ] {
            assert_eq!(err(input), want, "input {input:?}");
        }
    }

    #[test]
    fn comments_and_escapes() {
        let s =
            parse("{app=\"a\\tb\" /* c */, x=~\"\\\\d+\"} // trailing\n|= \"\\u00e9\"").unwrap();
        assert_eq!(s.matchers[0].value, "a\tb");
        assert_eq!(s.matchers[1].value, "\\d+");
        assert_eq!(s.filters[0].text, "é");
    }

    #[test]
    fn matching_semantics() {
        let labels: Labels = [("job", "golden"), ("app", "loki")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let cases = [
            (r#"{job="golden"}"#, true),
            (r#"{job=~"gold"}"#, false),
            (r#"{job=~"gold.*"}"#, true),
            (r#"{job!~"gold.*"}"#, false),
            (r#"{missing=""}"#, true),
            (r#"{missing!=""}"#, false),
            (r#"{job!="golden"}"#, false),
            (r#"{job="golden", app=~"lo.i"}"#, true),
        ];
        for (sel, want) in cases {
            let c = parse(sel).unwrap().compile().unwrap();
            assert_eq!(c.matches_labels(&labels), want, "{sel}");
        }
        let c = parse(r#"{job="golden"} |= "a" != "b" |~ "c\\d" !~ "z""#)
            .unwrap()
            .compile()
            .unwrap();
        for (line, want) in [
            ("a c1", true),
            ("a b c1", false),
            ("a c1 z", false),
            ("c1", false),
            ("a cx", false),
        ] {
            assert_eq!(c.matches(&labels, line), want, "{line}");
        }
    }

    /// The selectors of Promtail's documented match example: entries from `app="loki"` and
    /// `app="pokey"` get their own nested stages, and noisy promtail errors are dropped.
    #[test]
    fn documented_example_selectors() {
        let loki = parse(r#"{app="loki"}"#).unwrap().compile().unwrap();
        let pokey = parse(r#"{app="pokey"}"#).unwrap().compile().unwrap();
        let noisy = parse(r#"{app="promtail"} |~ ".*noisy error.*""#)
            .unwrap()
            .compile()
            .unwrap();
        let app =
            |a: &str| -> Labels { [("app".to_string(), a.to_string())].into_iter().collect() };
        assert!(loki.matches(
            &app("loki"),
            r#"{"app":"loki","component":["parser","type"]}"#
        ));
        assert!(!loki.matches(&app("pokey"), "x"));
        assert!(pokey.matches(
            &app("pokey"),
            r#"{"app":"pokey","component":["parser","type"]}"#
        ));
        assert!(noisy.matches(&app("promtail"), "this is a noisy error line"));
        assert!(!noisy.matches(&app("promtail"), "a regular line"));
        assert!(!noisy.matches(&app("loki"), "noisy error"));
    }

    #[test]
    fn bad_regexes() {
        let e = parse(r#"{job=~"("}"#).err().unwrap();
        assert!(matches!(e, SelectorError::MatcherRegex { .. }));
        assert!(e.to_string().contains(r#"job=~"(""#), "{e}");
        let e = parse(r#"{job="x"} |~ "(""#)
            .unwrap()
            .compile()
            .err()
            .unwrap();
        assert_eq!(e, "error parsing regexp: missing closing ): `(`");
        // Go's wording for what only RE2 refuses or words its own way.
        let e = parse(r#"{job=~"\\q"}"#).err().unwrap();
        assert!(
            e.to_string()
                .ends_with("error parsing regexp: invalid escape sequence: `\\q`"),
            "{e}"
        );
    }

    /// Line filters and label matchers read their regexes as Go's RE2 does: the cases where the
    /// regex crate alone answers differently.
    #[test]
    fn regexes_read_as_go() {
        let labels: std::collections::BTreeMap<String, String> =
            [("app", "x٣"), ("msg", "a\nb"), ("brace", "{x}")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        for (sel, line, want) in [
            (r#"{app=~"x\\d"}"#, "", false),
            (r#"{app=~"x.+"}"#, "", true),
            (r#"{app!~"x\\d"}"#, "", true),
            (r#"{msg=~"a.b"}"#, "", false),
            (r#"{brace=~"{x}"}"#, "", true),
            (r#"{app=~".+"} |~ "\\d""#, "٣", false),
            (r#"{app=~".+"} |~ "\\d""#, "3", true),
            (r#"{app=~".+"} !~ "\\s""#, "a\u{a0}b", true),
            (r#"{app=~".+"} |~ "\\Q.*\\E""#, "a.*", true),
            (r#"{app=~".+"} |~ "\\Q.*\\E""#, "ab", false),
            (r#"{app=~".+"} |~ "level={""#, "level={", true),
            (r#"{app=~".+"} |~ "(?P<a>x)(?P<a>y)""#, "xy", true),
        ] {
            let c = parse(sel)
                .unwrap_or_else(|e| panic!("{sel}: {e}"))
                .compile()
                .unwrap_or_else(|e| panic!("{sel}: {e}"));
            assert_eq!(c.matches(&labels, line), want, "{sel} {line:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(input in "\\PC{0,64}") {
            if let Ok(s) = parse(&input) {
                let _ = s.compile();
            }
        }

        #[test]
        fn never_panics_on_selector_like_input(
            input in r#"[{}=!~|,."a-z0-9 \\/*`']{0,40}"#
        ) {
            if let Ok(s) = parse(&input) {
                let _ = s.compile();
            }
        }
    }
}
