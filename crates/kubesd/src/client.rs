//! The kube-rs client for one `kubernetes_sd_config`: from `api_server` and
//! the HTTP client settings, from `kubeconfig_file`, or in-cluster.

use crate::config::{HttpClientConfig, SdConfig};
use crate::discovery::InCluster;
use crate::{Error, Role};
use base64::Engine;
use kube::config::{
    AuthInfo, Cluster, Context, KubeConfigOptions, Kubeconfig, NamedAuthInfo, NamedCluster,
    NamedContext,
};
use secrecy::SecretString;

pub(crate) struct Built {
    pub client: kube::Client,
    /// Base URL, for messages.
    pub url: String,
    /// Own namespace, when `namespaces.own_namespace` is set (in-cluster).
    pub own_namespace: Option<String>,
}

fn cerr(role: Role, message: impl Into<String>) -> Error {
    Error::Client {
        role,
        message: message.into(),
    }
}

fn read_trimmed(role: Role, what: &str, path: &str) -> Result<String, Error> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| cerr(role, format!("unable to read {what} {path}: {e}")))
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
}

/// Builds an in-memory kubeconfig for `api_server` + HTTP client settings, so
/// kube-rs does the certificate and token handling.
fn kubeconfig_for_api_server(
    role: Role,
    server: &str,
    http: &HttpClientConfig,
) -> Result<(Kubeconfig, Vec<(http::HeaderName, http::HeaderValue)>), Error> {
    let t = &http.tls_config;
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let cluster = Cluster {
        server: Some(server.to_string()),
        insecure_skip_tls_verify: t.insecure_skip_verify.then_some(true),
        certificate_authority: opt(&t.ca_file),
        certificate_authority_data: opt(&t.ca).map(|s| b64(&s)),
        proxy_url: opt(&http.proxy_url),
        tls_server_name: opt(&t.server_name),
        ..Cluster::default()
    };
    let mut user = AuthInfo {
        client_certificate: opt(&t.cert_file),
        client_certificate_data: opt(&t.cert).map(|s| b64(&s)),
        client_key: opt(&t.key_file),
        client_key_data: opt(&t.key).map(|s| SecretString::from(b64(&s))),
        ..AuthInfo::default()
    };
    let mut headers = Vec::new();
    if !http.bearer_token.is_empty() {
        user.token = Some(SecretString::from(http.bearer_token.clone()));
    }
    if !http.bearer_token_file.is_empty() {
        user.token_file = Some(http.bearer_token_file.clone());
    }
    if let Some(a) = &http.authorization {
        let kind = a.kind.trim();
        if kind.is_empty() || kind.eq_ignore_ascii_case("bearer") {
            if !a.credentials.is_empty() {
                user.token = Some(SecretString::from(a.credentials.clone()));
            }
            if !a.credentials_file.is_empty() {
                user.token_file = Some(a.credentials_file.clone());
            }
        } else {
            let creds = if a.credentials_file.is_empty() {
                a.credentials.clone()
            } else {
                read_trimmed(role, "authorization credentials_file", &a.credentials_file)?
            };
            let v = http::HeaderValue::from_str(&format!("{kind} {creds}"))
                .map_err(|e| cerr(role, format!("invalid authorization header: {e}")))?;
            headers.push((http::header::AUTHORIZATION, v));
        }
    }
    for (name, h) in &http.http_headers {
        let hn = http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| cerr(role, format!("invalid http_headers name {name:?}: {e}")))?;
        let mut vals: Vec<String> = h.values.iter().chain(h.secrets.iter()).cloned().collect();
        for f in &h.files {
            vals.push(read_trimmed(role, "http_headers file", f)?);
        }
        for v in vals {
            let hv = http::HeaderValue::from_str(&v).map_err(|e| {
                cerr(
                    role,
                    format!("invalid http_headers value for {name:?}: {e}"),
                )
            })?;
            headers.push((hn.clone(), hv));
        }
    }
    if let Some(b) = &http.basic_auth {
        let username = if b.username_file.is_empty() {
            b.username.clone()
        } else {
            read_trimmed(role, "basic_auth username_file", &b.username_file)?
        };
        let password = if b.password_file.is_empty() {
            b.password.clone()
        } else {
            read_trimmed(role, "basic_auth password_file", &b.password_file)?
        };
        user.username = Some(username);
        user.password = Some(SecretString::from(password));
    }
    Ok((single_context_kubeconfig(cluster, user), headers))
}

fn single_context_kubeconfig(cluster: Cluster, user: AuthInfo) -> Kubeconfig {
    let name = "kubernetes_sd".to_string();
    Kubeconfig {
        clusters: vec![NamedCluster {
            name: name.clone(),
            cluster: Some(cluster),
            other: Default::default(),
        }],
        auth_infos: vec![NamedAuthInfo {
            name: name.clone(),
            auth_info: Some(user),
            other: Default::default(),
        }],
        contexts: vec![NamedContext {
            name: name.clone(),
            context: Some(Context {
                cluster: name.clone(),
                user: Some(name.clone()),
                ..Context::default()
            }),
            other: Default::default(),
        }],
        current_context: Some(name),
        ..Kubeconfig::default()
    }
}

/// client-go's `rest.InClusterConfig()`, plus the own namespace.
fn in_cluster(
    role: Role,
    ic: &InCluster,
    own_namespace: bool,
) -> Result<(Kubeconfig, Option<String>), Error> {
    let (Some(host), Some(port)) = (ic.host.as_deref(), ic.port.as_deref()) else {
        return Err(cerr(
            role,
            "unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined",
        ));
    };
    if host.is_empty() || port.is_empty() {
        return Err(cerr(
            role,
            "unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined",
        ));
    }
    let token = ic.service_account_dir.join("token");
    let ca = ic.service_account_dir.join("ca.crt");
    if let Err(e) = std::fs::metadata(&token) {
        return Err(cerr(role, format!("open {}: {e}", token.display())));
    }
    let server = format!("https://{}", crate::labels::join_host_port(host, port));
    let cluster = Cluster {
        server: Some(server),
        certificate_authority: ca.exists().then(|| ca.to_string_lossy().into_owned()),
        ..Cluster::default()
    };
    let user = AuthInfo {
        token_file: Some(token.to_string_lossy().into_owned()),
        ..AuthInfo::default()
    };
    let own = if own_namespace {
        let path = ic.service_account_dir.join("namespace");
        let s = std::fs::read_to_string(&path).map_err(|e| {
            cerr(
                role,
                format!("could not determine the pod's namespace: {e}"),
            )
        })?;
        if s.is_empty() {
            return Err(cerr(role, "could not read own namespace name (empty file)"));
        }
        Some(s)
    } else {
        None
    };
    Ok((single_context_kubeconfig(cluster, user), own))
}

/// Whether `url`'s host is excluded from proxying by a `no_proxy` list
/// (exact hosts/IPs, and domain suffixes written `example.com` or `.example.com`).
fn no_proxy_matches(no_proxy: &str, url: &http::Uri) -> bool {
    let Some(host) = url.host() else { return false };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    no_proxy
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|e| {
            let d = e.trim_start_matches('.');
            e == "*" || host == d || host.ends_with(&format!(".{d}"))
        })
}

pub(crate) async fn build(cfg: &SdConfig, ic: &InCluster) -> Result<Built, Error> {
    let role = cfg.role;
    let (kc, headers, own_namespace) = if !cfg.kubeconfig_file.is_empty() {
        let kc = Kubeconfig::read_from(&cfg.kubeconfig_file).map_err(|e| {
            cerr(
                role,
                format!("kubeconfig_file {}: {e}", cfg.kubeconfig_file),
            )
        })?;
        (kc, Vec::new(), None)
    } else if !cfg.api_server.is_empty() {
        let (kc, h) = kubeconfig_for_api_server(role, &cfg.api_server, &cfg.http)?;
        (kc, h, None)
    } else {
        let (kc, own) = in_cluster(role, ic, cfg.namespaces.own_namespace)?;
        tracing::info!(role = %role, "Using pod service account via in-cluster config");
        (kc, Vec::new(), own)
    };
    let mut config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .map_err(|e| cerr(role, format!("invalid client configuration: {e}")))?;
    config.headers.extend(headers);
    if !cfg.api_server.is_empty() {
        // kube-rs falls back to HTTPS_PROXY; Prometheus' client only uses the
        // environment with proxy_from_environment.
        if !cfg.http.proxy_from_environment && cfg.http.proxy_url.is_empty() {
            config.proxy_url = None;
        }
        if !cfg.http.no_proxy.is_empty()
            && no_proxy_matches(&cfg.http.no_proxy, &config.cluster_url)
        {
            config.proxy_url = None;
        }
        if !cfg.http.proxy_connect_header.is_empty() {
            tracing::warn!(role = %role, "proxy_connect_header is not supported, ignored");
        }
    }
    let url = config
        .cluster_url
        .to_string()
        .trim_end_matches('/')
        .to_string();
    let client = kube::Client::try_from(config)
        .map_err(|e| cerr(role, format!("creating client for {url}: {e}")))?;
    Ok(Built {
        client,
        url,
        own_namespace,
    })
}
