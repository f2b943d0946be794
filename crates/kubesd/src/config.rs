//! `kubernetes_sd_configs` entry, with Prometheus' YAML field names, defaults
//! and validation (`discovery/kubernetes/kubernetes.go` `SDConfig.UnmarshalYAML`).
//! The inline HTTP client settings are the `httpconfig` crate's, validated by it
//! (`prometheus/common/config` `HTTPClientConfig.Validate`).

use httpconfig::{Authorization, BasicAuth, HttpClientSettings, HttpHeader, OAuth2, TlsConfig};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::fmt;

/// The Kubernetes resource a discovery watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// `pod`
    Pod,
    /// `node`
    Node,
    /// `service`
    Service,
    /// `endpoints`
    Endpoints,
    /// `endpointslice`
    EndpointSlice,
    /// `ingress`
    Ingress,
}

impl Role {
    /// The name used in the configuration and in meta label names.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Pod => "pod",
            Role::Node => "node",
            Role::Service => "service",
            Role::Endpoints => "endpoints",
            Role::EndpointSlice => "endpointslice",
            Role::Ingress => "ingress",
        }
    }

    /// Parses a role name as Prometheus does (`unknown Kubernetes SD role "x"`).
    pub fn parse(s: &str) -> Result<Role, ConfigError> {
        Ok(match s {
            "pod" => Role::Pod,
            "node" => Role::Node,
            "service" => Role::Service,
            "endpoints" => Role::Endpoints,
            "endpointslice" => Role::EndpointSlice,
            "ingress" => Role::Ingress,
            other => return Err(ConfigError(format!("unknown Kubernetes SD role {other:?}"))),
        })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Role::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A configuration error, worded as Prometheus words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError(msg.into()))
}

/// `namespaces:`
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NamespaceDiscovery {
    /// `own_namespace`: also watch the namespace Promtail runs in (in-cluster only).
    pub own_namespace: bool,
    /// `names`: namespaces to watch; empty means all namespaces.
    pub names: Vec<String>,
}

/// One entry of `selectors:`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelectorConfig {
    /// The role (resource kind) the selector applies to.
    pub role: Role,
    /// Label selector, passed to the API server as `labelSelector`.
    #[serde(default)]
    pub label: String,
    /// Field selector, passed to the API server as `fieldSelector`.
    #[serde(default)]
    pub field: String,
}

/// `attach_metadata:` (Prometheus at the version Promtail 3.4 vendors only has `node`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AttachMetadata {
    /// Attach `__meta_kubernetes_node_*` labels of the node a target runs on
    /// (roles pod, endpoints, endpointslice).
    pub node: bool,
}

/// One `kubernetes_sd_configs` entry.
///
/// Deserializing runs [`SdConfig::validate`], so a YAML error carries
/// Prometheus' message (for example
/// `role missing (one of: pod, service, endpoints, endpointslice, node, ingress)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdConfig {
    /// `api_server`: URL of the API server; empty for in-cluster or kubeconfig.
    pub api_server: String,
    /// `role` (required).
    pub role: Role,
    /// `kubeconfig_file`.
    pub kubeconfig_file: String,
    /// Inline HTTP client settings (`basic_auth`, `authorization`, `tls_config`, ...),
    /// used with `api_server` (in-cluster and `kubeconfig_file` bring their own).
    pub http: HttpClientSettings,
    /// `namespaces`.
    pub namespaces: NamespaceDiscovery,
    /// `selectors`.
    pub selectors: Vec<SelectorConfig>,
    /// `attach_metadata`.
    pub attach_metadata: AttachMetadata,
}

impl SdConfig {
    /// A config for `role` with every other field at its default (in-cluster).
    pub fn new(role: Role) -> SdConfig {
        SdConfig {
            api_server: String::new(),
            role,
            kubeconfig_file: String::new(),
            http: HttpClientSettings::default(),
            namespaces: NamespaceDiscovery::default(),
            selectors: Vec::new(),
            attach_metadata: AttachMetadata::default(),
        }
    }

    /// The checks of Prometheus' `SDConfig.UnmarshalYAML`, in its order and wording.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.http.config().validate().map_err(ConfigError)?;
        if self.http.oauth2.is_some() {
            return err("not supported: kubernetes_sd_configs.oauth2 (ferrotail does not fetch OAuth2 tokens)");
        }
        let has_api = !self.api_server.is_empty();
        let has_kc = !self.kubeconfig_file.is_empty();
        let default_http = self.http == HttpClientSettings::default();
        if has_api && has_kc {
            return err("cannot use 'kubeconfig_file' and 'api_server' simultaneously");
        }
        if has_kc && !default_http {
            return err(
                "cannot use a custom HTTP client configuration together with 'kubeconfig_file'",
            );
        }
        if !has_api && !default_http {
            return err("to use custom HTTP client configuration please provide the 'api_server' URL explicitly");
        }
        if has_api && self.namespaces.own_namespace {
            return err("cannot use 'api_server' and 'namespaces.own_namespace' simultaneously");
        }
        if has_kc && self.namespaces.own_namespace {
            return err(
                "cannot use 'kubeconfig_file' and 'namespaces.own_namespace' simultaneously",
            );
        }
        if has_api {
            match self.api_server.parse::<http::Uri>() {
                Ok(u) if u.scheme().is_some() && u.host().is_some() => {}
                _ => {
                    return err(format!(
                        "parse {:?}: invalid api_server URL",
                        self.api_server
                    ))
                }
            }
        }
        let allowed = allowed_selectors(self.role);
        let mut seen: Vec<Role> = Vec::new();
        for sel in &self.selectors {
            if seen.contains(&sel.role) {
                return err(format!("duplicated selector role: {}", sel.role));
            }
            seen.push(sel.role);
            if !allowed.contains(&sel.role) {
                let names: Vec<&str> = allowed.iter().map(|r| r.as_str()).collect();
                return err(format!(
                    "{} role supports only {} selectors",
                    self.role,
                    names.join(", ")
                ));
            }
            crate::selector::validate_field_selector(&sel.field)?;
            crate::selector::validate_label_selector(&sel.label)?;
        }
        Ok(())
    }

    /// The (label, field) selector configured for objects of `role`.
    pub fn selector_for(&self, role: Role) -> (Option<&str>, Option<&str>) {
        for s in &self.selectors {
            if s.role == role {
                let l = (!s.label.is_empty()).then_some(s.label.as_str());
                let f = (!s.field.is_empty()).then_some(s.field.as_str());
                return (l, f);
            }
        }
        (None, None)
    }
}

/// Which selector roles each discovery role accepts (`allowedSelectors`).
pub fn allowed_selectors(role: Role) -> &'static [Role] {
    match role {
        Role::Pod => &[Role::Pod],
        Role::Service => &[Role::Service],
        Role::EndpointSlice => &[Role::Pod, Role::Service, Role::EndpointSlice],
        Role::Endpoints => &[Role::Pod, Role::Service, Role::Endpoints],
        Role::Node => &[Role::Node],
        Role::Ingress => &[Role::Ingress],
    }
}

/// Flat form of the YAML mapping: the HTTP client settings are inline, as in
/// Prometheus, with the `httpconfig` crate's types.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSdConfig {
    #[serde(default)]
    api_server: Option<String>,
    #[serde(default)]
    role: Option<Role>,
    #[serde(default)]
    kubeconfig_file: Option<String>,
    #[serde(default)]
    namespaces: Option<NamespaceDiscovery>,
    #[serde(default)]
    selectors: Option<Vec<SelectorConfig>>,
    #[serde(default)]
    attach_metadata: Option<AttachMetadata>,
    #[serde(default)]
    basic_auth: Option<BasicAuth>,
    #[serde(default)]
    authorization: Option<Authorization>,
    #[serde(default)]
    oauth2: Option<OAuth2>,
    #[serde(default)]
    bearer_token: Option<String>,
    #[serde(default)]
    bearer_token_file: Option<String>,
    #[serde(default)]
    tls_config: Option<TlsConfig>,
    #[serde(default)]
    proxy_url: Option<String>,
    #[serde(default)]
    no_proxy: Option<String>,
    #[serde(default)]
    proxy_from_environment: Option<bool>,
    #[serde(default)]
    proxy_connect_header: Option<BTreeMap<String, Vec<String>>>,
    #[serde(default)]
    http_headers: Option<BTreeMap<String, HttpHeader>>,
    #[serde(default)]
    follow_redirects: Option<bool>,
    #[serde(default)]
    enable_http2: Option<bool>,
}

impl<'de> Deserialize<'de> for SdConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawSdConfig::deserialize(d)?;
        let role =
            match raw.role {
                Some(r) => r,
                None => return Err(serde::de::Error::custom(
                    "role missing (one of: pod, service, endpoints, endpointslice, node, ingress)",
                )),
            };
        let defaults = HttpClientSettings::default();
        let cfg = SdConfig {
            api_server: raw.api_server.unwrap_or_default(),
            role,
            kubeconfig_file: raw.kubeconfig_file.unwrap_or_default(),
            http: HttpClientSettings {
                basic_auth: raw.basic_auth,
                authorization: raw.authorization,
                bearer_token: raw.bearer_token.unwrap_or_default(),
                bearer_token_file: raw.bearer_token_file.unwrap_or_default(),
                tls_config: raw.tls_config.unwrap_or_default(),
                proxy_url: raw.proxy_url.unwrap_or_default(),
                no_proxy: raw.no_proxy.unwrap_or_default(),
                proxy_from_environment: raw.proxy_from_environment.unwrap_or(false),
                proxy_connect_header: raw.proxy_connect_header.unwrap_or_default(),
                http_headers: raw.http_headers.unwrap_or_default(),
                oauth2: raw.oauth2,
                follow_redirects: raw.follow_redirects.unwrap_or(defaults.follow_redirects),
                enable_http2: raw.enable_http2.unwrap_or(defaults.enable_http2),
            },
            namespaces: raw.namespaces.unwrap_or_default(),
            selectors: raw.selectors.unwrap_or_default(),
            attach_metadata: raw.attach_metadata.unwrap_or_default(),
        };
        cfg.validate().map_err(serde::de::Error::custom)?;
        Ok(cfg)
    }
}
