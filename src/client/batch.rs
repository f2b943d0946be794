//! A batch of entries for one tenant, grouped into streams. Knows nothing about HTTP.

use std::collections::HashMap;
use std::time::Instant;

use prost::Message;

use super::proto::{EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter, Timestamp};
use crate::ack::Ack;
use crate::pipeline::{Entry, Labels};

/// Entries waiting to be pushed for one tenant.
pub struct Batch {
    streams: Vec<StreamAdapter>,
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
        fn field(n: usize) -> usize {
            if n == 0 {
                0
            } else {
                1 + prost::encoding::encoded_len_varint(n as u64) + n
            }
        }
        e.line.len()
            + e.structured_metadata
                .iter()
                .map(|(k, v)| field(k.len()) + field(v.len()))
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
                                self.streams.push(StreamAdapter {
                                    labels: key.clone(),
                                    entries: Vec::new(),
                                    hash: 0,
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
        self.streams[idx].entries.push(EntryAdapter {
            timestamp: Some(Timestamp::from_nanos(e.timestamp)),
            line: std::mem::take(&mut e.line),
            structured_metadata: std::mem::take(&mut e.structured_metadata)
                .into_iter()
                .map(|(name, value)| LabelPairAdapter { name, value })
                .collect(),
            parsed: Vec::new(),
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

    /// Encodes the batch: a snappy *block* (not the framed format) around the protobuf
    /// `PushRequest`. Returns the body, the entry count and the delivery tokens, which the
    /// caller drops once the batch is accepted or dropped for a counted reason.
    pub fn encode(self) -> Encoded {
        let req = PushRequest {
            streams: self.streams,
        };
        let raw = req.encode_to_vec();
        let body = snap::raw::Encoder::new()
            .compress_vec(&raw)
            .unwrap_or_default();
        Encoded {
            body,
            entries: self.entries,
            acks: self.acks,
        }
    }
}

/// An encoded batch.
pub struct Encoded {
    /// The request body.
    pub body: Vec<u8>,
    /// Entries in it.
    pub entries: usize,
    /// Delivery tokens.
    pub acks: Vec<Ack>,
}

#[cfg(test)]
mod tests {
    use super::*;

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
            let enc = batch.encode();
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
        let enc = b.encode();
        assert_eq!(p.committed(), 0);
        drop(enc.acks);
        assert_eq!(p.committed(), 6);
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;

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
