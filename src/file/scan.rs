//! The scanner of one file job: expands the `__path__` globs of all the job's targets together
//! and tells each target which files it matches.
//!
//! Shared so that work grows with the directories, not with targets × entries (5,000 pod targets
//! of the chart's `<root>/*<uid>/<container>/*.log` each listing the whole log root was 25 M
//! entries per sync):
//! * one pass expands every target due (see [`expand_many`]): a directory is listed once per
//!   pass, a component without wildcards is a lookup, and the wildcard components of all targets
//!   in a directory are matched in one pass over its names;
//! * one inotify watch per directory for the job; a directory event marks due only the targets
//!   that looked in that directory with a part the changed name matches, so a new pod's directory
//!   wakes that pod's target and no other;
//! * every `sync_period` a pass expands every target (Promtail's periodic sync; events are only
//!   hints, and all there is on NFS).
//!
//! A target hears from the scanner only when its set of files changed.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;

use crate::tail::glob::{expand_many, Expansion, FsCache, PartSet, PathGlob};
use crate::tail::watch::{DirEvents, Watcher};

/// A target's files, as last expanded.
pub type Files = Arc<BTreeSet<PathBuf>>;

/// How long a burst of events or new targets settles before a pass.
const SETTLE: Duration = Duration::from_millis(20);

/// The scanner of one job. Dropping it ends its task.
pub struct Scanner {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    kick: Notify,
    events: Arc<DirEvents>,
    watcher: Arc<Watcher>,
    sync_period: Duration,
    cancel: CancellationToken,
}

#[derive(Default)]
struct State {
    next_id: u64,
    started: bool,
    targets: HashMap<u64, Reg>,
    /// Targets to expand in the next pass.
    due: HashSet<u64>,
    /// Directory → the targets that looked in it, with the parts evaluated there.
    interest: HashMap<PathBuf, HashMap<u64, Vec<usize>>>,
    /// Directories nobody looks in any more: their watches are removed in the next pass.
    unwatch: Vec<PathBuf>,
}

struct Reg {
    glob: Arc<PathGlob>,
    exclude: Option<Arc<PathGlob>>,
    tx: watch::Sender<Option<Files>>,
    last: Option<Files>,
    dirs: Vec<(PathBuf, usize)>,
    counts: Arc<Counts>,
}

/// What the scanner did for one target (for tests and debugging).
#[derive(Debug, Default)]
pub struct Counts {
    /// Passes that expanded this target's glob.
    pub expanded: AtomicU64,
    /// Times the target was handed a changed set of files (each wakes it).
    pub woken: AtomicU64,
}

/// A target's registration: its files arrive on `files`. Dropping it unregisters.
pub struct Registration {
    id: u64,
    inner: Arc<Inner>,
    /// The target's files: `None` until the first expansion.
    pub files: watch::Receiver<Option<Files>>,
    /// What the scanner did for it.
    pub counts: Arc<Counts>,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Scanner {
    /// A job's scanner; its task starts with the first target.
    pub fn new(watcher: Arc<Watcher>, sync_period: Duration) -> Scanner {
        Scanner {
            inner: Arc::new(Inner {
                state: Mutex::default(),
                kick: Notify::new(),
                events: Arc::default(),
                watcher,
                sync_period,
                cancel: CancellationToken::new(),
            }),
        }
    }

    /// Registers a target's glob and exclude pattern; it is expanded in the next pass. Must be
    /// called inside the runtime.
    pub fn register(&self, glob: PathGlob, exclude: Option<PathGlob>) -> Registration {
        let (tx, files) = watch::channel(None);
        let counts = Arc::new(Counts::default());
        let mut st = lock(&self.inner.state);
        let id = st.next_id;
        st.next_id += 1;
        st.targets.insert(
            id,
            Reg {
                glob: Arc::new(glob),
                exclude: exclude.map(Arc::new),
                tx,
                last: None,
                dirs: Vec::new(),
                counts: Arc::clone(&counts),
            },
        );
        st.due.insert(id);
        if !st.started {
            st.started = true;
            tokio::spawn(run(Arc::clone(&self.inner)));
        }
        drop(st);
        self.inner.kick.notify_one();
        Registration {
            id,
            inner: Arc::clone(&self.inner),
            files,
            counts,
        }
    }
}

impl Drop for Scanner {
    fn drop(&mut self) {
        self.inner.cancel.cancel();
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut st = lock(&self.inner.state);
        st.due.remove(&self.id);
        if let Some(reg) = st.targets.remove(&self.id) {
            forget_interest(&mut st, self.id, &reg.dirs);
        }
    }
}

/// Removes target `id`'s interest in `dirs`; directories nobody looks in any more are unwatched
/// in the next pass.
fn forget_interest(st: &mut State, id: u64, dirs: &[(PathBuf, usize)]) {
    for (dir, _) in dirs {
        let Some(list) = st.interest.get_mut(dir) else {
            continue;
        };
        list.remove(&id);
        if list.is_empty() {
            st.interest.remove(dir);
            st.unwatch.push(dir.clone());
        }
    }
}

/// Marks due the targets a batch of directory events concerns: those that looked in the
/// changed path's directory with a part its name matches.
fn route_events(st: &mut State, paths: &[PathBuf]) {
    let mut by_dir: HashMap<&std::path::Path, Vec<&std::ffi::OsStr>> = HashMap::new();
    for p in paths {
        if let (Some(dir), Some(name)) = (p.parent(), p.file_name()) {
            by_dir.entry(dir).or_default().push(name);
        }
    }
    let mut due = Vec::new();
    for (dir, names) in by_dir {
        let Some(list) = st.interest.get(dir) else {
            continue;
        };
        let (ids, parts): (Vec<u64>, Vec<_>) = list
            .iter()
            .flat_map(|(&id, ks)| ks.iter().map(move |&k| (id, k)))
            .filter_map(|(id, k)| {
                let part = st.targets.get(&id)?.glob.parts().get(k)?;
                Some((id, part))
            })
            .unzip();
        let mut set = PartSet::new(parts);
        for name in names {
            set.matches(name, |j| {
                if let Some(id) = ids.get(j) {
                    due.push(*id);
                }
            });
        }
    }
    st.due.extend(due);
}

/// One target to expand in a pass.
struct Job {
    id: u64,
    glob: Arc<PathGlob>,
    exclude: Option<Arc<PathGlob>>,
}

async fn run(inner: Arc<Inner>) {
    let mut next_full = tokio::time::Instant::now() + inner.sync_period;
    loop {
        tokio::select! {
            _ = inner.kick.notified() => {}
            _ = inner.events.notified() => {}
            _ = tokio::time::sleep_until(next_full) => {
                let mut st = lock(&inner.state);
                let all: Vec<u64> = st.targets.keys().copied().collect();
                st.due.extend(all);
                next_full = tokio::time::Instant::now() + inner.sync_period;
            }
            _ = inner.cancel.cancelled() => return,
        }
        tokio::select! {
            _ = tokio::time::sleep(SETTLE) => {}
            _ = inner.cancel.cancelled() => return,
        }
        let (paths, rescan) = inner.events.take();
        let (jobs, unwatch) = {
            let mut st = lock(&inner.state);
            if rescan {
                let all: Vec<u64> = st.targets.keys().copied().collect();
                st.due.extend(all);
            } else {
                route_events(&mut st, &paths);
            }
            let due: Vec<u64> = st.due.drain().collect();
            let jobs: Vec<Job> = due
                .into_iter()
                .filter_map(|id| {
                    st.targets.get(&id).map(|r| Job {
                        id,
                        glob: Arc::clone(&r.glob),
                        exclude: r.exclude.clone(),
                    })
                })
                .collect();
            // A directory looked in again since it was given up keeps its watch.
            let mut unwatch = std::mem::take(&mut st.unwatch);
            unwatch.retain(|d| !st.interest.contains_key(d));
            unwatch.sort();
            unwatch.dedup();
            (jobs, unwatch)
        };
        if jobs.is_empty() && unwatch.is_empty() {
            continue;
        }
        // The pass (listings, lookups, inotify watches) runs on the blocking pool: a hung
        // directory stalls only this job's scanner.
        let pass = {
            let watcher = Arc::clone(&inner.watcher);
            let sink = Arc::clone(&inner.events);
            move || {
                watcher.prune();
                for dir in &unwatch {
                    watcher.unwatch_dir_events(dir, &sink);
                }
                let globs: Vec<&PathGlob> = jobs.iter().map(|j| &*j.glob).collect();
                let mut cache = FsCache::default();
                let mut results = expand_many(&globs, &mut cache, &mut |dir| {
                    watcher.watch_dir_events(dir, &sink)
                });
                for (j, e) in jobs.iter().zip(results.iter_mut()) {
                    if let Some(x) = &j.exclude {
                        e.files.retain(|p| !x.is_match(p));
                    }
                }
                tracing::debug!(
                    targets = jobs.len(),
                    listed = cache.listed,
                    looked_up = cache.looked_up,
                    "expanded file targets"
                );
                (jobs, results)
            }
        };
        let Some((jobs, results)) = crate::core::blocking::blocking(&inner.cancel, pass).await
        else {
            return;
        };
        let mut st = lock(&inner.state);
        for (job, e) in jobs.into_iter().zip(results) {
            apply(&mut st, job.id, e);
        }
    }
}

/// Records what a pass found for target `id` and hands it its files if they changed.
fn apply(st: &mut State, id: u64, e: Expansion) {
    let Some(reg) = st.targets.get_mut(&id) else {
        // Unregistered during the pass.
        return;
    };
    reg.counts.expanded.fetch_add(1, Ordering::Relaxed);
    let files = Arc::new(e.files);
    if reg.last.as_deref() != Some(&*files) {
        reg.last = Some(Arc::clone(&files));
        reg.counts.woken.fetch_add(1, Ordering::Relaxed);
        reg.tx.send_replace(Some(files));
    }
    if reg.dirs == e.dirs {
        // Looked in the same directories as last time (the usual periodic pass).
        return;
    }
    let old = std::mem::replace(&mut reg.dirs, e.dirs.clone());
    forget_interest(st, id, &old);
    for (dir, k) in e.dirs {
        st.interest
            .entry(dir)
            .or_default()
            .entry(id)
            .or_default()
            .push(k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn next(r: &mut Registration) -> Files {
        tokio::time::timeout(Duration::from_secs(10), r.files.changed())
            .await
            .expect("files in time")
            .expect("scanner running");
        r.files.borrow_and_update().clone().expect("expanded")
    }

    /// Every target waits for its first expansion.
    async fn first(regs: &mut [Registration]) {
        for r in regs.iter_mut() {
            next(r).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_event_in_one_targets_directory_does_not_wake_the_others() {
        let watcher = Watcher::new();
        assert!(watcher.active(), "the test needs inotify");
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("pods");
        for i in 0..100 {
            let d = root.join(format!("ns_pod-{i}_uid-{i:03}/app"));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("0.log"), "x\n").unwrap();
        }
        let scanner = Scanner::new(Arc::clone(&watcher), Duration::from_secs(3600));
        let mut regs: Vec<Registration> = (0..100)
            .map(|i| {
                let g = PathGlob::new(&format!("{}/*uid-{i:03}/app/*.log", root.display()));
                scanner.register(g.unwrap(), None)
            })
            .collect();
        first(&mut regs).await;
        let before: Vec<(u64, u64)> = regs
            .iter()
            .map(|r| {
                (
                    r.counts.expanded.load(Ordering::Relaxed),
                    r.counts.woken.load(Ordering::Relaxed),
                )
            })
            .collect();
        // A file appears in pod 7's directory, then a new container directory in pod 9's, then
        // a pod directory no target's glob matches.
        let seven = root.join("ns_pod-7_uid-007/app/1.log");
        std::fs::write(&seven, "x\n").unwrap();
        let files = next(&mut regs[7]).await;
        assert!(files.contains(&seven), "{files:?}");
        let nine = root.join("ns_pod-9_uid-009/app/0.log.1");
        std::fs::rename(root.join("ns_pod-9_uid-009/app/0.log"), &nine).unwrap();
        let files = next(&mut regs[9]).await;
        assert!(!files.contains(&root.join("ns_pod-9_uid-009/app/0.log")));
        std::fs::create_dir_all(root.join("ns_other_uid-999/app")).unwrap();
        // A new target registered afterwards is expanded once: by then every event above was
        // routed (events are routed before the pass that expands it).
        let mut late = scanner.register(
            PathGlob::new(&format!("{}/*uid-999/app/*.log", root.display())).unwrap(),
            None,
        );
        next(&mut late).await;
        for (i, r) in regs.iter().enumerate() {
            let now = (
                r.counts.expanded.load(Ordering::Relaxed),
                r.counts.woken.load(Ordering::Relaxed),
            );
            if i == 7 || i == 9 {
                // Woken once; expanded once per batch of its events (a rename may come as two).
                assert!(now.0 > before[i].0, "target {i} expanded");
                assert_eq!(now.1, before[i].1 + 1, "target {i} woken once");
            } else {
                assert_eq!(now, before[i], "target {i} was woken by another's event");
            }
        }
    }

    #[tokio::test]
    async fn files_appear_and_vanish_for_the_targets_that_match_them() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("a.log"), "x\n").unwrap();
        std::fs::write(d.join("b.log"), "x\n").unwrap();
        let scanner = Scanner::new(Watcher::new(), Duration::from_millis(200));
        let mut all = scanner.register(
            PathGlob::new(&format!("{}/*.log", d.display())).unwrap(),
            Some(PathGlob::new(&format!("{}/b*", d.display())).unwrap()),
        );
        let mut one = scanner.register(
            PathGlob::new(&format!("{}/c.log", d.display())).unwrap(),
            None,
        );
        assert_eq!(next(&mut all).await.len(), 1, "b.log excluded");
        assert!(next(&mut one).await.is_empty());
        std::fs::write(d.join("c.log"), "x\n").unwrap();
        assert_eq!(next(&mut one).await.len(), 1);
        assert_eq!(next(&mut all).await.len(), 2);
        std::fs::remove_file(d.join("c.log")).unwrap();
        assert!(next(&mut one).await.is_empty());
        assert_eq!(next(&mut all).await.len(), 1);
        drop(all);
        // A dropped registration is forgotten; the other keeps being expanded.
        std::fs::write(d.join("c.log"), "x\n").unwrap();
        assert_eq!(next(&mut one).await.len(), 1);
        assert_eq!(lock(&scanner.inner.state).targets.len(), 1);
    }
}
