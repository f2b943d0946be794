//! Pure-Rust reader of systemd journal files, for ferrotail's `journal` scrape config.
//!
//! This crate reads the on-disk journal (`*.journal`, `*.journal~`) directly,
//! without libsystemd and without running `journalctl`, so a static
//! `FROM scratch` binary can ship a host's journal.
//!
//! # Format
//!
//! It follows systemd's *Journal File Format* document
//! (<https://systemd.io/JOURNAL_FILE_FORMAT/>) as of **systemd v254**,
//! and is tested against files written by systemd 252 (Debian 12) and 254
//! (Debian 12 backports): header and `state` (online/offline/archived),
//! incompatible flags `COMPRESSED_XZ`, `COMPRESSED_LZ4`, `KEYED_HASH`,
//! `COMPRESSED_ZSTD` and `COMPACT` (32-bit entry items and entry-array
//! items, DATA payload at offset 72), ENTRY objects and their items,
//! ENTRY_ARRAY chains, and `n_entries` of live files. A file with an unknown
//! incompatible flag is skipped with a [`Warning`]; unknown compatible flags
//! are ignored. Hash tables are not used: entries are read in order through
//! the global entry-array chain, and matches are evaluated on the entries'
//! fields, so `KEYED_HASH` needs no SipHash implementation.
//!
//! # Why not an existing crate
//!
//! Before writing this, the pure-Rust candidates on crates.io were checked
//! (late 2026): `sdjournal` (0.1.x, a young and fast-moving API; memory-maps
//! files by default, XZ through the C `xz2`/liblzma) and `systemd-journal-sdk`
//! (a reader/writer SDK around code imported from Netdata, built on
//! self-referencing memory maps). Both map journal files into memory, where a
//! file truncated under the reader raises `SIGBUS` and kills the whole
//! shipper, and neither offers "skip this corrupt file or object, report it
//! as a countable warning, continue with the rest", which a log shipper needs.
//! Sequential reading of the format is small enough to own: this crate reads
//! with `pread(2)` through a bounded page cache, depends only on pure-Rust
//! decompressors (`lz4_flex`, `ruzstd`, `lzma-rs`; static musl builds need no
//! C toolchain), forbids `unsafe`, and never fails the whole journal for one
//! bad file.
//!
//! # Reading model
//!
//! * Files are read with positioned reads through one bounded page cache
//!   (at most [`JournalOptions::cache_pages`] × 32 KiB, 4 MiB by default)
//!   shared by all files; nothing else scales with file size.
//! * Every offset and size read from a file is bounds-checked; a single field
//!   is capped at 64 MiB after decompression; entry-array chains must strictly
//!   ascend, which rules out cycles. A corrupt object or file yields a
//!   [`Warning`] and is skipped.
//! * Entries of all files are merged in journalctl's order (seqnum within the
//!   same seqnum id, else monotonic time within the same boot, else realtime,
//!   else xor hash); an entry present in several files is returned once.
//! * Following: [`Journal::next`] returning `None` is not final. A later call
//!   re-reads the headers of the open files (picking up appended entries) and,
//!   at most every [`JournalOptions::rescan_interval`], rescans the
//!   directories for new files (rotation) and removed ones (vacuum). The
//!   caller decides when to poll; nothing here sleeps or spawns threads.
//! * [`Journal::next_into`] refills one [`Entry`] in place and is about twice
//!   as fast as [`Journal::next`], which allocates every field (see BENCH.md:
//!   ~1.7 M entries per CPU-second with `next_into`, ~7 MB peak RSS).
//!
//! # Example
//!
//! ```no_run
//! let mut j = journal::Journal::open_dir(&[])?; // the system journal
//! j.add_match("_SYSTEMD_UNIT", b"ssh.service");
//! j.seek_tail();
//! while let Some(e) = j.next()? {
//!     println!("{} {:?}", e.cursor(), e.field("MESSAGE"));
//! }
//! for w in j.warnings() {
//!     eprintln!("{w}");
//! }
//! # Ok::<(), journal::Error>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod cache;
mod cursor;
mod file;
mod journal;

pub use cursor::{id128_hex, Cursor};
pub use file::{FileState, Header, MAX_ENTRY_ITEMS, MAX_ENTRY_SIZE, MAX_FIELD_SIZE};
pub use journal::{default_dirs, Journal, JournalOptions};

use std::fmt;
use std::path::{Path, PathBuf};

/// Errors of this crate; all carry the file path (and offset where known).
#[derive(Debug)]
pub enum Error {
    /// An I/O error on a file or directory.
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Malformed journal data.
    Format {
        /// The journal file.
        path: PathBuf,
        /// Byte offset of the offending object, if known.
        offset: Option<u64>,
        /// What is wrong.
        message: String,
    },
    /// A cursor string could not be parsed.
    Cursor(String),
}

impl Error {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Error {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
    pub(crate) fn format(path: &Path, offset: Option<u64>, message: impl Into<String>) -> Error {
        Error::Format {
            path: path.to_path_buf(),
            offset,
            message: message.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Format {
                path,
                offset: Some(o),
                message,
            } => write!(f, "{}: at offset {o}: {message}", path.display()),
            Error::Format {
                path,
                offset: None,
                message,
            } => write!(f, "{}: {message}", path.display()),
            Error::Cursor(m) => write!(f, "invalid cursor: {m}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// A problem with one file or object that was skipped while reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The journal file (or directory).
    pub path: PathBuf,
    /// Byte offset of the offending object, if known.
    pub offset: Option<u64>,
    /// What went wrong.
    pub message: String,
}

impl From<Error> for Warning {
    fn from(e: Error) -> Warning {
        match e {
            Error::Io { path, source } => Warning {
                path,
                offset: None,
                message: source.to_string(),
            },
            Error::Format {
                path,
                offset,
                message,
            } => Warning {
                path,
                offset,
                message,
            },
            Error::Cursor(m) => Warning {
                path: PathBuf::new(),
                offset: None,
                message: m,
            },
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.offset {
            Some(o) => write!(
                f,
                "{}: at offset {o}: {}",
                self.path.display(),
                self.message
            ),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

/// One journal entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    /// Wallclock time, µs since the Unix epoch (`__REALTIME_TIMESTAMP`).
    pub realtime_usec: u64,
    /// Monotonic time of the boot, µs (`__MONOTONIC_TIMESTAMP`).
    pub monotonic_usec: u64,
    /// Boot id.
    pub boot_id: [u8; 16],
    /// Sequence number within `seqnum_id`.
    pub seqnum: u64,
    /// Sequence number id (from the header of the file the entry was read from).
    pub seqnum_id: [u8; 16],
    /// XOR of the hashes of the entry's data objects.
    pub xor_hash: u64,
    /// Fields in stored order: name and value (the value may be binary).
    /// Includes `_BOOT_ID` etc. as stored by journald; the trusted
    /// `__`-prefixed pseudo fields of the export format are not included.
    pub fields: Vec<(String, Vec<u8>)>,
}

impl Entry {
    /// The cursor of this entry in systemd's exact format
    /// (`s=…;i=…;b=…;m=…;t=…;x=…`, as `journalctl --show-cursor` prints it).
    pub fn cursor(&self) -> String {
        cursor::format_cursor(&self.key())
    }

    pub(crate) fn key(&self) -> file::Key {
        file::Key {
            seqnum_id: self.seqnum_id,
            seqnum: self.seqnum,
            boot_id: self.boot_id,
            monotonic: self.monotonic_usec,
            realtime: self.realtime_usec,
            xor_hash: self.xor_hash,
        }
    }

    /// The value of the first field called `name`.
    pub fn field(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }
}
