//! [`TlsConfig::rustls`]: the one rustls client configuration.

use std::sync::Arc;

use crate::keys::tls_version_rank;
use crate::TlsConfig;

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
    /// The name the server certificate is verified against (and sent as SNI) when
    /// `server_name` is set; `None` means the host of the URL, as in Go.
    pub fn server_name(&self) -> Result<Option<rustls_pki_types::ServerName<'static>>, String> {
        if self.server_name.is_empty() {
            return Ok(None);
        }
        rustls_pki_types::ServerName::try_from(self.server_name.clone())
            .map(Some)
            .map_err(|e| format!("invalid tls_config.server_name {:?}: {e}", self.server_name))
    }

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
        if !t.min_version.is_empty() && !t.max_version.is_empty() && max < min {
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

#[cfg(test)]
mod tests {
    use crate::TlsConfig;

    fn ca() -> (String, String, String) {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = p.self_signed(&ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["client".to_string()])
            .unwrap()
            .signed_by(&key, &ca, &ca_key)
            .unwrap();
        (ca.pem(), cert.pem(), key.serialize_pem())
    }

    #[test]
    fn a_ca_and_a_client_certificate_make_a_configuration() {
        let (ca, cert, key) = ca();
        let t = TlsConfig {
            ca,
            cert,
            key,
            ..Default::default()
        };
        let c = t.rustls().expect("config");
        assert!(c.client_auth_cert_resolver.has_certs());
    }

    #[test]
    fn bad_files_are_named_and_key_material_never_shown() {
        let t = TlsConfig {
            ca_file: "/nonexistent/ca.pem".into(),
            ..Default::default()
        };
        let e = t.rustls().unwrap_err();
        assert!(
            e.starts_with("unable to read CA cert /nonexistent/ca.pem"),
            "{e}"
        );
        let t = TlsConfig {
            ca: "not a pem".into(),
            ..Default::default()
        };
        assert!(t.rustls().unwrap_err().contains("no certificate found"));
        let (_, cert, _) = ca();
        let t = TlsConfig {
            cert,
            key: "SECRET-KEY-TEXT".into(),
            insecure_skip_verify: true,
            ..Default::default()
        };
        let e = t.rustls().unwrap_err();
        assert!(e.starts_with("unable to use specified client cert"), "{e}");
        assert!(!e.contains("SECRET-KEY-TEXT"), "{e}");
    }

    #[test]
    fn versions_and_server_name() {
        let t = TlsConfig {
            min_version: "TLS13".into(),
            max_version: "TLS12".into(),
            insecure_skip_verify: true,
            ..Default::default()
        };
        assert!(t
            .rustls()
            .unwrap_err()
            .contains("max_version must be greater"));
        let t = TlsConfig {
            max_version: "TLS11".into(),
            insecure_skip_verify: true,
            ..Default::default()
        };
        assert_eq!(
            t.rustls().unwrap_err(),
            "TLS versions below 1.2 are not supported"
        );
        assert!(TlsConfig::default().server_name().unwrap().is_none());
        let t = TlsConfig {
            server_name: "kubernetes.default.svc".into(),
            ..Default::default()
        };
        assert!(t.server_name().unwrap().is_some());
    }
}
