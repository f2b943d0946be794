//! GELF UDP chunk reassembly (grafana/go-gelf v2 `Reader.ReadMessage`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::GelfError;

/// Chunked-message magic bytes.
pub const CHUNK_MAGIC: [u8; 2] = [0x1e, 0x0f];
/// Magic (2) + message id (8) + sequence number (1) + sequence count (1).
pub const CHUNK_HEADER_LEN: usize = 12;
/// Most chunks a message may have.
pub const MAX_CHUNKS: usize = 128;
/// go-gelf reads each datagram into a buffer of this size (`ChunkSize`), so a longer
/// datagram is truncated by the kernel.
pub const GO_GELF_READ_BUFFER: usize = 1420;

/// Reassembly limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Bytes kept of each datagram (go-gelf: 1420; a larger unchunked datagram is
    /// cut and then fails to decode, as in Promtail).
    pub max_datagram: usize,
    /// Reassembly window from the first chunk (go-gelf: 5 s).
    pub chunk_timeout: Duration,
    /// Most messages being reassembled at once; the oldest is evicted
    /// (ferrotail-only bound).
    pub max_pending_messages: usize,
    /// Most chunk bytes held for reassembly; the oldest messages are evicted
    /// (ferrotail-only bound).
    pub max_pending_bytes: usize,
    /// Cap on the decompressed size of one message.
    pub max_decompressed_size: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_datagram: GO_GELF_READ_BUFFER,
            chunk_timeout: Duration::from_secs(5),
            max_pending_messages: 4096,
            max_pending_bytes: 64 << 20,
            max_decompressed_size: 16 << 20,
        }
    }
}

/// Drop counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Incomplete messages dropped when their window ended.
    pub expired_messages: u64,
    /// Incomplete messages evicted by the pending-message or pending-byte bound.
    pub evicted_messages: u64,
    /// Chunks refused (too short, bad sequence, expired message).
    pub rejected_chunks: u64,
    /// Repeated chunks ignored.
    pub duplicate_chunks: u64,
    /// Messages completed from chunks.
    pub reassembled_messages: u64,
}

#[derive(Debug)]
struct Pending {
    first_seen: Instant,
    order: u64,
    count: u8,
    parts: Vec<Option<Vec<u8>>>,
    received: usize,
    bytes: usize,
}

/// Reassembles chunked GELF datagrams.
#[derive(Debug)]
pub struct Reassembler {
    cfg: Config,
    pending: HashMap<[u8; 8], Pending>,
    pending_bytes: usize,
    next_order: u64,
    stats: Stats,
}

impl Reassembler {
    /// A reassembler with the given limits.
    pub fn new(cfg: Config) -> Self {
        Reassembler {
            cfg,
            pending: HashMap::new(),
            pending_bytes: 0,
            next_order: 0,
            stats: Stats::default(),
        }
    }

    /// The limits.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Drop counters so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Messages being reassembled.
    pub fn pending_messages(&self) -> usize {
        self.pending.len()
    }

    /// Chunk bytes held.
    pub fn pending_bytes(&self) -> usize {
        self.pending_bytes
    }

    /// Feeds one datagram. Returns the complete (maybe compressed) payload when the
    /// datagram is unchunked or completes a chunked message, `Ok(None)` while a
    /// chunked message is incomplete.
    pub fn push<'a>(
        &mut self,
        datagram: &'a [u8],
        now: Instant,
    ) -> Result<Option<Cow<'a, [u8]>>, GelfError> {
        let d = datagram.get(..self.cfg.max_datagram).unwrap_or(datagram);
        if d.get(..2) != Some(&CHUNK_MAGIC[..]) {
            return Ok(Some(Cow::Borrowed(d)));
        }
        if d.len() <= CHUNK_HEADER_LEN {
            self.stats.rejected_chunks += 1;
            return Err(GelfError::ChunkTooShort { len: d.len() });
        }
        let (header, data) = d.split_at(CHUNK_HEADER_LEN);
        let mut id = [0u8; 8];
        id.copy_from_slice(header.get(2..10).unwrap_or(&[0; 8]));
        let seq = header.get(10).copied().unwrap_or(0);
        let count = header.get(11).copied().unwrap_or(0);
        if count == 0 || usize::from(count) > MAX_CHUNKS || seq >= count {
            self.stats.rejected_chunks += 1;
            return Err(GelfError::InvalidChunk { seq, count });
        }
        if let Some(p) = self.pending.get(&id) {
            if now.saturating_duration_since(p.first_seen) > self.cfg.chunk_timeout {
                self.stats.rejected_chunks += 1;
                return Err(GelfError::Expired);
            }
            if p.count != count {
                self.stats.rejected_chunks += 1;
                return Err(GelfError::InvalidChunk { seq, count });
            }
        } else {
            if count == 1 {
                // A single chunk is a whole message.
                self.stats.reassembled_messages += 1;
                return Ok(Some(Cow::Owned(data.to_vec())));
            }
            while self.pending.len() >= self.cfg.max_pending_messages.max(1) {
                self.evict_oldest();
            }
            let order = self.next_order;
            self.next_order += 1;
            self.pending.insert(
                id,
                Pending {
                    first_seen: now,
                    order,
                    count,
                    parts: vec![None; usize::from(count)],
                    received: 0,
                    bytes: 0,
                },
            );
        }
        while self.pending_bytes + data.len() > self.cfg.max_pending_bytes {
            if !self.evict_oldest_except(&id) {
                break;
            }
        }
        if self.pending_bytes + data.len() > self.cfg.max_pending_bytes {
            // This message alone exceeds the bound.
            if let Some(p) = self.pending.remove(&id) {
                self.pending_bytes -= p.bytes;
            }
            self.stats.evicted_messages += 1;
            return Ok(None);
        }
        let Some(p) = self.pending.get_mut(&id) else {
            return Ok(None);
        };
        match p.parts.get_mut(usize::from(seq)) {
            Some(slot @ None) => {
                *slot = Some(data.to_vec());
                p.received += 1;
                p.bytes += data.len();
                self.pending_bytes += data.len();
            }
            _ => {
                self.stats.duplicate_chunks += 1;
                return Ok(None);
            }
        }
        if p.received < usize::from(p.count) {
            return Ok(None);
        }
        let Some(p) = self.pending.remove(&id) else {
            return Ok(None);
        };
        self.pending_bytes -= p.bytes;
        self.stats.reassembled_messages += 1;
        let mut out = Vec::with_capacity(p.bytes);
        for part in p.parts.into_iter().flatten() {
            out.extend_from_slice(&part);
        }
        Ok(Some(Cow::Owned(out)))
    }

    /// Drops the messages whose window is over (go-gelf cleans up every 5 s; call
    /// this periodically). Returns how many were dropped.
    pub fn expire(&mut self, now: Instant) -> usize {
        let timeout = self.cfg.chunk_timeout;
        let before = self.pending.len();
        let mut freed = 0;
        self.pending.retain(|_, p| {
            let keep = now.saturating_duration_since(p.first_seen) <= timeout;
            if !keep {
                freed += p.bytes;
            }
            keep
        });
        self.pending_bytes -= freed;
        let n = before - self.pending.len();
        self.stats.expired_messages += n as u64;
        n
    }

    fn evict_oldest(&mut self) -> bool {
        self.evict_where(|_| true)
    }

    fn evict_oldest_except(&mut self, keep: &[u8; 8]) -> bool {
        let keep = *keep;
        self.evict_where(move |id| *id != keep)
    }

    fn evict_where(&mut self, ok: impl Fn(&[u8; 8]) -> bool) -> bool {
        let oldest = self
            .pending
            .iter()
            .filter(|(id, _)| ok(id))
            .min_by_key(|(_, p)| p.order)
            .map(|(id, _)| *id);
        match oldest.and_then(|id| self.pending.remove(&id)) {
            Some(p) => {
                self.pending_bytes -= p.bytes;
                self.stats.evicted_messages += 1;
                true
            }
            None => false,
        }
    }
}
