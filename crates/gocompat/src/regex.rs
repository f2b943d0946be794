//! Go `regexp` (RE2) patterns on the `regex` crate.
//!
//! Owns the translation of a Go pattern into an equivalent `regex` crate pattern and Go's
//! compile error messages. The differences handled:
//! * `\d`, `\w`, `\s`, `\b` (and negations) are ASCII-only in Go (`\s` is `[\t\n\f\r ]`);
//! * a `{` that does not start a valid `{n}`, `{n,}`, `{n,m}` repeat is a literal in Go;
//! * `\Q...\E` literal text;
//! * named groups: Go allows duplicate names and names starting with a digit, so every named
//!   group becomes a plain capture group and [`GoRegex::names`] maps group index to name.

use regex::Regex;

/// A compiled Go pattern.
#[derive(Debug, Clone)]
pub struct GoRegex {
    /// The compiled regex (capture group indexes match Go's).
    pub regex: Regex,
    /// `(group index, name)` of every named group, in index order.
    pub names: Vec<(usize, String)>,
}

fn go_err(code: &str, expr: &str) -> String {
    format!("error parsing regexp: {code}: `{expr}`")
}

fn is_valid_capture_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

const NOT_DIGIT: &str = r"\x00-\x2F\x3A-\x{10FFFF}";
const NOT_WORD: &str = r"\x00-\x2F\x3A-\x40\x5B-\x5E\x60\x7B-\x{10FFFF}";
const NOT_SPACE: &str = r"\x00-\x08\x0B\x0E-\x1F\x21-\x{10FFFF}";

/// Translates a Go pattern, checking the errors Go reports with Go's messages.
fn translate(pat: &str) -> Result<(String, Vec<(usize, String)>), String> {
    let chars: Vec<char> = pat.chars().collect();
    let byte_at: Vec<usize> = pat.char_indices().map(|(i, _)| i).collect();
    let rest = |i: usize| -> &str { byte_at.get(i).map(|&b| &pat[b..]).unwrap_or("") };
    let mut out = String::with_capacity(pat.len() + 16);
    let mut names = Vec::new();
    let mut group = 0usize;
    let mut depth = 0usize;
    // Whether the previous item can take a repetition operator, and whether it already has one.
    let mut can_repeat = false;
    let mut repeated = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                let Some(&n) = chars.get(i + 1) else {
                    return Err(
                        "error parsing regexp: trailing backslash at end of expression: ``".into(),
                    );
                };
                i += 2;
                match n {
                    'd' => out.push_str("[0-9]"),
                    'D' => out.push_str("[^0-9]"),
                    'w' => out.push_str("[0-9A-Za-z_]"),
                    'W' => out.push_str("[^0-9A-Za-z_]"),
                    's' => out.push_str(r"[\t\n\x0C\r ]"),
                    'S' => out.push_str(r"[^\t\n\x0C\r ]"),
                    'b' => {
                        out.push_str(r"(?-u:\b)");
                        can_repeat = false;
                        repeated = false;
                        continue;
                    }
                    'B' => {
                        out.push_str(r"(?-u:\B)");
                        can_repeat = false;
                        repeated = false;
                        continue;
                    }
                    'Q' => {
                        let mut j = i;
                        let mut lit = String::new();
                        while j < chars.len() {
                            if chars[j] == '\\' && chars.get(j + 1) == Some(&'E') {
                                j += 2;
                                break;
                            }
                            lit.push(chars[j]);
                            j += 1;
                        }
                        out.push_str(&format!("(?:{})", regex::escape(&lit)));
                        i = j;
                    }
                    'A' | 'z' => {
                        out.push('\\');
                        out.push(n);
                        can_repeat = false;
                        repeated = false;
                        continue;
                    }
                    n if n.is_ascii_alphanumeric()
                        && !matches!(
                            n,
                            'a' | 'f' | 't' | 'n' | 'r' | 'v' | 'x' | 'p' | 'P' | '0'..='7'
                        ) =>
                    {
                        let end = (i).min(chars.len());
                        let s: String = chars[i - 2..end].iter().collect();
                        return Err(go_err("invalid escape sequence", &s));
                    }
                    // Octal: `\0`, `\0nn`, `\1n`...; a lone `\1`-`\7` is a backreference (invalid).
                    '0'..='7' if n == '0' || matches!(chars.get(i), Some('0'..='7')) => {
                        let mut v = n.to_digit(8).unwrap_or(0);
                        for _ in 0..2 {
                            match chars.get(i).and_then(|c| c.to_digit(8)) {
                                Some(d) => {
                                    v = v * 8 + d;
                                    i += 1;
                                }
                                None => break,
                            }
                        }
                        out.push_str(&format!("\\x{{{v:x}}}"));
                    }
                    '1'..='7' => {
                        return Err(go_err("invalid escape sequence", &format!("\\{n}")));
                    }
                    // `\x{..}`, `\p{..}`, `\P{..}`: copy the braced part verbatim.
                    'x' | 'p' | 'P' if chars.get(i) == Some(&'{') => {
                        out.push('\\');
                        out.push(n);
                        while i < chars.len() {
                            out.push(chars[i]);
                            i += 1;
                            if chars[i - 1] == '}' {
                                break;
                            }
                        }
                    }
                    // Escaped punctuation is a literal in Go (`\<` too, a word boundary in Rust).
                    n if n.is_ascii_punctuation() || n == ' ' => {
                        out.push_str(&regex::escape(&n.to_string()));
                    }
                    n => {
                        out.push('\\');
                        out.push(n);
                    }
                }
            }
            '[' => {
                let start = i;
                out.push('[');
                i += 1;
                if chars.get(i) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                let mut first = true;
                let mut closed = false;
                while i < chars.len() {
                    let c = chars[i];
                    if c == ']' && !first {
                        closed = true;
                        i += 1;
                        break;
                    }
                    if c == ']' {
                        out.push_str("\\]");
                        i += 1;
                        first = false;
                        continue;
                    }
                    first = false;
                    if c == '[' && chars.get(i + 1) == Some(&':') {
                        // A POSIX class: copy through `:]`.
                        let mut j = i + 2;
                        while j + 1 < chars.len() && !(chars[j] == ':' && chars[j + 1] == ']') {
                            j += 1;
                        }
                        if j + 1 < chars.len() {
                            out.extend(&chars[i..j + 2]);
                            i = j + 2;
                            continue;
                        }
                        out.push_str("\\[");
                        i += 1;
                        continue;
                    }
                    if c == '\\' {
                        let Some(&n) = chars.get(i + 1) else { break };
                        i += 2;
                        match n {
                            'd' => out.push_str("0-9"),
                            'D' => out.push_str(NOT_DIGIT),
                            'w' => out.push_str("0-9A-Za-z_"),
                            'W' => out.push_str(NOT_WORD),
                            's' => out.push_str(r"\t\n\x0C\r\x20"),
                            'S' => out.push_str(NOT_SPACE),
                            ']' | '[' | '\\' | '-' | '^' | '&' | '~' => {
                                out.push('\\');
                                out.push(n);
                            }
                            n if n.is_ascii_punctuation() || n == ' ' => out.push(n),
                            n => {
                                out.push('\\');
                                out.push(n);
                            }
                        }
                        continue;
                    }
                    if c == '['
                        || c == '&'
                        || c == '~'
                        || c == '-' && chars.get(i + 1) == Some(&'-')
                    {
                        // Characters that are set operators in the regex crate are literals in Go.
                        out.push('\\');
                        out.push(c);
                        i += 1;
                        continue;
                    }
                    out.push(c);
                    i += 1;
                }
                if !closed {
                    return Err(go_err("missing closing ]", rest(start)));
                }
                out.push(']');
                can_repeat = true;
                repeated = false;
                continue;
            }
            '(' => {
                let t = rest(i);
                if t.starts_with("(?") {
                    let named = t.starts_with("(?P<")
                        || (t.starts_with("(?<")
                            && !t.starts_with("(?<=")
                            && !t.starts_with("(?<!"));
                    if named {
                        let begin = if t.starts_with("(?P<") { 4 } else { 3 };
                        let Some(end) = t.find('>') else {
                            return Err(go_err("invalid named capture", t));
                        };
                        let name = &t[begin..end];
                        if !is_valid_capture_name(name) {
                            return Err(go_err("invalid named capture", &t[..=end]));
                        }
                        // Go allows duplicate names; the rightmost group wins when extracting.
                        group += 1;
                        names.push((group, name.to_string()));
                        out.push('(');
                        i += t[..=end].chars().count();
                        depth += 1;
                    } else {
                        // Flags: `(?flags)` or a non-capturing `(?flags:`.
                        let end = t.get(2..).and_then(|r| r.find([':', ')'])).map(|e| e + 2);
                        let Some(end) = end else {
                            return Err(go_err("missing closing )", pat));
                        };
                        let flags = &t[2..end];
                        if !flags
                            .chars()
                            .all(|c| matches!(c, 'i' | 'm' | 's' | 'U' | '-'))
                        {
                            return Err(go_err("invalid or unsupported Perl syntax", &t[..end]));
                        }
                        out.push_str(&t[..=end]);
                        i += t[..=end].chars().count();
                        if t.as_bytes()[end] == b':' {
                            depth += 1;
                        }
                    }
                } else {
                    group += 1;
                    out.push('(');
                    i += 1;
                    depth += 1;
                }
                can_repeat = false;
                repeated = false;
                continue;
            }
            ')' => {
                if depth == 0 {
                    return Err(go_err("unexpected )", pat));
                }
                depth -= 1;
                out.push(')');
                i += 1;
                can_repeat = true;
                repeated = false;
                continue;
            }
            '|' => {
                out.push('|');
                i += 1;
                can_repeat = false;
                repeated = false;
                continue;
            }
            '*' | '+' | '?' => {
                let mut op = c.to_string();
                if chars.get(i + 1) == Some(&'?') {
                    op.push('?');
                }
                if repeated {
                    let prev: String = chars[i.saturating_sub(1)..=i].iter().collect();
                    return Err(go_err("invalid nested repetition operator", &prev));
                }
                if !can_repeat {
                    return Err(go_err("missing argument to repetition operator", &op));
                }
                out.push_str(&op);
                i += op.chars().count();
                repeated = true;
                continue;
            }
            '{' => {
                // A valid `{n}`, `{n,}` or `{n,m}` repeat; otherwise a literal `{`.
                let t = rest(i);
                let close = t.find('}');
                let body = close.map(|e| &t[1..e]);
                let valid = body.and_then(|b| {
                    let (lo, hi) = match b.split_once(',') {
                        Some((lo, hi)) => (lo, Some(hi)),
                        None => (b, None),
                    };
                    let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
                    if !digits(lo) || hi.is_some_and(|h| !h.is_empty() && !digits(h)) {
                        return None;
                    }
                    Some((
                        lo.parse::<u64>().unwrap_or(u64::MAX),
                        hi.map(|h| h.parse::<u64>().ok()),
                    ))
                });
                match valid {
                    Some((lo, hi)) => {
                        let e = close.unwrap_or(0);
                        let text = &t[..=e];
                        let hi_v = hi.flatten();
                        if lo > 1000 || hi_v.is_some_and(|h| h > 1000 || h < lo) {
                            return Err(go_err("invalid repeat count", text));
                        }
                        if repeated {
                            return Err(go_err("invalid nested repetition operator", text));
                        }
                        if !can_repeat {
                            return Err(go_err("missing argument to repetition operator", text));
                        }
                        out.push_str(text);
                        i += text.chars().count();
                        if chars.get(i) == Some(&'?') {
                            out.push('?');
                            i += 1;
                        }
                        repeated = true;
                        continue;
                    }
                    None => {
                        out.push_str("\\{");
                    }
                }
                i += 1;
                can_repeat = true;
                repeated = false;
                continue;
            }
            '}' => {
                out.push_str("\\}");
            }
            '^' | '$' => {
                out.push(c);
                i += 1;
                can_repeat = false;
                repeated = false;
                continue;
            }
            c => out.push(c),
        }
        if c != '\\' {
            i += 1;
        }
        can_repeat = true;
        repeated = false;
    }
    if depth > 0 {
        return Err(go_err("missing closing )", pat));
    }
    Ok((out, names))
}

impl GoRegex {
    /// The index of the first group called `name` that took part in the match, as Go's
    /// `Regexp.Expand` looks names up (duplicate names allowed).
    fn group_of(&self, caps: &regex::Captures<'_>, name: &str) -> Option<usize> {
        self.names
            .iter()
            .find(|(i, n)| n == name && caps.get(*i).is_some())
            .map(|(i, _)| *i)
    }

    /// Go's `Regexp.Expand`: appends `template` to `dst` with `$1`, `${1}`, `$name`, `${name}`
    /// replaced by the groups of `caps` and `$$` by `$`. A name is the longest run of letters,
    /// digits and `_`; an unknown or unmatched group is empty; a `$` not followed by a name is
    /// kept as is.
    pub fn expand(&self, caps: &regex::Captures<'_>, template: &str, dst: &mut String) {
        let mut rest = template;
        while let Some(pos) = rest.find('$') {
            dst.push_str(&rest[..pos]);
            rest = &rest[pos..];
            if rest.as_bytes().get(1) == Some(&b'$') {
                dst.push('$');
                rest = &rest[2..];
                continue;
            }
            let Some((name, after)) = extract_name(&rest[1..]) else {
                dst.push('$');
                rest = &rest[1..];
                continue;
            };
            rest = after;
            // A number (no leading zero, below 1e8) is a group index, anything else a name.
            let numeric = name.bytes().all(|b| b.is_ascii_digit())
                && !(name.len() > 1 && name.starts_with('0'))
                && name.len() <= 8;
            let group = match name.parse::<usize>() {
                Ok(n) if numeric => Some(n),
                _ => self.group_of(caps, name),
            };
            if let Some(m) = group.and_then(|g| caps.get(g)) {
                dst.push_str(m.as_str());
            }
        }
        dst.push_str(rest);
    }

    /// Go's `Regexp.ReplaceAllString` (`literal` false: `repl` is expanded as by
    /// [`GoRegex::expand`]) or `ReplaceAllLiteralString` (`literal` true), with Go's handling of
    /// empty matches: an empty match right after a match is not replaced.
    pub fn replace_all(&self, src: &str, repl: &str, literal: bool) -> String {
        let mut out = String::with_capacity(src.len());
        let mut last_end = 0usize;
        let mut search = 0usize;
        while search <= src.len() {
            let Some(caps) = self.regex.captures_at(src, search) else {
                break;
            };
            let Some(m) = caps.get(0) else { break };
            out.push_str(&src[last_end..m.start()]);
            if m.end() > last_end || m.start() == 0 {
                if literal {
                    out.push_str(repl);
                } else {
                    self.expand(&caps, repl, &mut out);
                }
            }
            last_end = m.end();
            let width = src[search..].chars().next().map_or(1, char::len_utf8);
            search = if search + width > m.end() {
                search + width
            } else {
                m.end()
            };
        }
        if last_end < src.len() {
            out.push_str(&src[last_end..]);
        }
        out
    }

    /// Go's `FindAll*Index`: the `(start, end)` of successive matches, at most `n` (all when
    /// `n < 0`); an empty match right after a match is skipped, as Go does.
    pub fn find_all(&self, s: &str, n: i64) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut pos = 0usize;
        let mut prev_end: Option<usize> = None;
        while (n < 0 || (out.len() as i64) < n) && pos <= s.len() {
            let Some(m) = self.regex.find_at(s, pos) else {
                break;
            };
            let mut accept = true;
            if m.end() == pos {
                if Some(m.start()) == prev_end {
                    accept = false;
                }
                pos += s[pos..].chars().next().map_or(1, char::len_utf8);
            } else {
                pos = m.end();
            }
            prev_end = Some(m.end());
            if accept {
                out.push((m.start(), m.end()));
            }
        }
        out
    }

    /// Go's `FindAllStringSubmatchIndex(s, -1)`: the groups of every match, with Go's rule for
    /// empty matches (see [`GoRegex::find_all`]).
    pub fn captures_all<'h>(&self, s: &'h str) -> Vec<regex::Captures<'h>> {
        let mut out = Vec::new();
        let mut pos = 0usize;
        let mut prev_end: Option<usize> = None;
        while pos <= s.len() {
            let Some(caps) = self.regex.captures_at(s, pos) else {
                break;
            };
            let Some(m) = caps.get(0) else { break };
            let (start, end) = (m.start(), m.end());
            let mut accept = true;
            if end == pos {
                if Some(start) == prev_end {
                    accept = false;
                }
                pos += s[pos..].chars().next().map_or(1, char::len_utf8);
            } else {
                pos = end;
            }
            prev_end = Some(end);
            if accept {
                out.push(caps);
            }
        }
        out
    }

    /// Compiles `pat` as Go would compile `^(?:pat)$`: the fully anchored form Prometheus 2.55
    /// (the version Promtail 3.4.6 vendors) uses for relabel rules and label matchers; `.` does
    /// not match a newline. The error, like Go's, shows the anchored expression.
    pub fn anchored(pat: &str) -> Result<GoRegex, String> {
        GoRegex::new(&format!("^(?:{pat})$"))
    }

    /// Compiles a Go pattern; the error is Go's `error parsing regexp: ...` text.
    pub fn new(pat: &str) -> Result<GoRegex, String> {
        let (rust, names) = translate(pat)?;
        let regex = Regex::new(&rust).map_err(|e| {
            format!(
                "error parsing regexp: {}: `{pat}`",
                e.to_string()
                    .lines()
                    .last()
                    .unwrap_or("invalid pattern")
                    .trim()
            )
        })?;
        Ok(GoRegex { regex, names })
    }
}

/// Go's `extract`: a `name` or `{name}` at the start of `s` (letters, digits, `_`), and what
/// follows it.
fn extract_name(s: &str) -> Option<(&str, &str)> {
    let is_name = |c: char| c.is_alphanumeric() || c == '_';
    if let Some(body) = s.strip_prefix('{') {
        let end = body.find('}')?;
        let name = &body[..end];
        if name.is_empty() || !name.chars().all(is_name) {
            return None;
        }
        return Some((name, &body[end + 1..]));
    }
    let end = s.find(|c: char| !is_name(c)).unwrap_or(s.len());
    if end == 0 {
        return None;
    }
    Some((&s[..end], &s[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_classes() {
        let r = GoRegex::new(r"^(?P<word>\w+)\s(?P<num>\d+)$").unwrap();
        assert!(r.regex.is_match("hello 42"));
        assert!(!r.regex.is_match("héllo 42"));
        assert!(!r.regex.is_match("hello ٤٢"));
        assert!(!r.regex.is_match("hello\u{a0}42"));
        assert_eq!(r.names, vec![(1, "word".into()), (2, "num".into())]);
        let r = GoRegex::new(r"[\d\s]+").unwrap();
        assert!(r.regex.is_match(" 1"));
        assert!(!r.regex.is_match("٤"));
        let r = GoRegex::new(r"[^\S]").unwrap();
        assert!(r.regex.is_match(" "));
        assert!(!r.regex.is_match("\u{a0}"));
    }

    #[test]
    fn literal_braces_and_groups() {
        let r = GoRegex::new(r#"{"level":"(?P<level>\w+)"}"#).unwrap();
        let c = r.regex.captures(r#"{"level":"info"}"#).unwrap();
        assert_eq!(&c[1], "info");
        let r = GoRegex::new(r"a{2}(?P<1x>b)").unwrap();
        assert!(r.regex.is_match("aab"));
        assert_eq!(r.names, vec![(1, "1x".into())]);
        let r = GoRegex::new(r"(?P<a>x)(?P<a>y)(?i)Z(?s:.)").unwrap();
        assert_eq!(r.names, vec![(1, "a".into()), (2, "a".into())]);
        assert!(r.regex.is_match("xyz\n"));
        let r = GoRegex::new(r"[]a]").unwrap();
        assert!(r.regex.is_match("]"));
        let r = GoRegex::new(r"\Q.*\E").unwrap();
        assert!(r.regex.is_match(".*"));
        assert!(!r.regex.is_match("ab"));
    }

    #[test]
    fn documented_patterns() {
        // Promtail docs: the Apache combined log example.
        let r = GoRegex::new(r#"^(?P<ip>\S+) (?P<identd>\S+) (?P<user>\S+) \[(?P<timestamp>[\w:/]+\s[+\-]\d{4})\] "(?P<action>\S+)\s?(?P<path>\S+)?\s?(?P<protocol>\S+)?" (?P<status_code>\d{3}|-) (?P<size>\d+|-)\s?"?(?P<referer>[^"]*)"?\s?"?(?P<useragent>[^"]*)?"?$"#).unwrap();
        let line = r#"11.11.11.11 - frank [25/Jan/2000:14:00:01 -0500] "GET /1986.js HTTP/1.1" 200 932 "-" "Mozilla/5.0""#;
        let c = r.regex.captures(line).unwrap();
        assert_eq!(&c[4], "25/Jan/2000:14:00:01 -0500");
        assert_eq!(&c[8], "200");
        for (pat, text) in [
            (r"\/var\/log\/\-\_\<x\>", "/var/log/-_<x>"),
            (r"[\/\.\<]+", "/.<"),
            (r"\ a", " a"),
            (r"[[:alpha:]]+\pL", "abé"),
            (r"\x{1B}\p{Greek}\P{Greek}\x41", "\u{1b}αbA"),
            (r"\0\101\12", "\0A\n"),
        ] {
            assert!(GoRegex::new(pat).unwrap().regex.is_match(text), "{pat}");
        }
    }

    #[test]
    fn go_error_messages() {
        let cases = [
            (
                "(?P<ts[0-9]+).*",
                "error parsing regexp: invalid named capture: `(?P<ts[0-9]+).*`",
            ),
            (
                "(?P<a-b>x)",
                "error parsing regexp: invalid named capture: `(?P<a-b>`",
            ),
            ("(abc", "error parsing regexp: missing closing ): `(abc`"),
            ("abc)", "error parsing regexp: unexpected ): `abc)`"),
            ("[a-z", "error parsing regexp: missing closing ]: `[a-z`"),
            (
                "*a",
                "error parsing regexp: missing argument to repetition operator: `*`",
            ),
            (
                "a**",
                "error parsing regexp: invalid nested repetition operator: `**`",
            ),
            (
                "a{1001}",
                "error parsing regexp: invalid repeat count: `{1001}`",
            ),
            (
                r"\q",
                "error parsing regexp: invalid escape sequence: `\\q`",
            ),
        ];
        for (pat, want) in cases {
            assert_eq!(GoRegex::new(pat).unwrap_err(), want, "{pat}");
        }
    }

    #[test]
    fn expand_as_go() {
        // Go's Regexp.Expand: numbers, names (first matching group of a duplicate name), `$$`,
        // a `$` with no name kept, `$1x` being the group named `1x`, `$01` a name.
        let r = GoRegex::new(r"(?P<a>x)?(?P<a>y)(?P<b>z)").unwrap();
        let caps = r.regex.captures("yz").unwrap();
        for (tpl, want) in [
            ("$1|$2|${3}", "|y|z"),
            ("$a-$b", "y-z"),
            ("${a}x", "yx"),
            ("$ax", ""),
            ("$$1 $ $- ${", "$1 $ $- ${"),
            ("$1x|$01|$9", "||"),
            ("${b", "${b"),
        ] {
            let mut out = String::new();
            r.expand(&caps, tpl, &mut out);
            assert_eq!(out, want, "{tpl}");
        }
    }

    #[test]
    fn replace_and_find_all_as_go() {
        // Empty matches next to a match are skipped, as Go's ReplaceAllString/FindAllString do.
        let r = GoRegex::new("a*").unwrap();
        assert_eq!(r.replace_all("baaac", "-", false), "-b-c-");
        assert_eq!(r.find_all("baaac", -1), vec![(0, 0), (1, 4), (5, 5)]);
        assert_eq!(r.find_all("baaac", 2), vec![(0, 0), (1, 4)]);
        let r = GoRegex::new(r"(?P<n>\d)").unwrap();
        assert_eq!(r.replace_all("a1٢3", "<$n>", false), "a<1>٢<3>");
        assert_eq!(r.replace_all("a1", "<$n>", true), "a<$n>");
        let r = GoRegex::new("x*").unwrap();
        assert_eq!(r.replace_all("é", "-", false), "-é-");
    }

    #[test]
    fn anchored_as_prometheus() {
        // Prometheus 2.55 relabel: `^(?:...)$`; `.` does not match a newline; the error shows
        // the anchored expression, as Go's does.
        let r = GoRegex::anchored("a.b").unwrap();
        assert!(r.regex.is_match("axb"));
        assert!(!r.regex.is_match("a\nb"));
        assert!(!r.regex.is_match("xaxb"));
        let r = GoRegex::anchored("a|b").unwrap();
        assert!(!r.regex.is_match("ab"));
        assert_eq!(
            GoRegex::anchored("(a").unwrap_err(),
            "error parsing regexp: missing closing ): `^(?:(a)$`"
        );
    }

    #[test]
    fn rust_and_go_differ_table() {
        // (pattern, text, Go's answer): each a case where the regex crate alone answers
        // differently.
        for (pat, text, go) in [
            (r"\d", "٣", false),
            (r"\w", "é", false),
            (r"\s", "\u{a0}", false),
            (r"\s", "\u{b}", false),
            (r"x\b", "xé", true),
            (r"\<", "<", true),
            (r"a{", "a{", true),
            (r"a{,2}", "a{,2}", true),
            (r"\Qa.b\E", "axb", false),
            (r"[a-c&&b]", "&", true),
            (r"[[]", "[", true),
            (r"[~~]", "~", true),
        ] {
            assert_eq!(
                GoRegex::new(pat).unwrap().regex.is_match(text),
                go,
                "{pat} {text:?}"
            );
        }
    }
}
