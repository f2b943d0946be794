//! The file-tailing gaps around rotation that used to lose lines: a glob pass between logrotate's
//! rename and create, a file deleted while its reader lags, a crash while a renamed file is read
//! to its end (with and without a new file at the path at the restart), numbered rotations that
//! happened while ferrotail was down, and copytruncate (while the reader lags, rewritten past its
//! offset, with lines in flight at a crash, while ferrotail was down, and with a reopen that
//! fails). Each test failed on the
//! code before the fix, except `a_crash_while_a_renamed_file_is_read_to_its_end_loses_no_line`, a
//! regression guard for the retiring state.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::at_least_once::{
    counts, saved_offset, scrape, setup, wait_all, wait_requests, wait_saved_after,
    wait_saved_offset, WAIT,
};
use crate::util::{append, config, free_port, FakeLoki, Ferrotail};

/// Lines in a file the reader must lag behind on (12 MB: several times what the channels and a
/// held push take in).
const BIG: usize = 120_000;

/// A file of [`BIG`] lines at `logs/app.log` and a ferrotail reading it, up and lagging behind: its
/// Loki takes a second per push, and has received the first.
struct Lagging {
    tmp: tempfile::TempDir,
    logs: PathBuf,
    pos: PathBuf,
    file: PathBuf,
    old: String,
    loki: FakeLoki,
    port: u16,
    cfg: String,
    ft: Ferrotail,
}

impl Lagging {
    async fn start(prefix: &str) -> Lagging {
        let (tmp, logs, pos) = setup();
        let file = logs.join("app.log");
        let old = padded(prefix, 0..BIG);
        std::fs::write(&file, &old).unwrap();
        let loki = FakeLoki::start().await;
        loki.inner.lock().unwrap().delay = Duration::from_secs(1);
        let port = free_port();
        let cfg = config(&loki.url, &pos, port, "", &scrape(&logs));
        let ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
        ft.wait_up().await;
        wait_requests(&loki, 1).await;
        Lagging {
            tmp,
            logs,
            pos,
            file,
            old,
            loki,
            port,
            cfg,
            ft,
        }
    }
}

/// Checks that the reader of `file` has not read all of it yet (the test needs it lagging).
async fn assert_lagging(ft: &Ferrotail, file: &Path) {
    let key = format!("path=\"{}\"", file.display());
    let read = ft.metric("promtail_read_lines_total", &[&key]).await;
    assert!(
        read < BIG as f64,
        "the reader must lag for this test (read {read})"
    );
}

/// Waits for every line of `want`, and for `new` (the file now at `file`) to be saved read to its
/// end; stops ferrotail and checks that `new`'s lines arrived once each.
async fn every_line_and_the_new_file_once(
    ft: Ferrotail,
    loki: &FakeLoki,
    pos: &Path,
    file: &Path,
    want: &[String],
    new: &str,
) {
    wait_all(loki, want).await;
    wait_saved_offset(&ft, pos, file, new.len() as u64).await;
    assert!(ft.stop().await.success());
    let c = counts(loki);
    let repeated = each(new).iter().filter(|l| c.get(*l) != Some(&1)).count();
    assert_eq!(repeated, 0, "the new file's lines were read twice");
}

/// `n` numbered lines of about 100 bytes.
fn padded(prefix: &str, range: std::ops::Range<usize>) -> String {
    range
        .map(|i| format!("{prefix} {i:06} {}\n", "x".repeat(88)))
        .collect()
}

fn each(text: &str) -> Vec<String> {
    text.lines().map(String::from).collect()
}

/// Waits until ferrotail's log has a line holding every needle of one of `any`.
async fn wait_log(ft: &Ferrotail, any: &[&[&str]]) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let log = ft.log();
        if log.lines().any(|l| {
            any.iter()
                .any(|needles| needles.iter().all(|n| l.contains(n)))
        }) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for one of {any:?} in the log:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Asserts every line of `want` reached Loki exactly once.
fn assert_once(loki: &FakeLoki, want: &[String]) {
    let c = counts(loki);
    let bad: Vec<(&String, usize)> = want
        .iter()
        .map(|w| (w, c.get(w).copied().unwrap_or(0)))
        .filter(|(_, n)| *n != 1)
        .collect();
    assert!(
        bad.is_empty(),
        "{} of {} lines not received exactly once, first {:?}",
        bad.len(),
        want.len(),
        bad.first()
    );
    assert_eq!(c.values().sum::<usize>(), want.len(), "unexpected lines");
}

/// The reader lags far behind (Loki takes a second per push, the file holds 12 MB) when the file
/// is renamed out of the glob and a glob pass runs before the new file is created: the reader
/// used to be stopped there, losing the rest of the renamed file. Now it reads the renamed file to
/// its end, then the new file from its start: every line once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_glob_pass_between_rename_and_create_loses_no_line() {
    let Lagging {
        tmp: _tmp,
        logs,
        pos,
        file,
        old,
        loki,
        port: _port,
        cfg: _cfg,
        ft,
    } = Lagging::start("old").await;
    assert_lagging(&ft, &file).await;

    // logrotate's `create`: rename, then (after a glob pass here) create.
    std::fs::rename(&file, logs.join("app.log.1")).unwrap();
    let p = file.display().to_string();
    wait_log(
        &ft,
        &[
            &["stopped tailing file", &p],
            &["left its target's glob", &p],
        ],
    )
    .await;
    let new = padded("new", 0..500);
    std::fs::write(&file, &new).unwrap();
    loki.inner.lock().unwrap().delay = Duration::ZERO;

    let want: Vec<String> = each(&old).into_iter().chain(each(&new)).collect();
    wait_all(&loki, &want).await;
    wait_saved_offset(&ft, &pos, &file, new.len() as u64).await;
    assert!(ft.stop().await.success());
    assert_once(&loki, &want);
}

/// A file deleted while its reader lags: ferrotail holds it open, so what was written before the
/// delete is still shipped (Promtail stops the tailer at once). Then the path is forgotten, as
/// Promtail forgets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_deleted_while_its_reader_lags_is_read_to_its_end() {
    let Lagging {
        tmp: _tmp,
        logs: _logs,
        pos,
        file,
        old,
        loki,
        port: _port,
        cfg: _cfg,
        ft,
    } = Lagging::start("gone").await;
    std::fs::remove_file(&file).unwrap();
    let p = file.display().to_string();
    wait_log(
        &ft,
        &[
            &["stopped tailing file", &p],
            &["left its target's glob", &p],
        ],
    )
    .await;
    loki.inner.lock().unwrap().delay = Duration::ZERO;
    let want = each(&old);
    wait_all(&loki, &want).await;
    // Then the reader stops and the path leaves the positions file.
    wait_log(&ft, &[&["stopped tailing file", &p]]).await;
    let deadline = std::time::Instant::now() + WAIT;
    while saved_offset(&pos, &file).is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "the deleted file's position was never forgotten"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ft.stop().await.success());
    assert_once(&loki, &want);
}

/// Two numbered rotations while ferrotail is down (`app.log` → `app.log.1` → `app.log.2`, a new
/// `app.log` each time, as logrotate without compression does): after the restart, the rest of
/// `app.log.2` (the file the saved position belongs to), then all of `app.log.1`, then `app.log`
/// from its start, each line once and in order. The middle file used to be skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbered_rotations_while_stopped_are_all_read_in_order() {
    let (tmp, logs, pos) = setup();
    let file = logs.join("app.log");
    let a1 = padded("a", 0..50);
    std::fs::write(&file, &a1).unwrap();
    let loki = FakeLoki::start().await;
    let port = free_port();
    let cfg = config(&loki.url, &pos, port, "", &scrape(&logs));
    let ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
    ft.wait_up().await;
    wait_all(&loki, &each(&a1)).await;
    wait_saved_offset(&ft, &pos, &file, a1.len() as u64).await;
    assert!(ft.stop().await.success());
    let shipped = loki.lines().len();

    // While down: more lines, then two rotations with lines in each generation.
    let a2 = padded("a", 50..80);
    append(&file, &a2);
    let n = |k: u32| logs.join(format!("app.log.{k}"));
    std::fs::rename(&file, n(1)).unwrap();
    let b = padded("b", 0..40);
    std::fs::write(&file, &b).unwrap();
    std::fs::rename(n(1), n(2)).unwrap();
    std::fs::rename(&file, n(1)).unwrap();
    let c = padded("c", 0..30);
    std::fs::write(&file, &c).unwrap();

    let ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
    ft.wait_up().await;
    let after: Vec<String> = [&a2, &b, &c].iter().flat_map(|t| each(t)).collect();
    wait_all(&loki, &after).await;
    wait_saved_offset(&ft, &pos, &file, c.len() as u64).await;
    assert!(ft.stop().await.success());
    let got: Vec<String> = loki.lines().split_off(shipped);
    assert_eq!(got.len(), after.len(), "lines shipped again");
    let first_bad = got.iter().zip(&after).position(|(g, w)| g != w);
    assert_eq!(first_bad, None, "out of order at {first_bad:?}");
}

/// Runs the binary as an unprivileged user when the tests run as root (a file made unreadable
/// with `chmod 000` is still readable by root).
fn start_unprivileged(dir: &Path, cfg: &str, port: u16) -> Ferrotail {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let cfg_path = dir.join("config.yml");
    std::fs::write(&cfg_path, cfg).unwrap();
    let stderr = dir.join(format!("stderr-{port}-{}.log", std::process::id()));
    let mut cmd = std::process::Command::new(crate::util::BIN);
    cmd.arg(format!("-config.file={}", cfg_path.display()))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap());
    if unsafe { libc::geteuid() } == 0 {
        for d in [dir.to_path_buf(), dir.join("logs")] {
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
        }
        cmd.uid(65534).gid(65534);
    }
    Ferrotail {
        child: cmd.spawn().unwrap(),
        port,
        stderr,
    }
}

/// copytruncate while the reopen fails (the truncated file is unreadable for a while), and
/// ferrotail is stopped during that window: the saved position must be the truncated file's start,
/// not the offset reached before the truncation. The new content starts with the same header line
/// (same first bytes, so the same identity), so a stale offset would skip its first lines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copytruncate_with_a_failed_reopen_saves_the_truncated_files_start() {
    use std::os::unix::fs::PermissionsExt;
    let (tmp, logs, pos) = setup();
    let file = logs.join("app.log");
    let header = format!("header {}\n", "h".repeat(300));
    let one = format!("{header}{}", padded("one", 0..30));
    std::fs::write(&file, &one).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let loki = FakeLoki::start().await;
    let port = free_port();
    let cfg = config(&loki.url, &pos, port, "", &scrape(&logs));
    let ft = start_unprivileged(tmp.path(), &cfg, port);
    ft.wait_up().await;
    wait_all(&loki, &each(&one)).await;
    wait_saved_offset(&ft, &pos, &file, one.len() as u64).await;
    assert!(ft.stop().await.success());

    // Restarted, the reader resumes at the end of the first content.
    let ft = start_unprivileged(tmp.path(), &cfg, port);
    ft.wait_up().await;
    wait_log(&ft, &[&["Seeked", &format!("Offset:{}", one.len())]]).await;
    // copytruncate, and the file is unreadable to ferrotail when it reopens it.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o000)).unwrap();
    std::fs::copy(&file, logs.join("app.log.1")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(0)
        .unwrap();
    let p = file.display().to_string();
    wait_log(&ft, &[&["error re-opening truncated file", &p]]).await;
    let two = format!("{header}{}", padded("two", 0..60));
    append(&file, &two);
    assert!(two.len() > one.len());
    assert!(ft.stop().await.success());

    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let ft = start_unprivileged(tmp.path(), &cfg, port);
    ft.wait_up().await;
    let want = each(&two);
    wait_all(&loki, &want).await;
    wait_saved_offset(&ft, &pos, &file, two.len() as u64).await;
    assert!(ft.stop().await.success());
    let c = counts(&loki);
    assert_eq!(
        c.get(header.trim_end()),
        Some(&2),
        "the header of each content"
    );
    let bad: Vec<_> = want[1..].iter().filter(|w| c.get(*w) != Some(&1)).collect();
    assert!(
        bad.is_empty(),
        "{} lines not once: {:?}",
        bad.len(),
        bad.first()
    );
}

/// copytruncate while the reader lags (Loki takes a second per push, the file holds 12 MB): the
/// lines not read yet are gone from the truncated file, but the copy (`app.log.1`) has them at
/// the same offsets. They are read from the copy, then the new content from its start. Promtail,
/// and ferrotail before, lost them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copytruncate_while_the_reader_lags_reads_the_rest_from_the_copy() {
    let Lagging {
        tmp: _tmp,
        logs,
        pos,
        file,
        old,
        loki,
        port: _port,
        cfg: _cfg,
        ft,
    } = Lagging::start("old").await;
    assert_lagging(&ft, &file).await;

    std::fs::copy(&file, logs.join("app.log.1")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(0)
        .unwrap();
    let new = padded("new", 0..500);
    append(&file, &new);
    loki.inner.lock().unwrap().delay = Duration::ZERO;

    let want: Vec<String> = each(&old).into_iter().chain(each(&new)).collect();
    wait_all(&loki, &want).await;
    wait_saved_offset(&ft, &pos, &file, new.len() as u64).await;
    assert!(ft.stop().await.success());
    assert_once(&loki, &want);
}

/// copytruncate while the reader is held up (Loki slow), and the new content grows past the
/// reader's offset before the reader reads again: without a rotation check between blocks, the
/// reader read on from its old offset into the new content, losing the rest of the old content
/// and the start of the new. The truncation is seen between blocks now.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copytruncate_and_regrowth_past_a_lagging_readers_offset_loses_no_line() {
    let (tmp, logs, pos) = setup();
    let file = logs.join("app.log");
    let old = padded("old", 0..BIG);
    std::fs::write(&file, &old).unwrap();
    // Loki holds the pushes (until the client's 2 s timeout, then answers the retry): the reader
    // fills the channels and waits, so the rewrite below falls between two of its blocks.
    let loki = FakeLoki::start().await;
    loki.inner.lock().unwrap().delay = Duration::from_secs(3600);
    let port = free_port();
    let cfg = config(&loki.url, &pos, port, "", &scrape(&logs)).replace(
        "    batchwait: 100ms\n",
        "    batchwait: 100ms\n    timeout: 2s\n",
    );
    let ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
    ft.wait_up().await;
    wait_requests(&loki, 1).await;
    let key = format!("path=\"{}\"", file.display());
    // The reader is held up once its count of lines read stops moving.
    let mut read = ft.metric("promtail_read_lines_total", &[&key]).await;
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = ft.metric("promtail_read_lines_total", &[&key]).await;
        if now == read {
            break;
        }
        read = now;
    }
    assert!(
        read < BIG as f64,
        "the reader must lag for this test (read {read})"
    );

    std::fs::copy(&file, logs.join("app.log.1")).unwrap();
    // Truncated and rewritten past the reader's offset before it reads again: done in one write
    // over the old bytes (longer than the old content), so the reader never sees a short file.
    // Other bytes than the old content's (as a real log's timestamps are): the reader tells a
    // rewritten file by the bytes just before its offset.
    let new = padded("new", 0..BIG + 10_000).replace('x', "y");
    std::os::unix::fs::FileExt::write_all_at(
        &std::fs::OpenOptions::new().write(true).open(&file).unwrap(),
        new.as_bytes(),
        0,
    )
    .unwrap();
    loki.inner.lock().unwrap().delay = Duration::ZERO;

    let want: Vec<String> = each(&old).into_iter().chain(each(&new)).collect();
    wait_all(&loki, &want).await;
    wait_saved_offset(&ft, &pos, &file, new.len() as u64).await;
    assert!(ft.stop().await.success());
    assert_once(&loki, &want);
}

/// A crash (SIGKILL) while a reader whose file was renamed out of the glob is still reading it:
/// the saved position is still that file's offset and identity, so after the restart the renamed
/// file is found by its identity and read on from there, then the new file from its start. Every
/// line arrives (a crash may repeat the lines that were in flight).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_while_a_renamed_file_is_read_to_its_end_loses_no_line() {
    let Lagging {
        tmp,
        logs,
        pos,
        file,
        old,
        loki,
        port,
        cfg,
        ft,
    } = Lagging::start("old").await;
    std::fs::rename(&file, logs.join("app.log.1")).unwrap();
    let p = file.display().to_string();
    wait_log(&ft, &[&["left its target's glob", &p]]).await;
    wait_saved_after(&pos, std::time::SystemTime::now()).await;
    let read = ft.metric("promtail_read_lines_total", &[]).await;
    ft.kill();
    assert!(
        loki.lines().len() < BIG && read < BIG as f64,
        "the crash must fall while the renamed file is being read"
    );

    let new = padded("new", 0..500);
    std::fs::write(&file, &new).unwrap();
    loki.inner.lock().unwrap().delay = Duration::ZERO;
    let ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
    ft.wait_up().await;
    let want: Vec<String> = each(&old).into_iter().chain(each(&new)).collect();
    every_line_and_the_new_file_once(ft, &loki, &pos, &file, &want, &new).await;
}

/// A crash while a file renamed out of the glob is being read, and no new file at the path when
/// ferrotail restarts (the application creates its log only when it next writes): the path's
/// position is kept while the renamed file still has lines after it, so when the new file
/// appears the renamed file is read on first. Promtail, and ferrotail before, forgot the path at
/// the first save.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renamed_files_rest_is_read_when_its_path_comes_back_after_a_restart() {
    let Lagging {
        tmp,
        logs,
        pos,
        file,
        old,
        loki,
        port,
        cfg,
        ft,
    } = Lagging::start("old").await;
    std::fs::rename(&file, logs.join("app.log.1")).unwrap();
    let p = file.display().to_string();
    wait_log(&ft, &[&["left its target's glob", &p]]).await;
    wait_saved_after(&pos, std::time::SystemTime::now()).await;
    ft.kill();
    assert!(saved_offset(&pos, &file).is_some_and(|o| o < old.len() as u64));

    // Restarted without a file at the path: several saves go by.
    loki.inner.lock().unwrap().delay = Duration::ZERO;
    let ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
    ft.wait_up().await;
    wait_saved_after(&pos, std::time::SystemTime::now()).await;
    wait_saved_after(&pos, std::time::SystemTime::now()).await;
    assert!(
        saved_offset(&pos, &file).is_some(),
        "the renamed file's position was forgotten; stderr:\n{}",
        ft.log()
    );
    let new = padded("new", 0..500);
    std::fs::write(&file, &new).unwrap();
    let want: Vec<String> = each(&old).into_iter().chain(each(&new)).collect();
    every_line_and_the_new_file_once(ft, &loki, &pos, &file, &want, &new).await;
}

/// copytruncate while lines read before the truncation are still in flight (Loki takes a second
/// per push), then a crash: those lines are in the copy, and the saved position stays their
/// offset in the copy until they are acknowledged, so after the restart they are read again from
/// it. They used to be dropped from the positions at the truncation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_copytruncate_with_lines_in_flight_loses_none() {
    let Lagging {
        tmp,
        logs,
        pos,
        file,
        old,
        loki,
        port,
        cfg,
        ft,
    } = Lagging::start("old").await;
    std::fs::copy(&file, logs.join("app.log.1")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(0)
        .unwrap();
    let p = file.display().to_string();
    wait_log(&ft, &[&["its copy holds the lines in flight", &p]]).await;
    wait_saved_after(&pos, std::time::SystemTime::now()).await;
    ft.kill();
    assert!(
        loki.lines().len() < BIG,
        "lines must be in flight at the crash"
    );

    let new = padded("new", 0..500);
    append(&file, &new);
    loki.inner.lock().unwrap().delay = Duration::ZERO;
    let ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
    ft.wait_up().await;
    let want: Vec<String> = each(&old).into_iter().chain(each(&new)).collect();
    wait_all(&loki, &want).await;
    wait_saved_offset(&ft, &pos, &file, new.len() as u64).await;
    assert!(ft.stop().await.success());
}

/// As above, with every line read before the truncation and all of them in flight (Loki holds
/// the push): the copy has nothing more to read but still holds them, so the saved position is
/// theirs in the copy, and a crash reads them again from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_copytruncate_with_every_line_in_flight_loses_none() {
    let (tmp, logs, pos) = setup();
    let file = logs.join("app.log");
    let old = padded("old", 0..1_000);
    std::fs::write(&file, &old).unwrap();
    let loki = FakeLoki::start().await;
    loki.inner.lock().unwrap().delay = Duration::from_secs(3600);
    let port = free_port();
    let cfg = config(&loki.url, &pos, port, "", &scrape(&logs));
    let ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
    ft.wait_up().await;
    let key = format!("path=\"{}\"", file.display());
    ft.wait_metric("promtail_read_lines_total", &[&key], WAIT, |v| v >= 1_000.0)
        .await;
    wait_requests(&loki, 1).await;
    std::fs::copy(&file, logs.join("app.log.1")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(0)
        .unwrap();
    let p = file.display().to_string();
    wait_log(&ft, &[&["its copy holds the lines in flight", &p]]).await;
    wait_saved_after(&pos, std::time::SystemTime::now()).await;
    ft.kill();
    assert!(loki.lines().is_empty(), "Loki held every push");

    loki.inner.lock().unwrap().delay = Duration::ZERO;
    let ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
    ft.wait_up().await;
    wait_all(&loki, &each(&old)).await;
    assert!(ft.stop().await.success());
}

/// copytruncate while ferrotail is stopped, with lines written after the saved offset before the
/// copy: they are in the copy (found by its first bytes), read from the saved offset before the
/// truncated file's new content. Promtail, and ferrotail before, lost them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copytruncate_while_stopped_reads_the_rest_from_the_copy() {
    let (tmp, logs, pos) = setup();
    let file = logs.join("app.log");
    let first = padded("first", 0..100);
    std::fs::write(&file, &first).unwrap();
    let loki = FakeLoki::start().await;
    let port = free_port();
    let cfg = config(&loki.url, &pos, port, "", &scrape(&logs));
    let ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
    ft.wait_up().await;
    wait_all(&loki, &each(&first)).await;
    wait_saved_offset(&ft, &pos, &file, first.len() as u64).await;
    assert!(ft.stop().await.success());

    let unread = padded("unread", 0..50);
    append(&file, &unread);
    std::fs::copy(&file, logs.join("app.log.1")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(0)
        .unwrap();
    let new = padded("new", 0..30);
    append(&file, &new);

    let ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
    ft.wait_up().await;
    let want: Vec<String> = [&first, &unread, &new]
        .iter()
        .flat_map(|t| each(t))
        .collect();
    wait_all(&loki, &want).await;
    wait_saved_offset(&ft, &pos, &file, new.len() as u64).await;
    assert!(ft.stop().await.success());
    assert_once(&loki, &want);
}
