//! The `logfmt` stage: extracts mapped keys of a logfmt line (go-logfmt v0.6.0 semantics).

use crate::pipeline::{BuildCtx, Entry, Stage, Value};
use gocompat::mapstructure::StructCfg;
use gocompat::yaml::Node;

/// `bufio.Scanner`'s maximum token size: a longer record is an error.
const MAX_RECORD: usize = 64 * 1024;

/// A logfmt syntax error (parsing stops; pairs already seen stay extracted).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct LogfmtError(pub &'static str);

/// Decodes a quoted value containing escapes (encoding/json's `unquote` rules).
fn unquote(body: &str) -> Option<String> {
    let b = body.as_bytes();
    let mut out = String::with_capacity(b.len());
    let mut i = 0;
    let hex4 = |i: usize| -> Option<u32> {
        let h = body.get(i..i + 4)?;
        u32::from_str_radix(h, 16)
            .ok()
            .filter(|_| h.bytes().all(|c| c.is_ascii_hexdigit()))
    };
    while i < b.len() {
        let c = b[i];
        match c {
            b'\\' => {
                let n = *b.get(i + 1)?;
                i += 2;
                match n {
                    b'\'' => out.push('\''),
                    b'u' => {
                        let r = hex4(i)?;
                        i += 4;
                        if (0xD800..0xE000).contains(&r) {
                            let pair = if body.get(i..i + 2) == Some("\\u") {
                                hex4(i + 2)
                            } else {
                                None
                            };
                            match pair {
                                Some(r2)
                                    if (0xD800..0xDC00).contains(&r)
                                        && (0xDC00..0xE000).contains(&r2) =>
                                {
                                    let cp = 0x10000 + ((r - 0xD800) << 10) + (r2 - 0xDC00);
                                    out.push(char::from_u32(cp).unwrap_or('\u{FFFD}'));
                                    i += 6;
                                }
                                _ => out.push('\u{FFFD}'),
                            }
                        } else {
                            out.push(char::from_u32(r).unwrap_or('\u{FFFD}'));
                        }
                    }
                    _ => out.push(gocompat::json::short_escape(n)?),
                }
            }
            b'"' => return None,
            c if c < b' ' => return None,
            _ => {
                let ch = body[i..].chars().next()?;
                out.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    Some(out)
}

/// Scans every `key=value` pair of `input`, calling `f(key, value)`; stops at the first syntax
/// error, which is returned.
pub(crate) fn scan(input: &str, mut f: impl FnMut(&str, &str)) -> Result<(), LogfmtError> {
    let mut rest = input;
    while !rest.is_empty() {
        let (raw, next) = match rest.find('\n') {
            Some(n) => (&rest[..n], &rest[n + 1..]),
            None => (rest, ""),
        };
        if raw.len() >= MAX_RECORD {
            return Err(LogfmtError("bufio.Scanner: token too long"));
        }
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        scan_record(line, &mut f)?;
        rest = next;
    }
    Ok(())
}

fn scan_record(line: &str, f: &mut impl FnMut(&str, &str)) -> Result<(), LogfmtError> {
    let b = line.as_bytes();
    let mut pos = 0;
    loop {
        // Garbage: bytes <= ' '.
        while pos < b.len() && b[pos] <= b' ' {
            pos += 1;
        }
        if pos >= b.len() {
            return Ok(());
        }
        // Key.
        let start = pos;
        let mut has_eq = false;
        while pos < b.len() {
            let c = b[pos];
            if c == b'=' {
                has_eq = true;
                break;
            }
            if c == b'"' {
                return Err(LogfmtError("unexpected '\"'"));
            }
            if c <= b' ' {
                break;
            }
            pos += 1;
        }
        let key = &line[start..pos];
        if key.contains('\u{FFFD}') {
            return Err(LogfmtError("invalid key"));
        }
        if !has_eq {
            f(key, "");
            continue;
        }
        if key.is_empty() {
            return Err(LogfmtError("unexpected '='"));
        }
        pos += 1; // '='
        if pos >= b.len() || b[pos] <= b' ' {
            f(key, "");
            continue;
        }
        if b[pos] == b'"' {
            let qstart = pos;
            let mut esc = false;
            let mut has_esc = false;
            let mut end = None;
            for (p, &c) in b[pos + 1..].iter().enumerate() {
                if esc {
                    esc = false;
                } else if c == b'\\' {
                    has_esc = true;
                    esc = true;
                } else if c == b'"' {
                    end = Some(pos + 1 + p);
                    break;
                }
            }
            let Some(end) = end else {
                return Err(LogfmtError("unterminated quoted value"));
            };
            let body = &line[qstart + 1..end];
            pos = end + 1;
            if has_esc {
                let v = unquote(body).ok_or(LogfmtError("invalid quoted value"))?;
                f(key, &v);
            } else {
                f(key, body);
            }
            continue;
        }
        let vstart = pos;
        while pos < b.len() {
            let c = b[pos];
            if c == b'=' || c == b'"' {
                return Err(LogfmtError("unexpected byte in value"));
            }
            if c <= b' ' {
                break;
            }
            pos += 1;
        }
        f(key, &line[vstart..pos]);
    }
}

/// The built stage.
pub struct LogfmtStage {
    /// logfmt key → extracted key.
    inverse: Vec<(String, String)>,
    source: Option<String>,
}

impl Stage for LogfmtStage {
    fn name(&self) -> &'static str {
        "logfmt"
    }

    fn process(&mut self, mut e: Entry, out: &mut Vec<Entry>) {
        let owned;
        let input: &str = match &self.source {
            None => &e.line,
            Some(src) => match e.extracted.get(src).map(Value::to_go_string) {
                Some(Some(s)) => {
                    owned = s;
                    &owned
                }
                _ => {
                    out.push(e);
                    return;
                }
            },
        };
        let extracted = &mut e.extracted;
        let inverse = &self.inverse;
        let r = scan(input, |k, v| {
            if let Some((_, to)) = inverse.iter().find(|(from, _)| from == k) {
                extracted.insert(to.clone(), Value::Str(v.to_string()));
            }
        });
        if let Err(err) = r {
            tracing::error!(err = err.0, "failed to decode logfmt");
        }
        out.push(e);
    }
}

/// Builds the stage from its config.
pub fn build(ctx: &mut BuildCtx, config: &Node) -> Result<Box<dyn Stage>, String> {
    let mut cfg = StructCfg::new(
        ctx.warnings,
        "logfmt",
        config,
        false,
        &["mapping", "source"],
    )?;
    let mapping = cfg.string_map("mapping").unwrap_or_default();
    let source = cfg.string("source");
    cfg.finish()?;
    if mapping.is_empty() {
        return Err("logfmt mapping is required".into());
    }
    if source.as_deref() == Some("") {
        return Err("empty source".into());
    }
    let mut inverse: Vec<(String, String)> = Vec::new();
    for (to, from) in mapping {
        let from = match from {
            Some(f) if !f.is_empty() => f,
            _ => to.clone(),
        };
        inverse.retain(|(f, _)| *f != from);
        inverse.push((from, to));
    }
    Ok(Box::new(LogfmtStage { inverse, source }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Labels;
    use gocompat::yaml::parse;

    fn pairs(input: &str) -> (Vec<(String, String)>, bool) {
        let mut v = Vec::new();
        let r = scan(input, |k, val| v.push((k.to_string(), val.to_string())));
        (v, r.is_ok())
    }

    fn p(k: &str, v: &str) -> (String, String) {
        (k.into(), v.into())
    }

    #[test]
    fn parser_table() {
        type Case<'a> = (&'a str, Vec<(String, String)>, bool);
        let cases: Vec<Case> = vec![
            ("a=1 b=2", vec![p("a", "1"), p("b", "2")], true),
            ("a=1\nb=2", vec![p("a", "1"), p("b", "2")], true),
            ("b", vec![p("b", "")], true),
            ("k=", vec![p("k", "")], true),
            ("a=1 b=x=y c=3", vec![p("a", "1")], false),
            ("k=v =x", vec![p("k", "v")], false),
            ("a=\"unterminated b=2", vec![], false),
            (
                r#"m="hello \"world\"\tTAB \u00e9""#,
                vec![p("m", "hello \"world\"\tTAB é")],
                true,
            ),
            (r#"m="raw\q""#, vec![], false),
            (
                "m=\"no escapes\ttab\"",
                vec![p("m", "no escapes\ttab")],
                true,
            ),
            ("k\"x=1", vec![], false),
            ("a=1\r\nb=2\r", vec![p("a", "1"), p("b", "2")], true),
        ];
        for (input, want, ok) in cases {
            assert_eq!(pairs(input), (want, ok), "{input:?}");
        }
        let long = format!("a=1 b={}", "x".repeat(70_000));
        assert_eq!(pairs(&long), (vec![], false));
    }

    fn run(yaml: &str, line: &str) -> Entry {
        let mut w = Vec::new();
        let mut ctx = BuildCtx {
            job: "t",
            warnings: &mut w,
            base_dir: None,
        };
        let mut s = build(&mut ctx, &parse(yaml).unwrap()).unwrap();
        let mut out = Vec::new();
        s.process(Entry::new(Labels::new(), 0, line.into()), &mut out);
        out.remove(0)
    }

    #[test]
    fn documented_example() {
        // Docs: `mapping: {timestamp: time, app:, duration:, unknown:}` on
        // `time=2012-11-01T22:08:41+00:00 app=loki level=WARN duration=125 message="this is a log line" extra="user=foo"`.
        let e = run(
            "mapping:\n  timestamp: time\n  app:\n  duration:\n  unknown:\n",
            r#"time=2012-11-01T22:08:41+00:00 app=loki level=WARN duration=125 message="this is a log line" extra="user=foo""#,
        );
        let x = &e.extracted;
        assert_eq!(
            x["timestamp"],
            Value::Str("2012-11-01T22:08:41+00:00".into())
        );
        assert_eq!(x["app"], Value::Str("loki".into()));
        assert_eq!(x["duration"], Value::Str("125".into()));
        assert!(!x.contains_key("unknown"));
        assert!(!x.contains_key("level"));
    }

    #[test]
    fn errors() {
        let mut w = Vec::new();
        let mut ctx = BuildCtx {
            job: "t",
            warnings: &mut w,
            base_dir: None,
        };
        assert_eq!(
            build(&mut ctx, &parse("{}").unwrap()).err().unwrap(),
            "logfmt mapping is required"
        );
        assert_eq!(
            build(&mut ctx, &parse("mapping: {a:}\nsource: ''\n").unwrap())
                .err()
                .unwrap(),
            "empty source"
        );
    }
}
