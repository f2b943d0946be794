//! `kubernetes_sd_configs`: Prometheus' Kubernetes discovery (the `kubesd` crate) as a
//! [`Discover`] of file jobs.
//!
//! As in Promtail, a job with `kubernetes_sd_configs` is a file job: each entry becomes one
//! [`KubernetesSd`] beside the job's `static_configs` and `file_sd_configs`, and what a target
//! becomes (relabelling, `__host__`, the `__path__` glob) is [`crate::file::FileKind`]'s business.
//!
//! What this adapter adds to the crate, as Promtail and Prometheus do:
//! * **the node selector**: a `role: pod` entry without `selectors` gets
//!   `{role: pod, field: spec.nodeName=<host>}`, the host being `HOSTNAME` (the chart sets it from
//!   `spec.nodeName`) or the system's host name, so a DaemonSet pod lists only its own node's pods
//!   (Promtail's `fulfillKubePodSelector`). Entries that have `selectors` are left as written:
//!   Promtail's loop changes a copy of each selector, so it never adds the node to them;
//! * **relative paths** (`kubeconfig_file`, `bearer_token_file`, `tls_config` files, ...) are
//!   joined with the config file's directory (Prometheus' `SetDirectory`);
//! * **group labels** are merged into each target (the target's own labels win), as Prometheus'
//!   scrape and Promtail's target syncer do;
//! * **failures** do not stop anything else: a client that cannot be built (a kubeconfig pointing
//!   nowhere, no in-cluster environment) is logged with the job, role and API server and the
//!   discoverer stays idle; list/watch failures (unreachable API server, 401/403, undecodable
//!   objects) are logged by the crate with role and URL and retried with backoff, while the
//!   targets already discovered keep running.

use std::path::Path;

use futures_util::future::BoxFuture;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::raw::RawScrapeConfig;
use crate::core::Labels;
use crate::source::{Discover, TargetGroup};
/// Prometheus' counter of failed list/watch requests (and, here, of clients that could not be
/// built).
pub const SD_FAILURES: &str = "prometheus_sd_kubernetes_failures_total";

/// Promtail's `kubernetesPodNodeField`.
const POD_NODE_FIELD: &str = "spec.nodeName";

/// One `kubernetes_sd_configs` entry of a job.
pub struct KubernetesSd {
    job: String,
    cfg: kubesd::SdConfig,
    opts: kubesd::Options,
}

/// The discoverers of a job's `kubernetes_sd_configs` (none without them). `config_dir` is the
/// config file's directory, relative file paths are joined with it.
pub fn discoverers(
    job: &RawScrapeConfig,
    config_dir: Option<&Path>,
) -> Result<Vec<KubernetesSd>, String> {
    if job.kubernetes_sd_configs.is_empty() {
        return Ok(Vec::new());
    }
    let configs = job
        .kubernetes_configs()
        .map_err(|e| format!("job {:?}: {e}", job.job_name))?;
    let host = crate::file::local_hostname();
    Ok(configs
        .into_iter()
        .map(|cfg| KubernetesSd::new(&job.job_name, cfg, config_dir, &host))
        .collect())
}

impl KubernetesSd {
    /// The discoverer of one entry, with Promtail's node selector and paths made absolute.
    pub fn new(
        job: &str,
        mut cfg: kubesd::SdConfig,
        config_dir: Option<&Path>,
        host: &str,
    ) -> KubernetesSd {
        if let Some(dir) = config_dir {
            set_directory(&mut cfg, dir);
        }
        fulfill_pod_selector(&mut cfg, host);
        KubernetesSd {
            job: job.to_string(),
            cfg,
            opts: kubesd::Options::default(),
        }
    }

    /// The config the discovery runs with (tests).
    pub fn config(&self) -> &kubesd::SdConfig {
        &self.cfg
    }
}

/// Promtail's `fulfillKubePodSelector`: a pod discovery without selectors lists this node's pods
/// only. (Promtail's loop over existing selectors changes copies, so those stay as written.)
fn fulfill_pod_selector(cfg: &mut kubesd::SdConfig, host: &str) {
    if cfg.role == kubesd::Role::Pod && cfg.selectors.is_empty() {
        cfg.selectors.push(kubesd::SelectorConfig {
            role: kubesd::Role::Pod,
            label: String::new(),
            field: format!("{POD_NODE_FIELD}={host}"),
        });
    }
}

/// Prometheus' `SetDirectory`: relative file paths are relative to the config file.
fn set_directory(cfg: &mut kubesd::SdConfig, dir: &Path) {
    if !cfg.kubeconfig_file.is_empty() && Path::new(&cfg.kubeconfig_file).is_relative() {
        cfg.kubeconfig_file = dir
            .join(&cfg.kubeconfig_file)
            .to_string_lossy()
            .into_owned();
    }
    cfg.http.set_directory(dir);
}

/// A crate target group as the target manager's: each target with the group's labels merged in
/// (the target's win). Run by the crate on each group as it is built
/// ([`kubesd::Discovery::run_with`]), so thousands of pods are never held in both forms.
pub fn convert(g: kubesd::TargetGroup) -> TargetGroup {
    let kubesd::TargetGroup {
        source,
        targets,
        labels,
    } = g;
    TargetGroup {
        source,
        targets: targets.into_iter().map(|t| merged(&labels, t)).collect(),
    }
}

/// `group` and `target` (both sorted by name) as one set, in one ordered pass, stored at its exact
/// size (the target manager keeps thousands of these: a pod's set is about 26 labels).
fn merged(group: &kubesd::LabelSet, target: kubesd::LabelSet) -> Labels {
    let mut out = Labels::new();
    let mut from_group = group.iter().peekable();
    for (name, value) in target {
        while let Some((gk, gv)) = from_group.next_if(|(gk, _)| gk.as_str() < name.as_str()) {
            out.insert(gk.as_str(), gv.as_str());
        }
        from_group.next_if(|(gk, _)| **gk == name);
        out.insert(name, value);
    }
    for (gk, gv) in from_group {
        out.insert(gk.as_str(), gv.as_str());
    }
    exact(out)
}

/// `labels` stored at its exact size, strings included: `Labels` grows by doubling as labels are
/// inserted and has no constructor from a sized list, but a change to a shared copy copies it at
/// its exact size (about 10% of a pod's set).
fn exact(labels: Labels) -> Labels {
    let Some((first, _)) = labels.iter().next() else {
        return labels;
    };
    let first = first.to_string();
    let mut copy = labels.clone();
    let value = copy.remove(&first).unwrap_or_default();
    drop(labels);
    copy.insert(first, value);
    copy
}

impl Discover for KubernetesSd {
    fn run(
        self: Box<Self>,
        tx: mpsc::Sender<Vec<TargetGroup>>,
        cancel: CancellationToken,
    ) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let KubernetesSd { job, cfg, opts } = *self;
            let role = cfg.role;
            let api_server = if cfg.api_server.is_empty() && !cfg.kubeconfig_file.is_empty() {
                format!("kubeconfig {}", cfg.kubeconfig_file)
            } else if cfg.api_server.is_empty() {
                "in-cluster".to_string()
            } else {
                cfg.api_server.clone()
            };
            let discovery = tokio::select! {
                d = kubesd::Discovery::new(cfg, opts) => d,
                _ = cancel.cancelled() => return,
            };
            let discovery = match discovery {
                Ok(d) => d,
                Err(e) => {
                    // Prometheus' discovery manager logs "Cannot create service discovery" and
                    // runs the other providers.
                    tracing::error!(component = "discovery", job = %job, role = %role, url = %api_server, error = %e, "Cannot create service discovery");
                    metrics::counter!(SD_FAILURES).increment(1);
                    cancel.cancelled().await;
                    return;
                }
            };
            tracing::info!(component = "discovery", job = %job, role = %role, url = %discovery.url(), "starting kubernetes discovery");
            let mut errors = discovery.errors();
            let (ktx, mut krx) = mpsc::channel::<Vec<TargetGroup>>(16);
            let run = discovery.run_with(ktx, convert);
            tokio::pin!(run);
            let mut running = true;
            let mut errors_open = true;
            metrics::counter!(SD_FAILURES).increment(0);
            loop {
                tokio::select! {
                    _ = &mut run, if running => running = false,
                    update = krx.recv() => {
                        let Some(update) = update else { break };
                        if tx.send(update).await.is_err() {
                            return;
                        }
                    }
                    e = errors.recv(), if errors_open => match e {
                        // The crate logs each failure with role and URL; count it.
                        Ok(_) => metrics::counter!(SD_FAILURES).increment(1),
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                            metrics::counter!(SD_FAILURES).increment(n)
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => errors_open = false,
                    },
                    _ = cancel.cancelled() => return,
                }
            }
            cancel.cancelled().await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sd(yaml: &str) -> kubesd::SdConfig {
        let node = gocompat::yaml::parse(yaml).unwrap();
        gocompat::yaml::from_node::<kubesd::SdConfig>(&node, gocompat::yaml::Mode::Config)
            .unwrap()
            .value
    }

    #[test]
    fn a_pod_discovery_without_selectors_gets_the_node_selector() {
        let k = KubernetesSd::new("j", sd("role: pod\n"), None, "node-1");
        assert_eq!(
            k.config().selectors,
            vec![kubesd::SelectorConfig {
                role: kubesd::Role::Pod,
                label: String::new(),
                field: "spec.nodeName=node-1".into()
            }]
        );
        // As Promtail: selectors written in the config are kept as they are.
        let written = "role: pod\nselectors:\n  - role: pod\n    label: app=x\n";
        let k = KubernetesSd::new("j", sd(written), None, "node-1");
        assert_eq!(k.config().selectors.len(), 1);
        assert_eq!(k.config().selectors[0].field, "");
        assert_eq!(k.config().selectors[0].label, "app=x");
        // Other roles are not node-filtered.
        let k = KubernetesSd::new("j", sd("role: service\n"), None, "node-1");
        assert!(k.config().selectors.is_empty());
    }

    #[test]
    fn relative_paths_are_relative_to_the_config_file() {
        let dir = Path::new("/etc/promtail");
        let k = KubernetesSd::new(
            "j",
            sd("role: node\nkubeconfig_file: kube/config\n"),
            Some(dir),
            "h",
        );
        assert_eq!(k.config().kubeconfig_file, "/etc/promtail/kube/config");
        let k = KubernetesSd::new(
            "j",
            sd("role: node\napi_server: https://k:6443\nbearer_token_file: /abs/token\ntls_config:\n  ca_file: ca.crt\n"),
            Some(dir),
            "h",
        );
        assert_eq!(k.config().http.bearer_token_file, "/abs/token");
        assert_eq!(k.config().http.tls_config.ca_file, "/etc/promtail/ca.crt");
    }

    #[test]
    fn group_labels_are_merged_into_each_target() {
        let g = kubesd::TargetGroup {
            source: "pod/ns/p".into(),
            targets: vec![
                [("__address__", "10.0.0.1:80"), ("x", "target")]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                [("__address__", "10.0.0.1")]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ],
            labels: [("__meta_kubernetes_namespace", "ns"), ("x", "group")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let t = convert(g.clone());
        let naive: Vec<Labels> = g
            .targets
            .iter()
            .map(|t| {
                let mut l: Labels = g
                    .labels
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                for (k, v) in t {
                    l.insert(k.as_str(), v.as_str());
                }
                l
            })
            .collect();
        assert_eq!(t.targets, naive, "the ordered merge is the naive one");
        assert_eq!(t.source, "pod/ns/p");
        assert_eq!(
            t.targets[0].display_string(),
            r#"{__address__="10.0.0.1:80", __meta_kubernetes_namespace="ns", x="target"}"#
        );
        assert_eq!(t.targets[1].get("x"), Some("group"));
    }
}
