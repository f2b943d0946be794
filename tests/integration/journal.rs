//! The `journal` scrape config through the real binary (issue 18): journal files written by real
//! systemd code (`systemd-journal-remote` from export format), read with Promtail 3.4.6's
//! meaning: `MESSAGE` lines with the realtime timestamp, `__journal_*` labels relabelled per
//! entry, `json: true`, `matches`, `max_age`, following appends and rotation, corrupt files
//! skipped and counted, `cursor-<job>` positions resumed from a Promtail positions file, and
//! at-least-once delivery across a Loki outage.
//!
//! With `CI` set a missing `systemd-journal-remote`/`journalctl` fails the tests (run
//! `.ci/journal-setup.sh`); otherwise they print a notice and pass.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::util::{append, config, free_port, FakeLoki, Ferrotail};

const WAIT: Duration = Duration::from_secs(30);
const BOOT: &str = "0123456789abcdef0123456789abcdef";

fn first_existing(c: &[&str]) -> Option<PathBuf> {
    c.iter().map(PathBuf::from).find(|p| p.exists())
}

/// The tools, or `None` after a notice (a failure under CI).
fn tools() -> Option<(PathBuf, PathBuf)> {
    let remote = first_existing(&[
        "/lib/systemd/systemd-journal-remote",
        "/usr/lib/systemd/systemd-journal-remote",
    ]);
    let jctl = first_existing(&["/usr/bin/journalctl", "/bin/journalctl"]);
    match (remote, jctl) {
        (Some(r), Some(j)) => Some((r, j)),
        _ => {
            let what = "systemd-journal-remote and journalctl (run .ci/journal-setup.sh as root)";
            if std::env::var_os("CI").is_some() {
                panic!("required test tool missing under CI: {what}");
            }
            eprintln!("NOTICE: skipped: {what} not available");
            if let Some(log) = std::env::var_os("FERROTAIL_SKIP_LOG") {
                if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(log) {
                    let _ = writeln!(f, "journal: {what} not available");
                }
            }
            None
        }
    }
}

fn now_usec() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

/// One entry: realtime (µs) and fields.
struct Ent {
    realtime: u64,
    fields: Vec<(String, Vec<u8>)>,
}

fn ent(realtime: u64, fields: &[(&str, &[u8])]) -> Ent {
    Ent {
        realtime,
        fields: fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_vec()))
            .collect(),
    }
}

/// `n` entries `<tag> <i>` of unit `a.service`, 1 ms apart from `t0`.
fn msgs(tag: &str, n: usize, t0: u64) -> Vec<Ent> {
    (0..n)
        .map(|i| {
            ent(
                t0 + i as u64 * 1000,
                &[
                    ("MESSAGE", format!("{tag} {i}").as_bytes()),
                    ("_SYSTEMD_UNIT", b"a.service"),
                    ("PRIORITY", b"6"),
                ],
            )
        })
        .collect()
}

/// Journal export format of `ents` (binary encoding where needed).
fn export(ents: &[Ent]) -> Vec<u8> {
    let mut o = Vec::new();
    for e in ents {
        // Monotonic time grows with realtime within the one boot.
        write!(
            o,
            "__REALTIME_TIMESTAMP={}\n__MONOTONIC_TIMESTAMP={}\n_BOOT_ID={BOOT}\n",
            e.realtime,
            e.realtime % 1_000_000_000_000
        )
        .unwrap();
        for (k, v) in &e.fields {
            let plain = std::str::from_utf8(v).is_ok() && !v.iter().any(|&b| b < 0x20);
            o.extend_from_slice(k.as_bytes());
            if plain {
                o.push(b'=');
                o.extend_from_slice(v);
            } else {
                o.push(b'\n');
                o.extend_from_slice(&(v.len() as u64).to_le_bytes());
                o.extend_from_slice(v);
            }
            o.push(b'\n');
        }
        o.push(b'\n');
    }
    o
}

/// Writes (or appends) `ents` to the journal file `out` with systemd-journal-remote.
fn write_journal(remote: &Path, out: &Path, ents: &[Ent]) {
    let mut child = Command::new(remote)
        .arg("-o")
        .arg(out)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn systemd-journal-remote");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&export(ents))
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "journal-remote failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// MESSAGE → `__CURSOR` of every entry in `dir`, as journalctl prints them.
fn cursors(jctl: &Path, dir: &Path) -> Vec<(String, String)> {
    let o = Command::new(jctl)
        .arg("-D")
        .arg(dir)
        .args(["-o", "json", "--no-pager", "--output-fields=MESSAGE"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| {
            (
                v["MESSAGE"].as_str().unwrap_or_default().to_string(),
                v["__CURSOR"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn job(name: &str, dir: &Path, extra: &str) -> String {
    format!(
        "  - job_name: {name}\n    journal:\n      path: {}\n      labels:\n        job: systemd-journal\n{extra}    relabel_configs:\n      - source_labels: ['__journal__systemd_unit']\n        target_label: unit\n      - source_labels: ['__journal_priority_keyword']\n        target_label: level\n      - source_labels: ['__journal__systemd_unit']\n        regex: 'drop\\.service'\n        action: drop\n",
        dir.display()
    )
}

fn positions_map(path: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut m = BTreeMap::new();
    for l in text.lines() {
        let l = l.trim();
        if let Some((k, v)) = l.split_once(": ") {
            m.insert(k.to_string(), v.trim_matches('"').to_string());
        }
    }
    m
}

/// Waits until the positions file holds `want` under `key`.
async fn wait_position(path: &Path, key: &str, want: &str, ft: &Ferrotail) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if positions_map(path).get(key).map(String::as_str) == Some(want) {
            return;
        }
        if std::time::Instant::now() > deadline {
            panic!(
                "positions never had {key}={want}; file:\n{}\nstderr:\n{}",
                std::fs::read_to_string(path).unwrap_or_default(),
                ft.log()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_labels_json_matches_and_max_age() {
    let Some((remote, jctl)) = tools() else {
        return;
    };
    let tmp = tempdir();
    let jdir = tmp.path().join("journal");
    std::fs::create_dir_all(&jdir).unwrap();
    let now = now_usec();
    let old = now - 3 * 3600 * 1_000_000;
    let t0 = now - 60_000_000;
    let ents = vec![
        ent(
            old,
            &[("MESSAGE", b"too old"), ("_SYSTEMD_UNIT", b"a.service")],
        ),
        ent(
            t0,
            &[
                ("MESSAGE", b"hello <world> & \"you\""),
                ("_SYSTEMD_UNIT", b"a.service"),
                ("PRIORITY", b"3"),
                ("BIN", &[0x01, 0xff, b'z']),
            ],
        ),
        ent(
            t0 + 1000,
            &[("_SYSTEMD_UNIT", b"a.service"), ("CODE", b"no message")],
        ),
        ent(
            t0 + 2000,
            &[("MESSAGE", b"dropped"), ("_SYSTEMD_UNIT", b"drop.service")],
        ),
        ent(
            t0 + 3000,
            &[
                ("MESSAGE", b"from b"),
                ("_SYSTEMD_UNIT", b"b.service"),
                ("PRIORITY", b"4"),
            ],
        ),
    ];
    write_journal(&remote, &jdir.join("system.journal"), &ents);
    let loki = FakeLoki::start().await;
    let port = free_port();
    let positions = tmp.path().join("positions.yaml");
    let scrape = format!(
        "{}{}",
        job("plain", &jdir, "      max_age: 1h\n"),
        job(
            "asjson",
            &jdir,
            "      max_age: 1h\n      json: true\n      matches: _SYSTEMD_UNIT=a.service\n"
        )
    );
    let ft = Ferrotail::start(
        tmp.path(),
        &config(&loki.url, &positions, port, "", &scrape),
        port,
        &[],
    );
    ft.wait_up().await;
    loki.wait_for("4 entries", WAIT, |e| e.len() >= 4).await;
    // Every entry is in; anything else would arrive in the same batches.
    let (status, _) = ft.get("/ready").await;
    assert_eq!(status, 200, "ready with a journal job");
    let (_, targets) = ft.get("/targets").await;
    assert!(targets.contains("journal"), "{targets}");
    ft.wait_metric("promtail_journal_target_lines_total", &[], WAIT, |v| {
        v >= 4.0
    })
    .await;
    let got = loki.entries();
    let plain: Vec<_> = got.iter().filter(|e| !e.line.starts_with('{')).collect();
    let lines: Vec<&str> = plain.iter().map(|e| e.line.as_str()).collect();
    assert_eq!(lines, ["hello <world> & \"you\"", "from b"], "{got:#?}");
    assert_eq!(plain[0].ts_nanos, (t0 * 1000) as i64);
    let l0: Vec<(&str, &str)> = plain[0]
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        l0,
        [
            ("job", "systemd-journal"),
            ("level", "error"),
            ("unit", "a.service")
        ]
    );
    assert_eq!(plain[1].labels["level"], "warning");
    assert_eq!(plain[1].labels["unit"], "b.service");
    let json: Vec<&str> = got
        .iter()
        .filter(|e| e.line.starts_with('{'))
        .map(|e| e.line.as_str())
        .collect();
    assert_eq!(
        json,
        [
            format!(
                r#"{{"BIN":"\u0001\ufffdz","MESSAGE":"hello \u003cworld\u003e \u0026 \"you\"","PRIORITY":"3","_BOOT_ID":"{BOOT}","_SYSTEMD_UNIT":"a.service"}}"#
            ),
            format!(r#"{{"CODE":"no message","_BOOT_ID":"{BOOT}","_SYSTEMD_UNIT":"a.service"}}"#)
        ]
    );
    // The positions file has Promtail's key with the cursor of the last entry read.
    let all = cursors(&jctl, &jdir);
    let last = &all.last().unwrap().1;
    wait_position(&positions, "cursor-plain", last, &ft).await;
    ft.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_appends_and_rotation_and_resumes_after_restart() {
    let Some((remote, jctl)) = tools() else {
        return;
    };
    let tmp = tempdir();
    let jdir = tmp.path().join("journal");
    std::fs::create_dir_all(&jdir).unwrap();
    let active = jdir.join("system.journal");
    let t0 = now_usec() - 600_000_000;
    write_journal(&remote, &active, &msgs("first", 5, t0));
    let loki = FakeLoki::start().await;
    let port = free_port();
    let positions = tmp.path().join("positions.yaml");
    let cfg = config(&loki.url, &positions, port, "", &job("follow", &jdir, ""));
    let ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
    ft.wait_up().await;
    loki.wait_for("first 5", WAIT, |e| e.len() >= 5).await;
    // Appended while running.
    write_journal(&remote, &active, &msgs("appended", 5, t0 + 10_000_000));
    loki.wait_for("appended 5", WAIT, |e| e.len() >= 10).await;
    // Rotated while running: the active file archived, a new one started.
    std::fs::rename(
        &active,
        jdir.join(
            "system@00000000000000000000000000000001-0000000000000001-0000000000000001.journal",
        ),
    )
    .unwrap();
    write_journal(&remote, &active, &msgs("rotated", 5, t0 + 20_000_000));
    loki.wait_for("rotated 5", WAIT, |e| e.len() >= 15).await;
    let all = cursors(&jctl, &jdir);
    wait_position(&positions, "cursor-follow", &all.last().unwrap().1, &ft).await;
    ft.stop().await;
    // Rotated (and appended) while stopped.
    std::fs::rename(
        &active,
        jdir.join(
            "system@00000000000000000000000000000002-0000000000000001-0000000000000001.journal",
        ),
    )
    .unwrap();
    write_journal(&remote, &active, &msgs("while-stopped", 5, t0 + 30_000_000));
    let ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
    ft.wait_up().await;
    loki.wait_for("while-stopped 5", WAIT, |e| e.len() >= 20)
        .await;
    let all = cursors(&jctl, &jdir);
    wait_position(&positions, "cursor-follow", &all.last().unwrap().1, &ft).await;
    let lines = loki.lines();
    let mut want = Vec::new();
    for tag in ["first", "appended", "rotated", "while-stopped"] {
        want.extend((0..5).map(|i| format!("{tag} {i}")));
    }
    assert_eq!(lines, want, "each entry exactly once, in order");
    // Idle: still following, nothing more.
    ft.stop().await;
    assert_eq!(loki.lines().len(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_file_is_skipped_warned_and_counted() {
    let Some((remote, _)) = tools() else {
        return;
    };
    let tmp = tempdir();
    let jdir = tmp.path().join("journal");
    std::fs::create_dir_all(&jdir).unwrap();
    let t0 = now_usec() - 60_000_000;
    write_journal(&remote, &jdir.join("good.journal"), &msgs("good", 3, t0));
    // A file with a journal header signature and garbage after it.
    let mut bad = b"LPKSHHRH".to_vec();
    bad.extend(std::iter::repeat_n(0xabu8, 4096));
    std::fs::write(jdir.join("bad.journal"), &bad).unwrap();
    let loki = FakeLoki::start().await;
    let port = free_port();
    let positions = tmp.path().join("positions.yaml");
    let ft = Ferrotail::start(
        tmp.path(),
        &config(&loki.url, &positions, port, "", &job("corrupt", &jdir, "")),
        port,
        &[],
    );
    ft.wait_up().await;
    loki.wait_for("good entries", WAIT, |e| e.len() >= 3).await;
    ft.wait_metric("ferrotail_journal_corrupt_total", &[], WAIT, |v| v >= 1.0)
        .await;
    let log = ft.log();
    assert!(
        log.contains("bad.journal") && log.contains("level=warn"),
        "warning names the file:\n{log}"
    );
    assert_eq!(loki.lines(), ["good 0", "good 1", "good 2"]);
    ft.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumes_from_a_promtail_positions_file() {
    let Some((remote, jctl)) = tools() else {
        return;
    };
    let tmp = tempdir();
    let jdir = tmp.path().join("journal");
    std::fs::create_dir_all(&jdir).unwrap();
    let t0 = now_usec() - 60_000_000;
    write_journal(&remote, &jdir.join("system.journal"), &msgs("m", 10, t0));
    let all = cursors(&jctl, &jdir);
    assert_eq!(all.len(), 10);
    // Promtail shipped up to and including "m 5".
    let positions = tmp.path().join("positions.yaml");
    std::fs::write(
        &positions,
        format!(
            "positions:\n  cursor-migrated: {}\n  /var/log/other.log: \"12\"\n",
            all[5].1
        ),
    )
    .unwrap();
    let loki = FakeLoki::start().await;
    let port = free_port();
    let ft = Ferrotail::start(
        tmp.path(),
        &config(&loki.url, &positions, port, "", &job("migrated", &jdir, "")),
        port,
        &[],
    );
    ft.wait_up().await;
    loki.wait_for("the rest", WAIT, |e| e.len() >= 4).await;
    wait_position(&positions, "cursor-migrated", &all[9].1, &ft).await;
    assert_eq!(loki.lines(), ["m 6", "m 7", "m 8", "m 9"]);
    ft.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_lost_when_loki_is_down() {
    let Some((remote, jctl)) = tools() else {
        return;
    };
    let tmp = tempdir();
    let jdir = tmp.path().join("journal");
    std::fs::create_dir_all(&jdir).unwrap();
    let t0 = now_usec() - 60_000_000;
    write_journal(&remote, &jdir.join("system.journal"), &msgs("m", 50, t0));
    let loki = FakeLoki::start().await;
    loki.fail_with(Some(500));
    let port = free_port();
    let positions = tmp.path().join("positions.yaml");
    // Retry forever (no batch dropped as delivered) and shut down quickly during the outage.
    let cfg = config(&loki.url, &positions, port, "", &job("outage", &jdir, ""))
        .replace(
            "      max_period: 200ms\n",
            "      max_period: 200ms\n      max_retries: 0\n",
        )
        .replace(
            "  grpc_listen_port: 0\n",
            "  grpc_listen_port: 0\n  graceful_shutdown_timeout: 1s\n",
        );
    let ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
    ft.wait_up().await;
    loki.wait_failed(2, WAIT).await;
    // Stopped during the outage: the cursor must not have moved.
    ft.stop().await;
    assert!(
        !positions_map(&positions).contains_key("cursor-outage"),
        "cursor saved for unaccepted entries: {:?}",
        positions_map(&positions)
    );
    // Restarted, still down for a while, then up.
    let ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
    ft.wait_up().await;
    loki.wait_failed(4, WAIT).await;
    write_journal(
        &remote,
        &jdir.join("system.journal"),
        &msgs("n", 10, t0 + 1_000_000),
    );
    loki.fail_with(None);
    loki.wait_for("all", WAIT, |e| e.len() >= 60).await;
    let all = cursors(&jctl, &jdir);
    wait_position(&positions, "cursor-outage", &all.last().unwrap().1, &ft).await;
    let mut want: Vec<String> = (0..50).map(|i| format!("m {i}")).collect();
    want.extend((0..10).map(|i| format!("n {i}")));
    assert_eq!(loki.lines(), want);
    ft.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_journal_directory_is_an_error_and_the_rest_runs() {
    let tmp = tempdir();
    let missing = tmp.path().join("no-such-journal");
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    append(&logs.join("a.log"), "file line\n");
    let loki = FakeLoki::start().await;
    let port = free_port();
    let positions = tmp.path().join("positions.yaml");
    let scrape = format!(
        "{}  - job_name: files\n    static_configs:\n      - targets: [localhost]\n        labels:\n          job: files\n          __path__: {}/*.log\n",
        job("missing", &missing, ""),
        logs.display()
    );
    let ft = Ferrotail::start(
        tmp.path(),
        &config(&loki.url, &positions, port, "", &scrape),
        port,
        &[],
    );
    ft.wait_up().await;
    loki.wait_for("the file line", WAIT, |e| !e.is_empty())
        .await;
    let deadline = std::time::Instant::now() + WAIT;
    while !ft.log().contains("no-such-journal") {
        assert!(std::time::Instant::now() < deadline, "{}", ft.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = ft.log();
    assert!(log.contains("level=error"), "{log}");
    assert_eq!(loki.lines(), ["file line"]);
    ft.stop().await;
}
