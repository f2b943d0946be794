//! Prometheus' HTTP client configuration, once for every HTTP client of ferrotail.
//!
//! Promtail takes the HTTP settings of its Loki clients (`clients[]`), of `docker_sd_configs` and
//! of `kubernetes_sd_configs` from `prometheus/common/config.HTTPClientConfig` (v0.62, the version
//! Promtail 3.4.6 vendors). This crate is that type: the same keys with the same YAML names, the
//! same validation with Prometheus' messages, the headers it adds to a request, the proxy it picks
//! for a URL, and the TLS configuration it builds. The three users are the Loki clients (reqwest,
//! `use_preconfigured_tls`), the Docker daemons (hyper) and the Kubernetes API server (kube-rs,
//! in `crates/kubesd`). It knows nothing of ferrotail.
//!
//! # API
//!
//! * The keys: [`BasicAuth`], [`Authorization`], [`OAuth2`], [`TlsConfig`], [`HttpHeader`]
//!   (serde, unknown keys refused, each with the Go type name Promtail's strict decoding reports).
//! * [`HttpClientConfig`]: a borrowed view of the settings of one config block, since Prometheus
//!   inlines them into `clients[]`, `docker_sd_configs[]` and `kubernetes_sd_configs[]`. Everything
//!   is done through it: [`HttpClientConfig::validate`], [`HttpClientConfig::auth_header`],
//!   [`HttpClientConfig::headers`] and [`HttpClientConfig::proxy_for`].
//! * [`HttpClientSettings`]: the same settings owned, for a config that keeps them in one field;
//!   its default is Prometheus' `DefaultHTTPClientConfig`, and [`HttpClientSettings::set_directory`]
//!   is Prometheus' `SetDirectory`.
//! * [`TlsConfig::rustls`]: the rustls client configuration; [`TlsConfig::server_name`] the name
//!   to verify when `server_name` is set.
//!
//! ```
//! let settings = httpconfig::HttpClientSettings {
//!     bearer_token: "secret".into(),
//!     ..Default::default()
//! };
//! let http = settings.config();
//! http.validate().expect("valid");
//! assert_eq!(http.auth_header().unwrap().as_deref(), Some("Bearer secret"));
//! ```
//!
//! # Secret files
//!
//! [`HttpClientConfig::auth_header`] and [`HttpClientConfig::headers`] read `bearer_token_file`,
//! `basic_auth.username_file`/`password_file`, `authorization.credentials_file` and
//! `http_headers[].files` each time they are called. Prometheus reads them on every request; a
//! client that calls these per request (the Kubernetes client does) follows rotated tokens, one
//! that calls them once (the Loki clients, when built) does not.
//!
//! # Differences from Prometheus
//!
//! * `oauth2` is validated as Prometheus does; fetching tokens is not implemented (each user says
//!   what it does with the key).
//! * `*_ref` keys (secret managers) are accepted and validated, never resolved.
//! * TLS 1.0 and 1.1 are not available (`min_version: TLS10` still allows 1.2 and 1.3; a
//!   `max_version` below `TLS12` is an error). CA and certificate files are read when the rustls
//!   configuration is built, not re-read when they change.
//! * `follow_redirects` and `enable_http2` are kept; what they do is up to each client.

mod keys;
mod proxy;
mod tls;
mod view;

pub use keys::{Authorization, BasicAuth, HttpClientSettings, HttpHeader, OAuth2, TlsConfig};
pub use proxy::Proxy;
pub use view::HttpClientConfig;
