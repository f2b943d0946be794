//! At-least-once in the corners (#17 point 1): a crash right after a rename rotation, a reload
//! whose old generation times out, a file whose device number changed, a second SIGTERM, and a
//! shutdown while Loki never answers. Loki "holds" pushes (answers after an hour) to keep lines in
//! flight for as long as a test needs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::util::{append, config, free_port, FakeLoki, Ferrotail};

pub(crate) const WAIT: Duration = Duration::from_secs(30);
/// A push delay that outlasts every test: Loki holds the request.
const HOLD: Duration = Duration::from_secs(3600);

pub(crate) fn scrape(logs: &Path) -> String {
    format!(
        "  - job_name: files\n    static_configs:\n      - targets: [localhost]\n        labels:\n          job: files\n          __path__: {}/*.log\n",
        logs.display()
    )
}

pub(crate) fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let pos = tmp.path().join("pos.yaml");
    (tmp, logs, pos)
}

pub(crate) fn lines(prefix: &str, range: std::ops::Range<usize>) -> String {
    range.map(|i| format!("{prefix} {i:05}\n")).collect()
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// Waits until the positions file and its identity sidecar were both written after `after`.
pub(crate) async fn wait_saved_after(pos: &Path, after: SystemTime) {
    let sidecar = PathBuf::from(format!("{}.ferrotail.json", pos.display()));
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if mtime(pos).is_some_and(|t| t > after) && mtime(&sidecar).is_some_and(|t| t > after) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "positions not saved after the mark"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The offset saved for `file` in the positions file, if any.
pub(crate) fn saved_offset(pos: &Path, file: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(pos).ok()?;
    let key = format!("  {}: \"", file.display());
    let start = text.find(&key)? + key.len();
    text[start..].split('"').next()?.parse().ok()
}

/// Waits until the positions file saves `want` for `file`.
pub(crate) async fn wait_saved_offset(ft: &Ferrotail, pos: &Path, file: &Path, want: u64) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if saved_offset(pos, file) == Some(want) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "positions file never saved {want} for {} (now {:?}):\n{}\nstderr:\n{}",
            file.display(),
            saved_offset(pos, file),
            std::fs::read_to_string(pos).unwrap_or_default(),
            ft.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the fake Loki received `n` pushes (held or answered).
pub(crate) async fn wait_requests(loki: &FakeLoki, n: usize) {
    let deadline = std::time::Instant::now() + WAIT;
    while loki.requests() < n {
        assert!(std::time::Instant::now() < deadline, "no push reached Loki");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub(crate) fn counts(loki: &FakeLoki) -> BTreeMap<String, usize> {
    let mut c = BTreeMap::new();
    for l in loki.lines() {
        *c.entry(l).or_default() += 1;
    }
    c
}

/// Waits until every line of `want` was received at least once.
pub(crate) async fn wait_all(loki: &FakeLoki, want: &[String]) {
    let want: Vec<String> = want.to_vec();
    let ok = loki
        .wait_until(WAIT, |e| {
            let got: std::collections::HashSet<&str> = e.iter().map(|e| e.line.as_str()).collect();
            want.iter().all(|w| got.contains(w.as_str()))
        })
        .await;
    if !ok {
        let got = counts(loki);
        let missing: Vec<&String> = want.iter().filter(|w| !got.contains_key(*w)).collect();
        panic!(
            "{} of {} lines never reached Loki, first {:?}",
            missing.len(),
            want.len(),
            missing.first()
        );
    }
}

pub(crate) fn all_lines(text: &str) -> Vec<String> {
    text.lines().map(String::from).collect()
}

/// Rename rotation under load while Loki holds every push, then SIGKILL: the rotated file's lines
/// were in flight, so the saved position must still point into the rotated file. After the
/// restart every line reaches Loki.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_right_after_a_rename_rotation_loses_no_line_in_flight() {
    let (tmp, logs, pos) = setup();
    let file = logs.join("app.log");
    std::fs::write(&file, "").unwrap();
    let loki = FakeLoki::start().await;
    loki.inner.lock().unwrap().delay = HOLD;
    let port = free_port();
    let cfg = config(&loki.url, &pos, port, "", &scrape(&logs));
    let ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
    ft.wait_up().await;
    // The writer appends 300 lines, rotates (rename + create, as logrotate does) and appends
    // 300 more, while ferrotail reads. The rename and the create are one atomic exchange: a
    // moment without `app.log` would let the file target's glob stop the reader (the file left
    // its glob), which is another matter than the one tested here.
    let writer = {
        let (file, logs) = (file.clone(), logs.clone());
        std::thread::spawn(move || {
            for i in 0..600 {
                if i == 300 {
                    let rotated = logs.join("app.log.1");
                    std::fs::write(&rotated, "").unwrap();
                    exchange(&file, &rotated);
                }
                append(&file, &format!("line {i:05}\n"));
                if i % 10 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        })
    };
    writer.join().unwrap();
    let key = format!("path=\"{}\"", file.display());
    ft.wait_metric("promtail_read_lines_total", &[&key], WAIT, |v| v >= 600.0)
        .await;
    wait_requests(&loki, 1).await;
    // Every line is read, none acknowledged. Once the positions were saved after that, crash.
    let mark = SystemTime::now();
    wait_saved_after(&pos, mark).await;
    ft.kill();
    assert!(loki.lines().is_empty(), "Loki held every push");

    loki.inner.lock().unwrap().delay = Duration::ZERO;
    let ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
    ft.wait_up().await;
    let want: Vec<String> = (0..600).map(|i| format!("line {i:05}")).collect();
    wait_all(&loki, &want).await;
    assert!(ft.stop().await.success());
}

/// Swaps two paths atomically (`renameat2` with `RENAME_EXCHANGE`).
fn exchange(a: &Path, b: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap();
    let (a, b) = (c(a), c(b));
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    assert_eq!(r, 0, "renameat2: {}", std::io::Error::last_os_error());
}

/// A reload while Loki holds the pushes and the old generation cannot finish within
/// `graceful_shutdown_timeout`: the new generation reads the unsent lines again, and once Loki has
/// them the saved position moves to the end of the file (it used to stay pinned at the old
/// generation's offset until the next restart).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_that_times_out_does_not_pin_the_saved_position() {
    let (tmp, logs, pos) = setup();
    let file = logs.join("app.log");
    let text = lines("reload", 0..100);
    std::fs::write(&file, &text).unwrap();
    let loki = FakeLoki::start().await;
    loki.inner.lock().unwrap().delay = HOLD;
    let port = free_port();
    let mk = |env: &str| {
        config(&loki.url, &pos, port, "", &scrape(&logs))
            .replace(
                "  grpc_listen_port: 0\n",
                "  grpc_listen_port: 0\n  enable_runtime_reload: true\n  graceful_shutdown_timeout: 300ms\n",
            )
            .replace("          job: files\n", &format!("          job: files\n          env: {env}\n"))
    };
    let ft = Ferrotail::start(tmp.path(), &mk("a"), port, &[]);
    ft.wait_up().await;
    wait_requests(&loki, 1).await;

    std::fs::write(tmp.path().join("config.yml"), mk("b")).unwrap();
    let r = reqwest::Client::new()
        .post(ft.url("/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // Loki answers again; the held push of the old generation is given up after 300 ms.
    loki.inner.lock().unwrap().delay = Duration::ZERO;
    wait_all(&loki, &all_lines(&text)).await;
    wait_saved_offset(&ft, &pos, &file, text.len() as u64).await;
    assert!(ft.log().contains("graceful shutdown timed out"));
    assert!(ft.stop().await.success());
    assert_eq!(saved_offset(&pos, &file), Some(text.len() as u64));
}

/// The positions were saved with another device number for the same inode and first bytes (LVM
/// renumbering, a remount, a new overlay device): ferrotail resumes from the saved offset instead
/// of shipping the whole file again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_device_number_resumes_from_the_saved_offset() {
    let (tmp, logs, pos) = setup();
    let file = logs.join("app.log");
    let first = lines("before", 0..40);
    std::fs::write(&file, &first).unwrap();
    let loki = FakeLoki::start().await;
    let port = free_port();
    let cfg = config(&loki.url, &pos, port, "", &scrape(&logs));
    let ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
    ft.wait_up().await;
    wait_all(&loki, &all_lines(&first)).await;
    assert!(ft.stop().await.success());
    assert_eq!(saved_offset(&pos, &file), Some(first.len() as u64));

    // The identity sidecar now says: another device.
    let sidecar = PathBuf::from(format!("{}.ferrotail.json", pos.display()));
    let mut ids: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&sidecar).unwrap()).unwrap();
    let entry = &mut ids[file.display().to_string()];
    assert!(entry["fingerprint"].as_u64().unwrap() != 0, "{ids}");
    let dev = entry["dev"].as_u64().unwrap();
    entry["dev"] = serde_json::json!(dev + 7);
    std::fs::write(&sidecar, serde_json::to_vec(&ids).unwrap()).unwrap();

    let second = lines("after", 0..5);
    append(&file, &second);
    let ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
    ft.wait_up().await;
    wait_all(&loki, &all_lines(&second)).await;
    wait_saved_offset(&ft, &pos, &file, (first.len() + second.len()) as u64).await;
    assert!(ft.stop().await.success());
    let c = counts(&loki);
    let repeated: Vec<_> = c.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        repeated.is_empty(),
        "{} lines shipped again, first {:?}",
        repeated.len(),
        repeated.first()
    );
}

/// Starts ferrotail on a file of 50 lines with Loki holding every push; returns once the push is
/// held.
async fn held(
    graceful: &str,
) -> (
    tempfile::TempDir,
    PathBuf,
    PathBuf,
    FakeLoki,
    String,
    Ferrotail,
    String,
) {
    let (tmp, logs, pos) = setup();
    let file = logs.join("app.log");
    let text = lines("held", 0..50);
    std::fs::write(&file, &text).unwrap();
    let loki = FakeLoki::start().await;
    loki.inner.lock().unwrap().delay = HOLD;
    let port = free_port();
    let cfg = config(&loki.url, &pos, port, "", &scrape(&logs)).replace(
        "  grpc_listen_port: 0\n",
        &format!("  grpc_listen_port: 0\n{graceful}"),
    );
    let ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
    ft.wait_up().await;
    wait_requests(&loki, 1).await;
    (tmp, file, pos, loki, cfg, ft, text)
}

/// Waits up to `within` for the process to exit.
async fn exits_within(ft: &mut Ferrotail, within: Duration) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Some(st) = ft.child.try_wait().unwrap() {
            return Some(st);
        }
        if std::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// While the shutdown waits for Loki (30 s by default), a second SIGTERM exits at once, leaving
/// the positions at the acknowledged lines: a restart ships everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sigterm_exits_at_once_keeping_only_acknowledged_positions() {
    let (tmp, file, pos, loki, cfg, mut ft, text) = held("").await;
    ft.signal(libc::SIGTERM);
    assert!(
        exits_within(&mut ft, Duration::from_millis(500))
            .await
            .is_none(),
        "the first SIGTERM waits for Loki"
    );
    let started = std::time::Instant::now();
    ft.signal(libc::SIGINT);
    let status = exits_within(&mut ft, Duration::from_secs(5)).await;
    assert!(
        status.is_some(),
        "a second signal did not end ferrotail; stderr:\n{}",
        ft.log()
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(ft.log().contains("second SIGINT/SIGTERM"), "{}", ft.log());
    assert_eq!(saved_offset(&pos, &file).unwrap_or(0), 0);

    loki.inner.lock().unwrap().delay = Duration::ZERO;
    let port = ft.port;
    drop(ft);
    let ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
    ft.wait_up().await;
    wait_all(&loki, &all_lines(&text)).await;
    assert!(ft.stop().await.success());
}

/// Loki never answers and the shutdown gives up after `graceful_shutdown_timeout`: the unsent
/// lines are not counted as delivered (the held request used to be dropped with its batch, which
/// acknowledged it), so a restart ships them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_while_loki_never_answers_keeps_the_unsent_lines() {
    let (tmp, file, pos, loki, cfg, mut ft, text) =
        held("  graceful_shutdown_timeout: 300ms\n").await;
    ft.signal(libc::SIGTERM);
    let status = exits_within(&mut ft, Duration::from_secs(10)).await;
    assert!(status.is_some_and(|s| s.success()), "{}", ft.log());
    assert_eq!(
        saved_offset(&pos, &file).unwrap_or(0),
        0,
        "unsent lines were counted as delivered; stderr:\n{}",
        ft.log()
    );
    loki.inner.lock().unwrap().delay = Duration::ZERO;
    let port = ft.port;
    drop(ft);
    let ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
    ft.wait_up().await;
    wait_all(&loki, &all_lines(&text)).await;
    assert!(ft.stop().await.success());
}
