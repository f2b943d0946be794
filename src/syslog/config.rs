//! A job's `syslog` section, checked and resolved: Promtail's defaults, its start-up errors, the
//! TLS server configuration.

use std::sync::Arc;
use std::time::Duration;

use ::syslog::{FramerConfig, SyslogFormat};

use crate::config::raw::RawSyslog;
use crate::relabel::is_valid_label_name;

/// Promtail's default `idle_timeout`.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// Promtail's default `max_message_length`.
pub const DEFAULT_MAX_MESSAGE_LENGTH: usize = 8192;
/// Default of the ferrotail-only `max_connections`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// `listen_protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `tcp` (default).
    Tcp,
    /// `udp`.
    Udp,
}

impl Protocol {
    /// The config value.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// A syslog receiver's settings.
#[derive(Clone)]
pub struct Options {
    /// `listen_address` as written.
    pub listen_address: String,
    /// `listen_protocol`.
    pub protocol: Protocol,
    /// `idle_timeout` (TCP).
    pub idle_timeout: Duration,
    /// `syslog_format`.
    pub format: SyslogFormat,
    /// `label_structured_data`.
    pub label_structured_data: bool,
    /// `use_incoming_timestamp`.
    pub use_incoming_timestamp: bool,
    /// `use_rfc5424_message`.
    pub use_rfc5424_message: bool,
    /// `max_message_length`, defaulted.
    pub max_message_length: usize,
    /// The framer's limits.
    pub framer: FramerConfig,
    /// `labels`, without empty values (Prometheus' label builder drops them).
    pub labels: Vec<(String, String)>,
    /// The TLS server configuration (TCP with `cert_file`/`key_file`/`ca_file`).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Open TCP connections at most (ferrotail only).
    pub max_connections: usize,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("listen_address", &self.listen_address)
            .field("protocol", &self.protocol)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Options {
    /// Resolves the section with Promtail's defaults and start-up checks; reads the TLS files.
    /// Binds nothing.
    pub fn from_raw(raw: &RawSyslog) -> Result<Options, String> {
        let protocol = match raw.listen_protocol.as_str() {
            "" | "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            other => {
                return Err(format!(
                    "invalid transport protocol. expected 'tcp' or 'udp', got '{other}'"
                ))
            }
        };
        for k in raw.labels.keys() {
            if !is_valid_label_name(k) {
                return Err(format!("{k:?} is not a valid label name"));
            }
        }
        if raw.max_message_length < 0 {
            return Err(format!(
                "max_message_length {} must not be negative",
                raw.max_message_length
            ));
        }
        let max_message_length = match usize::try_from(raw.max_message_length) {
            Ok(0) | Err(_) => DEFAULT_MAX_MESSAGE_LENGTH,
            Ok(n) => n,
        };
        let t = &raw.tls_config;
        let tls_enabled =
            !t.cert_file.is_empty() || !t.key_file.is_empty() || !t.ca_file.is_empty();
        let tls = if tls_enabled && protocol == Protocol::Tcp {
            Some(Arc::new(
                server_tls(&t.cert_file, &t.key_file, &t.ca_file)
                    .map_err(|e| format!("error setting up syslog target: {e}"))?,
            ))
        } else {
            None
        };
        Ok(Options {
            listen_address: raw.listen_address.clone(),
            protocol,
            idle_timeout: if raw.idle_timeout.0.is_zero() {
                DEFAULT_IDLE_TIMEOUT
            } else {
                raw.idle_timeout.0
            },
            format: if raw.syslog_format == "rfc3164" {
                SyslogFormat::Rfc3164
            } else {
                SyslogFormat::Rfc5424
            },
            label_structured_data: raw.label_structured_data,
            use_incoming_timestamp: raw.use_incoming_timestamp,
            use_rfc5424_message: raw.use_rfc5424_message,
            max_message_length,
            framer: FramerConfig::with_max_message_length(max_message_length),
            labels: raw
                .labels
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            tls,
            max_connections: if raw.max_connections == 0 {
                DEFAULT_MAX_CONNECTIONS
            } else {
                raw.max_connections as usize
            },
        })
    }
}

/// Promtail's `newTLSConfig`: the server certificate and key are required; a CA file makes
/// client certificates required and verified against it.
fn server_tls(
    cert_file: &str,
    key_file: &str,
    ca_file: &str,
) -> Result<rustls::ServerConfig, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    if cert_file.is_empty() || key_file.is_empty() {
        return Err("certificate and key files are required".into());
    }
    let bad_pair = |e: &dyn std::fmt::Display| {
        format!("unable to load server certificate or key: {cert_file}, {key_file}: {e}")
    };
    let cert_pem = std::fs::read(cert_file).map_err(|e| bad_pair(&e))?;
    let key_pem = std::fs::read(key_file).map_err(|e| bad_pair(&e))?;
    let certs = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad_pair(&e))?;
    if certs.is_empty() {
        return Err(bad_pair(&"no certificate found"));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| bad_pair(&e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = if ca_file.is_empty() {
        builder.with_no_client_auth()
    } else {
        let pem = std::fs::read(ca_file)
            .map_err(|e| format!("unable to load client CA certificate: {ca_file}: {e}"))?;
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|_| "unable to parse client CA certificate".to_string())?;
            roots
                .add(cert)
                .map_err(|_| "unable to parse client CA certificate".to_string())?;
        }
        if roots.is_empty() {
            return Err("unable to parse client CA certificate".into());
        }
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("unable to use client CA certificate {ca_file}: {e}"))?;
        builder.with_client_cert_verifier(verifier)
    };
    builder
        .with_single_cert(certs, key)
        .map_err(|e| bad_pair(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_errors() {
        let o = Options::from_raw(&RawSyslog::default()).unwrap();
        assert_eq!(o.protocol, Protocol::Tcp);
        assert_eq!(o.idle_timeout, DEFAULT_IDLE_TIMEOUT);
        assert_eq!(o.max_message_length, 8192);
        assert_eq!(o.format, SyslogFormat::Rfc5424);
        assert_eq!(o.max_connections, DEFAULT_MAX_CONNECTIONS);
        let raw = RawSyslog {
            listen_protocol: "sctp".into(),
            ..Default::default()
        };
        assert_eq!(
            Options::from_raw(&raw).unwrap_err(),
            "invalid transport protocol. expected 'tcp' or 'udp', got 'sctp'"
        );
        let mut raw = RawSyslog::default();
        raw.tls_config.ca_file = "/x".into();
        assert_eq!(
            Options::from_raw(&raw).unwrap_err(),
            "error setting up syslog target: certificate and key files are required"
        );
        // Any other format is RFC 5424, as in Promtail.
        let raw = RawSyslog {
            syslog_format: "RFC3164".into(),
            ..Default::default()
        };
        assert_eq!(
            Options::from_raw(&raw).unwrap().format,
            SyslogFormat::Rfc5424
        );
        let mut raw = RawSyslog::default();
        raw.labels.insert("1bad".into(), "x".into());
        assert!(Options::from_raw(&raw).is_err());
    }
}
