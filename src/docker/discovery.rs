//! `docker_sd_configs`: the config of one entry, the connection to the Docker daemon, and the
//! discovery loop that reports containers with Promtail's `__meta_docker_*` labels.
//!
//! Promtail discovers Docker containers with Prometheus' moby discovery: every `refresh_interval`
//! it lists the *running* containers (with the configured `filters`) and the networks, and builds
//! one label set per (container, network, TCP port). Promtail then keeps only the first label set
//! per container. [`container_meta`] builds that first label set exactly (container id, name with
//! its leading `/`, network mode, sanitised container labels, network id/name/scope/internal/
//! ingress/labels/ip, port labels and `__address__`, with `match_first_network` and host
//! networking), so relabel rules written for Promtail work unchanged.
//!
//! [`run`] goes further than Promtail where Promtail loses data or goes stale:
//!
//! * it also subscribes to Docker events (`start`, `die`, `destroy`, `rename`, `update`), so a new
//!   container is reported at once, and a container that starts and exits between two refreshes
//!   is still reported (with `running: false`);
//! * label sets follow renames and label changes, a stopped container is reported as stopped (so
//!   its reader can finish the log and release it), and a destroyed one as [`DockerEvent::Removed`];
//! * the daemon restarting or its socket vanishing never ends discovery: it reconnects with
//!   backoff, replaying the events it missed, and every wait races the cancellation token.
//!
//! Everything the Docker API answers is treated as input: missing fields are skipped, never
//! unwrapped.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bollard::errors::Error as DockerError;
use bollard::models::{
    ContainerInspectResponse, ContainerSummary, EventMessage, Network, PortSummaryTypeEnum,
};
use bollard::query_parameters::{EventsOptions, ListContainersOptions};
use bollard::{BollardRequest, Docker, API_DEFAULT_VERSION};
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::core::Labels;
pub use httpconfig::{Authorization, BasicAuth, HttpClientConfig, HttpHeader, OAuth2, TlsConfig};

const META_PREFIX: &str = "__meta_docker_";

// ------------------------------------------------------------------------------------------------
// Config
// ------------------------------------------------------------------------------------------------

pub use gocompat::units::{parse_prom_duration, PromDuration};

/// One `filters` entry: a Docker container-list filter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename = "moby.Filter", deny_unknown_fields, default)]
pub struct DockerFilter {
    /// Filter name (`name`, `label`, `id`, `network`, ...).
    pub name: String,
    /// Values; several values of one name are OR-ed by Docker.
    pub values: Vec<String>,
}

/// One `docker_sd_configs` entry, with every key Promtail 3.4 accepts (Prometheus'
/// `moby.DockerSDConfig` with its inline HTTP client config) and the same defaults.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename = "moby.plain", deny_unknown_fields, default)]
pub struct DockerSdConfig {
    /// Daemon address: `unix:///var/run/docker.sock`, `tcp://host:2375`, `http(s)://...`.
    pub host: String,
    /// Port used in `__address__` when a container has no TCP port (80).
    pub port: i64,
    /// Container-list filters.
    pub filters: Vec<DockerFilter>,
    /// `__address__` of host-networking containers (`localhost`).
    pub host_networking_host: String,
    /// How often the container list is refreshed (60s).
    pub refresh_interval: PromDuration,
    /// Use only the alphabetically first network of a container (true).
    pub match_first_network: bool,
    /// HTTP basic authentication (http/https/tcp hosts only).
    pub basic_auth: Option<BasicAuth>,
    /// `Authorization` header (http/https/tcp hosts only).
    pub authorization: Option<Authorization>,
    /// OAuth2 (refused for TCP hosts: ferrotail does not fetch tokens).
    pub oauth2: Option<OAuth2>,
    /// Bearer token (http/https/tcp hosts only).
    pub bearer_token: String,
    /// File holding the bearer token.
    pub bearer_token_file: String,
    /// TLS settings for `https://` hosts (and `tcp://` hosts when set).
    pub tls_config: TlsConfig,
    /// Follow redirects (accepted; the Docker API does not redirect).
    pub follow_redirects: bool,
    /// Enable HTTP/2 (accepted; the Docker API is spoken over HTTP/1.1).
    pub enable_http2: bool,
    /// Proxy URL (refused for TCP hosts).
    pub proxy_url: String,
    /// Hosts not proxied.
    pub no_proxy: String,
    /// Use the proxy environment variables (refused for TCP hosts).
    pub proxy_from_environment: bool,
    /// Headers sent to the proxy on CONNECT.
    pub proxy_connect_header: BTreeMap<String, Vec<String>>,
    /// Extra request headers.
    pub http_headers: Option<BTreeMap<String, HttpHeader>>,
}

impl Default for DockerSdConfig {
    fn default() -> Self {
        DockerSdConfig {
            host: String::new(),
            port: 80,
            filters: Vec::new(),
            host_networking_host: "localhost".into(),
            refresh_interval: PromDuration(Duration::from_secs(60)),
            match_first_network: true,
            basic_auth: None,
            authorization: None,
            oauth2: None,
            bearer_token: String::new(),
            bearer_token_file: String::new(),
            tls_config: TlsConfig::default(),
            follow_redirects: true,
            enable_http2: true,
            proxy_url: String::new(),
            no_proxy: String::new(),
            proxy_from_environment: false,
            proxy_connect_header: BTreeMap::new(),
            http_headers: None,
        }
    }
}

/// How ferrotail talks to the daemon named by `host`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Endpoint {
    Unix(String),
    Http(String),
    Https(String),
}

impl DockerSdConfig {
    /// Checks what Promtail checks when it loads the config (`host missing`, the HTTP client
    /// config's exclusive options, TLS options), plus that `host` is an address the Docker client
    /// can use (Promtail fails at startup otherwise).
    pub fn validate(&self) -> Result<(), String> {
        if self.host.is_empty() {
            return Err("host missing".into());
        }
        let endpoint = self.endpoint()?;
        self.http().validate()?;
        // Over a unix socket Prometheus' Docker discovery uses no HTTP client settings; over TCP
        // these would change whether requests reach the daemon at all, so they are refused
        // rather than ignored.
        if !matches!(endpoint, Endpoint::Unix(_)) {
            if self.oauth2.is_some() {
                return Err("not supported: docker_sd_configs.oauth2 (ferrotail's Docker client does not fetch OAuth2 tokens)".into());
            }
            if !self.proxy_url.is_empty() {
                return Err("not supported: docker_sd_configs.proxy_url (ferrotail's Docker client connects directly)".into());
            }
            if self.proxy_from_environment {
                return Err("not supported: docker_sd_configs.proxy_from_environment (ferrotail's Docker client connects directly)".into());
            }
        }
        Ok(())
    }

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
            proxy_connect_header: Some(&self.proxy_connect_header),
            http_headers: self.http_headers.as_ref(),
        }
    }

    fn endpoint(&self) -> Result<Endpoint, String> {
        let host = self.host.as_str();
        let Some((scheme, rest)) = host.split_once("://") else {
            return Err(format!("unable to parse docker host `{host}`"));
        };
        if rest.is_empty() {
            return Err(format!("unable to parse docker host `{host}`"));
        }
        match scheme {
            "unix" => Ok(Endpoint::Unix(host.to_string())),
            "http" => Ok(Endpoint::Http(rest.to_string())),
            "https" => Ok(Endpoint::Https(rest.to_string())),
            // Promtail speaks plain HTTP to tcp:// hosts; with a tls_config set, ferrotail uses
            // TLS (Promtail could not have worked with such a daemon anyway).
            "tcp" if self.tls_config.is_set() => Ok(Endpoint::Https(rest.to_string())),
            "tcp" => Ok(Endpoint::Http(rest.to_string())),
            _ => Err(format!("protocol not available in docker host `{host}`")),
        }
    }

    /// The refresh interval, at least one second.
    pub fn refresh(&self) -> Duration {
        self.refresh_interval.0.max(Duration::from_secs(1))
    }

    /// The `/targets` pool name Promtail shows: `<job>/<host>:<port>`.
    pub fn pool_name(&self, job: &str) -> String {
        format!("{job}/{}:{}", self.host, self.port)
    }

    fn filter_map(&self) -> HashMap<String, Vec<String>> {
        let mut m: HashMap<String, Vec<String>> = HashMap::new();
        for f in &self.filters {
            m.entry(f.name.clone())
                .or_default()
                .extend(f.values.iter().cloned());
        }
        m
    }
}

// ------------------------------------------------------------------------------------------------
// Connection
// ------------------------------------------------------------------------------------------------

/// An error with its sources (`a: b: c`): hyper's errors say little without them.
pub(crate) fn err_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}

/// Opens a client for the daemon named by `cfg.host` and negotiates the API version.
///
/// `unix://` uses the socket (no HTTP client options, as in Promtail); `tcp://` and `http://` use
/// plain HTTP; `https://` (and `tcp://` with a `tls_config`) use TLS with `tls_config`. For every
/// non-socket host, `basic_auth`, `authorization`, `bearer_token(_file)` and `http_headers` are
/// sent with each request. Secret files are read on each call, so a reconnect picks up new ones.
pub async fn connect(cfg: &DockerSdConfig) -> Result<Docker, String> {
    let endpoint = cfg.endpoint()?;
    let timeout = cfg.refresh().as_secs().max(1);
    let docker = match &endpoint {
        Endpoint::Unix(host) => {
            Docker::connect_with_unix(host, 120, API_DEFAULT_VERSION).map_err(|e| {
                format!(
                    "cannot connect to the Docker daemon at {}: {}",
                    cfg.host,
                    err_chain(&e)
                )
            })?
        }
        Endpoint::Http(addr) => {
            Docker::connect_with_http(&format!("http://{addr}"), timeout, API_DEFAULT_VERSION)
                .map_err(|e| format!("error setting up docker client: {e}"))?
        }
        Endpoint::Https(addr) => {
            let tls = cfg.tls_config.rustls()?;
            let mut builder = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(tls)
                .https_or_http();
            if !cfg.tls_config.server_name.is_empty() {
                let name =
                    rustls_pki_types::ServerName::try_from(cfg.tls_config.server_name.clone())
                        .map_err(|e| format!("invalid tls_config.server_name: {e}"))?;
                builder = builder
                    .with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name));
            }
            let connector = builder.enable_http1().build();
            let client = Arc::new(
                hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                    .pool_max_idle_per_host(0)
                    .build(connector),
            );
            Docker::connect_with_custom_transport(
                move |req: BollardRequest| {
                    let client = Arc::clone(&client);
                    async move { client.request(req).await.map_err(DockerError::from) }
                },
                Some(format!("https://{addr}")),
                timeout,
                API_DEFAULT_VERSION,
            )
            .map_err(|e| format!("error setting up docker client: {e}"))?
        }
    };
    let docker = if matches!(endpoint, Endpoint::Unix(_)) {
        docker
    } else {
        let headers = cfg.http().headers()?;
        if headers.is_empty() {
            docker
        } else {
            docker.with_request_modifier(move |mut req| {
                for (k, v) in &headers {
                    req.headers_mut().append(k.clone(), v.clone());
                }
                req
            })
        }
    };
    docker.negotiate_version().await.map_err(|e| {
        format!(
            "cannot connect to the Docker daemon at {}: {}",
            cfg.host,
            err_chain(&e)
        )
    })
}

// ------------------------------------------------------------------------------------------------
// Labels
// ------------------------------------------------------------------------------------------------

/// Prometheus' `strutil.SanitizeLabelName`: every character outside `[a-zA-Z0-9_]` becomes `_`.
pub fn sanitize_label_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Meta labels of each network, by network id (`__meta_docker_network_*`).
pub fn network_labels(networks: &[Network]) -> HashMap<String, Vec<(String, String)>> {
    let mut out = HashMap::with_capacity(networks.len());
    for n in networks {
        let Some(id) = n.id.clone() else { continue };
        let mut labels = vec![
            (format!("{META_PREFIX}network_id"), id.clone()),
            (
                format!("{META_PREFIX}network_name"),
                n.name.clone().unwrap_or_default(),
            ),
            (
                format!("{META_PREFIX}network_scope"),
                n.scope.clone().unwrap_or_default(),
            ),
            (
                format!("{META_PREFIX}network_internal"),
                n.internal.unwrap_or(false).to_string(),
            ),
            (
                format!("{META_PREFIX}network_ingress"),
                n.ingress.unwrap_or(false).to_string(),
            ),
        ];
        if let Some(l) = &n.labels {
            let mut keys: Vec<&String> = l.keys().collect();
            keys.sort();
            for k in keys {
                labels.push((
                    format!("{META_PREFIX}network_label_{}", sanitize_label_name(k)),
                    l[k].clone(),
                ));
            }
        }
        out.insert(id, labels);
    }
    out
}

/// The options of [`DockerSdConfig`] that shape the label sets.
#[derive(Debug, Clone)]
pub struct MetaOptions {
    /// `port`.
    pub port: i64,
    /// `host_networking_host`.
    pub host_networking_host: String,
    /// `match_first_network`.
    pub match_first_network: bool,
}

impl From<&DockerSdConfig> for MetaOptions {
    fn from(c: &DockerSdConfig) -> Self {
        MetaOptions {
            port: c.port,
            host_networking_host: c.host_networking_host.clone(),
            match_first_network: c.match_first_network,
        }
    }
}

/// Go's `net.JoinHostPort`.
fn join_host_port(host: &str, port: &str) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The container-level labels (id, name, network mode, container labels), or `None` when the
/// container has no name (Prometheus skips those).
pub fn common_labels(c: &ContainerSummary) -> Option<Labels> {
    let id = c.id.as_deref()?;
    let name = c.names.as_ref()?.first()?;
    let mut l = Labels::new();
    l.insert(format!("{META_PREFIX}container_id"), id);
    l.insert(format!("{META_PREFIX}container_name"), name.as_str());
    l.insert(
        format!("{META_PREFIX}container_network_mode"),
        c.host_config
            .as_ref()
            .and_then(|h| h.network_mode.clone())
            .unwrap_or_default(),
    );
    if let Some(labels) = &c.labels {
        let mut keys: Vec<&String> = labels.keys().collect();
        keys.sort();
        for k in keys {
            l.insert(
                format!("{META_PREFIX}container_label_{}", sanitize_label_name(k)),
                labels[k].as_str(),
            );
        }
    }
    Some(l)
}

/// The label set Promtail keeps for container `c`: the first target Prometheus' moby discovery
/// produces for it. `all` holds the listed containers by id (for `container:<id>` network modes)
/// and `networks` the output of [`network_labels`]. `None` when Prometheus produces no target
/// (no name, or no network even through a `container:` chain).
pub fn container_meta(
    c: &ContainerSummary,
    all: &HashMap<String, ContainerSummary>,
    networks: &HashMap<String, Vec<(String, String)>>,
    opts: &MetaOptions,
) -> Option<Labels> {
    let mut labels = common_labels(c)?;
    let own_mode = c
        .host_config
        .as_ref()
        .and_then(|h| h.network_mode.clone())
        .unwrap_or_default();
    let nets_of = |c: &ContainerSummary| {
        c.network_settings
            .as_ref()
            .and_then(|n| n.networks.clone())
            .unwrap_or_default()
    };
    let mut nets = nets_of(c);
    // Containers sharing another container's network stack: follow the chain.
    let mut mode = own_mode.clone();
    let mut hops = 0;
    while nets.is_empty() && hops < 16 {
        hops += 1;
        let Some(target) = mode.strip_prefix("container:") else {
            break;
        };
        let Some(other) = all.get(target) else { break };
        nets = nets_of(other);
        mode = other
            .host_config
            .as_ref()
            .and_then(|h| h.network_mode.clone())
            .unwrap_or_default();
    }
    // Prometheus iterates a Go map (random order); the first network by name is the one it uses
    // with match_first_network and a deterministic choice otherwise.
    let (_, endpoint) = nets.iter().min_by(|a, b| a.0.cmp(b.0))?;
    let ip = endpoint.ip_address.clone().unwrap_or_default();
    labels.insert(format!("{META_PREFIX}network_ip"), ip.as_str());
    if let Some(net) = endpoint.network_id.as_ref().and_then(|id| networks.get(id)) {
        for (k, v) in net {
            labels.insert(k.as_str(), v.as_str());
        }
    }
    let tcp_port = c.ports.as_ref().and_then(|ports| {
        ports
            .iter()
            .find(|p| p.typ == Some(PortSummaryTypeEnum::TCP))
    });
    let address = match tcp_port {
        Some(p) => {
            let private = p.private_port.to_string();
            labels.insert(format!("{META_PREFIX}port_private"), private.as_str());
            if let Some(public) = p.public_port.filter(|&p| p > 0) {
                labels.insert(format!("{META_PREFIX}port_public"), public.to_string());
                labels.insert(
                    format!("{META_PREFIX}port_public_ip"),
                    p.ip.clone().unwrap_or_default(),
                );
            }
            join_host_port(&ip, &private)
        }
        None if own_mode != "host" => join_host_port(&ip, &opts.port.to_string()),
        None => opts.host_networking_host.clone(),
    };
    labels.insert("__address__", address);
    Some(labels)
}

// ------------------------------------------------------------------------------------------------
// Discovery
// ------------------------------------------------------------------------------------------------

/// A discovered container and how its logs can be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerContainer {
    /// Full 64-hex container id.
    pub id: String,
    /// The `__meta_docker_*` labels (and `__address__`) Promtail would give the container.
    pub meta: Labels,
    /// `LogPath` from inspect: the json-file log, or `None` for drivers without one.
    pub log_path: Option<PathBuf>,
    /// `HostConfig.LogConfig.Type` (`json-file`, `local`, `journald`, ...).
    pub log_driver: String,
    /// `Config.Tty`: output is a terminal stream (everything reported as stdout).
    pub tty: bool,
    /// `State.Running`.
    pub running: bool,
}

/// What discovery reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerEvent {
    /// A container appeared or changed (labels, running state). Sent only on a change.
    Upsert(DockerContainer),
    /// A container was destroyed or no longer matches the filters: release its target.
    Removed {
        /// Full container id.
        id: String,
    },
}

/// Builds the container record from inspect output and the label set.
pub fn container_from_inspect(
    id: &str,
    meta: Labels,
    inspect: &ContainerInspectResponse,
) -> DockerContainer {
    DockerContainer {
        id: id.to_string(),
        meta,
        log_path: inspect
            .log_path
            .as_deref()
            .filter(|p| !p.is_empty())
            .map(PathBuf::from),
        log_driver: inspect
            .host_config
            .as_ref()
            .and_then(|h| h.log_config.as_ref())
            .and_then(|l| l.typ.clone())
            .unwrap_or_default(),
        tty: inspect.config.as_ref().and_then(|c| c.tty).unwrap_or(false),
        running: inspect
            .state
            .as_ref()
            .and_then(|s| s.running)
            .unwrap_or(false),
    }
}

use crate::core::backoff::Backoff;

/// Sleeps for `d` unless `cancel` fires first; false when cancelled.
pub(crate) async fn sleep_or_cancel(d: Duration, cancel: &CancellationToken) -> bool {
    tokio::select! {
        _ = cancel.cancelled() => false,
        _ = tokio::time::sleep(d) => true,
    }
}

fn is_not_found(e: &DockerError) -> bool {
    matches!(
        e,
        DockerError::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

enum Stop {
    /// Cancelled, or nobody listens any more: end discovery.
    Done,
    /// The daemon failed: reconnect after a backoff.
    Retry(String),
}

struct Discovery {
    cfg: DockerSdConfig,
    opts: MetaOptions,
    filters: HashMap<String, Vec<String>>,
    tx: mpsc::Sender<DockerEvent>,
    cancel: CancellationToken,
    known: HashMap<String, DockerContainer>,
    networks: HashMap<String, Vec<(String, String)>>,
    last_list: HashMap<String, ContainerSummary>,
    /// True once a session has subscribed to events and listed the containers.
    live: bool,
    /// Where the next subscription replays events from (Unix nanos): a little before the
    /// previous live session broke, so what happened while disconnected is not missed.
    resume_nanos: Option<i64>,
}

/// Runs Docker discovery for one `docker_sd_configs` entry until `cancel` fires or the receiver
/// of `tx` is dropped. Never returns early because of the daemon: connection failures are logged
/// and retried with backoff.
pub async fn run(config: DockerSdConfig, tx: mpsc::Sender<DockerEvent>, cancel: CancellationToken) {
    let filters = config.filter_map();
    let mut d = Discovery {
        opts: MetaOptions::from(&config),
        cfg: config,
        filters,
        tx,
        cancel: cancel.clone(),
        known: HashMap::new(),
        networks: HashMap::new(),
        last_list: HashMap::new(),
        live: false,
        resume_nanos: None,
    };
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    loop {
        if cancel.is_cancelled() {
            return;
        }
        let started = tokio::time::Instant::now();
        let result = tokio::select! {
            _ = cancel.cancelled() => return,
            r = d.session() => r,
        };
        match result {
            Stop::Done => return,
            Stop::Retry(err) => {
                if std::mem::take(&mut d.live) && d.resume_nanos.is_none() {
                    d.resume_nanos =
                        Some(crate::core::entry::now_nanos().saturating_sub(2_000_000_000));
                }
                tracing::error!(
                    component = "docker_discovery",
                    host = %d.cfg.host,
                    err = %err,
                    "Unable to refresh target groups"
                );
            }
        }
        if started.elapsed() > Duration::from_secs(60) {
            backoff.reset();
        }
        if !sleep_or_cancel(backoff.next_delay(), &cancel).await {
            return;
        }
    }
}

impl Discovery {
    async fn session(&mut self) -> Stop {
        let docker = match connect(&self.cfg).await {
            Ok(d) => d,
            Err(e) => return Stop::Retry(e),
        };
        // Subscribe from a little before now (or from when the last live session broke), so
        // nothing that happens while listing or while disconnected is missed; replays of events
        // already handled change nothing.
        let since_nanos = self
            .resume_nanos
            .unwrap_or_else(|| crate::core::entry::now_nanos().saturating_sub(2_000_000_000));
        let since = format!(
            "{}.{:09}",
            since_nanos.div_euclid(1_000_000_000),
            since_nanos.rem_euclid(1_000_000_000)
        );
        let mut event_filters: HashMap<String, Vec<String>> = HashMap::new();
        event_filters.insert("type".into(), vec!["container".into()]);
        event_filters.insert(
            "event".into(),
            ["start", "die", "destroy", "rename", "update"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
        );
        let mut events = docker.events(Some(EventsOptions {
            since: Some(since),
            until: None,
            filters: Some(event_filters),
        }));
        if let Err(stop) = self.refresh(&docker, true).await {
            return stop;
        }
        self.live = true;
        self.resume_nanos = None;
        let period = self.cfg.refresh();
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let step = tokio::select! {
                _ = self.cancel.cancelled() => return Stop::Done,
                _ = tick.tick() => self.refresh(&docker, false).await,
                ev = events.next() => match ev {
                    Some(Ok(ev)) => self.on_event(&docker, ev).await,
                    Some(Err(e)) => Err(Stop::Retry(format!("error while reading docker events: {}", err_chain(&e)))),
                    None => Err(Stop::Retry("docker events stream ended".into())),
                },
            };
            if let Err(stop) = step {
                return stop;
            }
        }
    }

    async fn send(&mut self, ev: DockerEvent) -> Result<(), Stop> {
        tokio::select! {
            _ = self.cancel.cancelled() => Err(Stop::Done),
            r = self.tx.send(ev) => r.map_err(|_| Stop::Done),
        }
    }

    async fn upsert(&mut self, c: DockerContainer) -> Result<(), Stop> {
        if self.known.get(&c.id) == Some(&c) {
            return Ok(());
        }
        tracing::debug!(
            component = "docker_discovery",
            container = %c.id,
            running = c.running,
            "container updated"
        );
        self.known.insert(c.id.clone(), c.clone());
        self.send(DockerEvent::Upsert(c)).await
    }

    async fn remove(&mut self, id: &str) -> Result<(), Stop> {
        if self.known.remove(id).is_some() {
            tracing::debug!(component = "docker_discovery", container = %id, "container removed");
            self.send(DockerEvent::Removed { id: id.to_string() })
                .await?;
        }
        Ok(())
    }

    async fn load_networks(&mut self, docker: &Docker) -> Result<(), String> {
        let nets = docker
            .list_networks(None::<bollard::query_parameters::ListNetworksOptions>)
            .await
            .map_err(|e| format!("error while computing network labels: {}", err_chain(&e)))?;
        self.networks = network_labels(&nets);
        Ok(())
    }

    /// Lists the running containers and reconciles them with what was reported. With `full`,
    /// known stopped containers are re-checked too (after a reconnect, events may be missing).
    async fn refresh(&mut self, docker: &Docker, full: bool) -> Result<(), Stop> {
        let list = docker
            .list_containers(Some(ListContainersOptions {
                all: false,
                filters: Some(self.filters.clone()),
                ..Default::default()
            }))
            .await
            .map_err(|e| {
                Stop::Retry(format!("error while listing containers: {}", err_chain(&e)))
            })?;
        self.load_networks(docker).await.map_err(Stop::Retry)?;
        self.last_list = list
            .iter()
            .filter_map(|c| Some((c.id.clone()?, c.clone())))
            .collect();
        let mut seen: HashSet<String> = HashSet::new();
        for c in &list {
            let Some(id) = c.id.clone() else { continue };
            let Some(meta) = container_meta(c, &self.last_list, &self.networks, &self.opts) else {
                continue;
            };
            seen.insert(id.clone());
            match self.known.get(&id) {
                Some(k) if k.running && k.meta == meta => {}
                Some(k) if k.running => {
                    let mut updated = k.clone();
                    updated.meta = meta;
                    self.upsert(updated).await?;
                }
                _ => match docker.inspect_container(&id, None).await {
                    Ok(inspect) => {
                        let c = container_from_inspect(&id, meta, &inspect);
                        self.upsert(c).await?;
                    }
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => {
                        return Err(Stop::Retry(format!(
                            "error while inspecting container {id}: {e}"
                        )))
                    }
                },
            }
        }
        let stale: Vec<String> = self
            .known
            .iter()
            .filter(|(id, k)| !seen.contains(*id) && (k.running || full))
            .map(|(id, _)| id.clone())
            .collect();
        for id in stale {
            self.sync_one(docker, &id).await?;
        }
        Ok(())
    }

    async fn on_event(&mut self, docker: &Docker, ev: EventMessage) -> Result<(), Stop> {
        let Some(id) = ev.actor.as_ref().and_then(|a| a.id.clone()) else {
            return Ok(());
        };
        let action = ev.action.as_deref().unwrap_or_default();
        tracing::debug!(component = "docker_discovery", container = %id, action, "docker event");
        match action {
            "destroy" => self.remove(&id).await,
            "start" | "die" | "rename" | "update" => self.sync_one(docker, &id).await,
            _ => Ok(()),
        }
    }

    /// Re-reads one container and reports what changed. API failures other than "gone" are
    /// logged and left to the next refresh.
    async fn sync_one(&mut self, docker: &Docker, id: &str) -> Result<(), Stop> {
        match self.fetch_one(docker, id).await {
            Ok(Some(c)) => self.upsert(c).await,
            Ok(None) => self.remove(id).await,
            Err(e) => {
                tracing::warn!(
                    component = "docker_discovery",
                    container = %id,
                    err = %e,
                    "could not read container"
                );
                Ok(())
            }
        }
    }

    /// One container as discovery reports it, running or not; `None` when it is gone, no longer
    /// matches the filters, or (running) has no target.
    async fn fetch_one(
        &mut self,
        docker: &Docker,
        id: &str,
    ) -> Result<Option<DockerContainer>, String> {
        let mut filters = self.filters.clone();
        if !filters.contains_key("id") {
            filters.insert("id".into(), vec![id.to_string()]);
        }
        let list = docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters),
                ..Default::default()
            }))
            .await
            .map_err(|e| format!("error while listing containers: {}", err_chain(&e)))?;
        let Some(summary) = list.into_iter().find(|c| c.id.as_deref() == Some(id)) else {
            return Ok(None);
        };
        let inspect = match docker.inspect_container(id, None).await {
            Ok(i) => i,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(format!("error while inspecting container {id}: {e}")),
        };
        let running = inspect
            .state
            .as_ref()
            .and_then(|s| s.running)
            .unwrap_or(false);
        let needs_networks = summary
            .network_settings
            .as_ref()
            .and_then(|n| n.networks.as_ref())
            .is_some_and(|nets| {
                nets.values().any(|e| {
                    e.network_id
                        .as_ref()
                        .is_some_and(|nid| !nid.is_empty() && !self.networks.contains_key(nid))
                })
            });
        if needs_networks {
            self.load_networks(docker).await?;
        }
        let mut all = self.last_list.clone();
        all.insert(id.to_string(), summary.clone());
        let computed = container_meta(&summary, &all, &self.networks, &self.opts);
        let meta = match (running, self.known.get(id)) {
            (true, _) => match computed {
                Some(m) => m,
                None => return Ok(None),
            },
            // A stopped container keeps the label set it was read with, following a rename.
            (false, Some(k)) => {
                let mut m = k.meta.clone();
                if let Some(name) = summary.names.as_ref().and_then(|n| n.first()) {
                    m.insert(format!("{META_PREFIX}container_name"), name.as_str());
                }
                m
            }
            // A container seen only after it stopped (short-lived): its labels as listed.
            (false, None) => match computed.or_else(|| common_labels(&summary)) {
                Some(m) => m,
                None => return Ok(None),
            },
        };
        Ok(Some(container_from_inspect(id, meta, &inspect)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{
        ContainerSummaryHostConfig, ContainerSummaryNetworkSettings, EndpointSettings, PortSummary,
    };

    #[test]
    fn durations() {
        let ok = [
            ("0", 0u64),
            ("5s", 5_000),
            ("1m30s", 90_000),
            ("1d", 86_400_000),
            (
                "1y2w3d4h5m6s7ms",
                31_536_000_000 + 1_209_600_000 + 259_200_000 + 14_706_007,
            ),
            ("100ms", 100),
        ];
        for (s, ms) in ok {
            assert_eq!(parse_prom_duration(s), Ok(Duration::from_millis(ms)), "{s}");
        }
        assert_eq!(parse_prom_duration(""), Err("empty duration string".into()));
        assert_eq!(
            parse_prom_duration("5"),
            Err(r#"not a valid duration string: "5""#.into())
        );
        assert_eq!(
            parse_prom_duration("1s1m"),
            Err(r#"not a valid duration string: "1s1m""#.into())
        );
        assert_eq!(
            parse_prom_duration("1.5s"),
            Err(r#"unknown unit "." in duration "1.5s""#.into())
        );
        assert_eq!(
            parse_prom_duration("3x"),
            Err(r#"unknown unit "x" in duration "3x""#.into())
        );
        assert_eq!(
            parse_prom_duration("9999999y"),
            Err("duration out of range".into())
        );
    }

    fn cfg(yaml: &str) -> Result<DockerSdConfig, String> {
        let node = gocompat::yaml::parse(yaml).map_err(|e| e.to_string())?;
        let c: DockerSdConfig = gocompat::yaml::from_node(&node, gocompat::yaml::Mode::Config)
            .map_err(|e| e.to_string())?
            .value;
        c.validate()?;
        Ok(c)
    }

    #[test]
    fn config_defaults_and_keys() {
        let c = cfg("host: unix:///var/run/docker.sock\nrefresh_interval: 5s\n").unwrap();
        assert_eq!(c.port, 80);
        assert_eq!(c.host_networking_host, "localhost");
        assert!(c.match_first_network);
        assert!(c.follow_redirects && c.enable_http2);
        assert_eq!(c.refresh_interval.0, Duration::from_secs(5));
        assert_eq!(
            c.pool_name("docker"),
            "docker/unix:///var/run/docker.sock:80"
        );

        let full = "host: https://docker.example:2376\nport: 9000\nhost_networking_host: h\nmatch_first_network: false\nrefresh_interval: 1m\nfilters:\n  - name: name\n    values: [ai, tasks]\n  - name: label\n    values: [a=b]\nbasic_auth:\n  username: u\n  password: p\ntls_config:\n  ca_file: /ca.pem\n  cert_file: /c.pem\n  key_file: /k.pem\n  server_name: docker\n  insecure_skip_verify: true\n  min_version: TLS12\nfollow_redirects: false\nenable_http2: false\nhttp_headers:\n  X-A:\n    values: [1]\n";
        let c = cfg(full).unwrap();
        assert_eq!(c.port, 9000);
        assert!(!c.match_first_network);
        assert_eq!(c.filters.len(), 2);
        assert_eq!(c.filters[0].values, vec!["ai", "tasks"]);
        assert_eq!(c.tls_config.server_name, "docker");
        assert_eq!(
            c.basic_auth.as_ref().map(|b| b.username.as_str()),
            Some("u")
        );
        assert_eq!(
            c.endpoint(),
            Ok(Endpoint::Https("docker.example:2376".into()))
        );

        assert_eq!(cfg("port: 1\n"), Err("host missing".into()));
        assert_eq!(
            cfg("host: unix:///x\nbearer_token: a\nbearer_token_file: b\n"),
            Err("at most one of bearer_token & bearer_token_file must be configured".into())
        );
        assert_eq!(
            cfg("host: unix:///x\nbasic_auth: {username: a}\nbearer_token: b\n"),
            Err("at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured".into())
        );
        assert_eq!(
            cfg("host: unix:///x\ntls_config: {cert_file: a}\n"),
            Err("exactly one of key or key_file must be configured when a client certificate is configured".into())
        );
        assert_eq!(
            cfg("host: unix:///x\ntls_config: {min_version: TLS9}\n"),
            Err("unknown TLS version: TLS9".into())
        );
        assert_eq!(
            cfg("host: unix:///x\nauthorization: {type: Basic}\n"),
            Err(r#"authorization type cannot be set to "basic", use "basic_auth" instead"#.into())
        );
        assert_eq!(
            cfg("host: docker.sock\n"),
            Err("unable to parse docker host `docker.sock`".into())
        );
        let err = cfg("host: unix:///x\nrefresh_interval: 5\n").unwrap_err();
        assert!(err.contains(r#"not a valid duration string: "5""#), "{err}");
        let err = cfg("host: unix:///x\nhosts: y\n").unwrap_err();
        assert!(
            err.contains("field hosts not found in type moby.plain"),
            "{err}"
        );
        let err = cfg("host: unix:///x\nfilters: [{name: a, value: [b]}]\n").unwrap_err();
        assert!(
            err.contains("field value not found in type moby.Filter"),
            "{err}"
        );

        assert_eq!(
            cfg("host: tcp://1.2.3.4:2375\n").unwrap().endpoint(),
            Ok(Endpoint::Http("1.2.3.4:2375".into()))
        );
        assert_eq!(
            cfg("host: tcp://1.2.3.4:2376\ntls_config: {insecure_skip_verify: true}\n")
                .unwrap()
                .endpoint(),
            Ok(Endpoint::Https("1.2.3.4:2376".into()))
        );
    }

    #[test]
    fn auth_headers_are_built() {
        let mut c = DockerSdConfig {
            host: "http://x".into(),
            basic_auth: Some(BasicAuth {
                username: "user".into(),
                password: "pass".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let h = c.http().headers().unwrap();
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].0, "authorization");
        assert_eq!(h[0].1, "Basic dXNlcjpwYXNz");
        c.basic_auth = None;
        c.bearer_token = "tok".into();
        let h = c.http().headers().unwrap();
        assert_eq!(h[0].1, "Bearer tok");
        c.bearer_token.clear();
        c.authorization = Some(Authorization {
            kind: "Token".into(),
            credentials: "abc".into(),
            ..Default::default()
        });
        assert_eq!(c.http().headers().unwrap()[0].1, "Token abc");
    }

    #[test]
    fn sanitizes_like_prometheus() {
        assert_eq!(sanitize_label_name("com.example.team"), "com_example_team");
        assert_eq!(sanitize_label_name("weird-label.x"), "weird_label_x");
        assert_eq!(sanitize_label_name("café/ü"), "caf___");
        assert_eq!(sanitize_label_name("ok_1"), "ok_1");
    }

    fn summary(
        id: &str,
        name: &str,
        mode: &str,
        nets: &[(&str, &str, &str)],
        ports: Vec<PortSummary>,
    ) -> ContainerSummary {
        ContainerSummary {
            id: Some(id.into()),
            names: Some(vec![name.into()]),
            host_config: Some(ContainerSummaryHostConfig {
                network_mode: Some(mode.into()),
                ..Default::default()
            }),
            network_settings: Some(ContainerSummaryNetworkSettings {
                networks: Some(
                    nets.iter()
                        .map(|(n, nid, ip)| {
                            (
                                n.to_string(),
                                EndpointSettings {
                                    network_id: Some(nid.to_string()),
                                    ip_address: Some(ip.to_string()),
                                    ..Default::default()
                                },
                            )
                        })
                        .collect(),
                ),
            }),
            ports: Some(ports),
            ..Default::default()
        }
    }

    fn networks() -> HashMap<String, Vec<(String, String)>> {
        let mut labels = HashMap::new();
        labels.insert(
            "com.docker.compose.network".to_string(),
            "default".to_string(),
        );
        network_labels(&[
            Network {
                id: Some("netb".into()),
                name: Some("bridge".into()),
                scope: Some("local".into()),
                internal: Some(false),
                ingress: Some(false),
                ..Default::default()
            },
            Network {
                id: Some("neta".into()),
                name: Some("app_default".into()),
                scope: Some("local".into()),
                internal: Some(true),
                ingress: Some(false),
                labels: Some(labels),
                ..Default::default()
            },
            Network {
                id: Some("netn".into()),
                name: Some("none".into()),
                scope: Some("local".into()),
                ..Default::default()
            },
            Network {
                id: Some("neth".into()),
                name: Some("host".into()),
                scope: Some("local".into()),
                ..Default::default()
            },
        ])
    }

    fn opts() -> MetaOptions {
        MetaOptions::from(&DockerSdConfig::default())
    }

    fn map(l: &Labels) -> Vec<(String, String)> {
        l.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn expect(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn golden_label_sets() {
        // 003-container-labels and 004-published-port of tests/data/golden/docker.
        let mut c = summary(
            "cid",
            "/golden-d3-labels",
            "default",
            &[("bridge", "netb", "172.17.0.2")],
            vec![],
        );
        let mut l = HashMap::new();
        l.insert("com.example.team".to_string(), "ai".to_string());
        l.insert("weird-label.x".to_string(), "1".to_string());
        c.labels = Some(l);
        let got = container_meta(&c, &HashMap::new(), &networks(), &opts()).unwrap();
        assert_eq!(
            map(&got),
            expect(&[
                ("__address__", "172.17.0.2:80"),
                ("__meta_docker_container_id", "cid"),
                ("__meta_docker_container_label_com_example_team", "ai"),
                ("__meta_docker_container_label_weird_label_x", "1"),
                ("__meta_docker_container_name", "/golden-d3-labels"),
                ("__meta_docker_container_network_mode", "default"),
                ("__meta_docker_network_id", "netb"),
                ("__meta_docker_network_ingress", "false"),
                ("__meta_docker_network_internal", "false"),
                ("__meta_docker_network_ip", "172.17.0.2"),
                ("__meta_docker_network_name", "bridge"),
                ("__meta_docker_network_scope", "local"),
            ])
        );

        let c = summary(
            "cid",
            "/golden-d4-port",
            "default",
            &[("bridge", "netb", "172.17.0.3")],
            vec![
                PortSummary {
                    ip: None,
                    private_port: 53,
                    public_port: None,
                    typ: Some(PortSummaryTypeEnum::UDP),
                },
                PortSummary {
                    ip: Some("127.0.0.1".into()),
                    private_port: 8080,
                    public_port: Some(18080),
                    typ: Some(PortSummaryTypeEnum::TCP),
                },
            ],
        );
        let got = container_meta(&c, &HashMap::new(), &networks(), &opts()).unwrap();
        assert_eq!(got.get("__meta_docker_port_private"), Some("8080"));
        assert_eq!(got.get("__meta_docker_port_public"), Some("18080"));
        assert_eq!(got.get("__meta_docker_port_public_ip"), Some("127.0.0.1"));
        assert_eq!(got.get("__address__"), Some("172.17.0.3:8080"));
    }

    #[test]
    fn network_modes() {
        // --network none: Promtail's [V] set.
        let c = summary(
            "cid",
            "/ai-ptfacts",
            "none",
            &[("none", "netn", "")],
            vec![],
        );
        let got = container_meta(&c, &HashMap::new(), &networks(), &opts()).unwrap();
        assert_eq!(got.get("__address__"), Some(":80"));
        assert_eq!(got.get("__meta_docker_network_name"), Some("none"));
        assert_eq!(got.get("__meta_docker_network_internal"), Some("false"));
        assert_eq!(got.get("__meta_docker_network_ip"), Some(""));

        // Host networking.
        let c = summary("cid", "/h", "host", &[("host", "neth", "")], vec![]);
        let got = container_meta(&c, &HashMap::new(), &networks(), &opts()).unwrap();
        assert_eq!(got.get("__address__"), Some("localhost"));

        // First network by name; network labels sanitised.
        let c = summary(
            "cid",
            "/multi",
            "app_default",
            &[
                ("bridge", "netb", "172.17.0.4"),
                ("app_default", "neta", "10.0.0.4"),
            ],
            vec![],
        );
        let got = container_meta(&c, &HashMap::new(), &networks(), &opts()).unwrap();
        assert_eq!(got.get("__meta_docker_network_name"), Some("app_default"));
        assert_eq!(got.get("__meta_docker_network_internal"), Some("true"));
        assert_eq!(
            got.get("__meta_docker_network_label_com_docker_compose_network"),
            Some("default")
        );
        assert_eq!(got.get("__address__"), Some("10.0.0.4:80"));

        // container:<id> chain.
        let base = summary(
            "base",
            "/base",
            "default",
            &[("bridge", "netb", "172.17.0.9")],
            vec![],
        );
        let side = summary("side", "/side", "container:base", &[], vec![]);
        let mut all = HashMap::new();
        all.insert("base".to_string(), base);
        let got = container_meta(&side, &all, &networks(), &opts()).unwrap();
        assert_eq!(got.get("__meta_docker_network_ip"), Some("172.17.0.9"));
        assert_eq!(
            got.get("__meta_docker_container_network_mode"),
            Some("container:base")
        );
        assert!(container_meta(&side, &HashMap::new(), &networks(), &opts()).is_none());

        // IPv6 address.
        let c = summary(
            "cid",
            "/v6",
            "default",
            &[("bridge", "netb", "fd00::2")],
            vec![],
        );
        let got = container_meta(&c, &HashMap::new(), &networks(), &opts()).unwrap();
        assert_eq!(got.get("__address__"), Some("[fd00::2]:80"));

        // No name: skipped.
        let mut c = summary(
            "cid",
            "/x",
            "default",
            &[("bridge", "netb", "1.2.3.4")],
            vec![],
        );
        c.names = Some(vec![]);
        assert!(container_meta(&c, &HashMap::new(), &networks(), &opts()).is_none());
    }

    #[tokio::test]
    async fn unreachable_daemon_retries_until_cancelled() {
        let cfg = DockerSdConfig {
            host: "unix:///nonexistent/docker.sock".into(),
            ..Default::default()
        };
        let (tx, mut rx) = mpsc::channel(4);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(run(cfg, tx, cancel.clone()));
        tokio::task::yield_now().await;
        cancel.cancel();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("discovery stops when cancelled")
            .expect("discovery task does not panic");
        assert!(rx.recv().await.is_none());
    }
}
