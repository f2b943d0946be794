//! Following: files appended to while being read, rotation, vacuum, and a
//! real systemd-journald (run in its own journal namespace).

mod common;

use common::*;
use journal::{Journal, JournalOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn opts() -> JournalOptions {
    JournalOptions {
        rescan_interval: Duration::ZERO,
        ..JournalOptions::default()
    }
}

#[test]
fn appended_while_reading() {
    let r = need!(remote(), "systemd-journal-remote");
    need!(journalctl(), "journalctl");
    let d = TempDir::new("append");
    let f = d.path().join("system.journal");
    let t0 = 1_700_000_000_000_000;
    let ents = simple_entries(300, t0, BOOT_A, "live");
    write_journal(&r, &f, &export_bytes(&ents[..100]), &[]);
    let mut j = Journal::open_with(&[d.path().to_path_buf()], opts()).unwrap();
    let mut got = Vec::new();
    for _ in 0..30 {
        got.push(j.next().unwrap().unwrap());
    }
    // Append in the middle of reading: the remaining old and the new ones follow.
    write_journal(&r, &f, &export_bytes(&ents[100..200]), &[]);
    got.extend(read_all(&mut j));
    assert_eq!(got.len(), 200);
    // After None, more appended entries are picked up by the next call.
    assert!(j.next().unwrap().is_none());
    write_journal(&r, &f, &export_bytes(&ents[200..]), &[]);
    got.extend(read_all(&mut j));
    assert_eq!(got.len(), 300);
    let theirs = journalctl_export(&[&format!("--file={}", f.display())]);
    assert_same(&got, &theirs);
    assert!(j.warnings().is_empty());
}

#[test]
fn rotation_and_vacuum() {
    let r = need!(remote(), "systemd-journal-remote");
    need!(journalctl(), "journalctl");
    let d = TempDir::new("rotate");
    let sub = d.path().join("3d1219c7c4c5404aaa1f6d2a48adfda4");
    std::fs::create_dir_all(&sub).unwrap();
    let f = sub.join("system.journal");
    let t0 = 1_700_000_000_000_000;
    let ents = simple_entries(300, t0, BOOT_A, "rot");
    write_journal(&r, &f, &export_bytes(&ents[..100]), &[]);
    let mut j = Journal::open_with(&[d.path().to_path_buf()], opts()).unwrap();
    let mut got = Vec::new();
    for _ in 0..60 {
        got.push(j.next().unwrap().unwrap());
    }
    // Rotation: the active file is renamed, a new one created.
    let archived = sub.join("system@0000000000000000-0000000000000001.journal");
    std::fs::rename(&f, &archived).unwrap();
    write_journal(&r, &f, &export_bytes(&ents[100..200]), &[]);
    got.extend(read_all(&mut j));
    assert_eq!(
        got.len(),
        200,
        "rest of the renamed file plus the new file, no duplicates"
    );
    assert_eq!(j.files().len(), 2);
    assert!(j.files().contains(&archived));
    // Vacuum: the archive is deleted; no error, it is dropped.
    std::fs::remove_file(&archived).unwrap();
    assert!(j.next().unwrap().is_none());
    assert_eq!(j.files(), vec![f.clone()]);
    // Another rotation + appends after vacuum.
    let archived2 = sub.join("system@0000000000000000-0000000000000002.journal");
    std::fs::rename(&f, &archived2).unwrap();
    write_journal(&r, &f, &export_bytes(&ents[200..]), &[]);
    got.extend(read_all(&mut j));
    assert_eq!(got.len(), 300);
    for (a, b) in got.iter().zip(&ents) {
        assert_eq!(a.realtime_usec, b.realtime);
        assert_eq!(a.field("MESSAGE"), Some(b.fields[0].1.as_slice()));
    }
    assert!(j.warnings().is_empty());
}

#[test]
fn seek_tail_then_rotation() {
    let r = need!(remote(), "systemd-journal-remote");
    let d = TempDir::new("tailrot");
    let f = d.path().join("system.journal");
    let ents = simple_entries(30, 1_700_000_000_000_000, BOOT_A, "tr");
    write_journal(&r, &f, &export_bytes(&ents[..10]), &[]);
    let mut j = Journal::open_with(&[d.path().to_path_buf()], opts()).unwrap();
    j.seek_tail();
    assert!(j.next().unwrap().is_none());
    write_journal(&r, &f, &export_bytes(&ents[10..15]), &[]);
    // Rotation right after: the new file's entries must all be returned.
    std::fs::rename(&f, d.path().join("system@1.journal")).unwrap();
    write_journal(&r, &f, &export_bytes(&ents[15..]), &[]);
    let got = read_all(&mut j);
    let msgs: Vec<_> = got
        .iter()
        .map(|e| e.field("MESSAGE").unwrap().to_vec())
        .collect();
    let want: Vec<_> = ents[10..].iter().map(|e| e.fields[0].1.clone()).collect();
    assert_eq!(msgs, want);

    // On an empty directory, seek_tail then a new file: read from its head.
    let d2 = TempDir::new("tailempty");
    let mut j = Journal::open_with(&[d2.path().to_path_buf()], opts()).unwrap();
    j.seek_tail();
    assert!(j.next().unwrap().is_none());
    write_journal(
        &r,
        &d2.path().join("system.journal"),
        &export_bytes(&ents[..7]),
        &[],
    );
    assert_eq!(read_all(&mut j).len(), 7);
}

/// systemd-journald, started in its own namespace, killed on drop.
struct Journald {
    child: std::process::Child,
    ns: String,
    dir: PathBuf,
    /// /var/log/journal was created by the test: remove it again (if empty).
    remove_parent: bool,
}

impl Drop for Journald {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
        if self.remove_parent {
            let _ = std::fs::remove_dir("/var/log/journal");
        }
        let _ = std::fs::remove_dir_all(format!("/run/systemd/journal.{}", self.ns));
        let _ = std::fs::remove_dir_all(format!(
            "/run/log/journal/{}",
            self.dir.file_name().unwrap().to_string_lossy()
        ));
    }
}

fn journald_bin() -> Option<PathBuf> {
    [
        "/lib/systemd/systemd-journald",
        "/usr/lib/systemd/systemd-journald",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

fn send(sock: &Path, fields: &[(&str, &str)]) {
    let mut msg = Vec::new();
    for (k, v) in fields {
        msg.extend_from_slice(format!("{k}={v}\n").as_bytes());
    }
    let s = std::os::unix::net::UnixDatagram::unbound().unwrap();
    s.send_to(&msg, sock).unwrap();
}

#[test]
fn real_journald_follow_and_rotate() {
    let bin = need!(journald_bin(), "systemd-journald");
    let jc = need!(journalctl(), "journalctl");
    if unsafe_euid_not_root() {
        missing("root (to run systemd-journald)");
        return;
    }
    let mid = std::fs::read_to_string("/etc/machine-id")
        .unwrap_or_default()
        .trim()
        .to_string();
    if mid.len() != 32 {
        missing("/etc/machine-id");
        return;
    }
    let ns = format!("ferrotailtest{}", std::process::id());
    let created_var_log_journal = !Path::new("/var/log/journal").exists();
    std::fs::create_dir_all("/var/log/journal").unwrap();
    let dir = PathBuf::from(format!("/var/log/journal/{mid}.{ns}"));
    let child = std::process::Command::new(&bin)
        .arg(&ns)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let jd = Journald {
        child,
        ns: ns.clone(),
        dir: dir.clone(),
        remove_parent: created_var_log_journal,
    };
    let sock = PathBuf::from(format!("/run/systemd/journal.{ns}/socket"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !sock.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(sock.exists(), "journald socket did not appear");
    // The first message makes journald create its file.
    send(&sock, &[("MESSAGE", "first"), ("FERROTAIL_TEST", "1")]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0) == 0 && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut j = Journal::open_with(std::slice::from_ref(&dir), opts()).unwrap();
    let mut got = Vec::new();
    // journald may log its own start-up messages into the namespace too.
    for i in 0..200 {
        send(
            &sock,
            &[
                ("MESSAGE", &format!("msg {i}")),
                ("FERROTAIL_TEST", "1"),
                ("PRIORITY", "5"),
            ],
        );
    }
    let mut mine = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while mine.len() < 201 && Instant::now() < deadline {
        match j.next().unwrap() {
            Some(e) => {
                if e.field("FERROTAIL_TEST").is_some() {
                    mine.push(e.clone());
                }
                got.push(e);
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    assert_eq!(mine.len(), 201);
    assert_eq!(mine[0].field("MESSAGE"), Some(&b"first"[..]));
    assert_eq!(mine[200].field("MESSAGE"), Some(&b"msg 199"[..]));
    assert_eq!(mine[5].field("_TRANSPORT"), Some(&b"journal"[..]));

    // Rotation by journald itself.
    let st = std::process::Command::new(&jc)
        .args(["--namespace", &ns, "--rotate"])
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "journalctl --rotate: {}",
        String::from_utf8_lossy(&st.stderr)
    );
    for i in 0..100 {
        send(
            &sock,
            &[
                ("MESSAGE", &format!("after rotate {i}")),
                ("FERROTAIL_TEST", "2"),
            ],
        );
    }
    let before = got.len();
    let mut after: Vec<journal::Entry> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while after
        .iter()
        .filter(|e| e.field("FERROTAIL_TEST") == Some(b"2"))
        .count()
        < 100
        && Instant::now() < deadline
    {
        match j.next().unwrap() {
            Some(e) => after.push(e),
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    let mine2: Vec<_> = after
        .iter()
        .filter(|e| e.field("FERROTAIL_TEST") == Some(b"2"))
        .collect();
    assert_eq!(mine2.len(), 100, "entries after rotation");
    assert!(j.files().len() >= 2, "archived + new file: {:?}", j.files());
    assert!(j
        .files()
        .iter()
        .any(|p| p.to_string_lossy().contains("system@")));
    got.extend(after);
    assert!(got.len() > before);
    assert!(j.warnings().is_empty());

    // Everything equals journalctl's view of the directory.
    let mut fresh = Journal::open_dir(std::slice::from_ref(&dir)).unwrap();
    let ours = read_all(&mut fresh);
    let theirs = journalctl_export(&["--directory", &dir.display().to_string()]);
    assert_same(&ours, &theirs);
    // And what we followed is exactly that stream (same cursors, same order).
    let followed: Vec<String> = got.iter().map(|e| e.cursor()).collect();
    let all: Vec<String> = ours.iter().map(|e| e.cursor()).collect();
    assert_eq!(followed, all[..followed.len()].to_vec());
    drop(jd);
}

fn unsafe_euid_not_root() -> bool {
    // No libc dependency: read the effective uid from /proc.
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2))
        .map(|u| u != "0")
        .unwrap_or(true)
}

#[test]
fn default_system_journal_opens() {
    // Whatever this machine has (possibly nothing): no error, no panic.
    let mut j = Journal::open_dir(&[]).unwrap();
    let mut n = 0;
    while let Some(_e) = j.next().unwrap() {
        n += 1;
        if n > 1000 {
            break;
        }
    }
}
