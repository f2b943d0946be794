//! The Loki client's TLS and auth options against a local HTTPS push endpoint, with a test CA
//! made in the test: `tls_config` (`ca_file`, `insecure_skip_verify`, `cert_file`/`key_file`,
//! `server_name`), `basic_auth` (`password`, `password_file`), `bearer_token(_file)`; and secrets
//! never shown in logs, `-print-config-stderr`, `/metrics` or `/targets`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use prost::Message;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Notify};

use ferrotail::client::proto::PushRequest;

use crate::util::certs::Issued;
use crate::util::{append, free_port, run_to_end, Ferrotail};

const WAIT: Duration = Duration::from_secs(20);

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server config presenting `server`; with `client_ca`, client certificates are required.
fn server_tls(server: &Issued, ca: &Issued, client_ca: Option<&Issued>) -> rustls::ServerConfig {
    let b = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap();
    let b = match client_ca {
        Some(c) => {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(c.der()).unwrap();
            let v = rustls::server::WebPkiClientVerifier::builder_with_provider(
                roots.into(),
                provider(),
            )
            .build()
            .unwrap();
            b.with_client_cert_verifier(v)
        }
        None => b.with_no_client_auth(),
    };
    b.with_single_cert(vec![server.der(), ca.der()], server.key_der())
        .unwrap()
}

#[derive(Default)]
struct Seen {
    lines: Vec<String>,
    /// Authorization headers of refused requests.
    refused: Vec<Option<String>>,
    hosts: Vec<String>,
    sni: Vec<Option<String>>,
    handshake_errors: Vec<String>,
}

/// A minimal HTTPS Loki push endpoint that checks the `Authorization` header.
#[derive(Clone)]
struct TlsLoki {
    url: String,
    port: u16,
    seen: Arc<Mutex<Seen>>,
    notify: Arc<Notify>,
    want_auth: Option<String>,
}

struct TlsListener {
    rx: mpsc::Receiver<(tokio_rustls::server::TlsStream<TcpStream>, SocketAddr)>,
    addr: SocketAddr,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(c) => c,
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.addr)
    }
}

async fn push(State(l): State<TlsLoki>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if auth != l.want_auth {
        l.seen.lock().unwrap().refused.push(auth);
        l.notify.notify_waiters();
        return StatusCode::UNAUTHORIZED;
    }
    let Ok(raw) = snap::raw::Decoder::new().decompress_vec(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let Ok(req) = PushRequest::decode(&raw[..]) else {
        return StatusCode::BAD_REQUEST;
    };
    {
        let mut g = l.seen.lock().unwrap();
        g.hosts.push(host);
        for s in req.streams {
            g.lines.extend(s.entries.into_iter().map(|e| e.line));
        }
    }
    l.notify.notify_waiters();
    StatusCode::NO_CONTENT
}

impl TlsLoki {
    async fn start(tls: rustls::ServerConfig, want_auth: Option<&str>) -> TlsLoki {
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let l = TlsLoki {
            url: format!("https://127.0.0.1:{}/loki/api/v1/push", addr.port()),
            port: addr.port(),
            seen: Arc::default(),
            notify: Arc::new(Notify::new()),
            want_auth: want_auth.map(String::from),
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let (tx, rx) = mpsc::channel(16);
        let seen = l.seen.clone();
        let notify = l.notify.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, peer)) = tcp.accept().await else {
                    continue;
                };
                let (acceptor, tx, seen, notify) =
                    (acceptor.clone(), tx.clone(), seen.clone(), notify.clone());
                tokio::spawn(async move {
                    match acceptor.accept(stream).await {
                        Ok(s) => {
                            let sni = s.get_ref().1.server_name().map(String::from);
                            seen.lock().unwrap().sni.push(sni);
                            let _ = tx.send((s, peer)).await;
                        }
                        Err(e) => {
                            seen.lock().unwrap().handshake_errors.push(e.to_string());
                            notify.notify_waiters();
                        }
                    }
                });
            }
        });
        let app = Router::new()
            .route("/loki/api/v1/push", post(push))
            .with_state(l.clone());
        tokio::spawn(async move {
            let _ = axum::serve(TlsListener { rx, addr }, app).await;
        });
        l
    }

    /// Waits until `cond` holds over what the endpoint saw, or panics after `timeout`.
    async fn wait_for(&self, what: &str, timeout: Duration, cond: impl Fn(&Seen) -> bool) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.notify.notified();
            if cond(&self.seen.lock().unwrap()) {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let g = self.seen.lock().unwrap();
                if cond(&g) {
                    return;
                }
                panic!(
                    "timed out waiting for {what}; lines {:?}, refused {:?}, handshake errors {:?}",
                    g.lines, g.refused, g.handshake_errors
                );
            }
        }
    }

    fn lines(&self) -> Vec<String> {
        self.seen.lock().unwrap().lines.clone()
    }
}

/// A config with one job reading `logs/*.log` and the given `clients:` entries.
fn tls_config(dir: &Path, port: u16, clients: &[String]) -> String {
    let mut s = format!(
        "server:\n  http_listen_address: 127.0.0.1\n  http_listen_port: {port}\n  grpc_listen_port: 0\npositions:\n  filename: {}\n  sync_period: 100ms\nclients:\n",
        dir.join("pos.yaml").display()
    );
    for c in clients {
        s.push_str(c);
    }
    s.push_str(&format!(
        "scrape_configs:\n  - job_name: tls\n    static_configs:\n      - targets: [localhost]\n        labels:\n          job: tls\n          __path__: {}/logs/*.log\n",
        dir.display()
    ));
    s
}

/// One `clients:` entry for `url` with extra indented keys.
fn client(url: &str, extra: &str) -> String {
    format!("  - url: {url}\n    batchwait: 100ms\n    backoff_config:\n      min_period: 50ms\n      max_period: 200ms\n      max_retries: 0\n{extra}")
}

fn logs(dir: &Path) -> PathBuf {
    let l = dir.join("logs");
    std::fs::create_dir_all(&l).unwrap();
    l
}

/// Waits until ferrotail's stderr contains `needle`.
async fn wait_log(ft: &Ferrotail, needle: &str) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let log = ft.log();
        if log.contains(needle) {
            return log;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {needle:?} in the log:\n{log}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ca_file_server_name_and_every_auth_kind_deliver() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let ca = Issued::ca("ferrotail test CA");
    let (ca_file, _) = ca.write(dir, "ca");
    // Certificates for the IP, and one valid only for loki.test (reached at 127.0.0.1).
    let by_ip = ca.leaf(&["127.0.0.1"], true);
    let by_name = ca.leaf(&["loki.test"], true);
    std::fs::write(dir.join("pw"), "file-pass-SECRET\n").unwrap();
    std::fs::write(dir.join("token"), "file-token-SECRET\n").unwrap();
    let basic = |u: &str, p: &str| {
        use base64::Engine as _;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
        )
    };
    let servers = [
        TlsLoki::start(
            server_tls(&by_ip, &ca, None),
            Some(&basic("alice", "inline-pass-SECRET")),
        )
        .await,
        TlsLoki::start(
            server_tls(&by_ip, &ca, None),
            Some(&basic("bob", "file-pass-SECRET")),
        )
        .await,
        TlsLoki::start(
            server_tls(&by_ip, &ca, None),
            Some("Bearer inline-token-SECRET"),
        )
        .await,
        TlsLoki::start(
            server_tls(&by_name, &ca, None),
            Some("Bearer file-token-SECRET"),
        )
        .await,
    ];
    let ca_opt = format!("    tls_config:\n      ca_file: {}\n", ca_file.display());
    let clients = [
        client(
            &servers[0].url,
            &format!("{ca_opt}    basic_auth: {{username: alice, password: inline-pass-SECRET}}\n"),
        ),
        client(
            &servers[1].url,
            &format!(
                "{ca_opt}    basic_auth:\n      username: bob\n      password_file: {}\n",
                dir.join("pw").display()
            ),
        ),
        client(
            &servers[2].url,
            &format!("{ca_opt}    bearer_token: \"inline-token-SECRET\"\n"),
        ),
        client(
            &servers[3].url,
            &format!(
                "{ca_opt}      server_name: loki.test\n    bearer_token_file: {}\n",
                dir.join("token").display()
            ),
        ),
    ];
    let logs = logs(dir);
    append(&logs.join("a.log"), "one\ntwo\n");
    let port = free_port();
    let ft = Ferrotail::start(
        dir,
        &tls_config(dir, port, &clients),
        port,
        &["-print-config-stderr", "-log.level=debug"],
    );
    ft.wait_up().await;
    for (i, s) in servers.iter().enumerate() {
        s.wait_for(&format!("client {i}"), WAIT, |g| g.lines.len() >= 2)
            .await;
        assert_eq!(s.lines(), ["one", "two"], "client {i}");
        let g = s.seen.lock().unwrap();
        assert!(g.refused.is_empty(), "client {i}: {:?}", g.refused);
    }
    // server_name: SNI and verification use loki.test; the Host header keeps the URL's host.
    {
        let g = servers[3].seen.lock().unwrap();
        assert!(
            g.sni.iter().all(|s| s.as_deref() == Some("loki.test")),
            "{:?}",
            g.sni
        );
        let want_host = format!("127.0.0.1:{}", servers[3].port);
        assert!(g.hosts.iter().all(|h| *h == want_host), "{:?}", g.hosts);
    }
    // Secrets are nowhere: not in the printed config, the log, /metrics or /targets.
    let (_, metrics) = ft.get("/metrics").await;
    let (_, targets) = ft.get("/targets").await;
    let (_, root) = ft.get("/config").await;
    let log = ft.log();
    assert!(log.contains("password: <secret>"), "{log}");
    assert!(log.contains("bearer_token: <secret>"), "{log}");
    assert!(log.contains(&format!("password_file: {}", dir.join("pw").display())));
    for (what, text) in [
        ("log", &log),
        ("/metrics", &metrics),
        ("/targets", &targets),
        ("/config", &root),
    ] {
        assert!(!text.contains("SECRET"), "secret in {what}:\n{text}");
    }
    assert!(ft.stop().await.success());
    assert!(!ft_log_after_stop(dir).contains("SECRET"));
}

/// Every stderr file ferrotail wrote in `dir`, joined.
fn ft_log_after_stop(dir: &Path) -> String {
    let mut s = String::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("stderr-"))
        {
            s.push_str(&std::fs::read_to_string(p).unwrap_or_default());
        }
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_ca_is_not_trusted_and_logged() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let ca = Issued::ca("server CA");
    let other = Issued::ca("some other CA");
    let (other_file, _) = other.write(dir, "other");
    let server = TlsLoki::start(server_tls(&ca.leaf(&["127.0.0.1"], true), &ca, None), None).await;
    let logs = logs(dir);
    append(&logs.join("a.log"), "never\n");
    let port = free_port();
    let ft = Ferrotail::start(
        dir,
        &tls_config(
            dir,
            port,
            &[client(
                // A password in the URL is a secret too.
                &server.url.replace("https://", "https://user:url-SECRET@"),
                &format!("    tls_config:\n      ca_file: {}\n", other_file.display()),
            )],
        ),
        port,
        &[],
    );
    ft.wait_up().await;
    server
        .wait_for("a refused handshake", WAIT, |g| {
            !g.handshake_errors.is_empty()
        })
        .await;
    let log = wait_log(&ft, "error sending batch").await;
    assert!(
        log.to_lowercase().contains("certificate") || log.contains("UnknownIssuer"),
        "the log names the certificate problem:\n{log}"
    );
    assert!(!log.contains("url-SECRET"), "{log}");
    assert!(server.lines().is_empty());
    drop(ft);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_skip_verify_and_wrong_server_name() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let ca = Issued::ca("unknown CA");
    let (ca_file, _) = ca.write(dir, "ca");
    let loose = TlsLoki::start(
        server_tls(&ca.leaf(&["elsewhere.test"], true), &ca, None),
        None,
    )
    .await;
    let strict = TlsLoki::start(server_tls(&ca.leaf(&["loki.test"], true), &ca, None), None).await;
    let logs = logs(dir);
    append(&logs.join("a.log"), "skip\n");
    let port = free_port();
    let ft = Ferrotail::start(
        dir,
        &tls_config(
            dir,
            port,
            &[client(
                &loose.url,
                "    tls_config:\n      insecure_skip_verify: true\n",
            )],
        ),
        port,
        &[],
    );
    ft.wait_up().await;
    loose
        .wait_for("delivery without verification", WAIT, |g| {
            !g.lines.is_empty()
        })
        .await;
    assert_eq!(loose.lines(), ["skip"]);
    assert!(ft.stop().await.success());

    // server_name not matching the certificate: refused, logged, nothing delivered.
    let tmp2 = tempfile::tempdir().unwrap();
    let dir2 = tmp2.path();
    append(&logs_path(dir2).join("a.log"), "nope\n");
    let port = free_port();
    let ft = Ferrotail::start(
        dir2,
        &tls_config(
            dir2,
            port,
            &[client(
                &strict.url,
                &format!(
                    "    tls_config:\n      ca_file: {}\n      server_name: other.test\n",
                    ca_file.display()
                ),
            )],
        ),
        port,
        &[],
    );
    ft.wait_up().await;
    strict
        .wait_for("a refused handshake", WAIT, |g| {
            !g.handshake_errors.is_empty()
        })
        .await;
    let log = wait_log(&ft, "error sending batch").await;
    assert!(log.to_lowercase().contains("certificate"), "{log}");
    assert!(strict.lines().is_empty());
}

fn logs_path(dir: &Path) -> PathBuf {
    logs(dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificate_required_by_the_server() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let ca = Issued::ca("server CA");
    let client_ca = Issued::ca("client CA");
    let (ca_file, _) = ca.write(dir, "ca");
    let (cert_file, key_file) = client_ca.leaf(&["ferrotail"], false).write(dir, "client");
    let server = TlsLoki::start(
        server_tls(&ca.leaf(&["127.0.0.1"], true), &ca, Some(&client_ca)),
        None,
    )
    .await;
    let logs = logs(dir);
    append(&logs.join("a.log"), "mtls\n");
    let port = free_port();
    let ft = Ferrotail::start(
        dir,
        &tls_config(
            dir,
            port,
            &[client(
                &server.url,
                &format!(
                    "    tls_config:\n      ca_file: {}\n      cert_file: {}\n      key_file: {}\n",
                    ca_file.display(),
                    cert_file.display(),
                    key_file.display()
                ),
            )],
        ),
        port,
        &[],
    );
    ft.wait_up().await;
    server
        .wait_for("delivery with a client certificate", WAIT, |g| {
            !g.lines.is_empty()
        })
        .await;
    assert_eq!(server.lines(), ["mtls"]);
    assert!(ft.stop().await.success());

    // Without the certificate the server refuses the handshake.
    let tmp2 = tempfile::tempdir().unwrap();
    let dir2 = tmp2.path();
    append(&logs_path(dir2).join("a.log"), "no cert\n");
    let port = free_port();
    let ft = Ferrotail::start(
        dir2,
        &tls_config(
            dir2,
            port,
            &[client(
                &server.url,
                &format!("    tls_config:\n      ca_file: {}\n", ca_file.display()),
            )],
        ),
        port,
        &[],
    );
    ft.wait_up().await;
    server
        .wait_for("a refused handshake", WAIT, |g| {
            !g.handshake_errors.is_empty()
        })
        .await;
    wait_log(&ft, "error sending batch").await;
    assert_eq!(server.lines(), ["mtls"]);
}

#[test]
fn broken_tls_files_stop_startup_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let garbage = dir.join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let cases = [
        (
            format!(
                "    tls_config:\n      ca_file: {}/missing-ca.pem\n",
                dir.display()
            ),
            "missing-ca.pem",
        ),
        (
            format!("    tls_config:\n      ca_file: {}\n", garbage.display()),
            "garbage.pem",
        ),
        (
            format!(
                "    tls_config:\n      cert_file: {0}\n      key_file: {0}\n",
                garbage.display()
            ),
            "garbage.pem",
        ),
        (
            format!("    tls_config:\n      cert_file: {}\n", garbage.display()),
            "exactly one of key or key_file must be configured",
        ),
        (
            format!(
                "    basic_auth:\n      username: u\n      password_file: {}/no-such-pw\n",
                dir.display()
            ),
            "no-such-pw",
        ),
        (
            format!("    bearer_token_file: {}/no-such-token\n", dir.display()),
            "no-such-token",
        ),
        (
            "    tls_config:\n      min_version: TLS99\n".to_string(),
            "TLS99",
        ),
    ];
    for (extra, needle) in cases {
        let port = free_port();
        let cfg = dir.join("c.yml");
        std::fs::write(
            &cfg,
            tls_config(
                dir,
                port,
                &[client("https://127.0.0.1:1/loki/api/v1/push", &extra)],
            ),
        )
        .unwrap();
        let (code, out, err) = run_to_end(&[&format!("-config.file={}", cfg.display())]);
        assert_eq!(code, 1, "{extra}: {out}{err}");
        assert!(
            format!("{out}{err}").contains(needle),
            "{extra}: message names {needle:?}: {out}{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}
