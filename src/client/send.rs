//! Pushing an encoded batch: HTTP, retries with backoff, and Promtail's status handling.
//! Never touches files; the batch's delivery tokens are released by the caller.

use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use tokio_util::sync::CancellationToken;

use super::ClientConfig;
use crate::core::backoff::Backoff;
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
    /// The URL requests go to (the configured URL, or with `tls_config.server_name` as its host).
    push_url: String,
    /// The `Host` header when the URL was rewritten for `tls_config.server_name`.
    host_header: Option<HeaderValue>,
}

/// How `tls_config.server_name` (Go's `tls.Config.ServerName`) is honoured: requests go to a URL
/// whose host is the server name, so rustls sends it as SNI and verifies the certificate against
/// it, while the DNS resolver maps that name to the configured URL's host and the `Host` header
/// keeps the configured authority. Connections therefore reach the configured host, as in Go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerNameRoute {
    /// The name to verify the server certificate against.
    pub server_name: String,
    /// The configured URL's host, resolved when connecting (IPv6 without brackets).
    pub connect_host: String,
    /// The configured URL with `server_name` as its host.
    pub url: String,
    /// The configured URL's authority (`host[:port]`), sent as `Host`.
    pub authority: String,
}

/// The [`ServerNameRoute`] of a client, `None` when no rewrite is needed (no `server_name`, a
/// plain `http` URL, or a URL whose host already is the server name).
pub fn server_name_route(cfg: &ClientConfig) -> Result<Option<ServerNameRoute>, String> {
    let name = cfg.tls.server_name.trim();
    if name.is_empty() {
        return Ok(None);
    }
    let url = reqwest::Url::parse(&cfg.url).map_err(|e| format!("client url: {e}"))?;
    if url.scheme() != "https" {
        return Ok(None);
    }
    if name.parse::<std::net::IpAddr>().is_ok() {
        return Err(format!(
            "tls_config.server_name {name:?}: an IP address is not supported as server_name; use it as the URL's host instead"
        ));
    }
    let connect_host = url
        .host_str()
        .ok_or("client url has no host")?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    if connect_host.eq_ignore_ascii_case(name) {
        return Ok(None);
    }
    let authority = match url.port() {
        Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_string(),
    };
    let mut rewritten = url.clone();
    rewritten
        .set_host(Some(name))
        .map_err(|e| format!("tls_config.server_name {name:?}: {e}"))?;
    Ok(Some(ServerNameRoute {
        server_name: name.to_ascii_lowercase(),
        connect_host,
        url: rewritten.to_string(),
        authority,
    }))
}

/// Resolves the server name of a [`ServerNameRoute`] to the configured host's addresses, and any
/// other name (a proxy) as usual.
struct ServerNameResolver {
    server_name: String,
    connect_host: String,
}

impl reqwest::dns::Resolve for ServerNameResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = if name.as_str().eq_ignore_ascii_case(&self.server_name) {
            self.connect_host.clone()
        } else {
            name.as_str().to_string()
        };
        Box::pin(async move {
            let addrs: Vec<std::net::SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Builds the reqwest client: HTTP/1.1 only (as Promtail forces), rustls, TLS and auth options.
///
/// TLS comes from [`httpconfig::TlsConfig::rustls`] (a configured CA replaces the system
/// roots, as in Go); `server_name` is the name the certificate is verified against and sent as
/// SNI.
pub fn build_http(cfg: &ClientConfig) -> Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder()
        .http1_only()
        .timeout(cfg.timeout)
        .pool_idle_timeout(Duration::from_secs(300))
        .no_gzip_compat();
    if !cfg.follow_redirects {
        b = b.redirect(reqwest::redirect::Policy::none());
    }
    let uses_proxy = !cfg.proxy_url.is_empty() || cfg.proxy_from_environment;
    if !uses_proxy {
        b = b.no_proxy();
    } else if !cfg.proxy_url.is_empty() {
        let mut p = reqwest::Proxy::all(&cfg.proxy_url).map_err(|e| format!("proxy_url: {e}"))?;
        if !cfg.no_proxy.is_empty() {
            p = p.no_proxy(reqwest::NoProxy::from_string(&cfg.no_proxy));
        }
        if !cfg.proxy_connect_header.is_empty() {
            let mut headers = reqwest::header::HeaderMap::new();
            for (k, v) in &cfg.proxy_connect_header {
                headers.append(k.clone(), v.clone());
            }
            p = p.headers(headers);
        }
        b = b.proxy(p);
    }
    // The one TLS implementation of every HTTP client (`httpconfig::TlsConfig::rustls`).
    b = b.use_preconfigured_tls(cfg.tls.rustls()?);
    if let Some(route) = server_name_route(cfg)? {
        if uses_proxy {
            tracing::warn!(component = "client", server_name = %route.server_name, "tls_config.server_name with a proxy: the proxy is asked to connect to the server name");
        }
        b = b.dns_resolver(std::sync::Arc::new(ServerNameResolver {
            server_name: route.server_name,
            connect_host: route.connect_host,
        }));
    }
    b.build().map_err(|e| format!("building HTTP client: {e}"))
}

/// An error with its sources (`reqwest` hides the cause, such as a certificate problem, in them).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(cause) = src {
        let c = cause.to_string();
        if !s.contains(&c) {
            s.push_str(": ");
            s.push_str(&c);
        }
        src = cause.source();
    }
    s
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
        let route = server_name_route(&cfg)?;
        let (push_url, host_header) = match route {
            Some(r) => (
                r.url,
                Some(
                    HeaderValue::from_str(&r.authority)
                        .map_err(|e| format!("client url host: {e}"))?,
                ),
            ),
            None => (cfg.url.clone(), None),
        };
        Ok(Sender {
            http: build_http(&cfg)?,
            cfg,
            push_url,
            host_header,
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
        // `http_headers` add every value (Go's `Header.Add`), but never to a header set above.
        let taken: Vec<HeaderName> = h.keys().cloned().collect();
        for (name, value) in &self.cfg.http_headers {
            if !taken.contains(name) {
                h.append(name.clone(), value.clone());
            }
        }
        if let Some(host) = &self.host_header {
            h.insert(reqwest::header::HOST, host.clone());
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
        body: &bytes::Bytes,
        entries: usize,
        cancel: &CancellationToken,
    ) -> Outcome {
        let host = self.cfg.host.as_str();
        metrics::counter!(m::ENCODED_BYTES, "host" => host.to_string())
            .increment(body.len() as u64);
        let max_retries = self.cfg.backoff.max_retries;
        let mut attempt: u32 = 0;
        let mut backoff =
            Backoff::jittered(self.cfg.backoff.min_period, self.cfg.backoff.max_period);
        // The last failed attempt's status and error, logged when retries run out.
        let (last_status, last_err);
        loop {
            attempt += 1;
            let start = Instant::now();
            // The request races `cancel` too: a Loki that never answers must not hold a shutdown
            // past its timeout (the batch is then abandoned, so its lines are read again).
            let request = self
                .http
                .post(&self.push_url)
                .headers(self.headers(tenant))
                .body(body.clone())
                .send();
            let result = tokio::select! {
                r = request => r,
                _ = cancel.cancelled() => return Outcome::Cancelled,
            };
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
                    let text = tokio::select! {
                        t = resp.text() => t.unwrap_or_default(),
                        _ = cancel.cancelled() => return Outcome::Cancelled,
                    };
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
                Err(mut e) => {
                    // Go's HTTP client shows a URL's password as `***` in its errors.
                    if let Some(u) = e.url_mut() {
                        if u.password().is_some() {
                            let _ = u.set_password(Some("***"));
                        }
                    }
                    (-1, error_chain(&e))
                }
            };
            metrics::histogram!(m::REQUEST_DURATION, "status_code" => status.to_string(), "host" => host.to_string())
                .record(start.elapsed().as_secs_f64());
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
                last_status = status;
                last_err = err_text;
                break;
            }
            tracing::warn!(component = "client", host, status, tenant, error = %err_text, "error sending batch, will retry");
            let sleep = backoff.next_delay();
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                _ = cancel.cancelled() => return Outcome::Cancelled,
            }
        }
        let reason = if last_status == 429 {
            "rate_limited"
        } else {
            "ingester_error"
        };
        self.count_drop(
            tenant,
            reason,
            body.len(),
            entries,
            last_status,
            &format!("{last_err} (after {attempt} attempts)"),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::raw::{RawClient, RawLimits};

    fn cfg(url: &str, server_name: &str) -> ClientConfig {
        let mut raw = RawClient {
            url: url.into(),
            ..RawClient::default()
        };
        raw.tls_config.server_name = server_name.into();
        ClientConfig::compile(&raw, &RawLimits::default()).unwrap()
    }

    #[test]
    fn server_name_routes() {
        let r = server_name_route(&cfg("https://10.0.0.5:3100/loki/api/v1/push", "Loki.Test"))
            .unwrap()
            .unwrap();
        assert_eq!(
            r,
            ServerNameRoute {
                server_name: "loki.test".into(),
                connect_host: "10.0.0.5".into(),
                url: "https://loki.test:3100/loki/api/v1/push".into(),
                authority: "10.0.0.5:3100".into(),
            }
        );
        let r = server_name_route(&cfg("https://user:pw@[::1]/push", "loki.test"))
            .unwrap()
            .unwrap();
        assert_eq!(r.connect_host, "::1");
        assert_eq!(r.authority, "[::1]");
        assert_eq!(r.url, "https://user:pw@loki.test/push");
        // Nothing to do: no name, plain HTTP, or the URL already names the server.
        for (url, name) in [
            ("https://10.0.0.5/push", ""),
            ("http://10.0.0.5/push", "loki.test"),
            ("https://loki.test/push", "LOKI.test"),
        ] {
            assert_eq!(server_name_route(&cfg(url, name)).unwrap(), None, "{url}");
        }
        // An IP as server_name is refused at start-up with a clear message.
        let mut raw = RawClient {
            url: "https://loki/push".into(),
            ..RawClient::default()
        };
        raw.tls_config.server_name = "10.1.2.3".into();
        let e = ClientConfig::compile(&raw, &RawLimits::default()).unwrap_err();
        assert!(e.contains("server_name \"10.1.2.3\""), "{e}");
    }

    #[test]
    fn error_chain_shows_causes_once() {
        #[derive(Debug)]
        struct E(&'static str, Option<Box<E>>);
        impl std::fmt::Display for E {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.0)
            }
        }
        impl std::error::Error for E {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                self.1.as_deref().map(|e| e as _)
            }
        }
        let e = E(
            "error sending request",
            Some(Box::new(E(
                "client error (Connect)",
                Some(Box::new(E("invalid peer certificate: UnknownIssuer", None))),
            ))),
        );
        assert_eq!(
            error_chain(&e),
            "error sending request: client error (Connect): invalid peer certificate: UnknownIssuer"
        );
    }
}
