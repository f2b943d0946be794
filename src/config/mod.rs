//! Loading `promtail-config.yml`.
//!
//! **Invariant:** loading config never starts a task, binds a port or opens a socket.
//!
//! Two kinds of failure, as in Promtail: a [`ConfigError::Parse`] (YAML, unknown keys, types,
//! relabel rules, job names), which Promtail prints as `Unable to parse config: ...`, and a
//! [`ConfigError::Startup`] (no client, bad URL, bad stage, unsupported target kind, ...), which
//! Promtail only finds when it starts. ferrotail runs both for `-check-syntax` too.

pub mod env;
pub mod raw;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::relabel::{is_valid_label_name, Relabeler};
use gocompat::units::GoDuration;
use gocompat::yaml::{self, Node};
use raw::{RawClient, RawConfig, RawScrapeConfig};

/// Why a config could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file does not exist or cannot be read.
    #[error("{0}")]
    Read(String),
    /// The file's YAML or schema is wrong (Promtail's `Unable to parse config`).
    #[error("{file}: {msg}")]
    Parse {
        /// The config file.
        file: String,
        /// What is wrong, with lines.
        msg: String,
    },
    /// The config parses but cannot run (Promtail's `error creating promtail`).
    #[error("{0}")]
    Startup(String),
}

/// A compiled config.
#[derive(Debug)]
pub struct Config {
    /// The file it was read from.
    pub file: Option<PathBuf>,
    /// The YAML tree (after env expansion), kept for printing and reload comparison.
    pub text: String,
    /// The decoded raw config.
    pub raw: RawConfig,
    /// The YAML tree.
    pub root: Node,
}

/// Command-line overrides that Promtail applies on top of the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `-server.http-listen-address`.
    pub listen_address: Option<String>,
    /// `-server.http-listen-port`.
    pub listen_port: Option<u16>,
    /// `-log.level`.
    pub log_level: Option<String>,
    /// `-log.format`.
    pub log_format: Option<String>,
    /// `-client.url` (appended as a client with the flag defaults).
    pub client_url: Option<String>,
    /// `-client.tenant-id`.
    pub client_tenant_id: Option<String>,
    /// `-client.batch-wait`.
    pub client_batch_wait: Option<Duration>,
    /// `-client.batch-size-bytes`.
    pub client_batch_size: Option<u64>,
    /// `-client.external-labels` (`k=v,k2=v2`, merged into every client; the file wins).
    pub client_external_labels: Vec<(String, String)>,
    /// `-positions.file`.
    pub positions_file: Option<String>,
    /// `-server.enable-runtime-reload`.
    pub enable_runtime_reload: Option<bool>,
    /// `-client.max-retries` (the flag client).
    pub client_max_retries: Option<u32>,
    /// `-client.min-backoff` (the flag client).
    pub client_min_backoff: Option<Duration>,
    /// `-client.max-backoff` (the flag client).
    pub client_max_backoff: Option<Duration>,
    /// `-client.timeout` (the flag client).
    pub client_timeout: Option<Duration>,
    /// `-client.drop-rate-limited-batches` (the flag client).
    pub client_drop_rate_limited_batches: Option<bool>,
    /// `-positions.sync-period`.
    pub positions_sync_period: Option<Duration>,
    /// `-positions.ignore-invalid-yaml`.
    pub positions_ignore_invalid_yaml: Option<bool>,
    /// `-target.sync-period`.
    pub target_sync_period: Option<Duration>,
    /// `-server.graceful-shutdown-timeout`.
    pub graceful_shutdown_timeout: Option<Duration>,
    /// `-server.path-prefix`.
    pub path_prefix: Option<String>,
    /// `-server.http-read-timeout`, `-server.http-read-header-timeout`,
    /// `-server.http-write-timeout`, `-server.http-idle-timeout`.
    pub http_timeouts: [Option<Duration>; 4],
    /// `-server.http-conn-limit`.
    pub http_conn_limit: Option<u32>,
    /// `-server.http-listen-network`.
    pub http_listen_network: Option<String>,
    /// `-server.disable`.
    pub server_disable: Option<bool>,
    /// `-server.http-tls-cert-path`, `-server.http-tls-key-path`, `-server.http-tls-client-auth`,
    /// `-server.http-tls-ca-path`.
    pub http_tls: [Option<String>; 4],
    /// `-stdin` (also `target_config.stdin`).
    pub stdin: Option<bool>,
    /// `-server.tls-min-version`.
    pub tls_min_version: Option<String>,
    /// `-server.tls-cipher-suites` (refused when set).
    pub tls_cipher_suites: Option<String>,
    /// `-server.proxy-protocol-enabled` (refused when true).
    pub proxy_protocol_enabled: Option<bool>,
    /// `-server.register-instrumentation`.
    pub register_instrumentation: Option<bool>,
    /// `-file-watch.min_poll_frequency`.
    pub min_poll_frequency: Option<Duration>,
    /// `-file-watch.max_poll_frequency`.
    pub max_poll_frequency: Option<Duration>,
    /// `-limit.readline-rate`.
    pub readline_rate: Option<f64>,
    /// `-limit.readline-burst`.
    pub readline_burst: Option<i64>,
    /// `-limit.readline-rate-enabled`.
    pub readline_rate_enabled: Option<bool>,
    /// `-limit.readline-rate-drop`.
    pub readline_rate_drop: Option<bool>,
    /// `-max-streams`.
    pub max_streams: Option<i64>,
    /// `-max-line-size`.
    pub max_line_size: Option<u64>,
    /// `-max-line-size-truncate`.
    pub max_line_size_truncate: Option<bool>,
}

/// What kind of target a job reads, decided as Promtail decides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// `static_configs`, `file_sd_configs` or `kubernetes_sd_configs` (Promtail's
    /// `HasServiceDiscoveryConfig`).
    File,
    /// `journal` (and no static or file SD config).
    Journal,
    /// `loki_push_api`: Loki push requests received on the job's own HTTP server.
    PushApi,
    /// `gelf`: GELF messages received over UDP.
    Gelf,
    /// `syslog` (after `journal` in Promtail's dispatch order).
    Syslog,
    /// `docker_sd_configs` only.
    Docker,
}

impl Config {
    /// Reads `path` (the first existing of a comma-separated list), expands the environment when
    /// asked, and decodes it.
    pub fn load(path: &str, expand_env: bool) -> Result<Config, ConfigError> {
        let chosen = path
            .split(',')
            .map(str::trim)
            .find(|p| Path::new(p).exists())
            .ok_or_else(|| {
                ConfigError::Read(format!(
                    "{path} does not exist, set config.file for custom config path"
                ))
            })?;
        let text = std::fs::read_to_string(chosen).map_err(|e| ConfigError::Parse {
            file: chosen.to_string(),
            msg: e.to_string(),
        })?;
        Self::from_text(&text, Some(PathBuf::from(chosen)), expand_env)
    }

    /// Decodes config text.
    pub fn from_text(
        text: &str,
        file: Option<PathBuf>,
        expand_env: bool,
    ) -> Result<Config, ConfigError> {
        let name = file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let parse_err = |msg: String| ConfigError::Parse {
            file: name.clone(),
            msg,
        };
        let text = if expand_env {
            env::expand(text, |k| std::env::var(k).ok()).map_err(parse_err)?
        } else {
            text.to_string()
        };
        let (raw, root) =
            yaml::from_str::<RawConfig>(&text).map_err(|e| parse_err(e.to_string()))?;
        validate_parse(&raw).map_err(parse_err)?;
        Ok(Config {
            file,
            text,
            raw,
            root,
        })
    }

    /// Applies command-line overrides (flags win over the file, as in Promtail).
    pub fn apply_overrides(&mut self, o: &Overrides) -> Result<(), ConfigError> {
        let s = &mut self.raw.server;
        if let Some(a) = &o.listen_address {
            s.http_listen_address = a.clone();
        }
        if let Some(p) = o.listen_port {
            s.http_listen_port = p;
        }
        if let Some(l) = &o.log_level {
            s.log_level = l.clone();
        }
        if let Some(f) = &o.log_format {
            s.log_format = f.clone();
        }
        if let Some(r) = o.enable_runtime_reload {
            s.enable_runtime_reload = r;
        }
        if let Some(p) = &o.positions_file {
            self.raw.positions.filename = p.clone();
        }
        if let Some(d) = o.positions_sync_period {
            self.raw.positions.sync_period = GoDuration(d);
        }
        if let Some(b) = o.positions_ignore_invalid_yaml {
            self.raw.positions.ignore_invalid_yaml = b;
        }
        if let Some(d) = o.target_sync_period {
            self.raw.target_config.sync_period = GoDuration(d);
        }
        let s = &mut self.raw.server;
        if let Some(d) = o.graceful_shutdown_timeout {
            s.graceful_shutdown_timeout = GoDuration(d);
        }
        if let Some(p) = &o.path_prefix {
            s.http_path_prefix = p.clone();
        }
        let [read, read_header, write, idle] = o.http_timeouts;
        for (value, field) in [
            (read, &mut s.http_server_read_timeout),
            (read_header, &mut s.http_server_read_header_timeout),
            (write, &mut s.http_server_write_timeout),
            (idle, &mut s.http_server_idle_timeout),
        ] {
            if let Some(d) = value {
                *field = GoDuration(d);
            }
        }
        if let Some(n) = o.http_conn_limit {
            s.http_listen_conn_limit = n;
        }
        if let Some(n) = &o.http_listen_network {
            s.http_listen_network = n.clone();
        }
        if let Some(b) = o.server_disable {
            s.disable = b;
        }
        let [cert, key, auth, ca] = o.http_tls.clone();
        let t = &mut s.http_tls_config;
        for (value, field) in [
            (cert, &mut t.cert_file),
            (key, &mut t.key_file),
            (auth, &mut t.client_auth_type),
            (ca, &mut t.client_ca_file),
        ] {
            if let Some(v) = value {
                *field = v;
            }
        }
        if let Some(v) = &o.tls_min_version {
            s.tls_min_version = v.clone();
        }
        if let Some(v) = &o.tls_cipher_suites {
            s.tls_cipher_suites = v.clone();
        }
        if let Some(b) = o.proxy_protocol_enabled {
            s.proxy_protocol_enabled = b;
        }
        if let Some(b) = o.stdin {
            self.raw.target_config.stdin = b;
        }
        if let Some(b) = o.register_instrumentation {
            s.register_instrumentation = b;
        }
        let fw = &mut self.raw.global.file_watch_config;
        if let Some(d) = o.min_poll_frequency {
            fw.min_poll_frequency = GoDuration(d);
        }
        if let Some(d) = o.max_poll_frequency {
            fw.max_poll_frequency = GoDuration(d);
        }
        let l = &mut self.raw.limits_config;
        if let Some(r) = o.readline_rate {
            l.readline_rate = r;
        }
        if let Some(b) = o.readline_burst {
            l.readline_burst = b;
        }
        if let Some(b) = o.readline_rate_enabled {
            l.readline_rate_enabled = b;
        }
        if let Some(b) = o.readline_rate_drop {
            l.readline_rate_drop = b;
        }
        if let Some(n) = o.max_streams {
            l.max_streams = n;
        }
        if let Some(n) = o.max_line_size {
            l.max_line_size = gocompat::units::ByteSize(n);
        }
        if let Some(b) = o.max_line_size_truncate {
            l.max_line_size_truncate = b;
        }
        // The deprecated single `client` block, filled by `-client.*` flags.
        let mut single = self.raw.client.clone();
        if o.client_url.is_some()
            || o.client_tenant_id.is_some()
            || o.client_batch_wait.is_some()
            || o.client_batch_size.is_some()
            || o.client_max_retries.is_some()
            || o.client_min_backoff.is_some()
            || o.client_max_backoff.is_some()
            || o.client_timeout.is_some()
            || o.client_drop_rate_limited_batches.is_some()
        {
            let c = single.get_or_insert_with(|| RawClient {
                follow_redirects: false,
                ..RawClient::default()
            });
            if let Some(u) = &o.client_url {
                c.url = u.clone();
            }
            if let Some(t) = &o.client_tenant_id {
                c.tenant_id = t.clone();
            }
            if let Some(w) = o.client_batch_wait {
                c.batchwait = GoDuration(w);
            }
            if let Some(b) = o.client_batch_size {
                c.batchsize = b;
            }
            if let Some(n) = o.client_max_retries {
                c.backoff_config.max_retries = n;
            }
            if let Some(d) = o.client_min_backoff {
                c.backoff_config.min_period = GoDuration(d);
            }
            if let Some(d) = o.client_max_backoff {
                c.backoff_config.max_period = GoDuration(d);
            }
            if let Some(d) = o.client_timeout {
                c.timeout = GoDuration(d);
            }
            if let Some(b) = o.client_drop_rate_limited_batches {
                c.drop_rate_limited_batches = b;
            }
        }
        if let Some(c) = single {
            if !c.url.is_empty() {
                tracing::warn!("use of CLI client.* and config file Client block are both deprecated in favour of the config file Clients block and will be removed in a future release");
                self.raw.clients.push(c);
            }
        }
        for (k, v) in &o.client_external_labels {
            if !is_valid_label_name(k) {
                return Err(ConfigError::Startup(format!(
                    "invalid label name in -client.external-labels: {k:?}"
                )));
            }
            for c in &mut self.raw.clients {
                c.external_labels
                    .entry(k.clone())
                    .or_insert_with(|| v.clone());
            }
        }
        Ok(())
    }
}

/// The keys Promtail accepts that ferrotail accepts too but does nothing with, because they
/// cannot change what reaches Loki or who can read ferrotail's endpoints (gRPC, request
/// logging, profiling, tracing): one warning each, naming the key, for every one the config
/// sets. (Keys that could change either are implemented or refused with `not supported`.)
pub fn ignored_key_warnings(raw: &RawConfig) -> Vec<String> {
    let s = &raw.server;
    let mut keys: Vec<&str> = Vec::new();
    let server: [(&str, bool); 28] = [
        ("grpc_listen_port", s.grpc_listen_port.is_some()),
        ("grpc_listen_address", s.grpc_listen_address.is_some()),
        ("grpc_listen_network", s.grpc_listen_network.is_some()),
        ("grpc_listen_conn_limit", s.grpc_listen_conn_limit.is_some()),
        (
            "grpc_server_max_recv_msg_size",
            s.grpc_server_max_recv_msg_size.is_some(),
        ),
        (
            "grpc_server_max_send_msg_size",
            s.grpc_server_max_send_msg_size.is_some(),
        ),
        (
            "grpc_server_max_concurrent_streams",
            s.grpc_server_max_concurrent_streams.is_some(),
        ),
        (
            "grpc_server_max_connection_idle",
            s.grpc_server_max_connection_idle.is_some(),
        ),
        (
            "grpc_server_max_connection_age",
            s.grpc_server_max_connection_age.is_some(),
        ),
        (
            "grpc_server_max_connection_age_grace",
            s.grpc_server_max_connection_age_grace.is_some(),
        ),
        (
            "grpc_server_keepalive_time",
            s.grpc_server_keepalive_time.is_some(),
        ),
        (
            "grpc_server_keepalive_timeout",
            s.grpc_server_keepalive_timeout.is_some(),
        ),
        (
            "grpc_server_min_time_between_pings",
            s.grpc_server_min_time_between_pings.is_some(),
        ),
        (
            "grpc_server_ping_without_stream_allowed",
            s.grpc_server_ping_without_stream_allowed.is_some(),
        ),
        (
            "grpc_server_num_workers",
            s.grpc_server_num_workers.is_some(),
        ),
        (
            "grpc_server_stats_tracking_enabled",
            s.grpc_server_stats_tracking_enabled.is_some(),
        ),
        (
            "grpc_server_recv_buffer_pools_enabled",
            s.grpc_server_recv_buffer_pools_enabled.is_some(),
        ),
        ("grpc_tls_config", s.grpc_tls_config.is_some()),
        (
            "report_grpc_codes_in_instrumentation_label_enabled",
            s.report_grpc_codes_in_instrumentation_label_enabled
                .is_some(),
        ),
        (
            "http_log_closed_connections_without_response_enabled",
            s.http_log_closed_connections_without_response_enabled
                .is_some(),
        ),
        ("log_source_ips_enabled", s.log_source_ips_enabled.is_some()),
        ("log_source_ips_full", s.log_source_ips_full.is_some()),
        ("log_source_ips_header", s.log_source_ips_header.is_some()),
        ("log_source_ips_regex", s.log_source_ips_regex.is_some()),
        ("log_request_headers", s.log_request_headers.is_some()),
        (
            "log_request_at_info_level_enabled",
            s.log_request_at_info_level_enabled.is_some(),
        ),
        (
            "log_request_exclude_headers_list",
            s.log_request_exclude_headers_list.is_some(),
        ),
        ("profiling_enabled", s.profiling_enabled),
    ];
    for (k, set) in server {
        if set {
            keys.push(k);
        }
    }
    let mut out: Vec<String> = keys
        .into_iter()
        .map(|k| format!("server.{k} is accepted and has no effect in ferrotail (no gRPC server, request logging or profiling endpoints)"))
        .collect();
    for job in &raw.scrape_configs {
        if let Some(p) = &job.loki_push_api {
            for k in p.ignored_server_keys() {
                out.push(format!(
                    "job {:?}: loki_push_api.server.{k} is accepted and has no effect in ferrotail (its push server honours http_listen_address, http_listen_port and http_server_read_timeout)",
                    job.job_name
                ));
            }
        }
    }
    for (k, set) in [
        ("enabled", raw.tracing.enabled.is_some()),
        ("profiling_enabled", raw.tracing.profiling_enabled.is_some()),
    ] {
        if set {
            out.push(format!(
                "tracing.{k} is accepted and has no effect in ferrotail (no tracing)"
            ));
        }
    }
    out
}

/// The target kind of a job, in Promtail's order (first match wins): any static, file or Kubernetes
/// SD config makes it a file job (even with docker SD beside it), then `journal`, `syslog`,
/// `loki_push_api`, `gelf`, and `docker_sd_configs`. (Promtail's other kinds, between them in its
/// order, are refused earlier as unsupported.)
pub fn job_kind(job: &RawScrapeConfig) -> Option<JobKind> {
    if !job.static_configs.is_empty()
        || !job.file_sd_configs.is_empty()
        || !job.kubernetes_sd_configs.is_empty()
    {
        Some(JobKind::File)
    } else if job.journal.is_some() {
        Some(JobKind::Journal)
    } else if job.syslog.is_some() {
        Some(JobKind::Syslog)
    } else if job.loki_push_api.is_some() {
        Some(JobKind::PushApi)
    } else if job.gelf.is_some() {
        Some(JobKind::Gelf)
    } else if !job.docker_sd_configs.is_empty() {
        Some(JobKind::Docker)
    } else {
        None
    }
}

/// A client's name: its `name`, or a short hash of its config as Promtail derives it.
pub fn client_name(c: &RawClient) -> String {
    if !c.name.is_empty() {
        return c.name.clone();
    }
    use md5::{Digest, Md5};
    let digest = Md5::digest(format!("{c:?}").as_bytes());
    digest.iter().take(3).map(|b| format!("{b:02x}")).collect()
}

/// Checks Promtail makes while parsing.
fn validate_parse(raw: &RawConfig) -> Result<(), String> {
    let mut names = BTreeMap::new();
    for job in &raw.scrape_configs {
        if job.job_name.is_empty() {
            return Err("job_name is empty".into());
        }
        if names.insert(job.job_name.clone(), ()).is_some() {
            return Err(format!(
                "found multiple scrape configs with job name {:?}",
                job.job_name
            ));
        }
        Relabeler::compile(&job.relabel_configs)
            .map_err(|e| format!("job {:?}: {e}", job.job_name))?;
        for sc in &job.static_configs {
            for k in sc.labels.keys() {
                if !is_valid_label_name(k) {
                    return Err(format!(
                        "job {:?}: static_configs: {k:?} is not a valid label name",
                        job.job_name
                    ));
                }
            }
        }
        job.kubernetes_configs()
            .map_err(|e| format!("job {:?}: {e}", job.job_name))?;
        for (i, d) in job.docker_sd_configs.iter().enumerate() {
            let host = d.0.get("host").and_then(|h| h.scalar_text()).unwrap_or("");
            if host.is_empty() {
                return Err(format!(
                    "job {:?}: docker_sd_configs[{i}]: host missing",
                    job.job_name
                ));
            }
        }
    }
    Ok(())
}

/// The config with secrets shown as `<secret>` and URL passwords as `********`, as Promtail
/// prints them (`-print-config-stderr`, `-log-config-reverse-order`).
///
/// The YAML tree (after `-config.expand-env`) is written back out as block YAML, so a secret is
/// found whatever its style: flow mappings (`basic_auth: {username: u, password: p}`), block
/// scalars (a PEM `key: |`), quoted or multi-line values, anchors and merge keys. Like Promtail's
/// own output, comments are not kept. Secrets are the values of prometheus/common's `Secret`
/// fields: `password`, `bearer_token`, `credentials`, `client_secret`, a `tls_config`'s `key`,
/// `http_headers` `secrets` and `proxy_connect_header` values; ferrotail also hides the values of
/// `Authorization` and `Proxy-Authorization` in `headers`. Paths (`password_file`, `key_file`,
/// ...) and public certificates (`ca`, `cert`) are shown.
pub fn redacted_text(config: &Config) -> String {
    let redacted = redact_node(&config.root, None, false);
    let mut out = String::new();
    match &redacted.kind {
        yaml::NodeKind::Map(entries) if !entries.is_empty() => emit_map(entries, 0, &mut out),
        yaml::NodeKind::Seq(items) if !items.is_empty() => emit_seq(items, 0, &mut out),
        _ => {
            out.push_str(&scalar_repr(&redacted));
            out.push('\n');
        }
    }
    out
}

const SECRET_SHOWN: &str = "<secret>";

fn secret_node(n: &Node) -> Node {
    Node {
        kind: yaml::NodeKind::Scalar {
            text: SECRET_SHOWN.into(),
            plain: true,
        },
        line: n.line,
        col: n.col,
    }
}

/// Whether the value under `key` (inside the mapping under `parent`) is a secret.
fn is_secret_key(key: &str, parent: Option<&str>) -> bool {
    match key {
        "password" | "bearer_token" | "credentials" | "client_secret" => true,
        "key" => parent.is_some_and(|p| p.ends_with("tls_config")),
        _ => {
            parent == Some("headers")
                && (key.eq_ignore_ascii_case("authorization")
                    || key.eq_ignore_ascii_case("proxy-authorization"))
        }
    }
}

/// A copy of `n` with secrets replaced; `all` replaces every non-empty scalar below.
fn redact_node(n: &Node, parent: Option<&str>, all: bool) -> Node {
    use yaml::NodeKind;
    let kind = match &n.kind {
        NodeKind::Scalar { text, .. } => {
            if all && !n.is_null() {
                return secret_node(n);
            }
            match redact_url_password(text) {
                Some(t) => NodeKind::Scalar {
                    text: t,
                    plain: false,
                },
                None => n.kind.clone(),
            }
        }
        NodeKind::Seq(items) => {
            NodeKind::Seq(items.iter().map(|i| redact_node(i, parent, all)).collect())
        }
        NodeKind::Map(entries) => NodeKind::Map(
            entries
                .iter()
                .map(|(k, v)| {
                    let key = k.scalar_text().unwrap_or("");
                    let value = if v.is_null() {
                        v.clone()
                    } else if all || is_secret_key(key, parent) {
                        match &v.kind {
                            NodeKind::Scalar { .. } => secret_node(v),
                            _ => redact_node(v, Some(key), true),
                        }
                    } else {
                        let all_below = key == "secrets" || key == "proxy_connect_header";
                        redact_node(v, Some(key), all_below)
                    };
                    (redact_node(k, parent, false), value)
                })
                .collect(),
        ),
    };
    Node {
        kind,
        line: n.line,
        col: n.col,
    }
}

/// `scheme://user:password@host/...` with the password shown as `********`.
fn redact_url_password(text: &str) -> Option<String> {
    if !text.contains("://") || !text.contains('@') {
        return None;
    }
    let mut url = reqwest::Url::parse(text).ok()?;
    url.password()?;
    url.set_password(Some("********")).ok()?;
    Some(url.to_string())
}

/// A scalar as YAML: plain when it was plain and stays unambiguous, else double-quoted.
fn scalar_repr(n: &Node) -> String {
    let (text, plain) = match &n.kind {
        yaml::NodeKind::Scalar { text, plain } => (text.as_str(), *plain),
        // Complex keys are rare; show them in flow style.
        _ => return serde_json::to_string(&format!("{n:?}")).unwrap_or_default(),
    };
    let safe_plain = plain
        && (text.is_empty()
            || (!text.contains('\n')
                && text.trim() == text
                && !text.contains(": ")
                && !text.contains(" #")
                && !text.ends_with(':')
                && !text.starts_with([
                    '-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'',
                    '"', '%', '@', '`',
                ])));
    if safe_plain {
        text.to_string()
    } else {
        serde_json::to_string(text).unwrap_or_default()
    }
}

fn emit_value(v: &Node, indent: usize, out: &mut String) {
    match &v.kind {
        yaml::NodeKind::Map(e) if !e.is_empty() => {
            out.push('\n');
            emit_map(e, indent + 2, out);
        }
        yaml::NodeKind::Seq(i) if !i.is_empty() => {
            out.push('\n');
            emit_seq(i, indent + 2, out);
        }
        yaml::NodeKind::Map(_) => out.push_str(" {}\n"),
        yaml::NodeKind::Seq(_) => out.push_str(" []\n"),
        yaml::NodeKind::Scalar { .. } => {
            let r = scalar_repr(v);
            if !r.is_empty() {
                out.push(' ');
                out.push_str(&r);
            }
            out.push('\n');
        }
    }
}

fn emit_map(entries: &[(Node, Node)], indent: usize, out: &mut String) {
    for (k, v) in entries {
        out.push_str(&" ".repeat(indent));
        out.push_str(&scalar_repr(k));
        out.push(':');
        emit_value(v, indent, out);
    }
}

fn emit_seq(items: &[Node], indent: usize, out: &mut String) {
    for item in items {
        let mut nested = String::new();
        match &item.kind {
            yaml::NodeKind::Map(e) if !e.is_empty() => emit_map(e, indent + 2, &mut nested),
            yaml::NodeKind::Seq(i) if !i.is_empty() => emit_seq(i, indent + 2, &mut nested),
            _ => {
                out.push_str(&" ".repeat(indent));
                out.push('-');
                emit_value(item, indent, out);
                continue;
            }
        }
        // The first line of the nested block goes on the dash's line.
        out.push_str(&" ".repeat(indent));
        out.push_str("- ");
        out.push_str(&nested[indent + 2..]);
    }
}

/// A URL with its password shown as `********`, as Promtail shows it.
pub fn redact_url(url: &str) -> String {
    redact_url_password(url).unwrap_or_else(|| url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Flags win over the file (dskit's order: defaults, file, then the flags set), and the
    /// `-client.*` flags build the flag client beside the file's clients.
    #[test]
    fn flags_override_the_file() {
        let mut c = Config::from_text(
            "positions:\n  filename: /tmp/p.yaml\n  sync_period: 10s\ntarget_config:\n  sync_period: 10s\nclients:\n  - url: http://a/\n",
            None,
            false,
        )
        .unwrap();
        let o = Overrides {
            positions_sync_period: Some(Duration::from_secs(1)),
            target_sync_period: Some(Duration::from_secs(2)),
            client_url: Some("http://b/".into()),
            client_max_retries: Some(4),
            client_timeout: Some(Duration::from_secs(3)),
            max_line_size: Some(2048),
            ..Overrides::default()
        };
        c.apply_overrides(&o).unwrap();
        assert_eq!(c.raw.positions.sync_period.0, Duration::from_secs(1));
        assert_eq!(c.raw.target_config.sync_period.0, Duration::from_secs(2));
        assert_eq!(c.raw.limits_config.max_line_size.0, 2048);
        assert_eq!(c.raw.clients.len(), 2);
        assert_eq!(
            c.raw.clients[0].backoff_config.max_retries, 10,
            "file client untouched"
        );
        assert_eq!(c.raw.clients[1].url, "http://b/");
        assert_eq!(c.raw.clients[1].backoff_config.max_retries, 4);
        assert_eq!(c.raw.clients[1].timeout.0, Duration::from_secs(3));
    }

    #[test]
    fn defaults_and_null_blocks() {
        let c = Config::from_text("clients:\n  - url: http://x/\n", None, false).unwrap();
        assert_eq!(c.raw.server.http_listen_port, 80);
        assert_eq!(c.raw.positions.filename, "/var/log/positions.yaml");
        let c =
            Config::from_text("positions:\nclients:\n  - url: http://x/\n", None, false).unwrap();
        assert_eq!(c.raw.positions.filename, "");
    }

    #[test]
    fn parse_errors_name_key_and_line() {
        let cases = [
            (
                "foo: bar\n",
                "line 1: field foo not found in type config.plain",
            ),
            (
                "clients:\n  - url: x\n    stream_lag_labels: a\n",
                "line 3: field stream_lag_labels not found in type client.raw",
            ),
            (
                "options:\n  stream_lag_labels: a\n",
                "field stream_lag_labels not found in type config.Options",
            ),
            (
                "clients:\n  - url: x\n    batchwait: 1d\n",
                "cannot unmarshal !!str `1d` into time.Duration",
            ),
            (
                "scrape_configs:\n  - job_name: a\n  - job_name: a\n",
                "found multiple scrape configs with job name \"a\"",
            ),
            ("server: {}\nserver: {}\n", "already set"),
        ];
        for (text, want) in cases {
            let e = Config::from_text(text, Some("c.yml".into()), false)
                .err()
                .unwrap()
                .to_string();
            assert!(e.contains(want), "{text:?}: got {e}");
        }
    }

    #[test]
    fn redaction_hides_every_secret_style() {
        let text = [
            "server:",
            "  http_listen_port: 9080",
            "  http_tls_config:",
            "    cert_file: /srv.crt",
            "    key: 'srv-key-secret'",
            "clients:",
            "  - url: https://user:url-pass-secret@loki.example/loki/api/v1/push",
            "    basic_auth: {username: alice, password: flow-pass-secret}",
            "    headers:",
            "      Authorization: Bearer hdr-secret",
            "      X-Team: ops",
            "    tls_config:",
            "      ca: pub-ca",
            "      cert: pub-cert",
            "      key: |",
            "        -----BEGIN PRIVATE KEY-----",
            "        MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
            "        -----END PRIVATE KEY-----",
            "      key_file: /etc/k.pem",
            "      server_name: loki.example",
            "  - url: http://b/loki/api/v1/push",
            "    bearer_token: \"quoted-bearer-secret\"",
            "  - url: http://c/loki/api/v1/push",
            "    authorization:",
            "      type: Bearer",
            "      credentials: >-",
            "        folded",
            "        cred-secret",
            "  - url: http://d/loki/api/v1/push",
            "    basic_auth:",
            "      username: bob",
            "      password_file: /run/secrets/pw",
            "  - url: http://e/loki/api/v1/push",
            "    oauth2: {client_id: id, client_secret: oauth-secret, token_url: 'http://t/'}",
            "    http_headers:",
            "      X-Key:",
            "        secrets: [hh-secret-1, hh-secret-2]",
            "    proxy_connect_header:",
            "      Proxy-Auth: [pch-secret]",
            "scrape_configs:",
            "  - job_name: j",
            "    pipeline_stages:",
            "      - json:",
            "          expressions:",
            "            key: k",
            "    static_configs:",
            "      - targets: [localhost]",
            "        labels: {__path__: /x, password_hint: none}",
        ]
        .join("\n");
        let c = Config::from_text(&text, None, false).unwrap();
        let out = redacted_text(&c);
        for secret in [
            "srv-key-secret",
            "url-pass-secret",
            "flow-pass-secret",
            "hdr-secret",
            "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
            "PRIVATE KEY",
            "quoted-bearer-secret",
            "cred-secret",
            "oauth-secret",
            "hh-secret",
            "pch-secret",
        ] {
            assert!(!out.contains(secret), "{secret} shown in:\n{out}");
        }
        for shown in [
            "username: alice",
            "password_file: /run/secrets/pw",
            "key_file: /etc/k.pem",
            "ca: pub-ca",
            "cert: pub-cert",
            "server_name: loki.example",
            "X-Team: ops",
            "key: k",
            "password_hint: none",
            "client_id: id",
            "\"https://user:********@loki.example/loki/api/v1/push\"",
            "password: <secret>",
            "bearer_token: <secret>",
            "credentials: <secret>",
            "client_secret: <secret>",
            "key: <secret>",
            "Authorization: <secret>",
        ] {
            assert!(out.contains(shown), "{shown} missing in:\n{out}");
        }
        // The output is YAML that loads again with the same shape.
        let again = Config::from_text(&out, None, false).unwrap_or_else(|e| panic!("{e}\n{out}"));
        assert_eq!(again.raw.clients.len(), 5);
        assert_eq!(again.raw.scrape_configs[0].job_name, "j");
        assert_eq!(again.raw.clients[0].tls_config.server_name, "loki.example");
    }

    #[test]
    fn redaction_keeps_plain_configs_readable() {
        let text = "server:\n  http_listen_port: 9080\n# a comment\npositions:\n  filename: /tmp/p.yaml\nclients:\n  - url: http://loki:3100/loki/api/v1/push\n    external_labels: {host: \"yes\", empty: ''}\nscrape_configs:\n  - job_name: a\n    static_configs:\n      - targets:\n          - localhost\n        labels:\n          __path__: \"/var/log/*.log\"\n          weird: \": # x\"\n";
        let c = Config::from_text(text, None, false).unwrap();
        let out = redacted_text(&c);
        assert!(!out.contains("<secret>"), "{out}");
        let again = Config::from_text(&out, None, false).unwrap_or_else(|e| panic!("{e}\n{out}"));
        let labels = &again.raw.scrape_configs[0].static_configs[0].labels;
        assert_eq!(labels["__path__"], "/var/log/*.log");
        assert_eq!(labels["weird"], ": # x");
        assert_eq!(again.raw.clients[0].external_labels["host"], "yes");
        assert_eq!(again.raw.clients[0].external_labels["empty"], "");
        assert!(
            out.contains("url: http://loki:3100/loki/api/v1/push"),
            "{out}"
        );
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// Arbitrary text never panics the loader: it is a config or a clear error.
        #[test]
        fn arbitrary_text_never_panics(text in ".{0,200}") {
            let _ = Config::from_text(&text, Some("p.yml".into()), false);
        }

        /// YAML-shaped input with random keys and scalars never panics either, and every
        /// unknown key is reported with a line.
        #[test]
        fn yaml_shaped_input_never_panics(
            keys in prop::collection::vec("[a-z_]{1,12}", 1..6),
            values in prop::collection::vec(prop::sample::select(vec!["1", "yes", "~", "''", "[a, b]", "{x: 1}", "1d", "0755", "-", "\"s\""]), 6),
        ) {
            let mut text = String::new();
            for (i, k) in keys.iter().enumerate() {
                text.push_str(&format!("{k}: {}\n", values[i % values.len()]));
            }
            if let Err(ConfigError::Parse { msg, .. }) = Config::from_text(&text, None, false) {
                prop_assert!(!msg.is_empty());
            }
        }
    }
}
