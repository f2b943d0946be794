//! The label string of a pushed stream, `{a="b", c="d"}`, parsed as Loki's `syntax.ParseLabels`
//! parses it (Prometheus' `ParseMetric`): an optional metric name (kept as `__name__`), then a
//! brace-enclosed, comma-separated list of `name="value"` pairs (a trailing comma allowed), values
//! double-quoted or single-quoted with Go escapes, or back-quoted raw. Empty values are removed,
//! as Loki's label builder removes them. Errors read `1:<col>: parse error: <what>` like the
//! Prometheus parser's (the wording of individual messages is ferrotail's).

/// Parses a label string into `(name, value)` pairs in input order (a repeated name keeps its
/// last value).
pub fn parse_labels(s: &str) -> Result<Vec<(String, String)>, String> {
    Parser {
        s: s.as_bytes(),
        text: s,
        i: 0,
    }
    .parse()
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
}

fn is_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

impl Parser<'_> {
    fn err<T>(&self, msg: impl std::fmt::Display) -> Result<T, String> {
        // Columns count characters, 1-based, as the Prometheus lexer reports them.
        let col = self
            .text
            .get(..self.i.min(self.text.len()))
            .map(|p| p.chars().count())
            .unwrap_or(self.i)
            + 1;
        Err(format!("1:{col}: parse error: {msg}"))
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn describe(&self) -> String {
        match self.text.get(self.i..).and_then(|r| r.chars().next()) {
            Some(c) => format!("{c:?}"),
            None => "end of input".into(),
        }
    }

    fn parse(mut self) -> Result<Vec<(String, String)>, String> {
        let mut out: Vec<(String, String)> = Vec::new();
        self.skip_space();
        if self
            .peek()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_' || c == b':')
        {
            let start = self.i;
            while self
                .peek()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
            {
                self.i += 1;
            }
            let name = self.text.get(start..self.i).unwrap_or("");
            out.push(("__name__".into(), name.into()));
            self.skip_space();
            if self.peek().is_none() {
                return Ok(out);
            }
        }
        if self.peek() != Some(b'{') {
            return if self.peek().is_none() {
                self.err("unexpected end of input")
            } else {
                self.err(format!("unexpected character: {}", self.describe()))
            };
        }
        self.i += 1;
        loop {
            self.skip_space();
            match self.peek() {
                Some(b'}') => {
                    self.i += 1;
                    break;
                }
                None => return self.err("unexpected end of input inside braces"),
                Some(c) if is_name_start(c) => {}
                Some(_) => {
                    return self.err(format!(
                        "unexpected character inside braces: {}",
                        self.describe()
                    ))
                }
            }
            let start = self.i;
            while self.peek().is_some_and(is_name_char) {
                self.i += 1;
            }
            let name = self.text.get(start..self.i).unwrap_or("").to_string();
            self.skip_space();
            if self.peek() != Some(b'=') {
                return self.err(format!(
                    "unexpected {} in label matching, expected \"=\"",
                    self.describe()
                ));
            }
            self.i += 1;
            if self.peek() == Some(b'~') {
                return self.err("unexpected \"=~\" in label set, expected \"=\"");
            }
            self.skip_space();
            let value = self.string()?;
            match out.iter_mut().find(|(k, _)| *k == name) {
                Some(slot) => slot.1 = value,
                None => out.push((name, value)),
            }
            self.skip_space();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {}
                None => return self.err("unexpected end of input inside braces"),
                Some(_) => {
                    return self.err(format!(
                        "unexpected {} in label set, expected \",\" or \"}}\"",
                        self.describe()
                    ))
                }
            }
        }
        self.skip_space();
        if self.peek().is_some() {
            return self.err(format!("unexpected {} after label set", self.describe()));
        }
        out.retain(|(_, v)| !v.is_empty());
        Ok(out)
    }

    /// A quoted string: `"..."` or `'...'` with Go escapes, or a raw `` `...` ``.
    fn string(&mut self) -> Result<String, String> {
        let Some(q @ (b'"' | b'\'' | b'`')) = self.peek() else {
            return self.err(format!(
                "unexpected {} in label matching, expected string",
                self.describe()
            ));
        };
        self.i += 1;
        let mut out = String::new();
        loop {
            let start = self.i;
            // Copy the plain run up to the next quote, backslash or end.
            while self
                .peek()
                .is_some_and(|c| c != q && (c != b'\\' || q == b'`') && (c != b'\n' || q == b'`'))
            {
                self.i += 1;
            }
            out.push_str(self.text.get(start..self.i).unwrap_or(""));
            match self.peek() {
                None | Some(b'\n') => return self.err("unterminated quoted string"),
                Some(c) if c == q => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(_) => self.escape(q, &mut out)?,
            }
        }
    }

    fn hex(&mut self, n: usize) -> Result<u32, String> {
        let digits = self.text.get(self.i..self.i + n).unwrap_or("");
        if digits.len() != n || !digits.bytes().all(|c| c.is_ascii_hexdigit()) {
            return self.err("invalid escape sequence");
        }
        self.i += n;
        u32::from_str_radix(digits, 16).or_else(|_| self.err("invalid escape sequence"))
    }

    /// One escape after a backslash (at `self.i`), Go's rules.
    fn escape(&mut self, q: u8, out: &mut String) -> Result<(), String> {
        self.i += 1;
        let Some(c) = self.peek() else {
            return self.err("unterminated quoted string");
        };
        self.i += 1;
        let ch = match c {
            b'a' => '\u{7}',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'v' => '\u{b}',
            b'\\' => '\\',
            c if c == q => c as char,
            b'x' => {
                let v = self.hex(2)?;
                // A byte escape: kept as the character of that code point when it is ASCII;
                // other bytes cannot form valid UTF-8 alone.
                char::from_u32(v).unwrap_or('\u{fffd}')
            }
            b'u' => {
                let v = self.hex(4)?;
                match char::from_u32(v) {
                    Some(c) => c,
                    None => return self.err("invalid escape sequence"),
                }
            }
            b'U' => {
                let v = self.hex(8)?;
                match char::from_u32(v) {
                    Some(c) => c,
                    None => return self.err("invalid escape sequence"),
                }
            }
            b'0'..=b'7' => {
                let digits = self.text.get(self.i - 1..self.i + 2).unwrap_or("");
                if digits.len() != 3 || !digits.bytes().all(|c| (b'0'..=b'7').contains(&c)) {
                    return self.err("invalid escape sequence");
                }
                self.i += 2;
                let v = u32::from_str_radix(digits, 8).unwrap_or(0);
                if v > 255 {
                    return self.err("invalid escape sequence");
                }
                char::from_u32(v).unwrap_or('\u{fffd}')
            }
            _ => return self.err("invalid escape sequence"),
        };
        out.push(ch);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Vec<(String, String)> {
        parse_labels(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn label_sets() {
        let p = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(ok("{}"), p(&[]));
        assert_eq!(
            ok(r#"{job="a", host="b"}"#),
            p(&[("job", "a"), ("host", "b")])
        );
        assert_eq!(ok(r#"{ job = "a" , }"#), p(&[("job", "a")]));
        assert_eq!(ok(r#"{a="x\"y\n\\", b='q\'', c=`r\n`}"#), {
            p(&[("a", "x\"y\n\\"), ("b", "q'"), ("c", "r\\n")])
        });
        assert_eq!(ok(r#"{a="", b="1"}"#), p(&[("b", "1")]), "empty values go");
        assert_eq!(ok(r#"up{a="1"}"#), p(&[("__name__", "up"), ("a", "1")]));
        assert_eq!(ok(r#"{a="\u00e9\x41\101"}"#), p(&[("a", "éAA")]));
        assert_eq!(ok(r#"{a="1", a="2"}"#), p(&[("a", "2")]));
    }

    #[test]
    fn errors_name_the_column() {
        for (s, want) in [
            ("", "1:1: parse error: unexpected end of input"),
            (
                "{a=\"b\"",
                "1:7: parse error: unexpected end of input inside braces",
            ),
            (
                "{a-b=\"c\"}",
                "1:3: parse error: unexpected '-' in label matching",
            ),
            (
                "{a=b}",
                "1:4: parse error: unexpected 'b' in label matching, expected string",
            ),
            ("{a=\"b}", "unterminated quoted string"),
            ("{a=~\"b\"}", "unexpected \"=~\""),
            ("{1=\"b\"}", "unexpected character inside braces: '1'"),
            ("{a=\"b\"} x", "after label set"),
            ("{a=\"\\q\"}", "invalid escape sequence"),
        ] {
            let e = parse_labels(s).unwrap_err();
            assert!(e.contains(want), "{s:?}: {e}");
        }
    }
}
