//! Tailing files: open, seek to the saved position, read in large blocks, split lines, follow
//! rotation (rename + create, copytruncate) and hand lines on.
//!
//! **Invariant:** a reader never parses line content itself; a [`LineDecoder`] turns raw lines
//! into entries (plain text for file targets, Docker's json-file format for containers). Polling
//! is the truth; file-system events only wake a reader early.

pub mod glob;
pub mod identity;
pub mod watch;

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;

use crate::core::ack::{Ack, Progress};
use crate::core::{Entry, Labels};
use crate::positions::{FileIdentity, Positions};
use crate::telemetry::metrics as m;

/// Bytes read per system call. 64 KiB: a block's lines make one chunk of entries, and the chunks
/// in the channels are much of a busy shipper's heap (128 KiB blocks cost 0.7-2.2 MB more peak
/// RSS on the shipper benchmark; lines per CPU-second within the runs' noise: BENCHMARKS.md,
/// fourth session).
const READ_BLOCK: usize = 64 * 1024;

/// The smallest read block: a read of a small file gets a block sized to what the file has, but
/// not smaller than this.
const MIN_BLOCK: usize = 4096;

/// Read blocks kept for reuse by every reader. A reader takes a block only for a read it holds a
/// channel slot for (see [`Reader::advance`]), so the blocks in use at once are bounded by the
/// pipeline channels' capacity, not by the number of files; the pool keeps a few of them so a
/// streaming file neither allocates nor zeroes a block per read.
static BLOCKS: crate::core::pool::Pool<Vec<u8>> = crate::core::pool::Pool::new(4);

/// A read block of at least `want` bytes (at most [`READ_BLOCK`], unless it comes from the pool
/// larger; the whole block is read into).
fn take_block(want: usize) -> Vec<u8> {
    let mut block = BLOCKS.take().unwrap_or_default();
    if block.len() < want {
        block.resize(want, 0);
    }
    block
}

/// Gives a read block back for reuse.
fn give_block(block: Vec<u8>) {
    if !block.is_empty() && block.len() <= READ_BLOCK {
        BLOCKS.give(block);
    }
}

/// The longest line a reader buffers; the rest of a longer line is discarded (counted and
/// logged). Promtail has no cap and can be made to buffer a whole binary file.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// Turns raw lines into entries.
pub trait LineDecoder: Send + 'static {
    /// Decodes one line (without its `\n`). `ack` is the line's delivery token: put it on the
    /// entry that carries the line, or drop it if the line yields no entry.
    fn decode(&mut self, raw: &[u8], ack: Ack, out: &mut Vec<Entry>);

    /// Called before the lines of a block read from the file are decoded.
    fn begin_block(&mut self) {}
}

/// Plain text lines: the line as read (a trailing `\r` kept, as Promtail keeps it), timestamped
/// with the time it was read, labelled with the target's labels and `filename`.
pub struct PlainDecoder {
    labels: Labels,
    last_ts: i64,
    /// The clock when the block being decoded was read (read once per block, not per line).
    block_read: i64,
}

impl PlainDecoder {
    /// A decoder for a target's labels (which include `filename`).
    pub fn new(labels: Labels) -> Self {
        PlainDecoder {
            labels,
            last_ts: 0,
            block_read: 0,
        }
    }
}

impl LineDecoder for PlainDecoder {
    fn begin_block(&mut self) {
        self.block_read = crate::core::entry::now_nanos();
    }

    fn decode(&mut self, raw: &[u8], ack: Ack, out: &mut Vec<Entry>) {
        // The time the line was read: its block's read time (the lines of a block are read in one
        // call). Strictly increasing: Loki silently deduplicates entries of one stream with the
        // same timestamp and line, so two identical lines read in the same nanosecond would lose one.
        let read = if self.block_read == 0 {
            crate::core::entry::now_nanos()
        } else {
            self.block_read
        };
        let ts = read.max(self.last_ts + 1);
        self.last_ts = ts;
        let line = match std::str::from_utf8(raw) {
            Ok(s) => s.to_owned(),
            Err(_) => String::from_utf8_lossy(raw).into_owned(),
        };
        let mut e = Entry::new(self.labels.clone(), ts, line);
        e.acks.push(ack);
        out.push(e);
    }
}

pub use crate::source::ReaderStatus;

/// Reader settings.
#[derive(Debug, Clone)]
pub struct ReaderOptions {
    /// How often an idle reader checks its file (`file_watch_config.min_poll_frequency`).
    pub poll: Duration,
    /// The longest interval an idle reader backs off to. Equal to `poll` without file-system
    /// events; longer when inotify wakes readers on every change anyway, so a thousand idle
    /// files cost next to nothing.
    pub max_idle_poll: Duration,
}

impl Default for ReaderOptions {
    fn default() -> Self {
        ReaderOptions {
            poll: Duration::from_millis(250),
            max_idle_poll: Duration::from_millis(250),
        }
    }
}

/// One file being read.
pub struct Reader<D: LineDecoder> {
    path: PathBuf,
    /// `path`, for the calls run on the blocking pool.
    path_shared: Arc<PathBuf>,
    key: String,
    decoder: D,
    tx: mpsc::Sender<Vec<Entry>>,
    positions: Arc<Positions>,
    wake: Arc<Notify>,
    cancel: CancellationToken,
    opts: ReaderOptions,
    status: Arc<ReaderStatus>,
    backlog: Vec<PathBuf>,
    numbered: Numbered,
    /// Set by the file target when the path left its glob (renamed or deleted): the reader reads
    /// the file it has open to its end, waits for its lines' acknowledgement, then stops. Cleared
    /// when the path is back.
    retire: Arc<AtomicBool>,
    /// The last read filled a whole block: more is waiting, so the next read waits for a channel
    /// slot and reads a full block without asking the file's size first.
    last_read_filled: bool,
    metrics: ReaderMetrics,
    idle_wait: Duration,
}

/// Metric handles of one reader, resolved once (a lookup per line or per check would cost more
/// than the work it measures).
struct ReaderMetrics {
    read_bytes: metrics::Gauge,
    file_bytes: metrics::Gauge,
    read_lines: metrics::Counter,
    /// Last: removes the path's series once the handles above are dropped (Promtail deletes a
    /// stopped tailer's series).
    _forget: crate::telemetry::series::Forget,
}

struct OpenFile {
    file: Arc<File>,
    identity: FileIdentity,
    offset: u64,
    progress: Arc<Progress>,
    partial: Vec<u8>,
    discarding: bool,
    /// The last bytes read (up to [`MARKER_BYTES`]) ending at `offset`: if they change, the file
    /// was truncated and rewritten past our offset between two checks (which a size check misses).
    marker: Vec<u8>,
}

/// Bytes kept as the offset marker.
const MARKER_BYTES: usize = 16;

impl<D: LineDecoder> Reader<D> {
    /// A reader of `path` (already absolute).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        path: PathBuf,
        decoder: D,
        tx: mpsc::Sender<Vec<Entry>>,
        positions: Arc<Positions>,
        wake: Arc<Notify>,
        cancel: CancellationToken,
        opts: ReaderOptions,
        status: Arc<ReaderStatus>,
    ) -> Self {
        let key = path.to_string_lossy().into_owned();
        let first_wait = opts.poll;
        Reader {
            path_shared: Arc::new(path.clone()),
            path,
            decoder,
            tx,
            positions,
            wake,
            cancel,
            opts,
            status,
            backlog: Vec::new(),
            numbered: Numbered::Off,
            retire: Arc::default(),
            last_read_filled: false,
            idle_wait: first_wait,
            metrics: ReaderMetrics {
                read_bytes: metrics::gauge!(m::READ_BYTES, "path" => key.clone()),
                file_bytes: metrics::gauge!(m::FILE_BYTES, "path" => key.clone()),
                read_lines: metrics::counter!(m::READ_LINES, "path" => key.clone()),
                _forget: crate::telemetry::series::Forget::new("path", key.clone()),
            },
            key,
        }
    }

    /// Files to read to their end first, oldest first, when the file has no saved position yet
    /// (a container's log rotated by dockerd before ferrotail first saw it).
    pub fn with_backlog(mut self, backlog: Vec<PathBuf>) -> Self {
        self.backlog = backlog;
        self
    }

    /// Rotation numbers its old files `<path>.1`, `<path>.2`, ... (dockerd's json-file driver):
    /// when the file is rotated more than once between two checks, the files in between are read
    /// too, oldest first, instead of being skipped.
    /// When the file read last is no longer among the numbered files, it was deleted by
    /// `max-file`, so every numbered file is newer than it and is read.
    pub fn with_numbered_rotation(mut self) -> Self {
        self.numbered = Numbered::All;
        self
    }

    /// logrotate's numbered scheme (`<path>.1`, `<path>.2`, ..., without compression or with
    /// `delaycompress`): when the file read last is found at `<path>.N`, the files rotated after
    /// it (`<path>.N-1` ... `<path>.1`) are read too, oldest first, before the file the path
    /// names now. Nothing more is read when it is not found (compressed, deleted, or a dateext
    /// name): older numbered files could not be told from newer ones. Files `own` says are
    /// matched by the target's glob are left to their own readers.
    pub fn with_logrotate_numbering(
        mut self,
        own: Arc<dyn Fn(&Path) -> bool + Send + Sync>,
    ) -> Self {
        self.numbered = Numbered::Newer(own);
        self
    }

    /// The flag the file target sets when the path left its glob (see [`Reader::retire`]).
    pub fn with_retire(mut self, retire: Arc<AtomicBool>) -> Self {
        self.retire = retire;
        self
    }

    /// Reads until cancelled. The last committed offset stays in the positions store.
    ///
    /// Every file-system call runs on tokio's blocking pool (see [`blocking`]): a slow or hung
    /// disk stalls only this reader, never the runtime's workers. A reader cancelled while one of
    /// its calls hangs abandons the call; its position stays at the last acknowledged offset.
    pub fn run(self) -> impl std::future::Future<Output = ()> {
        // The reader lives in a box of its own and the task holds its address: a future keeps
        // the argument it was called with and the argument's working copy side by side for its
        // whole life, which for a reader held by value was two copies in every file's task.
        Box::new(self).run_boxed()
    }

    async fn run_boxed(mut self: Box<Self>) {
        self.status.running.store(true, Ordering::Relaxed);
        // The open file is boxed too, and so is each rarely taken step below: a task's state is as
        // large as its largest await's, kept for the task's whole life by every file's reader.
        let mut open: Option<Box<OpenFile>> = None;
        let mut waiting_logged = false;
        let mut check_first = false;
        let mut last_check = tokio::time::Instant::now();
        // After a rotation the path names a new file, read from its start. If opening it failed,
        // it is opened again the same way: the saved position belongs to the old file (which was
        // already read to its end), so resuming from it would read the old file again.
        let mut reopen_at_start = false;
        loop {
            if self.cancel.is_cancelled() {
                break;
            }
            if open.is_none() && reopen_at_start {
                let opened = Box::pin(self.open_at_start()).await.map(Box::new);
                match opened {
                    Ok(nf) => {
                        waiting_logged = false;
                        reopen_at_start = false;
                        open = Some(nf);
                    }
                    Err(_) if self.cancel.is_cancelled() || self.retiring() => break,
                    Err(e) => {
                        if !waiting_logged {
                            tracing::warn!(path = %self.path.display(), error = %e, "error re-opening rotated file; retrying");
                            waiting_logged = true;
                        }
                        if !self.idle_boxed().await {
                            break;
                        }
                        continue;
                    }
                }
            }
            if open.is_none() {
                let opened = Box::pin(self.open_initial()).await;
                match opened {
                    Ok(Some(f)) => {
                        waiting_logged = false;
                        open = Some(Box::new(f))
                    }
                    Ok(None) => return self.finish(None),
                    Err(_) if self.cancel.is_cancelled() || self.retiring() => break,
                    Err(e) => {
                        if !waiting_logged {
                            tracing::info!(path = %self.path.display(), error = %e, "Waiting for file to appear...");
                            waiting_logged = true;
                        }
                        if !self.idle_boxed().await {
                            break;
                        }
                        continue;
                    }
                }
            }
            let Some(f) = open.as_deref_mut() else {
                continue;
            };
            // One trip to the blocking pool: the rotation check after an idle wait (a rotation
            // found then is handled below, after reading what the old handle still has), a block,
            // and at the end of the file the rotation check again. While the reader is busy the
            // check also runs between blocks once per poll interval: a file truncated and
            // rewritten past the offset while the reader was held up (a full channel) would
            // otherwise be read on from the old offset, in the middle of the new content.
            let check = check_first || last_check.elapsed() >= self.opts.poll;
            if check {
                last_check = tokio::time::Instant::now();
            }
            let advanced = Box::pin(self.advance(f, check, true)).await;
            let rotation = match advanced {
                _ if self.cancel.is_cancelled() => break,
                Advanced::Read => {
                    check_first = false;
                    continue;
                }
                Advanced::End(rotation) => rotation,
                Advanced::Failed(e, rotation) => {
                    tracing::error!(path = %self.path.display(), error = %e, "error reading file");
                    rotation
                }
            };
            check_first = false;
            // At the end of the file: has it been rotated or truncated?
            match rotation {
                Rotation::None | Rotation::Renamed if self.retiring() => {
                    // The path left the glob (renamed away or deleted) and the open file is read
                    // to its end: stop once its lines are acknowledged, unless it grows or the
                    // path is back. A new file at the path is left to the target, which takes the
                    // retirement back (then this reader switches to it) or, once this reader has
                    // stopped and the position is forgotten, starts a reader for it: switching
                    // here would read lines that a reader started on a stale file list reads
                    // again.
                    if Box::pin(self.retired(f)).await {
                        break;
                    }
                    check_first = true;
                }
                Rotation::None => {
                    if !self.idle_boxed().await {
                        break;
                    }
                    check_first = true;
                }
                Rotation::Renamed => {
                    // Read what was written to the old file before the rename, then switch.
                    if let Some(mut old) = open.take() {
                        let _ = Box::pin(self.read_available_all(&mut old)).await;
                        // Its lines in flight stay tracked until acknowledged: a crash before
                        // that reads the rotated file again from its committed offset.
                        self.positions.retire_rotated(&self.key, &old.progress);
                        // Rotated more than once since the last check: the files in between.
                        if !Box::pin(self.drain_numbered_since(old.identity, None)).await {
                            break;
                        }
                        if self.cancel.is_cancelled() {
                            break;
                        }
                        tracing::info!(path = %self.path.display(), "Re-opening moved/deleted file");
                        let opened = Box::pin(self.open_at_start()).await.map(Box::new);
                        match opened {
                            Ok(nf) => open = Some(nf),
                            Err(e) => {
                                tracing::warn!(path = %self.path.display(), error = %e, "error re-opening rotated file; retrying");
                                waiting_logged = true;
                                reopen_at_start = true;
                                if !self.idle_boxed().await {
                                    break;
                                }
                                continue;
                            }
                        }
                    }
                }
                Rotation::Truncated => {
                    tracing::info!(path = %self.path.display(), "Re-opening truncated file");
                    if let Some(old) = open.take() {
                        // copytruncate: what was not read yet is in the copy.
                        if !Box::pin(self.drain_copy(&old)).await {
                            break;
                        }
                    }
                    let opened = Box::pin(self.open_at_start()).await.map(Box::new);
                    match opened {
                        Ok(nf) => open = Some(nf),
                        Err(e) => {
                            tracing::warn!(path = %self.path.display(), error = %e, "error re-opening truncated file; retrying");
                            waiting_logged = true;
                            reopen_at_start = true;
                            if !self.idle_boxed().await {
                                break;
                            }
                        }
                    }
                }
            }
        }
        self.finish(open.map(|f| *f))
    }

    fn retiring(&self) -> bool {
        self.retire.load(Ordering::Relaxed)
    }

    /// The path left the target's glob and `f` is read to its end: waits until its lines are
    /// acknowledged, looking for lines written since at every poll (a renamed file may still be
    /// written to until the application reopens its log). True when the reader stops (also when
    /// cancelled); false when there is more to read or the path is back.
    async fn retired(&mut self, f: &mut OpenFile) -> bool {
        loop {
            if self.cancel.is_cancelled() {
                return true;
            }
            if !self.retiring() {
                return false;
            }
            // Taken before the read: a line read now is in flight.
            let acknowledged = f.progress.in_flight() == 0;
            match self.advance(f, false, false).await {
                Advanced::Read => return false,
                _ if acknowledged => return self.retiring() || self.cancel.is_cancelled(),
                _ => {}
            }
            if !self.idle().await {
                return true;
            }
        }
    }

    /// Reads the numbered rotated files newer than the file `old` (found at `found` when it was
    /// looked up by identity), oldest first, as [`Reader::with_numbered_rotation`] or
    /// [`Reader::with_logrotate_numbering`] says. False when cancelled.
    async fn drain_numbered_since(&mut self, old: FileIdentity, found: Option<PathBuf>) -> bool {
        let (all, own) = match &self.numbered {
            Numbered::Off => return true,
            Numbered::All => (true, None),
            Numbered::Newer(own) => (false, Some(Arc::clone(own))),
        };
        let path = Arc::clone(&self.path_shared);
        let Some(skipped) = blocking(&self.cancel, move || {
            let mut newer = rotated_since(&path, old, found.as_deref(), all);
            if let Some(own) = own {
                newer.retain(|p| !own(p));
            }
            newer
        })
        .await
        else {
            return false;
        };
        for skipped in skipped {
            tracing::info!(path = %skipped.display(), "reading a rotated file that was never read");
            if !self.drain_rotated(&skipped, 0).await {
                return false;
            }
        }
        true
    }

    /// The file `old` was truncated in place (copytruncate) before its reader reached the end:
    /// reads the rest from the copy (a file in the same directory named after it, such as
    /// `app.log.1` or `app.log-20261205`, with the same first bytes and the same bytes before the
    /// read offset), from the offset reached. Promtail loses those lines. Only for file targets
    /// (logrotate). False when cancelled.
    ///
    /// The path's saved position is the truncated file's start from now on, even while reopening
    /// it fails (the old offset would skip the new content); while the old file's lines in flight
    /// are not acknowledged, it is their offset in the copy, so a crash reads them again from it.
    async fn drain_copy(&mut self, old: &OpenFile) -> bool {
        let own = match &self.numbered {
            Numbered::Newer(own) if old.identity.fingerprint != 0 && !old.marker.is_empty() => {
                Arc::clone(own)
            }
            _ => {
                self.positions.truncated(&self.key, &old.progress, None);
                return true;
            }
        };
        let path = Arc::clone(&self.path_shared);
        let (fingerprint, offset, marker) =
            (old.identity.fingerprint, old.offset, old.marker.clone());
        let Some(copy) = blocking(&self.cancel, move || {
            find_copy(&path, fingerprint, offset, Some(&marker)).filter(|(c, _)| !own(c))
        })
        .await
        else {
            return false;
        };
        self.positions
            .truncated(&self.key, &old.progress, copy.as_ref().map(|(_, id)| *id));
        let Some((copy, _)) = copy else {
            return true;
        };
        // From the start of the incomplete line read last (it is in the copy too).
        let from = if old.discarding {
            offset
        } else {
            offset.saturating_sub(old.partial.len() as u64)
        };
        tracing::info!(path = %self.path.display(), copy = %copy.display(), offset = from, "file was truncated (copytruncate); its copy holds the lines in flight and any not read yet, read from it first");
        self.drain_rotated(&copy, from).await
    }

    fn finish(&self, open: Option<OpenFile>) {
        if let Some(f) = open {
            self.positions.untrack(&self.key, &f.progress, true, false);
        }
        self.status.running.store(false, Ordering::Relaxed);
    }

    /// Waits for a wake-up or the poll interval (doubling while nothing changes, up to
    /// `max_idle_poll`); false when cancelled.
    /// [`Reader::idle`] with its state (a timer, two waits) on the heap while it waits, so it takes
    /// no room in a task that is not idle.
    fn idle_boxed(
        &mut self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send + '_>> {
        Box::pin(self.idle())
    }

    async fn idle(&mut self) -> bool {
        let wait = self.idle_wait;
        self.idle_wait = (self.idle_wait * 2).min(self.opts.max_idle_poll.max(self.opts.poll));
        tokio::select! {
            _ = self.wake.notified() => {
                self.idle_wait = self.opts.poll;
                true
            }
            _ = tokio::time::sleep(wait) => true,
            _ = self.cancel.cancelled() => false,
        }
    }

    /// Opens the file at its saved position; drains a file that was rotated away while
    /// ferrotail was down first. `Ok(None)` when cancelled while draining.
    async fn open_initial(&mut self) -> std::io::Result<Option<OpenFile>> {
        let path = Arc::clone(&self.path_shared);
        let (file, size, current) = blocking_io(&self.cancel, move || {
            let file = File::open(&*path)?;
            let meta = file.metadata()?;
            if !meta.is_file() {
                return Err(std::io::Error::other("not a regular file"));
            }
            let current = identity::identify(&path)?;
            Ok((file, meta.len(), current))
        })
        .await?;
        let (saved_offset, saved_id) = self.positions.resume_point(&self.key);
        if saved_offset.is_none() {
            for old in std::mem::take(&mut self.backlog) {
                tracing::info!(path = %old.display(), "reading rotated file first");
                if !self.drain_rotated(&old, 0).await {
                    return Ok(None);
                }
            }
        }
        if let (Some(off), Some(sid)) = (saved_offset, saved_id) {
            // Another file, or the same inode reused by a new file (dockerd's rotation deletes
            // a file and creates the next one at once, often on the freed inode).
            // A changed device number alone (LVM renumbering, a remount, a new overlay device)
            // is the same file when its inode and first bytes are the same.
            if !identity::same_file(sid, current) {
                let path = Arc::clone(&self.path_shared);
                let Some(rotated) =
                    blocking(&self.cancel, move || find_by_identity(&path, sid)).await
                else {
                    return Ok(None);
                };
                if let Some(rotated) = &rotated {
                    tracing::info!(path = %self.path.display(), rotated = %rotated.display(), offset = off, "file was rotated while stopped; reading the rotated file to its end first");
                    if !self.drain_rotated(rotated, off).await {
                        return Ok(None);
                    }
                }
                // Files rotated after it were never read.
                if !self.drain_numbered_since(sid, rotated).await {
                    return Ok(None);
                }
            }
        }
        // copytruncate while stopped: the path's file is the saved one truncated in place (same
        // inode, shorter than the saved offset or other first bytes). The lines after the saved
        // offset are in the copy, found by its first bytes (no offset marker is saved, so a copy
        // of an older generation with the same first bytes could be taken: lines again, never
        // lines lost).
        if let (Some(off), Some(sid), Numbered::Newer(own)) =
            (saved_offset, saved_id, &self.numbered)
        {
            let in_place = (sid.dev, sid.ino) == (current.dev, current.ino)
                && sid.fingerprint != 0
                && off > 0
                && (off > size || !identity::same_file(sid, current));
            if in_place {
                let own = Arc::clone(own);
                let path = Arc::clone(&self.path_shared);
                let Some(copy) = blocking(&self.cancel, move || {
                    find_copy(&path, sid.fingerprint, off, None).filter(|(c, _)| !own(c))
                })
                .await
                else {
                    return Ok(None);
                };
                if let Some((copy, _)) = copy {
                    tracing::info!(path = %self.path.display(), copy = %copy.display(), offset = off, "file was truncated (copytruncate) while stopped; reading the rest from its copy first");
                    if !self.drain_rotated(&copy, off).await {
                        return Ok(None);
                    }
                }
            }
        }
        let start = match identity::decide(saved_offset, saved_id, current, size) {
            identity::Resume::At(o) => o,
            identity::Resume::Start => 0,
        };
        tracing::info!(path = %self.path.display(), offset = start, "Seeked {} - &{{Offset:{start} Whence:0}}", self.path.display());
        let file = Arc::new(file);
        let handle = Arc::clone(&file);
        let marker = blocking_io(&self.cancel, move || seek_and_mark(&handle, start)).await?;
        Ok(Some(self.open_file(file, current, start, marker)))
    }

    async fn open_at_start(&mut self) -> std::io::Result<OpenFile> {
        let path = Arc::clone(&self.path_shared);
        let (file, current, marker) = blocking_io(&self.cancel, move || {
            let file = File::open(&*path)?;
            if !file.metadata()?.is_file() {
                return Err(std::io::Error::other("not a regular file"));
            }
            let current = identity::identify(&path)?;
            let marker = seek_and_mark(&file, 0)?;
            Ok((file, current, marker))
        })
        .await?;
        tracing::info!(path = %self.path.display(), "Successfully reopened");
        Ok(self.open_file(Arc::new(file), current, 0, marker))
    }

    /// Starts reading an opened file already positioned at `offset`.
    fn open_file(
        &mut self,
        file: Arc<File>,
        identity: FileIdentity,
        offset: u64,
        marker: Vec<u8>,
    ) -> OpenFile {
        let progress = Progress::new(offset);
        self.positions
            .track(&self.key, progress.clone(), Some(identity));
        self.status.read_offset.store(offset, Ordering::Relaxed);
        OpenFile {
            file,
            identity,
            offset,
            progress,
            partial: Vec::new(),
            discarding: false,
            marker,
        }
    }

    /// Reads a file rotated away while ferrotail was down (or rotated twice between two checks),
    /// from `offset` to its end. Until its lines are acknowledged its position is the one saved
    /// under the path (see [`Positions::track_rotated`]), so a crash before that reads it again.
    async fn drain_rotated(&mut self, rotated: &Path, offset: u64) -> bool {
        let rotated = rotated.to_path_buf();
        let opened = blocking(&self.cancel, move || {
            let mut file = File::open(&rotated).ok()?;
            file.seek(SeekFrom::Start(offset)).ok()?;
            let id = identity::identify(&rotated).ok()?;
            Some((file, id))
        })
        .await;
        let (file, id) = match opened {
            None => return false,
            Some(None) => return true,
            Some(Some(opened)) => opened,
        };
        let progress = Progress::new(offset);
        self.positions
            .track_rotated(&self.key, Arc::clone(&progress), id);
        let mut f = OpenFile {
            file: Arc::new(file),
            identity: id,
            offset,
            progress,
            partial: Vec::new(),
            discarding: false,
            marker: Vec::new(),
        };
        let done = self.read_available_all(&mut f).await;
        self.positions.retire_rotated(&self.key, &f.progress);
        done
    }

    async fn read_available_all(&mut self, f: &mut OpenFile) -> bool {
        // Boxed (here and in `run`): the trip's futures then take memory only while a trip is
        // under way, not in every idle reader's task (a few hundred bytes per file).
        while let Advanced::Read = Box::pin(self.advance(f, false, false)).await {}
        !self.cancel.is_cancelled()
    }

    /// One trip to the blocking pool: with `check_before`, the rotation check first (a rotation
    /// found ends the trip); then one block is read and its complete lines handed on; with
    /// `check_after`, a read that found nothing new (or failed) is followed by the rotation check.
    ///
    /// **Bound (issue 22):** a block is read only with a slot of the pipeline channel reserved
    /// for its lines, so a reader that cannot send holds neither a read block nor decoded entries:
    /// ten thousand files read at start wait as ten thousand parked tasks, not ten thousand
    /// chunks. Without a free slot the trip only looks (the rotation check and the file's size);
    /// if data is waiting the reader waits for a slot, then reads. A reader in the middle of a
    /// file (its last read filled a block) waits for the slot first.
    async fn advance(
        &mut self,
        f: &mut OpenFile,
        mut check_before: bool,
        check_after: bool,
    ) -> Advanced {
        // On the live file (`check_after`; a rotated file being drained is read to its end
        // unchecked), a wait for a channel slot that lasts a poll interval or more is followed
        // by the rotation check: the file may have been truncated and rewritten past the offset
        // while the reader was held up, and must not be read on from the old offset.
        let waiting_since = tokio::time::Instant::now();
        let mut permit = match self.tx.clone().try_reserve_owned() {
            Ok(p) => Some(p),
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.cancel.cancel();
                return Advanced::End(Rotation::None);
            }
            Err(mpsc::error::TrySendError::Full(_)) if self.last_read_filled => {
                let p = match self.reserve().await {
                    Some(p) => Some(p),
                    None => return Advanced::End(Rotation::None),
                };
                check_before |= check_after && waiting_since.elapsed() >= self.opts.poll;
                p
            }
            Err(mpsc::error::TrySendError::Full(_)) => None,
        };
        let may_read = permit.is_some();
        let Some(mut trip) = self
            .trip_holding(f, &mut permit, may_read, check_before, check_after)
            .await
        else {
            return Advanced::End(Rotation::None);
        };
        if trip.waiting {
            // Data is waiting and no slot was free: wait for one, then read (the rotation check
            // asked for before reading was done by the first trip).
            self.record_size(trip.size);
            let waited = tokio::time::Instant::now();
            permit = self.reserve().await;
            if permit.is_none() {
                return Advanced::End(Rotation::None);
            }
            let check_again = check_after && waited.elapsed() >= self.opts.poll;
            trip = match self
                .trip_holding(f, &mut permit, true, check_again, check_after)
                .await
            {
                Some(t) => t,
                None => return Advanced::End(Rotation::None),
            };
        }
        self.record_size(trip.size);
        match trip.read {
            Ok(n) if n > 0 => {
                let permit = match permit {
                    Some(p) => p,
                    // The slot was given back during a slow call: take one again before decoding.
                    None => match self.reserve().await {
                        Some(p) => p,
                        None => return Advanced::End(Rotation::None),
                    },
                };
                self.last_read_filled = n >= READ_BLOCK;
                self.idle_wait = self.opts.poll;
                let entries = self.handle_block(f, trip.block.get(..n).unwrap_or_default());
                give_block(trip.block);
                if entries.is_empty() {
                    crate::core::entry::recycle(entries);
                } else {
                    permit.send(entries);
                }
                Advanced::Read
            }
            Ok(_) => {
                self.last_read_filled = false;
                Advanced::End(trip.rotation)
            }
            Err(e) => {
                self.last_read_filled = false;
                Advanced::Failed(e, trip.rotation)
            }
        }
    }

    /// Runs one [`Probe::trip`] for `f` on the blocking pool; `None` when cancelled.
    async fn trip(
        &self,
        f: &OpenFile,
        may_read: bool,
        check_before: bool,
        check_after: bool,
    ) -> Option<Trip> {
        let probe = Probe {
            path: Arc::clone(&self.path_shared),
            file: Arc::clone(&f.file),
            identity: f.identity,
            offset: f.offset,
            marker: f.marker.clone(),
        };
        let more = self.last_read_filled;
        blocking(&self.cancel, move || {
            probe.trip(may_read, more, check_before, check_after)
        })
        .await
    }

    fn record_size(&self, size: Option<u64>) {
        if let Some(size) = size {
            self.status.size.store(size, Ordering::Relaxed);
            self.metrics.file_bytes.set(size as f64);
        }
    }

    /// Waits for a slot in the pipeline channel. `None` when cancelled, or when the pipeline is
    /// gone (which stops the reader).
    async fn reserve(&self) -> Option<mpsc::OwnedPermit<Vec<Entry>>> {
        tokio::select! {
            r = self.tx.clone().reserve_owned() => match r {
                Ok(p) => Some(p),
                Err(_) => {
                    self.cancel.cancel();
                    None
                }
            },
            _ = self.cancel.cancelled() => None,
        }
    }

    /// [`Reader::trip`] while holding `permit` (a channel slot): if the call is slow (a hung or
    /// very slow disk, [`crate::core::blocking::PRESUMED_HUNG`]) the slot is given back, so a few
    /// hung files cannot take every slot of their job's channel and stall its other files; the
    /// caller takes a slot again before decoding what the call read.
    async fn trip_holding(
        &self,
        f: &OpenFile,
        permit: &mut Option<mpsc::OwnedPermit<Vec<Entry>>>,
        may_read: bool,
        check_before: bool,
        check_after: bool,
    ) -> Option<Trip> {
        let trip = self.trip(f, may_read, check_before, check_after);
        tokio::pin!(trip);
        if permit.is_some() {
            tokio::select! {
                t = &mut trip => return t,
                _ = tokio::time::sleep(crate::core::blocking::PRESUMED_HUNG) => *permit = None,
            }
        }
        trip.await
    }

    /// Splits a block into lines and decodes them into a chunk of entries.
    fn handle_block(&mut self, f: &mut OpenFile, block: &[u8]) -> Vec<Entry> {
        let n = block.len();
        self.decoder.begin_block();
        // Sized by the block's line count, so the chunk is allocated once instead of grown.
        let mut entries = crate::core::entry::chunk(memchr::memchr_iter(b'\n', block).count() + 1);
        let mut lines = 0u64;
        let mut start = 0;
        // One delivery token for all complete lines of the block, committing the end of its last
        // line: a lock and an allocation per block instead of per line. The position then moves
        // in whole blocks, which a crash can repeat at most once (at-least-once either way).
        let block_end = memchr::memrchr(b'\n', block).map(|nl| f.offset + (nl + 1) as u64);
        let mut block_ack: Option<Ack> = None;
        for nl in memchr::memchr_iter(b'\n', block) {
            let end_offset = f.offset + (nl + 1) as u64;
            let piece = &block[start..nl];
            start = nl + 1;
            if f.discarding {
                f.discarding = false;
                f.partial.clear();
                f.progress.skip_to(end_offset);
                continue;
            }
            let ack = block_ack
                .get_or_insert_with(|| f.progress.register(block_end.unwrap_or(end_offset)))
                .clone();
            if f.partial.is_empty() {
                self.decoder.decode(piece, ack, &mut entries);
            } else {
                f.partial.extend_from_slice(piece);
                let line = std::mem::take(&mut f.partial);
                self.decoder.decode(&line, ack, &mut entries);
            }
            lines += 1;
        }
        drop(block_ack);
        let rest = &block[start..];
        if !f.discarding && !rest.is_empty() {
            if f.partial.len() + rest.len() > MAX_LINE_BYTES {
                // Hand on the first MAX_LINE_BYTES of the line and skip the rest of it.
                let take = MAX_LINE_BYTES - f.partial.len();
                f.partial.extend_from_slice(&rest[..take]);
                let line = std::mem::take(&mut f.partial);
                let end_offset = f.offset + n as u64;
                let ack = f.progress.register(end_offset);
                self.decoder.decode(&line, ack, &mut entries);
                f.discarding = true;
                lines += 1;
                metrics::counter!(m::TRUNCATED_LINES, "path" => self.key.clone()).increment(1);
                tracing::warn!(path = %self.path.display(), max_bytes = MAX_LINE_BYTES, "line longer than the reader's cap; truncated");
            } else {
                f.partial.extend_from_slice(rest);
            }
        }
        f.offset += n as u64;
        if n >= MARKER_BYTES {
            f.marker.clear();
            f.marker.extend_from_slice(&block[n - MARKER_BYTES..]);
        } else {
            f.marker.extend_from_slice(block);
            let excess = f.marker.len().saturating_sub(MARKER_BYTES);
            f.marker.drain(..excess);
        }
        self.status.read_offset.store(f.offset, Ordering::Relaxed);
        self.metrics.read_bytes.set(f.offset as f64);
        if lines > 0 {
            self.metrics.read_lines.increment(lines);
        }
        entries
    }
}

/// Which numbered rotated files a reader reads (see [`Reader::with_numbered_rotation`]).
enum Numbered {
    Off,
    /// dockerd's: every numbered file newer than the one read last, all when it is gone.
    All,
    /// logrotate's: the numbered files newer than the one read last when it is still there,
    /// except those the predicate says the target reads as files of their own.
    Newer(Arc<dyn Fn(&Path) -> bool + Send + Sync>),
}

enum Rotation {
    None,
    Renamed,
    Truncated,
}

/// What [`Reader::advance`] did.
enum Advanced {
    /// A block was read and its lines handed on.
    Read,
    /// Nothing new (or a rotation found before reading), with the rotation check's answer
    /// ([`Rotation::None`] when it was not asked for).
    End(Rotation),
    /// The read failed, with the rotation check's answer.
    Failed(std::io::Error, Rotation),
}

pub use crate::core::blocking::blocking;

/// [`blocking`] for calls that return an IO result; cancellation is an `Interrupted` error.
async fn blocking_io<T, F>(cancel: &CancellationToken, f: F) -> std::io::Result<T>
where
    F: FnOnce() -> std::io::Result<T> + Send + 'static,
    T: Send + 'static,
{
    blocking(cancel, f).await.unwrap_or_else(|| {
        Err(std::io::Error::new(
            std::io::ErrorKind::Interrupted,
            "reader stopped",
        ))
    })
}

/// Seeks an opened file to `offset` and reads its offset marker.
fn seek_and_mark(file: &File, offset: u64) -> std::io::Result<Vec<u8>> {
    let mut handle = file;
    handle.seek(SeekFrom::Start(offset))?;
    Ok(read_marker_at(file, offset))
}

/// What a trip to the blocking pool needs to know of an open file.
struct Probe {
    path: Arc<PathBuf>,
    file: Arc<File>,
    identity: FileIdentity,
    offset: u64,
    marker: Vec<u8>,
}

/// What a trip to the blocking pool brings back.
struct Trip {
    /// The block read (empty when nothing was read).
    block: Vec<u8>,
    /// Bytes read into `block`; 0 at the end of the file or when the trip could not read.
    read: std::io::Result<usize>,
    /// The trip had no channel slot to read with and the file has data waiting.
    waiting: bool,
    /// The rotation check's answer ([`Rotation::None`] when it was not run).
    rotation: Rotation,
    /// The file's size as the trip saw it (the path's, when the rotation check ran).
    size: Option<u64>,
}

/// What [`Probe::read_block`] found.
enum BlockRead {
    /// A block and the bytes read into it.
    Data(Vec<u8>, usize),
    /// At the end of the file (with its size when it was asked).
    End(Option<u64>),
    /// Data is waiting but the trip may not read (with the file's size when it was asked).
    Waiting(Option<u64>),
}

impl Probe {
    /// Runs on a blocking thread: the file-system work of one [`Reader::advance`]. Reads only
    /// when `may_read` (the reader holds a channel slot); `more` says the last read filled a
    /// block, so the file's size need not be asked first.
    fn trip(self, may_read: bool, more: bool, before: bool, after: bool) -> Trip {
        let mut trip = Trip {
            block: Vec::new(),
            read: Ok(0),
            waiting: false,
            rotation: Rotation::None,
            size: None,
        };
        if before {
            let (rotation, size) = self.check_rotation();
            trip.size = size;
            if !matches!(rotation, Rotation::None) {
                trip.rotation = rotation;
                return trip;
            }
        }
        match self.read_block(may_read, more) {
            Ok(BlockRead::Data(block, n)) => {
                trip.block = block;
                trip.read = Ok(n);
                return trip;
            }
            Ok(BlockRead::Waiting(size)) => {
                trip.waiting = true;
                trip.size = trip.size.or(size);
                return trip;
            }
            Ok(BlockRead::End(size)) => trip.size = trip.size.or(size),
            Err(e) => trip.read = Err(e),
        }
        if after {
            let (rotation, size) = self.check_rotation();
            trip.rotation = rotation;
            trip.size = size.or(trip.size);
        }
        trip
    }

    /// Reads one block. Unless the last read filled a block, the file's size is asked first: at
    /// its end nothing is read and no block is taken (an idle file costs a stat), and a read
    /// block is sized to what is there (from [`MIN_BLOCK`] to [`READ_BLOCK`]), so a file of two
    /// bytes does not take a full block.
    fn read_block(&self, may_read: bool, more: bool) -> std::io::Result<BlockRead> {
        let (want, size) = if more {
            (READ_BLOCK, None)
        } else {
            let size = self.file.metadata()?.len();
            if size <= self.offset {
                return Ok(BlockRead::End(Some(size)));
            }
            let want = usize::try_from(size - self.offset).unwrap_or(READ_BLOCK);
            (want.clamp(MIN_BLOCK, READ_BLOCK), Some(size))
        };
        if !may_read {
            return Ok(BlockRead::Waiting(size));
        }
        let mut block = take_block(want);
        match (&*self.file).read(&mut block) {
            Ok(0) => {
                give_block(block);
                Ok(BlockRead::End(size))
            }
            Ok(n) => Ok(BlockRead::Data(block, n)),
            Err(e) => {
                give_block(block);
                Err(e)
            }
        }
    }

    /// Has the file at the path been rotated or truncated? With the path's size when known.
    fn check_rotation(&self) -> (Rotation, Option<u64>) {
        let meta = match std::fs::metadata(&*self.path) {
            Ok(m) => m,
            // Deleted: keep the open handle; discovery stops the reader when the glob no longer
            // matches, and a re-created file shows up as a new inode.
            Err(_) => return (Rotation::None, None),
        };
        let size = Some(meta.len());
        if meta.dev() != self.identity.dev || meta.ino() != self.identity.ino {
            return (Rotation::Renamed, size);
        }
        if meta.len() < self.offset {
            return (Rotation::Truncated, size);
        }
        if !self.marker.is_empty() && read_marker_at(&self.file, self.offset) != self.marker {
            return (Rotation::Truncated, size);
        }
        (Rotation::None, size)
    }
}

/// Reads the up to [`MARKER_BYTES`] bytes ending at `offset` from an open handle.
fn read_marker_at(file: &File, offset: u64) -> Vec<u8> {
    use std::os::unix::fs::FileExt;
    let len = offset.min(MARKER_BYTES as u64) as usize;
    let mut buf = vec![0u8; len];
    match file.read_exact_at(&mut buf, offset - len as u64) {
        Ok(()) => buf,
        Err(_) => Vec::new(),
    }
}

/// The numbered rotated files of `path` (`<path>.1`, `<path>.2`, ...: logrotate's and dockerd's
/// scheme) with their metadata, newest (`.1`) first. The scan stops after two numbers in a row are
/// missing, so a listing taken while the files are being renamed does not end early.
pub fn numbered_rotations(path: &Path) -> Vec<(u32, PathBuf, std::fs::Metadata)> {
    let mut found = Vec::new();
    let mut misses = 0;
    for n in 1..=1000u32 {
        let mut p = path.as_os_str().to_owned();
        p.push(format!(".{n}"));
        let p = PathBuf::from(p);
        match std::fs::metadata(&p) {
            Ok(meta) => {
                misses = 0;
                found.push((n, p, meta));
            }
            Err(_) => {
                misses += 1;
                if misses == 2 {
                    break;
                }
            }
        }
    }
    found
}

/// The numbered rotated files of `path` newer than the file with identity `old` (or at `found`,
/// where it was found by identity under a changed device number), oldest first: `<path>.1` up
/// to (not including) the one that is `old`. When `old` is not among them (deleted by the
/// rotation limit, compressed, renamed otherwise), every numbered file with `all_when_missing`,
/// none without.
fn rotated_since(
    path: &Path,
    old: FileIdentity,
    found: Option<&Path>,
    all_when_missing: bool,
) -> Vec<PathBuf> {
    let list = numbered_rotations(path);
    let at = list.iter().position(|(_, p, meta)| {
        meta.ino() == old.ino && (meta.dev() == old.dev || found == Some(p.as_path()))
    });
    let take = match at {
        Some(i) => i,
        None if all_when_missing => list.len(),
        None => 0,
    };
    let mut newer: Vec<PathBuf> = list.into_iter().take(take).map(|(_, p, _)| p).collect();
    newer.reverse();
    newer
}

/// The copy that copytruncate made of `path` before truncating it: a regular file of its directory
/// whose name starts with `path`'s, at least `offset` long (a reader that had read everything
/// still needs it for its lines in flight), with the first bytes `fingerprint` and
/// the bytes `marker` just before `offset`; the most recently modified when several match.
fn find_copy(
    path: &Path,
    fingerprint: u64,
    offset: u64,
    marker: Option<&[u8]>,
) -> Option<(PathBuf, FileIdentity)> {
    let dir = path.parent()?;
    let name = path.file_name()?.as_encoded_bytes();
    let mut best: Option<(std::time::SystemTime, PathBuf, FileIdentity)> = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let file_name = entry.file_name();
        let n = file_name.as_encoded_bytes();
        if n.len() <= name.len() || !n.starts_with(name) {
            continue;
        }
        let p = entry.path();
        let Ok(meta) = std::fs::metadata(&p) else {
            continue;
        };
        if !meta.is_file() || meta.len() < offset {
            continue;
        }
        let modified = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
        if best.as_ref().is_some_and(|(t, _, _)| *t >= modified) {
            continue;
        }
        let Ok(id) = identity::identify(&p) else {
            continue;
        };
        if id.fingerprint == fingerprint
            && marker.is_none_or(|m| File::open(&p).is_ok_and(|f| read_marker_at(&f, offset) == m))
        {
            best = Some((modified, p, id));
        }
    }
    best.map(|(_, p, id)| (p, id))
}

/// Looks in `path`'s directory for the file with identity `id` (a rotated `app.log.1`), also
/// under a changed device number (see [`identity::same_file`]).
fn find_by_identity(path: &Path, id: FileIdentity) -> Option<PathBuf> {
    let dir = path.parent()?;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let p = entry.path();
        if let Ok(meta) = std::fs::metadata(&p) {
            if !meta.is_file() || meta.ino() != id.ino || p == path {
                continue;
            }
            if meta.dev() == id.dev
                || identity::identify(&p).is_ok_and(|c| identity::same_file(id, c))
            {
                return Some(p);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn next_lines(rx: &mut mpsc::Receiver<Vec<Entry>>, n: usize) -> Vec<String> {
        let mut got = Vec::new();
        while got.len() < n {
            let chunk = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .expect("lines in time")
                .expect("channel open");
            got.extend(chunk.into_iter().map(|e| e.line));
        }
        got
    }

    /// After a rename rotation the new file could not be opened at once (here: a directory
    /// stands at the path for a while). When it can, it is read from its start, and the rotated
    /// file, already read to its end, is not read again.
    #[tokio::test]
    async fn a_failed_reopen_after_rotation_does_not_read_the_old_file_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        let old: String = (0..40).map(|i| format!("old line {i:03}\n")).collect();
        std::fs::write(&path, &old).unwrap();
        let (tx, mut rx) = mpsc::channel(16);
        let wake = Arc::new(Notify::new());
        let cancel = CancellationToken::new();
        let positions = Positions::in_memory();
        let reader = Reader::new(
            path.clone(),
            PlainDecoder::new(Labels::new()),
            tx,
            Arc::clone(&positions),
            Arc::clone(&wake),
            cancel.clone(),
            ReaderOptions {
                poll: Duration::from_millis(5),
                max_idle_poll: Duration::from_millis(5),
            },
            Arc::new(ReaderStatus::default()),
        );
        let task = tokio::spawn(reader.run());
        assert_eq!(next_lines(&mut rx, 40).await.len(), 40);
        std::fs::rename(&path, dir.path().join("app.log.1")).unwrap();
        std::fs::create_dir(&path).unwrap();
        // The reader polls every 5 ms: give it many tries at the directory.
        tokio::time::sleep(Duration::from_millis(300)).await;
        std::fs::remove_dir(&path).unwrap();
        std::fs::write(&path, "new 1\nnew 2\n").unwrap();
        let got = next_lines(&mut rx, 2).await;
        assert_eq!(
            got,
            vec!["new 1", "new 2"],
            "the rotated file was read again"
        );
        cancel.cancel();
        let _ = task.await;
        assert!(rx.try_recv().is_err());
    }

    fn logrotate_reader(
        path: &Path,
        tx: mpsc::Sender<Vec<Entry>>,
        wake: &Arc<Notify>,
        cancel: &CancellationToken,
        own: impl Fn(&Path) -> bool + Send + Sync + 'static,
    ) -> Reader<PlainDecoder> {
        Reader::new(
            path.to_path_buf(),
            PlainDecoder::new(Labels::new()),
            tx,
            Positions::in_memory(),
            Arc::clone(wake),
            cancel.clone(),
            ReaderOptions {
                poll: Duration::from_secs(3600),
                max_idle_poll: Duration::from_secs(3600),
            },
            Arc::new(ReaderStatus::default()),
        )
        .with_logrotate_numbering(Arc::new(own))
    }

    /// logrotate's numbered rotation, twice between two checks of a file target's reader: the
    /// file in between (`app.log.1`) is read too, in order. It used to be skipped.
    #[tokio::test]
    async fn a_file_target_reads_the_file_between_two_rotations_in_one_poll() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        std::fs::write(&path, "a1\n").unwrap();
        let (tx, mut rx) = mpsc::channel(16);
        let wake = Arc::new(Notify::new());
        let cancel = CancellationToken::new();
        let task = tokio::spawn(logrotate_reader(&path, tx, &wake, &cancel, |_| false).run());
        assert_eq!(next_lines(&mut rx, 1).await, vec!["a1"]);
        let n = |k: u32| dir.path().join(format!("app.log.{k}"));
        std::fs::write(n(1), "older, read long ago\n").unwrap();
        std::fs::rename(n(1), n(2)).unwrap();
        std::fs::rename(&path, n(1)).unwrap();
        std::fs::write(&path, "b1\n").unwrap();
        std::fs::rename(n(2), n(3)).unwrap();
        std::fs::rename(n(1), n(2)).unwrap();
        std::fs::rename(&path, n(1)).unwrap();
        std::fs::write(&path, "c1\n").unwrap();
        wake.notify_one();
        assert_eq!(next_lines(&mut rx, 2).await, vec!["b1", "c1"]);
        cancel.cancel();
        let _ = task.await;
        assert!(rx.try_recv().is_err(), "an older rotated file was read");
    }

    /// A file target's reader whose file was renamed to a name outside the numbered scheme (or
    /// compressed) does not read numbered files it cannot place (stale `app.log.1` from an older
    /// scheme), and never a numbered file its target's glob reads as a file of its own.
    #[tokio::test]
    async fn a_file_target_reads_no_numbered_file_it_cannot_place_or_that_is_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        let n = |k: u32| dir.path().join(format!("app.log.{k}"));
        std::fs::write(n(1), "stale\n").unwrap();
        std::fs::write(&path, "a1\n").unwrap();
        let (tx, mut rx) = mpsc::channel(16);
        let wake = Arc::new(Notify::new());
        let cancel = CancellationToken::new();
        let own_file = n(1);
        let task =
            tokio::spawn(logrotate_reader(&path, tx, &wake, &cancel, move |p| p == own_file).run());
        assert_eq!(next_lines(&mut rx, 1).await, vec!["a1"]);
        // dateext: app.log -> app.log-20261205; the stale app.log.1 must not be read.
        std::fs::rename(&path, dir.path().join("app.log-20261205")).unwrap();
        std::fs::write(&path, "b1\n").unwrap();
        wake.notify_one();
        assert_eq!(next_lines(&mut rx, 1).await, vec!["b1"]);
        // Numbered, twice, but app.log.1 is the glob's own: only app.log.2 (the file read last)
        // is left to this reader, and it was read already.
        std::fs::rename(n(1), n(2)).unwrap();
        std::fs::rename(&path, n(1)).unwrap();
        std::fs::write(&path, "c1\n").unwrap();
        wake.notify_one();
        assert_eq!(next_lines(&mut rx, 1).await, vec!["c1"]);
        cancel.cancel();
        let _ = task.await;
        assert!(rx.try_recv().is_err(), "a numbered file was read");
    }

    /// The file target retires a reader whose path left the glob: it reads its open file to the
    /// end, waits for the acknowledgement, and stops; retired while a new file appears at the
    /// path and then un-retired, it reads the new file from its start.
    #[tokio::test]
    async fn a_retired_reader_finishes_its_file_and_goes_on_when_the_path_is_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        std::fs::write(&path, "a1\n").unwrap();
        let (tx, mut rx) = mpsc::channel(16);
        let wake = Arc::new(Notify::new());
        let cancel = CancellationToken::new();
        let retire = Arc::new(AtomicBool::new(false));
        let positions = Positions::in_memory();
        let reader = Reader::new(
            path.clone(),
            PlainDecoder::new(Labels::new()),
            tx,
            Arc::clone(&positions),
            Arc::clone(&wake),
            cancel.clone(),
            ReaderOptions {
                poll: Duration::from_millis(5),
                max_idle_poll: Duration::from_millis(5),
            },
            Arc::new(ReaderStatus::default()),
        )
        .with_retire(Arc::clone(&retire));
        let task = tokio::spawn(reader.run());
        // Held: not acknowledged yet.
        let mut held = Vec::new();
        let chunk = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap();
        held.extend(chunk);
        // Renamed away and written to after the rename; the glob no longer has the path.
        std::fs::rename(&path, dir.path().join("app.log.1")).unwrap();
        append_to(&dir.path().join("app.log.1"), "a2\n");
        retire.store(true, Ordering::Relaxed);
        wake.notify_one();
        assert_eq!(next_lines(&mut rx, 1).await, vec!["a2"]);
        // It waits for the first line's acknowledgement; meanwhile the path is back.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!task.is_finished(), "stopped with a line in flight");
        std::fs::write(&path, "b1\n").unwrap();
        retire.store(false, Ordering::Relaxed);
        drop(held);
        assert_eq!(next_lines(&mut rx, 1).await, vec!["b1"]);
        // Deleted now: read to the end, acknowledged (dropped), then the reader stops.
        append_to(&path, "b2\n");
        std::fs::remove_file(&path).unwrap();
        retire.store(true, Ordering::Relaxed);
        wake.notify_one();
        assert_eq!(next_lines(&mut rx, 1).await, vec!["b2"]);
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("the retired reader stops")
            .unwrap();
        assert_eq!(positions.get_offset(&path.to_string_lossy()), Some(6));
    }

    /// A retired reader that sees a new file at its path before the target takes the
    /// retirement back leaves it alone: it stops once its own file's lines are acknowledged.
    #[tokio::test]
    async fn a_retired_reader_does_not_switch_to_a_new_file_at_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        std::fs::write(&path, "a1\n").unwrap();
        let (tx, mut rx) = mpsc::channel(16);
        let wake = Arc::new(Notify::new());
        let cancel = CancellationToken::new();
        let retire = Arc::new(AtomicBool::new(false));
        let reader = Reader::new(
            path.clone(),
            PlainDecoder::new(Labels::new()),
            tx,
            Positions::in_memory(),
            Arc::clone(&wake),
            cancel.clone(),
            ReaderOptions {
                poll: Duration::from_millis(5),
                max_idle_poll: Duration::from_millis(5),
            },
            Arc::new(ReaderStatus::default()),
        )
        .with_retire(Arc::clone(&retire));
        let task = tokio::spawn(reader.run());
        assert_eq!(next_lines(&mut rx, 1).await, vec!["a1"]);
        std::fs::rename(&path, dir.path().join("app.log.1")).unwrap();
        std::fs::write(&path, "n1\n").unwrap();
        retire.store(true, Ordering::Relaxed);
        wake.notify_one();
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("the retired reader stops")
            .unwrap();
        assert!(rx.try_recv().is_err(), "the new file was read");
    }

    fn append_to(path: &Path, text: &str) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    /// A copytruncate rotation: the path's saved offset is 0 at once, also while reopening the
    /// file fails.
    #[test]
    fn a_truncated_files_saved_offset_is_its_start() {
        let positions = Positions::in_memory();
        let progress = Progress::new(500);
        positions.track("/l/app.log", Arc::clone(&progress), None);
        let ack = progress.register(900);
        drop(ack);
        assert_eq!(positions.get_offset("/l/app.log"), Some(900));
        positions.truncated("/l/app.log", &progress, None);
        assert_eq!(positions.get_offset("/l/app.log"), Some(0));

        // With lines in flight and a copy: their offset in the copy until acknowledged.
        let progress = Progress::new(0);
        let copy = FileIdentity {
            dev: 1,
            ino: 77,
            fingerprint: 5,
        };
        positions.track("/l/app.log", Arc::clone(&progress), None);
        let ack = progress.register(400);
        positions.truncated("/l/app.log", &progress, Some(copy));
        assert_eq!(
            positions.resume_point("/l/app.log"),
            (Some(0), Some(copy)),
            "the copy's offset while its lines are in flight"
        );
        drop(ack);
        assert_eq!(positions.resume_point("/l/app.log").0, Some(400));
    }

    /// Counts the lines it decodes.
    struct Counting {
        inner: PlainDecoder,
        decoded: Arc<std::sync::atomic::AtomicUsize>,
    }

    impl LineDecoder for Counting {
        fn decode(&mut self, raw: &[u8], ack: Ack, out: &mut Vec<Entry>) {
            self.decoded.fetch_add(1, Ordering::SeqCst);
            self.inner.decode(raw, ack, out);
        }
    }

    /// Issue 22: readers that cannot send hold no decoded entries (nor read blocks). Fifty files
    /// of ten lines and a pipeline channel of two chunks that nobody receives from: once every
    /// reader has looked at its file, only the two readers that got a slot have read and decoded
    /// anything. Then every line arrives, each file's in order, and at no point have more chunks
    /// been decoded than were received plus the channel's capacity.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn readers_blocked_on_a_full_channel_hold_no_decoded_chunks() {
        const FILES: usize = 50;
        const LINES: usize = 10;
        const CAP: usize = 2;
        let dir = tempfile::tempdir().unwrap();
        let mut size = 0;
        for i in 0..FILES {
            let body: String = (0..LINES).map(|j| format!("f{i:02} line {j}\n")).collect();
            size = body.len() as u64;
            std::fs::write(dir.path().join(format!("f{i:02}.log")), body).unwrap();
        }
        let (tx, mut rx) = mpsc::channel(CAP);
        let decoded = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let cancel = CancellationToken::new();
        let positions = Positions::in_memory();
        let mut statuses = Vec::new();
        let mut tasks = Vec::new();
        for i in 0..FILES {
            let status = Arc::new(ReaderStatus::default());
            statuses.push(Arc::clone(&status));
            let decoder = Counting {
                inner: PlainDecoder::new(Labels::new()),
                decoded: Arc::clone(&decoded),
            };
            let reader = Reader::new(
                dir.path().join(format!("f{i:02}.log")),
                decoder,
                tx.clone(),
                Arc::clone(&positions),
                Arc::new(Notify::new()),
                cancel.clone(),
                ReaderOptions {
                    poll: Duration::from_millis(5),
                    max_idle_poll: Duration::from_millis(5),
                },
                status,
            );
            tasks.push(tokio::spawn(reader.run()));
        }
        drop(tx);
        // Every reader has looked at its file: it knows its size (a reader holding a decoded
        // chunk it cannot send never gets that far).
        tokio::time::timeout(Duration::from_secs(20), async {
            while !statuses
                .iter()
                .all(|s| s.size.load(Ordering::SeqCst) == size)
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("every reader looked at its file");
        assert_eq!(
            decoded.load(Ordering::SeqCst),
            CAP * LINES,
            "readers decoded lines they could not send"
        );
        let mut got: Vec<Vec<String>> = vec![Vec::new(); FILES];
        let mut received = 0;
        let mut chunks = 0;
        while received < FILES * LINES {
            let chunk = tokio::time::timeout(Duration::from_secs(20), rx.recv())
                .await
                .expect("lines in time")
                .expect("channel open");
            chunks += 1;
            for e in chunk {
                let file: usize = e.line[1..3].parse().unwrap();
                got[file].push(e.line);
                received += 1;
            }
            assert!(
                decoded.load(Ordering::SeqCst) <= (chunks + CAP) * LINES,
                "more chunks decoded than received plus the channel's capacity"
            );
        }
        for (i, lines) in got.iter().enumerate() {
            let want: Vec<String> = (0..LINES).map(|j| format!("f{i:02} line {j}")).collect();
            assert_eq!(lines, &want, "file {i}");
        }
        cancel.cancel();
        for t in tasks {
            let _ = t.await;
        }
        assert!(rx.try_recv().is_err(), "a line was read twice");
    }

    #[tokio::test]
    async fn files_rotated_twice_between_checks_are_all_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        std::fs::write(&path, "l1\n").unwrap();
        let (tx, mut rx) = mpsc::channel(16);
        let wake = Arc::new(Notify::new());
        let cancel = CancellationToken::new();
        let reader = Reader::new(
            path.clone(),
            PlainDecoder::new(Labels::new()),
            tx,
            Positions::in_memory(),
            Arc::clone(&wake),
            cancel.clone(),
            ReaderOptions {
                poll: Duration::from_secs(3600),
                max_idle_poll: Duration::from_secs(3600),
            },
            Arc::new(ReaderStatus::default()),
        )
        .with_numbered_rotation();
        let task = tokio::spawn(reader.run());
        assert_eq!(next_lines(&mut rx, 1).await, vec!["l1"]);
        // Two rotations while the reader sleeps, as dockerd does with max-size/max-file.
        let n = |k: u32| dir.path().join(format!("c-json.log.{k}"));
        std::fs::rename(&path, n(1)).unwrap();
        std::fs::write(&path, "l2\n").unwrap();
        std::fs::rename(n(1), n(2)).unwrap();
        std::fs::rename(&path, n(1)).unwrap();
        std::fs::write(&path, "l3\n").unwrap();
        wake.notify_one();
        assert_eq!(next_lines(&mut rx, 2).await, vec!["l2", "l3"]);
        cancel.cancel();
        let _ = task.await;
    }
}
#[cfg(test)]
mod task_size {
    use super::*;

    /// Every file's reader is a task that lives as long as the file is read, and a task's state
    /// is as large as its largest await's: with 10,000 files each kilobyte is 10 MB. The reader
    /// and its open file are boxed, and so is every rarely taken step (BENCHMARKS.md, sixth
    /// session); this catches a step that makes the task large again.
    #[test]
    fn a_readers_task_state_stays_small() {
        let (tx, _rx) = mpsc::channel(16);
        let r = Reader::new(
            PathBuf::from("/tmp/x"),
            PlainDecoder::new(Labels::new()),
            tx,
            Positions::in_memory(),
            Arc::new(Notify::new()),
            CancellationToken::new(),
            ReaderOptions::default(),
            Arc::new(ReaderStatus::default()),
        );
        let run = r.run();
        let size = std::mem::size_of_val(&run);
        assert!(size <= 384, "a reader's task state is {size} bytes");
    }
}
