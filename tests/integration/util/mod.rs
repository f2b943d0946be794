//! Helpers shared by the integration tests: the fake Loki, and running the real binary.

pub mod certs;
#[path = "../../common/docker.rs"]
pub mod docker;
pub mod fake_loki;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

pub use fake_loki::FakeLoki;

pub const BIN: &str = env!("CARGO_BIN_EXE_ferrotail");

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A loopback port that refuses connections and that nothing else can take until released: a
/// bound socket that does not listen (and, without `SO_REUSEADDR`, blocks every other bind of the
/// port). A test of Loki being down needs this: with a port that is merely unused, another test
/// running beside it can bind the port and accept the pushes meant for a Loki that is down.
pub struct DownPort {
    socket: socket2::Socket,
    addr: std::net::SocketAddr,
}

impl DownPort {
    pub fn new() -> DownPort {
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        let any: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
        socket.bind(&any.into()).unwrap();
        let addr = socket.local_addr().unwrap().as_socket().unwrap();
        DownPort { socket, addr }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Frees the port for the server that comes up on it; returns its address.
    pub fn release(self) -> String {
        drop(self.socket);
        self.addr.to_string()
    }
}

/// A config with the common blocks and `scrape` as the scrape_configs body.
pub fn config(loki: &str, positions: &Path, port: u16, extra: &str, scrape: &str) -> String {
    format!(
        "server:\n  http_listen_address: 127.0.0.1\n  http_listen_port: {port}\n  grpc_listen_port: 0\npositions:\n  filename: {}\n  sync_period: 100ms\nclients:\n  - url: {loki}\n    batchwait: 100ms\n    backoff_config:\n      min_period: 50ms\n      max_period: 200ms\ntarget_config:\n  sync_period: 200ms\n{extra}scrape_configs:\n{scrape}",
        positions.display()
    )
}

/// A running ferrotail.
pub struct Ferrotail {
    pub child: Child,
    pub port: u16,
    pub stderr: PathBuf,
}

impl Ferrotail {
    pub fn start(dir: &Path, config_text: &str, port: u16, args: &[&str]) -> Ferrotail {
        Self::start_env(dir, config_text, port, args, &[])
    }

    /// [`Ferrotail::start`] with environment variables set (`HOSTNAME` for Kubernetes).
    pub fn start_env(
        dir: &Path,
        config_text: &str,
        port: u16,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Ferrotail {
        let cfg = dir.join("config.yml");
        std::fs::write(&cfg, config_text).unwrap();
        let stderr = dir.join(format!("stderr-{}.log", rand_suffix()));
        let child = Command::new(BIN)
            .arg(format!("-config.file={}", cfg.display()))
            .args(args)
            .envs(env.iter().copied())
            // Standard input redirected from a file would switch ferrotail to stdin mode.
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        Ferrotail {
            child,
            port,
            stderr,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Waits until the HTTP server answers.
    pub async fn wait_up(&self) {
        let client = reqwest::Client::new();
        for _ in 0..400 {
            if client.get(self.url("/metrics")).send().await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("ferrotail did not come up; stderr:\n{}", self.log());
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let r = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(self.url(path))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.text().await.unwrap())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    pub fn signal(&self, sig: i32) {
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }

    /// SIGTERM and wait for exit.
    pub async fn stop(mut self) -> ExitStatus {
        self.signal(libc::SIGTERM);
        for _ in 0..600 {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = self.child.kill();
        panic!(
            "ferrotail did not exit after SIGTERM; stderr:\n{}",
            self.log()
        );
    }

    /// Polls `/metrics` until the sum of `name`'s samples whose labels contain every needle
    /// satisfies `pred`; returns that sum, or panics after `timeout` with the metrics.
    pub async fn wait_metric(
        &self,
        name: &str,
        needles: &[&str],
        timeout: Duration,
        pred: impl Fn(f64) -> bool,
    ) -> f64 {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let (_, text) = self.get("/metrics").await;
            let v = metric(&text, name, needles);
            if pred(v) {
                return v;
            }
            if std::time::Instant::now() > deadline {
                panic!(
                    "timed out waiting on {name} {needles:?} (now {v}); stderr:\n{}\nmetrics:\n{text}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The current sum of `name`'s samples whose labels contain every needle.
    pub async fn metric(&self, name: &str, needles: &[&str]) -> f64 {
        let (_, text) = self.get("/metrics").await;
        metric(&text, name, needles)
    }

    #[allow(dead_code)]
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Ferrotail {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // A failing test shows what ferrotail logged (its last 200 lines), since the temporary
        // directory holding the log goes with the test.
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.stderr).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let from = lines.len().saturating_sub(200);
            eprintln!(
                "---- ferrotail stderr ({}, last {} lines) ----\n{}",
                self.stderr.display(),
                lines.len() - from,
                lines[from..].join("\n")
            );
        }
    }
}

fn rand_suffix() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        % 1_000_000_007
}

/// Runs the binary to completion and returns (exit code, stdout, stderr).
pub fn run_to_end(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The sum of the samples of metric `name` (exactly that name, with or without labels) whose
/// label part contains every needle (such as `reason="rate_limited"`), in Prometheus text.
pub fn metric(text: &str, name: &str, needles: &[&str]) -> f64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter(|l| needles.iter().all(|n| l.contains(n)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

pub fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}
