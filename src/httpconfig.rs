//! Prometheus' HTTP client configuration (`prometheus/common/config.HTTPClientConfig`, v0.62 as
//! Promtail 3.4.6 vendors it): the keys, their validation with Prometheus' messages, the headers
//! they add and the TLS configuration they build. One implementation for every HTTP client of
//! ferrotail: the Loki clients (`clients[]`), the Docker daemons (`docker_sd_configs`) and later
//! the Kubernetes API.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;

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

fn tls_version_rank(v: &str) -> Option<u8> {
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

/// The HTTP client settings of one config block, borrowed from it (`clients[]` and
/// `docker_sd_configs[]` carry the same keys inline).
#[derive(Debug, Clone, Copy)]
pub struct HttpClientConfig<'a> {
    /// `basic_auth`.
    pub basic_auth: Option<&'a BasicAuth>,
    /// `authorization`.
    pub authorization: Option<&'a Authorization>,
    /// `oauth2`.
    pub oauth2: Option<&'a OAuth2>,
    /// `bearer_token`.
    pub bearer_token: &'a str,
    /// `bearer_token_file`.
    pub bearer_token_file: &'a str,
    /// `tls_config`.
    pub tls_config: &'a TlsConfig,
    /// `proxy_url`.
    pub proxy_url: &'a str,
    /// `no_proxy`.
    pub no_proxy: &'a str,
    /// `proxy_from_environment`.
    pub proxy_from_environment: bool,
    /// `proxy_connect_header`.
    pub proxy_connect_header: Option<&'a BTreeMap<String, Vec<String>>>,
    /// `http_headers`.
    pub http_headers: Option<&'a BTreeMap<String, HttpHeader>>,
}

impl HttpClientConfig<'_> {
    /// Prometheus' `HTTPClientConfig.Validate`: the exclusive options, the proxy options, the
    /// headers that may not be set, and the TLS options.
    pub fn validate(&self) -> Result<(), String> {
        let bearer = !self.bearer_token.is_empty() || !self.bearer_token_file.is_empty();
        if !self.bearer_token.is_empty() && !self.bearer_token_file.is_empty() {
            return Err(
                "at most one of bearer_token & bearer_token_file must be configured".into(),
            );
        }
        if (self.basic_auth.is_some() || self.oauth2.is_some()) && bearer {
            return Err(
                "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured"
                    .into(),
            );
        }
        let count = |a: &str, b: &str, c: &str| [a, b, c].iter().filter(|s| !s.is_empty()).count();
        if let Some(b) = self.basic_auth {
            if count(&b.username, &b.username_file, &b.username_ref) > 1 {
                return Err(
                    "at most one of basic_auth username, username_file & username_ref must be configured"
                        .into(),
                );
            }
            if count(&b.password, &b.password_file, &b.password_ref) > 1 {
                return Err(
                    "at most one of basic_auth password, password_file & password_ref must be configured"
                        .into(),
                );
            }
        }
        if let Some(a) = self.authorization {
            if bearer {
                return Err(
                    "authorization is not compatible with bearer_token & bearer_token_file".into(),
                );
            }
            if count(&a.credentials, &a.credentials_file, &a.credentials_ref) > 1 {
                return Err(
                    "at most one of authorization credentials & credentials_file must be configured"
                        .into(),
                );
            }
            if a.kind.trim().eq_ignore_ascii_case("basic") {
                return Err(
                    r#"authorization type cannot be set to "basic", use "basic_auth" instead"#
                        .into(),
                );
            }
            if self.basic_auth.is_some() || self.oauth2.is_some() {
                return Err(
                    "at most one of basic_auth, oauth2 & authorization must be configured".into(),
                );
            }
        }
        if let Some(o) = self.oauth2 {
            if self.basic_auth.is_some() {
                return Err(
                    "at most one of basic_auth, oauth2 & authorization must be configured".into(),
                );
            }
            if o.client_id.is_empty() {
                return Err("oauth2 client_id must be configured".into());
            }
            if o.token_url.is_empty() {
                return Err("oauth2 token_url must be configured".into());
            }
            if count(
                &o.client_secret,
                &o.client_secret_file,
                &o.client_secret_ref,
            ) > 1
            {
                return Err(
                    "at most one of oauth2 client_secret, client_secret_file & client_secret_ref must be configured"
                        .into(),
                );
            }
            o.tls_config.validate()?;
        }
        if self.proxy_connect_header.is_some_and(|h| !h.is_empty())
            && !self.proxy_from_environment
            && self.proxy_url.is_empty()
        {
            return Err("if proxy_connect_header is configured, proxy_url or proxy_from_environment must also be configured".into());
        }
        if self.proxy_from_environment && !self.proxy_url.is_empty() {
            return Err(
                "if proxy_from_environment is configured, proxy_url must not be configured".into(),
            );
        }
        if self.proxy_from_environment && !self.no_proxy.is_empty() {
            return Err(
                "if proxy_from_environment is configured, no_proxy must not be configured".into(),
            );
        }
        if self.proxy_url.is_empty() && !self.no_proxy.is_empty() {
            return Err("if no_proxy is configured, proxy_url must also be configured".into());
        }
        if let Some(headers) = self.http_headers {
            for name in headers.keys() {
                if matches!(
                    name.to_ascii_lowercase().as_str(),
                    "authorization"
                        | "host"
                        | "content-encoding"
                        | "content-length"
                        | "content-type"
                        | "user-agent"
                        | "connection"
                        | "keep-alive"
                        | "proxy-authenticate"
                        | "proxy-authorization"
                        | "www-authenticate"
                        | "accept-encoding"
                        | "x-prometheus-remote-write-version"
                        | "x-prometheus-remote-read-version"
                        | "x-prometheus-scrape-timeout-seconds"
                        | "x-amz-date"
                        | "x-amz-security-token"
                        | "x-amz-content-sha256"
                ) {
                    return Err(format!("setting header {name:?} is not allowed"));
                }
            }
        }
        self.tls_config.validate()
    }

    /// The `Authorization` header value of `basic_auth`, `authorization` or
    /// `bearer_token(_file)`, secret files read now.
    pub fn auth_header(&self) -> Result<Option<String>, String> {
        use base64::Engine as _;
        let cfg = self;
        if let Some(b) = cfg.basic_auth {
            let user = if b.username_file.is_empty() {
                b.username.clone()
            } else {
                read_secret_file(&b.username_file, "basic auth username")?
            };
            let pass = if b.password_file.is_empty() {
                b.password.clone()
            } else {
                read_secret_file(&b.password_file, "basic auth password")?
            };
            let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
            return Ok(Some(format!("Basic {token}")));
        }
        let authz = match cfg.authorization {
            Some(a) => {
                let kind = if a.kind.trim().is_empty() {
                    "Bearer".to_string()
                } else {
                    a.kind.trim().to_string()
                };
                let cred = if a.credentials_file.is_empty() {
                    a.credentials.clone()
                } else {
                    read_secret_file(&a.credentials_file, "authorization credentials")?
                };
                Some((kind, cred))
            }
            None if !cfg.bearer_token.is_empty() => {
                Some(("Bearer".to_string(), cfg.bearer_token.to_string()))
            }
            None if !cfg.bearer_token_file.is_empty() => Some((
                "Bearer".to_string(),
                read_secret_file(cfg.bearer_token_file, "bearer token")?,
            )),
            None => None,
        };
        Ok(authz.map(|(kind, cred)| format!("{kind} {cred}")))
    }

    /// Every header the config adds to a request: `Authorization`, then `http_headers` (values,
    /// secrets and the contents of files, read now), checked as HTTP header names and values.
    pub fn headers(&self) -> Result<Vec<(http::HeaderName, http::HeaderValue)>, String> {
        let cfg = self;
        let mut out: Vec<(String, String)> = Vec::new();
        if let Some(a) = self.auth_header()? {
            out.push(("authorization".into(), a));
        }
        if let Some(headers) = cfg.http_headers {
            for (name, h) in headers {
                for v in h.values.iter().chain(&h.secrets) {
                    out.push((name.clone(), v.clone()));
                }
                for f in &h.files {
                    let v = std::fs::read_to_string(f)
                        .map_err(|e| format!("unable to read header file {f}: {e}"))?;
                    out.push((name.clone(), v.trim().to_string()));
                }
            }
        }
        out.into_iter()
            .map(|(k, v)| {
                let name = http::HeaderName::from_bytes(k.as_bytes())
                    .map_err(|e| format!("invalid header name {k:?}: {e}"))?;
                let value = http::HeaderValue::from_str(&v)
                    .map_err(|e| format!("invalid value for header {k:?}: {e}"))?;
                Ok((name, value))
            })
            .collect()
    }
}

fn read_secret_file(path: &str, what: &str) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| format!("unable to read {what} file {path}: {e}"))
}

fn pem_or_file(inline: &str, file: &str, what: &str) -> Result<Option<Vec<u8>>, String> {
    if !inline.is_empty() {
        Ok(Some(inline.as_bytes().to_vec()))
    } else if !file.is_empty() {
        std::fs::read(file)
            .map(Some)
            .map_err(|e| format!("unable to read {what} {file}: {e}"))
    } else {
        Ok(None)
    }
}

impl TlsConfig {
    /// The rustls client configuration: TLS 1.2 and 1.3 within `min_version`/`max_version`; the
    /// configured CA replacing the system roots (as in Go); the client certificate; or no
    /// verification with `insecure_skip_verify`. Files are read now; errors name them.
    pub fn rustls(&self) -> Result<rustls::ClientConfig, String> {
        let t = self;
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let min = tls_version_rank(&t.min_version).unwrap_or(12);
        let max = tls_version_rank(&t.max_version).unwrap_or(13);
        if max < min {
            return Err("tls_config.max_version must be greater than or equal to tls_config.min_version if both are specified".into());
        }
        let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
        if min <= 12 && max >= 12 {
            versions.push(&rustls::version::TLS12);
        }
        if max >= 13 {
            versions.push(&rustls::version::TLS13);
        }
        if versions.is_empty() {
            return Err("TLS versions below 1.2 are not supported".into());
        }
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| format!("tls_config: {e}"))?;
        let builder = if t.insecure_skip_verify {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCert(provider)))
        } else {
            let mut roots = rustls::RootCertStore::empty();
            match pem_or_file(&t.ca, &t.ca_file, "CA cert")? {
                Some(pem) => {
                    let bad = |e: &dyn std::fmt::Display| {
                        format!("unable to use specified CA cert {}: {e}", t.ca_file)
                    };
                    for cert in CertificateDer::pem_slice_iter(&pem) {
                        let cert = cert.map_err(|e| bad(&e))?;
                        roots.add(cert).map_err(|e| bad(&e))?;
                    }
                    if roots.is_empty() {
                        return Err(bad(&"no certificate found"));
                    }
                }
                None => {
                    let native = rustls_native_certs::load_native_certs();
                    let (added, _) = roots.add_parsable_certificates(native.certs);
                    if added == 0 {
                        tracing::warn!(
                            "no system CA certificates found; TLS verification will fail"
                        );
                    }
                }
            }
            builder.with_root_certificates(roots)
        };
        let cert = pem_or_file(&t.cert, &t.cert_file, "client cert")?;
        let key = pem_or_file(&t.key, &t.key_file, "client key")?;
        match (cert, key) {
            (Some(cert), Some(key)) => {
                // The error text never includes the key material.
                let bad = |e: &dyn std::fmt::Display| {
                    format!(
                        "unable to use specified client cert ({}) & key ({}): {e}",
                        t.cert_file, t.key_file
                    )
                };
                let certs = CertificateDer::pem_slice_iter(&cert)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| bad(&e))?;
                if certs.is_empty() {
                    return Err(bad(&"no certificate found"));
                }
                let key = PrivateKeyDer::from_pem_slice(&key).map_err(|e| bad(&e))?;
                builder
                    .with_client_auth_cert(certs, key)
                    .map_err(|e| bad(&e))
            }
            _ => Ok(builder.with_no_client_auth()),
        }
    }
}

#[derive(Debug)]
struct AcceptAnyServerCert(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls_pki_types::CertificateDer<'_>,
        _intermediates: &[rustls_pki_types::CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
