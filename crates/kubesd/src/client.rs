//! The kube-rs client for one `kubernetes_sd_config`, as Prometheus builds its client-go one:
//!
//! * `api_server`: the inline HTTP client settings, through the `httpconfig` crate (the same
//!   code as ferrotail's Loki clients and Docker daemons): its rustls configuration, its proxy
//!   choice, and its headers computed for every request (so `bearer_token_file` and the other
//!   secret files are re-read, as Prometheus' round trippers do);
//! * in-cluster (no `api_server`, no `kubeconfig_file`): client-go's `rest.InClusterConfig`,
//!   which is the same thing with `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`,
//!   `bearer_token_file` the service account token and `tls_config.ca_file` its `ca.crt`;
//! * `kubeconfig_file`: kube-rs' kubeconfig loader (client-go's `clientcmd` in Prometheus).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use httpconfig::{HttpClientSettings, TlsConfig};
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::{Connection, HttpConnector};
use hyper_util::rt::TokioExecutor;
use kube::client::middleware::BaseUriLayer;
use kube::config::{KubeConfigOptions, Kubeconfig};
use tower::{BoxError, Layer, Service};

use crate::config::SdConfig;
use crate::discovery::InCluster;
use crate::{Error, Role};

/// Prometheus' dialer (`prometheus/common/config`): 30 s to connect, TCP keep-alive every 30 s
/// (so a watch on a connection that died silently ends).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const TCP_KEEPALIVE: Duration = Duration::from_secs(30);

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

pub(crate) async fn build(cfg: &SdConfig, ic: &InCluster) -> Result<Built, Error> {
    let role = cfg.role;
    if !cfg.kubeconfig_file.is_empty() {
        let kc = Kubeconfig::read_from(&cfg.kubeconfig_file).map_err(|e| {
            cerr(
                role,
                format!("kubeconfig_file {}: {e}", cfg.kubeconfig_file),
            )
        })?;
        let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .map_err(|e| cerr(role, format!("invalid client configuration: {e}")))?;
        let url = base_url(&config.cluster_url);
        let client = kube::Client::try_from(config)
            .map_err(|e| cerr(role, format!("creating client for {url}: {e}")))?;
        return Ok(Built {
            client,
            url,
            own_namespace: None,
        });
    }
    if !cfg.api_server.is_empty() {
        let (client, url) = from_http_settings(role, &cfg.api_server, &cfg.http)?;
        return Ok(Built {
            client,
            url,
            own_namespace: None,
        });
    }
    let (server, http, own_namespace) = in_cluster(role, ic, cfg.namespaces.own_namespace)?;
    tracing::info!(role = %role, "Using pod service account via in-cluster config");
    let (client, url) = from_http_settings(role, &server, &http)?;
    Ok(Built {
        client,
        url,
        own_namespace,
    })
}

fn base_url(uri: &http::Uri) -> String {
    uri.to_string().trim_end_matches('/').to_string()
}

/// client-go's `rest.InClusterConfig()` as HTTP client settings, plus the own namespace.
fn in_cluster(
    role: Role,
    ic: &InCluster,
    own_namespace: bool,
) -> Result<(String, HttpClientSettings, Option<String>), Error> {
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
    if let Err(e) = std::fs::read(&token) {
        return Err(cerr(role, format!("open {}: {e}", token.display())));
    }
    let server = format!("https://{}", crate::labels::join_host_port(host, port));
    let mut http = HttpClientSettings {
        bearer_token_file: token.to_string_lossy().into_owned(),
        ..HttpClientSettings::default()
    };
    // client-go logs a missing or bad CA file and goes on with the system roots.
    if ca.exists() {
        http.tls_config.ca_file = ca.to_string_lossy().into_owned();
    } else {
        tracing::error!(role = %role, path = %ca.display(), "Expected to load root CA config, but the file does not exist");
    }
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
    Ok((server, http, own))
}

/// A kube-rs client for `server` with the shared HTTP client settings: TLS from
/// [`TlsConfig::rustls`], the proxy from `proxy_for`, headers from `headers` on every request.
/// HTTP/1.1 (as before; API servers speak both).
fn from_http_settings(
    role: Role,
    server: &str,
    http: &HttpClientSettings,
) -> Result<(kube::Client, String), Error> {
    let url: http::Uri = server
        .parse()
        .map_err(|e| cerr(role, format!("parse {server:?}: {e}")))?;
    let base = base_url(&url);
    let view = http.config();
    // Catch unreadable secret files now (Prometheus would fail the first request).
    view.headers().map_err(|e| cerr(role, e))?;
    let proxy = view.proxy_for(&url).map_err(|e| cerr(role, e))?;
    // Through a proxy the server is reached with CONNECT host:port, and hyper's tunnel assumes
    // 443 when the URL has no port: give it the scheme's.
    let url = match (&proxy, url.port_u16()) {
        (Some(_), None) => with_default_port(&url).map_err(|e| cerr(role, e))?,
        _ => url,
    };
    let https = url.scheme_str() == Some("https")
        || proxy
            .as_ref()
            .is_some_and(|p| p.uri.scheme_str() == Some("https"));
    // A plain-HTTP server with no TLS settings needs no TLS configuration (and no system roots).
    let tls = if https || http.tls_config.is_set() {
        Some(tls_connector_parts(role, &http.tls_config)?)
    } else {
        None
    };
    let mut connector = HttpConnector::new();
    connector.enforce_http(false);
    connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
    connector.set_keepalive(Some(TCP_KEEPALIVE));
    let headers = Arc::new(http.clone());
    let client = match (proxy, tls) {
        (None, None) => finish(&url, connector, headers),
        (None, Some(tls)) => finish(&url, tls.wrap(connector), headers),
        (Some(p), tls) => {
            if p.uri.scheme_str() == Some("https") {
                let Some(tls) = tls else {
                    unreachable!("https proxy implies TLS")
                };
                // The proxy's own certificate is checked against the proxy's name.
                let to_proxy = TlsParts {
                    config: tls.config.clone(),
                    server_name: None,
                };
                let tunnel =
                    Tunnel::new(p.uri, to_proxy.wrap(connector)).with_headers(p.connect_headers);
                finish(&url, tls.wrap(tunnel), headers)
            } else if p.uri.scheme_str() == Some("http") {
                let tunnel = Tunnel::new(p.uri, connector).with_headers(p.connect_headers);
                match tls {
                    Some(tls) => finish(&url, tls.wrap(tunnel), headers),
                    None => finish(&url, tunnel, headers),
                }
            } else {
                return Err(cerr(
                    role,
                    format!(
                        "proxy_url {}: only http and https proxies are supported",
                        p.uri
                    ),
                ));
            }
        }
    };
    Ok((client, base))
}

/// `url` with its scheme's port written out.
fn with_default_port(url: &http::Uri) -> Result<http::Uri, String> {
    let port = if url.scheme_str() == Some("https") {
        443
    } else {
        80
    };
    let mut parts = url.clone().into_parts();
    let authority = parts
        .authority
        .as_ref()
        .ok_or_else(|| format!("{url}: no host"))?;
    parts.authority = Some(
        format!("{authority}:{port}")
            .parse()
            .map_err(|e| format!("{url}: {e}"))?,
    );
    http::Uri::from_parts(parts).map_err(|e| format!("{url}: {e}"))
}

/// The rustls configuration and server name override of `tls_config`.
struct TlsParts {
    config: rustls::ClientConfig,
    server_name: Option<rustls_pki_types::ServerName<'static>>,
}

fn tls_connector_parts(role: Role, t: &TlsConfig) -> Result<TlsParts, Error> {
    Ok(TlsParts {
        config: t.rustls().map_err(|e| cerr(role, e))?,
        server_name: t.server_name().map_err(|e| cerr(role, e))?,
    })
}

impl TlsParts {
    fn wrap<H>(self, conn: H) -> hyper_rustls::HttpsConnector<H> {
        let b = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(self.config)
            .https_or_http();
        let b = match self.server_name {
            Some(name) => {
                b.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name))
            }
            None => b,
        };
        b.enable_http1().wrap_connector(conn)
    }
}

/// The client over `connector`: hyper's pooled HTTP/1.1 client, the per-request headers, then
/// the API server's base URL.
fn finish<C>(url: &http::Uri, connector: C, headers: Arc<HttpClientSettings>) -> kube::Client
where
    C: Service<http::Uri> + Clone + Send + Sync + 'static,
    C::Response: Connection + hyper::rt::Read + hyper::rt::Write + Send + Unpin + 'static,
    C::Future: Send + Unpin + 'static,
    C::Error: Into<BoxError>,
{
    let http: hyper_util::client::legacy::Client<C, kube::client::Body> =
        hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(connector);
    let service = BaseUriLayer::new(url.clone()).layer(RequestHeaders {
        inner: http,
        settings: headers,
    });
    kube::Client::new(service, "default")
}

/// Adds the settings' headers (`Authorization` replaced, `http_headers` appended) to every
/// request, reading their secret files each time as Prometheus does; a file that cannot be read
/// fails the request, which the watcher reports and retries.
#[derive(Clone)]
struct RequestHeaders<S> {
    inner: S,
    settings: Arc<HttpClientSettings>,
}

impl<S, B> Service<http::Request<B>> for RequestHeaders<S>
where
    S: Service<http::Request<B>>,
    S::Response: Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        match self.settings.config().headers() {
            Ok(headers) => {
                for (name, value) in headers {
                    if name == http::header::AUTHORIZATION {
                        req.headers_mut().insert(name, value);
                    } else {
                        req.headers_mut().append(name, value);
                    }
                }
            }
            Err(e) => return Box::pin(std::future::ready(Err(e.into()))),
        }
        let fut = self.inner.call(req);
        Box::pin(async move { fut.await.map_err(Into::into) })
    }
}

#[cfg(test)]
mod tests {
    use super::with_default_port;

    #[test]
    fn the_default_port_is_written_out_for_the_proxy_tunnel() {
        let p = |u: &str| with_default_port(&u.parse().unwrap()).unwrap().to_string();
        assert_eq!(p("http://k8s.example"), "http://k8s.example:80/");
        assert_eq!(p("https://k8s.example/"), "https://k8s.example:443/");
        assert_eq!(p("https://[fd00::1]"), "https://[fd00::1]:443/");
    }
}
