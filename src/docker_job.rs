//! Docker jobs: `docker_sd_configs` discovery wired to readers.
//!
//! Each kept container's json-file log (its `LogPath`) is tailed like any file, with its offset in
//! the positions file, so dockerd's own rotation loses nothing and a restart resumes exactly.
//! Where the file cannot be read (another log driver, no host mount), the logs stream through the
//! Docker API from the saved `cursor-<id>` instead (Promtail's whole seconds, refined by
//! `cursor-<id>-nanos`, the exact timestamp Loki acknowledged, so a restart neither repeats nor
//! skips lines of the same second).
//!
//! Where ferrotail differs from Promtail 3.4 (documented in the README): relabel `keep`/`drop`
//! rules decide which containers are read (Promtail reads every container and pushes the dropped
//! ones with an empty label set); labels follow renames and label changes; removed containers
//! are released with their positions; a Promtail `cursor-<id>` is honoured when a container's
//! json-file is first read, so migrating re-ships nothing Promtail shipped.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::{mpsc, Notify};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::raw::RawScrapeConfig;
use crate::core::ack::{Ack, Progress};
use crate::core::{Entry, Labels};
use crate::discovery::docker::{self, DockerContainer, DockerEvent, DockerSdConfig};
use crate::discovery::docker_logs::{self, LogsRequest};
use crate::positions::Positions;
use crate::relabel::Relabeler;
use crate::tail::docker_json::{self, JoinedLine, PartialJoiner, Stream};
use crate::tail::{LineDecoder, Reader, ReaderOptions, ReaderStatus};
use crate::targets::{Registry, TargetView};
use crate::telemetry::metrics as m;
use gocompat::yaml::{self, Mode};

/// Decodes a job's `docker_sd_configs` entries.
pub fn decode_configs(job: &RawScrapeConfig) -> Result<Vec<DockerSdConfig>, String> {
    job.docker_sd_configs
        .iter()
        .enumerate()
        .map(|(i, node)| {
            let cfg = yaml::from_node::<DockerSdConfig>(&node.0, Mode::Config)
                .map_err(|e| format!("docker_sd_configs[{i}]: {e}"))?
                .value;
            cfg.validate()
                .map_err(|e| format!("docker_sd_configs[{i}]: {e}"))?;
            Ok(cfg)
        })
        .collect()
}

/// Labels per stream after relabelling; `None` when the rules drop that stream.
#[derive(Debug, Default, Clone)]
struct StreamLabels {
    stdout: Option<Labels>,
    stderr: Option<Labels>,
}

impl StreamLabels {
    fn compute(meta: &Labels, relabel: &Relabeler) -> StreamLabels {
        let one = |stream: &str| {
            let mut l = meta.clone();
            l.insert("__meta_docker_container_log_stream", stream);
            relabel.process(l).map(|mut l| {
                l.retain(|k, _| !k.starts_with("__"));
                l
            })
        };
        StreamLabels {
            stdout: one("stdout"),
            stderr: one("stderr"),
        }
    }

    fn get(&self, s: Stream) -> Option<&Labels> {
        match s {
            Stream::Stdout => self.stdout.as_ref(),
            Stream::Stderr => self.stderr.as_ref(),
        }
    }

    fn any(&self) -> bool {
        self.stdout.is_some() || self.stderr.is_some()
    }
}

type SharedLabels = Arc<RwLock<StreamLabels>>;

fn read_labels(l: &SharedLabels) -> StreamLabels {
    l.read()
        .map(|g| g.clone())
        .unwrap_or_else(|e| e.into_inner().clone())
}

/// Decodes json-file lines into entries: Docker's timestamp, `log` with its line end trimmed,
/// partial messages joined, labels per stream.
pub struct DockerJsonDecoder {
    labels: SharedLabels,
    cached: StreamLabels,
    cached_gen: u64,
    generation: Arc<std::sync::atomic::AtomicU64>,
    joiner: PartialJoiner,
    pending: [Vec<Ack>; 2],
    skip_through_nanos: Option<i64>,
    container: String,
    joined: Vec<JoinedLine>,
    entries_counter: metrics::Counter,
    /// Timestamp of the last entry handed on. dockerd stamps stdout and stderr in separate
    /// goroutines that race to write the log, so a line can follow one stamped microseconds
    /// later; entries are kept in time order (and distinct for Loki's deduplication) by moving
    /// such a timestamp to just after the previous one.
    last_ts: i64,
}

fn idx(s: Stream) -> usize {
    match s {
        Stream::Stdout => 0,
        Stream::Stderr => 1,
    }
}

impl LineDecoder for DockerJsonDecoder {
    fn decode(&mut self, raw: &[u8], ack: Ack, out: &mut Vec<Entry>) {
        let gen = self.generation.load(std::sync::atomic::Ordering::Relaxed);
        if gen != self.cached_gen {
            self.cached = read_labels(&self.labels);
            self.cached_gen = gen;
        }
        let line = match docker_json::decode_line(raw) {
            Ok(l) => l,
            Err(e) => {
                metrics::counter!(m::DOCKER_PARSING_ERRORS).increment(1);
                tracing::warn!(container = %self.container, error = %e, "error reading docker log line, skipping line");
                return;
            }
        };
        if let Some(skip) = self.skip_through_nanos {
            if line.time_nanos <= skip {
                return;
            }
            self.skip_through_nanos = None;
        }
        let stream = line.stream;
        self.joined.clear();
        self.joiner
            .push(stream, line.time_nanos, &line.log, &mut self.joined);
        let mut joined = std::mem::take(&mut self.joined);
        let n = joined.len();
        if n == 0 {
            self.pending[idx(stream)].push(ack);
            self.joined = joined;
            return;
        }
        let mut current = Some(ack);
        for (i, j) in joined.drain(..).enumerate() {
            let mut acks: smallvec::SmallVec<[Ack; 1]> =
                self.pending[idx(j.stream)].drain(..).collect();
            if i == n - 1 {
                if let Some(a) = current.take() {
                    acks.push(a);
                }
            }
            let Some(labels) = self.cached.get(j.stream) else {
                continue;
            };
            self.entries_counter.increment(1);
            let ts = j.ts_nanos.max(self.last_ts.saturating_add(1));
            self.last_ts = ts;
            let mut e = Entry::new(labels.clone(), ts, j.line);
            e.acks = acks;
            out.push(e);
        }
        self.joined = joined;
    }
}

struct Running {
    cancel: CancellationToken,
    labels: SharedLabels,
    generation: Arc<std::sync::atomic::AtomicU64>,
    key: Option<String>,
    _wake: Arc<Notify>,
}

/// Starts a docker job: one discovery task per `docker_sd_configs` entry and a manager that
/// starts and stops a reader per kept container.
pub fn spawn(
    job: &RawScrapeConfig,
    relabel: Relabeler,
    tx: mpsc::Sender<Vec<Entry>>,
    positions: Arc<Positions>,
    registry: Arc<Registry>,
    tasks: &mut JoinSet<()>,
    cancel: CancellationToken,
) -> Result<(), String> {
    let configs = decode_configs(job).map_err(|e| format!("job {:?}: {e}", job.job_name))?;
    let relabel = Arc::new(relabel);
    for cfg in configs {
        let (dtx, drx) = mpsc::channel::<DockerEvent>(256);
        tasks.spawn(docker::run(cfg.clone(), dtx, cancel.clone()));
        let mgr = Manager {
            job: job.job_name.clone(),
            pool: cfg.pool_name(&job.job_name),
            cfg,
            relabel: Arc::clone(&relabel),
            tx: tx.clone(),
            positions: Arc::clone(&positions),
            registry: Arc::clone(&registry),
            running: HashMap::new(),
        };
        tasks.spawn(mgr.run(drx, cancel.clone()));
    }
    Ok(())
}

struct Manager {
    job: String,
    pool: String,
    cfg: DockerSdConfig,
    relabel: Arc<Relabeler>,
    tx: mpsc::Sender<Vec<Entry>>,
    positions: Arc<Positions>,
    registry: Arc<Registry>,
    running: HashMap<String, Running>,
}

impl Manager {
    async fn run(mut self, mut rx: mpsc::Receiver<DockerEvent>, cancel: CancellationToken) {
        let mut readers = JoinSet::new();
        loop {
            let ev = tokio::select! {
                ev = rx.recv() => ev,
                _ = cancel.cancelled() => None,
            };
            let Some(ev) = ev else { break };
            match ev {
                DockerEvent::Upsert(c) => self.upsert(c, &mut readers, &cancel),
                DockerEvent::Removed { id } => self.release(&id, true),
            }
            while readers.try_join_next().is_some() {}
        }
        for (_, r) in self.running.drain() {
            r.cancel.cancel();
        }
        while readers.join_next().await.is_some() {}
    }

    fn upsert(
        &mut self,
        c: DockerContainer,
        readers: &mut JoinSet<()>,
        cancel: &CancellationToken,
    ) {
        let labels = StreamLabels::compute(&c.meta, &self.relabel);
        if let Some(r) = self.running.get(&c.id) {
            if !labels.any() {
                tracing::info!(job = %self.job, container = %c.id, "container no longer kept by relabel_configs; releasing");
                self.release(&c.id, false);
                return;
            }
            if let Ok(mut g) = r.labels.write() {
                *g = labels.clone();
            }
            r.generation
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.register_view(&c, &labels, None);
            return;
        }
        if !labels.any() {
            tracing::debug!(job = %self.job, container = %c.id, "container dropped by relabel_configs; not read");
            return;
        }
        let shared: SharedLabels = Arc::new(RwLock::new(labels.clone()));
        let generation = Arc::new(std::sync::atomic::AtomicU64::new(1));
        let rcancel = cancel.child_token();
        let wake = Arc::new(Notify::new());
        let status = Arc::new(ReaderStatus::default());
        let readable = c
            .log_path
            .as_ref()
            .filter(|_| c.log_driver == "json-file" || c.log_driver.is_empty())
            .filter(|p| std::fs::File::open(p).is_ok())
            .cloned();
        let key;
        match readable {
            Some(path) => {
                let path_key = path.to_string_lossy().into_owned();
                // A Promtail positions file has `cursor-<id>` (Unix seconds) for containers it
                // read; on first read of the file, skip what Promtail already shipped.
                let skip = if self.positions.get_offset(&path_key).is_none() {
                    self.positions
                        .get(&format!("cursor-{}", c.id))
                        .and_then(|v| v.trim().parse::<i64>().ok())
                        .map(|s| (s + 1) * 1_000_000_000 - 1)
                } else {
                    None
                };
                let decoder = DockerJsonDecoder {
                    labels: Arc::clone(&shared),
                    cached: labels.clone(),
                    cached_gen: 1,
                    generation: Arc::clone(&generation),
                    joiner: PartialJoiner::new(0),
                    pending: [Vec::new(), Vec::new()],
                    skip_through_nanos: skip,
                    container: c.id.clone(),
                    joined: Vec::new(),
                    entries_counter: metrics::counter!(m::DOCKER_ENTRIES),
                    last_ts: i64::MIN,
                };
                tracing::info!(job = %self.job, containerID = %c.id, path = %path.display(), "added Docker target (reading its json-file log)");
                let name = c
                    .meta
                    .get("__meta_docker_container_name")
                    .unwrap_or(c.id.as_str())
                    .trim_start_matches('/')
                    .to_string();
                if saved_file_rotated_away(&path, &self.positions, &path_key) {
                    metrics::counter!(m::DOCKER_ROTATED_UNREAD_FILES, "container" => name.clone(), "reason" => "deleted_while_stopped").increment(1);
                    tracing::warn!(container = %name, containerID = %c.id, path = %path.display(), offset = self.positions.get_offset(&path_key).unwrap_or(0), "the json-file log being read when ferrotail stopped was deleted by dockerd's log rotation (max-file) before ferrotail restarted: its lines after the saved offset, if it had more, are lost, and so is any file rotated out after it; the remaining rotated files are read first");
                }
                readers.spawn(watch_rotation(
                    path.clone(),
                    c.id.clone(),
                    name,
                    Arc::clone(&self.positions),
                    rcancel.clone(),
                ));
                let reader = Reader::new(
                    path.clone(),
                    decoder,
                    self.tx.clone(),
                    Arc::clone(&self.positions),
                    Arc::clone(&wake),
                    rcancel.clone(),
                    ReaderOptions {
                        poll: Duration::from_millis(250),
                        max_idle_poll: Duration::from_secs(2),
                    },
                    Arc::clone(&status),
                );
                let reader = reader
                    .with_backlog(rotated_siblings(&path))
                    .with_numbered_rotation();
                readers.spawn(reader.run());
                key = Some(path_key.clone());
                self.register_view(
                    &c,
                    &labels,
                    Some((path_key, Arc::clone(&status), "json-file".to_string())),
                );
            }
            None => {
                tracing::info!(job = %self.job, containerID = %c.id, driver = %c.log_driver, "added Docker target (reading through the Docker API: json-file log not readable)");
                let api = ApiReader {
                    cfg: self.cfg.clone(),
                    id: c.id.clone(),
                    labels: Arc::clone(&shared),
                    tx: self.tx.clone(),
                    positions: Arc::clone(&self.positions),
                    status: Arc::clone(&status),
                };
                readers.spawn(api.run(rcancel.clone()));
                key = None;
                self.register_view(
                    &c,
                    &labels,
                    Some((
                        "docker api".into(),
                        Arc::clone(&status),
                        format!("Docker API (log driver {})", c.log_driver),
                    )),
                );
            }
        }
        self.running.insert(
            c.id.clone(),
            Running {
                cancel: rcancel,
                labels: shared,
                generation,
                key,
                _wake: wake,
            },
        );
    }

    fn register_view(
        &self,
        c: &DockerContainer,
        labels: &StreamLabels,
        file: Option<(String, Arc<ReaderStatus>, String)>,
    ) {
        let key = format!("{}/{}", self.pool, c.id);
        let existing = self
            .registry
            .snapshot()
            .into_iter()
            .find(|t| t.job == self.job && t.details.contains(&c.id));
        let (files, how) = match file {
            Some((p, st, how)) => (vec![(p, st)], how),
            None => match existing {
                Some(t) => (
                    t.files.clone(),
                    t.details
                        .split(" read via ")
                        .nth(1)
                        .unwrap_or("")
                        .to_string(),
                ),
                None => (Vec::new(), String::new()),
            },
        };
        self.registry.set(
            key,
            TargetView {
                job: self.job.clone(),
                kind: "docker",
                labels: labels
                    .stdout
                    .clone()
                    .or_else(|| labels.stderr.clone())
                    .unwrap_or_default(),
                files,
                details: format!("container {} running={} read via {how}", c.id, c.running),
            },
        );
    }

    fn release(&mut self, id: &str, removed: bool) {
        if let Some(r) = self.running.remove(id) {
            r.cancel.cancel();
            if removed {
                if let Some(k) = &r.key {
                    self.positions.remove(k);
                }
                self.positions.remove(&format!("cursor-{id}"));
                self.positions.remove(&nanos_cursor_key(id));
            }
            self.registry.remove(&format!("{}/{}", self.pool, id));
            tracing::info!(job = %self.job, containerID = %id, "removed Docker target");
        }
    }
}

/// dockerd's rotated files of a json-file log (`<log>.N` ... `<log>.1`), oldest first; compressed
/// ones (`.gz`) are skipped.
fn rotated_siblings(path: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for n in 1..=1000u32 {
        let mut p = path.as_os_str().to_owned();
        p.push(format!(".{n}"));
        let p = std::path::PathBuf::from(p);
        if !p.is_file() {
            break;
        }
        found.push(p);
    }
    found.reverse();
    found
}

/// Key of the exact timestamp (Unix nanos) of the last acknowledged API entry, kept next to
/// Promtail's `cursor-<id>` (whole seconds, which Promtail needs unchanged). Resuming from the
/// whole second alone would skip lines logged later in that same second while ferrotail was down.
fn nanos_cursor_key(id: &str) -> String {
    format!("cursor-{id}-nanos")
}

/// Reads a container's logs through the Docker API; its position is `cursor-<id>` (Unix seconds
/// of the last acknowledged entry), as Promtail keeps it, refined by [`nanos_cursor_key`].
struct ApiReader {
    cfg: DockerSdConfig,
    id: String,
    labels: SharedLabels,
    tx: mpsc::Sender<Vec<Entry>>,
    positions: Arc<Positions>,
    status: Arc<ReaderStatus>,
}

impl ApiReader {
    async fn run(self, cancel: CancellationToken) {
        use std::sync::atomic::Ordering;
        self.status.running.store(true, Ordering::Relaxed);
        let key = format!("cursor-{}", self.id);
        let since = self
            .positions
            .get(&key)
            .and_then(|v| v.trim().parse::<i64>().ok())
            .unwrap_or(0);
        let nanos_key = nanos_cursor_key(&self.id);
        // The exact position, unless Promtail has run since and moved the cursor past it.
        let exact = self
            .positions
            .get(&nanos_key)
            .and_then(|v| v.trim().parse::<i64>().ok())
            .filter(|&n| n > 0 && n.div_euclid(1_000_000_000) >= since);
        let client = match docker::connect(&self.cfg).await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(container = %self.id, error = %e, "could not transfer logs");
                return;
            }
        };
        let (itx, mut irx) = mpsc::channel(1024);
        let req = LogsRequest {
            container_id: self.id.clone(),
            since_secs: since,
            skip_through_nanos: match exact {
                Some(n) => Some(n),
                // Only Promtail's whole second: what it shipped is skipped, as on migration.
                None if since > 0 => Some((since + 1) * 1_000_000_000 - 1),
                None => None,
            },
            max_line_size: 0,
        };
        let stream = tokio::spawn(docker_logs::stream_logs(client, req, itx, cancel.clone()));
        // Entries carry sequence numbers as offsets; the acknowledged prefix maps back to the
        // timestamp saved as the cursor.
        // Entries carry their timestamps as offsets (made strictly increasing: stdout and stderr
        // interleave slightly out of order), so the acknowledged prefix is the exact cursor; the
        // positions store tracks it like a file's offset and saves what Loki acknowledged even
        // after this reader stopped (shutdown).
        let start = exact.map_or(0, |n| u64::try_from(n).unwrap_or(0));
        let progress = Progress::new(start);
        self.positions
            .track(&nanos_key, Arc::clone(&progress), None);
        let mut last_offset = start;
        let mut seq = 0u64;
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                item = irx.recv() => {
                    let Some((stream_name, ts, line)) = item else { break };
                    let stream = if stream_name == "stderr" { Stream::Stderr } else { Stream::Stdout };
                    seq += 1;
                    last_offset = u64::try_from(ts).unwrap_or(0).max(last_offset + 1);
                    let ack = progress.register(last_offset);
                    self.status.read_offset.store(seq, Ordering::Relaxed);
                    let labels = read_labels(&self.labels);
                    let Some(l) = labels.get(stream) else { continue };
                    metrics::counter!(m::DOCKER_ENTRIES).increment(1);
                    let mut e = Entry::new(l.clone(), ts, line);
                    e.acks.push(ack);
                    if self.tx.send(vec![e]).await.is_err() {
                        break;
                    }
                }
                _ = tick.tick() => {}
            }
            let committed = progress.committed();
            if committed > 0 {
                // Promtail's whole-second cursor, for a migration back.
                self.positions
                    .set(&key, (committed / 1_000_000_000).to_string());
            }
        }
        self.positions.untrack(&nanos_key, &progress, true, false);
        let end = stream.await;
        tracing::info!(container = %self.id, end = ?end.ok(), "finished transferring logs");
        self.status.running.store(false, Ordering::Relaxed);
    }
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
    name: std::path::PathBuf,
    key: FileKey,
    size: u64,
    rank: u32,
}

/// The log and dockerd's numbered rotated files of it, oldest first. Numbers are scanned until two
/// in a row are missing (a listing taken while dockerd renames may miss one).
fn list_rotation(path: &std::path::Path) -> Vec<Listed> {
    let mut found = Vec::new();
    let mut misses = 0;
    for n in 0..=1000u32 {
        let name = if n == 0 {
            path.to_path_buf()
        } else {
            let mut p = path.as_os_str().to_owned();
            p.push(format!(".{n}"));
            std::path::PathBuf::from(p)
        };
        match std::fs::metadata(&name) {
            Ok(meta) if meta.is_file() => {
                misses = 0;
                found.push(Listed {
                    key: file_key(&meta),
                    size: meta.len(),
                    name,
                    rank: n,
                });
            }
            _ if n == 0 => {}
            _ => {
                misses += 1;
                if misses == 2 {
                    break;
                }
            }
        }
    }
    found.reverse();
    found
}

/// Keys of the files of `dir` this process holds open (`/proc/self/fd`), deleted ones included.
fn held_files(dir: &std::path::Path) -> std::collections::HashSet<FileKey> {
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
    name: std::path::PathBuf,
    size: u64,
    rank: u32,
    /// Missing from the last listing; whether the reader had not reached it by then.
    missing: Option<bool>,
}

/// A rotated file dockerd deleted before it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LostFile {
    /// Its name when last seen.
    name: std::path::PathBuf,
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
        path: &std::path::Path,
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
    fn check(&mut self, path: &std::path::Path, positions: &Positions) -> Vec<LostFile> {
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
async fn watch_rotation(
    path: std::path::PathBuf,
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
        for f in watch.check(&path, &positions) {
            metrics::counter!(m::DOCKER_ROTATED_UNREAD_FILES, "container" => container.clone(), "reason" => "deleted_unread").increment(1);
            metrics::counter!(m::DOCKER_ROTATED_UNREAD_BYTES, "container" => container.clone())
                .increment(f.size);
            tracing::warn!(container = %container, containerID = %container_id, file = %f.name.display(), bytes = f.size, "dockerd's log rotation (max-file) deleted a json-file log before ferrotail read it; its lines are lost");
        }
    }
}

/// On start: the file whose position was saved is no longer among the container's log files
/// (dockerd rotated it out while ferrotail was stopped). Returns `true` when that happened.
fn saved_file_rotated_away(path: &std::path::Path, positions: &Positions, key: &str) -> bool {
    let (Some(_), Some(saved)) = (positions.get_offset(key), positions.identity(key)) else {
        return false;
    };
    if std::fs::metadata(path).is_err() {
        return false;
    }
    !list_rotation(path).iter().any(|l| {
        (l.key.0, l.key.1) == (saved.dev, saved.ino)
            && crate::tail::identity::identify(&l.name).is_ok_and(|id| {
                saved.fingerprint == 0 || id.fingerprint == 0 || id.fingerprint == saved.fingerprint
            })
    })
}

#[cfg(test)]
mod rotation_tests {
    use super::*;
    use std::collections::HashSet;
    use std::path::PathBuf;

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
