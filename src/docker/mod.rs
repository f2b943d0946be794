//! Docker: `docker_sd_configs` discovery, the container manager, the json-file reader, the
//! Docker API reader and the accounting of logs dockerd rotates away.
//!
//! * [`discovery`]: containers and their `__meta_docker_*` labels (list, events, reconnects).
//! * [`json_file`]: json-file lines decoded into entries (partial messages joined).
//! * [`api`]: the Docker logs API stream, where the json-file cannot be read.
//! * this module: the job's manager that starts a reader per kept container.
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

pub mod api;
pub mod discovery;
pub mod json_file;
mod rotation;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::raw::RawScrapeConfig;
use crate::core::ack::{Ack, Progress};
use crate::core::{Entry, Labels};
use crate::positions::Positions;
use crate::relabel::Relabeler;
use crate::source::{
    Discover, Dropped, ReaderStatus, Registry, Source, SourceCtx, SourceKind, Target, TargetGroup,
    TargetView,
};
use crate::tail::{LineDecoder, Reader, ReaderOptions};
use crate::telemetry::metrics as m;
use api::LogsRequest;
use discovery::{DockerContainer, DockerEvent, DockerSdConfig};
use gocompat::yaml::{self, Mode};
use json_file::{JoinedLine, PartialJoiner, Stream};
use rotation::{rotated_siblings, saved_file_rotated_away, watch_rotation};

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

impl LineDecoder for DockerJsonDecoder {
    fn decode(&mut self, raw: &[u8], ack: Ack, out: &mut Vec<Entry>) {
        let gen = self.generation.load(std::sync::atomic::Ordering::Relaxed);
        if gen != self.cached_gen {
            self.cached = read_labels(&self.labels);
            self.cached_gen = gen;
        }
        let line = match json_file::decode_line(raw) {
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
            .push(stream, line.time_nanos, line.log, &mut self.joined);
        let mut joined = std::mem::take(&mut self.joined);
        let n = joined.len();
        if n == 0 {
            self.pending[stream.index()].push(ack);
            self.joined = joined;
            return;
        }
        let mut current = Some(ack);
        for (i, j) in joined.drain(..).enumerate() {
            let mut acks: smallvec::SmallVec<[Ack; 1]> =
                self.pending[j.stream.index()].drain(..).collect();
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

/// What discovery learnt of a container beyond its labels, for the source that reads it.
#[derive(Debug, Clone)]
struct Known {
    container: DockerContainer,
    cfg: DockerSdConfig,
}

/// Containers discovered by a job's `docker_sd_configs`, by id.
type Containers = Arc<Mutex<HashMap<String, Known>>>;

fn lock(c: &Containers) -> std::sync::MutexGuard<'_, HashMap<String, Known>> {
    c.lock().unwrap_or_else(|e| e.into_inner())
}

/// The Docker kind and discoverers of a job: one [`DockerSd`] per `docker_sd_configs` entry.
pub fn job(
    job: &RawScrapeConfig,
    relabel: Relabeler,
    registry: &Registry,
) -> Result<(DockerKind, Vec<DockerSd>), String> {
    let configs = decode_configs(job).map_err(|e| format!("job {:?}: {e}", job.job_name))?;
    // Promtail's Docker target manager is ready as soon as it exists.
    registry.set_docker_job();
    let containers = Containers::default();
    let discoverers = configs
        .into_iter()
        .map(|cfg| DockerSd {
            cfg,
            containers: Arc::clone(&containers),
        })
        .collect();
    let kind = DockerKind {
        relabel: Arc::new(relabel),
        containers,
    };
    Ok((kind, discoverers))
}

/// `docker_sd_configs` as a discoverer: one target group per container (its id), with the
/// `__meta_docker_*` labels; the log path and driver are kept aside for [`DockerKind`].
pub struct DockerSd {
    cfg: DockerSdConfig,
    containers: Containers,
}

impl Discover for DockerSd {
    fn run(
        self: Box<Self>,
        tx: mpsc::Sender<Vec<TargetGroup>>,
        cancel: CancellationToken,
    ) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let (dtx, mut drx) = mpsc::channel::<DockerEvent>(256);
            let discovery = tokio::spawn(discovery::run(self.cfg.clone(), dtx, cancel.clone()));
            while let Some(ev) = drx.recv().await {
                let group = match ev {
                    DockerEvent::Upsert(c) => {
                        let group = TargetGroup {
                            source: c.id.clone(),
                            targets: vec![c.meta.clone()],
                        };
                        lock(&self.containers).insert(
                            c.id.clone(),
                            Known {
                                container: c,
                                cfg: self.cfg.clone(),
                            },
                        );
                        group
                    }
                    DockerEvent::Removed { id } => {
                        lock(&self.containers).remove(&id);
                        TargetGroup {
                            source: id,
                            targets: Vec::new(),
                        }
                    }
                };
                if tx.send(vec![group]).await.is_err() {
                    break;
                }
            }
            let _ = discovery.await;
        })
    }
}

/// The Docker source kind of one job: a container is read when the relabel rules keep one of its
/// streams (`__meta_docker_container_log_stream`), from its json-file log where it can be read,
/// else through the Docker API.
pub struct DockerKind {
    relabel: Arc<Relabeler>,
    containers: Containers,
}

impl SourceKind for DockerKind {
    fn name(&self) -> &'static str {
        "docker"
    }

    fn target(&self, discovered: &Labels) -> Result<Target, Dropped> {
        let labels = StreamLabels::compute(discovered, &self.relabel);
        let Some(shown) = labels.stdout.clone().or_else(|| labels.stderr.clone()) else {
            return Err(Dropped::Relabel);
        };
        Ok(Target {
            key: discovered
                .get("__meta_docker_container_id")
                .unwrap_or_default()
                .to_string(),
            relabelled: shown.clone(),
            labels: shown,
            discovered: discovered.clone(),
        })
    }

    fn start(&self, target: &Target, ctx: &SourceCtx) -> Box<dyn Source> {
        let known = lock(&self.containers).get(&target.key).cloned();
        let labels = StreamLabels::compute(&target.discovered, &self.relabel);
        let shared: SharedLabels = Arc::new(RwLock::new(labels.clone()));
        let mut source = DockerSource {
            id: target.key.clone(),
            job: ctx.job.clone(),
            relabel: Arc::clone(&self.relabel),
            containers: Arc::clone(&self.containers),
            registry: Arc::clone(&ctx.registry),
            positions: Arc::clone(&ctx.positions),
            cancel: ctx.cancel.child_token(),
            labels: shared,
            generation: Arc::new(std::sync::atomic::AtomicU64::new(1)),
            key: None,
            tasks: JoinSet::new(),
        };
        match known {
            Some(k) => source.start(&k, &labels, ctx),
            None => {
                tracing::warn!(job = %ctx.job, containerID = %target.key, "container gone before it could be read");
            }
        }
        Box::new(source)
    }
}

/// A running Docker target: the reader of one container and the watch of its rotation.
struct DockerSource {
    id: String,
    job: Arc<str>,
    relabel: Arc<Relabeler>,
    containers: Containers,
    registry: Arc<Registry>,
    positions: Arc<Positions>,
    cancel: CancellationToken,
    labels: SharedLabels,
    generation: Arc<std::sync::atomic::AtomicU64>,
    /// The json-file log's positions key, when the file is read.
    key: Option<String>,
    tasks: JoinSet<()>,
}

impl DockerSource {
    /// Starts reading a container. Runs on the manager's task, so the file-system calls (can the
    /// json-file log be opened, was the saved file rotated away, which rotated files wait) run on
    /// the blocking pool inside the started task, which then reads the file or, when it cannot be
    /// opened, the Docker API.
    fn start(&mut self, k: &Known, labels: &StreamLabels, ctx: &SourceCtx) {
        let c = k.container.clone();
        let cfg = k.cfg.clone();
        let status = Arc::new(ReaderStatus::default());
        let json_file = c
            .log_path
            .clone()
            .filter(|_| c.log_driver == "json-file" || c.log_driver.is_empty());
        // Removed with the target's positions when it goes (nothing to remove if the file was
        // never read).
        self.key = json_file.as_ref().map(|p| p.to_string_lossy().into_owned());
        let job = self.job.clone();
        let registry = Arc::clone(&self.registry);
        let positions = Arc::clone(&self.positions);
        let cancel = self.cancel.clone();
        let shared = Arc::clone(&self.labels);
        let generation = Arc::clone(&self.generation);
        let tx = ctx.tx.clone();
        let cached = labels.clone();
        self.tasks.spawn(async move {
            let probe = {
                let positions = Arc::clone(&positions);
                move || {
                    let path = json_file.filter(|p| std::fs::File::open(p).is_ok())?;
                    let path_key = path.to_string_lossy().into_owned();
                    let rotated_away = saved_file_rotated_away(&path, &positions, &path_key);
                    let backlog = rotated_siblings(&path);
                    Some((path, path_key, rotated_away, backlog))
                }
            };
            let Some(readable) = crate::core::blocking::blocking(&cancel, probe).await else {
                return;
            };
            let current = read_labels(&shared);
            match readable {
                Some((path, path_key, rotated_away, backlog)) => {
                    // A Promtail positions file has `cursor-<id>` (Unix seconds) for containers
                    // it read; on first read of the file, skip what Promtail already shipped.
                    let skip = if positions.get_offset(&path_key).is_none() {
                        positions
                            .get(&format!("cursor-{}", c.id))
                            .and_then(|v| v.trim().parse::<i64>().ok())
                            .map(|s| (s + 1) * 1_000_000_000 - 1)
                    } else {
                        None
                    };
                    let decoder = DockerJsonDecoder {
                        labels: Arc::clone(&shared),
                        cached,
                        cached_gen: 1,
                        generation,
                        joiner: PartialJoiner::new(0),
                        pending: [Vec::new(), Vec::new()],
                        skip_through_nanos: skip,
                        container: c.id.clone(),
                        joined: Vec::new(),
                        entries_counter: metrics::counter!(m::DOCKER_ENTRIES),
                        last_ts: i64::MIN,
                    };
                    tracing::info!(job = %job, containerID = %c.id, path = %path.display(), "added Docker target (reading its json-file log)");
                    let name = c
                        .meta
                        .get("__meta_docker_container_name")
                        .unwrap_or(c.id.as_str())
                        .trim_start_matches('/')
                        .to_string();
                    if rotated_away {
                        metrics::counter!(m::DOCKER_ROTATED_UNREAD_FILES, "container" => name.clone(), "reason" => "deleted_while_stopped").increment(1);
                        tracing::warn!(container = %name, containerID = %c.id, path = %path.display(), offset = positions.get_offset(&path_key).unwrap_or(0), "the json-file log being read when ferrotail stopped was deleted by dockerd's log rotation (max-file) before ferrotail restarted: its lines after the saved offset, if it had more, are lost, and so is any file rotated out after it; the remaining rotated files are read first");
                    }
                    // The container's series go with its rotation watcher.
                    let forget = crate::telemetry::series::Forget::new("container", name.clone());
                    let rotation = watch_rotation(
                        path.clone(),
                        c.id.clone(),
                        name,
                        Arc::clone(&positions),
                        cancel.clone(),
                    );
                    let reader = Reader::new(
                        path.clone(),
                        decoder,
                        tx,
                        Arc::clone(&positions),
                        Arc::new(Notify::new()),
                        cancel.clone(),
                        ReaderOptions {
                            poll: Duration::from_millis(250),
                            max_idle_poll: Duration::from_secs(2),
                        },
                        Arc::clone(&status),
                    )
                    .with_backlog(backlog)
                    .with_numbered_rotation();
                    register_view(
                        &registry,
                        &job,
                        &c,
                        &current,
                        Some((path_key, status, "json-file".to_string())),
                    );
                    let rotation = async move {
                        rotation.await;
                        drop(forget);
                    };
                    tokio::join!(rotation, reader.run());
                }
                None => {
                    tracing::info!(job = %job, containerID = %c.id, driver = %c.log_driver, "added Docker target (reading through the Docker API: json-file log not readable)");
                    let api = ApiReader {
                        cfg,
                        id: c.id.clone(),
                        labels: Arc::clone(&shared),
                        tx,
                        positions: Arc::clone(&positions),
                        status: Arc::clone(&status),
                    };
                    register_view(
                        &registry,
                        &job,
                        &c,
                        &current,
                        Some((
                            "docker api".into(),
                            status,
                            format!("Docker API (log driver {})", c.log_driver),
                        )),
                    );
                    api.run(cancel).await;
                }
            }
        });
    }

    fn register_view(
        &self,
        c: &DockerContainer,
        labels: &StreamLabels,
        file: Option<(String, Arc<ReaderStatus>, String)>,
    ) {
        register_view(&self.registry, &self.job, c, labels, file);
    }
}

/// Shows a container's target on `/targets`; `file: None` keeps the files already shown.
fn register_view(
    registry: &Registry,
    job: &str,
    c: &DockerContainer,
    labels: &StreamLabels,
    file: Option<(String, Arc<ReaderStatus>, String)>,
) {
    let key = format!("{job}/{}", c.id);
    let existing = registry.get(&key);
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
    registry.set(
        key,
        TargetView {
            job: job.to_string(),
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

impl Source for DockerSource {
    /// Labels follow renames and label changes without restarting the reader.
    fn update(&mut self, target: &Target) {
        let labels = StreamLabels::compute(&target.discovered, &self.relabel);
        if let Ok(mut g) = self.labels.write() {
            *g = labels.clone();
        }
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let known = lock(&self.containers).get(&self.id).cloned();
        if let Some(k) = known {
            self.register_view(&k.container, &labels, None);
        }
    }

    fn stop(mut self: Box<Self>, forget: bool) -> BoxFuture<'static, ()> {
        self.cancel.cancel();
        Box::pin(async move {
            while self.tasks.join_next().await.is_some() {}
            let id = &self.id;
            if forget {
                if let Some(k) = &self.key {
                    self.positions.remove(k);
                }
                self.positions.remove(&format!("cursor-{id}"));
                self.positions.remove(&nanos_cursor_key(id));
                tracing::info!(job = %self.job, containerID = %id, "removed Docker target");
            }
            self.registry.remove(&format!("{}/{}", self.job, id));
        })
    }
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
        let Some(client) = api::connect_retrying(&self.cfg, &self.id, &cancel).await else {
            self.status.running.store(false, Ordering::Relaxed);
            return;
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
        let stream = tokio::spawn(api::stream_logs(client, req, itx, cancel.clone()));
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
