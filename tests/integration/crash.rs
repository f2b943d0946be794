//! At-least-once delivery: SIGKILL at random moments while lines are appended and Loki answers
//! slowly; after each restart ferrotail resumes, and in the end every line was delivered.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::util::{config, free_port, FakeLoki, Ferrotail};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_twenty_times_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let file = logs.join("app.log");
    std::fs::write(&file, "").unwrap();
    let loki = FakeLoki::start().await;
    loki.inner.lock().unwrap().delay = Duration::from_millis(30);
    let port = free_port();
    let scrape = format!(
        "  - job_name: files\n    static_configs:\n      - targets: [localhost]\n        labels:\n          job: files\n          __path__: {}/*.log\n",
        logs.display()
    );
    let cfg = config(&loki.url, &tmp.path().join("pos.yaml"), port, "", &scrape);

    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (stop, written, file) = (stop.clone(), written.clone(), file.clone());
        std::thread::spawn(move || {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&file)
                .unwrap();
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) && i < 20_000 {
                for _ in 0..20 {
                    writeln!(f, "line {i:06}").unwrap();
                    i += 1;
                }
                written.store(i, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let mut seed: u64 = 0x9e3779b97f4a7c15;
    for _round in 0..20 {
        let ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
        ft.wait_up().await;
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        tokio::time::sleep(Duration::from_millis(50 + seed % 250)).await;
        let log = ft.log();
        ft.kill();
        if std::env::var("CRASH_DEBUG").is_ok() {
            eprintln!(
                "{}",
                log.lines()
                    .filter(|l| !l.contains("DBG"))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            eprintln!(
                "round: received {} positions {:?}",
                loki.entries().len(),
                std::fs::read_to_string(tmp.path().join("pos.yaml")).ok()
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let total = written.load(Ordering::Relaxed);
    let ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
    ft.wait_up().await;
    loki.wait_for("every line", Duration::from_secs(60), |e| {
        let mut seen = std::collections::HashSet::new();
        e.iter().for_each(|x| {
            seen.insert(x.line.clone());
        });
        seen.len() >= total
    })
    .await;
    assert!(ft.stop().await.success());
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for l in loki.lines() {
        *counts.entry(l).or_default() += 1;
    }
    assert_eq!(counts.len(), total, "every written line delivered");
    for i in 0..total {
        assert!(
            counts.contains_key(&format!("line {i:06}")),
            "line {i} missing"
        );
    }
    let dups: usize = counts.values().map(|c| c - 1).sum();
    eprintln!("{total} lines, {dups} duplicates after 20 SIGKILLs");
}
