//! `loki_push_api`: a job that receives Loki push requests on its own HTTP server (Promtail's
//! `lokipush.PushTarget`), so one shipper can relay for others.
//!
//! Routes: `POST /loki/api/v1/push` (snappy protobuf or JSON, see [`decode`]), `POST
//! /promtail/api/v1/raw` (one entry per non-empty line, with the configured labels only) and `GET
//! /ready` (`ready`). Each pushed stream's labels are parsed ([`labels`]), the configured
//! `labels` added (they win), the job's `relabel_configs` applied and every `__` label removed;
//! entries keep their line and structured metadata, and their timestamp with
//! `use_incoming_timestamp` (else the time of receipt). A request is accepted or refused whole.
//!
//! Where ferrotail differs from Promtail (README): a stream dropped by relabelling is skipped and
//! the rest of the request kept (Promtail answers 204 and silently skips the later streams);
//! when the pipeline stays full for [`SEND_WAIT`] the request is refused with `429` so the sender
//! retries (Promtail blocks the request); bodies are capped ([`MAX_BODY_BYTES`],
//! [`MAX_DECOMPRESSED_BYTES`], `413`) and the request data held in memory at once is bounded
//! ([`MEMORY_BUDGET_BYTES`], `429` beyond it).
//!
//! Memory: one request at a time is decoded and handed on (a turn); the others wait holding only
//! their bodies, and all are refused with `429` when the wait passes [`SEND_WAIT`]. The protobuf
//! is read in place from the decompressed bytes ([`decode`]) straight into entries, with no
//! decoded copy of the request beside them, and the decompression buffer is reused per thread.
//! A request's entries go to the pipeline in chunks of [`CHUNK_ENTRIES`] (at most the channel's
//! capacity of chunks, all placed at once so a request is still accepted or refused whole):
//! the job's channel bounds chunks, not entries, so small chunks bound what waits in it.
//!
//! Pushed entries carry no `Ack`: they cannot be read again, so they have no position. A request
//! is answered once its entries are in the job's pipeline; entries still unsent when ferrotail is
//! killed are lost (as in Promtail), a graceful shutdown delivers them.

pub mod decode;
pub mod labels;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::raw::{RawPushApi, RawScrapeConfig};
use crate::core::{Entry, Labels};
use crate::discovery::Static;
use crate::relabel::{is_valid_label_name, Relabeler};
use crate::source::{Dropped, Registry, Source, SourceCtx, SourceKind, Target, TargetView};

/// Largest request body read (as sent, before decompression).
pub const MAX_BODY_BYTES: usize = 64 << 20;
/// Largest decompressed body (gzip, deflate, snappy): a compression bomb is refused with `413`.
pub const MAX_DECOMPRESSED_BYTES: usize = 64 << 20;
/// Request data (bodies as read, plus twice their decompressed size while decoded) held at once
/// over all requests of a job; a request that does not fit is refused with `429`.
pub const MEMORY_BUDGET_BYTES: usize = 256 << 20;
/// How long a request waits for room in the job's pipeline before it is refused with `429`.
pub const SEND_WAIT: Duration = Duration::from_secs(1);
/// Entries of a request handed to the pipeline in one chunk: the job's channel holds chunks,
/// so small chunks bound the entries queued in it (a request is split into at most the
/// channel's capacity of chunks, all placed at once).
const CHUNK_ENTRIES: usize = 256;
/// Bodies at least this large are decoded on the blocking pool.
const BLOCKING_DECODE_BYTES: usize = 256 << 10;
/// Label strings remembered with what they became (parse, configured labels, relabelling).
const STREAM_CACHE_CAP: usize = 4096;

/// Entries accepted (`job`, `endpoint`).
pub const METRIC_ENTRIES: &str = "ferrotail_push_entries_total";
/// Requests refused (`job`, `reason`: `bad_request`, `too_large`, `pipeline_full`,
/// `memory_budget`, `timeout`).
pub const METRIC_REJECTED: &str = "ferrotail_push_rejected_requests_total";
/// Entries of streams the relabel rules dropped (`job`).
pub const METRIC_DROPPED: &str = "ferrotail_push_dropped_entries_total";

fn describe() {
    metrics::describe_counter!(METRIC_ENTRIES, "Entries received by loki_push_api jobs.");
    metrics::describe_counter!(
        METRIC_REJECTED,
        "Push requests refused by loki_push_api jobs, by reason."
    );
    metrics::describe_counter!(
        METRIC_DROPPED,
        "Pushed entries whose stream the job's relabel rules dropped."
    );
}

/// The listen address of a server block (`host:port`, IPv6 hosts bracketed).
fn listen_addr(host: &str, port: u16) -> String {
    if host.is_empty() {
        format!("0.0.0.0:{port}")
    } else if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Checks a job's `loki_push_api` block without binding anything (start-up checks).
pub fn validate(cfg: &RawPushApi) -> Result<(), String> {
    cfg.server_config()?;
    if let Some(k) = cfg.refused_server_key() {
        return Err(format!(
            "not supported: {k} (ferrotail's push server listens on plain TCP at the root path)"
        ));
    }
    for k in cfg.labels.keys() {
        if !is_valid_label_name(k) {
            return Err(format!(
                "loki_push_api.labels: {k:?} is not a valid label name"
            ));
        }
    }
    Ok(())
}

/// Builds a `loki_push_api` job: binds its server's port now, so a port in use fails start-up
/// as in Promtail.
pub fn job(
    job: &RawScrapeConfig,
    relabel: Relabeler,
    registry: &Registry,
) -> Result<(PushKind, Static), String> {
    let Some(cfg) = &job.loki_push_api else {
        return Err(format!("job {:?}: no loki_push_api block", job.job_name));
    };
    validate(cfg).map_err(|e| format!("job {:?}: {e}", job.job_name))?;
    let server = cfg.server_config()?;
    let addr = listen_addr(&server.http_listen_address, server.http_listen_port);
    let listener = std::net::TcpListener::bind(&addr)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|e| {
            format!(
                "failed to make loki push target manager: job {:?}: listen tcp {addr}: {e}",
                job.job_name
            )
        })?;
    let local = listener.local_addr().map(|a| a.to_string()).unwrap_or(addr);
    describe();
    // Promtail's push target is always ready.
    registry.set_docker_job();
    let labels: Labels = cfg
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok((
        PushKind {
            listener: Mutex::new(Some(listener)),
            local,
            labels,
            relabel: Arc::new(relabel),
            use_incoming_timestamp: cfg.use_incoming_timestamp,
            read_timeout: server.http_server_read_timeout.0,
        },
        Static::one("loki_push_api", Labels::new()),
    ))
}

/// The `loki_push_api` kind of one job.
pub struct PushKind {
    listener: Mutex<Option<std::net::TcpListener>>,
    local: String,
    labels: Labels,
    relabel: Arc<Relabeler>,
    use_incoming_timestamp: bool,
    read_timeout: Duration,
}

impl PushKind {
    /// The address the server listens on.
    pub fn local_addr(&self) -> &str {
        &self.local
    }
}

impl SourceKind for PushKind {
    fn name(&self) -> &'static str {
        "push"
    }

    fn target(&self, discovered: &Labels) -> Result<Target, Dropped> {
        Ok(Target {
            key: "loki_push_api".into(),
            labels: self.labels.clone(),
            relabelled: self.labels.clone(),
            discovered: discovered.clone(),
        })
    }

    fn start(&self, target: &Target, ctx: &SourceCtx) -> Box<dyn Source> {
        let listener = self
            .listener
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let cancel = ctx.cancel.child_token();
        let registry_key = format!("{}/loki_push_api", ctx.job);
        ctx.registry.set(
            registry_key.clone(),
            TargetView {
                job: ctx.job.to_string(),
                kind: "push",
                labels: target.labels.clone(),
                files: Vec::new(),
                details: format!("loki_push_api listening on {}", self.local),
            },
        );
        let state = Arc::new(Handler {
            job: Arc::clone(&ctx.job),
            tx: ctx.tx.clone(),
            config_labels: self.labels.clone(),
            relabel: Arc::clone(&self.relabel),
            use_incoming_timestamp: self.use_incoming_timestamp,
            streams: Mutex::new(HashMap::new()),
            budget: Arc::new(Semaphore::new(MEMORY_BUDGET_BYTES >> 10)),
            turn: tokio::sync::Mutex::new(()),
            read_timeout: if self.read_timeout.is_zero() {
                Duration::from_secs(30)
            } else {
                self.read_timeout
            },
        });
        let job = Arc::clone(&ctx.job);
        let local = self.local.clone();
        let c = cancel.clone();
        let handle = tokio::spawn(async move {
            let Some(listener) = listener else {
                tracing::error!(job = %job, "push server: listener already used");
                return;
            };
            let listener = match tokio::net::TcpListener::from_std(listener) {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!(job = %job, addr = %local, error = %e, "push server cannot listen");
                    return;
                }
            };
            tracing::info!(job = %job, http = %local, "starting push server");
            let app = router(state);
            if let Err(e) = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(c.cancelled_owned())
            .await
            {
                tracing::error!(job = %job, error = %e, "Loki push server shutdown with error");
            }
        });
        Box::new(PushSource {
            cancel,
            handle,
            registry: Arc::clone(&ctx.registry),
            registry_key,
            job: Arc::clone(&ctx.job),
        })
    }
}

/// A running push server.
struct PushSource {
    cancel: CancellationToken,
    handle: JoinHandle<()>,
    registry: Arc<Registry>,
    registry_key: String,
    job: Arc<str>,
}

/// How long open requests may take to finish once the server is stopping.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

impl Source for PushSource {
    fn stop(self: Box<Self>, _forget: bool) -> BoxFuture<'static, ()> {
        tracing::info!(job = %self.job, "stopping push server");
        self.cancel.cancel();
        Box::pin(async move {
            let mut handle = self.handle;
            if tokio::time::timeout(SHUTDOWN_GRACE, &mut handle)
                .await
                .is_err()
            {
                handle.abort();
                let _ = handle.await;
            }
            self.registry.remove(&self.registry_key);
        })
    }
}

/// What the handlers share.
struct Handler {
    job: Arc<str>,
    tx: mpsc::Sender<Vec<Entry>>,
    config_labels: Labels,
    relabel: Arc<Relabeler>,
    use_incoming_timestamp: bool,
    /// Label string → the stream's final labels (`None`: dropped by relabelling).
    streams: Mutex<HashMap<String, Option<Labels>>>,
    /// [`MEMORY_BUDGET_BYTES`] in KiB permits.
    budget: Arc<Semaphore>,
    /// Held while a request is decoded and handed on (one at a time).
    turn: tokio::sync::Mutex<()>,
    read_timeout: Duration,
}

fn router(state: Arc<Handler>) -> Router {
    Router::new()
        .route("/loki/api/v1/push", post(push))
        .route("/promtail/api/v1/raw", post(raw))
        .route("/ready", get(ready))
        .fallback(not_found)
        .with_state(state)
}

async fn not_found() -> Response {
    text(StatusCode::NOT_FOUND, "404 page not found")
}

async fn ready() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "ready",
    )
        .into_response()
}

/// A plain-text answer, as Go's `http.Error` writes it.
fn text(code: StatusCode, msg: &str) -> Response {
    (
        code,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        format!("{msg}\n"),
    )
        .into_response()
}

/// A refused request: counted, logged with the peer, answered.
struct Refusal {
    code: StatusCode,
    reason: &'static str,
    msg: String,
}

impl Refusal {
    fn new(code: StatusCode, reason: &'static str, msg: impl Into<String>) -> Refusal {
        Refusal {
            code,
            reason,
            msg: msg.into(),
        }
    }

    fn answer(self, job: &str, peer: SocketAddr) -> Response {
        metrics::counter!(METRIC_REJECTED, "job" => job.to_string(), "reason" => self.reason)
            .increment(1);
        if self.code == StatusCode::BAD_REQUEST || self.code == StatusCode::PAYLOAD_TOO_LARGE {
            tracing::warn!(job = %job, peer = %peer, err = %self.msg, "failed to parse incoming push request");
        } else {
            tracing::debug!(job = %job, peer = %peer, err = %self.msg, "push request refused, the sender will retry");
        }
        text(self.code, &self.msg)
    }
}

fn kib(bytes: usize) -> u32 {
    u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX)
}

impl Handler {
    /// Takes `bytes` more of the memory budget into `held`, or refuses the request.
    fn reserve(
        &self,
        held: &mut Option<OwnedSemaphorePermit>,
        bytes: usize,
    ) -> Result<(), Refusal> {
        let n = kib(bytes);
        if n == 0 {
            return Ok(());
        }
        match Arc::clone(&self.budget).try_acquire_many_owned(n) {
            Ok(p) => {
                match held {
                    Some(h) => h.merge(p),
                    None => *held = Some(p),
                }
                Ok(())
            }
            Err(_) => Err(Refusal::new(
                StatusCode::TOO_MANY_REQUESTS,
                "memory_budget",
                "too much push data in flight, retry later",
            )),
        }
    }

    /// Reads the body, capped at [`MAX_BODY_BYTES`] and bounded by the read timeout, taking its
    /// size from the memory budget as it grows.
    async fn read_body(
        &self,
        headers: &HeaderMap,
        body: Body,
        held: &mut Option<OwnedSemaphorePermit>,
    ) -> Result<Vec<u8>, Refusal> {
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if let Some(n) = declared {
            if n > MAX_BODY_BYTES {
                return Err(Refusal::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    format!("request body of {n} bytes is larger than {MAX_BODY_BYTES} bytes"),
                ));
            }
            self.reserve(held, n)?;
        }
        let read = async {
            let mut out = Vec::with_capacity(declared.unwrap_or(0));
            let mut reserved = declared.unwrap_or(0);
            let mut stream = body.into_data_stream();
            while let Some(frame) = stream.next().await {
                let frame = frame.map_err(|e| {
                    Refusal::new(StatusCode::BAD_REQUEST, "bad_request", e.to_string())
                })?;
                if out.len() + frame.len() > MAX_BODY_BYTES {
                    return Err(Refusal::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "too_large",
                        format!("request body larger than {MAX_BODY_BYTES} bytes"),
                    ));
                }
                out.extend_from_slice(&frame);
                if out.len() > reserved {
                    let more = (out.len() - reserved).max(1 << 20);
                    self.reserve(held, more)?;
                    reserved += more;
                }
            }
            Ok(out)
        };
        match tokio::time::timeout(self.read_timeout, read).await {
            Ok(r) => r,
            Err(_) => Err(Refusal::new(
                StatusCode::REQUEST_TIMEOUT,
                "timeout",
                "timed out reading the request body",
            )),
        }
    }

    /// The final labels of a pushed stream: parsed, configured labels added, relabelled, `__`
    /// labels removed. `Ok(None)` when the rules drop it (or it has no label left).
    fn stream_labels(&self, raw: &str) -> Result<Option<Labels>, String> {
        let mut cache = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(hit) = cache.get(raw) {
            return Ok(hit.clone());
        }
        let pairs = labels::parse_labels(raw).map_err(|e| format!("couldn't parse labels: {e}"))?;
        let mut l: Labels = pairs.into_iter().collect();
        for (k, v) in self.config_labels.iter() {
            l.insert(k, v);
        }
        let out = self
            .relabel
            .process(l)
            .map(|mut l| {
                l.retain(|k, _| !k.starts_with("__"));
                l
            })
            .filter(|l| !l.is_empty());
        if cache.len() >= STREAM_CACHE_CAP {
            cache.clear();
        }
        cache.insert(raw.to_string(), out.clone());
        Ok(out)
    }

    /// `n` places in the job's pipeline channel, waiting until `deadline` for them.
    async fn room(
        &self,
        n: usize,
        deadline: tokio::time::Instant,
    ) -> Result<mpsc::PermitIterator<'_, Vec<Entry>>, Refusal> {
        match tokio::time::timeout_at(deadline, self.tx.reserve_many(n)).await {
            Ok(Ok(permits)) => Ok(permits),
            Ok(Err(_)) if self.tx.is_closed() => Err(Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                "shutting down",
            )),
            Ok(Err(_)) => Err(Refusal::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "bad_request",
                format!("{n} chunks do not fit the pipeline channel"),
            )),
            Err(_) => Err(Refusal::new(
                StatusCode::TOO_MANY_REQUESTS,
                "pipeline_full",
                "the pipeline is full (Loki is slow or unavailable), retry later",
            )),
        }
    }

    /// Hands a request's entries to the pipeline, waiting at most [`SEND_WAIT`] for room.
    async fn send(&self, chunk: Vec<Entry>) -> Result<(), Refusal> {
        if chunk.is_empty() {
            return Ok(());
        }
        let deadline = tokio::time::Instant::now() + SEND_WAIT;
        if let Some(permit) = self.room(1, deadline).await?.next() {
            permit.send(chunk);
        }
        Ok(())
    }

    async fn handle_push(self: &Arc<Self>, headers: &HeaderMap, body: Body) -> Result<(), Refusal> {
        let header_str = |h: header::HeaderName| {
            headers
                .get(h)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_default()
        };
        let encoding = header_str(header::CONTENT_ENCODING);
        let content_type = header_str(header::CONTENT_TYPE);
        let mut held = None;
        let body = self.read_body(headers, body, &mut held).await?;
        // Memory for the decoded request: known up front for snappy and plain bodies; gzip and
        // deflate are accounted once their size is known.
        let hint = decode::decoded_size_hint(&encoding, &content_type, &body);
        if let Some(n) = hint {
            self.reserve(&mut held, n.saturating_mul(2))?;
        }
        // One request at a time is decoded and handed on; the others wait holding only their
        // bodies, so the decoded entries not yet in the pipeline are one request's at most.
        let deadline = tokio::time::Instant::now() + SEND_WAIT;
        let _turn = tokio::time::timeout_at(deadline, self.turn.lock())
            .await
            .map_err(|_| {
                Refusal::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "pipeline_full",
                    "the pipeline is full (Loki is slow or unavailable), retry later",
                )
            })?;
        let mut sink = Chunker {
            handler: Arc::clone(self),
            labels: None,
            parts: Vec::new(),
            chunk: crate::core::entry::chunk(CHUNK_ENTRIES),
            entries: 0,
            dropped: 0,
        };
        let decoded = if body.len() >= BLOCKING_DECODE_BYTES || hint.is_none() {
            tokio::task::spawn_blocking(move || {
                let r = decode_body(&encoding, &content_type, &body, &mut sink);
                drop(body);
                (r, sink)
            })
            .await
            .map_err(|e| {
                Refusal::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "bad_request",
                    e.to_string(),
                )
            })
        } else {
            let r = decode_body(&encoding, &content_type, &body, &mut sink);
            drop(body);
            Ok((r, sink))
        };
        let (decoded, sink) = decoded?;
        let decompressed = match decoded {
            Ok(n) => n,
            Err(e) => {
                sink.recycle();
                return Err(match e {
                    decode::DecodeError::TooLarge(m) => {
                        Refusal::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", m)
                    }
                    decode::DecodeError::Bad(m) => {
                        Refusal::new(StatusCode::BAD_REQUEST, "bad_request", m)
                    }
                });
            }
        };
        if hint.is_none() {
            if let Err(r) = self.reserve(&mut held, decompressed.saturating_mul(2)) {
                sink.recycle();
                return Err(r);
            }
        }
        if sink.dropped > 0 {
            metrics::counter!(METRIC_DROPPED, "job" => self.job.to_string())
                .increment(sink.dropped);
        }
        let n = sink.entries as u64;
        let parts = sink.into_parts(self.tx.max_capacity());
        if !parts.is_empty() {
            // Every chunk of the request has its place before any is sent: the request is
            // accepted or refused whole.
            match self.room(parts.len(), deadline).await {
                Ok(permits) => {
                    for (permit, part) in permits.zip(parts) {
                        permit.send(part);
                    }
                }
                Err(r) => {
                    parts.into_iter().for_each(crate::core::entry::recycle);
                    return Err(r);
                }
            }
        }
        metrics::counter!(METRIC_ENTRIES, "job" => self.job.to_string(), "endpoint" => "push")
            .increment(n);
        Ok(())
    }

    async fn handle_raw(&self, headers: &HeaderMap, body: Body) -> Result<(), Refusal> {
        let mut held = None;
        let body = self.read_body(headers, body, &mut held).await?;
        self.reserve(&mut held, body.len())?;
        let mut chunk = crate::core::entry::chunk(0);
        for line in body.split(|&b| b == b'\n') {
            let end = line
                .iter()
                .rposition(|&b| b != b'\r' && b != b'\n')
                .map_or(0, |i| i + 1);
            let Some(line) = line.get(..end).filter(|l| !l.is_empty()) else {
                continue;
            };
            chunk.push(Entry::new(
                self.config_labels.clone(),
                crate::core::entry::now_nanos(),
                String::from_utf8_lossy(line).into_owned(),
            ));
        }
        let n = chunk.len() as u64;
        self.send(chunk).await?;
        metrics::counter!(METRIC_ENTRIES, "job" => self.job.to_string(), "endpoint" => "raw")
            .increment(n);
        Ok(())
    }
}

/// Largest decompression buffer a thread keeps for the next request.
const SCRATCH_KEEP_BYTES: usize = 1 << 20;

thread_local! {
    /// The decompressed body of the request being decoded on this thread, reused.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Decodes a push body into `sink`, decompressing into this thread's reused buffer.
fn decode_body(
    encoding: &str,
    content_type: &str,
    body: &[u8],
    sink: &mut Chunker,
) -> Result<usize, decode::DecodeError> {
    let limits = decode::Limits {
        max_decompressed: MAX_DECOMPRESSED_BYTES,
    };
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        let r = decode::decode(encoding, content_type, body, limits, &mut scratch, sink);
        if scratch.capacity() > SCRATCH_KEEP_BYTES {
            *scratch = Vec::new();
        }
        r
    })
}

/// Builds a request's chunks as it is decoded: each stream's labels resolved (parsed, configured
/// labels, relabelled) as the stream starts, then its entries, [`CHUNK_ENTRIES`] to a chunk.
struct Chunker {
    handler: Arc<Handler>,
    /// The current stream's labels; `None` while its entries are dropped.
    labels: Option<Labels>,
    /// Full chunks.
    parts: Vec<Vec<Entry>>,
    /// The chunk being filled.
    chunk: Vec<Entry>,
    entries: usize,
    dropped: u64,
}

impl Chunker {
    /// The chunks, at most `max` of them (merged into larger ones beyond that), none empty.
    fn into_parts(mut self, max: usize) -> Vec<Vec<Entry>> {
        let chunk = std::mem::take(&mut self.chunk);
        if chunk.is_empty() {
            crate::core::entry::recycle(chunk);
        } else {
            self.parts.push(chunk);
        }
        let max = max.max(1);
        if self.parts.len() <= max {
            return self.parts;
        }
        // A request of more than `max` x CHUNK_ENTRIES entries: `max` larger chunks.
        let per = self.entries.div_ceil(max);
        let mut out: Vec<Vec<Entry>> = Vec::with_capacity(max);
        for part in self.parts {
            let mut part = part;
            for e in part.drain(..) {
                if out.last().is_none_or(|c| c.len() >= per) {
                    out.push(crate::core::entry::chunk(per));
                }
                if let Some(c) = out.last_mut() {
                    c.push(e);
                }
            }
            crate::core::entry::recycle(part);
        }
        out
    }

    /// Gives the chunks' vectors back (a refused request).
    fn recycle(self) {
        crate::core::entry::recycle(self.chunk);
        self.parts.into_iter().for_each(crate::core::entry::recycle);
    }
}

impl decode::Sink for Chunker {
    fn stream(&mut self, labels: &str) -> Result<bool, String> {
        self.labels = self.handler.stream_labels(labels)?;
        Ok(self.labels.is_some())
    }

    fn entry(&mut self, timestamp: i64, line: String, structured_metadata: Vec<(String, String)>) {
        let Some(labels) = &self.labels else {
            self.dropped += 1;
            return;
        };
        let ts = if self.handler.use_incoming_timestamp {
            timestamp
        } else {
            crate::core::entry::now_nanos()
        };
        let mut entry = Entry::new(labels.clone(), ts, line);
        entry.structured_metadata = structured_metadata;
        if self.chunk.len() >= CHUNK_ENTRIES {
            let full = std::mem::replace(&mut self.chunk, crate::core::entry::chunk(CHUNK_ENTRIES));
            self.parts.push(full);
        }
        self.chunk.push(entry);
        self.entries += 1;
    }

    fn skipped(&mut self) {
        self.dropped += 1;
    }
}

async fn push(
    State(h): State<Arc<Handler>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match h.handle_push(&headers, body).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(r) => r.answer(&h.job, peer),
    }
}

async fn raw(
    State(h): State<Arc<Handler>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match h.handle_raw(&headers, body).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(r) => r.answer(&h.job, peer),
    }
}
