//! Kubernetes service discovery for ferrotail: Promtail's
//! `kubernetes_sd_configs`, which is Prometheus' Kubernetes discovery.
//!
//! This crate follows Prometheus' `discovery/kubernetes` package at the
//! version vendored by Promtail 3.4.6 (Loki 3.4 vendors the Prometheus 3.x
//! module, `v0.30x`): the same configuration keys, defaults and validation
//! messages ([`SdConfig`]), the same target groups, sources and
//! `__meta_kubernetes_*` labels for the roles `pod`, `node`, `service`,
//! `endpoints`, `endpointslice` (discovery.k8s.io/v1) and `ingress`
//! (networking.k8s.io/v1) ([`labels`]), and the same role-to-resource
//! wiring (the endpoints roles also watch services and pods;
//! `attach_metadata.node` also watches nodes).
//!
//! # Use
//!
//! ```no_run
//! # async fn f() -> Result<(), kubesd::Error> {
//! // Usually deserialized (any serde format) from a `kubernetes_sd_configs` entry.
//! let mut cfg = kubesd::SdConfig::new(kubesd::Role::Pod);
//! cfg.selectors.push(kubesd::SelectorConfig {
//!     role: kubesd::Role::Pod,
//!     label: String::new(),
//!     field: "spec.nodeName=node-1".into(),
//! });
//! let discovery = kubesd::Discovery::new(cfg, kubesd::Options::default()).await?;
//! let (tx, mut rx) = tokio::sync::mpsc::channel(16);
//! tokio::spawn(discovery.run(tx));
//! while let Some(groups) = rx.recv().await {
//!     for g in groups {
//!         // g.targets empty: the source `g.source` went away (or has no targets).
//!         let _ = (g.source, g.targets, g.labels);
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! # Updates and coalescing
//!
//! [`Discovery::run`] sends `Vec<TargetGroup>` updates, one group per source
//! (`pod/<ns>/<name>`, `node/<name>`, `svc/<ns>/<name>`,
//! `endpoints/<ns>/<name>`, `endpointslice/<ns>/<name>`,
//! `ingress/<ns>/<name>`). A group with no targets means the source went
//! away, exactly as in Prometheus. Nothing is sent until every list has
//! completed (Prometheus waits for its informers' cache sync); the first
//! update then holds the complete target set. After that, changes are
//! coalesced: a changed source is marked dirty, and after
//! [`Options::debounce`] (default 250 ms) the latest state of every dirty
//! source is sent in one update; a group identical to the last one sent for
//! its source is not re-sent. Prometheus' discovery manager throttles to one
//! update per 5 s on top of its discoverers; the consumer may throttle more.
//!
//! # Watching
//!
//! Lists and watches use `kube::runtime::watcher` (kube-rs, rustls): paged
//! list, then watch from the list's `resourceVersion` with
//! `allowWatchBookmarks=true`, resume from the last seen version when a
//! watch ends, re-list on `410 Gone` (watch ERROR event, or an HTTP 410 on
//! the watch request, which kube-rs alone would retry with the same stale
//! version). Failures are logged with the role and the URL, published on
//! [`Discovery::errors`], and retried with exponential backoff
//! ([`Options::backoff_initial`] doubling up to [`Options::backoff_max`]).
//! One watch per namespace when `namespaces.names` (or `own_namespace`) is
//! set, else one cluster-wide watch; selectors are passed to the API as
//! `labelSelector` / `fieldSelector`.
//!
//! Objects are decoded into slim structs ([`objects`]); an object that fails
//! to decode is logged (role, URL, name, error) and skipped, the others are
//! still discovered.
//!
//! # Memory
//!
//! Roles whose groups depend on their own object only (`pod` without
//! `attach_metadata.node`, `node`, `service`, `ingress`) keep no copy of the
//! objects: a group is built when its object arrives and held until the next
//! flush; afterwards only the keys and a hash of the last group sent remain.
//! The joining roles (`endpoints`, `endpointslice`, `attach_metadata.node`)
//! keep slim copies of the objects they join. See `BENCH.md`.
//!
//! # Client settings
//!
//! `api_server` with the inline HTTP client settings, `kubeconfig_file`, or
//! in-cluster (`KUBERNETES_SERVICE_HOST`/`PORT`, `token`, `ca.crt` and
//! `namespace` of the service account directory, see [`InCluster`]) are all
//! turned into a kube-rs client configuration. `bearer_token_file` and a
//! Bearer `authorization.credentials_file` are re-read by the client, as
//! Prometheus does; `basic_auth` password/username files, a non-Bearer
//! `authorization.credentials_file` and `http_headers` files are read once at
//! start. `proxy_url` with `no_proxy` (host and domain-suffix entries) and
//! `proxy_from_environment` (`HTTPS_PROXY`/`NO_PROXY`) are honoured.
//! Relative file paths are used as given: joining them with the config
//! file's directory (Prometheus' `SetDirectory`) is the caller's job.
//!
//! # Differences from Prometheus
//!
//! - `follow_redirects` and `enable_http2` are accepted; the client never
//!   follows redirects and speaks HTTP/1.1 (API servers do not redirect).
//! - `tls_config.min_version/max_version` are accepted; rustls negotiates
//!   TLS 1.2/1.3.
//! - `oauth2` is refused with an error; `proxy_connect_header` is ignored
//!   with a warning; kubeconfig `exec` / `auth-provider` plugins are what
//!   kube-rs supports.
//! - Label and field selectors are checked with a parser of the usual
//!   grammar (`=`, `==`, `!=`, `in`, `notin`, exists), not apimachinery's;
//!   messages for invalid selectors differ in wording.
//! - Pod updates also refresh the `endpointslice` groups that reference the
//!   pod (Prometheus does it for `endpoints` only).
//! - `discovery.k8s.io/v1beta1` EndpointSlices and
//!   `networking.k8s.io/v1beta1` Ingresses (Kubernetes < 1.21 / 1.19) are
//!   not supported.
//!
//! # Why kube-rs
//!
//! `kube::runtime::watcher` gives paged lists, watch resumption, bookmarks
//! and 410 handling; kube-rs' kubeconfig loader handles certificates, token
//! files and proxies. The objects themselves are not decoded into
//! k8s-openapi's full types but into the slim structs of [`objects`], through
//! a lenient wrapper ([`objects::Obj`]) so that one bad object cannot fail a
//! whole list. Features are minimal (`client`, `rustls-tls`, `ring`,
//! `runtime`, `http-proxy`; no openssl).

mod client;
pub mod config;
mod discovery;
pub mod labels;
pub mod objects;
pub mod selector;
#[cfg(feature = "testing")]
pub mod testing;

pub use config::{
    AttachMetadata, Authorization, BasicAuth, ConfigError, HttpClientConfig, HttpHeader,
    NamespaceDiscovery, Role, SdConfig, SelectorConfig, TlsConfig,
};
pub use discovery::{Discovery, InCluster, Options, WatchError};

use std::collections::BTreeMap;

/// A set of labels (name to value).
pub type LabelSet = BTreeMap<String, String>;

/// A Prometheus target group (`targetgroup.Group`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TargetGroup {
    /// Identifies the group across updates, e.g. `pod/default/web-0`.
    pub source: String,
    /// One label set per target, each with `__address__`.
    pub targets: Vec<LabelSet>,
    /// Labels common to all targets.
    pub labels: LabelSet,
}

impl TargetGroup {
    /// A group with no targets and no labels: "this source went away".
    pub fn empty(source: impl Into<String>) -> TargetGroup {
        TargetGroup {
            source: source.into(),
            targets: Vec::new(),
            labels: LabelSet::new(),
        }
    }
}

/// Errors of [`Discovery::new`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is invalid.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// The client could not be set up (kubeconfig, in-cluster files, TLS).
    #[error("kubernetes_sd_config role={role}: {message}")]
    Client {
        /// Discovery role.
        role: Role,
        /// What failed.
        message: String,
    },
}
