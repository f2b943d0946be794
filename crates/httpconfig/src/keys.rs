//! The configuration keys, as Prometheus names them.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::HttpClientConfig;

/// `basic_auth` of the inline HTTP client config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename = "config.plain", deny_unknown_fields, default)]
pub struct BasicAuth {
    /// User name.
    pub username: String,
    /// File holding the user name.
    pub username_file: String,
    /// Secret-manager reference (accepted, unsupported).
    pub username_ref: String,
    /// Password.
    pub password: String,
    /// File holding the password.
    pub password_file: String,
    /// Secret-manager reference (accepted, unsupported).
    pub password_ref: String,
}

/// `authorization` of the inline HTTP client config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename = "config.Authorization", deny_unknown_fields, default)]
pub struct Authorization {
    /// Scheme, `Bearer` when empty.
    #[serde(rename = "type")]
    pub kind: String,
    /// Credentials.
    pub credentials: String,
    /// File holding the credentials.
    pub credentials_file: String,
    /// Secret-manager reference (accepted, unsupported).
    pub credentials_ref: String,
}

/// `tls_config` of the inline HTTP client config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename = "config.plain", deny_unknown_fields, default)]
pub struct TlsConfig {
    /// CA certificate(s), PEM text.
    pub ca: String,
    /// Client certificate, PEM text.
    pub cert: String,
    /// Client key, PEM text.
    pub key: String,
    /// CA certificate file.
    pub ca_file: String,
    /// Client certificate file.
    pub cert_file: String,
    /// Client key file.
    pub key_file: String,
    /// Secret-manager reference (accepted, unsupported).
    pub ca_ref: String,
    /// Secret-manager reference (accepted, unsupported).
    pub cert_ref: String,
    /// Secret-manager reference (accepted, unsupported).
    pub key_ref: String,
    /// Server name to verify (and send as SNI).
    pub server_name: String,
    /// Skip verification of the server certificate.
    pub insecure_skip_verify: bool,
    /// `TLS10` .. `TLS13`.
    pub min_version: String,
    /// `TLS10` .. `TLS13`.
    pub max_version: String,
}

impl TlsConfig {
    fn using_client_cert(&self) -> bool {
        !self.cert.is_empty() || !self.cert_file.is_empty() || !self.cert_ref.is_empty()
    }

    fn using_client_key(&self) -> bool {
        !self.key.is_empty() || !self.key_file.is_empty() || !self.key_ref.is_empty()
    }

    /// Prometheus' `TLSConfig.SetDirectory`: relative `ca_file`, `cert_file` and `key_file` are
    /// made relative to `dir`.
    pub fn set_directory(&mut self, dir: &Path) {
        for f in [&mut self.ca_file, &mut self.cert_file, &mut self.key_file] {
            join_dir(dir, f);
        }
    }

    /// True when anything TLS-specific is configured.
    pub fn is_set(&self) -> bool {
        self != &TlsConfig::default()
    }

    /// Prometheus' `TLSConfig.Validate`.
    pub fn validate(&self) -> Result<(), String> {
        let count = |a: &str, b: &str, c: &str| [a, b, c].iter().filter(|s| !s.is_empty()).count();
        if count(&self.ca, &self.ca_file, &self.ca_ref) > 1 {
            return Err("at most one of ca, ca_file & ca_ref must be configured".into());
        }
        if count(&self.cert, &self.cert_file, &self.cert_ref) > 1 {
            return Err("at most one of cert, cert_file & cert_ref must be configured".into());
        }
        if count(&self.key, &self.key_file, &self.key_ref) > 1 {
            return Err("at most one of key and key_file must be configured".into());
        }
        if self.using_client_cert() && !self.using_client_key() {
            return Err(
                "exactly one of key or key_file must be configured when a client certificate is configured"
                    .into(),
            );
        }
        if self.using_client_key() && !self.using_client_cert() {
            return Err(
                "exactly one of cert or cert_file must be configured when a client key is configured"
                    .into(),
            );
        }
        for v in [&self.min_version, &self.max_version] {
            if !v.is_empty() && tls_version_rank(v).is_none() {
                return Err(format!("unknown TLS version: {v}"));
            }
        }
        Ok(())
    }
}

pub(crate) fn tls_version_rank(v: &str) -> Option<u8> {
    match v {
        "TLS10" => Some(10),
        "TLS11" => Some(11),
        "TLS12" => Some(12),
        "TLS13" => Some(13),
        _ => None,
    }
}

/// `oauth2` of the HTTP client config (accepted and validated; ferrotail does not fetch tokens).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename = "config.plain", deny_unknown_fields, default)]
pub struct OAuth2 {
    /// Client id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: String,
    /// File holding the client secret.
    pub client_secret_file: String,
    /// Secret-manager reference.
    pub client_secret_ref: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Token endpoint.
    pub token_url: String,
    /// Extra token request parameters.
    pub endpoint_params: BTreeMap<String, String>,
    /// TLS for the token endpoint.
    pub tls_config: TlsConfig,
    /// Proxy for the token endpoint.
    pub proxy_url: String,
    /// Hosts not proxied.
    pub no_proxy: String,
    /// Use the proxy environment variables.
    pub proxy_from_environment: bool,
    /// Headers sent to the proxy on CONNECT.
    pub proxy_connect_header: BTreeMap<String, Vec<String>>,
}

/// One `http_headers` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename = "config.Header", deny_unknown_fields, default)]
pub struct HttpHeader {
    /// Values sent as they are.
    pub values: Vec<String>,
    /// Values sent as they are (kept secret in Promtail's output).
    pub secrets: Vec<String>,
    /// Files whose content is sent.
    pub files: Vec<String>,
}

/// The HTTP client settings owned, for a config that keeps them in one field (Prometheus inlines
/// them into its parent block, so the parent lists the keys and fills this in).
///
/// The default is Prometheus' `DefaultHTTPClientConfig`: `follow_redirects` and `enable_http2`
/// on, everything else empty. Work with it through [`HttpClientSettings::config`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpClientSettings {
    /// `basic_auth`.
    pub basic_auth: Option<BasicAuth>,
    /// `authorization`.
    pub authorization: Option<Authorization>,
    /// `oauth2`.
    pub oauth2: Option<OAuth2>,
    /// `bearer_token`.
    pub bearer_token: String,
    /// `bearer_token_file`.
    pub bearer_token_file: String,
    /// `tls_config`.
    pub tls_config: TlsConfig,
    /// `proxy_url`.
    pub proxy_url: String,
    /// `no_proxy`.
    pub no_proxy: String,
    /// `proxy_from_environment`.
    pub proxy_from_environment: bool,
    /// `proxy_connect_header`.
    pub proxy_connect_header: BTreeMap<String, Vec<String>>,
    /// `http_headers`.
    pub http_headers: BTreeMap<String, HttpHeader>,
    /// `follow_redirects` (default true).
    pub follow_redirects: bool,
    /// `enable_http2` (default true).
    pub enable_http2: bool,
}

impl Default for HttpClientSettings {
    fn default() -> Self {
        HttpClientSettings {
            basic_auth: None,
            authorization: None,
            oauth2: None,
            bearer_token: String::new(),
            bearer_token_file: String::new(),
            tls_config: TlsConfig::default(),
            proxy_url: String::new(),
            no_proxy: String::new(),
            proxy_from_environment: false,
            proxy_connect_header: BTreeMap::new(),
            http_headers: BTreeMap::new(),
            follow_redirects: true,
            enable_http2: true,
        }
    }
}

impl HttpClientSettings {
    /// The view every operation goes through.
    pub fn config(&self) -> HttpClientConfig<'_> {
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
            http_headers: Some(&self.http_headers),
        }
    }

    /// Prometheus' `HTTPClientConfig.SetDirectory`: every relative file path (TLS files, secret
    /// files, `http_headers` files, and those of `oauth2`) is made relative to `dir`, the config
    /// file's directory.
    pub fn set_directory(&mut self, dir: &Path) {
        self.tls_config.set_directory(dir);
        join_dir(dir, &mut self.bearer_token_file);
        if let Some(b) = &mut self.basic_auth {
            join_dir(dir, &mut b.username_file);
            join_dir(dir, &mut b.password_file);
        }
        if let Some(a) = &mut self.authorization {
            join_dir(dir, &mut a.credentials_file);
        }
        if let Some(o) = &mut self.oauth2 {
            join_dir(dir, &mut o.client_secret_file);
            o.tls_config.set_directory(dir);
        }
        for h in self.http_headers.values_mut() {
            for f in &mut h.files {
                join_dir(dir, f);
            }
        }
    }
}

/// Prometheus' `JoinDir`: an empty or absolute path is kept, a relative one is joined to `dir`.
fn join_dir(dir: &Path, path: &mut String) {
    if !path.is_empty() && Path::new(path.as_str()).is_relative() {
        *path = dir.join(path.as_str()).to_string_lossy().into_owned();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_are_joined_to_the_directory() {
        let mut s = HttpClientSettings {
            bearer_token_file: "token".into(),
            basic_auth: Some(BasicAuth {
                password_file: "/abs/pass".into(),
                ..Default::default()
            }),
            tls_config: TlsConfig {
                ca_file: "ca.crt".into(),
                ..Default::default()
            },
            ..Default::default()
        };
        s.http_headers.insert(
            "X-A".into(),
            HttpHeader {
                files: vec!["h".into()],
                ..Default::default()
            },
        );
        s.set_directory(Path::new("/etc/promtail"));
        assert_eq!(s.bearer_token_file, "/etc/promtail/token");
        assert_eq!(s.basic_auth.as_ref().unwrap().password_file, "/abs/pass");
        assert_eq!(s.basic_auth.as_ref().unwrap().username_file, "");
        assert_eq!(s.tls_config.ca_file, "/etc/promtail/ca.crt");
        assert_eq!(s.http_headers["X-A"].files, vec!["/etc/promtail/h"]);
    }

    #[test]
    fn the_default_is_prometheus_default_http_client_config() {
        let d = HttpClientSettings::default();
        assert!(d.follow_redirects && d.enable_http2);
        assert!(d.config().auth_header().unwrap().is_none());
        assert!(!d.tls_config.is_set());
    }

    #[test]
    fn keys_decode_with_prometheus_names_and_refuse_unknown_ones() {
        let t: TlsConfig = serde_yaml::from_str(
            "ca_file: /ca\nserver_name: k\ninsecure_skip_verify: true\nmin_version: TLS13\n",
        )
        .unwrap();
        assert_eq!(t.ca_file, "/ca");
        assert!(t.insecure_skip_verify);
        assert!(serde_yaml::from_str::<TlsConfig>("cafile: x").is_err());
        let a: Authorization = serde_yaml::from_str("type: Token\ncredentials: c").unwrap();
        assert_eq!(a.kind, "Token");
        let h: HttpHeader = serde_yaml::from_str("values: [a]\nfiles: [f]").unwrap();
        assert_eq!((h.values.len(), h.files.len()), (1, 1));
    }
}
