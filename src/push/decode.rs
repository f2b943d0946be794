//! A push request's body, decoded as Loki's `ParseLokiRequest` decodes it: the
//! `Content-Encoding` (none, `snappy`, `gzip`, raw `deflate`), then by `Content-Type` either
//! Loki's JSON push format or a snappy-compressed protobuf `PushRequest`. Pure: no IO, no clock.
//!
//! Every size is capped ([`Limits`]): the decompressed body (gzip/deflate output, snappy's
//! declared length) may not exceed `max_decompressed`, so a compression bomb is refused before
//! its output is allocated.

use std::io::Read;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

/// Caps applied while decoding.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most bytes a body may decompress to (gzip, deflate, snappy).
    pub max_decompressed: usize,
}

/// Why a body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Larger than the caps (HTTP 413).
    TooLarge(String),
    /// Malformed (HTTP 400), with Loki's reason where it has one.
    Bad(String),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::TooLarge(s) | DecodeError::Bad(s) => f.write_str(s),
        }
    }
}

/// One stream of a request: its label string as sent, and its entries.
#[derive(Debug, Default, PartialEq)]
pub struct RawStream {
    /// The label string, `{a="b"}` (JSON streams are rendered into this form, as Loki does).
    pub labels: String,
    /// The entries.
    pub entries: Vec<RawEntry>,
}

/// One entry of a stream.
#[derive(Debug, Default, PartialEq)]
pub struct RawEntry {
    /// Unix nanoseconds.
    pub timestamp: i64,
    /// The line.
    pub line: String,
    /// Structured metadata, in the order sent.
    pub structured_metadata: Vec<(String, String)>,
}

/// What a decoded request is handed to, stream by stream and entry by entry, so no copy of the
/// whole decoded request is ever held beside the entries made from it.
pub trait Sink {
    /// A stream starts, with its label string (`{a="b"}`). `Ok(false)`: its entries are not
    /// wanted (they are still checked, then counted with [`Sink::skipped`]); `Err` refuses the
    /// whole request with the message.
    fn stream(&mut self, labels: &str) -> Result<bool, String>;
    /// One entry of the current (wanted) stream.
    fn entry(&mut self, timestamp: i64, line: String, structured_metadata: Vec<(String, String)>);
    /// One entry of the current stream that was not wanted.
    fn skipped(&mut self);
}

/// Bytes a body decompresses to, when known before decompressing: its own length without an
/// encoding (JSON), snappy's declared length (protobuf); `None` for gzip and deflate.
pub fn decoded_size_hint(content_encoding: &str, content_type: &str, body: &[u8]) -> Option<usize> {
    match content_encoding {
        "" | "snappy" => {
            if media_type(content_type).is_ok_and(|m| m == "application/json") {
                Some(body.len())
            } else {
                Some(snap::raw::decompress_len(body).unwrap_or(0).max(body.len()))
            }
        }
        "gzip" | "deflate" => None,
        _ => Some(0),
    }
}

/// Go's `mime.ParseMediaType`, the media type only (lower-cased, parameters dropped).
fn media_type(v: &str) -> Result<String, String> {
    let base = v.split(';').next().unwrap_or("").trim();
    if base.is_empty() {
        return Err("mime: no media type".into());
    }
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|c| c.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&c))
    };
    let Some((major, minor)) = base.split_once('/') else {
        return if token(base) {
            Err("mime: expected slash after first token".into())
        } else {
            Err("mime: expected token after slash".into())
        };
    };
    if !token(major) {
        return Err("mime: expected token after slash".into());
    }
    if !token(minor) {
        return Err("mime: expected token after slash".into());
    }
    Ok(base.to_ascii_lowercase())
}

fn read_capped(r: impl Read, max: usize, what: &str, out: &mut Vec<u8>) -> Result<(), DecodeError> {
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    r.take(limit)
        .read_to_end(out)
        .map_err(|e| DecodeError::Bad(format!("{what}: {e}")))?;
    if out.len() > max {
        return Err(DecodeError::TooLarge(format!(
            "{what} body larger than {max} bytes when decompressed"
        )));
    }
    Ok(())
}

/// Decodes a push body into `sink`. `content_encoding` and `content_type` are the header values
/// ("" when absent); `scratch` is a reusable buffer for the decompressed body (its contents are
/// replaced). Returns the number of bytes the body decompressed to (for memory accounting).
pub fn decode(
    content_encoding: &str,
    content_type: &str,
    body: &[u8],
    limits: Limits,
    scratch: &mut Vec<u8>,
    sink: &mut dyn Sink,
) -> Result<usize, DecodeError> {
    let max = limits.max_decompressed;
    scratch.clear();
    let inflated = match content_encoding {
        "" | "snappy" => {
            if body.len() > max {
                return Err(DecodeError::TooLarge(format!(
                    "body larger than {max} bytes"
                )));
            }
            false
        }
        "gzip" => {
            if body.len() < 10 {
                return Err(DecodeError::Bad(if body.is_empty() {
                    "EOF".into()
                } else {
                    "unexpected EOF".into()
                }));
            }
            if body.get(..2) != Some(&[0x1f, 0x8b][..]) {
                return Err(DecodeError::Bad("gzip: invalid header".into()));
            }
            read_capped(
                flate2::read::MultiGzDecoder::new(body),
                max,
                "gzip",
                scratch,
            )?;
            true
        }
        "deflate" => {
            read_capped(
                flate2::read::DeflateDecoder::new(body),
                max,
                "deflate",
                scratch,
            )?;
            true
        }
        other => {
            return Err(DecodeError::Bad(format!(
                "Content-Encoding {:?} not supported",
                other
            )))
        }
    };
    let media = media_type(content_type).map_err(DecodeError::Bad)?;
    if media == "application/json" {
        let plain: &[u8] = if inflated { scratch } else { body };
        decode_json(plain, sink)?;
        Ok(plain.len())
    } else if inflated {
        // The inflated bytes are snappy-compressed protobuf in turn.
        let compressed = std::mem::take(scratch);
        let r = decode_proto(&compressed, max, scratch, sink);
        *scratch = compressed;
        r
    } else {
        decode_proto(body, max, scratch, sink)
    }
}

// ---- protobuf -------------------------------------------------------------------------------
//
// `logproto.PushRequest` read in place from the decompressed bytes, with the rules prost applies
// to these messages (the test oracle): unknown fields skipped (groups too), a known field with
// the wrong wire type refused, the last value of a repeated scalar field kept, an embedded
// timestamp merged, Go's byte strings kept (lines that are not UTF-8 are made valid with
// replacement characters instead of failing the request).
//
//   PushRequest { repeated StreamAdapter streams = 1; }
//   StreamAdapter { string labels = 1; repeated EntryAdapter entries = 2; uint64 hash = 3; }
//   EntryAdapter { Timestamp timestamp = 1; string line = 2;
//                  repeated LabelPairAdapter structured_metadata = 3; (parsed = 4) }
//   LabelPairAdapter { string name = 1; string value = 2; }
//   Timestamp { int64 seconds = 1; int32 nanos = 2; }

/// Nesting allowed (prost's recursion limit).
const RECURSION_LIMIT: u32 = 100;

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const BYTES: u8 = 2;
const START_GROUP: u8 = 3;
const END_GROUP: u8 = 4;
const FIXED32: u8 = 5;

fn proto_err(what: &str) -> DecodeError {
    DecodeError::Bad(format!("proto: {what}"))
}

fn varint(buf: &mut &[u8]) -> Result<u64, DecodeError> {
    let mut v: u64 = 0;
    for i in 0..10 {
        let Some((&b, rest)) = buf.split_first() else {
            break;
        };
        *buf = rest;
        if i == 9 && b > 1 {
            break;
        }
        v |= u64::from(b & 0x7F) << (7 * i);
        if b < 0x80 {
            return Ok(v);
        }
    }
    Err(proto_err("invalid varint"))
}

/// The next field's tag and wire type.
fn key(buf: &mut &[u8]) -> Result<(u32, u8), DecodeError> {
    let k = varint(buf)?;
    let k = u32::try_from(k).map_err(|_| proto_err(&format!("invalid key value: {k}")))?;
    let wire = (k & 7) as u8;
    if wire > FIXED32 {
        return Err(proto_err(&format!("invalid wire type value: {wire}")));
    }
    let tag = k >> 3;
    if tag == 0 {
        return Err(proto_err("invalid tag value: 0"));
    }
    Ok((tag, wire))
}

fn take<'a>(buf: &mut &'a [u8], n: u64) -> Result<&'a [u8], DecodeError> {
    let n = usize::try_from(n).map_err(|_| proto_err("buffer underflow"))?;
    if n > buf.len() {
        return Err(proto_err("buffer underflow"));
    }
    let (head, rest) = buf.split_at(n);
    *buf = rest;
    Ok(head)
}

/// A length-delimited field's bytes.
fn bytes<'a>(buf: &mut &'a [u8]) -> Result<&'a [u8], DecodeError> {
    let n = varint(buf)?;
    take(buf, n)
}

fn expect(wire: u8, want: u8) -> Result<(), DecodeError> {
    if wire == want {
        Ok(())
    } else {
        Err(proto_err(&format!(
            "invalid wire type: {wire} (expected {want})"
        )))
    }
}

/// The nesting allowed inside a message field read at `depth`.
fn nested(depth: u32) -> Result<u32, DecodeError> {
    depth
        .checked_sub(1)
        .ok_or_else(|| proto_err("recursion limit reached"))
}

/// Skips an unknown field (`depth`: nesting still allowed).
fn skip(wire: u8, tag: u32, buf: &mut &[u8], depth: u32) -> Result<(), DecodeError> {
    if depth == 0 {
        return Err(proto_err("recursion limit reached"));
    }
    match wire {
        VARINT => varint(buf).map(drop),
        FIXED64 => take(buf, 8).map(drop),
        FIXED32 => take(buf, 4).map(drop),
        BYTES => bytes(buf).map(drop),
        START_GROUP => loop {
            let (inner, w) = key(buf)?;
            if w == END_GROUP {
                if inner != tag {
                    return Err(proto_err("unexpected end group tag"));
                }
                return Ok(());
            }
            skip(w, inner, buf, depth - 1)?;
        },
        _ => Err(proto_err("unexpected end group tag")),
    }
}

/// Bytes as a string, invalid UTF-8 replaced.
fn text(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(b).into_owned(),
    }
}

/// A `Timestamp`, merged into `(seconds, nanos)`.
fn timestamp(mut buf: &[u8], ts: &mut (i64, i32), depth: u32) -> Result<(), DecodeError> {
    while !buf.is_empty() {
        let (tag, wire) = key(&mut buf)?;
        match tag {
            1 => {
                expect(wire, VARINT)?;
                ts.0 = varint(&mut buf)? as i64;
            }
            2 => {
                expect(wire, VARINT)?;
                ts.1 = varint(&mut buf)? as i32;
            }
            _ => skip(wire, tag, &mut buf, depth)?,
        }
    }
    Ok(())
}

/// A `LabelPairAdapter`: its last name and value.
fn pair(mut buf: &[u8], depth: u32) -> Result<(&[u8], &[u8]), DecodeError> {
    let (mut name, mut value): (&[u8], &[u8]) = (b"", b"");
    while !buf.is_empty() {
        let (tag, wire) = key(&mut buf)?;
        match tag {
            1 => {
                expect(wire, BYTES)?;
                name = bytes(&mut buf)?;
            }
            2 => {
                expect(wire, BYTES)?;
                value = bytes(&mut buf)?;
            }
            _ => skip(wire, tag, &mut buf, depth)?,
        }
    }
    Ok((name, value))
}

/// An `EntryAdapter`, handed to `sink` when `wanted`. `pairs` is scratch space; `depth` is
/// the nesting still allowed inside it, as for every reader here.
fn entry<'a>(
    mut buf: &'a [u8],
    depth: u32,
    pairs: &mut Vec<(&'a [u8], &'a [u8])>,
    wanted: bool,
    sink: &mut dyn Sink,
) -> Result<(), DecodeError> {
    let mut ts: Option<(i64, i32)> = None;
    let mut line: &[u8] = b"";
    pairs.clear();
    while !buf.is_empty() {
        let (tag, wire) = key(&mut buf)?;
        match tag {
            1 => {
                expect(wire, BYTES)?;
                let b = bytes(&mut buf)?;
                timestamp(b, ts.get_or_insert((0, 0)), nested(depth)?)?;
            }
            2 => {
                expect(wire, BYTES)?;
                line = bytes(&mut buf)?;
            }
            3 => {
                expect(wire, BYTES)?;
                let b = bytes(&mut buf)?;
                pairs.push(pair(b, nested(depth)?)?);
            }
            _ => skip(wire, tag, &mut buf, depth)?,
        }
    }
    if !wanted {
        sink.skipped();
        return Ok(());
    }
    let timestamp = ts.map_or(0, |(s, n)| {
        s.saturating_mul(1_000_000_000).saturating_add(i64::from(n))
    });
    let mut meta = Vec::with_capacity(pairs.len());
    meta.extend(pairs.iter().map(|(k, v)| (text(k), text(v))));
    sink.entry(timestamp, text(line), meta);
    Ok(())
}

/// A `StreamAdapter`: its labels first (the last `labels` field, wherever it is), then its
/// entries in order.
fn stream(buf: &[u8], depth: u32, sink: &mut dyn Sink) -> Result<(), DecodeError> {
    let mut labels: &[u8] = b"";
    let mut scan = buf;
    while !scan.is_empty() {
        let (tag, wire) = key(&mut scan)?;
        match tag {
            1 => {
                expect(wire, BYTES)?;
                labels = bytes(&mut scan)?;
            }
            2 => {
                expect(wire, BYTES)?;
                bytes(&mut scan)?;
            }
            _ => skip(wire, tag, &mut scan, depth)?,
        }
    }
    let wanted = sink.stream(&text(labels)).map_err(DecodeError::Bad)?;
    let mut pairs = Vec::new();
    let mut rest = buf;
    while !rest.is_empty() {
        let (tag, wire) = key(&mut rest)?;
        match tag {
            2 => entry(bytes(&mut rest)?, nested(depth)?, &mut pairs, wanted, sink)?,
            1 => drop(bytes(&mut rest)?),
            _ => skip(wire, tag, &mut rest, depth)?,
        }
    }
    Ok(())
}

/// Decodes a snappy-compressed `PushRequest` into `sink`, decompressing into `scratch`.
fn decode_proto(
    body: &[u8],
    max: usize,
    scratch: &mut Vec<u8>,
    sink: &mut dyn Sink,
) -> Result<usize, DecodeError> {
    let len =
        snap::raw::decompress_len(body).map_err(|e| DecodeError::Bad(format!("snappy: {e}")))?;
    if len > max {
        return Err(DecodeError::TooLarge(format!(
            "snappy body larger than {max} bytes when decompressed"
        )));
    }
    scratch.clear();
    scratch.resize(len, 0);
    let n = snap::raw::Decoder::new()
        .decompress(body, scratch)
        .map_err(|e| DecodeError::Bad(format!("snappy: {e}")))?;
    let raw = scratch.get(..n).unwrap_or_default();
    let mut buf = raw;
    while !buf.is_empty() {
        let (tag, wire) = key(&mut buf)?;
        match tag {
            1 => {
                expect(wire, BYTES)?;
                stream(bytes(&mut buf)?, nested(RECURSION_LIMIT)?, sink)?;
            }
            _ => skip(wire, tag, &mut buf, RECURSION_LIMIT)?,
        }
    }
    Ok(n)
}

// ---- JSON -----------------------------------------------------------------------------------

#[derive(Deserialize)]
struct JsonPush {
    #[serde(default)]
    streams: Option<Vec<JsonStream>>,
}

#[derive(Deserialize)]
struct JsonStream {
    #[serde(default)]
    stream: Option<std::collections::BTreeMap<String, String>>,
    #[serde(default)]
    values: Option<Vec<JsonEntry>>,
}

struct JsonEntry(RawEntry);

impl<'de> Deserialize<'de> for JsonEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = JsonEntry;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an entry [\"<unix ns>\", \"<line>\", {<structured metadata>}]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JsonEntry, A::Error> {
                let mut e = RawEntry::default();
                if let Some(ts) = seq.next_element::<String>()? {
                    e.timestamp = parse_go_int(&ts).map_err(|m| {
                        de::Error::custom(format!("error reading entry timestamp: {m}"))
                    })?;
                } else {
                    return Ok(JsonEntry(e));
                }
                match seq.next_element::<String>()? {
                    Some(line) => e.line = line,
                    None => return Ok(JsonEntry(e)),
                }
                if let Some(meta) =
                    seq.next_element::<Option<std::collections::BTreeMap<String, String>>>()?
                {
                    e.structured_metadata = meta.unwrap_or_default().into_iter().collect();
                }
                if seq.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::custom(
                        "error reading entry: array must contains 2 values",
                    ));
                }
                Ok(JsonEntry(e))
            }
        }
        d.deserialize_seq(V)
    }
}

/// Go's `strconv.ParseInt(s, 10, 64)`, with its messages.
fn parse_go_int(s: &str) -> Result<i64, String> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(format!("strconv.ParseInt: parsing {s:?}: invalid syntax"));
    }
    s.parse::<i64>()
        .map_err(|_| format!("strconv.ParseInt: parsing {s:?}: value out of range"))
}

/// The Go `LabelSet.String()` form of a JSON stream's labels: sorted, Go-quoted values.
fn label_string(map: &std::collections::BTreeMap<String, String>) -> String {
    let mut s = String::from("{");
    for (i, (k, v)) in map.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(k);
        s.push('=');
        gocompat::strconv::go_quote_into(&mut s, v);
    }
    s.push('}');
    s
}

fn decode_json(body: &[u8], sink: &mut dyn Sink) -> Result<(), DecodeError> {
    let req: JsonPush = serde_json::from_slice(body)
        .map_err(|e| DecodeError::Bad(format!("loghttp.PushRequest: {e}")))?;
    for s in req.streams.unwrap_or_default() {
        let wanted = sink
            .stream(&label_string(&s.stream.unwrap_or_default()))
            .map_err(DecodeError::Bad)?;
        for JsonEntry(e) in s.values.unwrap_or_default() {
            if wanted {
                sink.entry(e.timestamp, e.line, e.structured_metadata);
            } else {
                sink.skipped();
            }
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    const LIMITS: Limits = Limits {
        max_decompressed: 1 << 20,
    };

    /// A sink that keeps everything, streams dropped when their labels contain `drop`.
    #[derive(Default)]
    pub(crate) struct Collect {
        pub streams: Vec<RawStream>,
        pub skipped: usize,
    }

    impl Sink for Collect {
        fn stream(&mut self, labels: &str) -> Result<bool, String> {
            self.streams.push(RawStream {
                labels: labels.to_string(),
                entries: Vec::new(),
            });
            Ok(!labels.contains("drop"))
        }
        fn entry(
            &mut self,
            timestamp: i64,
            line: String,
            structured_metadata: Vec<(String, String)>,
        ) {
            if let Some(s) = self.streams.last_mut() {
                s.entries.push(RawEntry {
                    timestamp,
                    line,
                    structured_metadata,
                });
            }
        }
        fn skipped(&mut self) {
            self.skipped += 1;
        }
    }

    /// The streams of a body, as the handler's sink sees them.
    pub(crate) fn decode_all(
        enc: &str,
        ct: &str,
        body: &[u8],
        limits: Limits,
    ) -> Result<Vec<RawStream>, DecodeError> {
        let mut c = Collect::default();
        decode(enc, ct, body, limits, &mut Vec::new(), &mut c)?;
        Ok(c.streams)
    }

    fn proto_body() -> Vec<u8> {
        use crate::client::proto::*;
        use prost::Message;
        let req = PushRequest {
            streams: vec![StreamAdapter {
                labels: r#"{job="a"}"#.into(),
                entries: vec![EntryAdapter {
                    timestamp: Some(Timestamp::from_nanos(1_700_000_000_123_456_789)),
                    line: "hello".into(),
                    structured_metadata: vec![LabelPairAdapter {
                        name: "trace_id".into(),
                        value: "t1".into(),
                    }],
                    parsed: vec![],
                }],
                hash: 0,
            }],
        };
        snap::raw::Encoder::new()
            .compress_vec(&req.encode_to_vec())
            .unwrap()
    }

    #[test]
    fn protobuf_with_metadata() {
        let d = decode_all("", "application/x-protobuf", &proto_body(), LIMITS).unwrap();
        assert_eq!(
            d,
            vec![RawStream {
                labels: r#"{job="a"}"#.into(),
                entries: vec![RawEntry {
                    timestamp: 1_700_000_000_123_456_789,
                    line: "hello".into(),
                    structured_metadata: vec![("trace_id".into(), "t1".into())],
                }],
            }]
        );
        let d = decode_all("snappy", "application/x-protobuf", &proto_body(), LIMITS).unwrap();
        assert_eq!(d.len(), 1);
    }

    /// Protobuf's rules where the in-place reader could differ from a whole-message decoder:
    /// labels sent after the entries, a repeated `labels` field (the last wins), a timestamp
    /// sent in two parts (merged), unknown fields and groups skipped, a dropped stream's
    /// entries still checked.
    #[test]
    fn protobuf_field_order_repeats_and_unknown_fields() {
        fn field(tag: u8, payload: &[u8]) -> Vec<u8> {
            let mut v = vec![(tag << 3) | 2, u8::try_from(payload.len()).unwrap()];
            v.extend_from_slice(payload);
            v
        }
        let ts1 = [0x08, 0x05]; // seconds = 5
        let ts2 = [0x10, 0x07]; // nanos = 7
        let mut entry = field(1, &ts1);
        entry.extend(field(2, b"line one"));
        entry.extend(field(1, &ts2));
        entry.extend([0x2b, 0x08, 0x01, 0x2c]); // group 5 { varint 1 }
        entry.extend([0x30, 0x09]); // unknown varint field 6
        let mut stream = field(1, b"{first=\"x\"}");
        stream.extend(field(2, &entry));
        stream.extend([0x18, 0x2a]); // hash = 42
        stream.extend(field(1, b"{job=\"last\"}"));
        let mut dropped = field(2, &field(2, b"gone"));
        dropped.extend(field(1, b"{drop=\"1\"}"));
        let mut req = field(1, &stream);
        req.extend(field(1, &dropped));
        let body = snap::raw::Encoder::new().compress_vec(&req).unwrap();
        let mut c = Collect::default();
        let n = decode(
            "",
            "application/x-protobuf",
            &body,
            LIMITS,
            &mut Vec::new(),
            &mut c,
        )
        .unwrap();
        assert_eq!(n, req.len());
        assert_eq!(
            c.streams,
            vec![
                RawStream {
                    labels: r#"{job="last"}"#.into(),
                    entries: vec![RawEntry {
                        timestamp: 5_000_000_007,
                        line: "line one".into(),
                        structured_metadata: vec![],
                    }],
                },
                RawStream {
                    labels: r#"{drop="1"}"#.into(),
                    entries: vec![],
                },
            ]
        );
        assert_eq!(c.skipped, 1);
        assert_eq!(super::oracle::read(&req).unwrap(), c.streams);
        // A dropped stream's malformed entry still refuses the request, as prost does.
        let mut bad = field(2, &[0x12, 0x05, b'a']);
        bad.extend(field(1, b"{drop=\"1\"}"));
        let body = snap::raw::Encoder::new()
            .compress_vec(&field(1, &bad))
            .unwrap();
        assert!(matches!(
            decode_all("", "application/x-protobuf", &body, LIMITS),
            Err(DecodeError::Bad(_))
        ));
    }

    #[test]
    fn json_with_gzip_and_deflate() {
        let json = br#"{"streams":[{"stream":{"b":"2","a":"x\"y"},"values":[["1700000000000000001","l1"],["2","l2",{"k":"v"}]]}]}"#;
        let want = vec![RawStream {
            labels: r#"{a="x\"y", b="2"}"#.into(),
            entries: vec![
                RawEntry {
                    timestamp: 1_700_000_000_000_000_001,
                    line: "l1".into(),
                    structured_metadata: vec![],
                },
                RawEntry {
                    timestamp: 2,
                    line: "l2".into(),
                    structured_metadata: vec![("k".into(), "v".into())],
                },
            ],
        }];
        let d = decode_all("", "application/json; charset=utf-8", json, LIMITS).unwrap();
        assert_eq!(d, want);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(json).unwrap();
        let d = decode_all("gzip", "application/json", &gz.finish().unwrap(), LIMITS).unwrap();
        assert_eq!(d, want);
        let mut df = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        df.write_all(json).unwrap();
        let d = decode_all("deflate", "application/json", &df.finish().unwrap(), LIMITS).unwrap();
        assert_eq!(d, want);
    }

    #[test]
    fn refusals() {
        let bad = |enc: &str, ct: &str, body: &[u8]| decode_all(enc, ct, body, LIMITS).unwrap_err();
        assert_eq!(
            bad("br", "application/json", b"{}"),
            DecodeError::Bad("Content-Encoding \"br\" not supported".into())
        );
        assert_eq!(
            bad("", "", b"x"),
            DecodeError::Bad("mime: no media type".into())
        );
        assert!(matches!(
            bad("", "application/x-protobuf", b"garbage"),
            DecodeError::Bad(_)
        ));
        assert!(bad(
            "",
            "application/json",
            b"{\"streams\":[{\"values\":[[\"x\",\"l\"]]}]}"
        )
        .to_string()
        .contains("strconv.ParseInt: parsing \"x\": invalid syntax"));
        assert!(bad(
            "",
            "application/json",
            b"{\"streams\":[{\"values\":[[\"1\",\"l\",{},1]]}]}"
        )
        .to_string()
        .contains("array must contains 2 values"));
        // A gzip bomb: 4 MiB of zeros is refused at the 1 MiB cap.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![0u8; 4 << 20]).unwrap();
        let bomb = gz.finish().unwrap();
        assert!(matches!(
            bad("gzip", "application/json", &bomb),
            DecodeError::TooLarge(_)
        ));
        // A snappy header declaring more than the cap.
        let big = snap::raw::Encoder::new()
            .compress_vec(&vec![0u8; 2 << 20])
            .unwrap();
        assert!(matches!(
            bad("", "application/x-protobuf", &big),
            DecodeError::TooLarge(_)
        ));
    }
}

/// prost's reading of `logproto.PushRequest` (what ferrotail used before reading in place): the
/// oracle the in-place reader is held to.
#[cfg(test)]
mod oracle {
    use super::{RawEntry, RawStream};

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PbPushRequest {
        #[prost(message, repeated, tag = "1")]
        pub streams: Vec<PbStream>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PbStream {
        #[prost(bytes = "vec", tag = "1")]
        pub labels: Vec<u8>,
        #[prost(message, repeated, tag = "2")]
        pub entries: Vec<PbEntry>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PbEntry {
        #[prost(message, optional, tag = "1")]
        pub timestamp: Option<PbTimestamp>,
        #[prost(bytes = "vec", tag = "2")]
        pub line: Vec<u8>,
        #[prost(message, repeated, tag = "3")]
        pub structured_metadata: Vec<PbPair>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PbPair {
        #[prost(bytes = "vec", tag = "1")]
        pub name: Vec<u8>,
        #[prost(bytes = "vec", tag = "2")]
        pub value: Vec<u8>,
    }

    #[derive(Clone, Copy, PartialEq, prost::Message)]
    pub struct PbTimestamp {
        #[prost(int64, tag = "1")]
        pub seconds: i64,
        #[prost(int32, tag = "2")]
        pub nanos: i32,
    }

    fn utf8(v: &[u8]) -> String {
        String::from_utf8_lossy(v).into_owned()
    }

    /// The streams prost reads from uncompressed protobuf bytes, as the test sink collects them.
    pub fn read(raw: &[u8]) -> Option<Vec<RawStream>> {
        use prost::Message;
        let req = PbPushRequest::decode(raw).ok()?;
        Some(
            req.streams
                .into_iter()
                .map(|s| {
                    let labels = utf8(&s.labels);
                    let entries = if labels.contains("drop") {
                        Vec::new()
                    } else {
                        s.entries
                            .into_iter()
                            .map(|e| RawEntry {
                                timestamp: e.timestamp.map_or(0, |t| {
                                    t.seconds
                                        .saturating_mul(1_000_000_000)
                                        .saturating_add(i64::from(t.nanos))
                                }),
                                line: utf8(&e.line),
                                structured_metadata: e
                                    .structured_metadata
                                    .iter()
                                    .map(|p| (utf8(&p.name), utf8(&p.value)))
                                    .collect(),
                            })
                            .collect()
                    };
                    RawStream { labels, entries }
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// Arbitrary bytes under every encoding and content type never panic.
        #[test]
        fn arbitrary_bodies_never_panic(
            body in prop::collection::vec(any::<u8>(), 0..512),
            enc in prop::sample::select(vec!["", "snappy", "gzip", "deflate", "zstd"]),
            ct in prop::sample::select(vec!["", "application/json", "application/x-protobuf", "text/plain; x=y", "/"]),
        ) {
            let _ = super::tests::decode_all(enc, ct, &body, Limits { max_decompressed: 1 << 16 });
        }

        /// Snappy-framed arbitrary protobuf bytes never panic either.
        #[test]
        fn arbitrary_protobuf_never_panics(raw in prop::collection::vec(any::<u8>(), 0..512)) {
            let body = snap::raw::Encoder::new().compress_vec(&raw).unwrap_or_default();
            let _ = super::tests::decode_all("", "application/x-protobuf", &body, Limits { max_decompressed: 1 << 16 });
        }

        /// Arbitrary label strings never panic the label parser.
        #[test]
        fn arbitrary_label_strings_never_panic(s in ".{0,64}") {
            let _ = super::super::labels::parse_labels(&s);
        }

        /// The in-place reader accepts exactly what prost accepts and reads the same streams:
        /// arbitrary bytes, and well-formed requests with one byte changed, cut or inserted.
        #[test]
        fn reads_what_prost_reads(
            raw in prop::collection::vec(any::<u8>(), 0..256),
            streams in prop::collection::vec(stream_strategy(), 0..4),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
            how in 0..4u8,
        ) {
            prop_assert_eq!(read(&raw), super::oracle::read(&raw));
            let mut good = encode(&streams);
            prop_assert_eq!(read(&good), super::oracle::read(&good));
            prop_assert!(read(&good).is_some());
            if !good.is_empty() {
                let i = at.index(good.len());
                match how {
                    0 => good[i] = byte,
                    1 => good.truncate(i),
                    2 => good.insert(i, byte),
                    _ => { good.remove(i); }
                }
                prop_assert_eq!(read(&good), super::oracle::read(&good));
            }
        }
    }

    /// Uncompressed protobuf bytes through the reader, as the test sink collects them.
    fn read(raw: &[u8]) -> Option<Vec<RawStream>> {
        let body = snap::raw::Encoder::new().compress_vec(raw).ok()?;
        super::tests::decode_all(
            "",
            "application/x-protobuf",
            &body,
            Limits {
                max_decompressed: 1 << 20,
            },
        )
        .ok()
    }

    type GenEntry = (
        Option<(i64, i32)>,
        Vec<u8>,
        Vec<(String, String)>,
        Vec<(String, String)>,
    );

    fn stream_strategy() -> impl Strategy<Value = (String, Vec<GenEntry>, u64)> {
        let pair = || ("[a-z_]{0,6}", "\\PC{0,6}");
        let entry = (
            prop::option::of((any::<i64>(), any::<i32>())),
            prop::collection::vec(any::<u8>(), 0..24),
            prop::collection::vec(pair(), 0..3),
            prop::collection::vec(pair(), 0..2),
        );
        (
            prop::sample::select(vec![
                "{a=\"b\"}",
                "{job=\"x\", drop=\"1\"}",
                "",
                "{\u{e9}=\"\u{1F600}\"}",
            ])
            .prop_map(String::from),
            prop::collection::vec(entry, 0..5),
            any::<u64>(),
        )
    }

    /// Loki's own message shape (with the fields the reader skips: `parsed`, `hash`); lines may
    /// be any bytes, as Go sends them.
    fn encode(streams: &[(String, Vec<GenEntry>, u64)]) -> Vec<u8> {
        use prost::Message;
        #[derive(Clone, PartialEq, prost::Message)]
        struct Req {
            #[prost(message, repeated, tag = "1")]
            streams: Vec<Stream>,
        }
        #[derive(Clone, PartialEq, prost::Message)]
        struct Stream {
            #[prost(string, tag = "1")]
            labels: String,
            #[prost(message, repeated, tag = "2")]
            entries: Vec<Ent>,
            #[prost(uint64, tag = "3")]
            hash: u64,
        }
        #[derive(Clone, PartialEq, prost::Message)]
        struct Ent {
            #[prost(message, optional, tag = "1")]
            timestamp: Option<super::oracle::PbTimestamp>,
            #[prost(bytes = "vec", tag = "2")]
            line: Vec<u8>,
            #[prost(message, repeated, tag = "3")]
            structured_metadata: Vec<Pair>,
            #[prost(message, repeated, tag = "4")]
            parsed: Vec<Pair>,
        }
        #[derive(Clone, PartialEq, prost::Message)]
        struct Pair {
            #[prost(string, tag = "1")]
            name: String,
            #[prost(string, tag = "2")]
            value: String,
        }
        let pairs = |v: &[(String, String)]| {
            v.iter()
                .map(|(name, value)| Pair {
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect()
        };
        Req {
            streams: streams
                .iter()
                .map(|(labels, entries, hash)| Stream {
                    labels: labels.clone(),
                    hash: *hash,
                    entries: entries
                        .iter()
                        .map(|(ts, line, meta, parsed)| Ent {
                            timestamp: ts.map(|(seconds, nanos)| super::oracle::PbTimestamp {
                                seconds,
                                nanos,
                            }),
                            line: line.clone(),
                            structured_metadata: pairs(meta),
                            parsed: pairs(parsed),
                        })
                        .collect(),
                })
                .collect(),
        }
        .encode_to_vec()
    }
}
