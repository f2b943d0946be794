//! File identity: which saved position applies to the file now at a path.
//!
//! Pure given metadata and bytes, so the rules are table-tested.

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::positions::FileIdentity;

/// Bytes hashed for the fingerprint.
pub const FINGERPRINT_BYTES: usize = 256;

/// Reads the identity of the file at `path` (following symlinks).
pub fn identify(path: &Path) -> std::io::Result<FileIdentity> {
    let meta = std::fs::metadata(path)?;
    let mut buf = vec![0u8; FINGERPRINT_BYTES];
    let mut f = std::fs::File::open(path)?;
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(FileIdentity {
        dev: meta.dev(),
        ino: meta.ino(),
        // A short file's first bytes still change as it grows, so it has no fingerprint yet.
        fingerprint: if n == FINGERPRINT_BYTES {
            fingerprint(&buf)
        } else {
            0
        },
    })
}

/// FNV-1a of the first bytes; 0 for an empty file.
pub fn fingerprint(bytes: &[u8]) -> u64 {
    if bytes.is_empty() {
        return 0;
    }
    let mut h: u64 = 0xcbf29ce484222325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// Is `current` the file whose identity was saved as `saved`? The same inode, and not a reused
/// inode (first bytes differ, when both are long enough to compare); and the same device, or the
/// same first bytes under another device number (LVM renumbering, a remount, a container
/// restarted on a new overlay device: the inode and content are the file's own, the device number
/// is not). A file too short for a fingerprint needs the same device.
pub fn same_file(saved: FileIdentity, current: FileIdentity) -> bool {
    if saved.ino != current.ino {
        return false;
    }
    let comparable = saved.fingerprint != 0 && current.fingerprint != 0;
    if comparable && saved.fingerprint != current.fingerprint {
        return false;
    }
    saved.dev == current.dev || comparable
}

/// Where to start reading a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// From this offset (a saved position that still applies).
    At(u64),
    /// From the start: no position, or it belongs to another file.
    Start,
}

/// Decides where to resume `current` (size `size`) given the saved offset and, when ferrotail
/// wrote it, the saved identity.
///
/// * No saved offset: start (Promtail reads new files from the beginning).
/// * Saved offset beyond the file's size: the file was truncated while down; start.
/// * Saved identity of another file ([`same_file`]: another inode, the same inode with another
///   fingerprint (inode reuse, or copytruncate and regrowth), or another device without a
///   fingerprint to tell): start. A changed device number with the same inode and fingerprint
///   is the same file.
/// * Otherwise resume at the saved offset (a Promtail-written file has no identity; its offset is
///   trusted as Promtail trusts it).
pub fn decide(
    saved_offset: Option<u64>,
    saved: Option<FileIdentity>,
    current: FileIdentity,
    size: u64,
) -> Resume {
    let Some(offset) = saved_offset else {
        return Resume::Start;
    };
    if offset > size {
        return Resume::Start;
    }
    if let Some(s) = saved {
        if !same_file(s, current) {
            return Resume::Start;
        }
    }
    Resume::At(offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ino: u64, fp: u64) -> FileIdentity {
        FileIdentity {
            dev: 1,
            ino,
            fingerprint: fp,
        }
    }

    fn on(dev: u64, ino: u64, fp: u64) -> FileIdentity {
        FileIdentity {
            dev,
            ino,
            fingerprint: fp,
        }
    }

    #[test]
    fn resume_table() {
        let cases = [
            (None, None, id(1, 5), 100, Resume::Start),
            (Some(50), None, id(1, 5), 100, Resume::At(50)),
            (Some(150), None, id(1, 5), 100, Resume::Start),
            (Some(50), Some(id(2, 5)), id(1, 5), 100, Resume::Start),
            (Some(50), Some(id(1, 6)), id(1, 5), 100, Resume::Start),
            (Some(50), Some(id(1, 0)), id(1, 5), 100, Resume::At(50)),
            (Some(50), Some(id(1, 5)), id(1, 5), 100, Resume::At(50)),
            // Another device number, same inode and first bytes: the same file, renumbered.
            (Some(50), Some(on(2, 1, 5)), id(1, 5), 100, Resume::At(50)),
            // Another device and too short to compare: another file (inode numbers repeat).
            (Some(50), Some(on(2, 1, 0)), id(1, 0), 100, Resume::Start),
            (Some(50), Some(on(2, 1, 6)), id(1, 5), 100, Resume::Start),
            (Some(50), Some(on(2, 2, 5)), id(1, 5), 100, Resume::Start),
        ];
        for (off, saved, cur, size, want) in cases {
            assert_eq!(decide(off, saved, cur, size), want, "{off:?} {saved:?}");
        }
    }
}
