//! Corrupt, truncated and hostile files: the reader warns and skips, never
//! panics, never loops, and the other files are still read.

mod common;

use common::*;
use journal::Journal;
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// Offsets of all objects of a (valid) journal file, with their types.
fn objects(b: &[u8]) -> Vec<(usize, u8, usize)> {
    let header_size = le64(b, 88) as usize;
    let tail = le64(b, 136) as usize;
    let mut v = Vec::new();
    let mut o = header_size;
    while o <= tail && o + 16 <= b.len() {
        let size = le64(b, o + 8) as usize;
        v.push((o, b[o], size));
        if size == 0 {
            break;
        }
        o += (size + 7) & !7;
    }
    v
}

/// Reads everything, with a time bound (no infinite loop).
fn read_bounded(paths: &[PathBuf]) -> (Vec<journal::Entry>, Vec<journal::Warning>) {
    let start = Instant::now();
    let mut j = Journal::open_dir(paths).unwrap();
    let mut v = Vec::new();
    while let Some(e) = j.next().unwrap() {
        v.push(e);
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "reader does not terminate"
        );
    }
    (v, j.warnings())
}

fn make(r: &Remote, p: &Path, n: usize, t0: u64, tag: &str, compact: &str) -> Vec<u8> {
    write_journal(
        r,
        p,
        &export_bytes(&simple_entries(n, t0, BOOT_A, tag)),
        &[("SYSTEMD_JOURNAL_COMPACT", compact)],
    );
    std::fs::read(p).unwrap()
}

#[test]
fn corrupt_files_are_skipped_with_warnings() {
    let r = need!(remote(), "systemd-journal-remote");
    let d = TempDir::new("corrupt");
    let t0 = 1_700_000_000_000_000;
    let good = d.path().join("good.journal");
    make(&r, &good, 100, t0, "good", "0");

    // Truncated in the middle of an ENTRY object near the end.
    let p = d.path().join("truncated.journal");
    let b = make(&r, &p, 100, t0 + 10_000_000, "trunc", "0");
    let objs = objects(&b);
    let last_entry = objs.iter().rev().find(|o| o.1 == 3).unwrap();
    std::fs::write(&p, &b[..last_entry.0 + 20]).unwrap();

    // Bytes flipped inside ENTRY, DATA and ENTRY_ARRAY objects.
    let p2 = d.path().join("flipped.journal");
    let mut b = make(&r, &p2, 100, t0 + 20_000_000, "flip", "1");
    std::fs::remove_file(&p2).unwrap();
    let p2 = d.path().join("flipped.journal~");
    let objs = objects(&b);
    let mut rng = Rng(7);
    for (o, ty, size) in objs.iter().filter(|o| o.1 == 1 || o.1 == 3 || o.1 == 6) {
        if rng.below(4) == 0 {
            let at = o + rng.below(*size as u64) as usize;
            b[at] ^= 0xff;
            let _ = ty;
        }
    }
    std::fs::write(&p2, &b).unwrap();

    // Unknown incompatible flag: refused, with a warning.
    let p3 = d.path().join("future.journal");
    let mut b = make(&r, &p3, 10, t0 + 30_000_000, "future", "0");
    b[12] |= 0x80;
    b[13] |= 0x01;
    std::fs::write(&p3, &b).unwrap();
    // Unknown compatible flag: tolerated.
    let p4 = d.path().join("compat.journal");
    let mut b = make(&r, &p4, 10, t0 + 40_000_000, "compat", "0");
    b[10] |= 0x40;
    std::fs::write(&p4, &b).unwrap();
    // Not a journal at all, and an empty file.
    std::fs::write(
        d.path().join("garbage.journal"),
        b"this is not a journal file at all",
    )
    .unwrap();
    std::fs::write(d.path().join("empty.journal"), b"").unwrap();

    let (entries, warnings) = read_bounded(&[d.path().to_path_buf()]);
    let count = |tag: &str| {
        entries
            .iter()
            .filter(|e| {
                e.field("MESSAGE")
                    .is_some_and(|m| m.starts_with(tag.as_bytes()))
            })
            .count()
    };
    assert_eq!(count("good"), 100, "the good file is read completely");
    assert_eq!(
        count("compat"),
        10,
        "unknown compatible flags are tolerated"
    );
    assert_eq!(
        count("future"),
        0,
        "unknown incompatible flags make the file skipped"
    );
    let t = count("trunc");
    assert!(
        (90..100).contains(&t),
        "truncated file: {t} entries before the cut"
    );
    let has = |name: &str| {
        warnings
            .iter()
            .any(|w| w.path.to_string_lossy().ends_with(name))
    };
    for f in [
        "truncated.journal",
        "flipped.journal~",
        "future.journal",
        "garbage.journal",
        "empty.journal",
    ] {
        assert!(has(f), "no warning for {f}: {warnings:?}");
    }
    assert!(warnings.iter().any(|w| w.message.contains("incompatible")));
    assert!(
        warnings.iter().any(|w| w.offset.is_some()),
        "warnings carry offsets"
    );
    for w in &warnings {
        eprintln!("warning: {w}");
    }
}

#[test]
fn truncated_while_reading() {
    let r = need!(remote(), "systemd-journal-remote");
    let d = TempDir::new("trunc-live");
    let p = d.path().join("system.journal");
    let b = make(&r, &p, 2000, 1_700_000_000_000_000, "t", "0");
    let mut j = Journal::open_dir(std::slice::from_ref(&p)).unwrap();
    for _ in 0..10 {
        j.next().unwrap().unwrap();
    }
    // Truncate under the open reader (pread: no SIGBUS, a short read).
    let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
    f.set_len((b.len() / 40) as u64).unwrap();
    let mut n = 10;
    while let Some(_e) = j.next().unwrap() {
        n += 1;
    }
    assert!(n < 2000);
    assert!(!j.warnings().is_empty());
    // Further polls do not fail either.
    assert!(j.next().unwrap().is_none());
}

/// Small real files to mutate: regular and compact (default compression,
/// ZSTD on Debian 12), plus XZ and LZ4 ones when a journal-remote that can
/// write them is available (required under CI).
fn fuzz_base() -> Option<Vec<Vec<u8>>> {
    let r = remote()?;
    let d = TempDir::new("fuzzbase");
    let mut ents = simple_entries(40, 1_700_000_000_000_000, BOOT_A, "f");
    ents[3]
        .fields
        .push(("BIG".into(), "q".repeat(3000).into_bytes()));
    ents[9]
        .fields
        .push(("BIG2".into(), "0123456789".repeat(200).into_bytes()));
    // Keep only the used part (not the preallocated zeros) to focus mutations.
    let trim = |p: &Path| {
        let v = std::fs::read(p).unwrap();
        let objs = objects(&v);
        let end = objs
            .last()
            .map(|o| o.0 + o.2 + 64)
            .unwrap_or(v.len())
            .min(v.len());
        v[..end].to_vec()
    };
    let mut out = Vec::new();
    for compact in ["0", "1"] {
        let p = d.path().join(format!("c{compact}.journal"));
        write_journal(
            &r,
            &p,
            &export_bytes(&ents),
            &[("SYSTEMD_JOURNAL_COMPACT", compact)],
        );
        out.push(trim(&p));
    }
    match remote_compress() {
        Some(rc) => {
            for alg in ["XZ", "LZ4"] {
                let p = d.path().join(format!("{alg}.journal"));
                write_journal(
                    &rc,
                    &p,
                    &export_bytes(&ents),
                    &[("SYSTEMD_JOURNAL_COMPRESS", alg)],
                );
                out.push(trim(&p));
            }
        }
        None => missing("systemd-journal-remote >= 253 (XZ/LZ4 fuzz bases)"),
    }
    Some(out)
}

fn read_bytes(dir: &TempDir, bytes: &[u8]) {
    let p = dir.path().join("fuzz.journal");
    std::fs::write(&p, bytes).unwrap();
    let _ = read_bounded(&[p]);
}

#[test]
fn fuzz_mutated_real_files() {
    let bases = need!(fuzz_base(), "systemd-journal-remote");
    let d = TempDir::new("fuzz");
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for i in 0..2000 {
        let mut v = bases[i % bases.len()].clone();
        let flips = 1 + rng.below(16);
        for _ in 0..flips {
            // Bias towards the header and object headers, where offsets live.
            let at = match rng.below(3) {
                0 => rng.below(272.min(v.len() as u64)) as usize,
                _ => rng.below(v.len() as u64) as usize,
            };
            match rng.below(4) {
                0 => v[at] = 0xff,
                1 => v[at] = 0,
                2 => v[at] ^= 1 << rng.below(8),
                _ => v[at] = rng.next() as u8,
            }
        }
        if rng.below(8) == 0 {
            let cut = rng.below(v.len() as u64) as usize;
            v.truncate(cut);
        }
        read_bytes(&d, &v);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Arbitrary bytes behind a plausible header never panic.
    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..4096), n_entries in any::<u64>(), compact in any::<bool>(), arr in any::<u64>()) {
        let d = TempDir::new("prop");
        let mut h = vec![0u8; 272];
        h[..8].copy_from_slice(b"LPKSHHRH");
        h[12] = if compact { 16 } else { 0 };
        h[88..96].copy_from_slice(&272u64.to_le_bytes());
        h[152..160].copy_from_slice(&n_entries.to_le_bytes());
        h[176..184].copy_from_slice(&(272 + (arr % 4096) / 8 * 8).to_le_bytes());
        h.extend_from_slice(&body);
        read_bytes(&d, &h);
        read_bytes(&d, &body);
    }
}
