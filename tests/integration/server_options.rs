//! The `server` block through the real binary: `http_tls_config` (TLS, and client certificates
//! verified against `client_ca_file`), `http_path_prefix` and `-server.path-prefix`,
//! `http_listen_network: unix`, `http_listen_conn_limit`, the idle timeout, and `disable`.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::util::certs::Issued;
use crate::util::{free_port, FakeLoki, Ferrotail};

fn base(loki: &str, tmp: &std::path::Path, port: u16, server_extra: &str) -> String {
    let logs = tmp.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    format!(
        "server:\n  http_listen_address: 127.0.0.1\n  http_listen_port: {port}\n  health_check_target: false\n{server_extra}positions:\n  filename: {pos}\nclients:\n  - url: {loki}\n    batchwait: 100ms\nscrape_configs:\n  - job_name: files\n    static_configs:\n      - labels:\n          __path__: {logs}/*.log\n",
        pos = tmp.join("pos.yaml").display(),
        logs = logs.display(),
    )
}

fn client(ca: &Issued, cert: Option<&Issued>) -> reqwest::Client {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der()).unwrap();
    let b = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let tls = match cert {
        Some(c) => b.with_client_auth_cert(vec![c.der()], c.key_der()).unwrap(),
        None => b.with_no_client_auth(),
    };
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .build()
        .unwrap()
}

/// Waits until `probe` answers something.
async fn wait_https(c: &reqwest::Client, url: &str) -> Result<reqwest::Response, reqwest::Error> {
    let mut last = None;
    for _ in 0..400 {
        match c.get(url).send().await {
            Ok(r) => return Ok(r),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Err(last.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_tls_config_serves_https_and_requires_verified_client_certificates() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = Issued::ca("test-ca");
    let server = ca.leaf(&["127.0.0.1", "localhost"], true);
    let (cert, key) = server.write(tmp.path(), "server");
    let client_ca = Issued::ca("client-ca");
    let good = client_ca.leaf(&["good-client"], false);
    let other_ca = Issued::ca("other-ca");
    let stranger = other_ca.leaf(&["stranger"], false);
    let ca_file = tmp.path().join("client-ca.pem");
    std::fs::write(&ca_file, client_ca.cert.pem()).unwrap();
    let loki = FakeLoki::start().await;
    let port = free_port();
    let tls = format!(
        "  http_tls_config:\n    cert_file: {}\n    key_file: {}\n    client_auth_type: RequireAndVerifyClientCert\n    client_ca_file: {}\n",
        cert.display(),
        key.display(),
        ca_file.display()
    );
    let ft = Ferrotail::start(
        tmp.path(),
        &base(&loki.url, tmp.path(), port, &tls),
        port,
        &[],
    );
    let url = |p: &str| format!("https://127.0.0.1:{port}{p}");
    let ok = wait_https(&client(&ca, Some(&good)), &url("/ready"))
        .await
        .unwrap_or_else(|e| panic!("{e}; stderr:\n{}", ft.log()));
    assert_eq!(ok.status(), 200);
    for path in ["/metrics", "/targets"] {
        let r = client(&ca, Some(&good))
            .get(url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    // No certificate, or one from another CA: the handshake fails.
    assert!(client(&ca, None).get(url("/metrics")).send().await.is_err());
    assert!(client(&ca, Some(&stranger))
        .get(url("/metrics"))
        .send()
        .await
        .is_err());
    // Plain HTTP is not answered as HTTP.
    assert!(reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .map(|r| r.status() != 200)
        .unwrap_or(true));
    assert!(ft.stop().await.success());

    // Flags set the same settings; a bad client_auth_type is refused with dskit's words.
    let port = free_port();
    let ft = Ferrotail::start(
        tmp.path(),
        &base(&loki.url, tmp.path(), port, ""),
        port,
        &[
            &format!("-server.http-tls-cert-path={}", cert.display()),
            &format!("-server.http-tls-key-path={}", key.display()),
        ],
    );
    let r = wait_https(
        &client(&ca, None),
        &format!("https://127.0.0.1:{port}/ready"),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}; stderr:\n{}", ft.log()));
    assert_eq!(r.status(), 200);
    assert!(ft.stop().await.success());
    let port = free_port();
    let bad = format!(
        "  http_tls_config:\n    cert_file: {}\n    key_file: {}\n    client_auth_type: Sometimes\n",
        cert.display(),
        key.display()
    );
    let cfg = tmp.path().join("bad.yml");
    std::fs::write(&cfg, base(&loki.url, tmp.path(), port, &bad)).unwrap();
    let (code, _, err) = crate::util::run_to_end(&[&format!("-config.file={}", cfg.display())]);
    assert_eq!(code, 1);
    assert!(
        err.contains("error generating http tls config: Invalid ClientAuth: Sometimes"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_prefix_moves_every_route() {
    let tmp = tempfile::tempdir().unwrap();
    let loki = FakeLoki::start().await;
    let port = free_port();
    let cfg = base(
        &loki.url,
        tmp.path(),
        port,
        "  http_path_prefix: /promtail\n  enable_runtime_reload: true\n",
    );
    let ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = |p: &str| format!("http://127.0.0.1:{port}{p}");
    wait_https(&c, &url("/promtail/ready")).await.unwrap();
    for (path, want) in [
        ("/promtail/metrics", 200),
        ("/promtail/targets", 200),
        ("/promtail/ready", 200),
        ("/metrics", 404),
        ("/ready", 404),
        ("/promtail/", 303),
    ] {
        let r = c.get(url(path)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), want, "{path}");
    }
    let r = c.get(url("/promtail/")).send().await.unwrap();
    assert_eq!(r.headers()["location"], "/promtail/targets");
    assert!(ft.stop().await.success());
    // The flag wins over the file.
    let port = free_port();
    let ft = Ferrotail::start(
        tmp.path(),
        &base(&loki.url, tmp.path(), port, "  http_path_prefix: /file\n"),
        port,
        &["-server.path-prefix=/flag"],
    );
    let url = |p: &str| format!("http://127.0.0.1:{port}{p}");
    let r = wait_https(&c, &url("/flag/metrics")).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        c.get(url("/file/metrics")).send().await.unwrap().status(),
        404
    );
    assert!(ft.stop().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unix_network_conn_limit_idle_timeout_and_disable() {
    let tmp = tempfile::tempdir().unwrap();
    let loki = FakeLoki::start().await;
    // `http_listen_network: unix`: the address is the socket path.
    let sock = tmp.path().join("ft.sock");
    let cfg = base(&loki.url, tmp.path(), 0, "").replace(
        "  http_listen_address: 127.0.0.1\n",
        &format!(
            "  http_listen_address: {}\n  http_listen_network: unix\n",
            sock.display()
        ),
    );
    let ft = Ferrotail::start(tmp.path(), &cfg, 0, &[]);
    let mut answer = String::new();
    for _ in 0..400 {
        if let Ok(mut s) = tokio::net::UnixStream::connect(&sock).await {
            s.write_all(b"GET /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .await
                .unwrap();
            s.read_to_string(&mut answer).await.unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}; {}", ft.log());
    assert!(ft.stop().await.success());

    // `http_listen_conn_limit: 1`: a second connection is not served while the first is open;
    // `http_server_idle_timeout` closes the idle first one, and then the second is served.
    let port = free_port();
    let cfg = base(
        &loki.url,
        tmp.path(),
        port,
        "  http_listen_conn_limit: 1\n  http_server_idle_timeout: 1s\n  http_server_read_timeout: 1s\n",
    );
    let ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
    ft.wait_up().await;
    let addr = format!("127.0.0.1:{port}");
    let mut first = tokio::net::TcpStream::connect(&addr).await.unwrap();
    first
        .write_all(b"GET /ready HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let n = first.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let opened = std::time::Instant::now();
    let mut second = tokio::net::TcpStream::connect(&addr).await.unwrap();
    second
        .write_all(b"GET /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(10), second.read_to_string(&mut out))
        .await
        .expect("the second connection is served once the first times out")
        .unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    let waited = opened.elapsed();
    assert!(
        waited >= Duration::from_millis(500),
        "served while the first connection was open: {waited:?}"
    );
    // The idle first connection was closed by the server.
    let n = tokio::time::timeout(Duration::from_secs(5), first.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0);
    // `http_server_read_timeout`: a request that stalls half-way is cut off.
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /ready HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut rest))
        .await
        .expect("a stalled request is closed by the read timeout")
        .ok();
    assert!(
        !String::from_utf8_lossy(&rest).contains("200 OK"),
        "{rest:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(800));
    assert!(ft.stop().await.success());

    // `server.disable`: no listener at all, but lines still ship.
    let port = free_port();
    std::fs::write(tmp.path().join("logs/a.log"), "shipped without a server\n").unwrap();
    let cfg = base(&loki.url, tmp.path(), port, "  disable: true\n");
    let ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
    loki.wait_for("the line", Duration::from_secs(20), |e| {
        e.iter().any(|e| e.line == "shipped without a server")
    })
    .await;
    assert!(tokio::net::TcpStream::connect(format!("127.0.0.1:{port}"))
        .await
        .is_err());
    assert!(ft.stop().await.success());
}
