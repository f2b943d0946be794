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

/// A decoded request, with the size it decompressed to (for memory accounting).
#[derive(Debug, Default)]
pub struct Decoded {
    /// The streams.
    pub streams: Vec<RawStream>,
    /// Bytes the body decompressed to.
    pub decompressed_len: usize,
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

fn read_capped(r: impl Read, max: usize, what: &str) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::new();
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    r.take(limit)
        .read_to_end(&mut out)
        .map_err(|e| DecodeError::Bad(format!("{what}: {e}")))?;
    if out.len() > max {
        return Err(DecodeError::TooLarge(format!(
            "{what} body larger than {max} bytes when decompressed"
        )));
    }
    Ok(out)
}

/// Decodes a push body. `content_encoding` and `content_type` are the header values ("" when
/// absent).
pub fn decode(
    content_encoding: &str,
    content_type: &str,
    body: &[u8],
    limits: Limits,
) -> Result<Decoded, DecodeError> {
    let max = limits.max_decompressed;
    let plain: std::borrow::Cow<'_, [u8]> = match content_encoding {
        "" | "snappy" => {
            if body.len() > max {
                return Err(DecodeError::TooLarge(format!(
                    "body larger than {max} bytes"
                )));
            }
            std::borrow::Cow::Borrowed(body)
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
            std::borrow::Cow::Owned(read_capped(
                flate2::read::MultiGzDecoder::new(body),
                max,
                "gzip",
            )?)
        }
        "deflate" => std::borrow::Cow::Owned(read_capped(
            flate2::read::DeflateDecoder::new(body),
            max,
            "deflate",
        )?),
        other => {
            return Err(DecodeError::Bad(format!(
                "Content-Encoding {:?} not supported",
                other
            )))
        }
    };
    let media = media_type(content_type).map_err(DecodeError::Bad)?;
    let streams = if media == "application/json" {
        decode_json(&plain)?
    } else {
        decode_proto(&plain, max)?
    };
    Ok(Decoded {
        streams,
        decompressed_len: plain.len(),
    })
}

// ---- protobuf -------------------------------------------------------------------------------

/// `logproto.PushRequest` with byte strings, so a line that is not UTF-8 is kept (made valid
/// with replacement characters) instead of failing the request, as Go keeps any bytes.
#[derive(Clone, PartialEq, prost::Message)]
struct PbPushRequest {
    #[prost(message, repeated, tag = "1")]
    streams: Vec<PbStream>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct PbStream {
    #[prost(bytes = "vec", tag = "1")]
    labels: Vec<u8>,
    #[prost(message, repeated, tag = "2")]
    entries: Vec<PbEntry>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct PbEntry {
    #[prost(message, optional, tag = "1")]
    timestamp: Option<PbTimestamp>,
    #[prost(bytes = "vec", tag = "2")]
    line: Vec<u8>,
    #[prost(message, repeated, tag = "3")]
    structured_metadata: Vec<PbPair>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct PbPair {
    #[prost(bytes = "vec", tag = "1")]
    name: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

#[derive(Clone, Copy, PartialEq, prost::Message)]
struct PbTimestamp {
    #[prost(int64, tag = "1")]
    seconds: i64,
    #[prost(int32, tag = "2")]
    nanos: i32,
}

fn utf8(v: Vec<u8>) -> String {
    match String::from_utf8(v) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

fn decode_proto(body: &[u8], max: usize) -> Result<Vec<RawStream>, DecodeError> {
    use prost::Message;
    let len =
        snap::raw::decompress_len(body).map_err(|e| DecodeError::Bad(format!("snappy: {e}")))?;
    if len > max {
        return Err(DecodeError::TooLarge(format!(
            "snappy body larger than {max} bytes when decompressed"
        )));
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| DecodeError::Bad(format!("snappy: {e}")))?;
    let req = PbPushRequest::decode(raw.as_slice())
        .map_err(|e| DecodeError::Bad(format!("proto: {e}")))?;
    drop(raw);
    Ok(req
        .streams
        .into_iter()
        .map(|s| RawStream {
            labels: utf8(s.labels),
            entries: s
                .entries
                .into_iter()
                .map(|e| RawEntry {
                    timestamp: e.timestamp.map_or(0, |t| {
                        t.seconds
                            .saturating_mul(1_000_000_000)
                            .saturating_add(i64::from(t.nanos))
                    }),
                    line: utf8(e.line),
                    structured_metadata: e
                        .structured_metadata
                        .into_iter()
                        .map(|p| (utf8(p.name), utf8(p.value)))
                        .collect(),
                })
                .collect(),
        })
        .collect())
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

fn decode_json(body: &[u8]) -> Result<Vec<RawStream>, DecodeError> {
    let req: JsonPush = serde_json::from_slice(body)
        .map_err(|e| DecodeError::Bad(format!("loghttp.PushRequest: {e}")))?;
    Ok(req
        .streams
        .unwrap_or_default()
        .into_iter()
        .map(|s| RawStream {
            labels: label_string(&s.stream.unwrap_or_default()),
            entries: s
                .values
                .unwrap_or_default()
                .into_iter()
                .map(|e| e.0)
                .collect(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const LIMITS: Limits = Limits {
        max_decompressed: 1 << 20,
    };

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
        let d = decode("", "application/x-protobuf", &proto_body(), LIMITS).unwrap();
        assert_eq!(
            d.streams,
            vec![RawStream {
                labels: r#"{job="a"}"#.into(),
                entries: vec![RawEntry {
                    timestamp: 1_700_000_000_123_456_789,
                    line: "hello".into(),
                    structured_metadata: vec![("trace_id".into(), "t1".into())],
                }],
            }]
        );
        let d = decode("snappy", "application/x-protobuf", &proto_body(), LIMITS).unwrap();
        assert_eq!(d.streams.len(), 1);
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
        let d = decode("", "application/json; charset=utf-8", json, LIMITS).unwrap();
        assert_eq!(d.streams, want);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(json).unwrap();
        let d = decode("gzip", "application/json", &gz.finish().unwrap(), LIMITS).unwrap();
        assert_eq!(d.streams, want);
        let mut df = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        df.write_all(json).unwrap();
        let d = decode("deflate", "application/json", &df.finish().unwrap(), LIMITS).unwrap();
        assert_eq!(d.streams, want);
    }

    #[test]
    fn refusals() {
        let bad = |enc: &str, ct: &str, body: &[u8]| decode(enc, ct, body, LIMITS).unwrap_err();
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
            let _ = decode(enc, ct, &body, Limits { max_decompressed: 1 << 16 });
        }

        /// Snappy-framed arbitrary protobuf bytes never panic either.
        #[test]
        fn arbitrary_protobuf_never_panics(raw in prop::collection::vec(any::<u8>(), 0..512)) {
            let body = snap::raw::Encoder::new().compress_vec(&raw).unwrap_or_default();
            let _ = decode("", "application/x-protobuf", &body, Limits { max_decompressed: 1 << 16 });
        }

        /// Arbitrary label strings never panic the label parser.
        #[test]
        fn arbitrary_label_strings_never_panic(s in ".{0,64}") {
            let _ = super::super::labels::parse_labels(&s);
        }
    }
}
