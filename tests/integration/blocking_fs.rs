//! A file-system call that hangs stalls only its own reader (issue 15, point 6): other files keep
//! shipping, `/ready` and `/metrics` answer, and shutdown does not wait for it.
//!
//! The hang is real, not simulated: `logs/a.log` is a symlink through `switch/cur`, a symlink to
//! a directory. Swapping `cur` to a directory whose `a.log` is a named pipe (FIFO) looks to the
//! reader like a rename rotation (the path now names another inode, and no event reaches the
//! watched `logs/` directory, so the target is not resynced); it reads the old file to its end and
//! opens the path again, and `open()` of a FIFO for reading blocks until a writer opens it. The
//! binary runs with one runtime worker (`TOKIO_WORKER_THREADS=1`), so a call made on the worker
//! would stall everything.

use std::collections::BTreeMap;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{append, free_port, FakeLoki, Ferrotail};

const WAIT: Duration = Duration::from_secs(20);
/// How long `/ready` and `/metrics` may take while a reader is stuck.
const ANSWER: Duration = Duration::from_millis(500);

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
}

/// Points the symlink `link` at `target` atomically (a new link renamed over it).
fn repoint(link: &Path, target: &Path) {
    let tmp = link.with_extension("new");
    std::os::unix::fs::symlink(target, &tmp).unwrap();
    std::fs::rename(&tmp, link).unwrap();
}

/// Touches the symlink itself (not its target): an inotify event for `link` in its directory,
/// which wakes its reader at once instead of at its next poll.
fn touch_link(link: &Path) {
    let c = std::ffi::CString::new(link.as_os_str().as_encoded_bytes()).unwrap();
    unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            std::ptr::null(),
            libc::AT_SYMLINK_NOFOLLOW,
        );
    }
}

fn counts(loki: &FakeLoki) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for l in loki.lines() {
        *m.entry(l).or_insert(0) += 1;
    }
    m
}

async fn answers_quickly(ft: &Ferrotail, path: &str, want: &str) {
    let t0 = Instant::now();
    let (status, body) = tokio::time::timeout(ANSWER, ft.get(path))
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{path} did not answer within {ANSWER:?} while a reader is stuck; stderr:\n{}",
                ft.log()
            )
        });
    assert_eq!(status, 200, "{path}: {body}");
    assert!(body.contains(want), "{path}: {body}");
    eprintln!("{path} answered in {:?}", t0.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_stuck_in_open_does_not_stall_other_files_or_the_server() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    let switch = tmp.path().join("switch");
    for d in ["v1", "v2", "v3", "v4"] {
        std::fs::create_dir_all(switch.join(d)).unwrap();
    }
    std::fs::create_dir_all(&logs).unwrap();
    append(&switch.join("v1/a.log"), "a1\na2\n");
    mkfifo(&switch.join("v2/a.log"));
    mkfifo(&switch.join("v4/a.log"));
    let cur = switch.join("cur");
    std::os::unix::fs::symlink(switch.join("v1"), &cur).unwrap();
    std::os::unix::fs::symlink(cur.join("a.log"), logs.join("a.log")).unwrap();
    append(&logs.join("b.log"), "b1\n");

    let loki = FakeLoki::start().await;
    let port = free_port();
    let positions = tmp.path().join("pos.yaml");
    // No target resync during the test (a resync would stop the reader of a path that is no
    // longer a regular file); readers poll every 100 ms at first.
    let cfg = format!(
        "server:\n  http_listen_address: 127.0.0.1\n  http_listen_port: {port}\n  grpc_listen_port: 0\n  graceful_shutdown_timeout: 5s\npositions:\n  filename: {}\n  sync_period: 100ms\nclients:\n  - url: {}\n    batchwait: 100ms\ntarget_config:\n  sync_period: 1h\nglobal:\n  file_watch_config:\n    min_poll_frequency: 100ms\n    max_poll_frequency: 200ms\nscrape_configs:\n  - job_name: files\n    static_configs:\n      - targets: [localhost]\n        labels:\n          job: files\n          __path__: {}/*.log\n",
        positions.display(),
        loki.url,
        logs.display()
    );
    let cfg_path = tmp.path().join("config.yml");
    std::fs::write(&cfg_path, cfg).unwrap();
    let stderr = tmp.path().join("stderr.log");
    let child = Command::new(crate::util::BIN)
        .arg(format!("-config.file={}", cfg_path.display()))
        .env("TOKIO_WORKER_THREADS", "1")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let ft = Ferrotail {
        child,
        port,
        stderr,
    };
    ft.wait_up().await;
    loki.wait_for("initial lines", WAIT, |e| e.len() >= 3).await;

    // a.log is rotated to the FIFO: the reader reads a3 from the old file, then hangs in open().
    append(&switch.join("v1/a.log"), "a3\n");
    repoint(&cur, &switch.join("v2"));
    touch_link(&logs.join("a.log"));
    loki.wait_for("the old file's last line", WAIT, |e| {
        e.iter().any(|e| e.line == "a3")
    })
    .await;
    let deadline = Instant::now() + WAIT;
    while !ft.log().contains("Re-opening moved/deleted file") {
        assert!(
            Instant::now() < deadline,
            "no re-open; stderr:\n{}",
            ft.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // While it hangs: another file ships, the server answers.
    append(&logs.join("b.log"), "b2\nb3\n");
    loki.wait_for("b.log's lines while a.log's reader hangs", WAIT, |e| {
        e.iter().any(|e| e.line == "b3")
    })
    .await;
    answers_quickly(&ft, "/ready", "Ready").await;
    answers_quickly(&ft, "/metrics", "promtail_read_lines_total").await;
    // The other file's position is still saved.
    let b_size = std::fs::metadata(logs.join("b.log")).unwrap().len();
    let want = format!("{}: \"{b_size}\"", logs.join("b.log").display());
    let deadline = Instant::now() + WAIT;
    while !std::fs::read_to_string(&positions)
        .unwrap_or_default()
        .contains(&want)
    {
        assert!(Instant::now() < deadline, "b.log's position not saved");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Unblock: a regular file takes the path again, then a writer opens the FIFO. Opening a FIFO
    // for writing without blocking succeeds only while a reader has it open (or is opening it),
    // so this also proves the reader was still stuck in open().
    append(&switch.join("v3/a.log"), "a4\na5\n");
    repoint(&cur, &switch.join("v3"));
    let writer = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(switch.join("v2/a.log"))
        .expect("a.log's reader is blocked opening the FIFO");
    drop(writer);
    touch_link(&logs.join("a.log"));
    loki.wait_for("a.log's lines after the hang", WAIT, |e| {
        e.iter().any(|e| e.line == "a5")
    })
    .await;
    append(&logs.join("b.log"), "b4\n");
    loki.wait_for("b4", WAIT, |e| e.iter().any(|e| e.line == "b4"))
        .await;

    // Hang it again and shut down: the stuck reader is abandoned, shutdown stays bounded.
    let reopened = ft.log().matches("Re-opening moved/deleted file").count();
    repoint(&cur, &switch.join("v4"));
    touch_link(&logs.join("a.log"));
    let deadline = Instant::now() + WAIT;
    while ft.log().matches("Re-opening moved/deleted file").count() == reopened {
        assert!(
            Instant::now() < deadline,
            "no re-open; stderr:\n{}",
            ft.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let t0 = Instant::now();
    let log = ft.log();
    let status = ft.stop().await;
    assert!(status.success(), "{status:?}; stderr:\n{log}");
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "shutdown took {:?} with a reader stuck in open()",
        t0.elapsed()
    );

    let got = counts(&loki);
    for l in ["a1", "a2", "a3", "a4", "a5", "b1", "b2", "b3", "b4"] {
        assert_eq!(got.get(l), Some(&1), "{l} in {got:?}");
    }
}
