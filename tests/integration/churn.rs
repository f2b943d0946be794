//! Bounded state under churn: many files and tenants come and go, and what ferrotail keeps for
//! them (per-path series, `/targets`, positions, the `metrics` stage's series, per-tenant
//! batches and tasks) goes with them, as in Promtail.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::util::{append, config, free_port, FakeLoki, Ferrotail};

const WAIT: Duration = Duration::from_secs(60);

fn series_count(text: &str, name: &str, needle: &str) -> usize {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter(|l| l.contains(needle))
        .count()
}

/// Polls `/metrics` until `check` holds; panics with the metrics after [`WAIT`].
async fn wait_metrics(ft: &Ferrotail, what: &str, check: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, text) = ft.get("/metrics").await;
        if check(&text) {
            return text;
        }
        if Instant::now() > deadline {
            panic!(
                "timed out waiting for {what}; metrics:\n{text}\nstderr:\n{}",
                ft.log()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn job(dir: &Path, name: &str, pipeline: &str) -> String {
    format!(
        "  - job_name: {name}\n    static_configs:\n      - targets: [localhost]\n        labels:\n          job: {name}\n          __path__: {}/*.log\n{pipeline}",
        dir.display()
    )
}

/// 200 files appear, are read, and are deleted: every per-path series
/// (`promtail_read_bytes_total`, `promtail_file_bytes_total`, `promtail_read_lines_total`,
/// `ferrotail_acknowledged_bytes`), every `/targets` row and every positions entry of them go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_files_leave_no_series_targets_or_positions_behind() {
    const FILES: usize = 200;
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("churn-logs");
    std::fs::create_dir_all(&logs).unwrap();
    let loki = FakeLoki::start().await;
    let port = free_port();
    let positions = tmp.path().join("positions.yaml");
    let cfg = config(&loki.url, &positions, port, "", &job(&logs, "churn", ""));
    let ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
    ft.wait_up().await;
    for i in 0..FILES {
        append(&logs.join(format!("f{i:03}.log")), &format!("line {i}\n"));
    }
    assert!(
        loki.wait_until(WAIT, |e| e.len() >= FILES).await,
        "not every line arrived: {}\n{}",
        loki.entries().len(),
        ft.log()
    );
    let needle = "churn-logs/f";
    wait_metrics(&ft, "a read_lines series per file", |t| {
        series_count(t, "promtail_read_lines_total", needle) == FILES
    })
    .await;
    let (_, targets) = ft.get("/targets").await;
    assert!(targets.contains("f199.log"), "{targets}");

    for i in 0..FILES {
        std::fs::remove_file(logs.join(format!("f{i:03}.log"))).unwrap();
    }
    wait_metrics(&ft, "the per-path series of deleted files to go", |t| {
        [
            "promtail_read_bytes_total",
            "promtail_file_bytes_total",
            "promtail_read_lines_total",
            "ferrotail_acknowledged_bytes",
        ]
        .iter()
        .all(|name| series_count(t, name, needle) == 0)
    })
    .await;
    let (_, targets) = ft.get("/targets").await;
    assert!(!targets.contains("churn-logs/f"), "{targets}");
    // The positions file forgets them too (Promtail removes a file's position when it stops
    // matching, and its cleanup drops paths that no longer exist).
    let deadline = Instant::now() + WAIT;
    loop {
        let saved = std::fs::read_to_string(&positions).unwrap_or_default();
        if !saved.contains("churn-logs/f") {
            break;
        }
        assert!(Instant::now() < deadline, "positions kept:\n{saved}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ft.stop().await;
}

/// The `metrics` stage's series end after `max_idle_duration` without an update, as Promtail's
/// metric vectors prune themselves; a series still updated stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_stage_series_expire_after_max_idle_duration() {
    const FILES: usize = 30;
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("idle-logs");
    std::fs::create_dir_all(&logs).unwrap();
    let loki = FakeLoki::start().await;
    let port = free_port();
    let pipeline = "    pipeline_stages:\n      - metrics:\n          lines:\n            type: Counter\n            description: lines per file\n            max_idle_duration: 2s\n            config:\n              match_all: true\n              action: inc\n";
    let cfg = config(
        &loki.url,
        &tmp.path().join("positions.yaml"),
        port,
        "",
        &job(&logs, "idle", pipeline),
    );
    let ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
    ft.wait_up().await;
    for i in 0..FILES {
        append(&logs.join(format!("f{i:02}.log")), "one\ntwo\n");
    }
    assert!(loki.wait_until(WAIT, |e| e.len() >= 2 * FILES).await);
    let text = wait_metrics(&ft, "a series per file", |t| {
        series_count(t, "promtail_custom_lines", "idle-logs/f") == FILES
    })
    .await;
    assert!(
        text.contains("# HELP promtail_custom_lines lines per file"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "promtail_custom_lines{{filename=\"{}/f00.log\",job=\"idle\"}} 2",
            logs.display()
        )),
        "{text}"
    );
    // One file keeps being written: its series stays while the others expire.
    let keep = logs.join("f00.log");
    let deadline = Instant::now() + WAIT;
    loop {
        append(&keep, "more\n");
        let (_, t) = ft.get("/metrics").await;
        let n = series_count(&t, "promtail_custom_lines", "idle-logs/f");
        if n == 1 {
            assert_eq!(
                series_count(&t, "promtail_custom_lines", "idle-logs/f00.log"),
                1,
                "{t}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "idle series kept ({n}):\n{t}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    ft.stop().await;
}

/// 300 tenants, each seen once through the `tenant` stage: every line arrives under its tenant,
/// and the client then holds no batch, queue or task for them (`ferrotail_client_tenants` falls
/// back to the client's own tenant).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_seen_once_are_released_when_idle() {
    const TENANTS: usize = 300;
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("tenant-logs");
    std::fs::create_dir_all(&logs).unwrap();
    let loki = FakeLoki::start().await;
    let port = free_port();
    let pipeline = "    pipeline_stages:\n      - regex:\n          expression: '^(?P<t>\\S+) '\n      - tenant:\n          source: t\n";
    let cfg = config(
        &loki.url,
        &tmp.path().join("positions.yaml"),
        port,
        "",
        &job(&logs, "tenants", pipeline),
    );
    let ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
    ft.wait_up().await;
    let file = logs.join("t.log");
    for chunk in 0..3 {
        let mut text = String::new();
        for i in chunk * TENANTS / 3..(chunk + 1) * TENANTS / 3 {
            text.push_str(&format!("tenant-{i} line\n"));
        }
        append(&file, &text);
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    assert!(
        loki.wait_until(WAIT, |e| e.len() >= TENANTS).await,
        "{} of {TENANTS}\n{}",
        loki.entries().len(),
        ft.log()
    );
    for e in loki.entries() {
        let want = e.line.split(' ').next().map(String::from);
        assert_eq!(e.tenant, want, "{e:?}");
    }
    wait_metrics(&ft, "tenants released", |t| {
        crate::util::metric(t, "ferrotail_client_tenants", &[]) <= 1.0
            && t.contains("ferrotail_client_tenants")
    })
    .await;
    ft.stop().await;
}

/// Containers come and go: once removed, a container's per-path series, its `/targets` row and
/// its positions entries are gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_containers_leave_no_series_targets_or_positions_behind() {
    use crate::util::docker::{docker, docker_ready, IMAGE};
    if !docker_ready() {
        return;
    }
    const CONTAINERS: usize = 12;
    let tmp = tempfile::tempdir().unwrap();
    let tag = format!("churn{}", std::process::id());
    let loki = FakeLoki::start().await;
    let port = free_port();
    let positions = tmp.path().join("positions.yaml");
    let scrape = format!(
        "  - job_name: docker\n    docker_sd_configs:\n      - host: unix:///var/run/docker.sock\n        refresh_interval: 1s\n        filters:\n          - name: label\n            values: [ferrotail-churn={tag}]\n    relabel_configs:\n      - source_labels: [__meta_docker_container_name]\n        target_label: container\n"
    );
    let cfg = config(&loki.url, &positions, port, "", &scrape);
    let ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
    ft.wait_up().await;
    let mut ids = Vec::new();
    for i in 0..CONTAINERS {
        let label = format!("ferrotail-churn={tag}");
        let cmd = format!("echo hello-{i}; sleep 3600");
        ids.push(docker(&[
            "run", "-d", "--label", &label, IMAGE, "sh", "-c", &cmd,
        ]));
    }
    let removed = || {
        for id in &ids {
            let _ = std::process::Command::new("docker")
                .args(["rm", "-f", id])
                .output();
        }
    };
    let arrived = loki
        .wait_until(WAIT, |e| {
            e.iter().filter(|e| e.line.starts_with("hello-")).count() >= CONTAINERS
        })
        .await;
    if !arrived {
        removed();
        panic!("not every container's line arrived\n{}", ft.log());
    }
    let short: Vec<String> = ids.iter().map(|id| id[..12].to_string()).collect();
    let (_, metrics) = ft.get("/metrics").await;
    let per_path = |t: &str| {
        ids.iter()
            .map(|id| series_count(t, "promtail_read_bytes_total", id))
            .sum::<usize>()
    };
    let seen = per_path(&metrics);
    removed();
    wait_metrics(&ft, "the removed containers' series to go", |t| {
        per_path(t) == 0
    })
    .await;
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, targets) = ft.get("/targets").await;
        let saved = std::fs::read_to_string(&positions).unwrap_or_default();
        let kept: Vec<&String> = ids
            .iter()
            .chain(short.iter())
            .filter(|id| targets.contains(id.as_str()) || saved.contains(id.as_str()))
            .collect();
        if kept.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "kept {kept:?}\n/targets:\n{targets}\npositions:\n{saved}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(seen, CONTAINERS, "a read_bytes series per container log");
    ft.stop().await;
}
