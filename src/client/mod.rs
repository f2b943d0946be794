//! The Loki clients: per `clients` entry, per-tenant batches bounded by `batchwait` and
//! `batchsize`, encoded as snappy-compressed protobuf and pushed with Promtail's retry policy.
//!
//! **Invariant:** entries' delivery tokens are released only after Loki accepted the batch (2xx)
//! or the batch was dropped for a counted reason; at shutdown, unsent entries are abandoned so
//! their files' positions stay before them.

pub mod batch;
pub mod limits;
pub mod proto;
pub mod send;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::config::raw::{RawClient, RawLimits};
use crate::core::entry::LabelMemo;
use crate::core::entry::TENANT_LABEL;
use crate::core::{Entry, Labels};
use crate::telemetry::metrics as m;
use batch::{Batch, Compressor, Encoded};
use send::{Outcome, Sender};

/// A compiled `clients` entry.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Push URL.
    pub url: String,
    /// `host:port` of the URL, the `host` label of client metrics.
    pub host: String,
    /// Name (for logs).
    pub name: String,
    /// `batchwait`.
    pub batch_wait: Duration,
    /// `batchsize` in bytes.
    pub batch_size: usize,
    /// `timeout` per request.
    pub timeout: Duration,
    /// Default tenant.
    pub tenant_id: String,
    /// Extra headers (never overriding ferrotail's own).
    pub headers: BTreeMap<String, String>,
    /// Retry policy.
    pub backoff: Backoff,
    /// `drop_rate_limited_batches`.
    pub drop_rate_limited_batches: bool,
    /// Labels merged under every entry's labels.
    pub external_labels: Labels,
    /// `Authorization` header value from basic_auth / bearer_token / authorization.
    pub auth_header: Option<String>,
    /// TLS options.
    pub tls: crate::config::raw::TlsConfig,
    /// `http_headers`, resolved (files read at start-up).
    pub http_headers: Vec<(http::HeaderName, http::HeaderValue)>,
    /// `proxy_url`.
    pub proxy_url: String,
    /// `proxy_from_environment`.
    pub proxy_from_environment: bool,
    /// `no_proxy`: hosts (comma-separated, as in Go's `NO_PROXY`) not sent through `proxy_url`.
    pub no_proxy: String,
    /// `proxy_connect_header`: headers sent to the proxy.
    pub proxy_connect_header: Vec<(http::HeaderName, http::HeaderValue)>,
    /// `follow_redirects`.
    pub follow_redirects: bool,
    /// `limits_config.max_line_size` (0 = none).
    pub max_line_size: usize,
    /// `limits_config.max_line_size_truncate`.
    pub max_line_size_truncate: bool,
    /// `limits_config.max_streams` (0 = none).
    pub max_streams: usize,
    /// `max_inflight_batches` (ferrotail only): batches queued or being pushed, over all
    /// tenants, before the client stops taking entries. At least 1.
    pub max_inflight_batches: usize,
}

/// `backoff_config`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// First delay.
    pub min_period: Duration,
    /// Longest delay.
    pub max_period: Duration,
    /// Total attempts; 0 retries forever.
    pub max_retries: u32,
}

impl ClientConfig {
    /// Compiles a raw client entry.
    pub fn compile(raw: &RawClient, limits: &RawLimits) -> Result<Self, String> {
        let url =
            reqwest::Url::parse(&raw.url).map_err(|e| format!("client url {:?}: {e}", raw.url))?;
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => String::new(),
        };
        for (k, _) in raw.external_labels.iter() {
            if !crate::relabel::is_valid_label_name(k) {
                return Err(format!("invalid external label name {k:?}"));
            }
        }
        let http = raw.http();
        let auth_header = http.auth_header()?;
        let http_headers = http
            .headers()?
            .into_iter()
            .filter(|(k, _)| k != reqwest::header::AUTHORIZATION)
            .collect();
        // A tenant that cannot be sent as `X-Scope-OrgID` would make every push fail (Promtail
        // retries it and drops the batch): refused at start-up instead.
        if !raw.tenant_id.is_empty() && http::HeaderValue::from_str(&raw.tenant_id).is_err() {
            return Err(format!(
                "client {}: tenant_id {:?} is not a valid X-Scope-OrgID header value",
                crate::config::client_name(raw),
                raw.tenant_id
            ));
        }
        if raw.max_inflight_batches == 0 {
            return Err(format!(
                "client {}: max_inflight_batches must be at least 1",
                crate::config::client_name(raw)
            ));
        }
        let cfg = ClientConfig {
            url: raw.url.clone(),
            host,
            name: crate::config::client_name(raw),
            batch_wait: raw.batchwait.0,
            batch_size: raw.batchsize as usize,
            timeout: raw.timeout.0,
            tenant_id: raw.tenant_id.clone(),
            headers: raw.headers.clone(),
            backoff: Backoff {
                min_period: raw.backoff_config.min_period.0,
                max_period: raw.backoff_config.max_period.0,
                max_retries: raw.backoff_config.max_retries,
            },
            drop_rate_limited_batches: raw.drop_rate_limited_batches,
            external_labels: raw
                .external_labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            auth_header,
            http_headers,
            tls: raw.tls_config.clone(),
            proxy_url: raw.proxy_url.clone(),
            proxy_from_environment: raw.proxy_from_environment,
            no_proxy: raw.no_proxy.clone(),
            proxy_connect_header: proxy_connect_header(raw)?,
            follow_redirects: raw.follow_redirects,
            max_line_size: limits.max_line_size.0 as usize,
            max_line_size_truncate: limits.max_line_size_truncate,
            max_streams: limits.max_streams.max(0) as usize,
            max_inflight_batches: raw.max_inflight_batches as usize,
        };
        // TLS files, versions and `server_name` are checked now, so a broken `tls_config` stops
        // start-up (or a reload) as in Promtail instead of leaving a client that never sends.
        Sender::new(cfg.clone()).map_err(|e| format!("client {}: {e}", cfg.name))?;
        Ok(cfg)
    }
}

/// `proxy_connect_header` as header pairs, each value of a header sent.
fn proxy_connect_header(
    raw: &RawClient,
) -> Result<Vec<(http::HeaderName, http::HeaderValue)>, String> {
    let mut out = Vec::new();
    for (k, values) in raw.proxy_connect_header.iter().flatten() {
        let name = http::HeaderName::from_bytes(k.as_bytes())
            .map_err(|e| format!("proxy_connect_header: invalid header name {k:?}: {e}"))?;
        for v in values {
            let value = http::HeaderValue::from_str(v)
                .map_err(|e| format!("proxy_connect_header: invalid value for {k:?}: {e}"))?;
            out.push((name.clone(), value));
        }
    }
    Ok(out)
}

/// One client: receives entries, batches them per tenant and hands full or due batches to a
/// pushing task per tenant, until `rx` closes; then pushes what is left, giving up (and
/// abandoning the unsent entries) when `abort` fires.
///
/// At most `max_inflight_batches` batches are queued or being pushed at once, over all tenants
/// (a semaphore permit travels with each batch until Loki accepted it or it was dropped). Tenants
/// are pushed by separate tasks, so a tenant that Loki answers 429 (or that fails) holds up the
/// others only once it holds every permit; then the client stops taking entries, its input
/// channel fills, and reading pauses for every client (the files are the buffer). Promtail sends
/// synchronously, so one stuck tenant or client stops every tenant and client at once.
pub async fn run(cfg: ClientConfig, mut rx: mpsc::Receiver<Vec<Entry>>, abort: CancellationToken) {
    // Building the HTTP client reads the TLS files: on a blocking thread.
    let built = {
        let cfg = cfg.clone();
        tokio::task::spawn_blocking(move || Sender::new(cfg))
            .await
            .unwrap_or_else(|e| Err(e.to_string()))
    };
    let sender = match built {
        Ok(s) => Arc::new(s),
        Err(e) => {
            tracing::error!(client = %cfg.name, error = %e, "cannot create client");
            return;
        }
    };
    let host = cfg.host.clone();
    metrics::counter!(m::SENT_BYTES, "host" => host.clone()).increment(0);
    metrics::counter!(m::SENT_ENTRIES, "host" => host.clone()).increment(0);
    metrics::counter!(m::ENCODED_BYTES, "host" => host.clone()).increment(0);
    // Open batches by tenant: a short list (most clients have one tenant), with the slot of the
    // client's own tenant first, so the common entry finds its batch without comparing names.
    let mut batches: Vec<(String, Option<Batch>)> = vec![(cfg.tenant_id.clone(), None)];
    let tenants_gauge = metrics::gauge!(m::CLIENT_TENANTS, "host" => host.clone());
    let mut memo = PrepareMemo::default();
    let mut pushers = Pushers {
        sender,
        abort: abort.clone(),
        permits: Arc::new(Semaphore::new(cfg.max_inflight_batches.max(1))),
        queues: HashMap::new(),
        tasks: tokio::task::JoinSet::new(),
        compressor: Compressor::default(),
    };
    // A batch is sent when it is `batchwait` old: sleep until the oldest batch's deadline
    // (Promtail checks every batchwait/10, so its batches wait up to 1.1 x batchwait).
    let far = Duration::from_secs(3600);
    // Tenants whose open batch already logged a `max_streams` drop (logged once per batch).
    let mut limited_logged: Vec<String> = Vec::new();
    loop {
        tokio::select! {
            chunk = rx.recv() => {
                let Some(mut chunk) = chunk else { break };
                for e in chunk.drain(..) {
                    if let Some((tenant, e)) = prepare(&cfg, &mut memo, e) {
                        let slot = match &tenant {
                            None => 0,
                            Some(t) => match batches.iter().position(|(name, _)| name == t) {
                                Some(i) => i,
                                None => {
                                    batches.push((t.clone(), None));
                                    batches.len() - 1
                                }
                            },
                        };
                        let (name, open) = &mut batches[slot];
                        if open.as_ref().is_some_and(|b| b.would_overflow(&e, cfg.batch_size)) {
                            if let Some(b) = open.take() {
                                limited_logged.retain(|t| t.as_str() != name.as_str());
                                pushers.dispatch(name, b).await;
                            }
                        }
                        if cfg.max_streams > 0
                            && open.as_ref().is_some_and(|b| {
                                b.streams() >= cfg.max_streams && !b.has_stream(&e.labels)
                            })
                        {
                            stream_limited(&cfg, name, &e, &mut limited_logged);
                            continue;
                        }
                        open.get_or_insert_with(Batch::new).add(e);
                    }
                }
                crate::core::entry::recycle(chunk);
            }
            _ = tokio::time::sleep(
                batches.iter().filter_map(|(_, b)| b.as_ref()).map(|b| cfg.batch_wait.saturating_sub(b.age())).min().unwrap_or(
                    // While batches are in flight, look again to release tenants done pushing.
                    if pushers.queues.is_empty() { far } else { cfg.batch_wait.max(Duration::from_millis(100)) }
                )
            ) => {
                for (name, open) in batches.iter_mut() {
                    if open.as_ref().is_some_and(|b| b.age() >= cfg.batch_wait) {
                        if let Some(b) = open.take() {
                            limited_logged.retain(|t| t.as_str() != name.as_str());
                            pushers.dispatch(name, b).await;
                        }
                    }
                }
                // A tenant without an open batch is released (Promtail deletes a tenant's batch
                // once sent); the client's own tenant keeps its first slot.
                let mut first = true;
                batches.retain(|(_, open)| std::mem::take(&mut first) || open.is_some());
                pushers.release_idle();
                let pushing_only = pushers
                    .queues
                    .keys()
                    .filter(|t| !batches.iter().any(|(n, _)| n == *t))
                    .count();
                tenants_gauge.set((batches.len() + pushing_only) as f64);
            }
        }
    }
    // Shutdown: push what is left, unless aborted.
    for (name, open) in batches.iter_mut() {
        if let Some(b) = open.take() {
            pushers.dispatch(name, b).await;
        }
    }
    pushers.finish().await;
}

type Queued = (Encoded, OwnedSemaphorePermit);

/// A tenant's pushing task: its queue, and a signal that fires when the task has ended.
struct TenantQueue {
    tx: mpsc::UnboundedSender<Queued>,
    done: tokio::sync::oneshot::Receiver<()>,
}

/// Starts a tenant's pushing task with its first batch already queued. It pushes its queue's
/// batches in order, one at a time, and ends once the queue is empty, so a tenant seen once holds
/// no task, queue or batch after its last batch is answered. `after` is the previous task of the
/// tenant, still finishing: the new one waits for it, so batches of a tenant are never pushed out
/// of order.
///
/// The first batch is queued before the task is spawned: a task that ran before its first batch
/// arrived would find its queue empty and close it, and the batch would have nowhere to go (on
/// a multi-threaded runtime another worker can run a new task at once).
fn spawn_tenant(
    tasks: &mut tokio::task::JoinSet<()>,
    sender: &Arc<Sender>,
    abort: &CancellationToken,
    tenant: &str,
    after: Option<tokio::sync::oneshot::Receiver<()>>,
    first: Queued,
) -> TenantQueue {
    let (tx, mut rx) = mpsc::unbounded_channel::<Queued>();
    // Cannot fail: the receiver is alive and open until the task below closes it.
    if let Err(e) = tx.send(first) {
        e.0 .0.abandon();
    }
    let (done_tx, done) = tokio::sync::oneshot::channel();
    let (sender, tenant, abort) = (Arc::clone(sender), tenant.to_string(), abort.clone());
    tasks.spawn(async move {
        if let Some(after) = after {
            let _ = after.await;
        }
        loop {
            let next = match rx.try_recv() {
                Ok(m) => Some(m),
                Err(mpsc::error::TryRecvError::Empty) => {
                    // Nothing queued: stop taking batches, then push any that raced in.
                    rx.close();
                    rx.recv().await
                }
                Err(mpsc::error::TryRecvError::Disconnected) => None,
            };
            let Some((encoded, permit)) = next else { break };
            push(&sender, &tenant, encoded, &abort).await;
            drop(permit);
        }
        let _ = done_tx.send(());
    });
    TenantQueue { tx, done }
}

/// The pushing side of a client: a task per tenant with batches in flight (batches of one tenant
/// are pushed in order, one at a time) and the permits that bound the batches in flight.
struct Pushers {
    sender: Arc<Sender>,
    abort: CancellationToken,
    permits: Arc<Semaphore>,
    queues: HashMap<String, TenantQueue>,
    tasks: tokio::task::JoinSet<()>,
    /// Snappy's buffers, reused for every batch of the client.
    compressor: Compressor,
}

impl Pushers {
    /// Encodes a batch and queues it for its tenant's pushing task (started on first use).
    /// Waits only while the client already has `max_inflight_batches` batches in flight. The
    /// queue itself is unbounded, but holds at most that many batches, since each carries a
    /// permit; a queued batch holds only its compressed body.
    async fn dispatch(&mut self, tenant: &str, batch: Batch) {
        if batch.is_empty() {
            return;
        }
        // The semaphore is never closed, so this only fails in theory; the entries then stay
        // unacknowledged (read again after a restart) rather than being counted as delivered.
        let Ok(permit) = Arc::clone(&self.permits).acquire_owned().await else {
            for a in batch.acks() {
                a.abandon();
            }
            return;
        };
        let encoded = batch.encode(&mut self.compressor);
        // Reap tasks that ended (a tenant's task ends whenever its queue empties).
        while self.tasks.try_join_next().is_some() {}
        let mut msg = (encoded, permit);
        if let Some(queue) = self.queues.get(tenant) {
            match queue.tx.send(msg) {
                Ok(()) => return,
                Err(e) => msg = e.0,
            }
        }
        // No task for the tenant, or its task has closed its queue and is ending: a new task
        // starts with the batch queued and waits for the old one first (pushes stay in order).
        let after = self.queues.remove(tenant).map(|old| old.done);
        let queue = spawn_tenant(
            &mut self.tasks,
            &self.sender,
            &self.abort,
            tenant,
            after,
            msg,
        );
        self.queues.insert(tenant.to_string(), queue);
    }

    /// Forgets the queues of tenants whose task has ended and reaps finished tasks.
    fn release_idle(&mut self) {
        while self.tasks.try_join_next().is_some() {}
        self.queues.retain(|_, q| {
            // Kept while it takes batches or is still pushing the last ones.
            let running = matches!(
                q.done.try_recv(),
                Err(tokio::sync::oneshot::error::TryRecvError::Empty)
            );
            !q.tx.is_closed() || running
        });
    }

    /// Closes the queues and waits until every pushing task is done.
    async fn finish(mut self) {
        self.queues.clear();
        while self.tasks.join_next().await.is_some() {}
    }
}

/// The label sets [`prepare`] made, per input set: entries of one stream share them.
#[derive(Default)]
struct PrepareMemo {
    external: LabelMemo,
    untenanted: LabelMemo,
}

/// Applies the client's per-entry steps: external labels under the entry's, the tenant (`None`:
/// the client's `tenant_id`), and the line-size limit. `None` when the entry is dropped (counted).
fn prepare(
    cfg: &ClientConfig,
    memo: &mut PrepareMemo,
    mut e: Entry,
) -> Option<(Option<String>, Entry)> {
    if !cfg.external_labels.is_empty() {
        e.labels = memo.external.get_or(&e.labels, (), |labels| {
            let mut merged = cfg.external_labels.clone();
            for (k, v) in labels.iter() {
                merged.insert(k, v);
            }
            merged
        });
    }
    let tenant = match e.labels.get(TENANT_LABEL) {
        Some(t) if http::HeaderValue::from_str(t).is_err() => {
            // Not sendable as `X-Scope-OrgID`: Promtail's push fails, is retried and the batch is
            // dropped; ferrotail drops the entry at once, counted the same way, rather than
            // pushing it to another tenant.
            let t = t.to_string();
            tracing::warn!(client = %cfg.name, tenant = ?t, "tenant is not a valid X-Scope-OrgID header value; entry dropped");
            metrics::counter!(m::DROPPED_ENTRIES, "host" => cfg.host.clone(), "tenant" => t.clone(), "reason" => "ingester_error").increment(1);
            metrics::counter!(m::DROPPED_BYTES, "host" => cfg.host.clone(), "tenant" => t, "reason" => "ingester_error").increment(e.line.len() as u64);
            return None;
        }
        Some(t) => {
            let t = t.to_string();
            e.labels = memo.untenanted.get_or(&e.labels, (), |labels| {
                let mut l = labels.clone();
                l.remove(TENANT_LABEL);
                l
            });
            Some(t)
        }
        None => None,
    };
    match limits::apply(&mut e.line, cfg.max_line_size, cfg.max_line_size_truncate) {
        limits::LineLimit::Fits => {}
        limits::LineLimit::Truncated(n) => {
            metrics::counter!(m::MUTATED_ENTRIES, "host" => cfg.host.clone(), "tenant" => tenant_name(cfg, &tenant), "reason" => "line_too_long").increment(1);
            metrics::counter!(m::MUTATED_BYTES, "host" => cfg.host.clone(), "tenant" => tenant_name(cfg, &tenant), "reason" => "line_too_long").increment(n as u64);
        }
        limits::LineLimit::Drop => {
            metrics::counter!(m::DROPPED_ENTRIES, "host" => cfg.host.clone(), "tenant" => tenant_name(cfg, &tenant), "reason" => "line_too_long").increment(1);
            metrics::counter!(m::DROPPED_BYTES, "host" => cfg.host.clone(), "tenant" => tenant_name(cfg, &tenant), "reason" => "line_too_long").increment(e.line.len() as u64);
            return None;
        }
    }
    Some((tenant, e))
}

/// `limits_config.max_streams`: an entry of a stream beyond the limit in its batch is dropped
/// (Promtail's client stops and deadlocks here), counted in `promtail_dropped_entries_total` and
/// `promtail_dropped_bytes_total` with reason `stream_limited`, and logged once per batch with
/// Promtail's words.
#[cold]
fn stream_limited(cfg: &ClientConfig, tenant: &str, e: &Entry, logged: &mut Vec<String>) {
    metrics::counter!(m::DROPPED_ENTRIES, "host" => cfg.host.clone(), "tenant" => tenant.to_string(), "reason" => STREAM_LIMITED).increment(1);
    metrics::counter!(m::DROPPED_BYTES, "host" => cfg.host.clone(), "tenant" => tenant.to_string(), "reason" => STREAM_LIMITED).increment(e.line.len() as u64);
    if !logged.iter().any(|t| t == tenant) {
        logged.push(tenant.to_string());
        tracing::error!(
            client = %cfg.name,
            tenant = %tenant,
            error = %format!(
                "streams limit exceeded, streams: {} exceeds limit: {}, stream: '{}'",
                cfg.max_streams,
                cfg.max_streams,
                e.labels.stream_key()
            ),
            "batch add err"
        );
    }
}

/// The drop reason of [`stream_limited`].
pub const STREAM_LIMITED: &str = "stream_limited";

fn tenant_name(cfg: &ClientConfig, tenant: &Option<String>) -> String {
    tenant.clone().unwrap_or_else(|| cfg.tenant_id.clone())
}

async fn push(sender: &Sender, tenant: &str, encoded: Encoded, abort: &CancellationToken) {
    if abort.is_cancelled() {
        // Shutdown gave up: leave these entries unacknowledged so they are read again.
        encoded.abandon();
        return;
    }
    match sender
        .send(tenant, &encoded.body, encoded.entries, abort)
        .await
    {
        Outcome::Sent | Outcome::Dropped(_) => drop(encoded.acks),
        Outcome::Cancelled => encoded.abandon(),
    }
}

/// `-dry-run`: prints entries to stdout in Promtail's format instead of pushing them.
pub async fn run_dry(mut rx: mpsc::Receiver<Vec<Entry>>) {
    use std::io::Write;
    while let Some(chunk) = rx.recv().await {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        for e in chunk {
            let _ = out.write_all(dry_run_line(&e).as_bytes());
        }
        let _ = out.flush();
    }
}

/// One dry-run line: timestamp (`2006-01-02T15:04:05.999999999-0700`, local zone), tab padding
/// as Go's tabwriter pads (none when a cell's width is a multiple of 8), labels, padding, line.
pub fn dry_run_line(e: &Entry) -> String {
    use chrono::TimeZone as _;
    let secs = e.timestamp.div_euclid(1_000_000_000);
    let nanos = e.timestamp.rem_euclid(1_000_000_000) as u32;
    let ts = match chrono::Local.timestamp_opt(secs, nanos) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
            let mut s = t.format("%Y-%m-%dT%H:%M:%S").to_string();
            if nanos != 0 {
                s.push('.');
                s.push_str(format!("{nanos:09}").trim_end_matches('0'));
            }
            s.push_str(&t.format("%z").to_string());
            s
        }
        chrono::LocalResult::None => e.timestamp.to_string(),
    };
    let labels = e.labels.display_string();
    let mut s = String::with_capacity(ts.len() + labels.len() + e.line.len() + 3);
    s.push_str(&ts);
    if ts.chars().count() % 8 != 0 {
        s.push('\t');
    }
    s.push_str(&labels);
    if labels.chars().count() % 8 != 0 {
        s.push('\t');
    }
    s.push_str(&e.line);
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::raw::{RawClient, RawLimits};

    fn raw(tenant: &str) -> RawClient {
        RawClient {
            url: "http://127.0.0.1:3100/loki/api/v1/push".into(),
            tenant_id: tenant.into(),
            ..RawClient::default()
        }
    }

    /// A tenant that cannot be an `X-Scope-OrgID` header is never pushed under another tenant:
    /// `tenant_id` is refused at start-up, and an entry carrying such a `__tenant_id__` is dropped.
    #[test]
    fn a_tenant_that_is_no_header_value_is_refused_or_dropped() {
        let e = ClientConfig::compile(&raw("a\nb"), &RawLimits::default()).unwrap_err();
        assert!(
            e.contains("is not a valid X-Scope-OrgID header value"),
            "{e}"
        );
        let cfg = ClientConfig::compile(&raw("team-a"), &RawLimits::default()).unwrap();
        let mut memo = PrepareMemo::default();
        let entry = |tenant: &str| {
            let labels: Labels = [("job", "x"), (TENANT_LABEL, tenant)].into_iter().collect();
            Entry::new(labels, 0, "line".into())
        };
        assert!(prepare(&cfg, &mut memo, entry("bad\r\ntenant")).is_none());
        let (tenant, e) = prepare(&cfg, &mut memo, entry("team-b")).unwrap();
        assert_eq!(tenant.as_deref(), Some("team-b"));
        assert_eq!(e.labels.get(TENANT_LABEL), None);
    }

    /// Every dispatched batch is pushed, also when the tenant's task has just emptied its queue
    /// and ended (each dispatch here finds it so), on a multi-threaded runtime where a new task
    /// can run before `dispatch` returns. A new task used to be spawned with an empty queue, and
    /// could close it before the batch was sent into it: the batch was then abandoned, never
    /// pushed, and its files' positions stopped there (the shipper benchmark's rare stall).
    #[test]
    fn every_batch_is_pushed_when_the_tenant_task_has_just_ended() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let pushed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let counter = Arc::clone(&pushed);
            let app = axum::Router::new().route(
                "/loki/api/v1/push",
                axum::routing::post(move || {
                    let counter = Arc::clone(&counter);
                    async move {
                        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        axum::http::StatusCode::NO_CONTENT
                    }
                }),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move { axum::serve(listener, app).await });
            let mut raw = raw("");
            raw.url = format!("http://{addr}/loki/api/v1/push");
            let cfg = ClientConfig::compile(&raw, &RawLimits::default()).unwrap();
            let mut pushers = Pushers {
                sender: Arc::new(Sender::new(cfg).unwrap()),
                abort: CancellationToken::new(),
                permits: Arc::new(Semaphore::new(4)),
                queues: HashMap::new(),
                tasks: tokio::task::JoinSet::new(),
                compressor: Compressor::default(),
            };
            let progress = crate::core::Progress::new(0);
            let labels: Labels = [("job", "x")].into_iter().collect();
            const N: u64 = 300;
            for i in 0..N {
                let mut e = Entry::new(labels.clone(), i as i64, format!("line {i}"));
                e.acks.push(progress.register(i + 1));
                let mut batch = Batch::new();
                batch.add(e);
                pushers.dispatch("", batch).await;
                // Wait until the tenant's task has pushed it and closed its queue, so the next
                // dispatch starts a new task: after `release_idle` (no previous task) on even
                // rounds, chained after the ending one on odd rounds.
                let deadline = std::time::Instant::now() + Duration::from_secs(20);
                while progress.committed() < i + 1 {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "batch {i} was not pushed: committed {}",
                        progress.committed()
                    );
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                while pushers.queues.get("").is_some_and(|q| !q.tx.is_closed()) {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                if i % 2 == 0 {
                    pushers.release_idle();
                }
            }
            pushers.finish().await;
            assert_eq!(progress.committed(), N);
            assert_eq!(pushed.load(std::sync::atomic::Ordering::SeqCst), N as usize);
        });
    }
}
