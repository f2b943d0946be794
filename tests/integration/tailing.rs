//! File targets end to end: several files, restart from positions, rotation, retries, endpoints.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::util::{append, config, free_port, DownPort, FakeLoki, Ferrotail};

const WAIT: Duration = Duration::from_secs(20);

fn job(dir: &std::path::Path) -> String {
    format!(
        "  - job_name: files\n    static_configs:\n      - targets: [localhost]\n        labels:\n          job: files\n          __path__: {}/*.log\n",
        dir.display()
    )
}

fn counts(loki: &FakeLoki) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for l in loki.lines() {
        *m.entry(l).or_insert(0) += 1;
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_files_each_line_once_with_labels() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    append(&logs.join("a.log"), "a1\na2\n");
    append(&logs.join("b.log"), "b1\nb2\r\n");
    append(&logs.join("skip.txt"), "not matched\n");
    let loki = FakeLoki::start().await;
    let port = free_port();
    let ft = Ferrotail::start(
        tmp.path(),
        &config(
            &loki.url,
            &tmp.path().join("pos.yaml"),
            port,
            "",
            &job(&logs),
        ),
        port,
        &[],
    );
    ft.wait_up().await;
    loki.wait_for("initial lines", WAIT, |e| e.len() >= 4).await;
    append(&logs.join("a.log"), "a3\npartial");
    append(&logs.join("c.log"), "c1\n");
    loki.wait_for("appended lines", WAIT, |e| e.len() >= 6)
        .await;
    append(&logs.join("a.log"), "-done\n");
    loki.wait_for("completed partial line", WAIT, |e| {
        e.iter().any(|e| e.line == "partial-done")
    })
    .await;
    let (status, body) = ft.get("/ready").await;
    assert_eq!((status, body.as_str()), (200, "Ready"));
    let (_, targets) = ft.get("/targets").await;
    assert!(targets.contains("a.log"), "{targets}");
    let (status, _) = ft.get("/nope").await;
    assert_eq!(status, 404);
    let (status, _) = ft.get("/").await;
    assert_eq!(status, 303);
    let (_, metrics) = ft.get("/metrics").await;
    for name in [
        "promtail_read_lines_total",
        "promtail_sent_entries_total",
        "promtail_files_active_total",
        "promtail_read_bytes_total",
        "promtail_request_duration_seconds_bucket",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
    ] {
        assert!(metrics.contains(name), "missing {name} in\n{metrics}");
    }
    assert!(ft.stop().await.success());
    let entries = loki.entries();
    let c = counts(&loki);
    for line in ["a1", "a2", "a3", "partial-done", "b1", "b2\r", "c1"] {
        assert_eq!(c.get(line), Some(&1), "{line} in {c:?}");
    }
    assert_eq!(entries.len(), 7);
    let b = entries.iter().find(|e| e.line == "b1").unwrap();
    assert_eq!(b.labels.get("job").map(String::as_str), Some("files"));
    assert_eq!(
        b.labels.get("filename").map(String::as_str),
        Some(logs.join("b.log").to_str().unwrap())
    );
    assert_eq!(b.labels.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_and_restart_resume_without_loss_or_repeat() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let file = logs.join("app.log");
    for i in 0..50 {
        append(&file, &format!("line {i}\n"));
    }
    let loki = FakeLoki::start().await;
    let pos = tmp.path().join("pos.yaml");
    let port = free_port();
    let cfg = config(&loki.url, &pos, port, "", &job(&logs));
    let ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
    ft.wait_up().await;
    loki.wait_for("first 50", WAIT, |e| e.len() >= 50).await;
    assert!(ft.stop().await.success());
    let size = std::fs::metadata(&file).unwrap().len();
    let saved = std::fs::read_to_string(&pos).unwrap();
    assert_eq!(
        saved,
        format!("positions:\n  {}: \"{size}\"\n", file.display())
    );
    for i in 50..100 {
        append(&file, &format!("line {i}\n"));
    }
    let ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
    ft.wait_up().await;
    loki.wait_for("all 100", WAIT, |e| e.len() >= 100).await;
    assert!(ft.stop().await.success());
    let c = counts(&loki);
    assert_eq!(c.len(), 100);
    assert!(c.values().all(|&n| n == 1), "duplicates: {c:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_create_and_copytruncate_lose_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let file = logs.join("app.log");
    append(&file, "before-1\nbefore-2\n");
    let loki = FakeLoki::start().await;
    let port = free_port();
    let ft = Ferrotail::start(
        tmp.path(),
        &config(
            &loki.url,
            &tmp.path().join("pos.yaml"),
            port,
            "",
            &job(&logs),
        ),
        port,
        &[],
    );
    ft.wait_up().await;
    loki.wait_for("before lines", WAIT, |e| e.len() >= 2).await;
    // Rename rotation: lines written to the old file just before and after the rename still count.
    append(&file, "last-in-old\n");
    std::fs::rename(&file, logs.join("app.log.1")).unwrap();
    append(&logs.join("app.log.1"), "written-after-rename\n");
    append(&file, "new-1\n");
    loki.wait_for("rotated lines", WAIT, |e| {
        ["last-in-old", "written-after-rename", "new-1"]
            .iter()
            .all(|l| e.iter().any(|x| x.line == *l))
    })
    .await;
    // copytruncate.
    std::fs::copy(&file, logs.join("app.log.2")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&file)
        .unwrap();
    append(&file, "after-truncate\n");
    loki.wait_for("truncated file re-read", WAIT, |e| {
        e.iter().any(|x| x.line == "after-truncate")
    })
    .await;
    assert!(ft.stop().await.success());
    let c = counts(&loki);
    for l in [
        "before-1",
        "before-2",
        "last-in-old",
        "written-after-rename",
        "new-1",
        "after-truncate",
    ] {
        assert_eq!(c.get(l), Some(&1), "{l}: {c:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loki_500_then_204_delivers_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    for i in 0..20 {
        append(&logs.join("x.log"), &format!("l{i}\n"));
    }
    let loki = FakeLoki::start().await;
    loki.script(&[500, 500, 429]);
    let port = free_port();
    let ft = Ferrotail::start(
        tmp.path(),
        &config(
            &loki.url,
            &tmp.path().join("pos.yaml"),
            port,
            "",
            &job(&logs),
        ),
        port,
        &[],
    );
    ft.wait_up().await;
    loki.wait_for("all after retries", WAIT, |e| e.len() >= 20)
        .await;
    let (_, metrics) = ft.get("/metrics").await;
    let retries: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("promtail_batch_retries_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(retries >= 3.0, "{metrics}");
    assert!(ft.log().contains("error sending batch, will retry"));
    assert!(ft.stop().await.success());
    assert_eq!(counts(&loki).len(), 20);
    assert!(loki.requests() >= 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loki_400_drops_the_batch_and_counts_it() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    append(&logs.join("x.log"), "doomed\n");
    let loki = FakeLoki::start().await;
    loki.script(&[400]);
    let port = free_port();
    let ft = Ferrotail::start(
        tmp.path(),
        &config(
            &loki.url,
            &tmp.path().join("pos.yaml"),
            port,
            "",
            &job(&logs),
        ),
        port,
        &[],
    );
    ft.wait_up().await;
    for _ in 0..500 {
        if loki.requests() >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    append(&logs.join("x.log"), "fine\n");
    loki.wait_for("later line", WAIT, |e| e.iter().any(|e| e.line == "fine"))
        .await;
    let (_, metrics) = ft.get("/metrics").await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("promtail_dropped_entries_total")
                && l.contains("reason=\"ingester_error\"")
                && l.ends_with(" 1")),
        "{metrics}"
    );
    assert!(ft.log().contains("final error sending batch"));
    assert!(ft.stop().await.success());
    assert_eq!(loki.lines(), vec!["fine".to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn positions_file_is_byte_identical_to_promtails() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("golden");
    std::fs::create_dir_all(&logs).unwrap();
    let inputs =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden/positions/inputs");
    for f in ["a.log", "with space.log"] {
        std::fs::copy(inputs.join(f), logs.join(f)).unwrap();
    }
    let loki = FakeLoki::start().await;
    let pos = tmp.path().join("positions.yaml");
    let port = free_port();
    let ft = Ferrotail::start(
        tmp.path(),
        &config(&loki.url, &pos, port, "", &job(&logs)),
        port,
        &[],
    );
    ft.wait_up().await;
    loki.wait_for("3 lines", WAIT, |e| e.len() >= 3).await;
    assert!(ft.stop().await.success());
    let golden = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/golden/positions/positions.yaml"),
    )
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(&pos).unwrap(),
        golden.replace("/var/log/golden", logs.to_str().unwrap())
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&pos).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_prints_and_writes_no_positions() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    append(&logs.join("d.log"), "dry line\n");
    let pos = tmp.path().join("pos.yaml");
    let port = free_port();
    let mut ft = Ferrotail::start(
        tmp.path(),
        &config(
            "http://127.0.0.1:9/loki/api/v1/push",
            &pos,
            port,
            "",
            &job(&logs),
        ),
        port,
        &["-dry-run"],
    );
    ft.wait_up().await;
    let mut stdout = ft.child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::Read;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut chunk) {
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            if String::from_utf8_lossy(&buf).contains("dry line") {
                break;
            }
        }
        String::from_utf8_lossy(&buf).into_owned()
    });
    let out = tokio::task::spawn_blocking(move || reader.join().unwrap())
        .await
        .unwrap();
    assert!(ft.stop().await.success());
    assert!(out.starts_with("Clients configured:\n"), "{out}");
    let line = out.lines().find(|l| l.contains("dry line")).unwrap();
    let expect_labels = format!(
        "{{filename=\"{}\", job=\"files\"}}",
        logs.join("d.log").display()
    );
    assert!(line.contains(&expect_labels), "{line}");
    assert!(line.ends_with("dry line"));
    assert!(!pos.exists(), "dry-run must not write positions");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_rotated_while_stopped_is_read_to_its_end_first() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let file = logs.join("app.log");
    append(&file, "a1\na2\n");
    let loki = FakeLoki::start().await;
    let pos = tmp.path().join("pos.yaml");
    let port = free_port();
    let cfg = config(&loki.url, &pos, port, "", &job(&logs));
    let ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
    ft.wait_up().await;
    loki.wait_for("first lines", WAIT, |e| e.len() >= 2).await;
    assert!(ft.stop().await.success());
    // While ferrotail is down: more lines, then rotation (rename + create), then new lines.
    append(&file, "a3-before-rotation\n");
    std::fs::rename(&file, logs.join("app.log.1")).unwrap();
    append(&file, "b1-new-file\n");
    let ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
    ft.wait_up().await;
    loki.wait_for("rotated and new lines", WAIT, |e| e.len() >= 4)
        .await;
    assert!(ft.stop().await.success());
    let lines = loki.lines();
    assert_eq!(
        lines,
        vec!["a1", "a2", "a3-before-rotation", "b1-new-file"],
        "Promtail loses a3 here"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_tenant_does_not_stop_another() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let loki = FakeLoki::start().await;
    loki.inner.lock().unwrap().rate_limit_tenant = Some("bad".into());
    let port = free_port();
    let scrape = format!(
        "{}    pipeline_stages:\n      - regex:\n          expression: '^t=(?P<t>\\w+)'\n      - tenant:\n          source: t\n",
        job(&logs)
    );
    let cfg = config(&loki.url, &tmp.path().join("pos.yaml"), port, "", &scrape).replace(
        "      max_period: 200ms\n",
        "      max_period: 200ms\n      max_retries: 0\n",
    );
    let ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
    ft.wait_up().await;
    append(&logs.join("x.log"), "t=bad one\n");
    for _ in 0..500 {
        if loki.inner.lock().unwrap().refused >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The bad tenant is retrying forever; the good tenant's lines still arrive.
    append(&logs.join("x.log"), "t=good one\nt=good two\n");
    loki.wait_for("good tenant", WAIT, |e| {
        e.iter()
            .filter(|x| x.tenant.as_deref() == Some("good"))
            .count()
            >= 2
    })
    .await;
    assert!(loki
        .entries()
        .iter()
        .all(|e| e.tenant.as_deref() == Some("good")));
    assert!(loki.inner.lock().unwrap().refused >= 2);
    ft.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_client_holds_up_another_only_beyond_its_inflight_bound() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let file = logs.join("x.log");
    let up = FakeLoki::start().await;
    // The other client's Loki refuses connections until it comes back below.
    let down_addr_port = DownPort::new();
    let down_addr = down_addr_port.addr();
    let inflight = 5;
    let port = free_port();
    // One entry per batch (batchsize 1), so the bound counts lines.
    let cfg = config(&up.url, &tmp.path().join("pos.yaml"), port, "", &job(&logs)).replace(
        "target_config:",
        &format!(
            "  - url: http://{down_addr}/loki/api/v1/push\n    batchwait: 10ms\n    batchsize: 1\n    max_inflight_batches: {inflight}\n    backoff_config:\n      min_period: 50ms\n      max_period: 200ms\n      max_retries: 0\ntarget_config:"
        ),
    );
    let ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
    ft.wait_up().await;
    // One line at a time, each read on its own: the up client keeps getting them while the down
    // one fills its bound: `inflight` batches, one batch waiting for a permit, its channel, and
    // the chunk the pipeline then waits on (which the up client already has). One more line
    // when the next line reached the down client before its batchwait (10 ms) had passed.
    let bound = inflight + 1 + ferrotail::run::CLIENT_CHANNEL_CAP + 1;
    let mut written = 0;
    loop {
        written += 1;
        append(&file, &format!("l{written}\n"));
        let n = written;
        if !up
            .wait_until(Duration::from_secs(3), |e| e.len() >= n)
            .await
        {
            break;
        }
        assert!(
            written <= bound + 1,
            "the down client never held the others up"
        );
    }
    let got = up.lines().len();
    assert!(
        got == bound || got == bound + 1,
        "{got} lines, bound {bound}"
    );
    assert_eq!(written, got + 1);
    // The down client comes back: both get every line, once, in order.
    append(&file, "after-1\nafter-2\n");
    let down = FakeLoki::start_at(&down_addr_port.release()).await;
    let want: Vec<String> = (1..=written)
        .map(|i| format!("l{i}"))
        .chain(["after-1".into(), "after-2".into()])
        .collect();
    for loki in [&up, &down] {
        loki.wait_for("every line", WAIT, |e| e.len() >= want.len())
            .await;
        assert_eq!(loki.lines(), want);
    }
    assert!(ft.stop().await.success());
}
