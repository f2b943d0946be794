//! ferrotail's own log, in Promtail's logfmt (`level=info ts=... caller=... msg="..." k=v`) or JSON.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Output format (`-log.format`: `json`, anything else is logfmt, as in Promtail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `level=info ts=... msg=...`.
    Logfmt,
    /// One JSON object per line, keys sorted.
    Json,
}

/// Installs the global subscriber. `level` is Promtail's `-log.level`.
pub fn init(level: &str, format: &str) -> Result<(), String> {
    let max = parse_level(level)?;
    let fmt = if format == "json" {
        Format::Json
    } else {
        Format::Logfmt
    };
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(max)
        .with_writer(std::io::stderr)
        .event_format(PromtailFormat(fmt))
        .finish();
    // A second init (tests, reload) keeps the first subscriber.
    let _ = tracing::subscriber::set_global_default(subscriber);
    Ok(())
}

/// Parses `debug|info|warn|error`, with Promtail's message for anything else.
pub fn parse_level(level: &str) -> Result<Level, String> {
    match level {
        "debug" => Ok(Level::DEBUG),
        "info" => Ok(Level::INFO),
        "warn" => Ok(Level::WARN),
        "error" => Ok(Level::ERROR),
        other => Err(format!("unrecognized log level {other:?}")),
    }
}

struct PromtailFormat(Format);

#[derive(Default)]
struct Fields {
    msg: String,
    kv: Vec<(String, String)>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.msg = value.to_string();
        } else {
            self.kv.push((field.name().to_string(), value.to_string()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let v = format!("{value:?}");
        if field.name() == "message" {
            self.msg = v;
        } else {
            self.kv.push((field.name().to_string(), v));
        }
    }
}

/// `s` with the password of every URL in it shown as `***`, as Go's HTTP client shows it in
/// errors (`http://user:***@host/`): a URL with user info (a client `url`, a Docker `host`, a
/// Kubernetes `api_server`) may end up in any message or error.
pub fn redact_url_passwords(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains("://") {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        // The authority ends at the first `/`, `?`, `#`, whitespace or quote.
        let end = tail
            .find(|c: char| {
                matches!(c, '/' | '?' | '#' | '"' | '\'' | ')' | ']') || c.is_whitespace()
            })
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                match userinfo.find(':') {
                    Some(colon) => {
                        out.push_str(&userinfo[..colon]);
                        out.push_str(":***");
                    }
                    None => out.push_str(userinfo),
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

fn logfmt_value(out: &mut String, v: &str) {
    let v = &*redact_url_passwords(v);
    let needs_quote = v.is_empty()
        || v.chars()
            .any(|c| c == ' ' || c == '=' || c == '"' || c.is_control());
    if needs_quote {
        let _ = write!(out, "{v:?}");
    } else {
        out.push_str(v);
    }
}

impl<S, N> FormatEvent<S, N> for PromtailFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let meta = event.metadata();
        let level = match *meta.level() {
            Level::ERROR => "error",
            Level::WARN => "warn",
            Level::INFO => "info",
            _ => "debug",
        };
        let ts = chrono::Utc::now()
            .format("%Y-%m-%dT%H:%M:%S%.9fZ")
            .to_string();
        let file = meta
            .file()
            .map(|f| f.rsplit('/').next().unwrap_or(f))
            .unwrap_or("?");
        let caller = format!("{file}:{}", meta.line().unwrap_or(0));
        let mut out = String::with_capacity(128);
        match self.0 {
            Format::Logfmt => {
                let _ = write!(out, "level={level} ts={ts} caller={caller} msg=");
                logfmt_value(&mut out, &fields.msg);
                for (k, v) in &fields.kv {
                    let _ = write!(out, " {k}=");
                    logfmt_value(&mut out, v);
                }
            }
            Format::Json => {
                let mut map = std::collections::BTreeMap::new();
                map.insert("caller".to_string(), caller);
                map.insert("level".to_string(), level.to_string());
                map.insert(
                    "msg".to_string(),
                    redact_url_passwords(&fields.msg).into_owned(),
                );
                map.insert("ts".to_string(), ts);
                for (k, v) in fields.kv {
                    map.insert(k, redact_url_passwords(&v).into_owned());
                }
                out = serde_json::to_string(&map).map_err(|_| fmt::Error)?;
            }
        }
        writeln!(writer, "{out}")
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url_passwords;

    #[test]
    fn url_passwords_are_hidden_wherever_they_are() {
        for (input, want) in [
            ("no url here", "no url here"),
            ("http://host:3100/push", "http://host:3100/push"),
            ("http://user@host/x", "http://user@host/x"),
            (
                "Post \"http://alice:s3cr3t@loki:3100/push\": refused",
                "Post \"http://alice:***@loki:3100/push\": refused",
            ),
            (
                "a tcp://d:p@h:1 and https://e:q:r@k8s/api?x=1",
                "a tcp://d:***@h:1 and https://e:***@k8s/api?x=1",
            ),
            ("for url (http://u:p@h)", "for url (http://u:***@h)"),
        ] {
            assert_eq!(redact_url_passwords(input), want, "{input}");
        }
    }
}
