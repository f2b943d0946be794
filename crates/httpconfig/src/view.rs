//! [`HttpClientConfig`]: the settings of one config block, and what they mean for a request.

use std::collections::BTreeMap;

use crate::{Authorization, BasicAuth, HttpHeader, OAuth2, TlsConfig};

/// The HTTP client settings of one config block, borrowed from it (`clients[]`,
/// `docker_sd_configs[]` and `kubernetes_sd_configs[]` carry the same keys inline; an
/// [`crate::HttpClientSettings`] gives one with [`crate::HttpClientSettings::config`]).
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

#[cfg(test)]
mod tests {
    use crate::{Authorization, BasicAuth, HttpClientSettings, HttpHeader, OAuth2, TlsConfig};

    fn err(s: HttpClientSettings) -> String {
        s.config().validate().expect_err("invalid")
    }

    #[test]
    fn validation_uses_prometheus_messages() {
        let basic = || {
            Some(BasicAuth {
                username: "u".into(),
                ..Default::default()
            })
        };
        assert_eq!(
            err(HttpClientSettings {
                bearer_token: "a".into(),
                bearer_token_file: "b".into(),
                ..Default::default()
            }),
            "at most one of bearer_token & bearer_token_file must be configured"
        );
        assert_eq!(
            err(HttpClientSettings {
                bearer_token: "a".into(),
                basic_auth: basic(),
                ..Default::default()
            }),
            "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured"
        );
        assert_eq!(
            err(HttpClientSettings {
                basic_auth: Some(BasicAuth {
                    password: "p".into(),
                    password_file: "f".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            "at most one of basic_auth password, password_file & password_ref must be configured"
        );
        assert_eq!(
            err(HttpClientSettings {
                authorization: Some(Authorization {
                    kind: " basic ".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            r#"authorization type cannot be set to "basic", use "basic_auth" instead"#
        );
        assert_eq!(
            err(HttpClientSettings {
                authorization: Some(Authorization::default()),
                basic_auth: basic(),
                ..Default::default()
            }),
            "at most one of basic_auth, oauth2 & authorization must be configured"
        );
        assert_eq!(
            err(HttpClientSettings {
                oauth2: Some(OAuth2::default()),
                ..Default::default()
            }),
            "oauth2 client_id must be configured"
        );
        assert_eq!(
            err(HttpClientSettings {
                no_proxy: "x".into(),
                ..Default::default()
            }),
            "if no_proxy is configured, proxy_url must also be configured"
        );
        assert_eq!(
            err(HttpClientSettings {
                proxy_from_environment: true,
                proxy_url: "http://p".into(),
                ..Default::default()
            }),
            "if proxy_from_environment is configured, proxy_url must not be configured"
        );
        let mut s = HttpClientSettings::default();
        s.http_headers
            .insert("User-Agent".into(), HttpHeader::default());
        assert_eq!(err(s), r#"setting header "User-Agent" is not allowed"#);
        assert_eq!(
            err(HttpClientSettings {
                tls_config: TlsConfig {
                    ca: "pem".into(),
                    ca_file: "f".into(),
                    ..Default::default()
                },
                ..Default::default()
            }),
            "at most one of ca, ca_file & ca_ref must be configured"
        );
        assert_eq!(
            err(HttpClientSettings {
                tls_config: TlsConfig {
                    cert_file: "c".into(),
                    ..Default::default()
                },
                ..Default::default()
            }),
            "exactly one of key or key_file must be configured when a client certificate is configured"
        );
        assert_eq!(
            err(HttpClientSettings {
                tls_config: TlsConfig {
                    min_version: "TLS14".into(),
                    ..Default::default()
                },
                ..Default::default()
            }),
            "unknown TLS version: TLS14"
        );
    }

    #[test]
    fn secret_files_are_read_at_each_call() {
        let dir = std::env::temp_dir().join(format!("httpconfig-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let token = dir.join("token");
        std::fs::write(&token, "one\n").unwrap();
        let s = HttpClientSettings {
            bearer_token_file: token.to_string_lossy().into_owned(),
            ..Default::default()
        };
        assert_eq!(s.config().auth_header().unwrap().unwrap(), "Bearer one");
        std::fs::write(&token, "two").unwrap();
        assert_eq!(s.config().auth_header().unwrap().unwrap(), "Bearer two");
        std::fs::remove_file(&token).unwrap();
        let e = s.config().auth_header().unwrap_err();
        assert!(e.starts_with("unable to read bearer token file "), "{e}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn headers_carry_authorization_then_http_headers() {
        let mut s = HttpClientSettings {
            basic_auth: Some(BasicAuth {
                username: "u".into(),
                password: "p".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        s.http_headers.insert(
            "X-Scope".into(),
            HttpHeader {
                values: vec!["a".into()],
                secrets: vec!["b".into()],
                files: Vec::new(),
            },
        );
        let h = s.config().headers().unwrap();
        let pairs: Vec<(String, String)> = h
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("authorization".to_string(), "Basic dTpw".to_string()),
                ("x-scope".to_string(), "a".to_string()),
                ("x-scope".to_string(), "b".to_string()),
            ]
        );
        let custom = HttpClientSettings {
            authorization: Some(Authorization {
                kind: "Token".into(),
                credentials: "c".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(custom.config().auth_header().unwrap().unwrap(), "Token c");
    }
}
