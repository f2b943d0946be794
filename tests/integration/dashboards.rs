//! The stack's dashboards show every panel on the shipped config: ferrotail runs the seed config
//! (`configs/promtail-config.yml`, client URL, positions and port changed) against the fake Loki
//! with a kept container logging; every metric a *ferrotail* dashboard query reads must be in
//! `/metrics`, unless the query falls back to `vector(0)` (counters of events that have not
//! happened, such as drops and retries, have no series until they do).

use std::collections::BTreeSet;
use std::time::Duration;

use crate::util::docker::{docker, docker_ready, IMAGE};
use crate::util::{free_port, FakeLoki, Ferrotail};

/// Every `expr` of the dashboard's panels, with the panel's title.
fn queries(dashboard: &serde_json::Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        let title = panel["title"].as_str().unwrap_or("").to_string();
        for t in panel["targets"].as_array().into_iter().flatten() {
            if let Some(e) = t["expr"].as_str() {
                out.push((title.clone(), e.to_string()));
            }
        }
    }
    out
}

/// The metric names a PromQL query reads: identifiers outside selectors, ranges, strings and
/// `by (...)` / `without (...)` groups that are not function calls.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let strip =
        regex::Regex::new(r#""[^"]*"|\{[^}]*\}|\[[^\]]*\]|\b(by|without)\s*\([^)]*\)"#).unwrap();
    let rest = strip.replace_all(expr, " ");
    let ident = regex::Regex::new(r"[A-Za-z_][A-Za-z0-9_:]*").unwrap();
    ident
        .find_iter(&rest)
        .filter(|m| !rest[m.end()..].trim_start().starts_with('('))
        .map(|m| m.as_str().to_string())
        .filter(|w| w.contains('_') && !w.starts_with("__"))
        .collect()
}

#[test]
fn the_metric_name_scanner_reads_promql() {
    let got = metric_names(
        r#"sum by (host, reason) (rate(promtail_dropped_entries_total{job="ferrotail"}[$__rate_interval])) or vector(0)"#,
    );
    assert_eq!(
        got,
        BTreeSet::from(["promtail_dropped_entries_total".to_string()])
    );
    let got = metric_names(
        r#"sum by (path) (promtail_read_bytes_total{job="ferrotail"} - ferrotail_acknowledged_bytes{job="ferrotail"})"#,
    );
    assert_eq!(
        got,
        BTreeSet::from([
            "ferrotail_acknowledged_bytes".to_string(),
            "promtail_read_bytes_total".to_string()
        ])
    );
    let got = metric_names(
        r#"sum by (host, status_code) (rate(promtail_request_duration_seconds_count{job="ferrotail"}[$__rate_interval]))"#,
    );
    assert_eq!(
        got,
        BTreeSet::from(["promtail_request_duration_seconds_count".to_string()])
    );
    let got = metric_names(
        r#"histogram_quantile(0.5, sum by (le, host) (rate(promtail_request_duration_seconds_bucket{job="ferrotail"}[$__rate_interval])))"#,
    );
    assert_eq!(
        got,
        BTreeSet::from(["promtail_request_duration_seconds_bucket".to_string()])
    );
}

fn seed_config(loki: &str, port: u16, positions: &std::path::Path) -> String {
    let seed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/configs/promtail-config.yml"
    ))
    .expect("seed config");
    seed.replace("http://loki:3100/loki/api/v1/push", loki)
        .replace("/tmp/positions.yaml", &positions.display().to_string())
        .replace(
            "http_listen_port: 9080",
            &format!("http_listen_port: {port}\n  http_listen_address: 127.0.0.1"),
        )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ferrotail_panel_reads_metrics_the_shipped_config_exposes() {
    if !docker_ready() {
        assert!(
            std::env::var_os("CI").is_none(),
            "Docker is required when CI is set (.ci/docker-setup.sh)"
        );
        eprintln!("NOTICE: skipped: Docker is not available");
        return;
    }
    let tag = format!("dash{}", std::process::id());
    let name = format!("ai-{tag}");
    let id = docker(&[
        "run",
        "-d",
        "--name",
        &name,
        IMAGE,
        "sh",
        "-c",
        "i=1; while [ $i -le 20 ]; do echo \"line $i\"; i=$((i+1)); done; sleep 60",
    ]);
    struct Rm(String);
    impl Drop for Rm {
        fn drop(&mut self) {
            let _ = std::process::Command::new("docker")
                .args(["rm", "-f", &self.0])
                .output();
        }
    }
    let _rm = Rm(id.clone());

    let loki = FakeLoki::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = seed_config(&loki.url, port, &tmp.path().join("positions.yaml"));
    let ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
    ft.wait_up().await;
    loki.wait_for("the container's lines", Duration::from_secs(30), |e| {
        e.iter()
            .filter(|x| x.labels.get("service") == Some(&name))
            .count()
            >= 20
    })
    .await;
    // Positions (and ferrotail_acknowledged_bytes) are saved soon after the acknowledgement.
    let mut metrics = String::new();
    for _ in 0..100 {
        metrics = ft.get("/metrics").await.1;
        if metrics.contains("ferrotail_acknowledged_bytes{") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let exposed: BTreeSet<&str> = metrics
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();

    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/grafana/dashboards/ferrotail.json"
    ))
    .unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut missing = Vec::new();
    for (title, expr) in queries(&dashboard) {
        if expr.contains("or vector(0)") {
            continue;
        }
        for m in metric_names(&expr) {
            // `up` is Prometheus' own; loki_* are Loki's.
            if m.starts_with("loki_") {
                continue;
            }
            if !exposed.contains(m.as_str()) {
                missing.push(format!("{title}: {m} ({expr})"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "panels read metrics ferrotail does not expose on the seed config:\n{}\n\nexposed: {exposed:?}",
        missing.join("\n")
    );
    // Active targets counts the Docker container (the seed config has only Docker targets).
    let active = metrics
        .lines()
        .find(|l| l.starts_with("promtail_targets_active_total "))
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(active >= 1.0, "active targets: {active}\n{metrics}");
    assert!(ft.stop().await.success());
}
