//! Wiring: builds clients, pipelines and target managers from a config, runs them, and shuts them
//! down in order. Does no IO of its own beyond spawning.
//!
//! Shutdown order: stop discovery and readers; each job's pipeline drains what the readers handed
//! on and flushes held entries; each client pushes what it has (its channel closes when every
//! pipeline is done), bounded by `server.graceful_shutdown_timeout`, after which unsent entries
//! are abandoned (their positions stay before them); positions are saved last.

use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::client::{self, ClientConfig};
use crate::config::raw::RawScrapeConfig;
use crate::config::{self, Config, JobKind};
use crate::discovery;
use crate::file::FileKind;
use crate::pipeline::{Entry, Pipeline};
use crate::positions::Positions;
use crate::relabel::Relabeler;
use crate::server::{self, AppState};
use crate::source::manager::TargetManager;
use crate::source::{Discover, Registry, SourceCtx, SourceKind};
use crate::tail::watch::Watcher;
use crate::tail::ReaderOptions;
use crate::telemetry::metrics as m;

/// Entry chunks buffered between a job's readers and its pipeline. Small on purpose:
/// backpressure must reach the readers quickly (the files are the buffer).
pub const PIPELINE_CHANNEL_CAP: usize = 4;
/// Entry chunks buffered per client, in front of its `max_inflight_batches` batches.
pub const CLIENT_CHANNEL_CAP: usize = 4;

/// Options from the command line that are not config overrides.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Print entries instead of pushing them; never write positions.
    pub dry_run: bool,
    /// Print per-stage changes.
    pub inspect: bool,
}

/// Installs the Prometheus recorder once per process.
pub fn install_metrics() -> Option<PrometheusHandle> {
    static HANDLE: std::sync::OnceLock<Option<PrometheusHandle>> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(m::REQUEST_DURATION.to_string()),
                    &[
                        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                    ],
                )
                .ok()?;
            // Target and `metrics` stage series live in `telemetry::series`, which can delete
            // them; the exporter holds the rest.
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            match metrics::set_global_recorder(crate::telemetry::series::Recorder::new(recorder)) {
                Ok(()) => Some(handle),
                Err(e) => {
                    tracing::error!(error = %e, "cannot install metrics recorder");
                    None
                }
            }
        })
        .clone()
}

/// How to re-read the config on SIGHUP or `/reload`.
#[derive(Debug, Clone, Default)]
pub struct ReloadSource {
    /// `-config.file`.
    pub path: String,
    /// `-config.expand-env`.
    pub expand_env: bool,
    /// Command-line overrides, applied again.
    pub overrides: config::Overrides,
}

impl ReloadSource {
    fn load(&self) -> Result<Config, String> {
        let mut c = Config::load(&self.path, self.expand_env).map_err(|e| e.to_string())?;
        c.apply_overrides(&self.overrides)
            .map_err(|e| e.to_string())?;
        crate::check::validate_startup(&c).map_err(|e| e.to_string())?;
        Ok(c)
    }
}

/// A reload request, answered with the outcome.
pub type ReloadRequest = tokio::sync::oneshot::Sender<Result<(), String>>;

/// Runs ferrotail until `shutdown` fires. Returns an error for startup failures.
///
/// A reload (SIGHUP, or `POST /reload` with `server.enable_runtime_reload`) loads and validates
/// the new config first; an invalid or unchanged one keeps the running config and counts
/// `promtail_config_reload_fail_total`. A valid one drains the running targets, pipelines and
/// clients as a shutdown does (every read line is delivered) and starts new ones; positions and
/// the server carry over, so nothing is lost or repeated.
pub async fn run(
    config: Config,
    opts: RunOptions,
    shutdown: CancellationToken,
) -> Result<(), String> {
    run_with_reload(config, opts, shutdown, None).await
}

/// [`run`], with a source to reload the config from.
pub async fn run_with_reload(
    config: Config,
    opts: RunOptions,
    shutdown: CancellationToken,
    source: Option<ReloadSource>,
) -> Result<(), String> {
    let handle = install_metrics();
    if let Some(h) = &handle {
        let h = h.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                h.run_upkeep();
            }
        });
    }
    let raw = &config.raw;
    let has_file = raw
        .scrape_configs
        .iter()
        .any(|j| config::job_kind(j) == Some(JobKind::File));
    let has_docker = raw
        .scrape_configs
        .iter()
        .any(|j| config::job_kind(j) == Some(JobKind::Docker));
    m::describe(has_file, has_docker);
    metrics::gauge!(m::BUILD_INFO, "version" => env!("CARGO_PKG_VERSION"), "revision" => "", "branch" => "", "goversion" => "rust", "goos" => std::env::consts::OS, "goarch" => std::env::consts::ARCH, "tags" => "ferrotail").set(1.0);
    metrics::counter!(m::RELOAD_SUCCESS).increment(0);
    metrics::counter!(m::RELOAD_FAIL).increment(0);

    let positions_path = std::path::PathBuf::from(&raw.positions.filename);
    let positions = Positions::load(
        &positions_path,
        raw.positions.ignore_invalid_yaml,
        opts.dry_run,
    )
    .map_err(|e| e.to_string())?;
    let positions_cancel = CancellationToken::new();
    let positions_task = if opts.dry_run {
        None
    } else {
        Some(tokio::spawn(
            Arc::clone(&positions).run(raw.positions.sync_period.0, positions_cancel.clone()),
        ))
    };
    let registry = Arc::new(Registry::default());
    let watcher = Watcher::new();

    // Reload requests: SIGHUP (unless the server is disabled, as in Promtail) and /reload.
    let (reload_tx, mut reload_rx) = mpsc::channel::<ReloadRequest>(4);
    if !raw.server.disable && source.is_some() {
        let tx = reload_tx.clone();
        tokio::spawn(async move {
            let Ok(mut hup) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            else {
                return;
            };
            while hup.recv().await.is_some() {
                let (otx, _orx) = tokio::sync::oneshot::channel();
                if tx.send(otx).await.is_err() {
                    break;
                }
            }
        });
    }

    // Server.
    let server_cancel = CancellationToken::new();
    if !raw.server.disable {
        let listener = server::listen::start(&raw.server, server_cancel.clone())
            .await
            .map_err(|e| format!("error creating loki server: {e}"))?;
        let state = AppState {
            metrics: if raw.server.register_instrumentation {
                handle.clone()
            } else {
                None
            },
            registry: Arc::clone(&registry),
            health_check_target: raw.server.health_check_target.unwrap_or(true),
            reload: if raw.server.enable_runtime_reload && source.is_some() {
                Some(reload_tx.clone())
            } else {
                None
            },
            external_path: reqwest::Url::parse(&raw.server.external_url)
                .map(|u| u.path().to_string())
                .unwrap_or_default(),
            path_prefix: raw.server.http_path_prefix.clone(),
        };
        let app = server::router(state);
        let sc = server_cancel.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(sc.cancelled_owned())
                .await;
        });
    }
    drop(reload_tx);
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "Starting Promtail");

    let shared = Shared {
        positions: Arc::clone(&positions),
        registry: Arc::clone(&registry),
        watcher,
    };
    let mut result = Ok(());
    // Building a generation reads files (`*_file` secrets, TLS files, kubeconfigs) and a reload
    // reads the config: both on a blocking thread, so a slow disk does not stall the server, the
    // readers or the pushes.
    let shared = Arc::new(shared);
    let mut config = Arc::new(config);
    loop {
        let started = {
            let (config, opts, shared) = (Arc::clone(&config), opts.clone(), Arc::clone(&shared));
            tokio::task::spawn_blocking(move || Generation::start(&config, &opts, &shared))
                .await
                .unwrap_or_else(|e| Err(format!("starting the configured jobs: {e}")))
        };
        let gen = match started {
            Ok(g) => g,
            Err(e) => {
                result = Err(e);
                break;
            }
        };
        // Start-up code has run: its pages need not stay resident (`core::resident`).
        let released = crate::core::resident::release_code_pages();
        tracing::debug!(
            bytes = released,
            "released the resident pages of start-up code"
        );
        let next = loop {
            tokio::select! {
                _ = shutdown.cancelled() => break None,
                req = reload_rx.recv() => {
                    let Some(reply) = req else { continue };
                    let Some(src) = &source else { continue };
                    let loaded = {
                        let src = src.clone();
                        tokio::task::spawn_blocking(move || src.load())
                            .await
                            .unwrap_or_else(|e| Err(format!("loading the config: {e}")))
                    };
                    let outcome = match loaded {
                        Ok(c) if c.text == config.text => Err("config has not changed".to_string()),
                        Ok(c) => Ok(c),
                        Err(e) => Err(e),
                    };
                    match outcome {
                        Ok(c) => {
                            tracing::info!("Reloading configuration file");
                            let _ = reply.send(Ok(()));
                            break Some(c);
                        }
                        Err(e) => {
                            tracing::error!(err = %e, "Error reloading config");
                            metrics::counter!(m::RELOAD_FAIL).increment(1);
                            let _ = reply.send(Err(e));
                        }
                    }
                }
            }
        };
        let deadline = config
            .raw
            .server
            .graceful_shutdown_timeout
            .0
            .max(Duration::from_millis(100));
        if next.is_none() {
            tracing::info!("=== received SIGINT/SIGTERM ===\n*** exiting");
        }
        // Abandoned before the generation is dropped: the entries its tasks hold must not count
        // as delivered when they go.
        let forced = async {
            crate::shutdown::forced().cancelled().await;
            positions.abandon_all();
        };
        tokio::select! {
            _ = gen.stop(deadline) => {}
            _ = forced => exit_now(&positions),
        }
        match next {
            None => break,
            Some(c) => {
                metrics::counter!(m::RELOAD_SUCCESS).increment(1);
                config = Arc::new(c);
            }
        }
    }
    // The positions task saves once more when cancelled, on the blocking pool. A hung disk must
    // not keep ferrotail from exiting: the wait is bounded like the drain.
    positions_cancel.cancel();
    if let Some(t) = positions_task {
        let bound = config
            .raw
            .server
            .graceful_shutdown_timeout
            .0
            .max(Duration::from_millis(100));
        let saved = tokio::select! {
            r = tokio::time::timeout(bound, t) => r.is_ok(),
            _ = crate::shutdown::forced().cancelled() => false,
        };
        if !saved {
            tracing::error!(path = %positions_path.display(), timeout = ?bound, "error writing positions file: the last save did not finish in time");
        }
    }
    server_cancel.cancel();
    result
}

/// A second SIGINT/SIGTERM during the shutdown: save the positions as they stand (every one
/// is at an acknowledged line, since unacknowledged lines never move them) and exit at once,
/// without running destructors (dropping unsent entries must not count as their delivery). The
/// save is bounded, so a hung disk does not keep the process alive.
fn exit_now(positions: &Arc<Positions>) -> ! {
    let (tx, rx) = std::sync::mpsc::channel();
    let p = Arc::clone(positions);
    std::thread::spawn(move || {
        let _ = tx.send(p.save());
    });
    match rx.recv_timeout(Duration::from_secs(2)) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "error writing positions file"),
        Err(_) => tracing::error!("error writing positions file: the save did not finish in time"),
    }
    std::process::exit(1)
}

/// How often an idle reader polls its file when inotify is active. Every change wakes the reader
/// at once through inotify, so polling is only the safety net (file systems without events); a
/// thousand idle files then cost well under 1% of a core.
const IDLE_POLL_WITH_INOTIFY: Duration = Duration::from_secs(5);

/// What outlives a reload.
struct Shared {
    positions: Arc<Positions>,
    registry: Arc<Registry>,
    watcher: Arc<Watcher>,
}

/// The clients, pipelines and target managers built from one config.
struct Generation {
    positions: Arc<Positions>,
    readers_cancel: CancellationToken,
    abort: CancellationToken,
    job_tasks: JoinSet<()>,
    pipeline_tasks: JoinSet<()>,
    client_tasks: JoinSet<()>,
}

impl Generation {
    fn start(config: &Config, opts: &RunOptions, shared: &Shared) -> Result<Generation, String> {
        let raw = &config.raw;
        let abort = CancellationToken::new();
        let mut client_txs: Vec<mpsc::Sender<Vec<Entry>>> = Vec::new();
        let mut client_tasks = JoinSet::new();
        if opts.dry_run {
            println!("Clients configured:");
            for c in &raw.clients {
                println!("----------------------");
                println!("url: {}", crate::config::redact_url(&c.url));
            }
            let (tx, rx) = mpsc::channel(CLIENT_CHANNEL_CAP);
            client_txs.push(tx);
            client_tasks.spawn(client::run_dry(rx));
        } else {
            for c in &raw.clients {
                let cfg = ClientConfig::compile(c, &raw.limits_config)?;
                let (tx, rx) = mpsc::channel(CLIENT_CHANNEL_CAP);
                client_txs.push(tx);
                client_tasks.spawn(client::run(cfg, rx, abort.clone()));
            }
        }
        let readers_cancel = CancellationToken::new();
        let mut job_tasks = JoinSet::new();
        let mut pipeline_tasks = JoinSet::new();
        let poll = raw
            .global
            .file_watch_config
            .min_poll_frequency
            .0
            .max(Duration::from_millis(1));
        let max_poll = raw.global.file_watch_config.max_poll_frequency.0.max(poll);
        let reader_opts = ReaderOptions {
            poll,
            max_idle_poll: if shared.watcher.active() {
                max_poll.max(IDLE_POLL_WITH_INOTIFY)
            } else {
                max_poll
            },
        };
        let sync_period = raw
            .target_config
            .sync_period
            .0
            .max(Duration::from_millis(10));
        if opts.inspect {
            // Before building: nested pipelines (match) read the process-wide flag.
            crate::pipeline::inspect::enable();
        }
        // `limits_config.readline_rate*`: one limiter shared by every job's pipeline.
        let readline =
            crate::readline::ReadlineLimiter::from_config(&raw.limits_config).map(Arc::new);
        for job in &raw.scrape_configs {
            let Some(kind) = config::job_kind(job) else {
                continue;
            };
            shared.registry.set_any_job();
            let mut warnings = Vec::new();
            let mut pipeline =
                crate::check::build_pipeline(job, &mut warnings).map_err(|e| e.to_string())?;
            for w in warnings {
                tracing::warn!(job = %job.job_name, "{w}");
            }
            pipeline.set_inspect(opts.inspect);
            let (tx, rx) = mpsc::channel::<Vec<Entry>>(PIPELINE_CHANNEL_CAP);
            pipeline_tasks.spawn(run_pipeline(
                pipeline,
                rx,
                client_txs.clone(),
                readline.clone(),
            ));
            let relabel = Relabeler::compile(&job.relabel_configs)?;
            let (kind, discoverers) = job_source(
                job,
                kind,
                relabel,
                shared,
                &reader_opts,
                sync_period,
                config,
            )?;
            let manager = TargetManager {
                kind,
                discoverers,
                ctx: SourceCtx {
                    job: Arc::from(job.job_name.as_str()),
                    tx,
                    positions: Arc::clone(&shared.positions),
                    registry: Arc::clone(&shared.registry),
                    cancel: readers_cancel.child_token(),
                },
            };
            job_tasks.spawn(manager.run());
        }
        Ok(Generation {
            positions: Arc::clone(&shared.positions),
            readers_cancel,
            abort,
            job_tasks,
            pipeline_tasks,
            client_tasks,
        })
    }

    /// Stops readers, lets pipelines and clients drain (bounded by `deadline`), then abandons
    /// what is still unsent.
    async fn stop(mut self, deadline: Duration) {
        self.readers_cancel.cancel();
        let drain = async {
            while self.job_tasks.join_next().await.is_some() {}
            while self.pipeline_tasks.join_next().await.is_some() {}
            while self.client_tasks.join_next().await.is_some() {}
        };
        if tokio::time::timeout(deadline, drain).await.is_err() {
            tracing::warn!(timeout = ?deadline, "graceful shutdown timed out; unsent entries stay unacknowledged and are read again on restart");
            // From now on no acknowledgement of this generation counts: entries still held by
            // its tasks are dropped below, and a drop must not pass for a delivery.
            self.positions.abandon_all();
            self.abort.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                while self.client_tasks.join_next().await.is_some() {}
            })
            .await;
        }
    }
}

/// A job's source kind and its discoverers.
type JobSource = (Arc<dyn SourceKind>, Vec<Box<dyn Discover>>);

/// The source kind and discoverers of a job: the one place each kind of source is registered.
fn job_source(
    job: &RawScrapeConfig,
    kind: JobKind,
    relabel: Relabeler,
    shared: &Shared,
    reader_opts: &ReaderOptions,
    sync_period: Duration,
    config: &Config,
) -> Result<JobSource, String> {
    Ok(match kind {
        JobKind::File => {
            let kind = FileKind::new(
                relabel,
                Arc::clone(&shared.watcher),
                sync_period,
                reader_opts.clone(),
            );
            let file_sd: Vec<String> = job
                .file_sd_configs
                .iter()
                .flat_map(|f| f.files.clone())
                .collect();
            let mut discoverers: Vec<Box<dyn Discover>> =
                vec![Box::new(discovery::Static::new(job))];
            if !file_sd.is_empty() {
                discoverers.push(Box::new(discovery::FileSd::new(
                    file_sd,
                    sync_period,
                    Arc::clone(&shared.watcher),
                )));
            }
            let config_dir = config.file.as_deref().and_then(std::path::Path::parent);
            for k in crate::kubernetes::discoverers(job, config_dir)? {
                discoverers.push(Box::new(k));
            }
            (Arc::new(kind), discoverers)
        }
        JobKind::Journal => {
            let (kind, targets) = crate::journal::job(job, relabel)?;
            (Arc::new(kind), vec![Box::new(targets) as Box<dyn Discover>])
        }
        JobKind::PushApi => {
            let (kind, one) = crate::push::job(job, relabel, &shared.registry)?;
            (Arc::new(kind), vec![Box::new(one) as Box<dyn Discover>])
        }
        JobKind::Gelf => {
            let (kind, one) = crate::gelf::job(job, relabel, &shared.registry)?;
            (Arc::new(kind), vec![Box::new(one) as Box<dyn Discover>])
        }
        JobKind::Syslog => {
            let (kind, discoverers) = crate::syslog::job(job, relabel)?;
            (Arc::new(kind), discoverers)
        }
        JobKind::Docker => {
            let (kind, sd) = crate::docker::job(job, relabel, &shared.registry)?;
            let discoverers = sd
                .into_iter()
                .map(|d| Box::new(d) as Box<dyn Discover>)
                .collect();
            (Arc::new(kind), discoverers)
        }
    })
}

/// A job's pipeline task: runs every entry through the stages and fans the results out to the
/// clients. Ticks held entries (multiline) every 100 ms; flushes them when the readers are done.
async fn run_pipeline(
    mut pipeline: Pipeline,
    mut rx: mpsc::Receiver<Vec<Entry>>,
    clients: Vec<mpsc::Sender<Vec<Entry>>>,
    readline: Option<Arc<crate::readline::ReadlineLimiter>>,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut out = Vec::new();
    loop {
        tokio::select! {
            chunk = rx.recv() => {
                let Some(mut chunk) = chunk else { break };
                out.reserve(chunk.len());
                for e in chunk.drain(..) {
                    pipeline.process(e, &mut out);
                }
                crate::core::entry::recycle(chunk);
                // The clients need labels, line, timestamp and metadata only: free the extracted
                // maps now rather than while the entries wait in a batch.
                for e in &mut out {
                    if !e.extracted.is_empty() {
                        e.extracted = Default::default();
                    }
                }
            }
            _ = tick.tick() => {
                pipeline.tick(crate::core::entry::now_nanos(), &mut out);
            }
        }
        if let Some(limiter) = &readline {
            while let Some(part) = limiter.next(&mut out).await {
                fan_out(&clients, part).await;
            }
        }
        if !out.is_empty() {
            fan_out(
                &clients,
                std::mem::replace(&mut out, crate::core::entry::chunk(0)),
            )
            .await;
        }
    }
    pipeline.flush(&mut out);
    if !out.is_empty() {
        fan_out(&clients, out).await;
    }
}

/// Hands a chunk to every client. Clients with room in their channel get it at once; only then
/// does the pipeline wait for the ones whose channel is full. So a client that cannot deliver
/// holds up the others only once it has `max_inflight_batches` batches in flight and its channel
/// ([`CLIENT_CHANNEL_CAP`] chunks) is full, and never for the length of its retries before that.
/// The wait cannot be skipped: a line's position moves only once every client has it.
async fn fan_out(clients: &[mpsc::Sender<Vec<Entry>>], chunk: Vec<Entry>) {
    use mpsc::error::TrySendError;
    match clients {
        [] => {}
        [only] => {
            let _ = only.send(chunk).await;
        }
        [rest @ .., last] => {
            let mut full = Vec::new();
            let mut copies: Vec<_> = rest.iter().map(|c| (c, chunk.clone())).collect();
            copies.push((last, chunk));
            for (c, copy) in copies {
                match c.try_send(copy) {
                    Ok(()) | Err(TrySendError::Closed(_)) => {}
                    Err(TrySendError::Full(copy)) => full.push((c, copy)),
                }
            }
            for (c, copy) in full {
                let _ = c.send(copy).await;
            }
        }
    }
}
