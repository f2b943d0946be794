//! A batch of entries for one tenant, grouped into streams. Knows nothing about HTTP.
//!
//! Lines are copied into one byte arena per batch (arenas are pooled and reused, so a busy
//! client does not fault in fresh pages for every batch), and the `PushRequest` protobuf is
//! written straight from the arena into a buffer the pushing task reuses; only the snappy
//! output is new per batch, since it becomes the request body.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use prost::encoding::{encode_varint, encoded_len_varint};

use crate::ack::Ack;
use crate::pipeline::{Entry, Labels};

/// Arenas kept for reuse (all clients together).
static ARENAS: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
/// Most arenas kept in the pool.
const POOL_MAX: usize = 4;
/// Arenas larger than this are freed rather than pooled.
const POOL_MAX_BYTES: usize = 8 << 20;

fn take_arena() -> Vec<u8> {
    ARENAS
        .lock()
        .ok()
        .and_then(|mut pool| pool.pop())
        .unwrap_or_default()
}

fn give_arena(mut arena: Vec<u8>) {
    if arena.capacity() == 0 || arena.capacity() > POOL_MAX_BYTES {
        return;
    }
    arena.clear();
    if let Ok(mut pool) = ARENAS.lock() {
        if pool.len() < POOL_MAX {
            pool.push(arena);
        }
    }
}

/// One entry: timestamp, the line's range in the arena, its structured metadata's range.
struct Rec {
    ts: i64,
    line: (usize, usize),
    meta: (usize, usize),
}

struct Stream {
    /// Promtail's label string, `{a="1", b="2"}`.
    key: String,
    entries: Vec<Rec>,
}

/// Entries waiting to be pushed for one tenant.
pub struct Batch {
    streams: Vec<Stream>,
    by_key: HashMap<String, usize>,
    /// Stream index by label set, so the key string (Go-quoted values) is rendered once per
    /// stream, not once per entry. Most entries of a stream share one label set's storage, which
    /// is checked first without hashing.
    by_labels: HashMap<Labels, usize, foldhash::fast::FixedState>,
    last: Option<(Labels, usize)>,
    arena: Vec<u8>,
    meta: Vec<(String, String)>,
    bytes: usize,
    entries: usize,
    created: Instant,
    acks: Vec<Ack>,
}

impl Default for Batch {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        give_arena(std::mem::take(&mut self.arena));
    }
}

/// Length of a length-delimited field (tag, length, bytes); proto3 omits an empty one.
fn string_field_len(n: usize) -> usize {
    if n == 0 {
        0
    } else {
        1 + encoded_len_varint(n as u64) + n
    }
}

fn put_bytes(out: &mut Vec<u8>, tag: u8, b: &[u8]) {
    if !b.is_empty() {
        out.push(tag);
        encode_varint(b.len() as u64, out);
        out.extend_from_slice(b);
    }
}

/// `(seconds, nanos)` of a `google.protobuf.Timestamp`.
fn split_ts(ns: i64) -> (i64, i64) {
    (ns.div_euclid(1_000_000_000), ns.rem_euclid(1_000_000_000))
}

fn timestamp_len(ns: i64) -> usize {
    let (s, n) = split_ts(ns);
    let mut len = 0;
    if s != 0 {
        len += 1 + encoded_len_varint(s as u64);
    }
    if n != 0 {
        len += 1 + encoded_len_varint(n as u64);
    }
    len
}

fn pair_len(k: &str, v: &str) -> usize {
    string_field_len(k.len()) + string_field_len(v.len())
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Batch {
            streams: Vec::new(),
            by_key: HashMap::new(),
            by_labels: HashMap::default(),
            last: None,
            arena: Vec::new(),
            meta: Vec::new(),
            bytes: 0,
            entries: 0,
            created: Instant::now(),
            acks: Vec::new(),
        }
    }

    /// The size Promtail counts: line bytes plus the protobuf size of structured metadata.
    pub fn entry_size(e: &Entry) -> usize {
        e.line.len()
            + e.structured_metadata
                .iter()
                .map(|(k, v)| pair_len(k, v))
                .sum::<usize>()
    }

    /// Adds an entry (labels already final: external labels merged, tenant removed).
    pub fn add(&mut self, mut e: Entry) {
        self.bytes += Self::entry_size(&e);
        self.entries += 1;
        for ack in e.acks.drain(..) {
            // Lines of one read block share a token: keep one clone per run of them.
            if !self.acks.last().is_some_and(|last| last.same(&ack)) {
                self.acks.push(ack);
            }
        }
        let idx = match &self.last {
            Some((labels, idx)) if labels.ptr_eq(&e.labels) => *idx,
            _ => {
                let idx = match self.by_labels.get(&e.labels) {
                    Some(&i) => i,
                    None => {
                        let key = e.labels.stream_key();
                        let i = match self.by_key.get(&key) {
                            Some(&i) => i,
                            None => {
                                self.streams.push(Stream {
                                    key: key.clone(),
                                    entries: Vec::new(),
                                });
                                self.by_key.insert(key, self.streams.len() - 1);
                                self.streams.len() - 1
                            }
                        };
                        self.by_labels.insert(e.labels.clone(), i);
                        i
                    }
                };
                self.last = Some((e.labels.clone(), idx));
                idx
            }
        };
        if self.arena.capacity() == 0 {
            self.arena = take_arena();
        }
        let start = self.arena.len();
        self.arena.extend_from_slice(e.line.as_bytes());
        let meta_start = self.meta.len();
        self.meta.append(&mut e.structured_metadata);
        self.streams[idx].entries.push(Rec {
            ts: e.timestamp,
            line: (start, e.line.len()),
            meta: (meta_start, self.meta.len() - meta_start),
        });
    }

    /// The delivery tokens of the entries in the batch.
    pub fn acks(&self) -> &[Ack] {
        &self.acks
    }

    /// Bytes counted toward `batchsize`.
    pub fn size_bytes(&self) -> usize {
        self.bytes
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Number of distinct streams.
    pub fn streams(&self) -> usize {
        self.streams.len()
    }

    /// True if the batch would exceed `max_bytes` with `e` added.
    pub fn would_overflow(&self, e: &Entry, max_bytes: usize) -> bool {
        !self.is_empty() && self.bytes + Self::entry_size(e) > max_bytes
    }

    /// Age of the batch.
    pub fn age(&self) -> std::time::Duration {
        self.created.elapsed()
    }

    fn entry_len(&self, r: &Rec) -> usize {
        let ts = timestamp_len(r.ts);
        let mut len = 1 + encoded_len_varint(ts as u64) + ts + string_field_len(r.line.1);
        for (k, v) in &self.meta[r.meta.0..r.meta.0 + r.meta.1] {
            let p = pair_len(k, v);
            len += 1 + encoded_len_varint(p as u64) + p;
        }
        len
    }

    fn stream_len(&self, s: &Stream) -> usize {
        string_field_len(s.key.len())
            + s.entries
                .iter()
                .map(|r| {
                    let e = self.entry_len(r);
                    1 + encoded_len_varint(e as u64) + e
                })
                .sum::<usize>()
    }

    /// Writes the `PushRequest` protobuf into `out` (cleared first), byte for byte as Go's
    /// gogo/protobuf marshals Promtail's request.
    pub fn encode_protobuf(&self, out: &mut Vec<u8>) {
        out.clear();
        for s in &self.streams {
            out.push(0x0a);
            encode_varint(self.stream_len(s) as u64, out);
            put_bytes(out, 0x0a, s.key.as_bytes());
            for r in &s.entries {
                out.push(0x12);
                encode_varint(self.entry_len(r) as u64, out);
                out.push(0x0a);
                encode_varint(timestamp_len(r.ts) as u64, out);
                let (sec, nanos) = split_ts(r.ts);
                if sec != 0 {
                    out.push(0x08);
                    encode_varint(sec as u64, out);
                }
                if nanos != 0 {
                    out.push(0x10);
                    encode_varint(nanos as u64, out);
                }
                put_bytes(out, 0x12, &self.arena[r.line.0..r.line.0 + r.line.1]);
                for (k, v) in &self.meta[r.meta.0..r.meta.0 + r.meta.1] {
                    out.push(0x1a);
                    encode_varint(pair_len(k, v) as u64, out);
                    put_bytes(out, 0x0a, k.as_bytes());
                    put_bytes(out, 0x12, v.as_bytes());
                }
            }
        }
    }

    /// Encodes the batch: a snappy *block* (not the framed format) around the protobuf
    /// `PushRequest`, both written into `scratch` (buffers the caller reuses). Returns the
    /// body, the entry count and the delivery tokens, which the caller drops once the batch is
    /// accepted or dropped for a counted reason.
    pub fn encode(mut self, scratch: &mut Scratch) -> Encoded {
        self.encode_protobuf(&mut scratch.protobuf);
        let need = snap::raw::max_compress_len(scratch.protobuf.len());
        if scratch.snappy.len() < need {
            scratch.snappy.resize(need, 0);
        }
        let n = snap::raw::Encoder::new()
            .compress(&scratch.protobuf, &mut scratch.snappy)
            .unwrap_or(0);
        Encoded {
            body: bytes::Bytes::copy_from_slice(&scratch.snappy[..n]),
            entries: self.entries,
            acks: std::mem::take(&mut self.acks),
        }
    }
}

/// Buffers a pushing task reuses for every batch it encodes.
#[derive(Default)]
pub struct Scratch {
    protobuf: Vec<u8>,
    snappy: Vec<u8>,
}

/// An encoded batch.
pub struct Encoded {
    /// The request body.
    pub body: bytes::Bytes,
    /// Entries in it.
    pub entries: usize,
    /// Delivery tokens.
    pub acks: Vec<Ack>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::proto::PushRequest;
    use prost::Message;

    #[test]
    fn golden_push_bytes() {
        // wire/push-*.json: the decompressed protobuf of real Promtail pushes.
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/golden/wire");
        let mut checked = 0;
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let p = entry.path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if !name.starts_with("push-") {
                continue;
            }
            let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            let hex = v["protobuf_hex"]
                .as_str()
                .or_else(|| v["decompressed_hex"].as_str());
            let Some(hex) = hex else { continue };
            let want: Vec<u8> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            let req = PushRequest::decode(&want[..]).unwrap();
            let mut batch = Batch::new();
            for s in &req.streams {
                let labels = parse_key(&s.labels);
                for e in &s.entries {
                    let mut en = Entry::new(
                        labels.clone(),
                        e.timestamp.unwrap().to_nanos(),
                        e.line.clone(),
                    );
                    en.structured_metadata = e
                        .structured_metadata
                        .iter()
                        .map(|p| (p.name.clone(), p.value.clone()))
                        .collect();
                    batch.add(en);
                }
            }
            let enc = batch.encode(&mut Scratch::default());
            let raw = snap::raw::Decoder::new().decompress_vec(&enc.body).unwrap();
            assert_eq!(raw, want, "{name}");
            checked += 1;
        }
        assert!(checked > 0, "no push-*.json with protobuf hex found");
    }

    /// Parses a simple `{a="x", b="y"}` key (test data has no escapes).
    fn parse_key(key: &str) -> Labels {
        let inner = key.trim_start_matches('{').trim_end_matches('}');
        inner
            .split(", ")
            .filter(|s| !s.is_empty())
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                (k.to_string(), v.trim_matches('"').to_string())
            })
            .collect()
    }
}
#[cfg(test)]
mod ack_tests {
    use super::*;
    #[test]
    fn acks_released_after_encode() {
        let p = crate::ack::Progress::new(0);
        let mut b = Batch::new();
        for i in 1..=3u64 {
            let mut e = Entry::new(Labels::new(), 1, "x".into());
            e.acks.push(p.register(i * 2));
            b.add(e);
        }
        let enc = b.encode(&mut Scratch::default());
        assert_eq!(p.committed(), 0);
        drop(enc.acks);
        assert_eq!(p.committed(), 6);
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;
    use crate::client::proto::LabelPairAdapter;
    use prost::Message;

    #[test]
    fn entry_size_counts_metadata_as_protobuf() {
        let mut e = Entry::new(Labels::new(), 1, "line".into());
        e.structured_metadata = vec![
            ("trace_id".into(), "a".repeat(200)),
            ("empty".into(), String::new()),
        ];
        let want: usize = 4 + e
            .structured_metadata
            .iter()
            .map(|(k, v)| {
                LabelPairAdapter {
                    name: k.clone(),
                    value: v.clone(),
                }
                .encoded_len()
            })
            .sum::<usize>();
        assert_eq!(Batch::entry_size(&e), want);
    }
}

#[cfg(test)]
mod encode_tests {
    use super::*;
    use crate::client::proto::{
        EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter, Timestamp,
    };
    use prost::Message;

    /// The hand-written encoder writes what prost writes for the same request.
    #[test]
    fn matches_prost() {
        let timestamps = [
            0i64,
            1,
            -1,
            999_999_999,
            1_000_000_000,
            -1_500_000_000,
            1_714_557_600_500_000_000,
            i64::MAX,
            i64::MIN,
        ];
        let lines = ["", "x", &"long line ".repeat(40), "é\u{0}\n"];
        let metas: [&[(&str, &str)]; 3] = [&[], &[("trace_id", "abc")], &[("a", ""), ("", "b")]];
        let labels: [Labels; 2] = [
            [("job", "a")].into_iter().collect(),
            [("job", "b"), ("x", "\"q\"")].into_iter().collect(),
        ];
        let mut batch = Batch::new();
        let mut want: Vec<StreamAdapter> = Vec::new();
        let mut i = 0;
        for ts in timestamps {
            for line in lines {
                for meta in metas {
                    let l = &labels[i % 2];
                    i += 1;
                    let mut e = Entry::new(l.clone(), ts, line.to_string());
                    e.structured_metadata = meta
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect();
                    batch.add(e);
                    let key = l.stream_key();
                    let pos = match want.iter().position(|s| s.labels == key) {
                        Some(p) => p,
                        None => {
                            want.push(StreamAdapter {
                                labels: key,
                                entries: Vec::new(),
                                hash: 0,
                            });
                            want.len() - 1
                        }
                    };
                    want[pos].entries.push(EntryAdapter {
                        timestamp: Some(Timestamp::from_nanos(ts)),
                        line: line.to_string(),
                        structured_metadata: meta
                            .iter()
                            .map(|(k, v)| LabelPairAdapter {
                                name: k.to_string(),
                                value: v.to_string(),
                            })
                            .collect(),
                        parsed: Vec::new(),
                    });
                }
            }
        }
        let mut out = Vec::new();
        batch.encode_protobuf(&mut out);
        assert_eq!(out, PushRequest { streams: want }.encode_to_vec());
    }
}
