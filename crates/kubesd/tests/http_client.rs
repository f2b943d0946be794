//! The API server connection honours the shared HTTP client settings (the `httpconfig` crate):
//! TLS CA and client certificate, `server_name`, `bearer_token_file` re-read per request,
//! `basic_auth`, `http_headers`, `proxy_url` with `proxy_connect_header` and `no_proxy`, and
//! Prometheus' refusal of bad combinations. Against the fake API server.

mod common;
use common::*;
use kubesd::httpconfig::{BasicAuth, HttpHeader};
use kubesd::testing::{fixtures, FakeApiServer, FakeOptions};
use kubesd::{Role, SdConfig};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kubesd-http-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    dir
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p.to_string_lossy().into_owned()
}

async fn tls_server() -> FakeApiServer {
    FakeApiServer::start(FakeOptions {
        token: None,
        tls: true,
    })
    .await
    .expect("tls server")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_ca_and_client_certificate_from_files() {
    init_tracing();
    let srv = tls_server().await;
    srv.apply(fixtures::pod("default", "a", "10.1.0.1", 1));
    let (cert, key) = srv.require_client_cert().expect("client cert");
    let dir = temp_dir("mtls");
    let mut cfg = SdConfig::new(Role::Pod);
    cfg.api_server = srv.url();
    cfg.http.tls_config.ca_file = write(&dir, "ca.crt", srv.ca_pem().expect("ca"));
    cfg.http.tls_config.cert_file = write(&dir, "client.crt", &cert);
    cfg.http.tls_config.key_file = write(&dir, "client.key", &key);
    let (mut rx, _e, _h) = start(cfg.clone()).await;
    let mut v = View::default();
    v.until(&mut rx, "pod over mutual TLS", |v| {
        v.groups.contains_key("pod/default/a")
    })
    .await;

    // Without the client certificate the server refuses the handshake: reported, no groups.
    let mut no_cert = cfg.clone();
    no_cert.http.tls_config.cert_file.clear();
    no_cert.http.tls_config.key_file.clear();
    let (mut rx, mut errs, _h) = start(no_cert).await;
    let e = tokio::time::timeout(WAIT, errs.recv())
        .await
        .expect("error in time")
        .expect("error");
    assert_eq!(e.code, None, "{e}");
    assert!(rx.try_recv().is_err(), "no update without a certificate");

    // The system roots do not know the test CA.
    let mut no_ca = cfg.clone();
    no_ca.http.tls_config.ca_file.clear();
    let (_rx, mut errs, _h) = start(no_ca).await;
    let e = tokio::time::timeout(WAIT, errs.recv())
        .await
        .expect("error in time")
        .expect("error");
    assert!(e.to_string().contains(&srv.url()), "{e}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_server_name_and_insecure_skip_verify() {
    init_tracing();
    let srv = tls_server().await;
    srv.apply(fixtures::pod("default", "a", "10.1.0.1", 1));
    // The certificate names localhost and 127.0.0.1; the URL uses the address.
    let mut cfg = SdConfig::new(Role::Pod);
    cfg.api_server = srv.url();
    cfg.http.tls_config.ca = srv.ca_pem().expect("ca").to_string();
    cfg.http.tls_config.server_name = "localhost".into();
    let (mut rx, _e, _h) = start(cfg.clone()).await;
    let mut v = View::default();
    v.until(&mut rx, "pod with server_name", |v| v.groups.len() == 1)
        .await;

    let mut wrong = cfg.clone();
    wrong.http.tls_config.server_name = "kubernetes.example".into();
    let (_rx, mut errs, _h) = start(wrong).await;
    let e = tokio::time::timeout(WAIT, errs.recv())
        .await
        .expect("error in time")
        .expect("error");
    assert!(
        e.message.contains("certificate") || e.message.contains("error"),
        "{e}"
    );

    let mut insecure = SdConfig::new(Role::Pod);
    insecure.api_server = srv.url();
    insecure.http.tls_config.insecure_skip_verify = true;
    let (mut rx, _e, _h) = start(insecure).await;
    let mut v = View::default();
    v.until(&mut rx, "pod without verification", |v| v.groups.len() == 1)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_token_file_is_read_again_for_each_request() {
    init_tracing();
    let srv = server().await;
    srv.apply(fixtures::pod("default", "a", "10.1.0.1", 1));
    let dir = temp_dir("token");
    let token = write(&dir, "token", &format!("{TOKEN}\n"));
    let mut cfg = SdConfig::new(Role::Pod);
    cfg.api_server = srv.url();
    cfg.http.bearer_token_file = token.clone();
    let (mut rx, _e, _h) = start(cfg).await;
    let mut v = View::default();
    v.until(&mut rx, "pod a", |v| v.groups.contains_key("pod/default/a"))
        .await;

    // The token rotates: on disk and on the server. The next request (the watch, re-opened
    // after the connection drops) carries the new one.
    std::fs::write(&token, "rotated-token").expect("rotate");
    srv.set_token(Some("rotated-token"));
    srv.drop_connections();
    srv.apply(fixtures::pod("default", "b", "10.1.0.2", 1));
    v.until(&mut rx, "pod b after rotation", |v| {
        v.groups.contains_key("pod/default/b")
    })
    .await;
    assert!(srv.requests().iter().any(
        |r| r.headers.get("authorization").map(String::as_str) == Some("Bearer rotated-token")
    ));
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_from_a_password_file_and_http_headers() {
    init_tracing();
    let srv = server().await;
    // u:p
    srv.set_authorization(Some("Basic dTpw"));
    srv.apply(fixtures::pod("default", "a", "10.1.0.1", 1));
    let dir = temp_dir("basic");
    let mut cfg = SdConfig::new(Role::Pod);
    cfg.api_server = srv.url();
    cfg.http.basic_auth = Some(BasicAuth {
        username: "u".into(),
        password_file: write(&dir, "password", "p\n"),
        ..Default::default()
    });
    cfg.http.http_headers.insert(
        "X-Scope-OrgID".into(),
        HttpHeader {
            values: vec!["tenant-1".into()],
            files: vec![write(&dir, "hdr", "from-file\n")],
            ..Default::default()
        },
    );
    let (mut rx, _e, _h) = start(cfg).await;
    let mut v = View::default();
    v.until(&mut rx, "pod with basic auth", |v| v.groups.len() == 1)
        .await;
    let r = srv
        .requests()
        .into_iter()
        .find(|r| r.path == "/api/v1/pods")
        .expect("a list request");
    assert_eq!(r.headers["authorization"], "Basic dTpw");
    assert_eq!(r.headers["x-scope-orgid"], "tenant-1, from-file");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn bad_combinations_are_refused_with_prometheus_messages() {
    let err = |y: &str| {
        serde_yaml::from_str::<SdConfig>(y)
            .expect_err(y)
            .to_string()
    };
    let base = "role: pod\napi_server: https://k8s:6443\n";
    for (extra, want) in [
        (
            "bearer_token: a\nbasic_auth: {username: u}\n",
            "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
        ),
        (
            "authorization: {credentials: c}\nbearer_token_file: /t\n",
            "authorization is not compatible with bearer_token & bearer_token_file",
        ),
        (
            "tls_config: {ca: x, ca_file: /ca}\n",
            "at most one of ca, ca_file & ca_ref must be configured",
        ),
        (
            "tls_config: {key_file: /k}\n",
            "exactly one of cert or cert_file must be configured when a client key is configured",
        ),
        (
            "no_proxy: internal\n",
            "if no_proxy is configured, proxy_url must also be configured",
        ),
        (
            "http_headers: {Host: {values: [x]}}\n",
            "setting header \"Host\" is not allowed",
        ),
    ] {
        let e = err(&format!("{base}{extra}"));
        assert!(e.contains(want), "{extra}: {e}");
    }
    // Built in code, the discovery refuses it the same way.
    let mut cfg = SdConfig::new(Role::Pod);
    cfg.api_server = "https://k8s:6443".into();
    cfg.http.bearer_token = "a".into();
    cfg.http.bearer_token_file = "/t".into();
    let e = kubesd::Discovery::new(cfg, fast_options())
        .await
        .expect_err("refused");
    assert_eq!(
        e.to_string(),
        "at most one of bearer_token & bearer_token_file must be configured"
    );
    // A secret file that cannot be read is reported when the discovery is set up.
    let mut cfg = SdConfig::new(Role::Pod);
    cfg.api_server = "https://k8s:6443".into();
    cfg.http.bearer_token_file = "/nonexistent/token".into();
    let e = kubesd::Discovery::new(cfg, fast_options())
        .await
        .expect_err("refused");
    let text = e.to_string();
    assert!(
        text.contains("role=pod") && text.contains("/nonexistent/token"),
        "{text}"
    );
}

/// A CONNECT proxy that records each request head and tunnels.
async fn connect_proxy() -> (String, Arc<Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if client.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let target = head
                    .strip_prefix("CONNECT ")
                    .and_then(|r| r.split(' ').next())
                    .unwrap_or_default()
                    .to_string();
                log.lock().expect("log").push(head);
                let Ok(mut upstream) = tokio::net::TcpStream::connect(target).await else {
                    let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
                    return;
                };
                if client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await
                    .is_ok()
                {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                }
            });
        }
    });
    (url, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_url_with_connect_headers_and_no_proxy() {
    init_tracing();
    let srv = server().await;
    srv.apply(fixtures::pod("default", "a", "10.1.0.1", 1));
    let (proxy, seen) = connect_proxy().await;
    let mut cfg = config(&srv, Role::Pod);
    // Prometheus' proxy_url without no_proxy proxies every request, loopback included.
    cfg.http.proxy_url = proxy.replace("http://", "http://user:pa%40ss@");
    cfg.http
        .proxy_connect_header
        .insert("X-Proxy-Tenant".into(), vec!["t1".into()]);
    let (mut rx, _e, _h) = start(cfg.clone()).await;
    let mut v = View::default();
    v.until(&mut rx, "pod through the proxy", |v| v.groups.len() == 1)
        .await;
    let heads = seen.lock().expect("log").clone();
    let head = heads.first().expect("a CONNECT");
    let host = srv.addr().to_string();
    assert!(head.starts_with(&format!("CONNECT {host} ")), "{head}");
    let lower = head.to_ascii_lowercase();
    assert!(lower.contains("x-proxy-tenant: t1"), "{head}");
    // user:pa@ss
    assert!(
        lower.contains("proxy-authorization: basic dxnlcjpwyubzcw=="),
        "{head}"
    );

    // no_proxy naming the API server's address: straight to the server.
    seen.lock().expect("log").clear();
    cfg.http.no_proxy = "example.com, 127.0.0.1".into();
    cfg.http.proxy_connect_header.clear();
    let (mut rx, _e, _h) = start(cfg).await;
    let mut v = View::default();
    v.until(&mut rx, "pod without the proxy", |v| v.groups.len() == 1)
        .await;
    assert!(seen.lock().expect("log").is_empty());
}
