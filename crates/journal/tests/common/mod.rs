//! Shared helpers: real systemd tools (journal-remote writes, journalctl is the oracle).
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use journal::{id128_hex, Entry, Journal};

/// Fails under CI (env `CI` set), else prints a skip notice.
pub fn missing(what: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("required test tool missing under CI: {what} (run .ci/journal-setup.sh)");
    }
    eprintln!("SKIP: {what} not available (run .ci/journal-setup.sh as root)");
}

/// Unwraps an `Option` tool or skips/fails the test.
#[macro_export]
macro_rules! need {
    ($opt:expr, $what:expr) => {
        match $opt {
            Some(v) => v,
            None => {
                common::missing($what);
                return;
            }
        }
    };
}

/// A systemd-journal-remote binary and the environment it needs.
#[derive(Clone, Debug)]
pub struct Remote {
    pub bin: PathBuf,
    pub ld_path: Option<PathBuf>,
}

fn first_existing(c: &[&str]) -> Option<PathBuf> {
    c.iter().map(PathBuf::from).find(|p| p.exists())
}

pub fn journalctl() -> Option<PathBuf> {
    first_existing(&["/usr/bin/journalctl", "/bin/journalctl"])
}

fn systemd_version(journalctl: &Path) -> u32 {
    let out = Command::new(journalctl).arg("--version").output();
    let s = out
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    s.split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The host's systemd-journal-remote.
pub fn remote() -> Option<Remote> {
    let bin = first_existing(&[
        "/lib/systemd/systemd-journal-remote",
        "/usr/lib/systemd/systemd-journal-remote",
    ])?;
    Some(Remote { bin, ld_path: None })
}

/// A journal-remote that honours `$SYSTEMD_JOURNAL_COMPRESS` (systemd ≥ 253):
/// the host's if new enough, else the unpacked backports build.
pub fn remote_compress() -> Option<Remote> {
    if let (Some(r), Some(jc)) = (remote(), journalctl()) {
        if systemd_version(&jc) >= 253 {
            return Some(r);
        }
    }
    let base = std::env::var_os("FERROTAIL_JOURNAL_SYSTEMD_BPO")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/ferrotail-journal/systemd-bpo"));
    let bin = base.join("lib/systemd/systemd-journal-remote");
    if !bin.exists() {
        return None;
    }
    let libroot = base.join("usr/lib");
    let ld = std::fs::read_dir(&libroot)
        .ok()?
        .flatten()
        .map(|d| d.path().join("systemd"))
        .find(|p| {
            std::fs::read_dir(p)
                .map(|rd| {
                    rd.flatten().any(|f| {
                        f.file_name()
                            .to_string_lossy()
                            .starts_with("libsystemd-shared")
                    })
                })
                .unwrap_or(false)
        })?;
    Some(Remote {
        bin,
        ld_path: Some(ld),
    })
}

/// One entry to write: realtime, monotonic, boot id (32 hex) and fields.
#[derive(Clone, Debug)]
pub struct Ent {
    pub realtime: u64,
    pub monotonic: u64,
    pub boot: String,
    pub fields: Vec<(String, Vec<u8>)>,
}

impl Ent {
    pub fn new(realtime: u64, monotonic: u64, boot: &str, fields: &[(&str, &[u8])]) -> Ent {
        Ent {
            realtime,
            monotonic,
            boot: boot.to_string(),
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_vec()))
                .collect(),
        }
    }
}

pub const BOOT_A: &str = "0123456789abcdef0123456789abcdef";
pub const BOOT_B: &str = "fedcba9876543210fedcba9876543210";

/// Journal export format of `ents` (binary encoding where needed).
pub fn export_bytes(ents: &[Ent]) -> Vec<u8> {
    let mut o = Vec::new();
    for e in ents {
        write!(
            o,
            "__REALTIME_TIMESTAMP={}\n__MONOTONIC_TIMESTAMP={}\n_BOOT_ID={}\n",
            e.realtime, e.monotonic, e.boot
        )
        .unwrap();
        for (k, v) in &e.fields {
            let plain =
                std::str::from_utf8(v).is_ok() && !v.iter().any(|&b| b < 0x20 && b != b'\t');
            if plain {
                o.extend_from_slice(k.as_bytes());
                o.push(b'=');
                o.extend_from_slice(v);
                o.push(b'\n');
            } else {
                o.extend_from_slice(k.as_bytes());
                o.push(b'\n');
                o.extend_from_slice(&(v.len() as u64).to_le_bytes());
                o.extend_from_slice(v);
                o.push(b'\n');
            }
        }
        o.push(b'\n');
    }
    o
}

/// Writes (or appends) `export` to the journal file `out` with journal-remote.
pub fn write_journal(r: &Remote, out: &Path, export: &[u8], env: &[(&str, &str)]) {
    let mut c = Command::new(&r.bin);
    c.arg("-o").arg(out).arg("-");
    if let Some(ld) = &r.ld_path {
        c.env("LD_LIBRARY_PATH", ld);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn systemd-journal-remote");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(export).expect("write export");
    }
    let out = child.wait_with_output().expect("wait journal-remote");
    assert!(
        out.status.success(),
        "journal-remote failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One entry of `journalctl -o export` output: all fields in order.
#[derive(Debug, Clone)]
pub struct Exp {
    pub fields: Vec<(String, Vec<u8>)>,
}

impl Exp {
    pub fn get(&self, k: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_slice())
    }
    pub fn get_str(&self, k: &str) -> String {
        String::from_utf8_lossy(self.get(k).unwrap_or_default()).into_owned()
    }
}

pub fn parse_export(b: &[u8]) -> Vec<Exp> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let nl = b[i..]
            .iter()
            .position(|&c| c == b'\n')
            .map(|p| i + p)
            .unwrap_or(b.len());
        let line = &b[i..nl];
        i = nl + 1;
        if line.is_empty() {
            if !cur.is_empty() {
                out.push(Exp {
                    fields: std::mem::take(&mut cur),
                });
            }
            continue;
        }
        if let Some(eq) = line.iter().position(|&c| c == b'=') {
            cur.push((
                String::from_utf8_lossy(&line[..eq]).into_owned(),
                line[eq + 1..].to_vec(),
            ));
        } else {
            let n = u64::from_le_bytes(b[i..i + 8].try_into().unwrap()) as usize;
            i += 8;
            cur.push((
                String::from_utf8_lossy(line).into_owned(),
                b[i..i + n].to_vec(),
            ));
            i += n + 1;
        }
    }
    if !cur.is_empty() {
        out.push(Exp { fields: cur });
    }
    out
}

/// `journalctl <args> -o export` parsed.
pub fn journalctl_export(args: &[&str]) -> Vec<Exp> {
    let jc = journalctl().expect("journalctl");
    let out = Command::new(jc)
        .args(args)
        .args(["-o", "export", "--no-pager"])
        .output()
        .expect("run journalctl");
    assert!(
        out.status.success() || out.stdout.is_empty(),
        "journalctl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse_export(&out.stdout)
}

/// `--file=…` arguments for journalctl.
pub fn file_args(files: &[PathBuf]) -> Vec<String> {
    files
        .iter()
        .map(|f| format!("--file={}", f.display()))
        .collect()
}

/// Reads all entries (from the current position) of a journal.
pub fn read_all(j: &mut Journal) -> Vec<Entry> {
    let mut v = Vec::new();
    while let Some(e) = j.next().expect("next") {
        v.push(e);
    }
    v
}

/// Asserts that our entries equal journalctl's export, field for field.
pub fn assert_same(ours: &[Entry], theirs: &[Exp]) {
    assert_eq!(ours.len(), theirs.len(), "entry count differs");
    for (n, (o, t)) in ours.iter().zip(theirs).enumerate() {
        assert_eq!(o.cursor(), t.get_str("__CURSOR"), "cursor of entry {n}");
        assert_eq!(
            o.realtime_usec.to_string(),
            t.get_str("__REALTIME_TIMESTAMP"),
            "realtime of entry {n}"
        );
        assert_eq!(
            o.monotonic_usec.to_string(),
            t.get_str("__MONOTONIC_TIMESTAMP"),
            "monotonic of entry {n}"
        );
        assert_eq!(
            id128_hex(&o.boot_id),
            t.get_str("_BOOT_ID"),
            "boot id of entry {n}"
        );
        let of: Vec<_> = o
            .fields
            .iter()
            .filter(|(k, _)| k != "_BOOT_ID")
            .cloned()
            .collect();
        let tf: Vec<_> = t
            .fields
            .iter()
            .filter(|(k, _)| !k.starts_with("__") && k != "_BOOT_ID")
            .cloned()
            .collect();
        assert_eq!(of, tf, "fields of entry {n}");
    }
}

/// A fresh temporary directory (removed on drop).
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!(
            "ferrotail-journal-{tag}-{}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Incompatible flags of a journal file (header offset 12).
pub fn incompatible_flags(p: &Path) -> u32 {
    let b = std::fs::read(p).unwrap();
    u32::from_le_bytes(b[12..16].try_into().unwrap())
}

/// Deterministic pseudo-random generator (xorshift).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// `n` simple entries starting at realtime `t0`, with a unit field cycling
/// through three units and a unique message.
pub fn simple_entries(n: usize, t0: u64, boot: &str, tag: &str) -> Vec<Ent> {
    let units = ["a.service", "b.service", "c.service"];
    (0..n)
        .map(|i| {
            Ent::new(
                t0 + i as u64 * 1000,
                1_000_000 + t0 % 1_000_000_000_000 + i as u64 * 1000,
                boot,
                &[
                    ("MESSAGE", format!("{tag} message {i}").as_bytes()),
                    ("_SYSTEMD_UNIT", units[i % 3].as_bytes()),
                    ("PRIORITY", format!("{}", i % 8).as_bytes()),
                    (
                        "_TRANSPORT",
                        if i % 5 == 0 {
                            b"kernel".as_slice()
                        } else {
                            b"journal".as_slice()
                        },
                    ),
                ],
            )
        })
        .collect()
}
