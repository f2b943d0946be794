//! Docker discovery and the Docker logs fallback against a real dockerd.
//!
//! `.ci/docker-setup.sh` installs and starts Docker and builds the local busybox image; when that
//! fails (no Docker on this machine) every test prints a notice and returns without failing, or
//! fails when `CI` is set (`tests/common/docker.rs`).
//! Each test labels its containers with a unique `ferrotail.test` value, discovers only those
//! (a `label` filter), and removes them when it ends. `FERROTAIL_DOCKER_TESTS=0` skips them.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use ferrotail::docker::api::{stream_logs, LogItem, LogsEnd, LogsRequest};
use ferrotail::docker::discovery::{
    run, DockerContainer, DockerEvent, DockerFilter, DockerSdConfig, PromDuration,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[path = "common/docker.rs"]
mod common_docker;
use common_docker::{docker, docker_ready, IMAGE};

const WAIT: Duration = Duration::from_secs(30);

macro_rules! require_docker {
    () => {
        if !docker_ready() {
            eprintln!("NOTICE: skipped: Docker is not available");
            return;
        }
    };
}

/// Containers of one test, removed on drop.
struct Scope {
    tag: String,
    ids: std::sync::Mutex<Vec<String>>,
}

impl Scope {
    fn new(test: &str) -> Scope {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        Scope {
            tag: format!("{test}-{}-{nanos}", std::process::id()),
            ids: Default::default(),
        }
    }

    fn name(&self, base: &str) -> String {
        format!("{base}-{}", self.tag)
    }

    /// `docker run -d` with this scope's label; returns the full id.
    fn run(&self, args: &[&str], script: &str) -> String {
        let label = format!("ferrotail.test={}", self.tag);
        let mut all: Vec<&str> = vec!["run", "-d", "--label", &label];
        all.extend_from_slice(args);
        all.extend_from_slice(&[IMAGE, "sh", "-c", script]);
        let id = docker(&all);
        self.ids.lock().unwrap().push(id.clone());
        id
    }

    fn config(&self, refresh: Duration) -> DockerSdConfig {
        DockerSdConfig {
            host: "unix:///var/run/docker.sock".into(),
            refresh_interval: PromDuration(refresh),
            filters: vec![DockerFilter {
                name: "label".into(),
                values: vec![format!("ferrotail.test={}", self.tag)],
            }],
            ..Default::default()
        }
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        let ids = self.ids.lock().map(|v| v.clone()).unwrap_or_default();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids.iter().map(String::as_str));
            let _ = Command::new("docker").args(&args).output();
        }
    }
}

struct Discovery {
    rx: mpsc::Receiver<DockerEvent>,
    /// Events received but not yet matched by a `wait`.
    backlog: Vec<DockerEvent>,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Discovery {
    fn start(cfg: DockerSdConfig) -> Discovery {
        let (tx, rx) = mpsc::channel(64);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(run(cfg, tx, cancel.clone()));
        Discovery {
            rx,
            backlog: Vec::new(),
            cancel,
            task,
        }
    }

    /// Waits for the first event matching `pred` (events that do not match are kept for later
    /// waits).
    async fn wait(
        &mut self,
        what: &str,
        mut pred: impl FnMut(&DockerEvent) -> bool,
    ) -> DockerEvent {
        if let Some(i) = self.backlog.iter().position(&mut pred) {
            return self.backlog.remove(i);
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(ev)) if pred(&ev) => return ev,
                Ok(Some(ev)) => self.backlog.push(ev),
                Ok(None) => panic!("discovery stopped while waiting for {what}"),
                Err(_) => panic!("timed out waiting for {what}"),
            }
        }
    }

    async fn upsert_of(&mut self, id: &str) -> DockerContainer {
        match self
            .wait(
                &format!("upsert of {id}"),
                |e| matches!(e, DockerEvent::Upsert(c) if c.id == id),
            )
            .await
        {
            DockerEvent::Upsert(c) => c,
            DockerEvent::Removed { .. } => unreachable!(),
        }
    }

    async fn stop(self) {
        self.cancel.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("discovery stops on cancel")
            .expect("discovery does not panic");
    }
}

/// The discovered labels as golden/docker shows them: `__meta_docker_` stripped (the golden
/// cases map them with `labelmap`), `__address__` left out.
fn as_golden(c: &DockerContainer) -> BTreeMap<String, String> {
    c.meta
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("__meta_docker_")
                .map(|k| (k.to_string(), v.to_string()))
        })
        .collect()
}

/// The label set of the first entry of a golden docker case, without the per-entry stream
/// labels, with placeholders filled in.
fn golden(
    case: &str,
    id: &str,
    name: &str,
    network_id: &str,
    ip: &str,
) -> BTreeMap<String, String> {
    let path = format!(
        "{}/tests/data/golden/docker/{case}/expected.jsonl",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).expect("golden case exists");
    let first: serde_json::Value =
        serde_json::from_str(text.lines().next().expect("one entry")).expect("json");
    let mut out = BTreeMap::new();
    for (k, v) in first["labels"].as_object().expect("labels") {
        if k == "stream" || k == "container_log_stream" {
            continue;
        }
        let v = v.as_str().expect("string label");
        let v = match v {
            "<id>" => id.to_string(),
            "<network_id>" => network_id.to_string(),
            "<ip>" => ip.to_string(),
            _ if k == "container_name" => format!("/{name}"),
            v => v.to_string(),
        };
        out.insert(k.clone(), v);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovered_labels_match_golden() {
    require_docker!();
    let scope = Scope::new("golden");
    let port = 20000 + (std::process::id() % 20000);
    let publish = format!("127.0.0.1:{port}:8080");
    let plain = scope.name("golden-d1-plain");
    let tty = scope.name("golden-d2-tty");
    let labelled = scope.name("golden-d3-labels");
    let ported = scope.name("golden-d4-port");
    let ids = [
        (
            "001-non-tty-stdout-stderr",
            plain.clone(),
            scope.run(&["--name", &plain], "echo out1; echo err1 >&2; sleep 300"),
        ),
        (
            "002-tty",
            tty.clone(),
            scope.run(&["--name", &tty, "-t"], "echo tty1; sleep 300"),
        ),
        (
            "003-container-labels",
            labelled.clone(),
            scope.run(
                &[
                    "--name",
                    &labelled,
                    "--label",
                    "com.example.team=ai",
                    "--label",
                    "weird-label.x=1",
                ],
                "echo labelled; sleep 300",
            ),
        ),
        (
            "004-published-port",
            ported.clone(),
            scope.run(
                &["--name", &ported, "-p", &publish],
                "echo with port; sleep 300",
            ),
        ),
    ];
    let network_id = docker(&["network", "inspect", "bridge", "-f", "{{.Id}}"]);
    let mut d = Discovery::start(scope.config(Duration::from_secs(60)));
    for (case, name, id) in &ids {
        let c = d.upsert_of(id).await;
        let ip = docker(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", id]);
        let mut want = golden(case, id, name, &network_id, &ip);
        // Every container of this test also carries the scope label.
        want.insert("container_label_ferrotail_test".into(), scope.tag.clone());
        if case.starts_with("004") {
            want.insert("port_public".into(), port.to_string());
        }
        assert_eq!(as_golden(&c), want, "labels of {case}");
        let address = if case.starts_with("004") {
            format!("{ip}:8080")
        } else {
            format!("{ip}:80")
        };
        assert_eq!(c.meta.get("__address__"), Some(address.as_str()));
        assert!(c.running);
        assert_eq!(c.log_driver, "json-file");
        assert_eq!(c.tty, case.starts_with("002"));
        let log_path = c.log_path.clone().expect("json-file log path");
        assert!(log_path.ends_with(format!("{id}-json.log")), "{log_path:?}");
    }
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_style_names_network_none_and_odd_labels() {
    require_docker!();
    let scope = Scope::new("seed");
    let names: Vec<String> = ["ai", "tasks", "redis", "postgres", "other"]
        .iter()
        .map(|b| scope.name(b))
        .collect();
    let mut ids = Vec::new();
    for n in &names {
        ids.push(scope.run(&["--name", n], "echo hi; sleep 300"));
    }
    let none_name = scope.name("ai-none");
    let none_id = scope.run(
        &[
            "--name",
            &none_name,
            "--network",
            "none",
            "--label",
            "a.b-c/dé=x y",
        ],
        "sleep 300",
    );
    let mut d = Discovery::start(scope.config(Duration::from_secs(60)));
    for (n, id) in names.iter().zip(&ids) {
        let c = d.upsert_of(id).await;
        assert_eq!(
            c.meta.get("__meta_docker_container_name"),
            Some(format!("/{n}").as_str())
        );
        assert_eq!(c.meta.get("__meta_docker_container_id"), Some(id.as_str()));
        assert_eq!(
            c.meta.get("__meta_docker_container_network_mode"),
            Some("default")
        );
    }
    let c = d.upsert_of(&none_id).await;
    let want: BTreeMap<String, String> = [
        ("container_id", none_id.as_str()),
        ("container_name", format!("/{none_name}").as_str()),
        ("container_network_mode", "none"),
        ("container_label_ferrotail_test", scope.tag.as_str()),
        ("container_label_a_b_c_d_", "x y"),
        ("network_name", "none"),
        ("network_scope", "local"),
        ("network_internal", "false"),
        ("network_ingress", "false"),
        ("network_ip", ""),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .chain(std::iter::once((
        "network_id".to_string(),
        docker(&["network", "inspect", "none", "-f", "{{.Id}}"]),
    )))
    .collect();
    assert_eq!(as_golden(&c), want);
    assert_eq!(c.meta.get("__address__"), Some(":80"));
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_report_new_short_lived_renamed_and_removed_containers() {
    require_docker!();
    let scope = Scope::new("events");
    // A refresh interval far beyond the test: only events can report what happens.
    let mut d = Discovery::start(scope.config(Duration::from_secs(3600)));
    let first = scope.run(&["--name", &scope.name("tasks-first")], "sleep 300");
    let c = d.upsert_of(&first).await;
    assert!(c.running);

    // A container that exits at once is still reported, with its log file.
    let short = scope.run(
        &["--name", &scope.name("ai-short")],
        "echo bye; echo err >&2",
    );
    let c = d
        .wait(
            "short-lived container stopped",
            |e| matches!(e, DockerEvent::Upsert(c) if c.id == short && !c.running),
        )
        .await;
    let DockerEvent::Upsert(c) = c else {
        unreachable!()
    };
    assert_eq!(
        c.meta.get("__meta_docker_container_name"),
        Some(format!("/{}", scope.name("ai-short")).as_str())
    );
    let log = std::fs::read_to_string(c.log_path.expect("log path")).expect("log file readable");
    assert!(log.contains("\"log\":\"bye\\n\""), "{log}");

    // A rename updates the label set.
    let renamed = scope.name("redis-renamed");
    docker(&["rename", &first, &renamed]);
    d.wait("rename", |e| {
        matches!(e, DockerEvent::Upsert(c) if c.id == first
            && c.meta.get("__meta_docker_container_name") == Some(format!("/{renamed}").as_str()))
    })
    .await;

    // A removed container is released.
    docker(&["rm", "-f", &first]);
    d.wait(
        "removal",
        |e| matches!(e, DockerEvent::Removed { id } if *id == first),
    )
    .await;
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_finds_containers_and_stops() {
    require_docker!();
    let scope = Scope::new("refresh");
    let id = scope.run(&["--name", &scope.name("ai-refresh")], "sleep 300");
    let mut d = Discovery::start(scope.config(Duration::from_secs(1)));
    assert!(d.upsert_of(&id).await.running);
    docker(&["stop", "-t", "0", &id]);
    d.wait(
        "stopped",
        |e| matches!(e, DockerEvent::Upsert(c) if c.id == id && !c.running),
    )
    .await;
    docker(&["start", &id]);
    d.wait(
        "restarted",
        |e| matches!(e, DockerEvent::Upsert(c) if c.id == id && c.running),
    )
    .await;
    d.stop().await;
}

async fn read_logs(id: &str, skip_through: Option<i64>) -> (Vec<LogItem>, LogsEnd) {
    let cfg = DockerSdConfig {
        host: "unix:///var/run/docker.sock".into(),
        ..Default::default()
    };
    let client = ferrotail::docker::discovery::connect(&cfg)
        .await
        .expect("connects to dockerd");
    let (tx, mut rx) = mpsc::channel(16);
    let req = LogsRequest {
        container_id: id.to_string(),
        since_secs: 0,
        skip_through_nanos: skip_through,
        max_line_size: 0,
    };
    let task = tokio::spawn(stream_logs(client, req, tx, CancellationToken::new()));
    let mut items = Vec::new();
    while let Ok(Some(item)) = tokio::time::timeout(WAIT, rx.recv()).await {
        items.push(item);
    }
    let end = tokio::time::timeout(WAIT, task)
        .await
        .expect("log stream ends when the container stops")
        .expect("no panic");
    (items, end)
}

fn wait_exited(id: &str) {
    docker(&["wait", id]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_api_demultiplexes_stdout_and_stderr() {
    require_docker!();
    let scope = Scope::new("logs");
    let id = scope.run(
        &["--name", &scope.name("ai-logs")],
        r#"echo out1; echo err1 >&2; printf 'tab\there "quotes" café\n'; echo err2 >&2; echo; echo out3; head -c 40000 /dev/zero | tr '\0' x; echo; printf 'no newline'"#,
    );
    wait_exited(&id);
    let (items, end) = read_logs(&id, None).await;
    assert_eq!(end, LogsEnd::Finished);
    let by = |s: &str| -> Vec<String> {
        items
            .iter()
            .filter(|i| i.0 == s)
            .map(|i| i.2.clone())
            .collect()
    };
    let long = "x".repeat(40000);
    assert_eq!(
        by("stdout"),
        vec![
            "out1".to_string(),
            "tab\there \"quotes\" café".into(),
            String::new(),
            "out3".into(),
            long,
            "no newline".into()
        ]
    );
    assert_eq!(by("stderr"), vec!["err1".to_string(), "err2".into()]);
    for w in items.windows(2).filter(|w| w[0].0 == w[1].0) {
        assert!(w[0].1 <= w[1].1, "timestamps in order within a stream");
    }

    // Resuming after the third stdout line skips everything up to it.
    let third = items.iter().filter(|i| i.0 == "stdout").nth(2).map(|i| i.1);
    let (again, _) = read_logs(&id, third).await;
    assert!(again.iter().all(|i| i.1 > third.unwrap_or_default()));
    assert!(again.iter().any(|i| i.2 == "out3"));
    assert!(!again.iter().any(|i| i.2 == "out1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_api_handles_tty_containers() {
    require_docker!();
    let scope = Scope::new("tty");
    let id = scope.run(
        &["--name", &scope.name("tasks-tty"), "-t"],
        r#"echo tty1; echo tty-err >&2; echo "  indented"; head -c 20000 /dev/zero | tr '\0' y; echo"#,
    );
    wait_exited(&id);
    let (items, end) = read_logs(&id, None).await;
    assert_eq!(end, LogsEnd::Finished);
    let lines: Vec<(&str, &str)> = items.iter().map(|i| (i.0, i.2.as_str())).collect();
    let long = "y".repeat(20000);
    assert_eq!(
        lines,
        vec![
            ("stdout", "tty1"),
            ("stdout", "tty-err"),
            ("stdout", "  indented"),
            ("stdout", long.as_str())
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_api_reports_missing_container() {
    require_docker!();
    let (items, end) = read_logs("ferrotail-no-such-container", None).await;
    assert!(items.is_empty());
    assert_eq!(end, LogsEnd::ContainerGone);
}

/// A unix-socket proxy to dockerd that can be taken away and brought back, to play a daemon
/// restart or a vanishing socket without disturbing the real daemon.
struct SocketProxy {
    path: std::path::PathBuf,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl SocketProxy {
    fn start(path: &std::path::Path) -> SocketProxy {
        let _ = std::fs::remove_file(path);
        let listener = tokio::net::UnixListener::bind(path).expect("proxy socket binds");
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                conns.spawn(async move {
                    if let Ok(mut outbound) =
                        tokio::net::UnixStream::connect("/var/run/docker.sock").await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        SocketProxy {
            path: path.to_path_buf(),
            task: Some(task),
        }
    }

    /// Closes every connection and removes the socket.
    async fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_the_socket_vanishes() {
    require_docker!();
    let scope = Scope::new("reconnect");
    let dir = tempfile::tempdir().expect("temp dir");
    let sock = dir.path().join("docker.sock");
    let mut proxy = SocketProxy::start(&sock);
    let mut cfg = scope.config(Duration::from_secs(3600));
    cfg.host = format!("unix://{}", sock.display());
    let mut d = Discovery::start(cfg);
    let a = scope.run(&["--name", &scope.name("ai-before")], "sleep 300");
    assert!(d.upsert_of(&a).await.running);

    proxy.stop().await;
    // While discovery is cut off: one long-running and one short-lived container.
    let b = scope.run(&["--name", &scope.name("tasks-during")], "sleep 300");
    let c = scope.run(&["--name", &scope.name("redis-blip")], "echo blip");
    wait_exited(&c);

    let _proxy = SocketProxy::start(&sock);
    assert!(d.upsert_of(&b).await.running);
    d.wait(
        "short-lived container seen after reconnect",
        |e| matches!(e, DockerEvent::Upsert(x) if x.id == c && !x.running),
    )
    .await;
    d.stop().await;
}

/// Forwards TCP (optionally TLS) connections to dockerd's socket and records whether requests
/// carried `expect_header`.
async fn tcp_proxy(
    tls: Option<tokio_rustls::TlsAcceptor>,
    expect_header: &'static str,
) -> (
    u16,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
    tokio::task::JoinHandle<()>,
) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let saw = std::sync::Arc::new(AtomicBool::new(false));
    let saw2 = saw.clone();
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        while let Ok((tcp, _)) = listener.accept().await {
            let tls = tls.clone();
            let saw = saw2.clone();
            conns.spawn(async move {
                let inbound: Box<dyn AsyncStream> = match tls {
                    Some(acceptor) => match acceptor.accept(tcp).await {
                        Ok(s) => Box::new(s),
                        Err(_) => return,
                    },
                    None => Box::new(tcp),
                };
                let Ok(outbound) = tokio::net::UnixStream::connect("/var/run/docker.sock").await
                else {
                    return;
                };
                let (mut ir, mut iw) = tokio::io::split(inbound);
                let (mut or, mut ow) = outbound.into_split();
                let up = async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match ir.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if String::from_utf8_lossy(&buf[..n])
                            .to_ascii_lowercase()
                            .contains(&expect_header.to_ascii_lowercase())
                        {
                            saw.store(true, Ordering::SeqCst);
                        }
                        if ow.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    let _ = ow.shutdown().await;
                };
                let down = async move {
                    let _ = tokio::io::copy(&mut or, &mut iw).await;
                    let _ = iw.shutdown().await;
                };
                tokio::join!(up, down);
            });
        }
    });
    (port, saw, task)
}

trait AsyncStream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> AsyncStream for T {}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_host_sends_basic_auth() {
    require_docker!();
    let scope = Scope::new("tcp");
    let (port, saw_auth, proxy) = tcp_proxy(None, "authorization: Basic dXNlcjpwYXNz").await;
    let mut cfg = scope.config(Duration::from_secs(60));
    cfg.host = format!("tcp://127.0.0.1:{port}");
    cfg.basic_auth = Some(ferrotail::docker::discovery::BasicAuth {
        username: "user".into(),
        password: "pass".into(),
        ..Default::default()
    });
    cfg.validate().expect("valid config");
    let id = scope.run(&["--name", &scope.name("ai-tcp")], "sleep 300");
    let mut d = Discovery::start(cfg);
    assert!(d.upsert_of(&id).await.running);
    assert!(saw_auth.load(std::sync::atomic::Ordering::SeqCst));
    d.stop().await;
    proxy.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_host_with_tls_config() {
    require_docker!();
    use rustls_pki_types::pem::PemObject;
    let dir = tempfile::tempdir().expect("temp dir");
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    // A CA and a server certificate it signed (webpki refuses a CA certificate as the server's).
    let made = Command::new("bash")
        .current_dir(dir.path())
        .arg("-c")
        .arg(concat!(
            "set -e; ",
            "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test-ca -keyout ca.key -out ca.pem; ",
            "openssl req -newkey rsa:2048 -nodes -subj /CN=docker.test -keyout key.pem -out req.csr; ",
            "printf 'subjectAltName=DNS:docker.test,DNS:localhost\\n' > ext.cnf; ",
            "openssl x509 -req -in req.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out cert.pem -extfile ext.cnf",
        ))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    let ca = dir.path().join("ca.pem");
    if !made {
        eprintln!("NOTICE: skipped: openssl could not make a test certificate");
        return;
    }
    let certs: Vec<_> = rustls_pki_types::CertificateDer::pem_file_iter(&cert)
        .expect("cert")
        .collect::<Result<_, _>>()
        .expect("cert parses");
    let key_der = rustls_pki_types::PrivateKeyDer::from_pem_file(&key).expect("key");
    let server = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(certs, key_der)
    .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(server));
    let (port, saw_token, proxy) = tcp_proxy(Some(acceptor), "authorization: Bearer s3cret").await;

    let scope = Scope::new("https");
    let id = scope.run(&["--name", &scope.name("ai-https")], "sleep 300");

    // Verified against the CA, with the certificate's name given as server_name.
    let mut cfg = scope.config(Duration::from_secs(60));
    cfg.host = format!("https://127.0.0.1:{port}");
    cfg.bearer_token = "s3cret".into();
    cfg.tls_config.ca_file = ca.display().to_string();
    cfg.tls_config.server_name = "docker.test".into();
    cfg.validate().expect("valid config");
    if let Err(e) = ferrotail::docker::discovery::connect(&cfg).await {
        panic!("https connect: {e}");
    }
    let mut d = Discovery::start(cfg.clone());
    assert!(d.upsert_of(&id).await.running);
    assert!(saw_token.load(std::sync::atomic::Ordering::SeqCst));
    d.stop().await;

    // insecure_skip_verify without a CA.
    cfg.tls_config = Default::default();
    cfg.tls_config.insecure_skip_verify = true;
    let mut d = Discovery::start(cfg.clone());
    assert!(d.upsert_of(&id).await.running);
    d.stop().await;

    // A wrong server name is refused: nothing is discovered.
    cfg.tls_config = Default::default();
    cfg.tls_config.ca_file = ca.display().to_string();
    cfg.tls_config.server_name = "other.test".into();
    let (tx, mut rx) = mpsc::channel(4);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(run(cfg, tx, cancel.clone()));
    assert!(tokio::time::timeout(Duration::from_secs(2), rx.recv())
        .await
        .is_err());
    cancel.cancel();
    task.await.expect("no panic");
    proxy.abort();
}

/// Decodes a container's json-file log with the json-file decoder and the partial joiner.
fn read_json_file(path: &std::path::Path) -> Vec<(String, i64, String)> {
    use ferrotail::docker::json_file::{decode_line, PartialJoiner};
    let text = std::fs::read(path).expect("json-file log readable");
    let mut joiner = PartialJoiner::new(0);
    let mut out = Vec::new();
    let mut lines = Vec::new();
    for raw in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let l = decode_line(raw).expect("dockerd writes valid lines");
        joiner.push(l.stream, l.time_nanos, &*l.log, &mut out);
    }
    joiner.flush(&mut out);
    for l in out {
        lines.push((l.stream.as_str().to_string(), l.ts_nanos, l.line));
    }
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_file_logs_decode_and_partial_lines_join() {
    require_docker!();
    let scope = Scope::new("jsonfile");
    let plain = scope.run(
        &["--name", &scope.name("ai-json")],
        r#"echo '{"level":"info","msg":"hi"}'; echo err1 >&2; head -c 40000 /dev/zero | tr '\0' z; echo; printf 'tab\tcafé\r\n'; printf 'unterminated'"#,
    );
    let tty = scope.run(
        &["--name", &scope.name("tasks-json-tty"), "-t"],
        "echo tty1; echo tty-err >&2",
    );
    wait_exited(&plain);
    wait_exited(&tty);
    let path_of = |id: &str| docker(&["inspect", "-f", "{{.LogPath}}", id]);

    let got = read_json_file(std::path::Path::new(&path_of(&plain)));
    let text: Vec<(&str, &str)> = got
        .iter()
        .map(|(s, _, l)| (s.as_str(), l.as_str()))
        .collect();
    let long = "z".repeat(40000);
    let mut stdout: Vec<&str> = text
        .iter()
        .filter(|t| t.0 == "stdout")
        .map(|t| t.1)
        .collect();
    let stderr: Vec<&str> = text
        .iter()
        .filter(|t| t.0 == "stderr")
        .map(|t| t.1)
        .collect();
    assert_eq!(stderr, vec!["err1"]);
    assert_eq!(stdout.remove(0), r#"{"level":"info","msg":"hi"}"#);
    assert_eq!(stdout, vec![long.as_str(), "tab\tcafé", "unterminated"]);

    // The same entries through the logs API, timestamps included.
    let (api, end) = read_logs(&plain, None).await;
    assert_eq!(end, LogsEnd::Finished);
    let mut file_sorted = got.clone();
    let mut api_sorted: Vec<(String, i64, String)> = api
        .into_iter()
        .map(|(s, t, l)| (s.to_string(), t, l))
        .collect();
    file_sorted.sort();
    api_sorted.sort();
    assert_eq!(file_sorted, api_sorted);

    let got = read_json_file(std::path::Path::new(&path_of(&tty)));
    let text: Vec<(&str, &str)> = got
        .iter()
        .map(|(s, _, l)| (s.as_str(), l.as_str()))
        .collect();
    assert_eq!(text, vec![("stdout", "tty1"), ("stdout", "tty-err")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_api_resumes_after_the_socket_vanishes_without_loss_or_duplicates() {
    require_docker!();
    let scope = Scope::new("logsreconnect");
    let dir = tempfile::tempdir().expect("temp dir");
    let sock = dir.path().join("docker.sock");
    let mut proxy = SocketProxy::start(&sock);
    let id = scope.run(
        &["--name", &scope.name("ai-counter")],
        "i=0; while [ $i -lt 300 ]; do echo line$i; i=$((i+1)); sleep 0.01; done",
    );
    let cfg = DockerSdConfig {
        host: format!("unix://{}", sock.display()),
        ..Default::default()
    };
    let client = ferrotail::docker::discovery::connect(&cfg)
        .await
        .expect("connects");
    let (tx, mut rx) = mpsc::channel(16);
    let req = LogsRequest {
        container_id: id.clone(),
        since_secs: 0,
        skip_through_nanos: None,
        max_line_size: 0,
    };
    let task = tokio::spawn(stream_logs(client, req, tx, CancellationToken::new()));
    let mut lines = Vec::new();
    while lines.len() < 20 {
        let item = tokio::time::timeout(WAIT, rx.recv())
            .await
            .expect("lines arrive");
        lines.push(item.expect("stream open").2);
    }
    proxy.stop().await;
    let _proxy = SocketProxy::start(&sock);
    while let Ok(Some(item)) = tokio::time::timeout(WAIT, rx.recv()).await {
        lines.push(item.2);
    }
    let end = task.await.expect("no panic");
    assert_eq!(end, LogsEnd::Finished);
    let want: Vec<String> = (0..300).map(|i| format!("line{i}")).collect();
    assert_eq!(lines, want);
}
