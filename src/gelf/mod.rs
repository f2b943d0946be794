//! `gelf`: a job that receives GELF messages over UDP (Promtail's `gelf` target), decoded by the
//! `ferrotail-gelf` crate: chunked messages reassembled, gzip and zlib bodies decompressed,
//! go-gelf's JSON rules.
//!
//! Each message gets the configured `labels` and Promtail's `__gelf_message_level`,
//! `__gelf_message_host`, `__gelf_message_version` and `__gelf_message_facility`, then the job's
//! `relabel_configs`; `__` labels are removed. The line is the message re-marshalled as Promtail
//! writes it ([`gelf_codec::Message::promtail_line`]); the timestamp is the message's with
//! `use_incoming_timestamp` (when it has one), else the time of receipt.
//!
//! Drops are counted: Promtail's `promtail_gelf_target_parsing_errors_total` for every datagram
//! or message that could not be decoded, and `ferrotail_gelf_dropped_total{reason}` for each
//! cause (`chunk`, `expired`, `evicted`, `decompress`, `too_large`, `json`, `relabel`), and logged
//! with the sender's address (at most one line a second, with the count of those not logged).
//!
//! Where ferrotail differs from Promtail (README): a message the relabel rules drop is dropped
//! (Promtail sends it with an empty label set, which Loki refuses). UDP has no backpressure: while
//! the pipeline is full, datagrams wait in the socket's buffer and the kernel drops the excess.
//! Entries carry no `Ack` (nothing can be read again) and have no position.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::raw::{RawGelf, RawScrapeConfig};
use crate::core::{Entry, Labels};
use crate::discovery::Static;
use crate::relabel::{is_valid_label_name, Relabeler};
use crate::source::{Dropped, Registry, Source, SourceCtx, SourceKind, Target, TargetView};

/// Promtail's: messages handed on.
pub const METRIC_ENTRIES: &str = "promtail_gelf_target_entries_total";
/// Promtail's: datagrams or messages that could not be decoded.
pub const METRIC_ERRORS: &str = "promtail_gelf_target_parsing_errors_total";
/// ferrotail's: every drop, by `reason`.
pub const METRIC_DROPPED: &str = "ferrotail_gelf_dropped_total";

/// Promtail's default listen address.
pub const DEFAULT_LISTEN_ADDRESS: &str = "0.0.0.0:12201";
/// Datagrams handled before their entries are handed on as one chunk.
const MAX_CHUNK: usize = 512;
/// Label sets remembered with what they became.
const LABEL_CACHE_CAP: usize = 4096;

fn describe() {
    metrics::describe_counter!(
        METRIC_ENTRIES,
        "Total number of successful entries sent to the gelf target"
    );
    metrics::describe_counter!(
        METRIC_ERRORS,
        "Total number of parsing errors while receiving gelf messages"
    );
    metrics::describe_counter!(
        METRIC_DROPPED,
        "GELF datagrams and messages dropped, by reason."
    );
}

/// The address a `listen_address` binds: empty means Promtail's default, `:port` every address.
pub fn listen_address(cfg: &RawGelf) -> String {
    if cfg.listen_address.is_empty() {
        DEFAULT_LISTEN_ADDRESS.to_string()
    } else if cfg.listen_address.starts_with(':') {
        format!("0.0.0.0{}", cfg.listen_address)
    } else {
        cfg.listen_address.clone()
    }
}

/// Checks a job's `gelf` block without binding anything (start-up checks).
pub fn validate(cfg: &RawGelf) -> Result<(), String> {
    for k in cfg.labels.keys() {
        if !is_valid_label_name(k) {
            return Err(format!("gelf.labels: {k:?} is not a valid label name"));
        }
    }
    Ok(())
}

/// Builds a `gelf` job: binds its UDP socket now, so an address in use fails start-up.
pub fn job(
    job: &RawScrapeConfig,
    relabel: Relabeler,
    registry: &Registry,
) -> Result<(GelfKind, Static), String> {
    let Some(cfg) = &job.gelf else {
        return Err(format!("job {:?}: no gelf block", job.job_name));
    };
    validate(cfg).map_err(|e| format!("job {:?}: {e}", job.job_name))?;
    let addr = listen_address(cfg);
    let socket = std::net::UdpSocket::bind(&addr)
        .and_then(|s| s.set_nonblocking(true).map(|()| s))
        .map_err(|e| {
            format!(
                "failed to make gelf target manager: job {:?}: listen udp {addr}: {e}",
                job.job_name
            )
        })?;
    let local = socket.local_addr().map(|a| a.to_string()).unwrap_or(addr);
    describe();
    // Promtail's gelf target is always ready.
    registry.set_docker_job();
    Ok((
        GelfKind {
            socket: Mutex::new(Some(socket)),
            local,
            labels: cfg
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            relabel: Arc::new(relabel),
            use_incoming_timestamp: cfg.use_incoming_timestamp,
        },
        Static::one("gelf", Labels::new()),
    ))
}

/// The `gelf` kind of one job.
pub struct GelfKind {
    socket: Mutex<Option<std::net::UdpSocket>>,
    local: String,
    labels: Labels,
    relabel: Arc<Relabeler>,
    use_incoming_timestamp: bool,
}

impl SourceKind for GelfKind {
    fn name(&self) -> &'static str {
        "gelf"
    }

    fn target(&self, discovered: &Labels) -> Result<Target, Dropped> {
        Ok(Target {
            key: "gelf".into(),
            labels: self.labels.clone(),
            relabelled: self.labels.clone(),
            discovered: discovered.clone(),
        })
    }

    fn start(&self, target: &Target, ctx: &SourceCtx) -> Box<dyn Source> {
        let socket = self.socket.lock().unwrap_or_else(|e| e.into_inner()).take();
        let cancel = ctx.cancel.child_token();
        let registry_key = format!("{}/gelf", ctx.job);
        ctx.registry.set(
            registry_key.clone(),
            TargetView {
                job: ctx.job.to_string(),
                kind: "gelf",
                labels: target.labels.clone(),
                files: Vec::new(),
                details: format!("gelf listening on udp {}", self.local),
            },
        );
        let receiver = Receiver {
            job: Arc::clone(&ctx.job),
            tx: ctx.tx.clone(),
            labels: self.labels.clone(),
            relabel: Arc::clone(&self.relabel),
            use_incoming_timestamp: self.use_incoming_timestamp,
            reassembler: gelf_codec::Reassembler::new(gelf_codec::Config::default()),
            stats: gelf_codec::Stats::default(),
            cache: HashMap::new(),
            log: LogLimiter::default(),
        };
        let local = self.local.clone();
        let c = cancel.clone();
        let handle = tokio::spawn(async move {
            let Some(socket) = socket else {
                tracing::error!(job = %receiver.job, "gelf: socket already used");
                return;
            };
            match UdpSocket::from_std(socket) {
                Ok(s) => {
                    tracing::info!(job = %receiver.job, addr = %local, "listening for GELF UDP messages");
                    receiver.run(s, c).await;
                }
                Err(e) => {
                    tracing::error!(job = %receiver.job, addr = %local, error = %e, "gelf: cannot listen")
                }
            }
        });
        Box::new(GelfSource {
            cancel,
            handle,
            registry: Arc::clone(&ctx.registry),
            registry_key,
        })
    }
}

/// A running GELF receiver.
struct GelfSource {
    cancel: CancellationToken,
    handle: JoinHandle<()>,
    registry: Arc<Registry>,
    registry_key: String,
}

impl Source for GelfSource {
    fn stop(self: Box<Self>, _forget: bool) -> BoxFuture<'static, ()> {
        self.cancel.cancel();
        Box::pin(async move {
            let _ = self.handle.await;
            self.registry.remove(&self.registry_key);
        })
    }
}

/// Logs at most one drop a second, with the number not logged since.
#[derive(Default)]
struct LogLimiter {
    last: Option<Instant>,
    suppressed: u64,
}

impl LogLimiter {
    fn log(&mut self, job: &str, peer: SocketAddr, reason: &str, err: &dyn std::fmt::Display) {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1))
        {
            self.suppressed += 1;
            return;
        }
        self.last = Some(now);
        let suppressed = std::mem::take(&mut self.suppressed);
        tracing::warn!(job = %job, peer = %peer, reason = %reason, err = %err, suppressed, "dropping GELF message");
    }
}

/// The receiving task's state.
struct Receiver {
    job: Arc<str>,
    tx: mpsc::Sender<Vec<Entry>>,
    labels: Labels,
    relabel: Arc<Relabeler>,
    use_incoming_timestamp: bool,
    reassembler: gelf_codec::Reassembler,
    stats: gelf_codec::Stats,
    /// `level\0host\0version\0facility` → final labels (`None`: dropped by relabelling).
    cache: HashMap<String, Option<Labels>>,
    log: LogLimiter,
}

fn drop_count(reason: &'static str, n: u64) {
    if n > 0 {
        metrics::counter!(METRIC_DROPPED, "reason" => reason).increment(n);
    }
}

impl Receiver {
    async fn run(mut self, socket: UdpSocket, cancel: CancellationToken) {
        // go-gelf reads 1420 bytes of each datagram; a larger buffer lets the reassembler see
        // (and cut) longer ones as go-gelf would.
        let mut buf = vec![0u8; 65536];
        let mut expire = tokio::time::interval(Duration::from_secs(1));
        expire.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let mut chunk = crate::core::entry::chunk(0);
            tokio::select! {
                r = socket.recv_from(&mut buf) => {
                    match r {
                        Ok((n, peer)) => self.datagram(buf.get(..n).unwrap_or(&[]), peer, &mut chunk),
                        Err(e) => tracing::warn!(job = %self.job, error = %e, "gelf: receive failed"),
                    }
                    // Whatever else is waiting, up to a chunk.
                    for _ in 1..MAX_CHUNK {
                        match socket.try_recv_from(&mut buf) {
                            Ok((n, peer)) => self.datagram(buf.get(..n).unwrap_or(&[]), peer, &mut chunk),
                            Err(_) => break,
                        }
                    }
                }
                _ = expire.tick() => {
                    self.reassembler.expire(Instant::now());
                    self.account();
                }
                _ = cancel.cancelled() => break,
            }
            if !chunk.is_empty() {
                let n = chunk.len() as u64;
                tokio::select! {
                    r = self.tx.send(chunk) => {
                        if r.is_err() {
                            break;
                        }
                        metrics::counter!(METRIC_ENTRIES).increment(n);
                    }
                    _ = cancel.cancelled() => break,
                }
            }
        }
        self.account();
    }

    /// Counts the reassembler's drops since the last call.
    fn account(&mut self) {
        let now = self.reassembler.stats();
        let expired = now.expired_messages - self.stats.expired_messages;
        let evicted = now.evicted_messages - self.stats.evicted_messages;
        drop_count("expired", expired);
        drop_count("evicted", evicted);
        if expired + evicted > 0 {
            metrics::counter!(METRIC_ERRORS).increment(expired + evicted);
        }
        self.stats = now;
    }

    fn fail(&mut self, peer: SocketAddr, reason: &'static str, err: &dyn std::fmt::Display) {
        metrics::counter!(METRIC_ERRORS).increment(1);
        drop_count(reason, 1);
        self.log.log(&self.job, peer, reason, err);
    }

    /// One datagram: reassembled, decompressed, decoded, labelled; its entry (if it completes a
    /// message) goes into `out`.
    fn datagram(&mut self, data: &[u8], peer: SocketAddr, out: &mut Vec<Entry>) {
        let max = self.reassembler.config().max_decompressed_size;
        let payload = match self.reassembler.push(data, Instant::now()) {
            Ok(Some(p)) => p.into_owned(),
            Ok(None) => return,
            Err(e) => return self.fail(peer, "chunk", &e),
        };
        let json = match gelf_codec::decompress(&payload, max) {
            Ok(j) => j,
            Err(e @ gelf_codec::GelfError::DecompressedTooLarge { .. }) => {
                return self.fail(peer, "too_large", &e)
            }
            Err(e) => return self.fail(peer, "decompress", &e),
        };
        let msg = match gelf_codec::decode(&json) {
            Ok(Some(m)) => m,
            Ok(None) => return,
            Err(e) => return self.fail(peer, "json", &e),
        };
        let Some(labels) = self.labels_of(&msg) else {
            drop_count("relabel", 1);
            return;
        };
        let ts = gelf_codec::entry_timestamp_nanos(
            &msg,
            self.use_incoming_timestamp,
            crate::core::entry::now_nanos(),
        );
        out.push(Entry::new(labels, ts, msg.promtail_line()));
    }

    /// The message's labels: configured, then `__gelf_message_*`, relabelled, `__` removed.
    fn labels_of(&mut self, msg: &gelf_codec::Message) -> Option<Labels> {
        let gl = gelf_codec::labels(msg);
        let mut key = String::new();
        for (k, v) in &gl {
            key.push_str(k);
            key.push('\0');
            key.push_str(v);
            key.push('\0');
        }
        if let Some(hit) = self.cache.get(&key) {
            return hit.clone();
        }
        let mut l = self.labels.clone();
        for (k, v) in &gl {
            l.insert(*k, *v);
        }
        let out = self.relabel.process(l).map(|mut l| {
            l.retain(|k, _| !k.starts_with("__"));
            l
        });
        if self.cache.len() >= LABEL_CACHE_CAP {
            self.cache.clear();
        }
        self.cache.insert(key, out.clone());
        out
    }
}
