//! Loki outages (issue 8, point 3): refused, then 500s, then 429s, with `max_retries: 0`
//! (retry forever): reading pauses, failures are logged and counted, and once Loki is back every
//! line arrives, once, in order per stream, without a restart. With a finite `max_retries` the
//! batch is dropped instead, counted with its reason and logged.
//!
//! `benches/outage.py` runs the same scenario with the release binary for 10 minutes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::util::{append, config, free_port, DownPort, FakeLoki, Ferrotail};

const WAIT: Duration = Duration::from_secs(30);

fn job(dir: &Path) -> String {
    format!(
        "  - job_name: outage\n    static_configs:\n      - targets: [localhost]\n        labels:\n          job: outage\n          __path__: {}/*.log\n",
        dir.display()
    )
}

/// Appends numbered lines (`<file> <seq> <padding>`) to each file every few milliseconds until
/// stopped; returns how many lines each file got.
struct Appender {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<usize>,
}

impl Appender {
    fn start(files: Vec<PathBuf>) -> Appender {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let task = tokio::spawn(async move {
            let mut n = 0;
            let mut tick = tokio::time::interval(Duration::from_millis(5));
            while !flag.load(Ordering::Relaxed) {
                tick.tick().await;
                for f in &files {
                    let name = f.file_stem().unwrap().to_string_lossy().into_owned();
                    append(f, &format!("{name} {n:06} {}\n", "x".repeat(80)));
                }
                n += 1;
            }
            n
        });
        Appender { stop, task }
    }

    async fn stop(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap()
    }
}

fn read_offsets(metrics: &str) -> BTreeMap<String, f64> {
    metrics
        .lines()
        .filter(|l| l.starts_with("promtail_read_bytes_total{"))
        .filter_map(|l| {
            let path = l.split("path=\"").nth(1)?.split('"').next()?.to_string();
            Some((path, l.rsplit(' ').next()?.parse().ok()?))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_refused_then_500_then_429_pauses_reading_and_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let files = vec![logs.join("a.log"), logs.join("b.log")];
    for f in &files {
        append(f, "");
    }
    // Nothing listens on Loki's port yet: connection refused.
    let loki_addr_port = DownPort::new();
    let loki_addr = loki_addr_port.addr();
    let url = format!("http://{loki_addr}/loki/api/v1/push");
    let port = free_port();
    let cfg = config(&url, &tmp.path().join("pos.yaml"), port, "", &job(&logs)).replace(
        "      max_period: 200ms\n",
        "      max_period: 200ms\n      max_retries: 0\n",
    );
    let mut ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
    ft.wait_up().await;
    let appender = Appender::start(files.clone());
    let phase = Duration::from_secs(5);

    // Phase 1: refused (status -1).
    ft.wait_metric(
        "promtail_request_duration_seconds_count",
        &["status_code=\"-1\""],
        WAIT,
        |v| v >= 2.0,
    )
    .await;
    tokio::time::sleep(phase).await;

    // Phase 2: Loki answers 500.
    let loki = FakeLoki::start_at(&loki_addr_port.release()).await;
    loki.fail_with(Some(500));
    loki.wait_failed(2, WAIT).await;
    tokio::time::sleep(phase).await;

    // Phase 3: Loki answers 429. Reading has paused by now: the read offsets stand still while
    // the files grow (they are the buffer).
    loki.fail_with(Some(429));
    let before = loki.failed();
    loki.wait_failed(before + 2, WAIT).await;
    let (_, m1) = ft.get("/metrics").await;
    tokio::time::sleep(phase).await;
    let (_, m2) = ft.get("/metrics").await;
    let (o1, o2) = (read_offsets(&m1), read_offsets(&m2));
    assert_eq!(o1.len(), 2, "{m1}");
    assert_eq!(o1, o2, "reading must pause while Loki refuses");
    for f in &files {
        let size = std::fs::metadata(f).unwrap().len() as f64;
        let read = o2[&f.display().to_string()];
        assert!(
            size - read > 50_000.0,
            "{}: {read} of {size} read",
            f.display()
        );
    }
    let rss = crate::util::metric(&m2, "process_resident_memory_bytes", &[]);
    assert!(rss > 0.0 && rss < 100e6, "RSS {rss}");
    assert!(ft.child.try_wait().unwrap().is_none(), "no restart");

    // Loki is back: everything arrives, once, in order per file.
    loki.fail_with(None);
    loki.wait_for("lines after recovery", WAIT, |e| !e.is_empty())
        .await;
    let per_file = appender.stop().await;
    loki.wait_for("every line", Duration::from_secs(60), |e| {
        e.len() >= per_file * files.len()
    })
    .await;
    let mut streams: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in loki.entries() {
        streams
            .entry(e.labels["filename"].clone())
            .or_default()
            .push(e.line);
    }
    assert_eq!(streams.len(), 2);
    for f in &files {
        let name = f.file_stem().unwrap().to_string_lossy().into_owned();
        let got = &streams[&f.display().to_string()];
        let want: Vec<String> = (0..per_file)
            .map(|n| format!("{name} {n:06} {}", "x".repeat(80)))
            .collect();
        assert_eq!(got.len(), want.len(), "{name}: each line once");
        assert!(*got == want, "{name}: every line, in order");
    }

    // Failures were logged and counted, nothing was dropped, and it is the same process.
    let (_, m) = ft.get("/metrics").await;
    for code in ["-1", "500", "429"] {
        let n = crate::util::metric(
            &m,
            "promtail_request_duration_seconds_count",
            &[&format!("status_code=\"{code}\"")],
        );
        assert!(n >= 2.0, "{code}: {n} attempts\n{m}");
    }
    assert!(crate::util::metric(&m, "promtail_batch_retries_total", &[]) >= 6.0);
    assert_eq!(
        crate::util::metric(&m, "promtail_dropped_entries_total", &[]),
        0.0
    );
    assert_eq!(
        crate::util::metric(&m, "promtail_sent_entries_total", &[]),
        (per_file * files.len()) as f64
    );
    let log = ft.log();
    for status in ["status=-1", "status=500", "status=429"] {
        assert!(
            log.lines()
                .any(|l| l.contains("error sending batch, will retry") && l.contains(status)),
            "{status} not logged:\n{log}"
        );
    }
    assert!(!log.contains("final error sending batch"), "{log}");
    assert!(ft.child.try_wait().unwrap().is_none(), "no restart");
    assert!(ft.stop().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_exhausted_drop_the_batch_counted_with_its_reason_and_logged() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let file = logs.join("x.log");
    let loki_addr_port = DownPort::new();
    let loki_addr = loki_addr_port.addr();
    let url = format!("http://{loki_addr}/loki/api/v1/push");
    let port = free_port();
    let cfg = config(&url, &tmp.path().join("pos.yaml"), port, "", &job(&logs)).replace(
        "      min_period: 50ms\n      max_period: 200ms\n",
        "      min_period: 20ms\n      max_period: 100ms\n      max_retries: 2\n",
    );
    let ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
    ft.wait_up().await;
    let dropped = "promtail_dropped_entries_total";

    // Refused twice: dropped as an ingester error.
    append(&file, "doomed-refused\n");
    ft.wait_metric(dropped, &["reason=\"ingester_error\""], WAIT, |v| v >= 1.0)
        .await;
    // Loki up, but 500 twice: dropped as an ingester error.
    let loki = FakeLoki::start_at(&loki_addr_port.release()).await;
    loki.script(&[500, 500]);
    append(&file, "doomed-500\n");
    ft.wait_metric(dropped, &["reason=\"ingester_error\""], WAIT, |v| v >= 2.0)
        .await;
    // 429 twice: dropped as rate limited.
    loki.script(&[429, 429]);
    append(&file, "doomed-429\n");
    ft.wait_metric(dropped, &["reason=\"rate_limited\""], WAIT, |v| v >= 1.0)
        .await;
    // The stream keeps flowing.
    append(&file, "fine\n");
    loki.wait_for("later line", WAIT, |e| e.iter().any(|e| e.line == "fine"))
        .await;

    let (_, m) = ft.get("/metrics").await;
    let metric = crate::util::metric;
    assert_eq!(
        metric(&m, dropped, &["reason=\"ingester_error\""]),
        2.0,
        "{m}"
    );
    assert_eq!(
        metric(&m, dropped, &["reason=\"rate_limited\""]),
        1.0,
        "{m}"
    );
    assert!(metric(&m, "promtail_dropped_bytes_total", &[]) > 0.0, "{m}");
    // Every failed attempt counts as a retry, the last one included (as in Promtail).
    assert_eq!(metric(&m, "promtail_batch_retries_total", &[]), 6.0, "{m}");
    for code in ["-1", "500", "429"] {
        assert_eq!(
            metric(
                &m,
                "promtail_request_duration_seconds_count",
                &[&format!("status_code=\"{code}\"")]
            ),
            2.0,
            "{code}\n{m}"
        );
    }
    let log = ft.log();
    let finals: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("final error sending batch"))
        .collect();
    assert_eq!(finals.len(), 3, "{log}");
    // Each with the last attempt's status and error (Loki's message).
    assert!(finals[0].contains("status=-1"), "{}", finals[0]);
    assert!(
        finals[1].contains("status=500") && finals[1].contains("scripted 500"),
        "{}",
        finals[1]
    );
    assert!(
        finals[2].contains("status=429") && finals[2].contains("Ingestion rate limit"),
        "{}",
        finals[2]
    );
    assert!(
        finals.iter().all(|l| l.contains("after 2 attempts")),
        "{log}"
    );
    assert!(ft.stop().await.success());
    assert_eq!(loki.lines(), vec!["fine".to_string()]);
    // The position moved past the dropped lines: a restart re-sends none of them.
    let pos = std::fs::read_to_string(tmp.path().join("pos.yaml")).unwrap();
    let size = std::fs::metadata(&file).unwrap().len();
    assert!(pos.contains(&format!("x.log: \"{size}\"")), "{pos}");
}
