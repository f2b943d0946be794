//! File targets: the source kind of jobs with `static_configs` or `file_sd_configs`.
//!
//! A target is one `__path__` glob with its labels (Promtail's `FileTarget`). The job's
//! [`scan::Scanner`] expands the globs of all its targets together every
//! `target_config.sync_period` (and at once on a directory event that concerns a target); each
//! target starts a [`Reader`] per new file and stops the readers of files that no longer match,
//! forgetting their positions as Promtail does. Within a job, a file matched by two targets with
//! the same labels is read once.
//!
//! A file that no longer matches (renamed away or deleted) is not stopped at once, as Promtail
//! stops it: its reader still has it open, reads it to its end, waits until its lines are
//! acknowledged, and only then stops (and its position is forgotten). If the path comes back
//! meanwhile (logrotate's `create` after a glob pass fell between its rename and create), the same
//! reader goes on: it sees a new file at the path, as after any rename rotation, and reads it from
//! its start.

pub mod scan;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use scan::{Files, Scanner};
use tokio_util::sync::CancellationToken;

use crate::core::Labels;
use crate::relabel::Relabeler;
use crate::source::{Dropped, Source, SourceCtx, SourceKind, Target, TargetView};
use crate::tail::glob::PathGlob;
use crate::tail::watch::Watcher;
use crate::tail::{PlainDecoder, Reader, ReaderOptions, ReaderStatus};
use crate::telemetry::metrics as m;

/// Files being read by a job's targets, keyed by path and labels.
type Claims = Mutex<HashSet<(PathBuf, Labels)>>;

/// The file source kind of one job.
pub struct FileKind {
    relabel: Relabeler,
    hostname: String,
    watcher: Arc<Watcher>,
    sync_period: Duration,
    reader: ReaderOptions,
    claims: Arc<Claims>,
    scanner: Arc<Scanner>,
}

impl FileKind {
    /// A job's file kind: its relabel rules, the watcher, `target_config.sync_period` and the
    /// readers' settings.
    pub fn new(
        relabel: Relabeler,
        watcher: Arc<Watcher>,
        sync_period: Duration,
        reader: ReaderOptions,
    ) -> FileKind {
        FileKind {
            relabel,
            hostname: local_hostname(),
            scanner: Arc::new(Scanner::new(Arc::clone(&watcher), sync_period)),
            watcher,
            sync_period,
            reader,
            claims: Arc::default(),
        }
    }
}

/// The host name `__host__` is compared with, as Promtail's `hostname()`: `HOSTNAME` when set and
/// not empty (the chart sets it from `spec.nodeName`), else the system's. Kubernetes pod
/// discovery selects this node's pods with it too.
pub fn local_hostname() -> String {
    match std::env::var("HOSTNAME") {
        Ok(h) if !h.is_empty() => h,
        _ => hostname::get()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default(),
    }
}

impl SourceKind for FileKind {
    fn name(&self) -> &'static str {
        "file"
    }

    /// Relabels a target as Promtail's file target manager does: dropped by the rules, for
    /// another host (`__host__`), without `__path__`, or with a bad glob.
    fn target(&self, discovered: &Labels) -> Result<Target, Dropped> {
        let Some(labels) = self.relabel.process(discovered.clone()) else {
            return Err(Dropped::Relabel);
        };
        if labels.get("__host__").is_some_and(|h| h != self.hostname) {
            return Err(Dropped::WrongHost);
        }
        let Some(path) = labels.get("__path__").filter(|p| !p.is_empty()) else {
            tracing::info!(labels = %discovered.display_string(), "no path for target");
            return Err(Dropped::NoPath);
        };
        if let Err(e) = PathGlob::new(path) {
            tracing::error!(error = %e, "bad target path");
            return Err(Dropped::Error);
        }
        let exclude = labels.get("__path_exclude__").unwrap_or("");
        if !exclude.is_empty() {
            if let Err(e) = PathGlob::new(exclude) {
                tracing::error!(error = %e, "bad __path_exclude__");
                return Err(Dropped::Error);
            }
        }
        let mut clean = labels.clone();
        clean.retain(|k, _| !k.starts_with("__"));
        Ok(Target {
            key: format!("{path}:{}:{exclude}", clean.display_string()),
            labels: clean,
            relabelled: labels,
            discovered: discovered.clone(),
        })
    }

    fn start(&self, target: &Target, ctx: &SourceCtx) -> Box<dyn Source> {
        let cancel = ctx.cancel.child_token();
        let glob = target
            .relabelled
            .get("__path__")
            .and_then(|p| PathGlob::new(p).ok());
        if let Some(g) = &glob {
            let key = format!("{}:{}", g.pattern(), target.labels.display_string());
            tracing::info!(key = %key, "Adding target");
        }
        let exclude = target
            .relabelled
            .get("__path_exclude__")
            .filter(|p| !p.is_empty())
            .and_then(|p| PathGlob::new(p).ok());
        // Whether a path is one of this target's own files: one check shared by all its readers
        // (each reader asks it of numbered rotated files; a copy of both globs per reader was
        // about 1.5 KB a file, 15 MB with 10,000 files).
        let own: OwnCheck = {
            let (glob, exclude) = (glob.clone(), exclude.clone());
            Arc::new(move |p: &std::path::Path| {
                glob.as_ref().is_some_and(|g| g.is_match(p))
                    && !exclude.as_ref().is_some_and(|x| x.is_match(p))
            })
        };
        let task = FileTarget {
            glob,
            exclude,
            own,
            labels: target.labels.clone(),
            discovered: target.discovered.clone(),
            ctx: ctx.clone(),
            watcher: Arc::clone(&self.watcher),
            scanner: Arc::clone(&self.scanner),
            sync_period: self.sync_period,
            reader: self.reader.clone(),
            claims: Arc::clone(&self.claims),
            running: HashMap::new(),
            ended: Arc::new(Notify::new()),
        };
        let forget = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let handle = tokio::spawn(task.run(cancel.clone(), Arc::clone(&forget)));
        Box::new(FileSource {
            cancel,
            forget,
            handle,
        })
    }
}

/// A running file target.
struct FileSource {
    cancel: CancellationToken,
    forget: Arc<std::sync::atomic::AtomicBool>,
    handle: JoinHandle<()>,
}

impl Source for FileSource {
    fn stop(self: Box<Self>, forget: bool) -> BoxFuture<'static, ()> {
        self.forget
            .store(forget, std::sync::atomic::Ordering::Relaxed);
        self.cancel.cancel();
        Box::pin(async move {
            let _ = self.handle.await;
        })
    }
}

struct Running {
    cancel: CancellationToken,
    handle: JoinHandle<()>,
    /// Set while the path is out of the glob: the reader finishes its file and stops.
    retire: Arc<AtomicBool>,
    wake: Arc<Notify>,
    /// Set when the reader's `run` returned (before its task is seen as finished).
    done: Arc<AtomicBool>,
}

impl Running {
    fn ended(&self) -> bool {
        self.done.load(Ordering::Acquire) || self.handle.is_finished()
    }
}

/// Whether a path is matched by a target's glob and not by its exclusion.
type OwnCheck = Arc<dyn Fn(&std::path::Path) -> bool + Send + Sync>;

/// The task of one file target.
struct FileTarget {
    glob: Option<PathGlob>,
    exclude: Option<PathGlob>,
    own: OwnCheck,
    labels: Labels,
    discovered: Labels,
    ctx: SourceCtx,
    watcher: Arc<Watcher>,
    scanner: Arc<Scanner>,
    sync_period: Duration,
    reader: ReaderOptions,
    claims: Arc<Claims>,
    running: HashMap<PathBuf, Running>,
    /// Notified when a reader ends (a retiring reader is then stopped for good).
    ended: Arc<Notify>,
}

impl FileTarget {
    fn lock_claims(&self) -> std::sync::MutexGuard<'_, HashSet<(PathBuf, Labels)>> {
        self.claims.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn run(mut self, cancel: CancellationToken, forget: Arc<std::sync::atomic::AtomicBool>) {
        let Some(glob) = self.glob.clone() else {
            return;
        };
        // The job's scanner expands the glob (with every other target's) and says when the
        // files change; every sync period the target also restarts a reader that ended.
        let mut reg = self.scanner.register(glob, self.exclude.clone());
        let mut tick = tokio::time::interval(self.sync_period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        let mut want: Files = Files::default();
        loop {
            tokio::select! {
                changed = reg.files.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    let Some(files) = reg.files.borrow_and_update().clone() else {
                        continue;
                    };
                    want = files;
                }
                _ = tick.tick() => {}
                _ = self.ended.notified() => {}
                _ = cancel.cancelled() => break,
            }
            let gone: Vec<PathBuf> = self
                .running
                .keys()
                .filter(|p| !want.contains(*p))
                .cloned()
                .collect();
            for path in gone {
                let Some(r) = self.running.get(&path) else {
                    continue;
                };
                if r.ended() {
                    self.stop_reader(&path, true).await;
                } else if !r.retire.swap(true, Ordering::Relaxed) {
                    // Renamed away or deleted: the reader still has the file open and reads it
                    // to its end first (Promtail stops it here, losing what it had not read).
                    tracing::info!(path = %path.display(), "file left its target's glob; reading it to its end before stopping");
                    r.wake.notify_one();
                }
            }
            for path in want.iter() {
                if let Some(r) = self.running.get(path).filter(|r| !r.ended()) {
                    if r.retire.swap(false, Ordering::Relaxed) {
                        tracing::info!(path = %path.display(), "file is back in its target's glob; reading on");
                        r.wake.notify_one();
                    }
                    continue;
                }
                self.start_reader(path.clone(), &cancel);
            }
        }
        drop(reg);
        let forget = forget.load(std::sync::atomic::Ordering::Relaxed);
        let paths: Vec<PathBuf> = self.running.keys().cloned().collect();
        for path in paths {
            self.stop_reader(&path, forget).await;
        }
    }

    fn start_reader(&mut self, path: PathBuf, cancel: &CancellationToken) {
        if let Some(finished) = self.running.remove(&path) {
            // Its reader ended (the file went away and came back): start it again.
            metrics::gauge!(m::FILES_ACTIVE).decrement(1.0);
            drop(finished);
        } else if !self
            .lock_claims()
            .insert((path.clone(), self.labels.clone()))
        {
            // Another target of the job reads this file with the same labels.
            return;
        }
        let mut entry_labels = self.labels.clone();
        entry_labels.insert("filename", path.to_string_lossy().into_owned());
        let status = Arc::new(ReaderStatus::default());
        let wake = Arc::new(Notify::new());
        self.watcher.watch_file(&path, &wake);
        let rcancel = cancel.child_token();
        let retire = Arc::new(AtomicBool::new(false));
        let reader = Reader::new(
            path.clone(),
            PlainDecoder::new(entry_labels),
            self.ctx.tx.clone(),
            Arc::clone(&self.ctx.positions),
            Arc::clone(&wake),
            rcancel.clone(),
            self.reader.clone(),
            Arc::clone(&status),
        )
        // Numbered rotated files the glob matches are targets of their own.
        .with_logrotate_numbering(Arc::clone(&self.own))
        .with_retire(Arc::clone(&retire));
        tracing::info!(component = "tailer", path = %path.display(), "tail routine: started");
        let ended = Arc::clone(&self.ended);
        let done = Arc::new(AtomicBool::new(false));
        let done_set = Arc::clone(&done);
        // The reader's future is made here, so the task holds it alone (a reader moved into the
        // task's block would stay in the task's state beside the future it became).
        let run = reader.run();
        let handle = tokio::spawn(async move {
            run.await;
            done_set.store(true, Ordering::Release);
            ended.notify_one();
        });
        self.ctx.registry.set(
            self.registry_key(&path),
            TargetView {
                job: self.ctx.job.to_string(),
                kind: "file",
                labels: self.labels.clone(),
                files: vec![(path.to_string_lossy().into_owned(), status)],
                details: format!("discovered: {}", self.discovered.display_string()),
            },
        );
        metrics::gauge!(m::FILES_ACTIVE).increment(1.0);
        self.running.insert(
            path,
            Running {
                cancel: rcancel,
                handle,
                retire,
                wake,
                done,
            },
        );
    }

    /// Stops a file's reader; `forget` removes its position unless another target still reads
    /// the file.
    async fn stop_reader(&mut self, path: &PathBuf, forget: bool) {
        let Some(r) = self.running.remove(path) else {
            return;
        };
        r.cancel.cancel();
        let _ = r.handle.await;
        metrics::gauge!(m::FILES_ACTIVE).decrement(1.0);
        self.ctx.registry.remove(&self.registry_key(path));
        let shared = {
            let mut claims = self.lock_claims();
            claims.remove(&(path.clone(), self.labels.clone()));
            claims.iter().any(|(p, _)| p == path)
        };
        if forget {
            let key = path.to_string_lossy();
            if !shared {
                self.ctx.positions.remove(&key);
            }
            tracing::info!(path = %key, "stopped tailing file");
        }
    }

    fn registry_key(&self, path: &std::path::Path) -> String {
        format!(
            "{}/{}:{}",
            self.ctx.job,
            path.display(),
            self.labels.display_string()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind() -> FileKind {
        let mut k = FileKind::new(
            Relabeler::default(),
            Watcher::new(),
            Duration::from_secs(10),
            ReaderOptions {
                poll: Duration::from_millis(250),
                max_idle_poll: Duration::from_secs(1),
            },
        );
        k.hostname = "h".into();
        k
    }

    #[test]
    fn targets_from_discovered_labels() {
        let k = kind();
        let l = |pairs: &[(&str, &str)]| -> Labels { pairs.iter().copied().collect() };
        let a = k
            .target(&l(&[
                ("__path__", "/var/log/*.log"),
                ("job", "a"),
                ("__address__", "localhost"),
            ]))
            .unwrap();
        let b = k
            .target(&l(&[
                ("__path__", "/var/log/*.log"),
                ("job", "a"),
                ("__address__", "other"),
            ]))
            .unwrap();
        assert_eq!(a.key, b.key, "targets differing only in __ labels are one");
        assert_eq!(a.labels.display_string(), "{job=\"a\"}");
        assert_eq!(k.target(&l(&[("job", "nopath")])), Err(Dropped::NoPath));
        assert_eq!(
            k.target(&l(&[("__path__", "/x"), ("__host__", "other")])),
            Err(Dropped::WrongHost)
        );
        assert_eq!(
            k.target(&l(&[("__path__", "/x/[")])),
            Err(Dropped::Error),
            "a bad glob"
        );
    }
}
