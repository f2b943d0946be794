#![allow(dead_code)]
use kubesd::testing::{FakeApiServer, FakeOptions};
use kubesd::{Discovery, Options, Role, SdConfig, TargetGroup};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::mpsc;

pub const TOKEN: &str = "test-token";
pub const WAIT: Duration = Duration::from_secs(20);

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
}

pub async fn server() -> FakeApiServer {
    FakeApiServer::start(FakeOptions {
        token: Some(TOKEN.into()),
        tls: false,
    })
    .await
    .expect("start fake server")
}

pub fn config(server: &FakeApiServer, role: Role) -> SdConfig {
    let mut cfg = SdConfig::new(role);
    cfg.api_server = server.url();
    cfg.http.bearer_token = TOKEN.into();
    cfg
}

pub fn fast_options() -> Options {
    Options {
        debounce: Duration::from_millis(50),
        backoff_initial: Duration::from_millis(50),
        backoff_max: Duration::from_millis(400),
        ..Options::default()
    }
}

/// Runs a discovery; returns the update receiver and its errors.
pub async fn start(
    cfg: SdConfig,
) -> (
    mpsc::Receiver<Vec<TargetGroup>>,
    tokio::sync::broadcast::Receiver<kubesd::WatchError>,
    tokio::task::JoinHandle<()>,
) {
    let d = Discovery::new(cfg, fast_options())
        .await
        .expect("discovery");
    let errors = d.errors();
    let (tx, rx) = mpsc::channel(64);
    let h = tokio::spawn(d.run(tx));
    (rx, errors, h)
}

/// Accumulates updates into the current set of groups by source.
#[derive(Default)]
pub struct View {
    pub groups: BTreeMap<String, TargetGroup>,
    pub updates: usize,
}

impl View {
    pub fn apply(&mut self, groups: Vec<TargetGroup>) {
        self.updates += 1;
        for g in groups {
            if g.targets.is_empty() && g.labels.is_empty() {
                self.groups.remove(&g.source);
            } else {
                self.groups.insert(g.source.clone(), g);
            }
        }
    }
    pub fn targets(&self) -> usize {
        self.groups.values().map(|g| g.targets.len()).sum()
    }
    /// Receives updates until `pred` holds; panics after WAIT.
    pub async fn until(
        &mut self,
        rx: &mut mpsc::Receiver<Vec<TargetGroup>>,
        what: &str,
        pred: impl Fn(&View) -> bool,
    ) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !pred(self) {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(u)) => self.apply(u),
                Ok(None) => panic!("discovery ended while waiting for {what}"),
                Err(_) => panic!(
                    "timed out waiting for {what}; have {:?}",
                    self.groups.keys().collect::<Vec<_>>()
                ),
            }
        }
    }
}
