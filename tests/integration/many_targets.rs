//! Hundreds of file targets over one directory (issue 20: a node's pods under one log root): the
//! job's targets share one watch and one expansion of the directory, and every line still
//! arrives once while files appear, rotate and vanish.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::util::{append, config, free_port, FakeLoki, Ferrotail};

const WAIT: Duration = Duration::from_secs(60);
const TARGETS: usize = 300;

fn file(dir: &Path, i: usize) -> std::path::PathBuf {
    dir.join(format!("app-{i:03}.log"))
}

/// Lines `from..to` of target `i`.
fn lines(i: usize, from: usize, to: usize) -> String {
    (from..to).map(|n| format!("t{i}-l{n}\n")).collect()
}

fn expect(want: &mut BTreeMap<String, usize>, text: &str) {
    for l in text.lines() {
        want.insert(l.to_string(), 1);
    }
}

fn counts(loki: &FakeLoki) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for l in loki.lines() {
        *m.entry(l).or_insert(0) += 1;
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_targets_in_one_directory_ship_every_line_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("logs");
    std::fs::create_dir_all(&dir).unwrap();
    // Half the targets have a file at start.
    for i in 0..TARGETS / 2 {
        append(&file(&dir, i), &lines(i, 0, 3));
    }
    let loki = FakeLoki::start().await;
    let port = free_port();
    let mut scrape = String::from("  - job_name: many\n    static_configs:\n");
    for i in 0..TARGETS {
        scrape.push_str(&format!(
            "      - targets: [localhost]\n        labels:\n          job: many\n          target: \"{i}\"\n          __path__: {}/*-{i:03}.log\n",
            dir.display()
        ));
    }
    let cfg = config(&loki.url, &tmp.path().join("pos.yaml"), port, "", &scrape);
    let ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
    ft.wait_up().await;
    let mut want: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..TARGETS / 2 {
        expect(&mut want, &lines(i, 0, 3));
    }
    let n = want.len();
    loki.wait_for("the first files' lines", WAIT, |e| e.len() >= n)
        .await;
    ft.wait_metric("promtail_targets_active_total", &[], WAIT, |v| {
        v == TARGETS as f64
    })
    .await;

    // Files appear for the other half.
    for i in TARGETS / 2..TARGETS {
        let text = lines(i, 0, 2);
        append(&file(&dir, i), &text);
        expect(&mut want, &text);
    }
    let n = want.len();
    loki.wait_for("the new files' lines", WAIT, |e| e.len() >= n)
        .await;

    // Rotation (rename and create) for the first 50, appends to the next 50, the 50 after those
    // vanish.
    for i in 0..50 {
        let f = file(&dir, i);
        std::fs::rename(&f, dir.join(format!("app-{i:03}.log.1"))).unwrap();
        let text = lines(i, 3, 6);
        append(&f, &text);
        expect(&mut want, &text);
    }
    for i in 50..100 {
        let text = lines(i, 3, 5);
        append(&file(&dir, i), &text);
        expect(&mut want, &text);
    }
    for i in 100..150 {
        std::fs::remove_file(file(&dir, i)).unwrap();
    }
    let n = want.len();
    loki.wait_for("the rotated and appended lines", WAIT, |e| e.len() >= n)
        .await;
    // The vanished files' readers stop; the rest keep reading.
    ft.wait_metric("promtail_files_active_total", &[], WAIT, |v| {
        v == (TARGETS - 50) as f64
    })
    .await;
    for i in 150..TARGETS {
        let text = lines(i, 2, 3);
        append(&file(&dir, i), &text);
        expect(&mut want, &text);
    }
    let n = want.len();
    loki.wait_for("the last appends", WAIT, |e| e.len() >= n)
        .await;
    // Nothing more arrives late (a second reader of a file would send its lines again).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let status = ft.stop().await;
    assert!(status.success(), "{status:?}");
    let got = counts(&loki);
    let missing: Vec<_> = want.keys().filter(|l| !got.contains_key(*l)).collect();
    assert!(missing.is_empty(), "missing: {missing:?}");
    let extra: Vec<_> = got
        .iter()
        .filter(|(l, c)| want.get(*l) != Some(c))
        .collect();
    assert!(
        extra.is_empty(),
        "sent more than once or unexpected: {extra:?}"
    );
    // Each target's lines carry its own labels.
    for e in loki.entries() {
        let t = e
            .line
            .split('-')
            .next()
            .unwrap_or_default()
            .trim_start_matches('t');
        assert_eq!(e.labels.get("target").map(String::as_str), Some(t), "{e:?}");
    }
}
