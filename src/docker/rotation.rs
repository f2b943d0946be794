//! dockerd's rotation of json-file logs (`max-size`/`max-file`): the rotated files to read first,
//! and the accounting of files rotated away before they were read.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::positions::Positions;
use crate::tail::numbered_rotations;
use crate::telemetry::metrics as m;

/// dockerd's rotated files of a json-file log (`<log>.N` ... `<log>.1`), oldest first.
pub(super) fn rotated_siblings(path: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = numbered_rotations(path)
        .into_iter()
        .filter(|(_, _, meta)| meta.is_file())
        .map(|(_, p, _)| p)
        .collect();
    found.reverse();
    found
}

/// A file of a container's log rotation, as the [`RotationWatch`] tells them apart: device,
/// inode and birth time (where the file system records it, else 0). The birth time tells a new
/// file from a deleted one whose inode it reuses.
type FileKey = (u64, u64, i128);

fn file_key(meta: &std::fs::Metadata) -> FileKey {
    use std::os::unix::fs::MetadataExt;
    let born = meta
        .created()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i128);
    (meta.dev(), meta.ino(), born)
}

/// One file of the rotation as listed: its name, key, size and rotation number (0 for the log
/// itself, `n` for `<log>.n`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Listed {
    name: PathBuf,
    key: FileKey,
    size: u64,
    rank: u32,
}

/// The log and dockerd's numbered rotated files of it, oldest first. Numbers are scanned until two
/// in a row are missing (a listing taken while dockerd renames may miss one).
fn list_rotation(path: &Path) -> Vec<Listed> {
    let current = std::fs::metadata(path)
        .ok()
        .map(|meta| (0, path.to_path_buf(), meta));
    let mut found: Vec<Listed> = current
        .into_iter()
        .chain(numbered_rotations(path))
        .filter(|(_, _, meta)| meta.is_file())
        .map(|(rank, name, meta)| Listed {
            key: file_key(&meta),
            size: meta.len(),
            name,
            rank,
        })
        .collect();
    found.reverse();
    found
}

/// Keys of the files of `dir` this process holds open (`/proc/self/fd`), deleted ones included.
fn held_files(dir: &Path) -> std::collections::HashSet<FileKey> {
    let mut held = std::collections::HashSet::new();
    let Ok(fds) = std::fs::read_dir("/proc/self/fd") else {
        return held;
    };
    for fd in fds.flatten() {
        let Ok(target) = std::fs::read_link(fd.path()) else {
            continue;
        };
        if !target.starts_with(dir) {
            continue;
        }
        if let Ok(meta) = std::fs::metadata(fd.path()) {
            held.insert(file_key(&meta));
        }
    }
    held
}

/// A file of the rotation the watch has seen.
#[derive(Debug, Clone)]
struct Seen {
    key: FileKey,
    name: PathBuf,
    size: u64,
    rank: u32,
    /// Missing from the last listing; whether the reader had not reached it by then.
    missing: Option<bool>,
}

/// A rotated file dockerd deleted before it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LostFile {
    /// Its name when last seen.
    name: PathBuf,
    /// Its size when last seen (its final size if it was seen after it was rotated).
    size: u64,
}

/// Counts the files of a container's json-file log that dockerd's rotation (`max-file`) deleted
/// before the reader reached them. The reader holds the file it reads open, so that file stays
/// readable after dockerd deletes it; what can be lost is the files rotated after it while
/// reading was paused (Loki down: the files are the buffer, and dockerd bounds them).
///
/// The watch remembers every file of the rotation it sees, oldest first, and where the reader is
/// (the file whose position is saved, or any file of the rotation this process holds open, which
/// is the reader draining rotated files). A file that disappears beyond that point was never
/// read. Files that dockerd creates and deletes between two checks (rotating more than twice per
/// [`ROTATION_CHECK`] with `max-file: 2`) are not seen, so they are not counted.
struct RotationWatch {
    key: String,
    seen: Vec<Seen>,
    current: Option<FileKey>,
    /// Device and inode of the saved file whose fingerprint is known.
    fingerprinted: Option<(u64, u64)>,
}

/// How often the [`RotationWatch`] checks the log (one `stat` while nothing rotates).
const ROTATION_CHECK: Duration = Duration::from_millis(250);

impl RotationWatch {
    fn new(key: String) -> Self {
        RotationWatch {
            key,
            seen: Vec::new(),
            current: None,
            fingerprinted: None,
        }
    }

    /// Merges a listing, decides about files missing from it, and returns the files lost.
    /// `reader_at` is the device and inode of the file the reader's position is saved for;
    /// `held` lists the files this process holds open (asked only when a file has just gone).
    fn update(
        &mut self,
        listing: &[Listed],
        reader_at: Option<(u64, u64)>,
        held: &mut dyn FnMut() -> std::collections::HashSet<FileKey>,
    ) -> Vec<LostFile> {
        // Merge, keeping the order. dockerd only ever moves a file to a higher number, so a key
        // seen again at a lower number is a new file that reuses a deleted file's inode.
        let mut present = vec![false; self.seen.len()];
        let mut insert_at = 0;
        for l in listing {
            match self
                .seen
                .iter()
                .rposition(|s| s.key == l.key && l.rank >= s.rank)
            {
                Some(i) => {
                    let s = &mut self.seen[i];
                    s.name.clone_from(&l.name);
                    s.size = l.size;
                    s.rank = l.rank;
                    s.missing = None;
                    present[i] = true;
                    insert_at = i + 1;
                }
                None => {
                    let new = Seen {
                        key: l.key,
                        name: l.name.clone(),
                        size: l.size,
                        rank: l.rank,
                        missing: None,
                    };
                    self.seen.insert(insert_at, new);
                    present.insert(insert_at, true);
                    insert_at += 1;
                }
            }
        }
        // Missing twice in a row: gone. Lost if the reader had not reached it when it first
        // went missing (the second look only rules out a listing taken mid-rename).
        let mut lost = Vec::new();
        let mut seen = Vec::with_capacity(self.seen.len());
        let mut newly_missing = Vec::new();
        for (s, here) in std::mem::take(&mut self.seen).into_iter().zip(present) {
            match (here, s.missing) {
                (false, Some(true)) => {
                    lost.push(LostFile {
                        name: s.name,
                        size: s.size,
                    });
                    continue;
                }
                (false, None) => newly_missing.push(seen.len()),
                _ => {}
            }
            seen.push(s);
        }
        self.seen = seen;
        let tracked =
            reader_at.and_then(|id| self.seen.iter().rposition(|s| (s.key.0, s.key.1) == id));
        if !newly_missing.is_empty() {
            let held = held();
            let furthest_held = self.seen.iter().rposition(|s| held.contains(&s.key));
            let reader = tracked.max(furthest_held);
            for i in newly_missing {
                let s = &mut self.seen[i];
                s.missing = Some(!held.contains(&s.key) && reader.is_none_or(|r| i > r));
            }
        }
        // Gone files the reader is past (or holds) are forgotten once it moved beyond them.
        if let Some(t) = tracked {
            let mut i = 0;
            self.seen.retain(|s| {
                i += 1;
                i > t || s.missing != Some(false)
            });
        }
        lost
    }

    /// The reader saves its file's identity when it opens it, usually when dockerd has just
    /// created it and it is too short for a fingerprint. Without one, a new log file that gets the
    /// inode of a deleted one (as happens at once when dockerd rotates) passes for the old file
    /// after a restart. So the fingerprint is recorded as soon as the file is long enough.
    fn fingerprint_saved_file(
        &mut self,
        path: &Path,
        meta: &std::fs::Metadata,
        positions: &Positions,
    ) {
        use std::os::unix::fs::MetadataExt;
        if self.fingerprinted == Some((meta.dev(), meta.ino()))
            || meta.len() < crate::tail::identity::FINGERPRINT_BYTES as u64
        {
            return;
        }
        let Some(saved) = positions.identity(&self.key) else {
            return;
        };
        if (saved.dev, saved.ino) != (meta.dev(), meta.ino()) {
            return;
        }
        if saved.fingerprint == 0 {
            // The reader holds this file open, so its inode cannot have been reused since.
            match crate::tail::identity::identify(path) {
                Ok(id) => {
                    positions.set_fingerprint(&self.key, id);
                }
                Err(_) => return,
            }
        }
        self.fingerprinted = Some((meta.dev(), meta.ino()));
    }

    /// Checks the log once: a `stat` of the log, and a full listing when it was rotated or a file
    /// went missing at the last check.
    fn check(&mut self, path: &Path, positions: &Positions) -> Vec<LostFile> {
        let Ok(meta) = std::fs::metadata(path) else {
            // The container (and its directory) is being removed, not rotated.
            return Vec::new();
        };
        let current = file_key(&meta);
        self.fingerprint_saved_file(path, &meta, positions);
        let pending = self.seen.iter().any(|s| s.missing.is_some());
        if self.current == Some(current) && !pending {
            return Vec::new();
        }
        self.current = Some(current);
        let listing = list_rotation(path);
        let reader_at = positions.identity(&self.key).map(|id| (id.dev, id.ino));
        let dir = path.parent().unwrap_or(path).to_path_buf();
        self.update(&listing, reader_at, &mut || held_files(&dir))
    }
}

/// Runs a [`RotationWatch`] over a container's json-file log until cancelled, counting and
/// logging every rotated file dockerd deleted before it was read.
pub(super) async fn watch_rotation(
    path: PathBuf,
    container_id: String,
    container: String,
    positions: Arc<Positions>,
    cancel: CancellationToken,
) {
    let mut watch = RotationWatch::new(path.to_string_lossy().into_owned());
    let mut tick = tokio::time::interval(ROTATION_CHECK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = cancel.cancelled() => return,
        }
        // The stat (and, after a rotation, the listing) runs on the blocking pool: a hung disk
        // stalls only this watch, which is abandoned when cancelled.
        let check = {
            let path = path.clone();
            let positions = Arc::clone(&positions);
            move || {
                let lost = watch.check(&path, &positions);
                (watch, lost)
            }
        };
        let Some((checked, lost)) = crate::tail::blocking(&cancel, check).await else {
            return;
        };
        watch = checked;
        for f in lost {
            metrics::counter!(m::DOCKER_ROTATED_UNREAD_FILES, "container" => container.clone(), "reason" => "deleted_unread").increment(1);
            metrics::counter!(m::DOCKER_ROTATED_UNREAD_BYTES, "container" => container.clone())
                .increment(f.size);
            tracing::warn!(container = %container, containerID = %container_id, file = %f.name.display(), bytes = f.size, "dockerd's log rotation (max-file) deleted a json-file log before ferrotail read it; its lines are lost");
        }
    }
}

/// On start: the file whose position was saved is no longer among the container's log files
/// (dockerd rotated it out while ferrotail was stopped). Returns `true` when that happened.
pub(super) fn saved_file_rotated_away(path: &Path, positions: &Positions, key: &str) -> bool {
    let (Some(_), Some(saved)) = (positions.get_offset(key), positions.identity(key)) else {
        return false;
    };
    if std::fs::metadata(path).is_err() {
        return false;
    }
    // The same file, also under a changed device number (a new overlay device after a restart).
    !list_rotation(path).iter().any(|l| {
        l.key.1 == saved.ino
            && crate::tail::identity::identify(&l.name)
                .is_ok_and(|id| crate::tail::identity::same_file(saved, id))
    })
}

#[cfg(test)]
mod rotation_tests {
    use super::*;
    use std::collections::HashSet;
    use PathBuf;

    /// The saved file under another device number (a new overlay device after a restart) is
    /// still there: nothing was rotated away.
    #[test]
    fn a_renumbered_device_is_not_a_file_rotated_away() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        std::fs::write(&path, "x".repeat(400)).unwrap();
        let key = path.to_string_lossy().into_owned();
        let mut id = crate::tail::identity::identify(&path).unwrap();
        id.dev += 1;
        let positions = Positions::in_memory();
        positions.track(&key, crate::core::ack::Progress::new(10), Some(id));
        assert!(!saved_file_rotated_away(&path, &positions, &key));
        // Another inode is another file.
        id.ino += 1;
        let positions = Positions::in_memory();
        positions.track(&key, crate::core::ack::Progress::new(10), Some(id));
        assert!(saved_file_rotated_away(&path, &positions, &key));
    }

    fn l(ino: u64, rank: u32) -> Listed {
        Listed {
            name: PathBuf::from(if rank == 0 {
                "c-json.log".to_string()
            } else {
                format!("c-json.log.{rank}")
            }),
            key: (1, ino, 0),
            size: 100 + ino,
            rank,
        }
    }

    fn held(inos: &[u64]) -> impl FnMut() -> HashSet<FileKey> + '_ {
        move || inos.iter().map(|&i| (1, i, 0)).collect()
    }

    #[test]
    fn files_rotated_out_while_the_reader_holds_an_older_one_are_lost() {
        let mut w = RotationWatch::new("c-json.log".into());
        let a = Some((1, 1));
        // The reader is paused in file 1 (it holds it open); dockerd rotates with max-file 2.
        assert!(w.update(&[l(1, 0)], a, &mut held(&[1])).is_empty());
        assert!(w.update(&[l(1, 1), l(2, 0)], a, &mut held(&[1])).is_empty());
        // File 1 is deleted but still held: not lost.
        assert!(w.update(&[l(2, 1), l(3, 0)], a, &mut held(&[1])).is_empty());
        // File 2 is deleted and was never opened: lost, once confirmed by a second listing.
        assert!(w.update(&[l(3, 1), l(4, 0)], a, &mut held(&[1])).is_empty());
        let lost = w.update(&[l(3, 1), l(4, 0)], a, &mut held(&[1]));
        assert_eq!(
            lost,
            vec![LostFile {
                name: PathBuf::from("c-json.log.1"),
                size: 102
            }]
        );
        // The reader resumes: it drains file 3 (held) while dockerd deletes it, then opens file 5.
        assert!(w
            .update(&[l(4, 1), l(5, 0)], a, &mut held(&[1, 3]))
            .is_empty());
        let e = Some((1, 5));
        assert!(w.update(&[l(4, 1), l(5, 0)], e, &mut held(&[5])).is_empty());
        assert!(w.update(&[l(5, 1), l(6, 0)], e, &mut held(&[5])).is_empty());
        assert!(w.update(&[l(5, 1), l(6, 0)], e, &mut held(&[5])).is_empty());
        // Only the files the reader has not passed are remembered.
        assert!(w.seen.len() <= 3, "{:?}", w.seen);
    }

    #[test]
    fn a_file_drained_and_closed_before_it_is_deleted_is_not_lost() {
        let mut w = RotationWatch::new("c-json.log".into());
        let a = Some((1, 1));
        assert!(w.update(&[l(1, 1), l(2, 0)], a, &mut held(&[])).is_empty());
        // The reader read file 1 to its end and moved to file 2.
        let b = Some((1, 2));
        assert!(w.update(&[l(2, 1), l(3, 0)], b, &mut held(&[])).is_empty());
        assert!(w.update(&[l(2, 1), l(3, 0)], b, &mut held(&[])).is_empty());
        // The reader drains file 3 (the reader's saved file is still 2) when 2 is deleted.
        assert!(w.update(&[l(3, 1), l(4, 0)], b, &mut held(&[3])).is_empty());
        assert!(w.update(&[l(3, 1), l(4, 0)], b, &mut held(&[3])).is_empty());
    }

    #[test]
    fn a_listing_taken_mid_rename_does_not_count() {
        let mut w = RotationWatch::new("c-json.log".into());
        let a = Some((1, 1));
        assert!(w.update(&[l(1, 0)], a, &mut held(&[1])).is_empty());
        assert!(w.update(&[l(1, 1), l(2, 0)], a, &mut held(&[1])).is_empty());
        // File 2 missing from one listing only (taken while dockerd renamed files): not lost.
        assert!(w.update(&[l(1, 1)], a, &mut held(&[1])).is_empty());
        assert!(w.update(&[l(1, 1), l(2, 0)], a, &mut held(&[1])).is_empty());
        assert!(w.update(&[l(1, 1), l(2, 0)], a, &mut held(&[1])).is_empty());
    }

    #[test]
    fn a_new_file_reusing_a_deleted_files_inode_is_another_file() {
        let mut w = RotationWatch::new("c-json.log".into());
        let a = Some((1, 1));
        assert!(w.update(&[l(1, 0)], a, &mut held(&[1])).is_empty());
        assert!(w.update(&[l(1, 1), l(2, 0)], a, &mut held(&[1])).is_empty());
        assert!(w.update(&[l(2, 1), l(3, 0)], a, &mut held(&[1])).is_empty());
        // dockerd deletes file 2 (at .1) and the new log file gets its inode: a file seen at a
        // lower number than before is a new one, so file 2 is lost.
        assert!(w.update(&[l(3, 1), l(2, 0)], a, &mut held(&[1])).is_empty());
        let lost = w.update(&[l(3, 1), l(2, 0)], a, &mut held(&[1]));
        assert_eq!(
            lost,
            vec![LostFile {
                name: PathBuf::from("c-json.log.1"),
                size: 102
            }]
        );
        assert_eq!(w.seen.iter().filter(|s| s.key.1 == 2).count(), 1);
        assert_eq!(w.seen.last().map(|s| s.key.1), Some(2));
    }
}
