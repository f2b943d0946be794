//! Discovery of a job's targets from its config: `static_configs` and `file_sd_configs`. Each
//! discoverer only produces target groups (see [`crate::source::Discover`]); what the targets
//! become is the source kind's business. Docker's `docker_sd_configs` lives in `docker/`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;

use crate::config::raw::{RawScrapeConfig, RawStaticConfig};
use crate::core::Labels;
use crate::source::{Discover, TargetGroup};
use crate::tail::glob::PathGlob;
use crate::tail::watch::Watcher;

/// One target group's targets: `targets` (or `localhost` when empty) as `__address__`, with the
/// group's labels.
fn group_targets(g: &RawStaticConfig, extra: Option<(&str, &str)>) -> Vec<Labels> {
    let addresses = if g.targets.is_empty() {
        vec!["localhost".to_string()]
    } else {
        g.targets.clone()
    };
    addresses
        .into_iter()
        .map(|t| {
            let mut l: Labels = g
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            l.insert("__address__", t);
            if let Some((k, v)) = extra {
                l.insert(k, v);
            }
            l
        })
        .collect()
}

/// `static_configs`: the groups are sent once. Also the one target of a job without discovery
/// (journal, syslog, loki_push_api, gelf): [`Static::one`].
pub struct Static {
    groups: Vec<TargetGroup>,
}

impl Static {
    /// One group named `source` holding the one target `labels`.
    pub fn one(source: &str, labels: Labels) -> Static {
        Static {
            groups: vec![TargetGroup {
                source: source.to_string(),
                targets: vec![labels],
            }],
        }
    }

    /// The job's static target groups.
    pub fn new(job: &RawScrapeConfig) -> Static {
        let groups = job
            .static_configs
            .iter()
            .enumerate()
            .map(|(i, g)| TargetGroup {
                source: i.to_string(),
                targets: group_targets(g, None),
            })
            .collect();
        Static { groups }
    }
}

impl Discover for Static {
    fn run(
        self: Box<Self>,
        tx: mpsc::Sender<Vec<TargetGroup>>,
        cancel: CancellationToken,
    ) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            if !self.groups.is_empty() {
                let _ = tx.send(self.groups).await;
            }
            cancel.cancelled().await;
        })
    }
}

/// `file_sd_configs`: the files matching the patterns are read every `refresh` and when their
/// directory changes. Each file is one group; a file that cannot be read or parsed (caught
/// half-written) keeps its last good groups, as Prometheus' file discovery does; a file that is
/// gone removes its groups.
pub struct FileSd {
    patterns: Vec<String>,
    refresh: Duration,
    watcher: Arc<Watcher>,
}

impl FileSd {
    /// Discovery over `patterns` (the `files` of every `file_sd_configs` entry).
    pub fn new(patterns: Vec<String>, refresh: Duration, watcher: Arc<Watcher>) -> FileSd {
        FileSd {
            patterns,
            refresh,
            watcher,
        }
    }
}

impl Discover for FileSd {
    fn run(
        self: Box<Self>,
        tx: mpsc::Sender<Vec<TargetGroup>>,
        cancel: CancellationToken,
    ) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let wake = Arc::new(Notify::new());
            let mut globs = Vec::new();
            for pattern in &self.patterns {
                match PathGlob::new(pattern) {
                    Ok(g) => globs.push(g),
                    Err(e) => tracing::error!(error = %e, "file_sd_configs: bad file pattern"),
                }
            }
            let globs = Arc::new(globs);
            let mut last: BTreeMap<PathBuf, Vec<Labels>> = BTreeMap::new();
            loop {
                // Watches, the expansion and the reads run on the blocking pool: a hung disk
                // stalls only this discovery.
                let read = {
                    let globs = Arc::clone(&globs);
                    let watcher = Arc::clone(&self.watcher);
                    let wake = Arc::clone(&wake);
                    move || {
                        let mut out = BTreeMap::new();
                        for g in globs.iter() {
                            watcher.watch_dir(g.base(), &wake);
                            for file in g.expand() {
                                let read = read_file_sd(&file);
                                out.insert(file, read);
                            }
                        }
                        out
                    }
                };
                let Some(files) = crate::core::blocking::blocking(&cancel, read).await else {
                    return;
                };
                let mut update = Vec::new();
                for (file, read) in &files {
                    let Some(targets) = read else { continue };
                    if last.get(file) != Some(targets) {
                        last.insert(file.clone(), targets.clone());
                        update.push(TargetGroup {
                            source: file.to_string_lossy().into_owned(),
                            targets: targets.clone(),
                        });
                    }
                }
                let gone: Vec<PathBuf> = last
                    .keys()
                    .filter(|f| !files.contains_key(*f))
                    .cloned()
                    .collect();
                for file in gone {
                    last.remove(&file);
                    update.push(TargetGroup {
                        source: file.to_string_lossy().into_owned(),
                        targets: Vec::new(),
                    });
                }
                if !update.is_empty() && tx.send(update).await.is_err() {
                    return;
                }
                tokio::select! {
                    _ = tokio::time::sleep(self.refresh) => {}
                    _ = wake.notified() => {
                        // Let a burst of events settle into one read.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    _ = cancel.cancelled() => return,
                }
            }
        })
    }
}

/// Reads one `file_sd_configs` file (a JSON or YAML list of `{targets, labels}`), adding
/// `__meta_filepath`. `None` (logged) when it cannot be read or parsed.
fn read_file_sd(file: &std::path::Path) -> Option<Vec<Labels>> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(file = %file.display(), error = %e, "file_sd_configs: cannot read file");
            return None;
        }
    };
    let node = match gocompat::yaml::parse(&text) {
        Ok(n) => n,
        Err(e) => {
            tracing::error!(file = %file.display(), error = %e, "file_sd_configs: cannot parse file");
            return None;
        }
    };
    let groups: Vec<RawStaticConfig> = match gocompat::yaml::from_node(
        &node,
        gocompat::yaml::Mode::Config,
    ) {
        Ok(d) => d.value,
        Err(e) => {
            tracing::error!(file = %file.display(), error = %e, "file_sd_configs: invalid target groups");
            return None;
        }
    };
    let path = file.to_string_lossy();
    Some(
        groups
            .iter()
            .flat_map(|g| group_targets(g, Some(("__meta_filepath", &path))))
            .collect(),
    )
}
