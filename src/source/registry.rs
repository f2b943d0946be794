//! The shared view of running sources that `/targets` and `/ready` read.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use std::sync::atomic::{AtomicBool, AtomicU64};

use crate::core::Labels;

/// Live state of a reader, shown on `/targets`.
#[derive(Debug, Default)]
pub struct ReaderStatus {
    /// Bytes read (the read offset).
    pub read_offset: AtomicU64,
    /// Size of the file at the last check.
    pub size: AtomicU64,
    /// True while the reader runs.
    pub running: AtomicBool,
}

/// One active target as `/targets` shows it.
#[derive(Debug, Clone)]
pub struct TargetView {
    /// Job name.
    pub job: String,
    /// Kind: `file` or `docker`.
    pub kind: &'static str,
    /// Final labels.
    pub labels: Labels,
    /// Files (or container logs) read, with their live status.
    pub files: Vec<(String, Arc<ReaderStatus>)>,
    /// Extra details (docker: how the container is read).
    pub details: String,
}

/// Shared registry of targets.
#[derive(Debug, Default)]
pub struct Registry {
    targets: Mutex<BTreeMap<String, TargetView>>,
    /// True when a docker job exists (Promtail's docker manager is always ready).
    docker_ready: std::sync::atomic::AtomicBool,
    /// True when at least one job exists.
    any_job: std::sync::atomic::AtomicBool,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, TargetView>> {
        self.targets.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds or replaces a target under `key`.
    pub fn set(&self, key: String, view: TargetView) {
        self.lock().insert(key, view);
    }

    /// Removes a target.
    pub fn remove(&self, key: &str) {
        self.lock().remove(key);
    }

    /// The target under `key`.
    pub fn get(&self, key: &str) -> Option<TargetView> {
        self.lock().get(key).cloned()
    }

    /// A snapshot of all targets.
    pub fn snapshot(&self) -> Vec<TargetView> {
        self.lock().values().cloned().collect()
    }

    /// Marks that a docker job exists.
    pub fn set_docker_job(&self) {
        self.docker_ready.store(true, Ordering::Relaxed);
    }

    /// Marks that some job exists.
    pub fn set_any_job(&self) {
        self.any_job.store(true, Ordering::Relaxed);
    }

    /// Promtail's readiness: some file being read, or a docker job configured.
    pub fn ready(&self) -> bool {
        if !self.any_job.load(Ordering::Relaxed) {
            return false;
        }
        if self.docker_ready.load(Ordering::Relaxed) {
            return true;
        }
        self.lock().values().any(|t| {
            t.files
                .iter()
                .any(|(_, s)| s.running.load(Ordering::Relaxed))
        })
    }
}
