//! A small, bounded page cache in front of `pread(2)`.
//!
//! Journal files are read with positioned reads (`FileExt::read_at`) into
//! fixed-size pages instead of being memory-mapped: a journal file that is
//! truncated or removed under us then yields a short read (reported as a
//! warning) instead of a `SIGBUS`. The cache holds at most
//! [`PageCache::max_pages`] pages of [`PAGE_SIZE`] bytes for all files of a
//! [`crate::Journal`] together, so memory stays bounded however many or large
//! the files are.

use std::collections::HashMap;
use std::fs::File;
use std::hash::{BuildHasherDefault, Hasher};
use std::io;
use std::os::unix::fs::FileExt;

/// Size of one cached page in bytes.
pub(crate) const PAGE_SIZE: usize = 32 * 1024;
const PAGE_SHIFT: u32 = 15;
/// Capacity of the scratch buffer kept between reads.
const SCRATCH_KEEP: usize = 1 << 20;

/// Multiplicative hasher for the `u64` page keys (SipHash is needlessly slow here).
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (n ^ (n >> 29)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

struct Slot {
    key: u64,
    data: Vec<u8>,
    referenced: bool,
}

/// Bounded page cache shared by all files of a journal (clock replacement).
pub(crate) struct PageCache {
    slots: Vec<Slot>,
    map: HashMap<u64, usize, BuildHasherDefault<IdHasher>>,
    hand: usize,
    max_pages: usize,
    /// Buffer for reads that do not fit inside one page.
    scratch: Vec<u8>,
    /// Most recently used (key, slot): most reads hit the page of the previous one.
    mru: [(u64, usize); 2],
}

/// Error of a cached read: either an I/O error or a short read (truncated file).
#[derive(Debug)]
pub(crate) enum ReadError {
    Io(io::Error),
    /// The file ends before `offset + len`.
    Short,
}

impl PageCache {
    pub(crate) fn new(max_pages: usize) -> Self {
        PageCache {
            slots: Vec::new(),
            map: HashMap::default(),
            hand: 0,
            max_pages: max_pages.max(4),
            scratch: Vec::new(),
            mru: [(u64::MAX, 0); 2],
        }
    }

    fn key(file_id: u32, page: u64) -> u64 {
        (u64::from(file_id) << 40) ^ page
    }

    /// Drops all cached pages of one file (after it grew or was rewritten).
    pub(crate) fn invalidate(&mut self, file_id: u32) {
        self.mru = [(u64::MAX, 0); 2];
        let mut i = 0;
        while i < self.slots.len() {
            let k = self.slots[i].key;
            if (k >> 40) as u32 == file_id {
                self.map.remove(&k);
                self.slots[i].key = u64::MAX;
                self.slots[i].data.clear();
                self.slots[i].referenced = false;
            }
            i += 1;
        }
    }

    fn read_page(file: &File, page: u64, buf: &mut Vec<u8>) -> Result<(), ReadError> {
        buf.resize(PAGE_SIZE, 0);
        let base = page << PAGE_SHIFT;
        let mut got = 0usize;
        while got < PAGE_SIZE {
            match file.read_at(&mut buf[got..], base + got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ReadError::Io(e)),
            }
        }
        buf.truncate(got);
        Ok(())
    }

    fn victim(&mut self) -> usize {
        if self.slots.len() < self.max_pages {
            self.slots.push(Slot {
                key: u64::MAX,
                data: Vec::with_capacity(PAGE_SIZE),
                referenced: false,
            });
            return self.slots.len() - 1;
        }
        loop {
            let h = self.hand % self.slots.len();
            self.hand = h + 1;
            let s = &mut self.slots[h];
            if s.referenced {
                s.referenced = false;
            } else {
                if s.key != u64::MAX {
                    self.map.remove(&s.key);
                }
                self.mru = [(u64::MAX, 0); 2];
                s.key = u64::MAX;
                return h;
            }
        }
    }

    /// Reads `len` bytes at `offset` of `file` (cached under `file_id`).
    pub(crate) fn read(
        &mut self,
        file: &File,
        file_id: u32,
        offset: u64,
        len: usize,
    ) -> Result<&[u8], ReadError> {
        let page = offset >> PAGE_SHIFT;
        let in_page = (offset & (PAGE_SIZE as u64 - 1)) as usize;
        if in_page + len > PAGE_SIZE {
            // Spans pages: read directly, bypassing the cache. Give back the
            // memory of an earlier huge object.
            if len <= SCRATCH_KEEP && self.scratch.capacity() > SCRATCH_KEEP {
                self.scratch = Vec::new();
            }
            self.scratch.resize(len, 0);
            let mut got = 0usize;
            while got < len {
                match file.read_at(&mut self.scratch[got..], offset + got as u64) {
                    Ok(0) => return Err(ReadError::Short),
                    Ok(n) => got += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(ReadError::Io(e)),
                }
            }
            return Ok(&self.scratch[..len]);
        }
        let key = Self::key(file_id, page);
        let hit = self
            .mru
            .iter()
            .find(|&&(k, i)| {
                k == key
                    && self
                        .slots
                        .get(i)
                        .is_some_and(|s| s.data.len() >= in_page + len)
            })
            .map(|&(_, i)| i);
        if let Some(i) = hit {
            return self
                .slots
                .get(i)
                .and_then(|s| s.data.get(in_page..in_page + len))
                .ok_or(ReadError::Short);
        }
        let idx = match self.map.get(&key) {
            Some(&i) => {
                if self.slots[i].data.len() < in_page + len {
                    // Page was short (end of a growing file): read it again.
                    let mut buf = std::mem::take(&mut self.slots[i].data);
                    let r = Self::read_page(file, page, &mut buf);
                    self.slots[i].data = buf;
                    r?;
                }
                i
            }
            None => {
                let i = self.victim();
                let mut buf = std::mem::take(&mut self.slots[i].data);
                let r = Self::read_page(file, page, &mut buf);
                self.slots[i].data = buf;
                r?;
                self.slots[i].key = key;
                self.map.insert(key, i);
                i
            }
        };
        if self.mru[0].0 != key {
            self.mru[1] = self.mru[0];
            self.mru[0] = (key, idx);
        }
        let slot = &mut self.slots[idx];
        slot.referenced = true;
        slot.data
            .get(in_page..in_page + len)
            .ok_or(ReadError::Short)
    }
}
