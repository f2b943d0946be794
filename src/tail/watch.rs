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

    /// Wakes `job` when an entry is created, removed or renamed in `dir`.
    pub fn watch_dir(&self, dir: &Path, job: &Arc<Notify>) {
        let mut st = lock(&self.state);
        let list = st.dirs.entry(dir.to_path_buf()).or_default();
        list.retain(|w| w.strong_count() > 0);
        if list
            .iter()
            .any(|w| w.upgrade().is_some_and(|n| Arc::ptr_eq(&n, job)))
        {
            return;
        }
        let first = list.is_empty();
        list.push(Arc::downgrade(job));
        drop(st);
        if first {
            tracing::info!(directory = %dir.display(), "watching new directory");
            self.add_watch(dir);
        }
    }

    /// Wakes `reader` when `path` changes.
    pub fn watch_file(&self, path: &Path, reader: &Arc<Notify>) {
        let mut st = lock(&self.state);
        let list = st.files.entry(path.to_path_buf()).or_default();
        list.retain(|w| w.strong_count() > 0);
        list.push(Arc::downgrade(reader));
        let dir_watched = path.parent().is_some_and(|d| st.dirs.contains_key(d));
        drop(st);
        if !dir_watched {
            if let Some(d) = path.parent() {
                self.add_watch(d);
            }
        }
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
    }
}
