//! GELF message decoding and Promtail's mapping.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Read;

use serde_json::Value;

use crate::gojson::{write_f64, write_str, write_value};
use crate::GelfError;

/// Payload compression, detected like go-gelf does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Starts with `1f 8b`.
    Gzip,
    /// Starts with `78` and the first two bytes are a multiple of 31.
    Zlib,
    /// Anything else is taken as plain JSON (Graylog compatible).
    None,
}

impl Compression {
    /// Detects the compression from the first bytes.
    pub fn detect(payload: &[u8]) -> Self {
        match payload {
            [0x1f, 0x8b, ..] => Compression::Gzip,
            [0x78, b1, ..] if (0x78u32 * 256 + u32::from(*b1)) % 31 == 0 => Compression::Zlib,
            _ => Compression::None,
        }
    }
}

/// Decompresses a payload, refusing more than `max` output bytes.
pub fn decompress(payload: &[u8], max: usize) -> Result<Cow<'_, [u8]>, GelfError> {
    fn read_capped(mut r: impl Read, max: usize) -> Result<Vec<u8>, GelfError> {
        let mut out = Vec::new();
        let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
        (&mut r)
            .take(limit)
            .read_to_end(&mut out)
            .map_err(|e| GelfError::Decompress(e.to_string()))?;
        if out.len() > max {
            return Err(GelfError::DecompressedTooLarge { max });
        }
        Ok(out)
    }
    match Compression::detect(payload) {
        Compression::Gzip => {
            read_capped(flate2::read::MultiGzDecoder::new(payload), max).map(Cow::Owned)
        }
        Compression::Zlib => {
            read_capped(flate2::read::ZlibDecoder::new(payload), max).map(Cow::Owned)
        }
        Compression::None => Ok(Cow::Borrowed(payload)),
    }
}

/// A GELF message as go-gelf's `Message` holds it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Message {
    /// `version`.
    pub version: String,
    /// `host`.
    pub host: String,
    /// `short_message`.
    pub short_message: String,
    /// `full_message`.
    pub full_message: String,
    /// `timestamp`: seconds since the Unix epoch with decimals (0 when absent).
    pub timestamp: f64,
    /// `level` (a JSON number truncated to `int32`; 0 when absent).
    pub level: i32,
    /// `facility`.
    pub facility: String,
    /// Fields whose name starts with `_`, sorted by name.
    pub extra: BTreeMap<String, Value>,
}

/// Decodes a decompressed payload with go-gelf's `UnmarshalJSON` rules.
/// `Ok(None)` for a JSON `null` (Promtail ignores it).
pub fn decode(json: &[u8]) -> Result<Option<Message>, GelfError> {
    // Go's decoder replaces invalid UTF-8 inside strings with U+FFFD.
    let text = String::from_utf8_lossy(json);
    let mut stream = serde_json::Deserializer::from_str(&text).into_iter::<Value>();
    let value = match stream.next() {
        Some(Ok(v)) => v,
        Some(Err(e)) => return Err(GelfError::Json(e.to_string())),
        None => return Err(GelfError::Json("EOF".into())),
    };
    let obj = match value {
        Value::Null => return Ok(None),
        Value::Object(o) => o,
        other => {
            return Err(GelfError::Json(format!(
                "cannot unmarshal {} into a GELF message",
                kind(&other)
            )))
        }
    };
    let mut m = Message::default();
    for (k, v) in obj {
        if k.is_empty() {
            return Err(GelfError::Json("empty field name".into()));
        }
        if k.starts_with('_') {
            m.extra.insert(k, v);
            continue;
        }
        let bad = || GelfError::Json(format!("invalid type for field {k}"));
        match k.as_str() {
            "version" => m.version = string(v).ok_or_else(bad)?,
            "host" => m.host = string(v).ok_or_else(bad)?,
            "short_message" => m.short_message = string(v).ok_or_else(bad)?,
            "full_message" => m.full_message = string(v).ok_or_else(bad)?,
            "facility" => m.facility = string(v).ok_or_else(bad)?,
            "timestamp" => m.timestamp = v.as_f64().ok_or_else(bad)?,
            "level" => m.level = v.as_f64().ok_or_else(bad)? as i32,
            _ => {}
        }
    }
    Ok(Some(m))
}

fn string(v: Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s),
        _ => None,
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

impl Message {
    /// Promtail's log line: go-gelf `MarshalJSONBuf` with `encoding/json`:
    /// `{"version":..,"host":..,"short_message":..[,"full_message":..],"timestamp":..
    /// [,"level":..][,"facility":..][,extra fields sorted by name]}` where
    /// `full_message`, `level` and `facility` are omitted when empty/zero.
    pub fn promtail_line(&self) -> String {
        let mut out = Vec::with_capacity(
            96 + self.short_message.len() + self.full_message.len() + self.host.len(),
        );
        out.extend_from_slice(b"{\"version\":");
        write_str(&mut out, &self.version);
        out.extend_from_slice(b",\"host\":");
        write_str(&mut out, &self.host);
        out.extend_from_slice(b",\"short_message\":");
        write_str(&mut out, &self.short_message);
        if !self.full_message.is_empty() {
            out.extend_from_slice(b",\"full_message\":");
            write_str(&mut out, &self.full_message);
        }
        out.extend_from_slice(b",\"timestamp\":");
        write_f64(&mut out, self.timestamp);
        if self.level != 0 {
            out.extend_from_slice(b",\"level\":");
            out.extend_from_slice(self.level.to_string().as_bytes());
        }
        if !self.facility.is_empty() {
            out.extend_from_slice(b",\"facility\":");
            write_str(&mut out, &self.facility);
        }
        for (k, v) in &self.extra {
            out.push(b',');
            write_str(&mut out, k);
            out.push(b':');
            write_value(&mut out, v);
        }
        out.push(b'}');
        // Only valid UTF-8 was written.
        String::from_utf8(out).unwrap_or_default()
    }
}

/// Promtail's `SeverityLevels` for `__gelf_message_level` ("" when not 0..=7).
pub fn level_keyword(level: i32) -> &'static str {
    match level {
        0 => "emergency",
        1 => "alert",
        2 => "critical",
        3 => "error",
        4 => "warning",
        5 => "notice",
        6 => "informational",
        7 => "debug",
        _ => "",
    }
}

/// Promtail's discovered labels, empty values omitted (Prometheus' label builder
/// deletes a label set to `""`). Note: a message without `level` has level 0 and
/// gets `emergency`, as in Promtail.
pub fn labels(msg: &Message) -> Vec<(&'static str, &str)> {
    [
        ("__gelf_message_level", level_keyword(msg.level)),
        ("__gelf_message_host", msg.host.as_str()),
        ("__gelf_message_version", msg.version.as_str()),
        ("__gelf_message_facility", msg.facility.as_str()),
    ]
    .into_iter()
    .filter(|(_, v)| !v.is_empty())
    .collect()
}

/// The entry timestamp in Unix nanoseconds: with `use_incoming_timestamp` and a
/// non-zero `timestamp`, `int64(timestamp * 1e9)` (truncated, as Go converts);
/// otherwise `now_nanos`.
pub fn entry_timestamp_nanos(msg: &Message, use_incoming_timestamp: bool, now_nanos: i64) -> i64 {
    if use_incoming_timestamp && msg.timestamp != 0.0 {
        (msg.timestamp * 1e9) as i64
    } else {
        now_nanos
    }
}
