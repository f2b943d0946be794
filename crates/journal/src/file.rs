//! One journal file: header, entry-array chain, ENTRY and DATA objects.
//!
//! Layout constants follow systemd's "Journal File Format" document
//! (<https://systemd.io/JOURNAL_FILE_FORMAT/>, as of systemd v254).

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::cache::{PageCache, ReadError};
use crate::{Error, Result};

/// File signature, `"LPKSHHRH"`.
pub(crate) const SIGNATURE: &[u8; 8] = b"LPKSHHRH";

/// Incompatible header flag: DATA objects may be XZ-compressed.
pub const INCOMPATIBLE_COMPRESSED_XZ: u32 = 1 << 0;
/// Incompatible header flag: DATA objects may be LZ4-compressed.
pub const INCOMPATIBLE_COMPRESSED_LZ4: u32 = 1 << 1;
/// Incompatible header flag: hash tables use keyed SipHash-2-4 (irrelevant for sequential reading).
pub const INCOMPATIBLE_KEYED_HASH: u32 = 1 << 2;
/// Incompatible header flag: DATA objects may be ZSTD-compressed.
pub const INCOMPATIBLE_COMPRESSED_ZSTD: u32 = 1 << 3;
/// Incompatible header flag: compact mode (32-bit offsets in entry items and entry arrays).
pub const INCOMPATIBLE_COMPACT: u32 = 1 << 4;
/// All incompatible flags this reader understands.
pub const INCOMPATIBLE_SUPPORTED: u32 = INCOMPATIBLE_COMPRESSED_XZ
    | INCOMPATIBLE_COMPRESSED_LZ4
    | INCOMPATIBLE_KEYED_HASH
    | INCOMPATIBLE_COMPRESSED_ZSTD
    | INCOMPATIBLE_COMPACT;

const OBJECT_DATA: u8 = 1;
const OBJECT_ENTRY: u8 = 3;
const OBJECT_ENTRY_ARRAY: u8 = 6;

const OBJ_COMPRESSED_XZ: u8 = 1 << 0;
const OBJ_COMPRESSED_LZ4: u8 = 1 << 1;
const OBJ_COMPRESSED_ZSTD: u8 = 1 << 2;

/// Object header size (type, flags, reserved, le64 size).
const OBJECT_HEADER_SIZE: u64 = 16;
/// Fixed part of an ENTRY object (header + seqnum, realtime, monotonic, boot_id, xor_hash).
const ENTRY_FIXED: u64 = 64;
/// Fixed part of an ENTRY_ARRAY object (header + next_entry_array_offset).
const ENTRY_ARRAY_FIXED: u64 = 24;
/// Offset of the payload in a regular DATA object.
const DATA_PAYLOAD: u64 = 64;
/// Offset of the payload in a compact DATA object.
const DATA_PAYLOAD_COMPACT: u64 = 72;
/// Smallest header systemd ever wrote (up to `tail_entry_monotonic`).
const MIN_HEADER_SIZE: u64 = 208;
/// Bytes of the header we read (up to and including `tail_entry_offset`, v254).
const HEADER_READ: usize = 272;

/// Largest decompressed (or stored) field we accept.
pub const MAX_FIELD_SIZE: usize = 64 * 1024 * 1024;
/// Most fields per entry we accept (journald itself allows 1024).
pub const MAX_ENTRY_ITEMS: u64 = 65536;
/// Most bytes (all fields, decompressed) per entry we return; further fields are skipped with a warning.
pub const MAX_ENTRY_SIZE: usize = 128 * 1024 * 1024;
/// Longest entry-array chain we follow (journald's arrays grow geometrically,
/// so real files need a few thousand at most); bounds memory on hostile files.
const MAX_ARRAYS: usize = 1 << 18;
/// Largest object we are willing to read in one piece.
const MAX_OBJECT_SIZE: u64 = MAX_FIELD_SIZE as u64 + 4096;

/// State of a journal file (header `state` byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileState {
    /// Closed cleanly.
    Offline,
    /// Being written by journald (or was not closed cleanly).
    Online,
    /// Rotated; will not be written again.
    Archived,
    /// Unknown state byte.
    Unknown(u8),
}

/// Parsed journal file header (only the fields the reader needs).
#[derive(Debug, Clone)]
pub struct Header {
    /// Compatible flags (unknown bits are tolerated).
    pub compatible_flags: u32,
    /// Incompatible flags.
    pub incompatible_flags: u32,
    /// File state.
    pub state: FileState,
    /// File id.
    pub file_id: [u8; 16],
    /// Machine id.
    pub machine_id: [u8; 16],
    /// Sequence number id shared by files of one journald instance.
    pub seqnum_id: [u8; 16],
    /// Header size in bytes.
    pub header_size: u64,
    /// Arena size in bytes.
    pub arena_size: u64,
    /// Offset of the last object.
    pub tail_object_offset: u64,
    /// Number of entries.
    pub n_entries: u64,
    /// Offset of the first ENTRY_ARRAY object.
    pub entry_array_offset: u64,
    /// Realtime of the first entry.
    pub head_entry_realtime: u64,
    /// Realtime of the last entry.
    pub tail_entry_realtime: u64,
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        a.copy_from_slice(s);
    }
    u64::from_le_bytes(a)
}

fn le32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        a.copy_from_slice(s);
    }
    u32::from_le_bytes(a)
}

fn id128(b: &[u8], at: usize) -> [u8; 16] {
    let mut a = [0u8; 16];
    if let Some(s) = b.get(at..at + 16) {
        a.copy_from_slice(s);
    }
    a
}

impl Header {
    /// Parses a header from the first bytes of a file (`file_size` bounds the offsets).
    pub fn parse(b: &[u8], path: &Path, file_size: u64) -> Result<Header> {
        let err = |m: String| Error::format(path, Some(0), m);
        if b.len() < MIN_HEADER_SIZE as usize {
            return Err(err(format!(
                "file too short for a header ({} bytes)",
                b.len()
            )));
        }
        if b.get(0..8) != Some(&SIGNATURE[..]) {
            return Err(err("bad signature (not a journal file)".into()));
        }
        let incompatible_flags = le32(b, 12);
        if incompatible_flags & !INCOMPATIBLE_SUPPORTED != 0 {
            return Err(err(format!(
                "unsupported incompatible flags {:#x}",
                incompatible_flags & !INCOMPATIBLE_SUPPORTED
            )));
        }
        let state = match b.get(16).copied().unwrap_or(0xff) {
            0 => FileState::Offline,
            1 => FileState::Online,
            2 => FileState::Archived,
            x => FileState::Unknown(x),
        };
        let header_size = le64(b, 88);
        if header_size < MIN_HEADER_SIZE || header_size > file_size || header_size & 7 != 0 {
            return Err(err(format!("bad header_size {header_size}")));
        }
        let h = Header {
            compatible_flags: le32(b, 8),
            incompatible_flags,
            state,
            file_id: id128(b, 24),
            machine_id: id128(b, 40),
            seqnum_id: id128(b, 72),
            header_size,
            arena_size: le64(b, 96),
            tail_object_offset: le64(b, 136),
            n_entries: le64(b, 152),
            entry_array_offset: le64(b, 176),
            head_entry_realtime: le64(b, 184),
            tail_entry_realtime: le64(b, 192),
        };
        Ok(h)
    }

    /// Whether the file uses compact mode.
    pub fn compact(&self) -> bool {
        self.incompatible_flags & INCOMPATIBLE_COMPACT != 0
    }
}

/// The ordering/identity key of one entry: exactly the fields of a cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key {
    pub seqnum_id: [u8; 16],
    pub seqnum: u64,
    pub boot_id: [u8; 16],
    pub monotonic: u64,
    pub realtime: u64,
    pub xor_hash: u64,
}

impl Key {
    /// Journalctl's order (`journal_file_compare_locations`): seqnum within
    /// the same seqnum_id, then monotonic within the same boot, then
    /// realtime, then xor_hash. Equal keys denote the same entry.
    pub fn compare(&self, o: &Key) -> std::cmp::Ordering {
        use std::cmp::Ordering::Equal;
        if self.seqnum_id == o.seqnum_id {
            let c = self.seqnum.cmp(&o.seqnum);
            if c != Equal {
                return c;
            }
        }
        if self.boot_id == o.boot_id {
            let c = self.monotonic.cmp(&o.monotonic);
            if c != Equal {
                return c;
            }
        }
        let c = self.realtime.cmp(&o.realtime);
        if c != Equal {
            return c;
        }
        self.xor_hash.cmp(&o.xor_hash)
    }
}

#[derive(Debug, Clone, Copy)]
struct ArrayRef {
    offset: u64,
    capacity: u64,
    start: u64,
}

/// An open journal file.
pub(crate) struct JournalFile {
    pub path: PathBuf,
    file: File,
    /// Cache key of this file in the shared [`PageCache`].
    pub id: u32,
    pub dev_ino: (u64, u64),
    pub header: Header,
    pub size: u64,
    arrays: Vec<ArrayRef>,
    /// Entries at index >= `cut` are unreadable (broken entry-array chain).
    cut: u64,
}

fn map_read(e: ReadError, path: &Path, offset: u64) -> Error {
    match e {
        ReadError::Io(e) => Error::Io {
            path: path.to_path_buf(),
            source: e,
        },
        ReadError::Short => Error::format(path, Some(offset), "truncated (read past end of file)"),
    }
}

/// Reads the header directly (not cached) and the file size.
fn read_header(file: &File, path: &Path) -> Result<(Header, u64)> {
    let md = file.metadata().map_err(|e| Error::io(path, e))?;
    let size = md.len();
    let mut buf = vec![0u8; HEADER_READ];
    let mut got = 0;
    while got < HEADER_READ {
        match file.read_at(&mut buf[got..], got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(path, e)),
        }
    }
    buf.truncate(got);
    let h = Header::parse(&buf, path, size)?;
    Ok((h, size))
}

/// A `Write` sink that refuses to grow beyond [`MAX_FIELD_SIZE`].
struct CappedWriter<'a>(&'a mut Vec<u8>);

impl Write for CappedWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + buf.len() > MAX_FIELD_SIZE {
            return Err(std::io::Error::other("decompressed field exceeds 64 MiB"));
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Decompresses one DATA payload into `out` (cleared first).
pub(crate) fn decompress(
    flags: u8,
    src: &[u8],
    out: &mut Vec<u8>,
) -> std::result::Result<(), String> {
    out.clear();
    match flags & (OBJ_COMPRESSED_XZ | OBJ_COMPRESSED_LZ4 | OBJ_COMPRESSED_ZSTD) {
        OBJ_COMPRESSED_XZ => {
            let mut r = std::io::BufReader::new(src);
            lzma_rs::xz_decompress(&mut r, &mut CappedWriter(out)).map_err(|e| format!("xz: {e}"))
        }
        OBJ_COMPRESSED_LZ4 => {
            if src.len() < 8 {
                return Err("lz4: payload shorter than its size prefix".into());
            }
            let n = le64(src, 0);
            if n > MAX_FIELD_SIZE as u64 {
                return Err(format!("lz4: decompressed size {n} exceeds 64 MiB"));
            }
            out.resize(n as usize, 0);
            let got = lz4_flex::block::decompress_into(src.get(8..).unwrap_or(&[]), out)
                .map_err(|e| format!("lz4: {e}"))?;
            if got != n as usize {
                return Err(format!("lz4: decompressed {got} bytes, expected {n}"));
            }
            Ok(())
        }
        OBJ_COMPRESSED_ZSTD => {
            let mut dec =
                ruzstd::decoding::StreamingDecoder::new(src).map_err(|e| format!("zstd: {e}"))?;
            let mut buf = [0u8; 16 * 1024];
            loop {
                let n = match dec.read(&mut buf) {
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(format!("zstd: {e}")),
                };
                if n == 0 {
                    return Ok(());
                }
                if out.len() + n > MAX_FIELD_SIZE {
                    return Err("zstd: decompressed field exceeds 64 MiB".into());
                }
                out.extend_from_slice(&buf[..n]);
            }
        }
        0 => {
            out.extend_from_slice(src);
            Ok(())
        }
        f => Err(format!("several compression flags set ({f:#x})")),
    }
}

impl JournalFile {
    pub(crate) fn open(path: &Path, id: u32) -> Result<JournalFile> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let md = file.metadata().map_err(|e| Error::io(path, e))?;
        let (header, size) = read_header(&file, path)?;
        Ok(JournalFile {
            path: path.to_path_buf(),
            file,
            id,
            dev_ino: (md.dev(), md.ino()),
            header,
            size,
            arrays: Vec::new(),
            cut: u64::MAX,
        })
    }

    /// Number of entries that may currently be read.
    pub(crate) fn n_entries(&self) -> u64 {
        self.header.n_entries.min(self.cut)
    }

    /// Re-reads the header (invalidating cached pages if it changed); returns
    /// whether the file was rewritten in place (new file id or fewer entries).
    pub(crate) fn refresh(&mut self, cache: &mut PageCache) -> Result<bool> {
        let (h, size) = read_header(&self.file, &self.path)?;
        let changed = h.n_entries != self.header.n_entries
            || h.tail_object_offset != self.header.tail_object_offset
            || h.state != self.header.state
            || size != self.size;
        let rewritten = h.file_id != self.header.file_id || h.n_entries < self.header.n_entries;
        if rewritten {
            // Forget everything we knew about its layout.
            self.arrays.clear();
            self.cut = u64::MAX;
        }
        self.header = h;
        self.size = size;
        if changed || rewritten {
            cache.invalidate(self.id);
        }
        Ok(rewritten)
    }

    /// Marks entries from `idx` on as unreadable (broken chain).
    pub(crate) fn cut_at(&mut self, idx: u64) {
        self.cut = self.cut.min(idx);
    }

    fn fmt_err(&self, offset: u64, msg: impl Into<String>) -> Error {
        Error::format(&self.path, Some(offset), msg)
    }

    fn read<'c>(&self, cache: &'c mut PageCache, offset: u64, len: usize) -> Result<&'c [u8]> {
        if offset
            .checked_add(len as u64)
            .is_none_or(|end| end > self.size)
        {
            return Err(self.fmt_err(
                offset,
                format!(
                    "object of {len} bytes extends past end of file ({})",
                    self.size
                ),
            ));
        }
        cache
            .read(&self.file, self.id, offset, len)
            .map_err(|e| map_read(e, &self.path, offset))
    }

    /// Reads and checks an object header; returns (flags, size).
    fn object_header(
        &self,
        cache: &mut PageCache,
        offset: u64,
        want: u8,
        min: u64,
    ) -> Result<(u8, u64)> {
        if offset & 7 != 0 || offset < self.header.header_size {
            return Err(self.fmt_err(offset, "invalid object offset"));
        }
        let b = self.read(cache, offset, OBJECT_HEADER_SIZE as usize)?;
        let ty = b.first().copied().unwrap_or(0);
        let flags = b.get(1).copied().unwrap_or(0);
        let size = le64(b, 8);
        if ty != want {
            return Err(self.fmt_err(offset, format!("object type {ty}, expected {want}")));
        }
        if size < min || size > MAX_OBJECT_SIZE {
            return Err(self.fmt_err(offset, format!("bad object size {size}")));
        }
        Ok((flags, size))
    }

    fn item_size(&self) -> u64 {
        if self.header.compact() {
            4
        } else {
            8
        }
    }

    fn load_array(&self, cache: &mut PageCache, offset: u64, start: u64) -> Result<ArrayRef> {
        let (_, size) = self.object_header(cache, offset, OBJECT_ENTRY_ARRAY, ENTRY_ARRAY_FIXED)?;
        let capacity = (size - ENTRY_ARRAY_FIXED) / self.item_size();
        if capacity == 0 {
            return Err(self.fmt_err(offset, "empty entry array"));
        }
        Ok(ArrayRef {
            offset,
            capacity,
            start,
        })
    }

    /// Offset of the ENTRY object with index `idx` (0-based, in file order), or
    /// `None` when it is not (yet) linked.
    pub(crate) fn entry_offset(&mut self, cache: &mut PageCache, idx: u64) -> Result<Option<u64>> {
        if idx >= self.n_entries() {
            return Ok(None);
        }
        if self.arrays.is_empty() {
            let off = self.header.entry_array_offset;
            if off == 0 {
                return Ok(None);
            }
            let a = self.load_array(cache, off, 0)?;
            self.arrays.push(a);
        }
        loop {
            let last = match self.arrays.last() {
                Some(l) => *l,
                None => return Ok(None),
            };
            if idx < last.start + last.capacity {
                break;
            }
            let b = self.read(cache, last.offset + 16, 8)?;
            let next = le64(b, 0);
            if next == 0 {
                return Ok(None);
            }
            // Arrays are appended, so the chain strictly ascends: this guards against cycles.
            if next <= last.offset {
                return Err(self.fmt_err(
                    last.offset,
                    format!("entry array chain goes backwards to {next}"),
                ));
            }
            if self.arrays.len() >= MAX_ARRAYS {
                return Err(self.fmt_err(
                    next,
                    format!("more than {MAX_ARRAYS} entry arrays in the chain"),
                ));
            }
            let a = self.load_array(cache, next, last.start + last.capacity)?;
            self.arrays.push(a);
        }
        let pos = self.arrays.partition_point(|a| a.start + a.capacity <= idx);
        let a = match self.arrays.get(pos) {
            Some(a) => *a,
            None => return Ok(None),
        };
        let is = self.item_size();
        let at = a.offset + ENTRY_ARRAY_FIXED + (idx - a.start) * is;
        let b = self.read(cache, at, is as usize)?;
        let off = if is == 4 {
            u64::from(le32(b, 0))
        } else {
            le64(b, 0)
        };
        if off == 0 {
            return Ok(None);
        }
        Ok(Some(off))
    }

    /// Reads the fixed part of the ENTRY object at `offset`.
    pub(crate) fn entry_key(&self, cache: &mut PageCache, offset: u64) -> Result<Key> {
        self.object_header(cache, offset, OBJECT_ENTRY, ENTRY_FIXED)?;
        let b = self.read(cache, offset, ENTRY_FIXED as usize)?;
        Ok(Key {
            seqnum_id: self.header.seqnum_id,
            seqnum: le64(b, 16),
            realtime: le64(b, 24),
            monotonic: le64(b, 32),
            boot_id: id128(b, 40),
            xor_hash: le64(b, 56),
        })
    }

    /// Key of the entry with index `idx`.
    pub(crate) fn key_at(&mut self, cache: &mut PageCache, idx: u64) -> Result<Option<(u64, Key)>> {
        match self.entry_offset(cache, idx)? {
            Some(off) => Ok(Some((off, self.entry_key(cache, off)?))),
            None => Ok(None),
        }
    }

    /// Reads the data-object offsets of the ENTRY at `offset` into `items`.
    pub(crate) fn entry_items(
        &self,
        cache: &mut PageCache,
        offset: u64,
        items: &mut Vec<u64>,
    ) -> Result<()> {
        let (_, size) = self.object_header(cache, offset, OBJECT_ENTRY, ENTRY_FIXED)?;
        let isz: u64 = if self.header.compact() { 4 } else { 16 };
        let n = (size - ENTRY_FIXED) / isz;
        if n > MAX_ENTRY_ITEMS {
            return Err(self.fmt_err(
                offset,
                format!("entry with {n} items (more than {MAX_ENTRY_ITEMS})"),
            ));
        }
        let b = self.read(cache, offset + ENTRY_FIXED, (n * isz) as usize)?;
        items.clear();
        for i in 0..n as usize {
            let o = if isz == 4 {
                u64::from(le32(b, i * 4))
            } else {
                le64(b, i * 16)
            };
            items.push(o);
        }
        Ok(())
    }

    /// The payload (`NAME=value`) of the DATA object at `offset`: borrowed
    /// from the cache when stored uncompressed, else decompressed into `buf`.
    pub(crate) fn data_payload<'a>(
        &self,
        cache: &'a mut PageCache,
        offset: u64,
        buf: &'a mut Vec<u8>,
    ) -> Result<&'a [u8]> {
        let poff = if self.header.compact() {
            DATA_PAYLOAD_COMPACT
        } else {
            DATA_PAYLOAD
        };
        let (flags, size) = self.object_header(cache, offset, OBJECT_DATA, poff)?;
        let b = self.read(cache, offset + poff, (size - poff) as usize)?;
        if flags & (OBJ_COMPRESSED_XZ | OBJ_COMPRESSED_LZ4 | OBJ_COMPRESSED_ZSTD) == 0 {
            return Ok(b);
        }
        decompress(flags, b, buf).map_err(|m| self.fmt_err(offset, m))?;
        Ok(buf.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_compressed_payloads() {
        let mut out = Vec::new();
        // LZ4 claiming more than the cap, or a size that does not match.
        let mut big = (MAX_FIELD_SIZE as u64 + 1).to_le_bytes().to_vec();
        big.extend_from_slice(&[0x10, b'a']);
        assert!(decompress(OBJ_COMPRESSED_LZ4, &big, &mut out).is_err());
        let mut lie = 100u64.to_le_bytes().to_vec();
        lie.extend_from_slice(&[0x10, b'a']);
        assert!(decompress(OBJ_COMPRESSED_LZ4, &lie, &mut out).is_err());
        assert!(decompress(OBJ_COMPRESSED_LZ4, &[1, 2, 3], &mut out).is_err());
        // Garbage XZ / ZSTD streams and several flags at once.
        assert!(decompress(OBJ_COMPRESSED_XZ, b"\xfd7zXZ\0garbage", &mut out).is_err());
        assert!(decompress(OBJ_COMPRESSED_ZSTD, b"\x28\xb5\x2f\xfdgarbage", &mut out).is_err());
        assert!(decompress(OBJ_COMPRESSED_ZSTD | OBJ_COMPRESSED_XZ, b"x", &mut out).is_err());
        // A valid LZ4 block round-trips.
        let raw = b"MESSAGE=hello hello hello hello hello".to_vec();
        let mut enc = (raw.len() as u64).to_le_bytes().to_vec();
        enc.extend_from_slice(&lz4_flex::block::compress(&raw));
        decompress(OBJ_COMPRESSED_LZ4, &enc, &mut out).unwrap();
        assert_eq!(out, raw);
    }

    #[test]
    fn header_rejects_garbage() {
        let p = Path::new("x.journal");
        assert!(Header::parse(&[0u8; 300], p, 300).is_err());
        let mut h = vec![0u8; 272];
        h[..8].copy_from_slice(SIGNATURE);
        h[88..96].copy_from_slice(&272u64.to_le_bytes());
        assert!(Header::parse(&h, p, 272).is_ok());
        assert!(
            Header::parse(&h, p, 100).is_err(),
            "header larger than the file"
        );
        h[12] = 0x20;
        assert!(
            Header::parse(&h, p, 272).is_err(),
            "unknown incompatible flag"
        );
        h[12] = 0;
        h[8] = 0xff;
        assert!(
            Header::parse(&h, p, 272).is_ok(),
            "unknown compatible flags are fine"
        );
    }
}
