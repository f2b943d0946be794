//! `kubernetes_sd_configs` end to end: the real binary, the Promtail chart's config
//! (`configs/promtail-config-kubernetes.yml`) and `kubesd`'s fake API server. CRI log files live
//! under a temporary root laid out as `/var/log/pods` (`<ns>_<pod>_<uid>/<container>/<n>.log`).
//!
//! Absence is shown by order, never by waiting: a line that must not be shipped is written
//! before a line that must, and once the second arrives the first must not have.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kubesd::testing::{FakeApiServer, FakeOptions};
use serde_json::{json, Value};

use crate::util::{append, free_port, FakeLoki, Ferrotail};

const WAIT: Duration = Duration::from_secs(30);
const NODE: &str = "node-1";

/// The chart's config, made to run here: the fake Loki and API server, a free port, temporary
/// positions and log root. Only those values are replaced; the jobs and rules are the file's.
fn chart_config(loki: &str, api: &str, port: u16, positions: &Path, root: &Path) -> String {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/promtail-config-kubernetes.yml"),
    )
    .unwrap();
    let replaced = text
        .replace("http://loki-gateway/loki/api/v1/push", loki)
        .replace(
            "http_listen_port: 3101",
            &format!("http_listen_port: {port}\n  http_listen_address: 127.0.0.1"),
        )
        .replace(
            "filename: /run/promtail/positions.yaml",
            &format!("filename: {}\n  sync_period: 100ms", positions.display()),
        )
        .replace("/var/log/pods", &root.display().to_string())
        .replace(
            "      - role: pod\n",
            &format!("      - role: pod\n        api_server: {api}\n"),
        );
    assert_eq!(replaced.matches(api).count(), 1, "api_server placed");
    replaced.replace(
        "  - url: ",
        "  - batchwait: 100ms\n    backoff_config: {min_period: 50ms, max_period: 200ms}\n    url: ",
    )
}

/// A running pod of the shape the API returns: one container per name, owned by a ReplicaSet.
fn pod(ns: &str, name: &str, node: &str, containers: &[&str]) -> Value {
    json!({
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "name": name,
            "namespace": ns,
            "uid": uid(ns, name),
            "labels": {"app": "web", "pod-template-hash": "5d8f9c7b6d"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-5d8f9c7b6d", "uid": "rs-1", "controller": true}]
        },
        "spec": {
            "nodeName": node,
            "containers": containers.iter().map(|c| json!({"name": c, "image": "registry.example/web:1"})).collect::<Vec<_>>()
        },
        "status": {
            "phase": "Running",
            "podIP": "10.1.0.7",
            "hostIP": "10.0.0.1",
            "containerStatuses": containers.iter().map(|c| json!({"name": c, "ready": true, "restartCount": 0, "image": "registry.example/web:1", "imageID": "", "containerID": format!("containerd://{name}-{c}")})).collect::<Vec<_>>()
        }
    })
}

fn uid(ns: &str, name: &str) -> String {
    format!("0000-{ns}-{name}")
}

/// The kubelet's directory of a pod's container: `<root>/<ns>_<pod>_<uid>/<container>`.
fn container_dir(root: &Path, ns: &str, name: &str, container: &str) -> PathBuf {
    let d = root
        .join(format!("{ns}_{name}_{}", uid(ns, name)))
        .join(container);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A CRI log line (`<RFC3339Nano> <stream> <F|P> <message>`).
fn cri(msg: &str) -> String {
    format!("2024-01-01T12:00:00.123456789Z stdout F {msg}\n")
}

fn counts(loki: &FakeLoki) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for l in loki.lines() {
        *m.entry(l).or_insert(0) += 1;
    }
    m
}

async fn api_server(token: Option<&str>) -> FakeApiServer {
    FakeApiServer::start(FakeOptions {
        token: token.map(str::to_owned),
        tls: false,
    })
    .await
    .expect("fake API server")
}

fn start(dir: &Path, config: &str, port: u16) -> Ferrotail {
    Ferrotail::start_env(dir, config, port, &[], &[("HOSTNAME", NODE)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chart_config_ships_this_nodes_pods_with_the_charts_labels() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("pods");
    let api = api_server(None).await;
    let loki = FakeLoki::start().await;
    // A pod on this node, and one on another node whose files are (wrongly) visible here too.
    api.apply(pod("shop", "web-5d8f9c7b6d-x1", NODE, &["app", "sidecar"]));
    api.apply(pod("shop", "web-5d8f9c7b6d-y2", "node-2", &["app"]));
    let here = container_dir(&root, "shop", "web-5d8f9c7b6d-x1", "app");
    let here_sidecar = container_dir(&root, "shop", "web-5d8f9c7b6d-x1", "sidecar");
    let there = container_dir(&root, "shop", "web-5d8f9c7b6d-y2", "app");
    append(&there.join("0.log"), &cri("from-node-2"));
    append(&here.join("0.log"), &(cri("hello") + &cri("world")));
    append(&here_sidecar.join("0.log"), &cri("side"));
    let port = free_port();
    let cfg = chart_config(
        &loki.url,
        &api.url(),
        port,
        &tmp.path().join("pos.yaml"),
        &root,
    );
    let ft = start(tmp.path(), &cfg, port);
    loki.wait_for("the pod's lines", WAIT, |e| e.len() >= 3)
        .await;
    let entries = loki.entries();
    let hello = entries.iter().find(|e| e.line == "hello").expect("hello");
    let file = here.join("0.log").display().to_string();
    let want: BTreeMap<String, String> = [
        ("app", "web"),
        ("container", "app"),
        ("filename", file.as_str()),
        ("job", "shop/web"),
        ("namespace", "shop"),
        ("node_name", NODE),
        ("pod", "web-5d8f9c7b6d-x1"),
        ("stream", "stdout"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(hello.labels, want, "the chart's labels");
    // The cri stage took the timestamp from the line.
    assert_eq!(hello.ts_nanos, 1_704_110_400_123_456_789);
    let side = entries.iter().find(|e| e.line == "side").expect("side");
    assert_eq!(
        side.labels.get("container").map(String::as_str),
        Some("sidecar")
    );
    // Pods were listed for this node only (Promtail's spec.nodeName field selector).
    let pods_req = api
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/pods"))
        .expect("a pod list");
    assert_eq!(
        pods_req.query.get("fieldSelector").map(String::as_str),
        Some("spec.nodeName=node-1")
    );

    // The pod goes away: its files stop being read and their positions are forgotten.
    assert!(api.delete("Pod", "shop", "web-5d8f9c7b6d-x1"));
    ft.wait_metric("promtail_files_active_total", &[], WAIT, |v| v == 0.0)
        .await;
    append(&here.join("0.log"), &cri("after-the-pod-left"));
    // A new pod's line arrives; the line written before it, to the gone pod's file, did not.
    let next = container_dir(&root, "shop", "web-5d8f9c7b6d-z3", "app");
    append(&next.join("0.log"), &cri("new-pod"));
    api.apply(pod("shop", "web-5d8f9c7b6d-z3", NODE, &["app"]));
    loki.wait_for("the new pod's line", WAIT, |e| {
        e.iter().any(|e| e.line == "new-pod")
    })
    .await;
    let c = counts(&loki);
    assert_eq!(c.get("after-the-pod-left"), None);
    assert_eq!(c.get("from-node-2"), None, "another node's pod is not read");
    for l in ["hello", "world", "side", "new-pod"] {
        assert_eq!(c.get(l), Some(&1), "{l}: {c:?}");
    }
    let positions = std::fs::read_to_string(tmp.path().join("pos.yaml")).unwrap_or_default();
    assert!(!positions.contains("web-5d8f9c7b6d-x1"), "{positions}");
    ft.stop().await;
}

/// The ksonnet/older-chart way: `__host__` from the pod's node. With selectors written in the
/// config Promtail adds no node selector, so every pod is listed and `__host__` filters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_label_keeps_other_nodes_pods_unread() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("pods");
    let api = api_server(None).await;
    let loki = FakeLoki::start().await;
    api.apply(pod("a", "other", "node-2", &["app"]));
    append(
        &container_dir(&root, "a", "other", "app").join("0.log"),
        &cri("other-node"),
    );
    let port = free_port();
    let scrape = format!(
        "  - job_name: kubernetes-pods\n    pipeline_stages:\n      - cri: {{}}\n    kubernetes_sd_configs:\n      - role: pod\n        api_server: {}\n        selectors:\n          - role: pod\n            label: app=web\n    relabel_configs:\n      - source_labels: [__meta_kubernetes_pod_node_name]\n        target_label: __host__\n      - source_labels: [__meta_kubernetes_pod_name]\n        target_label: pod\n      - source_labels: [__meta_kubernetes_pod_uid, __meta_kubernetes_pod_container_name]\n        separator: /\n        replacement: {}/*$1/*.log\n        target_label: __path__\n",
        api.url(),
        root.display()
    );
    let cfg = crate::util::config(&loki.url, &tmp.path().join("pos.yaml"), port, "", &scrape);
    let ft = start(tmp.path(), &cfg, port);
    ft.wait_up().await;
    ft.wait_metric(
        "promtail_targets_failed_total",
        &["reason=\"wrong_host\""],
        WAIT,
        |v| v >= 1.0,
    )
    .await;
    append(
        &container_dir(&root, "a", "mine", "app").join("0.log"),
        &cri("this-node"),
    );
    api.apply(pod("a", "mine", NODE, &["app"]));
    loki.wait_for("this node's line", WAIT, |e| {
        e.iter().any(|e| e.line == "this-node")
    })
    .await;
    assert_eq!(counts(&loki).get("other-node"), None);
    let pods_req = api
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/pods"))
        .expect("a pod list");
    assert_eq!(
        pods_req.query.get("fieldSelector"),
        None,
        "selectors kept as written"
    );
    assert_eq!(
        pods_req.query.get("labelSelector").map(String::as_str),
        Some("app=web")
    );
    ft.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churn_of_200_pods_through_the_binary() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("pods");
    let api = api_server(None).await;
    let loki = FakeLoki::start().await;
    let port = free_port();
    let cfg = chart_config(
        &loki.url,
        &api.url(),
        port,
        &tmp.path().join("pos.yaml"),
        &root,
    );
    let ft = start(tmp.path(), &cfg, port);
    ft.wait_up().await;
    let n = 200;
    for i in 0..n {
        let name = format!("churn-{i}");
        append(
            &container_dir(&root, "churn", &name, "app").join("0.log"),
            &cri(&format!("line-{i}")),
        );
        api.apply(pod("churn", &name, NODE, &["app"]));
    }
    loki.wait_for("a line of every pod", WAIT, |e| e.len() >= n)
        .await;
    ft.wait_metric("promtail_targets_active_total", &[], WAIT, |v| {
        v == n as f64
    })
    .await;
    for i in 0..n {
        assert!(api.delete("Pod", "churn", &format!("churn-{i}")));
    }
    ft.wait_metric("promtail_targets_active_total", &[], WAIT, |v| v == 0.0)
        .await;
    ft.wait_metric("promtail_files_active_total", &[], WAIT, |v| v == 0.0)
        .await;
    let c = counts(&loki);
    assert_eq!(c.len(), n);
    assert!(c.values().all(|&k| k == 1), "each line once");
    let (_, targets) = ft.get("/targets").await;
    assert!(!targets.contains("churn-"), "no target left: {targets}");
    ft.stop().await;
}

/// The kubelet's CRI rotation: `0.log` renamed to `0.log.<timestamp>` (the runtime may still
/// write to it until it reopens), a new `0.log`, older rotations gzipped. Every line once; the
/// rotated names (not matched by `*.log`) are never read as new files. Then a rotation while
/// ferrotail is stopped: the restart reads the rotated file's rest first, from the positions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cri_rotation_and_restart_resume_from_positions() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("pods");
    let api = api_server(None).await;
    let loki = FakeLoki::start().await;
    api.apply(pod("ns", "p", NODE, &["app"]));
    let dir = container_dir(&root, "ns", "p", "app");
    let log = dir.join("0.log");
    std::fs::write(dir.join("0.log.20231231-235959.gz"), b"\x1f\x8b not read").unwrap();
    append(&log, &(cri("r1") + &cri("r2")));
    let port = free_port();
    let positions = tmp.path().join("pos.yaml");
    let cfg = chart_config(&loki.url, &api.url(), port, &positions, &root);
    let ft = start(tmp.path(), &cfg, port);
    loki.wait_for("r1 r2", WAIT, |e| e.len() >= 2).await;

    // Rotation while running.
    append(&log, &cri("r3-before-rename"));
    std::fs::rename(&log, dir.join("0.log.20240101-120000")).unwrap();
    append(&dir.join("0.log.20240101-120000"), &cri("r4-after-rename"));
    append(&log, &cri("r5-new-file"));
    loki.wait_for("rotated lines", WAIT, |e| {
        e.iter().any(|e| e.line == "r5-new-file") && e.iter().any(|e| e.line == "r4-after-rename")
    })
    .await;
    ft.stop().await;

    // Rotation while stopped.
    append(&log, &cri("r6-while-stopped"));
    std::fs::rename(&log, dir.join("0.log.20240101-130000")).unwrap();
    append(&log, &cri("r7-after-restart"));
    let ft = start(tmp.path(), &cfg, port);
    loki.wait_for("lines after restart", WAIT, |e| {
        e.iter().any(|e| e.line == "r7-after-restart")
            && e.iter().any(|e| e.line == "r6-while-stopped")
    })
    .await;
    let c = counts(&loki);
    let want: BTreeMap<String, usize> = [
        "r1",
        "r2",
        "r3-before-rename",
        "r4-after-rename",
        "r5-new-file",
        "r6-while-stopped",
        "r7-after-restart",
    ]
    .into_iter()
    .map(|l| (l.to_string(), 1))
    .collect();
    assert_eq!(c, want, "every line once, nothing else");
    let (_, targets) = ft.get("/targets").await;
    assert!(
        !targets.contains("0.log.2024"),
        "rotated files are not targets"
    );
    let pos = std::fs::read_to_string(&positions).unwrap_or_default();
    assert!(pos.contains("0.log"), "{pos}");
    assert!(
        !pos.contains("0.log.2024"),
        "rotated files have no position: {pos}"
    );
    ft.stop().await;
}

/// A 401: logged with the role and the URL; a static job beside it ships; a pod discovered
/// before the API server started refusing keeps being read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_server_401_is_logged_and_nothing_else_stops() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("pods");
    let api = api_server(None).await;
    let loki = FakeLoki::start().await;
    api.apply(pod("ns", "p", NODE, &["app"]));
    let pod_log = container_dir(&root, "ns", "p", "app").join("0.log");
    append(&pod_log, &cri("pod-1"));
    let plain = tmp.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let port = free_port();
    let cfg = chart_config(&loki.url, &api.url(), port, &tmp.path().join("pos.yaml"), &root)
        .replace(
            "\nlimits_config:",
            &format!(
                "  - job_name: static\n    static_configs:\n      - labels:\n          job: static\n          __path__: {}/*.log\n\nlimits_config:",
                plain.display()
            ),
        );
    assert!(cfg.contains("job_name: static"));
    let ft = start(tmp.path(), &cfg, port);
    loki.wait_for("the pod's line", WAIT, |e| {
        e.iter().any(|e| e.line == "pod-1")
    })
    .await;

    // From now on the API server wants a token ferrotail does not have.
    api.set_token(Some("not-yours"));
    api.drop_connections();
    ft.wait_metric("prometheus_sd_kubernetes_failures_total", &[], WAIT, |v| {
        v >= 1.0
    })
    .await;
    let log = ft.log();
    let line = log
        .lines()
        .find(|l| l.contains("kubernetes SD list/watch failed"))
        .unwrap_or_else(|| panic!("no failure logged:\n{log}"));
    assert!(line.contains("role=pod"), "{line}");
    assert!(
        line.contains(&format!("url={}/api/v1/pods", api.url())),
        "{line}"
    );
    assert!(line.contains("401"), "{line}");
    append(&pod_log, &cri("pod-2"));
    append(&plain.join("a.log"), "static-1\n");
    loki.wait_for("both jobs ship", WAIT, |e| {
        e.iter().any(|e| e.line == "pod-2") && e.iter().any(|e| e.line == "static-1")
    })
    .await;
    ft.stop().await;
}

/// Unauthorised from the start, and a kubeconfig that points nowhere: both logged, the static job
/// ships.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_discoveries_at_start_leave_other_jobs_running() {
    let tmp = tempfile::tempdir().unwrap();
    let api = api_server(Some("secret")).await;
    let loki = FakeLoki::start().await;
    let plain = tmp.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    append(&plain.join("a.log"), "static-1\n");
    let port = free_port();
    let scrape = format!(
        "  - job_name: pods\n    kubernetes_sd_configs:\n      - role: pod\n        api_server: {}\n  - job_name: nodes\n    kubernetes_sd_configs:\n      - role: node\n        kubeconfig_file: does/not/exist\n  - job_name: static\n    static_configs:\n      - labels:\n          job: static\n          __path__: {}/*.log\n",
        api.url(),
        plain.display()
    );
    let cfg = crate::util::config(&loki.url, &tmp.path().join("pos.yaml"), port, "", &scrape);
    let ft = start(tmp.path(), &cfg, port);
    loki.wait_for("the static job's line", WAIT, |e| {
        e.iter().any(|e| e.line == "static-1")
    })
    .await;
    ft.wait_metric("prometheus_sd_kubernetes_failures_total", &[], WAIT, |v| {
        v >= 2.0
    })
    .await;
    let log = ft.log();
    assert!(
        log.lines().any(|l| l.contains("list/watch failed")
            && l.contains("role=pod")
            && l.contains(&api.url())
            && l.contains("401")),
        "{log}"
    );
    // The relative kubeconfig path was joined with the config file's directory.
    let kubeconfig = tmp.path().join("does/not/exist").display().to_string();
    assert!(
        log.lines()
            .any(|l| l.contains("Cannot create service discovery")
                && l.contains("job=nodes")
                && l.contains("role=node")
                && l.contains(&kubeconfig)),
        "{log}"
    );
    ft.stop().await;
}

#[test]
fn config_errors_name_the_job_with_prometheus_messages() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        ("- api_server: http://k:1\n", "role missing (one of: pod, service, endpoints, endpointslice, node, ingress)"),
        ("- role: pods\n", "unknown Kubernetes SD role \"pods\""),
        (
            "- role: pod\n  api_server: http://k:1\n  kubeconfig_file: /k\n",
            "cannot use 'kubeconfig_file' and 'api_server' simultaneously",
        ),
        (
            "- role: pod\n  selectors:\n    - role: node\n",
            "pod role supports only pod selectors",
        ),
        (
            "- role: pod\n  bearer_token: x\n",
            "to use custom HTTP client configuration please provide the 'api_server' URL explicitly",
        ),
    ];
    for (sd, want) in cases {
        let sd: String = sd.lines().map(|l| format!("      {l}\n")).collect();
        let text = format!(
            "clients:\n  - url: http://127.0.0.1:3100/loki/api/v1/push\nscrape_configs:\n  - job_name: kube\n    kubernetes_sd_configs:\n{sd}"
        );
        let path = tmp.path().join("c.yml");
        std::fs::write(&path, &text).unwrap();
        let (code, out, err) = crate::util::run_to_end(&[
            &format!("-config.file={}", path.display()),
            "-check-syntax",
        ]);
        let all = format!("{out}{err}");
        assert_eq!(code, 1, "{text}\n{all}");
        assert!(all.contains(want), "want {want:?}:\n{all}");
        assert!(all.contains("job \"kube\""), "names the job:\n{all}");
    }
}
