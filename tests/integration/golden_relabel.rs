//! `tests/data/golden/relabel/`: static targets and relabel rules, run through the real binary
//! against the fake Loki; the streams must equal what real Promtail pushed.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::util::{config, free_port, FakeLoki, Ferrotail};

type Stream = (BTreeMap<String, String>, Vec<String>);

fn expected(text: &str) -> Vec<Stream> {
    let mut map: BTreeMap<String, Stream> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let labels: BTreeMap<String, String> = v["labels"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect();
        let key = format!("{labels:?}");
        map.entry(key)
            .or_insert_with(|| (labels, Vec::new()))
            .1
            .push(v["line"].as_str().unwrap().to_string());
    }
    map.into_values().collect()
}

async fn run_case(dir: &Path) -> Result<(), String> {
    let tmp = tempfile::tempdir().unwrap();
    let logdir = tmp.path().join("golden");
    std::fs::create_dir_all(&logdir).unwrap();
    let logdir_s = logdir.display().to_string();
    std::fs::copy(dir.join("input.log"), logdir.join("input.log")).unwrap();
    let case = std::fs::read_to_string(dir.join("case.yml"))
        .unwrap()
        .replace("/var/log/golden", &logdir_s);
    let want_text = std::fs::read_to_string(dir.join("expected.jsonl"))
        .unwrap()
        .replace("/var/log/golden", &logdir_s);
    // Keep static_configs and relabel_configs, indented under the job.
    let mut body = String::from("  - job_name: golden\n");
    for line in case.lines() {
        if line.starts_with("notes:") {
            break;
        }
        body.push_str("    ");
        body.push_str(line);
        body.push('\n');
    }
    let loki = FakeLoki::start().await;
    let port = free_port();
    let cfg = config(
        &loki.url,
        &tmp.path().join("positions.yaml"),
        port,
        "",
        &body,
    );
    let ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
    ft.wait_up().await;
    let want = expected(&want_text);
    let n: usize = want.iter().map(|s| s.1.len()).sum();
    if n > 0 {
        loki.wait_for(&format!("{n} entries"), Duration::from_secs(15), |e| {
            e.len() >= n
        })
        .await;
    } else {
        // Nothing may arrive: wait until the targets have been synced twice.
        for _ in 0..200 {
            let (_, m) = ft.get("/metrics").await;
            if m.contains("promtail_targets_active_total") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let log = ft.log();
    let status = ft.stop().await;
    if !status.success() {
        return Err(format!("exit {status:?}\n{log}"));
    }
    let mut got: BTreeMap<String, Stream> = BTreeMap::new();
    for e in loki.entries() {
        let key = format!("{:?}", e.labels);
        got.entry(key)
            .or_insert_with(|| (e.labels.clone(), Vec::new()))
            .1
            .push(e.line);
    }
    let got: Vec<Stream> = got.into_values().collect();
    if got != want {
        return Err(format!(
            "streams differ:\n want {want:#?}\n got  {got:#?}\n{log}"
        ));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_relabel_cases() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden/relabel");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let mut failures = Vec::new();
    for d in &dirs {
        if let Err(e) = run_case(d).await {
            failures.push(format!("{}: {e}", d.file_name().unwrap().to_string_lossy()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} relabel cases failed:\n{}",
        failures.len(),
        dirs.len(),
        failures.join("\n\n")
    );
}
