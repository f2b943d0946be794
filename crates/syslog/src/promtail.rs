//! Promtail 3.4.6's mapping of a parsed message to labels, line and timestamp
//! (`syslogtarget.go`, `transport.go`).
//!
//! * Every message parsing error drops the message (`promtail_syslog_parsing_errors_total`).
//! * A message whose MSG is empty/absent is dropped
//!   (`promtail_syslog_empty_messages_total`): [`line`] returns `None`.
//! * Labels: the connection labels `__syslog_connection_ip_address` and
//!   `__syslog_connection_hostname` (reverse DNS names joined with `,`), then
//!   `__syslog_message_severity` (go-syslog keyword: `emergency`, `alert`,
//!   `critical`, `error`, `warning`, `notice`, `informational`, `debug`),
//!   `__syslog_message_facility` (`kern`, ..., `local7`), `__syslog_message_hostname`,
//!   `__syslog_message_app_name`, `__syslog_message_proc_id`,
//!   `__syslog_message_msg_id`, and with `label_structured_data` (RFC 5424 only)
//!   `__syslog_message_sd_<ID>_<NAME>` where only `@` of the SD-ID is replaced by `_`
//!   (`[example@99999 test="yes"]` → `__syslog_message_sd_example_99999_test`).
//!   Prometheus' label builder drops a label set to `""`, so empty values are
//!   omitted (e.g. a failed reverse lookup, an SD param `x=""`).
//! * Line: MSG; for RFC 5424 with `use_rfc5424_message`, go-syslog's `String()`
//!   re-serialisation: `<PRI>VERSION TIMESTAMP HOSTNAME APP PROCID MSGID SD[ MSG]`,
//!   nil fields as `-`, timestamp as `2006-01-02T15:04:05.999999Z07:00`, SD elements
//!   sorted by ID and params sorted by name (one per name, the last one), values
//!   re-escaped (`"`, `\`, `]`). RFC 3164 ignores `use_rfc5424_message`.
//! * Timestamp: the message's when `use_incoming_timestamp` and it has one, else
//!   the reception time.

use std::borrow::Cow;

use crate::message::{Message, Timestamp};

/// `syslog_format` of the scrape config.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SyslogFormat {
    /// `rfc5424` (default).
    #[default]
    Rfc5424,
    /// `rfc3164`.
    Rfc3164,
}

impl SyslogFormat {
    /// Parses the config value (`""` means the default `rfc5424`).
    pub fn from_config(s: &str) -> Option<Self> {
        match s {
            "" | "rfc5424" => Some(SyslogFormat::Rfc5424),
            "rfc3164" => Some(SyslogFormat::Rfc3164),
            _ => None,
        }
    }
}

/// Inputs of the label mapping.
#[derive(Debug, Clone, Copy, Default)]
pub struct LabelOptions<'a> {
    /// `label_structured_data`.
    pub label_structured_data: bool,
    /// Peer IP as Go prints it (`127.0.0.1`, `::1`).
    pub connection_ip: Option<&'a str>,
    /// Reverse-DNS names of the peer joined with `,` (empty when the lookup fails).
    pub connection_hostname: Option<&'a str>,
}

/// Calls `f(name, value)` for every label Promtail sets, in Promtail's order,
/// skipping empty values. SD label names are built in a reused buffer.
pub fn visit_labels(msg: &Message<'_>, opts: &LabelOptions<'_>, mut f: impl FnMut(&str, &str)) {
    let mut set = |k: &str, v: &str| {
        if !v.is_empty() {
            f(k, v)
        }
    };
    if let Some(ip) = opts.connection_ip {
        set("__syslog_connection_ip_address", ip);
    }
    if let Some(h) = opts.connection_hostname {
        set("__syslog_connection_hostname", h);
    }
    set("__syslog_message_severity", msg.severity_level());
    set("__syslog_message_facility", msg.facility_level());
    if let Some(v) = msg.hostname {
        set("__syslog_message_hostname", v);
    }
    if let Some(v) = msg.app_name {
        set("__syslog_message_app_name", v);
    }
    if let Some(v) = msg.proc_id {
        set("__syslog_message_proc_id", v);
    }
    if let Some(v) = msg.msg_id {
        set("__syslog_message_msg_id", v);
    }
    if opts.label_structured_data {
        if let Some(sd) = &msg.structured_data {
            let mut key = String::with_capacity(64);
            for el in sd {
                for (name, value) in &el.params {
                    key.clear();
                    key.push_str("__syslog_message_sd_");
                    for ch in el.id.chars() {
                        key.push(if ch == '@' { '_' } else { ch });
                    }
                    key.push('_');
                    key.push_str(name);
                    set(&key, value);
                }
            }
        }
    }
}

/// The labels as owned pairs (later duplicates override earlier ones, as in
/// Prometheus' label builder).
pub fn labels(msg: &Message<'_>, opts: &LabelOptions<'_>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::with_capacity(8);
    visit_labels(msg, opts, |k, v| {
        if let Some(slot) = out.iter_mut().find(|(n, _)| n == k) {
            slot.1 = v.to_string();
        } else {
            out.push((k.to_string(), v.to_string()));
        }
    });
    out
}

/// The log line, or `None` when Promtail drops the message as empty.
pub fn line<'a>(
    msg: &Message<'a>,
    format: SyslogFormat,
    use_rfc5424_message: bool,
) -> Option<Cow<'a, [u8]>> {
    let m = msg.message?;
    if use_rfc5424_message && format == SyslogFormat::Rfc5424 {
        return Some(Cow::Owned(rfc5424_string(msg)));
    }
    Some(Cow::Borrowed(m))
}

/// The entry timestamp: the message's with `use_incoming_timestamp` when present,
/// else `now`.
pub fn entry_timestamp(
    msg: &Message<'_>,
    use_incoming_timestamp: bool,
    now: Timestamp,
) -> Timestamp {
    match msg.timestamp {
        Some(ts) if use_incoming_timestamp => ts,
        _ => now,
    }
}

/// go-syslog `rfc5424.SyslogMessage.String()`.
pub fn rfc5424_string(msg: &Message<'_>) -> Vec<u8> {
    use std::io::Write;
    let mut out = Vec::with_capacity(64 + msg.message.map_or(0, <[u8]>::len));
    let _ = write!(out, "<{}>{} ", msg.priority, msg.version);
    match msg.timestamp {
        Some(ts) => ts.write_rfc3339_micro(&mut out),
        None => out.push(b'-'),
    }
    for f in [msg.hostname, msg.app_name, msg.proc_id, msg.msg_id] {
        out.push(b' ');
        out.extend_from_slice(f.unwrap_or("-").as_bytes());
    }
    out.push(b' ');
    match &msg.structured_data {
        None => out.push(b'-'),
        Some(sd) => {
            let mut els: Vec<_> = sd.iter().collect();
            els.sort_by(|a, b| a.id.cmp(b.id));
            for el in els {
                out.push(b'[');
                out.extend_from_slice(el.id.as_bytes());
                // Last value per name, names sorted.
                let mut params: Vec<(&str, &str)> = Vec::with_capacity(el.params.len());
                for (n, v) in &el.params {
                    if let Some(p) = params.iter_mut().find(|(pn, _)| pn == n) {
                        p.1 = v;
                    } else {
                        params.push((n, v));
                    }
                }
                params.sort_by(|a, b| a.0.cmp(b.0));
                for (n, v) in params {
                    out.push(b' ');
                    out.extend_from_slice(n.as_bytes());
                    out.extend_from_slice(b"=\"");
                    for &b in v.as_bytes() {
                        if matches!(b, b'"' | b'\\' | b']') {
                            out.push(b'\\');
                        }
                        out.push(b);
                    }
                    out.push(b'"');
                }
                out.push(b']');
            }
        }
    }
    if let Some(m) = msg.message {
        out.push(b' ');
        out.extend_from_slice(m);
    }
    out
}
