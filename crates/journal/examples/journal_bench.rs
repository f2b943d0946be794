//! Reads journal directories/files, counts entries and field bytes, and
//! reports entries per CPU-second and peak RSS.
//!
//! `[MATCH='FIELD=value ...'] cargo run --release --example journal_bench -- PATH...`

use std::path::PathBuf;
use std::time::Instant;

fn cpu_seconds() -> f64 {
    // utime + stime from /proc/self/stat, in clock ticks (100 Hz on Linux).
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let t = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / 100.0
}

fn peak_rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let paths: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    let wall = Instant::now();
    let cpu0 = cpu_seconds();
    let mut j = journal::Journal::open_dir(&paths)?;
    // Optional journalctl-style matches, e.g. MATCH="_SYSTEMD_UNIT=nginx.service".
    if let Ok(m) = std::env::var("MATCH") {
        j.add_match_expr(&m)?;
    }
    let (mut n, mut bytes, mut fields) = (0u64, 0u64, 0u64);
    let mut e = journal::Entry::default();
    // ALLOC=1: use next() (a new Entry per call) instead of next_into().
    let alloc = std::env::var_os("ALLOC").is_some();
    while if alloc {
        match j.next()? {
            Some(x) => {
                e = x;
                true
            }
            None => false,
        }
    } else {
        j.next_into(&mut e)?
    } {
        n += 1;
        for (k, v) in &e.fields {
            bytes += (k.len() + v.len()) as u64;
        }
        fields += e.fields.len() as u64;
    }
    let cpu = cpu_seconds() - cpu0;
    println!("files:        {}", j.files().len());
    println!("entries:      {n}");
    println!("fields:       {fields}");
    println!("field bytes:  {bytes}");
    println!("warnings:     {}", j.warning_count());
    println!("wall:         {:.3} s", wall.elapsed().as_secs_f64());
    println!("cpu:          {cpu:.3} s");
    if cpu > 0.0 {
        println!("entries/cpu-s: {:.0}", n as f64 / cpu);
    }
    println!("peak RSS:     {} KiB", peak_rss_kib());
    Ok(())
}
