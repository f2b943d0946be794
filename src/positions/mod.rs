//! Positions tracker. Sole writer of the positions file.
//!
//! Offsets come from each reader's [`Progress`], which only advances past lines that every client
//! has had accepted (or dropped for a counted reason), so a crash re-sends at most the batches in
//! flight and never skips a line. The file is Promtail's layout, written atomically (temp file,
//! fsync, rename) every `positions.sync_period` and at shutdown; never in `-dry-run`.
//!
//! Beside it, ferrotail keeps a sidecar `<file>.ferrotail.json` with each file's identity (device,
//! inode and a fingerprint of its first bytes), so a file renamed while ferrotail was down is still
//! recognised. Promtail ignores the sidecar; ferrotail works without it.

pub mod format;

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::core::ack::Progress;

/// A file's identity, kept in the sidecar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileIdentity {
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Hash of the file's first bytes (up to 256), 0 when the file was empty.
    pub fingerprint: u64,
}

#[derive(Debug, Default)]
struct Inner {
    saved: BTreeMap<String, String>,
    trackers: HashMap<String, Vec<Tracker>>,
    identities: BTreeMap<String, FileIdentity>,
    dirty: bool,
}

/// A reader's progress registered under a path. A retiring tracker belongs to a reader that has
/// stopped; it stays until its last in-flight line is acknowledged, so a shutdown that is still
/// waiting for Loki's answer saves the offset that answer commits.
///
/// A *rotated* tracker belongs to a file the path no longer names (renamed away by a rotation)
/// whose lines are still in flight. While one is pending, the path's saved position is that
/// file's committed offset and identity, not the new file's: after a crash the rotated file is
/// found by its identity and read again from there, then the new file from its start, so no line
/// in flight at the rotation is lost.
#[derive(Debug)]
struct Tracker {
    progress: Arc<Progress>,
    retiring: bool,
    rotated: bool,
    identity: Option<FileIdentity>,
}

impl Tracker {
    /// Nothing left to wait for: every line is acknowledged, or (for a file the path still names)
    /// the rest was abandoned by a shutdown or reload that timed out. An abandoned rotated file
    /// stays until a reader takes the path over, so its lines are read again.
    fn finished(&self) -> bool {
        self.retiring
            && (self.progress.in_flight() == 0 || (self.progress.is_abandoned() && !self.rotated))
    }
}

/// Where the readers of one path stand: the committed offset to save and the identity of the file
/// it belongs to (`current` is the identity of the file the path names now).
fn resume_of(
    list: &[Tracker],
    current: Option<FileIdentity>,
) -> Option<(u64, Option<FileIdentity>)> {
    // The oldest rotated file with lines still in flight comes first.
    if let Some(r) = list
        .iter()
        .find(|t| t.rotated && !(t.retiring && t.progress.in_flight() == 0))
    {
        return Some((r.progress.committed(), r.identity));
    }
    // Several targets may read one file under different labels; the lowest offset is the one
    // that loses nothing.
    match list
        .iter()
        .filter(|t| !t.rotated)
        .map(|t| t.progress.committed())
        .min()
    {
        Some(c) => Some((c, current)),
        None => list.last().map(|t| (t.progress.committed(), t.identity)),
    }
}

/// A key no longer tracked loses its `ferrotail_acknowledged_bytes` series.
fn forget_series(key: &str) {
    crate::telemetry::series::remove(crate::telemetry::metrics::ACKNOWLEDGED_BYTES, "path", key);
}

impl Inner {
    /// Folds finished retiring trackers into the saved map.
    fn settle(&mut self) {
        let Inner {
            trackers,
            identities,
            saved,
            ..
        } = self;
        let mut emptied = Vec::new();
        for (k, list) in trackers.iter_mut() {
            if !list.iter().any(Tracker::finished) {
                continue;
            }
            let before = resume_of(list, identities.get(k).copied());
            list.retain(|t| !t.finished());
            if list.is_empty() {
                emptied.push((k.clone(), before));
            }
        }
        for (k, before) in emptied {
            trackers.remove(&k);
            forget_series(&k);
            if let Some((offset, id)) = before {
                saved.insert(k.clone(), offset.to_string());
                if let Some(id) = id {
                    identities.insert(k, id);
                }
            }
        }
    }

    /// The offset and file identity to save for `key` while readers track it.
    fn resume(&self, key: &str) -> Option<(u64, Option<FileIdentity>)> {
        resume_of(self.trackers.get(key)?, self.identities.get(key).copied())
    }

    /// The committed offset to save for `key` while readers track it.
    fn committed(&self, key: &str) -> Option<u64> {
        self.resume(key).map(|(c, _)| c)
    }

    /// Registers a tracker; a reader taking over the path resumes from the offset abandoned
    /// trackers committed (a shutdown or reload that timed out), so those are dropped now (they
    /// would pin the position until a restart).
    fn push_tracker(&mut self, path: &str, tracker: Tracker) {
        let list = self.trackers.entry(path.to_string()).or_default();
        list.retain(|t| !t.progress.is_abandoned());
        list.push(tracker);
        self.dirty = true;
    }
}

/// The positions store.
#[derive(Debug)]
pub struct Positions {
    path: PathBuf,
    read_only: bool,
    inner: Mutex<Inner>,
}

/// Why the positions file could not be read.
#[derive(Debug, thiserror::Error)]
#[error("invalid yaml positions file [{path}]: {msg}")]
pub struct PositionsError {
    /// The file.
    pub path: String,
    /// What is wrong.
    pub msg: String,
}

impl Positions {
    /// Reads the positions file (missing = empty). A corrupt file is an error unless
    /// `ignore_invalid` is set, in which case it is logged and ferrotail starts fresh.
    pub fn load(
        path: &Path,
        ignore_invalid: bool,
        read_only: bool,
    ) -> Result<Arc<Self>, PositionsError> {
        let err = |msg: String| PositionsError {
            path: path.display().to_string(),
            msg,
        };
        if path.is_dir() {
            return Err(err(format!("read {}: is a directory", path.display())));
        }
        let saved = match std::fs::read(path) {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                match format::parse(&text) {
                    Ok(p) => p,
                    Err(e) if ignore_invalid => {
                        // Promtail starts empty here (every file read again from its start);
                        // the complete entries of a file truncated mid-write are kept instead.
                        let (kept, skipped) = format::recover(&text);
                        tracing::warn!(path = %path.display(), error = %e, recovered = kept.len(), skipped, "ignoring invalid positions file; keeping the complete entries it holds");
                        kept
                    }
                    Err(e) => return Err(err(e)),
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(err(e.to_string())),
        };
        let sidecar = sidecar_path(path);
        let identities = match std::fs::read(&sidecar) {
            Ok(b) => serde_json::from_slice::<BTreeMap<String, FileIdentity>>(&b).unwrap_or_else(|e| {
                // Without identities, offsets are trusted as Promtail trusts them.
                tracing::warn!(path = %sidecar.display(), error = %e, "ignoring invalid file identities; saved offsets apply to whatever file is at their path");
                BTreeMap::new()
            }),
            Err(_) => BTreeMap::new(),
        };
        Ok(Arc::new(Positions {
            path: path.to_path_buf(),
            read_only,
            inner: Mutex::new(Inner {
                saved,
                trackers: HashMap::new(),
                identities,
                dirty: false,
            }),
        }))
    }

    /// An in-memory store that is never written (tests, `-dry-run` without a file).
    pub fn in_memory() -> Arc<Self> {
        Arc::new(Positions {
            path: PathBuf::new(),
            read_only: true,
            inner: Mutex::new(Inner::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A poisoned lock only means another thread panicked mid-update of plain maps; the data
        // is still usable, and losing positions would be worse.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The saved value of `key` (a path's offset, or a docker `cursor-<id>`).
    pub fn get(&self, key: &str) -> Option<String> {
        let inner = self.lock();
        if let Some(c) = inner.committed(key) {
            return Some(c.to_string());
        }
        inner.saved.get(key).cloned()
    }

    /// The saved offset of `path`.
    pub fn get_offset(&self, path: &str) -> Option<u64> {
        self.get(path).and_then(|v| v.trim().parse().ok())
    }

    /// The identity of the file last opened at `path` (or saved for it).
    pub fn identity(&self, path: &str) -> Option<FileIdentity> {
        self.lock().identities.get(path).copied()
    }

    /// Where a reader of `path` resumes: the saved offset and the identity of the file it belongs
    /// to. While a rotated file's lines are in flight, that is the rotated file's position (the
    /// new file is then read from its start).
    pub fn resume_point(&self, path: &str) -> (Option<u64>, Option<FileIdentity>) {
        let inner = self.lock();
        match inner.resume(path) {
            Some((offset, id)) => (Some(offset), id),
            None => (
                inner.saved.get(path).and_then(|v| v.trim().parse().ok()),
                inner.identities.get(path).copied(),
            ),
        }
    }

    /// All saved paths with their identities (to find a file that was renamed while down).
    pub fn identities(&self) -> Vec<(String, FileIdentity)> {
        self.lock()
            .identities
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }

    /// Records the fingerprint of the file whose identity is saved for `path`, when that identity
    /// has none yet (the file was shorter than the fingerprint when it was opened) and is still
    /// this file's (same device and inode). Returns whether it was recorded.
    pub fn set_fingerprint(&self, path: &str, id: FileIdentity) -> bool {
        let mut inner = self.lock();
        match inner.identities.get_mut(path) {
            Some(saved)
                if saved.fingerprint == 0
                    && id.fingerprint != 0
                    && (saved.dev, saved.ino) == (id.dev, id.ino) =>
            {
                saved.fingerprint = id.fingerprint;
                inner.dirty = true;
                true
            }
            _ => false,
        }
    }

    /// Sets a raw value.
    pub fn set(&self, key: &str, value: String) {
        let mut inner = self.lock();
        inner.saved.insert(key.to_string(), value);
        inner.dirty = true;
    }

    /// Starts tracking a reader of `path`; its committed offset is saved from now on.
    pub fn track(&self, path: &str, progress: Arc<Progress>, identity: Option<FileIdentity>) {
        let mut inner = self.lock();
        inner
            .saved
            .insert(path.to_string(), progress.committed().to_string());
        inner.push_tracker(
            path,
            Tracker {
                progress,
                retiring: false,
                rotated: false,
                identity,
            },
        );
        if let Some(id) = identity {
            inner.identities.insert(path.to_string(), id);
        }
    }

    /// Starts tracking a reader of a file rotated away from `path` (read to its end after a
    /// restart): until its lines are acknowledged, its position is the one saved for `path`.
    /// Stop with [`Positions::retire_rotated`].
    pub fn track_rotated(&self, path: &str, progress: Arc<Progress>, identity: FileIdentity) {
        self.lock().push_tracker(
            path,
            Tracker {
                progress,
                retiring: false,
                rotated: true,
                identity: Some(identity),
            },
        );
    }

    /// The file a reader of `path` had open was renamed away (rotation) and is read to its end:
    /// its progress stays, as a rotated tracker, until its last line in flight is acknowledged.
    pub fn retire_rotated(&self, path: &str, progress: &Arc<Progress>) {
        let mut inner = self.lock();
        if let Some(list) = inner.trackers.get_mut(path) {
            for t in list
                .iter_mut()
                .filter(|t| Arc::ptr_eq(&t.progress, progress))
            {
                t.retiring = true;
                t.rotated = true;
            }
        }
        inner.settle();
        inner.dirty = true;
    }

    /// Stops tracking one reader of `path`. With `drain` its progress is kept until its in-flight
    /// lines are acknowledged (the reader stopped, its file is the same); without, it is dropped
    /// now (the path now names another file). With `remove` the key is deleted (the file left
    /// its glob, as Promtail does).
    pub fn untrack(&self, path: &str, progress: &Arc<Progress>, drain: bool, remove: bool) {
        let mut inner = self.lock();
        if let Some(list) = inner.trackers.get_mut(path) {
            if drain {
                for t in list
                    .iter_mut()
                    .filter(|t| Arc::ptr_eq(&t.progress, progress))
                {
                    t.retiring = true;
                }
            } else {
                list.retain(|t| !Arc::ptr_eq(&t.progress, progress));
            }
            if list.is_empty() {
                inner.trackers.remove(path);
                forget_series(path);
            }
        }
        if remove {
            inner.trackers.remove(path);
            forget_series(path);
            inner.saved.remove(path);
            inner.identities.remove(path);
        }
        inner.settle();
        inner.dirty = true;
    }

    /// The file a reader of `path` had open was truncated in place (copytruncate): the path's
    /// saved offset is 0, so a restart before the reader reopens the file (a reopen that keeps
    /// failing) reads the new content from its start instead of resuming at the old offset. With
    /// `copy` (the identity of the copy the rotation made), the reader's lines in flight stay
    /// tracked as the copy's, so until they are acknowledged a crash reads them again from the
    /// copy; without, its progress is dropped.
    pub fn truncated(&self, path: &str, progress: &Arc<Progress>, copy: Option<FileIdentity>) {
        let mut inner = self.lock();
        if let Some(list) = inner.trackers.get_mut(path) {
            match copy {
                Some(id) => {
                    for t in list
                        .iter_mut()
                        .filter(|t| Arc::ptr_eq(&t.progress, progress))
                    {
                        t.retiring = true;
                        t.rotated = true;
                        t.identity = Some(id);
                    }
                }
                None => list.retain(|t| !Arc::ptr_eq(&t.progress, progress)),
            }
            if list.is_empty() {
                inner.trackers.remove(path);
                forget_series(path);
            }
        }
        inner.saved.insert(path.to_string(), "0".to_string());
        // Same inode, new content: the old first bytes no longer describe it.
        if let Some(id) = inner.identities.get_mut(path) {
            id.fingerprint = 0;
        }
        inner.settle();
        inner.dirty = true;
    }

    /// Abandons every tracked progress (a shutdown or reload gave up waiting for Loki): their
    /// committed positions are final, whatever becomes of the entries still in flight.
    pub fn abandon_all(&self) {
        let inner = self.lock();
        for t in inner.trackers.values().flatten() {
            t.progress.abandon();
        }
    }

    /// Removes a key (a removed container's cursor, a forgotten file).
    pub fn remove(&self, key: &str) {
        let mut inner = self.lock();
        inner.trackers.remove(key);
        forget_series(key);
        inner.saved.remove(key);
        inner.identities.remove(key);
        inner.dirty = true;
    }

    /// The map as it would be written now.
    pub fn snapshot(&self) -> BTreeMap<String, String> {
        let mut inner = self.lock();
        inner.settle();
        let mut map = inner.saved.clone();
        for k in inner.trackers.keys() {
            if let Some(c) = inner.committed(k) {
                map.insert(k.clone(), c.to_string());
            }
        }
        map
    }

    /// The identities as they would be written now (the rotated file's while its lines are in
    /// flight).
    pub fn snapshot_identities(&self) -> BTreeMap<String, FileIdentity> {
        let mut inner = self.lock();
        inner.settle();
        let mut ids = inner.identities.clone();
        for k in inner.trackers.keys() {
            if let Some((_, Some(id))) = inner.resume(k) {
                ids.insert(k.clone(), id);
            }
        }
        ids
    }

    /// Writes the file atomically, then forgets paths that no longer exist (never `cursor-` or
    /// `journal-` keys, nor files being read), as Promtail's cleanup does.
    pub fn save(&self) -> std::io::Result<()> {
        if self.read_only {
            return Ok(());
        }
        let (map, ids) = {
            let mut inner = self.lock();
            inner.settle();
            let mut map = inner.saved.clone();
            let mut ids = inner.identities.clone();
            for k in inner.trackers.keys() {
                if let Some((c, id)) = inner.resume(k) {
                    if !k.starts_with("cursor-") {
                        // The file the path names now (a rotated file's offset is not comparable
                        // with the path's read offset).
                        let live = inner.trackers.get(k).and_then(|l| {
                            l.iter()
                                .filter(|t| !t.rotated)
                                .map(|t| t.progress.committed())
                                .min()
                        });
                        metrics::gauge!(crate::telemetry::metrics::ACKNOWLEDGED_BYTES, "path" => k.clone())
                            .set(live.unwrap_or(c) as f64);
                    }
                    map.insert(k.clone(), c.to_string());
                    if let Some(id) = id {
                        ids.insert(k.clone(), id);
                    }
                }
            }
            (map, ids)
        };
        write_atomic(&self.path, format::render(&map).as_bytes())?;
        let ids: BTreeMap<&String, &FileIdentity> =
            ids.iter().filter(|(k, _)| map.contains_key(*k)).collect();
        if let Ok(json) = serde_json::to_vec(&ids) {
            write_atomic(&sidecar_path(&self.path), &json)?;
        }
        // The paths are checked without the lock held: a hung stat (NFS) must not hold up the
        // readers and acknowledgements that take it.
        let candidates: Vec<(String, Option<u64>, Option<FileIdentity>)> = {
            let inner = self.lock();
            inner
                .saved
                .iter()
                .filter(|(k, _)| !k.starts_with("cursor-") && !k.starts_with("journal-"))
                .filter(|(k, _)| !inner.trackers.contains_key(*k))
                .map(|(k, v)| {
                    let offset = v.trim().parse().ok();
                    (k.clone(), offset, inner.identities.get(k).copied())
                })
                .collect()
        };
        let gone: Vec<String> = candidates
            .into_iter()
            .filter(|(k, offset, id)| {
                !Path::new(k).exists() && !renamed_with_unread_lines(Path::new(k), *offset, *id)
            })
            .map(|(k, _, _)| k)
            .collect();
        let mut inner = self.lock();
        for k in gone {
            if !inner.trackers.contains_key(&k) {
                inner.saved.remove(&k);
                inner.identities.remove(&k);
            }
        }
        inner.dirty = false;
        Ok(())
    }

    /// Saves every `sync_period`, and soon after acknowledgements move a position (coalesced over
    /// 10 ms, and at most every 100 ms, so a busy shipper does not spend itself on fsyncs), until
    /// cancelled, then once more. Saving on acknowledgement keeps the lines re-sent after a crash
    /// close to the batches that were in flight.
    ///
    /// Each save (write, fsync, rename) runs on tokio's blocking pool, at most one at a time: a
    /// save asked for while one is running is coalesced into one more when it ends. So a slow or
    /// hung disk delays only the positions file, never the readers, the pushes or the
    /// acknowledgements (which only touch memory).
    pub async fn run(self: Arc<Self>, sync_period: Duration, cancel: CancellationToken) {
        let period = sync_period.max(Duration::from_millis(10));
        let debounce = period.min(Duration::from_millis(10));
        let min_gap = period.min(Duration::from_millis(100));
        let mut last_save = tokio::time::Instant::now();
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut saving: Option<tokio::task::JoinHandle<()>> = None;
        let mut again = false;
        loop {
            tokio::select! {
                _ = async {
                    match saving.as_mut() {
                        Some(running) => {
                            let _ = running.await;
                        }
                        None => std::future::pending().await,
                    }
                } => {
                    saving = None;
                    if !std::mem::take(&mut again) {
                        continue;
                    }
                }
                _ = tick.tick() => {}
                _ = crate::core::ack::COMMITTED.notified() => {
                    let at = (tokio::time::Instant::now() + debounce).max(last_save + min_gap);
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {}
                        _ = cancel.cancelled() => break,
                    }
                }
                _ = cancel.cancelled() => break,
            }
            last_save = tokio::time::Instant::now();
            if saving.is_some() {
                again = true;
            } else {
                saving = Some(self.save_in_background());
            }
        }
        // The last save starts after the running one ended, so it is the one that lands.
        if let Some(running) = saving {
            let _ = running.await;
        }
        let _ = self.save_in_background().await;
    }

    /// Starts a [`Positions::save`] on the blocking pool (errors logged).
    fn save_in_background(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            if let Err(e) = this.save() {
                tracing::error!(path = %this.path.display(), error = %e, "error writing positions file");
            }
        })
    }
}

/// Is the file whose position is saved for the vanished `path` still in its directory under
/// another name (renamed out of the glob: a crash fell between logrotate's rename and create, or
/// the application creates its log only when it next writes), with lines after the saved offset?
/// Then the entry is kept: when a file appears at the path again, its reader finds the renamed one
/// by its identity and reads those lines first. Promtail forgets the path, and them.
fn renamed_with_unread_lines(path: &Path, offset: Option<u64>, id: Option<FileIdentity>) -> bool {
    use std::os::unix::fs::MetadataExt;
    let (Some(offset), Some(id), Some(dir)) = (offset, id, path.parent()) else {
        return false;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        std::fs::metadata(e.path()).is_ok_and(|m| {
            m.is_file() && m.ino() == id.ino && m.dev() == id.dev && m.len() > offset
        })
    })
}

fn sidecar_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".ferrotail.json");
    PathBuf::from(s)
}

/// Writes `data` to a temp file beside `path`, fsyncs it and renames it over `path`. A new file
/// gets mode 0600; an existing file's mode is kept.
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let base = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("positions");
    let tmp = dir.join(format!(".{base}{}", rand::random::<u32>()));
    let mode = std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0o600);
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_and_reload_with_progress() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("positions.yaml");
        let log = dir.path().join("a.log");
        std::fs::write(&log, "one\ntwo\n").unwrap();
        let p = Positions::load(&file, false, false).unwrap();
        let progress = Progress::new(0);
        p.track(log.to_str().unwrap(), progress.clone(), None);
        let a = progress.register(4);
        let b = progress.register(8);
        drop(a);
        p.save().unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(text, format!("positions:\n  {}: \"4\"\n", log.display()));
        drop(b);
        p.untrack(log.to_str().unwrap(), &progress, true, false);
        p.save().unwrap();
        let p2 = Positions::load(&file, false, false).unwrap();
        assert_eq!(p2.get_offset(log.to_str().unwrap()), Some(8));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    fn id(ino: u64) -> FileIdentity {
        FileIdentity {
            dev: 1,
            ino,
            fingerprint: 0,
        }
    }

    #[test]
    fn a_rotated_file_keeps_the_position_until_its_lines_are_acknowledged() {
        let p = Positions::in_memory();
        let old = Progress::new(0);
        p.track("/l", old.clone(), Some(id(1)));
        let a = old.register(10);
        // Rotated: the new file is tracked from 0, the old one's line is still in flight.
        p.retire_rotated("/l", &old);
        let new = Progress::new(0);
        p.track("/l", new.clone(), Some(id(2)));
        let b = new.register(4);
        drop(b);
        assert_eq!(p.resume_point("/l"), (Some(0), Some(id(1))));
        assert_eq!(p.snapshot()["/l"], "0");
        assert_eq!(p.snapshot_identities()["/l"], id(1));
        drop(a);
        assert_eq!(p.resume_point("/l"), (Some(4), Some(id(2))));
        assert_eq!(p.snapshot()["/l"], "4");
        assert_eq!(p.snapshot_identities()["/l"], id(2));
    }

    #[test]
    fn an_abandoned_rotated_file_stays_until_a_reader_takes_over() {
        let p = Positions::in_memory();
        let old = Progress::new(3);
        p.track("/l", old.clone(), Some(id(1)));
        let a = old.register(10);
        p.retire_rotated("/l", &old);
        old.abandon();
        drop(a);
        assert_eq!(p.snapshot()["/l"], "3");
        assert_eq!(p.resume_point("/l"), (Some(3), Some(id(1))));
        // A reader resumes from there (the rotated file first): the abandoned tracker goes.
        p.track_rotated("/l", Progress::new(3), id(1));
        assert_eq!(p.lock().trackers["/l"].len(), 1);
    }

    #[test]
    fn an_abandoned_retiring_tracker_does_not_pin_the_position() {
        // A reload whose old generation timed out: its reader's unsent lines are abandoned.
        let p = Positions::in_memory();
        let old = Progress::new(0);
        p.track("/l", old.clone(), Some(id(1)));
        let a = old.register(10);
        p.untrack("/l", &old, true, false);
        old.abandon();
        drop(a);
        // The new generation's reader resumes where the old one committed.
        assert_eq!(p.resume_point("/l"), (Some(0), Some(id(1))));
        let new = Progress::new(0);
        p.track("/l", new.clone(), Some(id(1)));
        drop(new.register(10));
        assert_eq!(p.snapshot()["/l"], "10");
        // Also when the old tracker is still there when the new one registers its lines.
        let p = Positions::in_memory();
        let old = Progress::new(0);
        p.track("/l", old.clone(), Some(id(1)));
        let a = old.register(10);
        p.untrack("/l", &old, true, false);
        old.abandon();
        let new = Progress::new(0);
        let n = new.register(10);
        p.lock().trackers.get_mut("/l").unwrap().push(Tracker {
            progress: new,
            retiring: false,
            rotated: false,
            identity: None,
        });
        drop(n);
        drop(a);
        assert_eq!(p.snapshot()["/l"], "10");
    }

    #[test]
    fn corrupt_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("positions.yaml");
        std::fs::write(&file, "positions: [\n").unwrap();
        let e = Positions::load(&file, false, false)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(&format!("invalid yaml positions file [{}]", file.display())),
            "{e}"
        );
        let p = Positions::load(&file, true, false).unwrap();
        assert!(p.snapshot().is_empty());
        // Truncated mid-write: an error as in Promtail; with ignore_invalid_yaml the complete
        // entries are kept.
        std::fs::write(&file, "positions:\n  /x/a.log: \"12\"\n  /x/b.log: \"3").unwrap();
        assert!(Positions::load(&file, false, false).is_err());
        let p = Positions::load(&file, true, false).unwrap();
        assert_eq!(p.get_offset("/x/a.log"), Some(12));
        assert_eq!(p.get_offset("/x/b.log"), None);
    }

    #[test]
    fn cleanup_keeps_cursors_and_drops_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("positions.yaml");
        std::fs::write(
            &file,
            "positions:\n  /nonexistent/x.log: \"5\"\n  cursor-abc: \"17\"\n",
        )
        .unwrap();
        let p = Positions::load(&file, false, false).unwrap();
        p.save().unwrap();
        assert_eq!(p.snapshot().len(), 1);
        assert_eq!(p.get("cursor-abc").as_deref(), Some("17"));
    }
}
