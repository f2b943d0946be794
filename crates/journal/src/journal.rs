//! A set of journal files read as one interleaved stream.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::cache::PageCache;
use crate::cursor::Cursor;
use crate::file::{FileState, JournalFile, Key, MAX_ENTRY_SIZE};
use crate::{Entry, Error, Result, Warning};

/// Most warnings kept for [`Journal::warnings`]; later ones are only counted.
const MAX_KEPT_WARNINGS: usize = 1000;

/// Tunables of a [`Journal`].
#[derive(Debug, Clone)]
pub struct JournalOptions {
    /// Number of 32 KiB pages in the shared read cache (default 128 = 4 MiB).
    pub cache_pages: usize,
    /// Minimum time between two directory rescans done implicitly by
    /// [`Journal::next`] after it ran out of entries (default 1 s).
    /// [`Journal::refresh`] always rescans.
    pub rescan_interval: Duration,
}

impl Default for JournalOptions {
    fn default() -> Self {
        JournalOptions {
            cache_pages: 128,
            rescan_interval: Duration::from_secs(1),
        }
    }
}

/// Where files (including files discovered later) start reading.
#[derive(Debug, Clone)]
enum Anchor {
    Head,
    Tail,
    Realtime(u64),
    After(Cursor),
}

struct Slot {
    f: JournalFile,
    /// Index of the next entry to consider.
    pos: u64,
    /// Offset and key of the entry at `pos`, once loaded.
    head: Option<(u64, Key)>,
    /// No longer in its directory (vacuumed); dropped once exhausted.
    removed: bool,
    /// Named explicitly (not found by a directory scan).
    explicit: bool,
}

/// A journal: the files of one or more directories, read as one stream.
pub struct Journal {
    roots: Vec<PathBuf>,
    explicit: Vec<PathBuf>,
    files: Vec<Slot>,
    /// Files that failed to open: (dev, ino) -> (size, mtime) at that time.
    bad: HashMap<(u64, u64), (u64, i64)>,
    cache: PageCache,
    next_id: u32,
    matches: Vec<(String, Vec<Vec<u8>>)>,
    anchor: Anchor,
    last: Option<Key>,
    warnings: Vec<Warning>,
    warning_count: u64,
    last_scan: Instant,
    opts: JournalOptions,
    items: Vec<u64>,
    buf: Vec<u8>,
    /// Decoded small DATA payloads by (file, offset): shared fields
    /// (`_HOSTNAME=…`, `_SYSTEMD_UNIT=…`) are decoded once.
    dcache: DataCache,
}

/// Slots of the [`DataCache`] (a power of two).
const DCACHE_SLOTS: usize = 2048;
/// Capacity of the decompression buffer kept between entries.
const DCACHE_KEEP_BUF: usize = 1 << 20;
/// Largest payload kept in the [`DataCache`].
const DCACHE_MAX: usize = 512;

/// Direct-mapped cache of small decoded DATA payloads (at most
/// `DCACHE_SLOTS * DCACHE_MAX` = 1 MiB).
struct DataCache {
    keys: Vec<u64>,
    data: Vec<Vec<u8>>,
}

impl DataCache {
    fn new() -> Self {
        DataCache {
            keys: Vec::new(),
            data: Vec::new(),
        }
    }
    fn clear(&mut self) {
        self.keys.clear();
        self.data.clear();
    }
    fn key(file_id: u32, offset: u64) -> Option<(u64, usize)> {
        if offset >= 1 << 47 {
            return None;
        }
        let k = (u64::from(file_id) << 44) | (offset >> 3);
        let h = k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 53;
        Some((k, h as usize & (DCACHE_SLOTS - 1)))
    }
    fn get(&self, file_id: u32, offset: u64) -> Option<&[u8]> {
        let (k, i) = Self::key(file_id, offset)?;
        if self.keys.get(i) == Some(&k) {
            self.data.get(i).map(|v| v.as_slice())
        } else {
            None
        }
    }
    fn put(&mut self, file_id: u32, offset: u64, payload: &[u8]) {
        if payload.len() > DCACHE_MAX {
            return;
        }
        let Some((k, i)) = Self::key(file_id, offset) else {
            return;
        };
        if self.keys.is_empty() {
            self.keys = vec![u64::MAX; DCACHE_SLOTS];
            self.data = vec![Vec::new(); DCACHE_SLOTS];
        }
        if let (Some(key), Some(d)) = (self.keys.get_mut(i), self.data.get_mut(i)) {
            *key = k;
            d.clear();
            d.extend_from_slice(payload);
        }
    }
}

fn is_journal_name(name: &std::ffi::OsStr) -> bool {
    let n = name.to_string_lossy();
    n.ends_with(".journal") || n.ends_with(".journal~")
}

/// The default journal directories: `/var/log/journal/<machine-id>` and
/// `/run/log/journal/<machine-id>` (or the whole of `/var/log/journal` and
/// `/run/log/journal` if the machine id cannot be read).
pub fn default_dirs() -> Vec<PathBuf> {
    let mid = std::fs::read_to_string("/etc/machine-id")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()));
    match mid {
        Some(m) => vec![
            PathBuf::from("/var/log/journal").join(&m),
            PathBuf::from("/run/log/journal").join(&m),
        ],
        None => vec![
            PathBuf::from("/var/log/journal"),
            PathBuf::from("/run/log/journal"),
        ],
    }
}

impl Journal {
    /// Opens the journal files found in `paths` (default options).
    ///
    /// Each path may be a directory holding `*.journal` / `*.journal~` files,
    /// a directory whose subdirectories (machine ids) hold them (as
    /// `journalctl --directory`), or a single journal file. An empty slice
    /// means the system journal (see [`default_dirs`](crate::default_dirs)).
    /// Unreadable files and missing directories become [`Warning`]s, not errors.
    pub fn open_dir(paths: &[PathBuf]) -> Result<Journal> {
        Self::open_with(paths, JournalOptions::default())
    }

    /// Like [`Journal::open_dir`] with explicit options.
    pub fn open_with(paths: &[PathBuf], opts: JournalOptions) -> Result<Journal> {
        let paths = if paths.is_empty() {
            default_dirs()
        } else {
            paths.to_vec()
        };
        let mut roots = Vec::new();
        let mut explicit = Vec::new();
        for p in paths {
            if p.is_file() {
                explicit.push(p);
            } else {
                roots.push(p);
            }
        }
        let mut j = Journal {
            roots,
            explicit,
            files: Vec::new(),
            bad: HashMap::new(),
            cache: PageCache::new(opts.cache_pages),
            next_id: 0,
            matches: Vec::new(),
            anchor: Anchor::Head,
            last: None,
            warnings: Vec::new(),
            warning_count: 0,
            last_scan: Instant::now(),
            opts,
            items: Vec::new(),
            buf: Vec::new(),
            dcache: DataCache::new(),
        };
        j.scan();
        Ok(j)
    }

    /// Paths of the files currently open, in no particular order.
    pub fn files(&self) -> Vec<PathBuf> {
        self.files.iter().map(|s| s.f.path.clone()).collect()
    }

    /// Takes the warnings collected since the last call (at most 1000 are kept).
    pub fn warnings(&mut self) -> Vec<Warning> {
        std::mem::take(&mut self.warnings)
    }

    /// Total number of warnings since the journal was opened.
    pub fn warning_count(&self) -> u64 {
        self.warning_count
    }

    fn warn(&mut self, w: Warning) {
        self.warning_count += 1;
        if self.warnings.len() < MAX_KEPT_WARNINGS {
            self.warnings.push(w);
        }
    }

    /// Adds a match: entries must have `field` equal to `value`. Matches on
    /// the same field are ORed, matches on different fields ANDed (as
    /// `journalctl FIELD=a FIELD=b OTHER=c`).
    pub fn add_match(&mut self, field: &str, value: &[u8]) {
        match self.matches.iter_mut().find(|(f, _)| f == field) {
            Some((_, vs)) => vs.push(value.to_vec()),
            None => self.matches.push((field.to_string(), vec![value.to_vec()])),
        }
    }

    /// Adds the matches of a Promtail/journalctl style expression such as
    /// `"_SYSTEMD_UNIT=foo.service _TRANSPORT=kernel"` (whitespace separated
    /// `FIELD=value` terms; `+` disjunctions are not supported).
    pub fn add_match_expr(&mut self, expr: &str) -> Result<()> {
        for term in expr.split_whitespace() {
            match term.split_once('=') {
                Some((f, v)) if !f.is_empty() => self.add_match(f, v.as_bytes()),
                _ => {
                    return Err(Error::Cursor(format!(
                        "invalid match term {term:?} (want FIELD=value)"
                    )))
                }
            }
        }
        Ok(())
    }

    /// Removes all matches.
    pub fn flush_matches(&mut self) {
        self.matches.clear();
    }

    fn entry_matches(&self, fields: &[(String, Vec<u8>)]) -> bool {
        self.matches.iter().all(|(name, values)| {
            fields
                .iter()
                .any(|(n, v)| n == name && values.iter().any(|x| x == v))
        })
    }

    // ----- directory handling ---------------------------------------------

    fn candidates(&mut self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = self.explicit.clone();
        let roots = self.roots.clone();
        for root in roots {
            let rd = match std::fs::read_dir(&root) {
                Ok(rd) => rd,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    self.warn(Error::io(&root, e).into());
                    continue;
                }
            };
            for de in rd.flatten() {
                let p = de.path();
                let ft = match de.file_type() {
                    Ok(t) => t,
                    Err(_) => continue,
                };
                if ft.is_dir() {
                    if let Ok(sub) = std::fs::read_dir(&p) {
                        for se in sub.flatten() {
                            if is_journal_name(&se.file_name()) {
                                out.push(se.path());
                            }
                        }
                    }
                } else if is_journal_name(&de.file_name()) {
                    out.push(p);
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// Scans the directories: opens new files, notices renamed and removed ones.
    fn scan(&mut self) {
        self.last_scan = Instant::now();
        let mut seen = vec![false; self.files.len()];
        for p in self.candidates() {
            let md = match std::fs::metadata(&p) {
                Ok(m) if m.is_file() => m,
                _ => continue, // vanished meanwhile, or not a regular file
            };
            let di = (md.dev(), md.ino());
            if let Some(i) = self.files.iter().position(|s| s.f.dev_ino == di) {
                // Same inode: possibly renamed by rotation (system.journal -> system@….journal).
                if let Some(s) = seen.get_mut(i) {
                    *s = true;
                }
                if let Some(s) = self.files.get_mut(i) {
                    s.f.path = p;
                }
                continue;
            }
            let stamp = (md.len(), md.mtime());
            if self.bad.get(&di) == Some(&stamp) {
                continue;
            }
            let id = self.next_id;
            self.next_id = self.next_id.wrapping_add(1) & 0x000f_ffff;
            match JournalFile::open(&p, id) {
                Ok(f) => {
                    self.bad.remove(&di);
                    let explicit = self.explicit.contains(&p);
                    let mut slot = Slot {
                        f,
                        pos: 0,
                        head: None,
                        removed: false,
                        explicit,
                    };
                    slot.pos = self.start_pos(&mut slot.f);
                    self.files.push(slot);
                    seen.push(true);
                }
                Err(e) => {
                    self.bad.insert(di, stamp);
                    self.warn(e.into());
                }
            }
        }
        for (i, s) in self.files.iter_mut().enumerate() {
            if !s.explicit && !seen.get(i).copied().unwrap_or(false) {
                s.removed = true;
            }
        }
        self.drop_exhausted_removed();
    }

    fn drop_exhausted_removed(&mut self) {
        self.files
            .retain(|s| !(s.removed && s.head.is_none() && s.pos >= s.f.n_entries()));
    }

    /// Re-reads the headers of all open files (new entries of live files) and
    /// rescans the directories (new, rotated and removed files).
    pub fn refresh(&mut self) {
        self.refresh_headers();
        self.scan();
    }

    fn refresh_headers(&mut self) {
        let mut warns = Vec::new();
        let mut rewritten = false;
        for s in &mut self.files {
            if s.f.header.state == FileState::Archived {
                continue; // archived files are never written again
            }
            match s.f.refresh(&mut self.cache) {
                Ok(false) => {}
                Ok(true) => {
                    rewritten = true;
                    s.head = None;
                    s.pos = s.pos.min(s.f.n_entries());
                    warns.push(Error::format(
                        &s.f.path,
                        None,
                        "file was rewritten in place",
                    ));
                }
                Err(e) => {
                    // Truncated or overwritten under us: stop reading it, keep the rest.
                    s.f.cut_at(s.pos);
                    s.head = None;
                    warns.push(e);
                }
            }
        }
        if rewritten {
            self.dcache.clear();
        }
        for e in warns {
            self.warn(e.into());
        }
    }

    // ----- positioning ----------------------------------------------------

    /// First index in `f` whose key satisfies `pred` (keys are assumed sorted).
    fn lower_bound(&mut self, f: &mut JournalFile, pred: impl Fn(&Key) -> bool) -> u64 {
        let (mut lo, mut hi) = (0u64, f.n_entries());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match f.key_at(&mut self.cache, mid) {
                Ok(Some((_, k))) => {
                    if pred(&k) {
                        hi = mid;
                    } else {
                        lo = mid + 1;
                    }
                }
                Ok(None) => hi = mid,
                Err(e) => {
                    self.warn(e.into());
                    lo = mid + 1;
                }
            }
        }
        lo
    }

    /// Index after the location `c` in file `f`.
    fn pos_after(&mut self, f: &mut JournalFile, c: &Cursor) -> u64 {
        match (c.seqnum_id, c.seqnum, c.realtime) {
            (Some(sid), Some(seq), _) if sid == f.header.seqnum_id => {
                self.lower_bound(f, |k| k.seqnum > seq)
            }
            (_, _, Some(t)) => self.lower_bound(f, |k| k.realtime > t),
            _ => 0,
        }
    }

    fn start_pos(&mut self, f: &mut JournalFile) -> u64 {
        if let Some(last) = self.last {
            let c = key_cursor(&last);
            return self.pos_after(f, &c);
        }
        match self.anchor.clone() {
            Anchor::Head => 0,
            Anchor::Tail => f.n_entries(),
            Anchor::Realtime(t) => self.lower_bound(f, |k| k.realtime >= t),
            Anchor::After(c) => self.pos_after(f, &c),
        }
    }

    fn reposition(&mut self, anchor: Anchor, last: Option<Key>) {
        self.anchor = anchor;
        self.last = last;
        let mut files = std::mem::take(&mut self.files);
        for s in &mut files {
            s.head = None;
            s.pos = self.start_pos(&mut s.f);
        }
        self.files = files;
    }

    /// Positions before the oldest entry.
    pub fn seek_head(&mut self) {
        self.reposition(Anchor::Head, None);
    }

    /// Positions after the newest entry: [`Journal::next`] returns only
    /// entries written from now on.
    pub fn seek_tail(&mut self) {
        self.refresh_headers();
        self.reposition(Anchor::Tail, None);
        // Files that appear later (rotation) hold only newer entries: they are
        // read after the newest entry seen now, or from their head if the
        // journal is still empty.
        let mut newest: Option<Key> = None;
        let mut files = std::mem::take(&mut self.files);
        for s in &mut files {
            if s.pos > 0 {
                if let Ok(Some((_, k))) = s.f.key_at(&mut self.cache, s.pos - 1) {
                    if newest.is_none_or(|n| k.compare(&n) == Ordering::Greater) {
                        newest = Some(k);
                    }
                }
            }
        }
        self.files = files;
        self.anchor = Anchor::Head;
        self.last = newest;
    }

    /// Positions before the first entry with realtime ≥ `usec` (µs since the epoch).
    pub fn seek_realtime(&mut self, usec: u64) {
        self.reposition(Anchor::Realtime(usec), None);
    }

    /// Positions after the entry named by `cursor`. Returns `true` if that
    /// entry still exists (exact match); otherwise the position is before the
    /// nearest following entry (by seqnum in files of the same seqnum id, else
    /// by realtime), like `sd_journal_seek_cursor` + `sd_journal_next`.
    pub fn seek_cursor(&mut self, cursor: &str) -> Result<bool> {
        let c = Cursor::parse(cursor)?;
        let last = match (
            c.seqnum_id,
            c.seqnum,
            c.boot_id,
            c.monotonic,
            c.realtime,
            c.xor_hash,
        ) {
            (
                Some(seqnum_id),
                Some(seqnum),
                Some(boot_id),
                Some(monotonic),
                Some(realtime),
                Some(xor_hash),
            ) => Some(Key {
                seqnum_id,
                seqnum,
                boot_id,
                monotonic,
                realtime,
                xor_hash,
            }),
            _ => None,
        };
        self.reposition(Anchor::After(c.clone()), last);
        let mut exact = false;
        let mut files = std::mem::take(&mut self.files);
        for s in &mut files {
            if s.pos > 0 {
                if let Ok(Some((_, k))) = s.f.key_at(&mut self.cache, s.pos - 1) {
                    exact |= c.matches(&k);
                }
            }
        }
        self.files = files;
        Ok(exact)
    }

    // ----- iteration --------------------------------------------------------

    fn load_head(&mut self, i: usize) {
        loop {
            let Some(s) = self.files.get_mut(i) else {
                return;
            };
            if s.head.is_some() || s.pos >= s.f.n_entries() {
                return;
            }
            let pos = s.pos;
            let off = match s.f.entry_offset(&mut self.cache, pos) {
                Ok(Some(o)) => o,
                Ok(None) => return, // not linked yet (live file)
                Err(e) => {
                    s.f.cut_at(pos);
                    self.warn(e.into());
                    return;
                }
            };
            match s.f.entry_key(&mut self.cache, off) {
                Ok(k) => {
                    s.head = Some((off, k));
                    return;
                }
                Err(e) => {
                    s.pos += 1;
                    self.warn(e.into());
                }
            }
        }
    }

    /// Reads the entry at `off` of file `i` into `e`, reusing its allocations.
    fn read_entry(&mut self, i: usize, off: u64, key: Key, e: &mut Entry) -> bool {
        let Some(s) = self.files.get(i) else {
            return false;
        };
        if let Err(err) = s.f.entry_items(&mut self.cache, off, &mut self.items) {
            self.warn(err.into());
            return false;
        }
        e.realtime_usec = key.realtime;
        e.monotonic_usec = key.monotonic;
        e.boot_id = key.boot_id;
        e.seqnum = key.seqnum;
        e.seqnum_id = key.seqnum_id;
        e.xor_hash = key.xor_hash;
        let mut warns = Vec::new();
        let mut total = 0usize;
        let mut n = 0usize;
        for &d in &self.items {
            if d == 0 {
                continue;
            }
            if total > MAX_ENTRY_SIZE {
                warns.push(Error::format(
                    &s.f.path,
                    Some(off),
                    "entry larger than 128 MiB: remaining fields skipped",
                ));
                break;
            }
            let p = match self.dcache.get(s.f.id, d) {
                Some(p) => p,
                None => match s.f.data_payload(&mut self.cache, d, &mut self.buf) {
                    Ok(p) => {
                        self.dcache.put(s.f.id, d, p);
                        p
                    }
                    Err(err) => {
                        warns.push(err);
                        continue;
                    }
                },
            };
            total += p.len();
            let (name, value) = match p.iter().position(|&b| b == b'=') {
                Some(eq) if eq > 0 => (p.get(..eq).unwrap_or(&[]), p.get(eq + 1..).unwrap_or(&[])),
                _ => {
                    warns.push(Error::format(
                        &s.f.path,
                        Some(d),
                        "DATA payload without '='",
                    ));
                    continue;
                }
            };
            match e.fields.get_mut(n) {
                Some((en, ev)) => {
                    if en.as_bytes() != name {
                        en.clear();
                        push_name(en, name);
                    }
                    ev.clear();
                    ev.extend_from_slice(value);
                }
                None => {
                    let mut en = String::new();
                    push_name(&mut en, name);
                    e.fields.push((en, value.to_vec()));
                }
            }
            n += 1;
        }
        e.fields.truncate(n);
        if self.buf.capacity() > DCACHE_KEEP_BUF {
            // Do not keep the memory of one huge decompressed field around.
            self.buf = Vec::new();
        }
        for w in warns {
            self.warn(w.into());
        }
        true
    }

    fn next_inner(&mut self, e: &mut Entry) -> bool {
        loop {
            let mut best: Option<(usize, Key)> = None;
            for i in 0..self.files.len() {
                self.load_head(i);
                if let Some((_, k)) = self.files.get(i).and_then(|s| s.head) {
                    if best.is_none_or(|(_, b)| k.compare(&b) == Ordering::Less) {
                        best = Some((i, k));
                    }
                }
            }
            let Some((bi, key)) = best else {
                return false;
            };
            let Some(s) = self.files.get_mut(bi) else {
                return false;
            };
            let Some((off, _)) = s.head.take() else {
                return false;
            };
            s.pos += 1;
            // The same entry in other files (e.g. copied by journal-remote or
            // flushed from /run to /var) is returned only once.
            for (i, s) in self.files.iter_mut().enumerate() {
                if i != bi
                    && s.head
                        .is_some_and(|(_, k)| k.compare(&key) == Ordering::Equal)
                {
                    s.head = None;
                    s.pos += 1;
                }
            }
            if self
                .last
                .is_some_and(|l| l.compare(&key) == Ordering::Equal)
            {
                continue;
            }
            self.last = Some(key);
            if self.read_entry(bi, off, key, e) && self.entry_matches(&e.fields) {
                return true;
            }
        }
    }

    /// The next entry in journal order, or `None` when there is none (yet).
    ///
    /// After `None`, a later call picks up what was appended meanwhile: it
    /// re-reads the headers of the open files and, at most every
    /// [`JournalOptions::rescan_interval`], rescans the directories.
    /// Problems with single files or objects never fail the call; they are
    /// reported through [`Journal::warnings`].
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Entry>> {
        let mut e = Entry::default();
        Ok(self.next_into(&mut e)?.then_some(e))
    }

    /// Like [`Journal::next`], but fills `entry` in place, reusing the
    /// allocations of its fields (the fast path for a reading loop).
    /// Returns `false` when there is no entry (yet); `entry` is then unspecified.
    pub fn next_into(&mut self, entry: &mut Entry) -> Result<bool> {
        if self.next_inner(entry) {
            return Ok(true);
        }
        self.refresh_headers();
        if self.last_scan.elapsed() >= self.opts.rescan_interval {
            self.scan();
        } else {
            self.drop_exhausted_removed();
        }
        Ok(self.next_inner(entry))
    }
}

fn push_name(dst: &mut String, name: &[u8]) {
    match std::str::from_utf8(name) {
        Ok(s) => dst.push_str(s),
        Err(_) => dst.push_str(&String::from_utf8_lossy(name)),
    }
}

fn key_cursor(k: &Key) -> Cursor {
    Cursor {
        seqnum_id: Some(k.seqnum_id),
        seqnum: Some(k.seqnum),
        boot_id: Some(k.boot_id),
        monotonic: Some(k.monotonic),
        realtime: Some(k.realtime),
        xor_hash: Some(k.xor_hash),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn journal_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<super::Journal>();
        assert_send::<crate::Entry>();
    }
}
