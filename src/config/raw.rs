//! serde mirror of `promtail-config.yml`. Data only: defaults and names, no validation.
#![allow(missing_docs)] // Fields mirror the YAML keys one for one; the keys are the documentation.
//!
//! Each struct's serde name is the Go type name Promtail reports in strict-decoding errors
//! (`field foo not found in type config.plain`), so ferrotail's messages read like Promtail's.
//! Keys Promtail accepts but ferrotail has no use for (gRPC settings, ...) are accepted and ignored;
//! keys for features ferrotail does not implement are captured so that loading can refuse them
//! with `not supported: <key>`.

pub use crate::relabel::RawRelabel;
pub use httpconfig::{Authorization, BasicAuth, HttpClientConfig, HttpHeader, OAuth2, TlsConfig};
use std::collections::BTreeMap;
use std::time::Duration;

use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};

use super::yaml::RawNode;
use gocompat::units::{ByteSize, GoDuration};

/// `Option<IgnoredAny>`: a key accepted for compatibility and otherwise ignored.
pub type Ignored = Option<IgnoredAny>;

fn go(d: Duration) -> GoDuration {
    GoDuration(d)
}

/// Top level.
#[derive(Debug, Default, Deserialize)]
#[serde(rename = "config.plain", default)]
pub struct RawConfig {
    pub global: RawGlobal,
    #[serde(deserialize_with = "null_zeroes")]
    pub server: RawServer,
    pub client: Option<RawClient>,
    pub clients: Vec<RawClient>,
    #[serde(deserialize_with = "null_zeroes")]
    pub positions: RawPositions,
    pub scrape_configs: Vec<RawScrapeConfig>,
    pub target_config: RawTargetConfig,
    pub limits_config: RawLimits,
    pub options: RawOptions,
    pub tracing: RawTracing,
    pub wal: Option<RawNode>,
}

/// A struct that yaml.v2 sets to its zero value when the YAML block is null (`positions:` with
/// nothing under it), wiping the defaults.
pub trait Zeroable {
    /// The Go zero value.
    fn zero() -> Self;
}

fn null_zeroes<'de, D: Deserializer<'de>, T: Deserialize<'de> + Zeroable>(
    d: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_else(T::zero))
}

/// `global`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename = "config.GlobalConfig", default)]
pub struct RawGlobal {
    pub file_watch_config: RawFileWatch,
}

/// `global.file_watch_config`.
#[derive(Debug, Deserialize)]
#[serde(rename = "file.WatchConfig", default)]
pub struct RawFileWatch {
    pub min_poll_frequency: GoDuration,
    pub max_poll_frequency: GoDuration,
}

impl Default for RawFileWatch {
    fn default() -> Self {
        RawFileWatch {
            min_poll_frequency: go(Duration::from_millis(250)),
            max_poll_frequency: go(Duration::from_millis(250)),
        }
    }
}

/// `server` (Promtail's keys plus dskit's).
#[derive(Debug, Deserialize)]
#[serde(rename = "server.Config", default)]
pub struct RawServer {
    pub http_listen_port: u16,
    pub http_listen_address: String,
    pub http_listen_network: String,
    pub http_listen_conn_limit: u32,
    pub grpc_listen_port: Ignored,
    pub grpc_listen_address: Ignored,
    pub grpc_listen_network: Ignored,
    pub grpc_listen_conn_limit: Ignored,
    pub register_instrumentation: bool,
    pub log_level: String,
    pub log_format: String,
    pub http_path_prefix: String,
    pub external_url: String,
    pub health_check_target: Option<bool>,
    pub disable: bool,
    pub profiling_enabled: bool,
    pub enable_runtime_reload: bool,
    pub graceful_shutdown_timeout: GoDuration,
    pub http_server_read_timeout: GoDuration,
    pub http_server_read_header_timeout: GoDuration,
    pub http_server_write_timeout: GoDuration,
    pub http_server_idle_timeout: GoDuration,
    pub grpc_server_max_recv_msg_size: Ignored,
    pub grpc_server_max_send_msg_size: Ignored,
    pub grpc_server_max_concurrent_streams: Ignored,
    pub grpc_server_max_connection_idle: Ignored,
    pub grpc_server_max_connection_age: Ignored,
    pub grpc_server_max_connection_age_grace: Ignored,
    pub grpc_server_keepalive_time: Ignored,
    pub grpc_server_keepalive_timeout: Ignored,
    pub grpc_server_min_time_between_pings: Ignored,
    pub grpc_server_ping_without_stream_allowed: Ignored,
    pub grpc_server_num_workers: Ignored,
    pub grpc_server_stats_tracking_enabled: Ignored,
    pub grpc_server_recv_buffer_pools_enabled: Ignored,
    pub http_tls_config: RawServerTls,
    pub grpc_tls_config: Ignored,
    pub tls_cipher_suites: String,
    pub tls_min_version: String,
    pub proxy_protocol_enabled: bool,
    pub report_grpc_codes_in_instrumentation_label_enabled: Ignored,
    pub http_log_closed_connections_without_response_enabled: Ignored,
    pub log_source_ips_enabled: Ignored,
    pub log_source_ips_full: Ignored,
    pub log_source_ips_header: Ignored,
    pub log_source_ips_regex: Ignored,
    pub log_request_headers: Ignored,
    pub log_request_at_info_level_enabled: Ignored,
    pub log_request_exclude_headers_list: Ignored,
}

/// `server.http_tls_config` (dskit's `server.TLSConfig`).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename = "server.TLSConfig", default)]
pub struct RawServerTls {
    pub cert: String,
    pub key: String,
    pub client_ca: String,
    pub cert_file: String,
    pub key_file: String,
    pub client_auth_type: String,
    pub client_ca_file: String,
}

impl Default for RawServer {
    fn default() -> Self {
        RawServer {
            http_listen_port: 80,
            http_listen_address: String::new(),
            http_listen_network: "tcp".into(),
            http_listen_conn_limit: 0,
            grpc_listen_port: None,
            grpc_listen_address: None,
            grpc_listen_network: None,
            grpc_listen_conn_limit: None,
            register_instrumentation: true,
            log_level: "info".into(),
            log_format: "logfmt".into(),
            http_path_prefix: String::new(),
            external_url: String::new(),
            health_check_target: None,
            disable: false,
            profiling_enabled: false,
            enable_runtime_reload: false,
            graceful_shutdown_timeout: go(Duration::from_secs(30)),
            http_server_read_timeout: go(Duration::from_secs(30)),
            http_server_read_header_timeout: go(Duration::ZERO),
            http_server_write_timeout: go(Duration::from_secs(30)),
            http_server_idle_timeout: go(Duration::from_secs(120)),
            grpc_server_max_recv_msg_size: None,
            grpc_server_max_send_msg_size: None,
            grpc_server_max_concurrent_streams: None,
            grpc_server_max_connection_idle: None,
            grpc_server_max_connection_age: None,
            grpc_server_max_connection_age_grace: None,
            grpc_server_keepalive_time: None,
            grpc_server_keepalive_timeout: None,
            grpc_server_min_time_between_pings: None,
            grpc_server_ping_without_stream_allowed: None,
            grpc_server_num_workers: None,
            grpc_server_stats_tracking_enabled: None,
            grpc_server_recv_buffer_pools_enabled: None,
            http_tls_config: RawServerTls::default(),
            grpc_tls_config: None,
            tls_cipher_suites: String::new(),
            tls_min_version: String::new(),
            proxy_protocol_enabled: false,
            report_grpc_codes_in_instrumentation_label_enabled: None,
            http_log_closed_connections_without_response_enabled: None,
            log_source_ips_enabled: None,
            log_source_ips_full: None,
            log_source_ips_header: None,
            log_source_ips_regex: None,
            log_request_headers: None,
            log_request_at_info_level_enabled: None,
            log_request_exclude_headers_list: None,
        }
    }
}

impl Zeroable for RawServer {
    fn zero() -> Self {
        RawServer {
            http_listen_port: 0,
            register_instrumentation: false,
            log_level: String::new(),
            log_format: String::new(),
            http_listen_network: String::new(),
            graceful_shutdown_timeout: GoDuration::default(),
            http_server_read_timeout: GoDuration::default(),
            http_server_write_timeout: GoDuration::default(),
            http_server_idle_timeout: GoDuration::default(),
            ..RawServer::default()
        }
    }
}

/// Default of `clients[].max_inflight_batches`.
pub const DEFAULT_MAX_INFLIGHT_BATCHES: u32 = 3;

/// `clients[]` and the deprecated `client`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename = "client.raw", default)]
pub struct RawClient {
    pub url: String,
    pub name: String,
    pub batchwait: GoDuration,
    pub batchsize: u64,
    pub timeout: GoDuration,
    pub tenant_id: String,
    pub headers: BTreeMap<String, String>,
    pub backoff_config: RawBackoff,
    pub drop_rate_limited_batches: bool,
    pub external_labels: BTreeMap<String, String>,
    pub basic_auth: Option<BasicAuth>,
    pub authorization: Option<Authorization>,
    pub oauth2: Option<OAuth2>,
    pub bearer_token: String,
    pub bearer_token_file: String,
    pub tls_config: TlsConfig,
    pub proxy_url: String,
    pub no_proxy: String,
    pub proxy_from_environment: bool,
    pub proxy_connect_header: Option<BTreeMap<String, Vec<String>>>,
    pub follow_redirects: bool,
    pub enable_http2: bool,
    pub http_headers: Option<BTreeMap<String, HttpHeader>>,
    /// ferrotail only (Promtail rejects it): batches this client holds queued or being pushed,
    /// over all tenants, before it stops taking entries (and, once its small input channel is
    /// full, reading pauses for every client).
    pub max_inflight_batches: u32,
}

impl RawClient {
    /// The HTTP client settings.
    pub fn http(&self) -> HttpClientConfig<'_> {
        HttpClientConfig {
            basic_auth: self.basic_auth.as_ref(),
            authorization: self.authorization.as_ref(),
            oauth2: self.oauth2.as_ref(),
            bearer_token: &self.bearer_token,
            bearer_token_file: &self.bearer_token_file,
            tls_config: &self.tls_config,
            proxy_url: &self.proxy_url,
            no_proxy: &self.no_proxy,
            proxy_from_environment: self.proxy_from_environment,
            proxy_connect_header: self.proxy_connect_header.as_ref(),
            http_headers: self.http_headers.as_ref(),
        }
    }
}

impl Default for RawClient {
    fn default() -> Self {
        RawClient {
            url: String::new(),
            name: String::new(),
            batchwait: go(Duration::from_secs(1)),
            batchsize: 1024 * 1024,
            timeout: go(Duration::from_secs(10)),
            tenant_id: String::new(),
            headers: BTreeMap::new(),
            backoff_config: RawBackoff::default(),
            drop_rate_limited_batches: false,
            external_labels: BTreeMap::new(),
            basic_auth: None,
            authorization: None,
            oauth2: None,
            bearer_token: String::new(),
            bearer_token_file: String::new(),
            tls_config: TlsConfig::default(),
            proxy_url: String::new(),
            no_proxy: String::new(),
            proxy_from_environment: false,
            proxy_connect_header: None,
            follow_redirects: true,
            enable_http2: true,
            http_headers: None,
            max_inflight_batches: DEFAULT_MAX_INFLIGHT_BATCHES,
        }
    }
}

/// `backoff_config`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename = "backoff.Config", default)]
pub struct RawBackoff {
    pub min_period: GoDuration,
    pub max_period: GoDuration,
    pub max_retries: u32,
}

impl Default for RawBackoff {
    fn default() -> Self {
        RawBackoff {
            min_period: go(Duration::from_millis(500)),
            max_period: go(Duration::from_secs(300)),
            max_retries: 10,
        }
    }
}

/// `positions`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename = "positions.Config", default)]
pub struct RawPositions {
    pub filename: String,
    pub sync_period: GoDuration,
    pub ignore_invalid_yaml: bool,
}

impl Default for RawPositions {
    fn default() -> Self {
        RawPositions {
            filename: "/var/log/positions.yaml".into(),
            sync_period: go(Duration::from_secs(10)),
            ignore_invalid_yaml: false,
        }
    }
}

impl Zeroable for RawPositions {
    fn zero() -> Self {
        RawPositions {
            filename: String::new(),
            sync_period: GoDuration::default(),
            ignore_invalid_yaml: false,
        }
    }
}

/// `target_config`.
#[derive(Debug, Deserialize)]
#[serde(rename = "file.Config", default)]
pub struct RawTargetConfig {
    pub sync_period: GoDuration,
    pub stdin: bool,
}

impl Default for RawTargetConfig {
    fn default() -> Self {
        RawTargetConfig {
            sync_period: go(Duration::from_secs(10)),
            stdin: false,
        }
    }
}

/// `limits_config`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename = "limit.Config", default)]
pub struct RawLimits {
    pub readline_rate: f64,
    pub readline_burst: i64,
    pub readline_rate_enabled: bool,
    pub readline_rate_drop: bool,
    pub max_streams: i64,
    pub max_line_size: ByteSize,
    pub max_line_size_truncate: bool,
}

impl Default for RawLimits {
    fn default() -> Self {
        RawLimits {
            readline_rate: 10000.0,
            readline_burst: 10000,
            readline_rate_enabled: false,
            readline_rate_drop: true,
            max_streams: 0,
            max_line_size: ByteSize(0),
            max_line_size_truncate: false,
        }
    }
}

/// `options`: an empty struct in Promtail 3.4.6, so any key under it is an error.
#[derive(Debug, Default, Deserialize)]
#[serde(rename = "config.Options", default)]
pub struct RawOptions {}

/// `tracing`: accepted; ferrotail does not export traces.
#[derive(Debug, Default, Deserialize)]
#[serde(rename = "tracing.Config", default)]
pub struct RawTracing {
    pub enabled: Option<bool>,
    pub profiling_enabled: Option<bool>,
}

/// `scrape_configs[]`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename = "scrapeconfig.Config", default)]
pub struct RawScrapeConfig {
    pub job_name: String,
    pub pipeline_stages: Option<RawNode>,
    pub relabel_configs: Vec<RawRelabel>,
    pub encoding: String,
    pub decompression: Option<RawNode>,
    pub static_configs: Vec<RawStaticConfig>,
    pub file_sd_configs: Vec<RawFileSd>,
    pub docker_sd_configs: Vec<RawNode>,
    pub kubernetes_sd_configs: Vec<RawNode>,
    pub consul_sd_configs: Option<RawNode>,
    pub consulagent_sd_configs: Option<RawNode>,
    pub dns_sd_configs: Option<RawNode>,
    pub digitalocean_sd_configs: Option<RawNode>,
    pub dockerswarm_sd_configs: Option<RawNode>,
    pub serverset_sd_configs: Option<RawNode>,
    pub nerve_sd_configs: Option<RawNode>,
    pub marathon_sd_configs: Option<RawNode>,
    pub gce_sd_configs: Option<RawNode>,
    pub openstack_sd_configs: Option<RawNode>,
    pub azure_sd_configs: Option<RawNode>,
    pub triton_sd_configs: Option<RawNode>,
    pub journal: Option<RawJournal>,
    pub syslog: Option<RawSyslog>,
    pub gcplog: Option<RawNode>,
    pub loki_push_api: Option<RawPushApi>,
    pub windows_events: Option<RawNode>,
    pub kafka: Option<RawNode>,
    pub azure_event_hubs: Option<RawNode>,
    pub gelf: Option<RawGelf>,
    pub cloudflare: Option<RawNode>,
    pub heroku_drain: Option<RawNode>,
}

impl RawScrapeConfig {
    /// Target kinds present in this job that ferrotail does not implement.
    pub fn unsupported_keys(&self) -> Vec<&'static str> {
        let mut keys = Vec::new();
        let pairs: [(&'static str, bool); 19] = [
            ("consul_sd_configs", self.consul_sd_configs.is_some()),
            (
                "consulagent_sd_configs",
                self.consulagent_sd_configs.is_some(),
            ),
            ("dns_sd_configs", self.dns_sd_configs.is_some()),
            (
                "digitalocean_sd_configs",
                self.digitalocean_sd_configs.is_some(),
            ),
            (
                "dockerswarm_sd_configs",
                self.dockerswarm_sd_configs.is_some(),
            ),
            ("serverset_sd_configs", self.serverset_sd_configs.is_some()),
            ("nerve_sd_configs", self.nerve_sd_configs.is_some()),
            ("marathon_sd_configs", self.marathon_sd_configs.is_some()),
            ("gce_sd_configs", self.gce_sd_configs.is_some()),
            ("openstack_sd_configs", self.openstack_sd_configs.is_some()),
            ("azure_sd_configs", self.azure_sd_configs.is_some()),
            ("triton_sd_configs", self.triton_sd_configs.is_some()),
            ("gcplog", self.gcplog.is_some()),
            ("windows_events", self.windows_events.is_some()),
            ("kafka", self.kafka.is_some()),
            ("azure_event_hubs", self.azure_event_hubs.is_some()),
            ("cloudflare", self.cloudflare.is_some()),
            ("heroku_drain", self.heroku_drain.is_some()),
            (
                "decompression",
                self.decompression.as_ref().is_some_and(|n| {
                    n.0.get("enabled").and_then(|e| e.scalar_text()) == Some("true")
                }),
            ),
        ];
        for (k, present) in pairs {
            if present {
                keys.push(k);
            }
        }
        keys
    }

    /// The `kubernetes_sd_configs` entries, decoded and validated with Prometheus' rules and
    /// messages (`role missing (one of: ...)`, `cannot use 'kubeconfig_file' and 'api_server'
    /// simultaneously`, ...). Relative file paths are left as written.
    pub fn kubernetes_configs(&self) -> Result<Vec<kubesd::SdConfig>, String> {
        self.kubernetes_sd_configs
            .iter()
            .enumerate()
            .map(|(i, node)| {
                gocompat::yaml::from_node::<kubesd::SdConfig>(&node.0, gocompat::yaml::Mode::Config)
                    .map(|d| d.value)
                    .map_err(|e| format!("kubernetes_sd_configs[{i}]: {e}"))
            })
            .collect()
    }
}

/// `journal` (Promtail's `scrapeconfig.JournalTargetConfig`): read the systemd journal.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename = "scrapeconfig.JournalTargetConfig", default)]
pub struct RawJournal {
    /// `max_age`: oldest entry read when there is no (recent enough) saved cursor; a Go duration,
    /// default `7h` when empty.
    pub max_age: String,
    /// `json`: the line is the whole entry as a JSON object instead of `MESSAGE`.
    pub json: bool,
    /// `labels`: constant labels of every entry.
    pub labels: BTreeMap<String, String>,
    /// `path`: the journal directory (default: the system journal in `/var/log/journal` and
    /// `/run/log/journal`).
    pub path: String,
    /// `matches`: space-separated `FIELD=value` terms.
    pub matches: String,
}

/// `loki_push_api`: a job that receives Loki push requests on its own HTTP server
/// (Promtail's `PushTargetConfig`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename = "scrapeconfig.PushTargetConfig", default)]
pub struct RawPushApi {
    /// The job's own server, with the same keys as the top-level `server` block (decoded by
    /// [`RawPushApi::server_config`]).
    pub server: Option<RawNode>,
    pub labels: BTreeMap<String, String>,
    pub use_incoming_timestamp: bool,
}

impl RawPushApi {
    /// The keys written in the job's `server` block, with their values, in document order.
    fn server_keys(&self) -> Vec<(&str, &gocompat::yaml::Node)> {
        match self.server.as_ref().map(|n| &n.0.kind) {
            Some(gocompat::yaml::NodeKind::Map(entries)) => entries
                .iter()
                .filter_map(|(k, v)| Some((k.scalar_text()?, v)))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The first key of the job's `server` block that ferrotail's push server cannot honour and
    /// that would change who can push or what reaches Loki (TLS, a path prefix, another network,
    /// a connection limit, the PROXY protocol): refused rather than ignored.
    pub fn refused_server_key(&self) -> Option<String> {
        use gocompat::yaml::Resolved;
        self.server_keys().into_iter().find_map(|(k, v)| {
            let set = match v.resolve() {
                None => true,
                Some(Resolved::Null) => false,
                Some(Resolved::Bool(b)) => b,
                Some(Resolved::Int(i)) => i != 0,
                Some(Resolved::Float(f)) => f != 0.0,
                Some(Resolved::Str(t)) => !t.is_empty(),
            };
            let refused = match k {
                "http_tls_config" | "tls_cipher_suites" | "tls_min_version" => {
                    v.resolve().is_none() || set
                }
                "http_path_prefix" | "http_listen_conn_limit" | "proxy_protocol_enabled" => set,
                "http_listen_network" => set && v.scalar_text() != Some("tcp"),
                _ => false,
            };
            refused.then(|| format!("loki_push_api.server.{k}"))
        })
    }

    /// The keys of the job's `server` block that have no effect on ferrotail's push server
    /// (gRPC, logging, profiling, the other timeouts): each is warned about once.
    pub fn ignored_server_keys(&self) -> Vec<String> {
        const HONOURED: [&str; 4] = [
            "http_listen_address",
            "http_listen_port",
            "http_server_read_timeout",
            "http_listen_network",
        ];
        let refused = self.refused_server_key();
        self.server_keys()
            .into_iter()
            .map(|(k, _)| k)
            .filter(|k| !HONOURED.contains(k))
            .filter(|k| refused.as_deref() != Some(&format!("loki_push_api.server.{k}")))
            .filter(|k| {
                !matches!(
                    *k,
                    "http_tls_config"
                        | "tls_cipher_suites"
                        | "tls_min_version"
                        | "http_path_prefix"
                        | "http_listen_conn_limit"
                        | "proxy_protocol_enabled"
                )
            })
            .map(str::to_string)
            .collect()
    }

    /// The job's server block merged with the defaults of the top-level `server` block, as
    /// Promtail merges it (`serverutils.MergeWithDefaults`): keys left out (or zero) take the
    /// defaults, except `http_listen_port`, which stays 0 (a random port) when left out.
    pub fn server_config(&self) -> Result<RawServer, String> {
        let Some(node) = &self.server else {
            return Ok(RawServer {
                http_listen_port: 0,
                ..RawServer::default()
            });
        };
        if node.0.is_null() {
            return Ok(RawServer {
                http_listen_port: 0,
                ..RawServer::default()
            });
        }
        let mut s = gocompat::yaml::from_node::<RawServer>(&node.0, gocompat::yaml::Mode::Config)
            .map_err(|e| format!("loki_push_api.server: {e}"))?
            .value;
        let port_given = node.0.get("http_listen_port").is_some();
        if !port_given {
            s.http_listen_port = 0;
        }
        let d = RawServer::default();
        let zero_to_default = |v: &mut GoDuration, d: GoDuration| {
            if v.0.is_zero() {
                *v = d;
            }
        };
        zero_to_default(&mut s.http_server_read_timeout, d.http_server_read_timeout);
        zero_to_default(
            &mut s.http_server_write_timeout,
            d.http_server_write_timeout,
        );
        zero_to_default(&mut s.http_server_idle_timeout, d.http_server_idle_timeout);
        zero_to_default(
            &mut s.graceful_shutdown_timeout,
            d.graceful_shutdown_timeout,
        );
        Ok(s)
    }
}

/// `gelf`: a job that receives GELF messages over UDP (Promtail's `GelfTargetConfig`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename = "scrapeconfig.GelfTargetConfig", default)]
pub struct RawGelf {
    /// `host:port`; empty means `0.0.0.0:12201`.
    pub listen_address: String,
    pub labels: BTreeMap<String, String>,
    pub use_incoming_timestamp: bool,
}

/// `syslog` (Promtail's `SyslogTargetConfig`): a TCP or UDP syslog receiver.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename = "scrapeconfig.SyslogTargetConfig", default)]
pub struct RawSyslog {
    pub listen_address: String,
    /// `tcp` (the default when empty) or `udp`.
    pub listen_protocol: String,
    /// 0 means Promtail's default, 120s.
    pub idle_timeout: GoDuration,
    pub label_structured_data: bool,
    pub labels: BTreeMap<String, String>,
    pub use_incoming_timestamp: bool,
    pub use_rfc5424_message: bool,
    /// `rfc3164`, else RFC 5424 (Promtail treats every other value as RFC 5424).
    pub syslog_format: String,
    /// 0 means Promtail's default, 8192.
    pub max_message_length: i64,
    /// Only `cert_file`, `key_file` and `ca_file` are used, as in Promtail.
    pub tls_config: TlsConfig,
    /// ferrotail only (Promtail refuses this key): open TCP connections at most; further ones
    /// are closed at once and counted. 0 means the default, 1024.
    pub max_connections: u32,
}

/// `static_configs[]`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename = "struct { Targets []string; Labels model.LabelSet }", default)]
pub struct RawStaticConfig {
    pub targets: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

/// `file_sd_configs[]`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename = "file.SDConfig", default)]
pub struct RawFileSd {
    pub files: Vec<String>,
    pub refresh_interval: Option<gocompat::units::PromDuration>,
}
