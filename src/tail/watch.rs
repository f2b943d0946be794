//! One process-wide file-system watcher (inotify through `notify`). Events are only hints: they
//! wake a reader whose file changed, or a job whose directory got a new entry, at once instead
//! of at the next poll. Everything works without them (NFS, exhausted inotify watches).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use notify::{EventKind, RecursiveMode, Watcher as _};
use tokio::sync::Notify;

#[derive(Default)]
struct State {
    dirs: HashMap<PathBuf, Vec<Weak<Notify>>>,
    files: HashMap<PathBuf, Vec<Weak<Notify>>>,
    /// Directories whose structural events are collected for a consumer (a file job's scanner),
    /// with the changed path, instead of only waking it.
    sinks: HashMap<PathBuf, Vec<Weak<DirEvents>>>,
}

impl State {
    fn dir_watched(&self, dir: &Path) -> bool {
        self.dirs.contains_key(dir) || self.sinks.contains_key(dir)
    }
}

/// The most changed paths a [`DirEvents`] holds; beyond it the consumer is told to rescan.
const MAX_PENDING_EVENTS: usize = 65_536;

/// Structural events (an entry created, removed or renamed) in the directories a consumer
/// watches, with the changed paths, so it can tell which of its globs they concern.
#[derive(Default)]
pub struct DirEvents {
    pending: Mutex<(Vec<PathBuf>, bool)>,
    notify: Notify,
}

impl DirEvents {
    fn push(&self, path: &Path) {
        let mut p = lock(&self.pending);
        if p.0.len() < MAX_PENDING_EVENTS {
            p.0.push(path.to_path_buf());
        } else {
            p.1 = true;
        }
        drop(p);
        self.notify.notify_one();
    }

    fn rescan(&self) {
        lock(&self.pending).1 = true;
        self.notify.notify_one();
    }

    /// The changed paths since the last call, and whether events were lost (the kernel's queue
    /// overflowed, or too many piled up): then every directory must be looked at again.
    pub fn take(&self) -> (Vec<PathBuf>, bool) {
        let mut p = lock(&self.pending);
        (std::mem::take(&mut p.0), std::mem::take(&mut p.1))
    }

    /// Waits for an event.
    pub async fn notified(&self) {
        self.notify.notified().await
    }
}

/// The watcher.
pub struct Watcher {
    watcher: Option<Mutex<notify::RecommendedWatcher>>,
    state: Arc<Mutex<State>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Watcher {
    /// Starts the watcher; without inotify it degrades to polling only (logged once).
    pub fn new() -> Arc<Self> {
        let state: Arc<Mutex<State>> = Arc::default();
        let cb_state = Arc::clone(&state);
        let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            let Ok(event) = res else { return };
            if event.need_rescan() {
                let st = lock(&cb_state);
                for w in st.sinks.values().flatten().filter_map(Weak::upgrade) {
                    w.rescan();
                }
                return;
            }
            // Opening or reading a file (ferrotail's own reads included) raises access events;
            // waking on them would make every check wake the reader again.
            if matches!(event.kind, EventKind::Access(_)) {
                return;
            }
            let structural = matches!(
                event.kind,
                EventKind::Create(_)
                    | EventKind::Remove(_)
                    | EventKind::Modify(notify::event::ModifyKind::Name(_))
            );
            let st = lock(&cb_state);
            for p in &event.paths {
                if let Some(list) = st.files.get(p) {
                    for w in list.iter().filter_map(Weak::upgrade) {
                        w.notify_one();
                    }
                }
                if structural {
                    if let Some(list) = p.parent().and_then(|d| st.dirs.get(d)) {
                        for w in list.iter().filter_map(Weak::upgrade) {
                            w.notify_one();
                        }
                    }
                    if let Some(list) = p.parent().and_then(|d| st.sinks.get(d)) {
                        for w in list.iter().filter_map(Weak::upgrade) {
                            w.push(p);
                        }
                    }
                }
            }
        });
        let watcher = match watcher {
            Ok(w) => Some(Mutex::new(w)),
            Err(e) => {
                tracing::warn!(error = %e, "file-system events unavailable; polling only");
                None
            }
        };
        Arc::new(Watcher { watcher, state })
    }

    fn add_watch(&self, dir: &Path) {
        if let Some(w) = &self.watcher {
            if let Err(e) = lock(w).watch(dir, RecursiveMode::NonRecursive) {
                tracing::debug!(directory = %dir.display(), error = %e, "cannot watch directory; polling it");
            }
        }
    }

    /// True when file-system events are delivered (inotify is available).
    pub fn active(&self) -> bool {
        self.watcher.is_some()
    }

    /// Sends `sink` the entries created, removed or renamed in `dir`. Installs the directory's
    /// inotify watch when it has none (a blocking call: run it off the async workers).
    pub fn watch_dir_events(&self, dir: &Path, sink: &Arc<DirEvents>) {
        let mut st = lock(&self.state);
        let first = !st.dir_watched(dir);
        let list = st.sinks.entry(dir.to_path_buf()).or_default();
        if list
            .iter()
            .any(|w| std::ptr::eq(w.as_ptr(), Arc::as_ptr(sink)))
        {
            return;
        }
        list.retain(|w| w.strong_count() > 0);
        list.push(Arc::downgrade(sink));
        drop(st);
        if first {
            tracing::debug!(directory = %dir.display(), "watching new directory");
            self.add_watch(dir);
        }
    }

    /// Stops sending `sink` the events of `dir`; removes the inotify watch when nobody else
    /// watches the directory (a blocking call: run it off the async workers).
    pub fn unwatch_dir_events(&self, dir: &Path, sink: &Arc<DirEvents>) {
        let mut st = lock(&self.state);
        if let Some(list) = st.sinks.get_mut(dir) {
            list.retain(|w| w.strong_count() > 0 && !std::ptr::eq(w.as_ptr(), Arc::as_ptr(sink)));
            if list.is_empty() {
                st.sinks.remove(dir);
            }
        }
        let watched = st.dir_watched(dir) || st.files.keys().any(|f| f.parent() == Some(dir));
        drop(st);
        if !watched {
            if let Some(w) = &self.watcher {
                let _ = lock(w).unwatch(dir);
            }
        }
    }

    /// Wakes `job` when an entry is created, removed or renamed in `dir`.
    pub fn watch_dir(&self, dir: &Path, job: &Arc<Notify>) {
        let mut st = lock(&self.state);
        let first = !st.dir_watched(dir);
        let list = st.dirs.entry(dir.to_path_buf()).or_default();
        list.retain(|w| w.strong_count() > 0);
        if list
            .iter()
            .any(|w| w.upgrade().is_some_and(|n| Arc::ptr_eq(&n, job)))
        {
            return;
        }
        list.push(Arc::downgrade(job));
        drop(st);
        if first {
            tracing::info!(directory = %dir.display(), "watching new directory");
            self.add_watch(dir);
        }
    }

    /// Wakes `reader` when `path` changes. Adds no watch: events of a file come through its
    /// directory's watch, which the file's discoverer installed (off the async workers).
    pub fn watch_file(&self, path: &Path, reader: &Arc<Notify>) {
        let mut st = lock(&self.state);
        let list = st.files.entry(path.to_path_buf()).or_default();
        list.retain(|w| w.strong_count() > 0);
        list.push(Arc::downgrade(reader));
    }

    /// Forgets readers of `path` that are gone.
    pub fn prune(&self) {
        let mut st = lock(&self.state);
        st.files.retain(|_, l| {
            l.retain(|w| w.strong_count() > 0);
            !l.is_empty()
        });
        st.dirs.retain(|_, l| {
            l.retain(|w| w.strong_count() > 0);
            !l.is_empty()
        });
        st.sinks.retain(|_, l| {
            l.retain(|w| w.strong_count() > 0);
            !l.is_empty()
        });
    }
}
