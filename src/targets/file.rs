//! The file target manager of one job: every `target_config.sync_period` (and at once on a
//! file-system event) it re-reads the target groups, relabels them, expands the globs, starts a
//! reader per new file and stops readers of files that no longer match (forgetting their
//! position, as Promtail does).

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{Registry, TargetView};
use crate::core::{Entry, Labels};
use crate::discovery::static_files::{build_targets, read_file_sd, FileTarget};
use crate::positions::Positions;
use crate::relabel::Relabeler;
use crate::tail::watch::Watcher;
use crate::tail::{PlainDecoder, Reader, ReaderOptions, ReaderStatus};
use crate::telemetry::metrics as m;

/// Everything a file job needs.
pub struct FileJob {
    /// Job name.
    pub job: String,
    /// Static target groups (labels incl. `__path__`, `__address__`).
    pub static_groups: Vec<Labels>,
    /// `file_sd_configs` file patterns.
    pub file_sd: Vec<String>,
    /// Compiled relabel rules.
    pub relabel: Relabeler,
    /// Where entries go (the job's pipeline).
    pub tx: mpsc::Sender<Vec<Entry>>,
    /// The positions store.
    pub positions: Arc<Positions>,
    /// The watcher.
    pub watcher: Arc<Watcher>,
    /// Resync period.
    pub sync_period: Duration,
    /// Reader settings.
    pub reader: ReaderOptions,
    /// `/targets` registry.
    pub registry: Arc<Registry>,
}

struct Running {
    cancel: CancellationToken,
    handle: JoinHandle<()>,
    status: Arc<ReaderStatus>,
    _wake: Arc<Notify>,
}

impl FileJob {
    /// Runs until `cancel`; then stops its readers and waits for them.
    pub async fn run(self, cancel: CancellationToken) {
        let hostname = hostname::get()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default();
        let hostname = std::env::var("HOSTNAME").unwrap_or(hostname);
        let wake = Arc::new(Notify::new());
        let mut running: HashMap<(PathBuf, Labels), Running> = HashMap::new();
        let mut announced: BTreeSet<String> = BTreeSet::new();
        loop {
            let mut groups = self.static_groups.clone();
            groups.extend(read_file_sd(&self.file_sd));
            let (targets, dropped) = build_targets(&groups, &self.relabel, &hostname);
            for (_, reason) in &dropped {
                metrics::counter!(m::TARGETS_FAILED, "reason" => reason.reason()).increment(1);
            }
            metrics::gauge!(m::TARGETS_ACTIVE).set(targets.len() as f64);
            let mut want: HashMap<(PathBuf, Labels), &FileTarget> = HashMap::new();
            for t in &targets {
                let key = format!("{}:{}", t.glob.pattern(), t.labels.display_string());
                if announced.insert(key.clone()) {
                    tracing::info!(key = %key, "Adding target");
                }
                self.watcher.watch_dir(t.glob.base(), &wake);
                for path in t.glob.expand() {
                    if t.exclude.as_ref().is_some_and(|x| x.is_match(&path)) {
                        continue;
                    }
                    if let Some(dir) = path.parent() {
                        self.watcher.watch_dir(dir, &wake);
                    }
                    want.insert((path, t.labels.clone()), t);
                }
            }
            // Stop readers of files that left their glob.
            let gone: Vec<(PathBuf, Labels)> = running
                .keys()
                .filter(|k| !want.contains_key(*k))
                .cloned()
                .collect();
            for key in gone {
                if let Some(r) = running.remove(&key) {
                    r.cancel.cancel();
                    let _ = r.handle.await;
                    let path = key.0.to_string_lossy().into_owned();
                    if !running.keys().any(|(p, _)| *p == key.0) {
                        self.positions.remove(&path);
                    }
                    self.registry.remove(&registry_key(&self.job, &key));
                    tracing::info!(path = %path, "stopped tailing file");
                }
            }
            // Start readers of new files.
            for (key, target) in want {
                if let Some(r) = running.get(&key) {
                    if !r.handle.is_finished() {
                        continue;
                    }
                }
                let (path, labels) = key.clone();
                let mut entry_labels = labels.clone();
                entry_labels.insert("filename", path.to_string_lossy().into_owned());
                let status = Arc::new(ReaderStatus::default());
                let rwake = Arc::new(Notify::new());
                self.watcher.watch_file(&path, &rwake);
                let rcancel = cancel.child_token();
                let reader = Reader::new(
                    path.clone(),
                    PlainDecoder::new(entry_labels),
                    self.tx.clone(),
                    Arc::clone(&self.positions),
                    Arc::clone(&rwake),
                    rcancel.clone(),
                    self.reader.clone(),
                    Arc::clone(&status),
                );
                tracing::info!(component = "tailer", path = %path.display(), "tail routine: started");
                let handle = tokio::spawn(reader.run());
                self.registry.set(
                    registry_key(&self.job, &key),
                    TargetView {
                        job: self.job.clone(),
                        kind: "file",
                        labels: labels.clone(),
                        files: vec![(path.to_string_lossy().into_owned(), Arc::clone(&status))],
                        details: format!("discovered: {}", target.discovered.display_string()),
                    },
                );
                running.insert(
                    key,
                    Running {
                        cancel: rcancel,
                        handle,
                        status,
                        _wake: rwake,
                    },
                );
            }
            let active = running
                .values()
                .filter(|r| r.status.running.load(std::sync::atomic::Ordering::Relaxed))
                .count();
            metrics::gauge!(m::FILES_ACTIVE).set(active as f64);
            self.watcher.prune();
            tokio::select! {
                _ = tokio::time::sleep(self.sync_period) => {}
                _ = wake.notified() => {
                    // Let a burst of events settle into one resync.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                _ = cancel.cancelled() => break,
            }
        }
        for (key, r) in running.drain() {
            r.cancel.cancel();
            let _ = r.handle.await;
            self.registry.remove(&registry_key(&self.job, &key));
        }
    }
}

fn registry_key(job: &str, key: &(PathBuf, Labels)) -> String {
    format!("{job}/{}:{}", key.0.display(), key.1.display_string())
}
