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
//! Lists and watches use `kube::runtime::watcher` (kube-rs): paged list
//! ([`Options::list_page_size`] objects per page, 100 by default), then watch from the list's `resourceVersion` with
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
//! keep slim copies of the objects they join. A consumer with its own form
//! of a group can have each group converted as it is built
//! ([`Discovery::run_with`]): the pending groups are then held in that form
//! only, never as thousands of `LabelSet`s as well. See `BENCH.md`.
//!
//! # Client settings
//!
//! As in Prometheus, a discovery talks to the API server in one of three ways:
//!
//! - **`api_server`** with the inline HTTP client settings ([`SdConfig::http`], the `httpconfig`
//!   crate, the one implementation ferrotail's Loki clients and Docker daemons use too): validated
//!   with Prometheus' messages; TLS from `httpconfig`'s rustls configuration (`ca`/`ca_file`,
//!   client `cert`/`key`, `server_name`, `insecure_skip_verify`, `min_version`/`max_version`);
//!   the proxy `httpconfig` picks for the URL (`proxy_url` with Go's `no_proxy` rules,
//!   `proxy_from_environment`, `proxy_connect_header`, user information in the proxy URL) reached
//!   with `CONNECT`; and on **every request** the headers `httpconfig` computes, so
//!   `bearer_token_file`, `authorization.credentials_file`, `basic_auth` files and `http_headers`
//!   files are re-read each time, as Prometheus' round trippers do (a token rotated on disk is
//!   used from the next request; an unreadable file fails that request, which is reported and
//!   retried).
//! - **in-cluster** (neither `api_server` nor `kubeconfig_file`): client-go's
//!   `rest.InClusterConfig`, i.e. `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT` with
//!   the service account's `token` as `bearer_token_file` and its `ca.crt` as
//!   `tls_config.ca_file`, through the same code as `api_server` (see [`InCluster`]).
//! - **`kubeconfig_file`**: kube-rs' kubeconfig loader (client-go's `clientcmd` in Prometheus),
//!   with its certificates, token files, `exec` plugins and proxy.
//!
//! Relative file paths are used as given: joining them with the config
//! file's directory (Prometheus' `SetDirectory`,
//! [`httpconfig::HttpClientSettings::set_directory`]) is the caller's job.
//!
//! # Differences from Prometheus
//!
//! - `follow_redirects` and `enable_http2` are accepted; the client never
//!   follows redirects and speaks HTTP/1.1 (API servers do not redirect).
//! - TLS 1.0/1.1 are not available (rustls); CA files are read when the
//!   discovery starts, not re-read when they change.
//! - `oauth2` is refused with an error; kubeconfig `exec` / `auth-provider`
//!   plugins are what kube-rs supports.
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
//! and 410 handling; kube-rs' kubeconfig loader handles kubeconfig files. For
//! `api_server` and in-cluster, the client is kube-rs' `Client` over a hyper
//! stack built here from the shared settings. The objects themselves are not decoded into
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

pub use config::{AttachMetadata, ConfigError, NamespaceDiscovery, Role, SdConfig, SelectorConfig};
pub use discovery::{Discovery, InCluster, Options, WatchError};
/// The HTTP client settings of [`SdConfig::http`] (`tls_config`, `basic_auth`, ...).
pub use httpconfig;

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
