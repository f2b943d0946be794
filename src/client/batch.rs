//! A batch of entries for one tenant, grouped into streams. Knows nothing about HTTP.
//!
//! Each entry is written as its protobuf `EntryAdapter` message straight into its stream's
//! buffer when it is added (the line is copied once, and nothing per entry is kept besides the
//! bytes). [`Batch::encode`] then writes the `PushRequest` (stream headers around those buffers)
//! through snappy in 64 KiB fragments, so no uncompressed copy of the request is ever built:
//! what a batch holds once encoded is its compressed body. Stream bodies are lists of pooled
//! fixed-size blocks, so they never reallocate and a busy client does not fault in fresh pages
//! for every batch.

use std::collections::HashMap;
use std::time::Instant;

use prost::encoding::{encode_varint, encoded_len_varint};

use crate::core::ack::Ack;
use crate::core::pool::Pool;
use crate::core::{Entry, Labels};

/// Sizes of the blocks a stream's entries are written into: its first block is small, its second
/// larger, every later one [`BLOCK`]. A receiver with many streams of a few entries each (syslog
/// peers, push clients) then holds about a kilobyte per stream instead of a 32 KiB block, while
/// a busy stream still fills blocks of 32 KiB.
const SIZES: [usize; 3] = [1 << 10, 4 << 10, BLOCK];
/// Size of a busy stream's blocks.
const BLOCK: usize = 32 << 10;
/// Blocks kept for reuse per size (all clients together): 256 KiB of small blocks, 256 KiB of
/// middle ones and 2 MiB of large ones (about two default batches).
static BLOCKS: [Pool<Vec<u8>>; 3] = [Pool::new(256), Pool::new(64), Pool::new(64)];

/// A block for the `nth` block of a stream (0-based).
fn take_block(nth: usize) -> Vec<u8> {
    let class = nth.min(SIZES.len() - 1);
    BLOCKS[class]
        .take()
        .unwrap_or_else(|| Vec::with_capacity(SIZES[class]))
}

fn give_block(mut block: Vec<u8>) {
    if let Some(class) = SIZES.iter().position(|&s| s == block.capacity()) {
        block.clear();
        BLOCKS[class].give(block);
    }
}

/// A stream's encoded entries: bytes appended to a list of pooled blocks of growing fixed sizes
/// (an entry may span two). Nothing is ever reallocated or copied to grow, and a busy client
/// reuses the same blocks batch after batch instead of faulting in fresh pages.
#[derive(Default)]
struct Body {
    blocks: Vec<Vec<u8>>,
    len: usize,
}

impl Body {
    fn put(&mut self, mut b: &[u8]) {
        self.len += b.len();
        while !b.is_empty() {
            match self.blocks.last_mut() {
                Some(last) if last.len() < last.capacity() => {
                    let n = (last.capacity() - last.len()).min(b.len());
                    last.extend_from_slice(&b[..n]);
                    b = &b[n..];
                }
                _ => {
                    let block = take_block(self.blocks.len());
                    self.blocks.push(block);
                }
            }
        }
    }

    fn write(&self, sink: &mut impl Sink) {
        for b in &self.blocks {
            sink.put(b);
        }
    }
}

impl Drop for Body {
    fn drop(&mut self) {
        for b in self.blocks.drain(..) {
            give_block(b);
        }
    }
}

struct Stream {
    /// Promtail's label string, `{a="1", b="2"}`.
    key: String,
    /// The stream's `entries` fields (tag, length, `EntryAdapter`), in order.
    body: Body,
}

impl Stream {
    /// Length of the `StreamAdapter` message.
    fn len(&self) -> usize {
        string_field_len(self.key.len()) + self.body.len
    }
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

/// Appends a length-delimited field (tag, length, bytes); proto3 omits an empty one.
fn put_field(out: &mut Body, tag: u8, b: &[u8]) {
    if !b.is_empty() {
        out.put(Head::new(tag, b.len()).bytes());
        out.put(b);
    }
}

/// A field header assembled on the stack: a tag and varints.
struct Head {
    buf: [u8; Head::CAP],
    len: usize,
}

impl Head {
    /// Room for the longest header written: an `EntryAdapter` field's tag and length, then its
    /// timestamp's tag, length, seconds and nanoseconds (1 + 10 + 1 + 1 + 11 + 11).
    const CAP: usize = 40;

    fn new(tag: u8, len: usize) -> Self {
        let mut h = Head {
            buf: [0; Head::CAP],
            len: 0,
        };
        h.tag_varint(tag, len as u64);
        h
    }

    fn tag_varint(&mut self, tag: u8, v: u64) {
        let mut w: &mut [u8] = &mut self.buf[self.len..];
        let room = w.len();
        bytes::BufMut::put_u8(&mut w, tag);
        encode_varint(v, &mut w);
        self.len += room - w.len();
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Appends `e` as a `StreamAdapter.entries` field (byte for byte as Go's gogo/protobuf marshals
/// Promtail's `EntryAdapter`). Headers are assembled on the stack; the line is copied once.
fn put_entry(out: &mut Body, e: &Entry) {
    let ts = timestamp_len(e.timestamp);
    let mut len = 1 + encoded_len_varint(ts as u64) + ts + string_field_len(e.line.len());
    for (k, v) in &e.structured_metadata {
        let p = pair_len(k, v);
        len += 1 + encoded_len_varint(p as u64) + p;
    }
    let mut head = Head::new(0x12, len);
    head.tag_varint(0x0a, ts as u64);
    let (sec, nanos) = split_ts(e.timestamp);
    if sec != 0 {
        head.tag_varint(0x08, sec as u64);
    }
    if nanos != 0 {
        head.tag_varint(0x10, nanos as u64);
    }
    out.put(head.bytes());
    put_field(out, 0x12, e.line.as_bytes());
    for (k, v) in &e.structured_metadata {
        out.put(Head::new(0x1a, pair_len(k, v)).bytes());
        put_field(out, 0x0a, k.as_bytes());
        put_field(out, 0x12, v.as_bytes());
    }
}

/// Where [`Batch::write`] puts the request's bytes.
trait Sink {
    fn put(&mut self, b: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, b: &[u8]) {
        self.extend_from_slice(b);
    }
}

/// Snappy's size of one independently compressed block.
const FRAGMENT: usize = 1 << 16;

/// A snappy *block* compressor fed in pieces. Snappy compresses its input in independent 64 KiB
/// blocks behind one length header, so compressing each 64 KiB fragment on its own and joining
/// the results (without their own headers) is byte for byte the whole input compressed at once.
pub struct Compressor {
    encoder: snap::raw::Encoder,
    /// The fragment being filled (pieces smaller than a fragment are gathered here).
    stage: Vec<u8>,
    /// One fragment's compressed form.
    scratch: Vec<u8>,
    out: Vec<u8>,
}

impl Default for Compressor {
    fn default() -> Self {
        Compressor {
            encoder: snap::raw::Encoder::new(),
            stage: Vec::new(),
            scratch: Vec::new(),
            out: Vec::new(),
        }
    }
}

impl Compressor {
    fn begin(&mut self, total: usize) {
        // Lines of logs compress about 3:1 or better; the vector grows if not.
        self.out = Vec::with_capacity(total / 3 + 64);
        self.stage.clear();
        encode_varint(total as u64, &mut self.out);
    }

    fn fragment(&mut self, frag: &[u8]) {
        let need = snap::raw::max_compress_len(frag.len());
        if self.scratch.len() < need {
            self.scratch.resize(need, 0);
        }
        // A fragment is at most 64 KiB, far below snappy's input limit, and the scratch is
        // sized for it: compression cannot fail.
        let n = self.encoder.compress(frag, &mut self.scratch).unwrap_or(0);
        // Skip the fragment's own length header (a varint: bytes with the high bit set, then one
        // without).
        let header = self.scratch[..n]
            .iter()
            .position(|b| b & 0x80 == 0)
            .map_or(n, |i| i + 1);
        self.out.extend_from_slice(&self.scratch[header..n]);
    }

    /// Compresses the gathered fragment and empties it.
    fn flush_stage(&mut self) {
        let stage = std::mem::take(&mut self.stage);
        self.fragment(&stage);
        self.stage = stage;
        self.stage.clear();
    }

    fn finish(&mut self) -> Vec<u8> {
        if !self.stage.is_empty() {
            self.flush_stage();
        }
        std::mem::take(&mut self.out)
    }
}

impl Sink for Compressor {
    fn put(&mut self, mut b: &[u8]) {
        while !b.is_empty() {
            if self.stage.is_empty() && b.len() >= FRAGMENT {
                // A whole fragment in place, without gathering it first.
                let (frag, rest) = b.split_at(FRAGMENT);
                self.fragment(frag);
                b = rest;
                continue;
            }
            if self.stage.capacity() < FRAGMENT {
                self.stage.reserve_exact(FRAGMENT - self.stage.len());
            }
            let take = (FRAGMENT - self.stage.len()).min(b.len());
            self.stage.extend_from_slice(&b[..take]);
            b = &b[take..];
            if self.stage.len() == FRAGMENT {
                self.flush_stage();
            }
        }
    }
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Batch {
            streams: Vec::new(),
            by_key: HashMap::new(),
            by_labels: HashMap::default(),
            last: None,
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
                                    body: Body::default(),
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
        put_entry(&mut self.streams[idx].body, &e);
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

    /// True when the batch already has the stream of `labels` (for `max_streams`).
    pub fn has_stream(&self, labels: &Labels) -> bool {
        matches!(&self.last, Some((l, _)) if l.ptr_eq(labels))
            || self.by_labels.contains_key(labels)
            || self.by_key.contains_key(&labels.stream_key())
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

    /// Length of the `PushRequest`.
    fn protobuf_len(&self) -> usize {
        self.streams
            .iter()
            .map(|s| 1 + encoded_len_varint(s.len() as u64) + s.len())
            .sum()
    }

    /// Writes the `PushRequest` protobuf: each stream's header, then its entries' bytes.
    fn write(&self, sink: &mut impl Sink) {
        let mut header = Vec::with_capacity(32 + self.streams.first().map_or(0, |s| s.key.len()));
        for s in &self.streams {
            header.clear();
            header.push(0x0a);
            encode_varint(s.len() as u64, &mut header);
            put_bytes(&mut header, 0x0a, s.key.as_bytes());
            sink.put(&header);
            s.body.write(sink);
        }
    }

    /// Writes the `PushRequest` protobuf into `out` (cleared first), byte for byte as Go's
    /// gogo/protobuf marshals Promtail's request.
    pub fn encode_protobuf(&self, out: &mut Vec<u8>) {
        out.clear();
        out.reserve(self.protobuf_len());
        self.write(out);
    }

    /// Encodes the batch: a snappy *block* (not the framed format) around the protobuf
    /// `PushRequest`, compressed with `compressor` (buffers the caller reuses). Returns the body,
    /// the entry count and the delivery tokens, which the caller drops once the batch is
    /// accepted or dropped for a counted reason. The stream buffers go back to the pool.
    pub fn encode(mut self, compressor: &mut Compressor) -> Encoded {
        compressor.begin(self.protobuf_len());
        self.write(compressor);
        Encoded {
            body: bytes::Bytes::from(compressor.finish()),
            entries: self.entries,
            acks: std::mem::take(&mut self.acks),
        }
    }
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

impl Encoded {
    /// Releases the entries unacknowledged: their files' positions stay before them, so they are
    /// read again after a restart.
    pub fn abandon(&self) {
        for a in &self.acks {
            a.abandon();
        }
    }
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
            let enc = batch.encode(&mut Compressor::default());
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
        let p = crate::core::ack::Progress::new(0);
        let mut b = Batch::new();
        for i in 1..=3u64 {
            let mut e = Entry::new(Labels::new(), 1, "x".into());
            e.acks.push(p.register(i * 2));
            b.add(e);
        }
        let enc = b.encode(&mut Compressor::default());
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

    /// A stream body's bytes are what was put, in order, across blocks of growing sizes; the
    /// first blocks are small, so a stream of one entry holds a kilobyte, not 32 KiB.
    #[test]
    fn body_blocks_grow_and_keep_bytes_in_order() {
        let mut body = Body::default();
        body.put(b"one entry");
        assert_eq!(body.blocks.len(), 1);
        assert_eq!(body.blocks[0].capacity(), SIZES[0]);
        let mut want = b"one entry".to_vec();
        for (i, n) in [1usize, 1014, 1, 4095, 7, 40_000, 3, 70_000]
            .into_iter()
            .enumerate()
        {
            let piece: Vec<u8> = (0..n).map(|j| (i * 31 + j) as u8).collect();
            body.put(&piece);
            want.extend_from_slice(&piece);
        }
        assert_eq!(body.len, want.len());
        let caps: Vec<usize> = body.blocks.iter().map(|b| b.capacity()).collect();
        assert_eq!(&caps[..3], &SIZES[..]);
        assert!(caps[3..].iter().all(|&c| c == BLOCK));
        assert!(body.blocks[..body.blocks.len() - 1]
            .iter()
            .all(|b| b.len() == b.capacity()));
        let mut out = Vec::new();
        body.write(&mut out);
        assert_eq!(out, want);
    }

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

#[cfg(test)]
mod compress_tests {
    use super::*;

    /// Fragment-wise compression is byte for byte snappy over the whole request, at sizes around
    /// the 64 KiB fragment boundary and across streams.
    #[test]
    fn fragments_equal_whole_compression() {
        let a: Labels = [("job", "a")].into_iter().collect();
        let b: Labels = [("job", "b")].into_iter().collect();
        for (n, width) in [
            (0usize, 1usize),
            (1, 1),
            (3, 5),
            (200, 300),
            (300, 218),
            (2000, 90),
            (5, 70_000),
            (9000, 33),
        ] {
            let mut batch = Batch::new();
            for i in 0..n {
                let line = format!(
                    "{i:08} {}",
                    "level=info msg=\"hello\" ".repeat(width / 20 + 1)
                )[..width.max(9)]
                    .to_string();
                batch.add(Entry::new(
                    if i % 3 == 0 { a.clone() } else { b.clone() },
                    i as i64 * 1_000_000_007,
                    line,
                ));
            }
            let mut raw = Vec::new();
            batch.encode_protobuf(&mut raw);
            assert_eq!(raw.len(), batch.protobuf_len());
            let want = snap::raw::Encoder::new().compress_vec(&raw).unwrap();
            let mut c = Compressor::default();
            let got = batch.encode(&mut c);
            assert_eq!(&got.body[..], &want[..], "{n} lines of {width}");
        }
    }

    /// Pieces that straddle fragments (a small header, then a body) compress as the whole.
    #[test]
    fn pieces_straddling_fragments() {
        let data: Vec<u8> = (0..300_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 % 7 + b'a')
            .collect();
        for cuts in [
            vec![1usize, 65_535, 2],
            vec![65_536, 65_536],
            vec![10, 200_000],
            vec![70_000, 3, 65_530],
        ] {
            let mut c = Compressor::default();
            c.begin(data.len());
            let mut at: usize = 0;
            for cut in cuts.iter().copied().chain(std::iter::once(usize::MAX)) {
                let end = at.saturating_add(cut).min(data.len());
                c.put(&data[at..end]);
                at = end;
            }
            let got = c.finish();
            assert_eq!(
                got,
                snap::raw::Encoder::new().compress_vec(&data).unwrap(),
                "{cuts:?}"
            );
        }
    }
}
