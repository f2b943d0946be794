//! `limits_config` through the real binary against the fake Loki: `max_streams` (entries of
//! streams beyond the limit in a batch are dropped and counted, and shipping goes on, where
//! Promtail deadlocks) and the global read-line limiter (`readline_rate*`: drop or wait).

use std::time::{Duration, Instant};

use crate::util::{append, config, free_port, FakeLoki, Ferrotail};

const WAIT: Duration = Duration::from_secs(30);

fn scrape(logs: &std::path::Path) -> String {
    format!(
        "  - job_name: files\n    static_configs:\n      - labels:\n          job: files\n          __path__: {}/*.log\n",
        logs.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_streams_drops_the_extra_streams_of_a_batch_and_keeps_shipping() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    for name in ["a", "b", "c"] {
        let text: String = (0..10).map(|i| format!("{name}-{i}\n")).collect();
        std::fs::write(logs.join(format!("{name}.log")), text).unwrap();
    }
    let loki = FakeLoki::start().await;
    let port = free_port();
    let cfg = config(
        &loki.url,
        &tmp.path().join("pos.yaml"),
        port,
        "limits_config:\n  max_streams: 1\n",
        &scrape(&logs),
    );
    let ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
    ft.wait_up().await;
    // Every line is either pushed or dropped as stream_limited.
    let deadline = Instant::now() + WAIT;
    let (mut got, mut dropped) = (0usize, 0f64);
    while Instant::now() < deadline {
        got = loki.entries().len();
        dropped = ft
            .metric(
                "promtail_dropped_entries_total",
                &[r#"reason="stream_limited""#],
            )
            .await;
        if got + dropped as usize == 30 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        got + dropped as usize,
        30,
        "pushed {got}, dropped {dropped}"
    );
    assert!(dropped >= 1.0, "some entries were beyond the limit");
    assert!(got >= 10, "at least one stream got through");
    let (_, metrics) = ft.get("/metrics").await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("promtail_dropped_entries_total{")
                && l.contains(r#"reason="stream_limited""#)
                && l.contains("host=\"127.0.0.1:")
                && l.contains("tenant=\"\"")),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("promtail_dropped_bytes_total{")
                && l.contains(r#"reason="stream_limited""#)),
        "{metrics}"
    );
    assert!(ft.log().contains("streams limit exceeded"), "{}", ft.log());
    // No deadlock: a later line still ships.
    append(&logs.join("a.log"), "after\n");
    loki.wait_for("a line written after the drops", WAIT, |e| {
        e.iter().any(|e| e.line == "after")
    })
    .await;
    assert!(ft.stop().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readline_rate_drop_keeps_the_burst_and_counts_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let text: String = (0..50).map(|i| format!("line {i}\n")).collect();
    std::fs::write(logs.join("a.log"), text).unwrap();
    let loki = FakeLoki::start().await;
    let port = free_port();
    let cfg = config(
        &loki.url,
        &tmp.path().join("pos.yaml"),
        port,
        "limits_config:\n  readline_rate_enabled: true\n  readline_rate: 0.01\n  readline_burst: 5\n",
        &scrape(&logs),
    );
    let ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
    ft.wait_up().await;
    let dropped = ft
        .wait_metric(
            "logentry_dropped_lines_total",
            &[r#"reason="global_rate_limiter_drop""#],
            WAIT,
            |v| v >= 45.0,
        )
        .await;
    assert_eq!(dropped, 45.0);
    loki.wait_for("the burst", WAIT, |e| e.len() >= 5).await;
    let lines: Vec<String> = loki.lines();
    assert_eq!(
        lines,
        (0..5).map(|i| format!("line {i}")).collect::<Vec<_>>()
    );
    assert!(ft.stop().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readline_rate_wait_delays_lines_and_loses_none() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let loki = FakeLoki::start().await;
    let port = free_port();
    let cfg = config(
        &loki.url,
        &tmp.path().join("pos.yaml"),
        port,
        "limits_config:\n  readline_rate_enabled: true\n  readline_rate: 20\n  readline_burst: 5\n  readline_rate_drop: false\n",
        &scrape(&logs),
    );
    let ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
    ft.wait_up().await;
    // A first line shows the target runs, so the time measured next is the limiter's.
    append(&logs.join("a.log"), "ready\n");
    loki.wait_for("the first line", WAIT, |e| e.len() == 1)
        .await;
    let text: String = (0..25).map(|i| format!("line {i}\n")).collect();
    let start = Instant::now();
    append(&logs.join("a.log"), &text);
    loki.wait_for("every line", WAIT, |e| e.len() >= 26).await;
    let took = start.elapsed();
    // 20 lines beyond the burst at 20 lines a second: about a second.
    assert!(took >= Duration::from_millis(800), "took {took:?}");
    assert_eq!(
        loki.lines()[1..],
        (0..25).map(|i| format!("line {i}")).collect::<Vec<_>>()
    );
    let dropped = ft
        .metric(
            "logentry_dropped_lines_total",
            &[r#"reason="global_rate_limiter_drop""#],
        )
        .await;
    assert_eq!(dropped, 0.0);
    assert!(ft.stop().await.success());
}
