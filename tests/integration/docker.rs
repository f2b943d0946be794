//! Docker end to end: the seed's `promtail-config.yml`, with only the client URL pointing at the
//! fake Loki, against real containers on a real dockerd.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use crate::util::docker::{docker, docker_ready, IMAGE};
use crate::util::{free_port, FakeLoki, Ferrotail};

struct Containers(Vec<String>);

impl Drop for Containers {
    fn drop(&mut self) {
        for id in &self.0 {
            let _ = Command::new("docker").args(["rm", "-f", id]).output();
        }
    }
}

fn seed_config(loki: &str, positions: &std::path::Path, port: u16) -> String {
    let seed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/configs/promtail-config.yml"
    ))
    .unwrap();
    seed.replace("http://loki:3100/loki/api/v1/push", loki)
        .replace("/tmp/positions.yaml", positions.to_str().unwrap())
        .replace(
            "http_listen_port: 9080",
            &format!("http_listen_port: {port}\n  http_listen_address: 127.0.0.1"),
        )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_config_ships_exactly_the_kept_containers() {
    if !docker_ready() {
        return;
    }
    let tag = format!("ft{}", std::process::id());
    let mut ids = Containers(Vec::new());
    // JSON lines, text, stderr, a TTY, and one that must not be read.
    let script = |name: &str| {
        format!("for i in $(seq 1 200); do echo \"{{\\\"level\\\":\\\"INFO\\\",\\\"n\\\":$i,\\\"svc\\\":\\\"{name}\\\"}}\"; echo \"err {name} $i\" >&2; done; sleep 30")
    };
    for (name, tty) in [
        ("ai", false),
        ("tasks", false),
        ("redis", true),
        ("other", false),
    ] {
        let cname = format!("{name}-{tag}");
        let mut args = vec![
            "run",
            "-d",
            "--name",
            cname.as_str(),
            "--log-opt",
            "max-size=20k",
            "--log-opt",
            "max-file=5",
        ];
        if tty {
            args.push("-t");
        }
        let s = script(name);
        args.extend([IMAGE, "sh", "-c", s.as_str()]);
        ids.0.push(docker(&args));
    }
    let tmp = tempfile::tempdir().unwrap();
    let loki = FakeLoki::start().await;
    let port = free_port();
    let ft = Ferrotail::start(
        tmp.path(),
        &seed_config(&loki.url, &tmp.path().join("positions.yaml"), port),
        port,
        &[],
    );
    ft.wait_up().await;
    // ai and tasks: 200 stdout + 200 stderr lines; redis (TTY): 400 lines on one stream.
    loki.wait_for("all kept lines", Duration::from_secs(60), |e| {
        e.iter()
            .filter(|x| x.labels.get("service").is_some_and(|s| s.ends_with(&tag)))
            .count()
            >= 1200
    })
    .await;
    let entries = loki.entries();
    let mine: Vec<_> = entries
        .iter()
        .filter(|e| e.labels.get("service").is_some_and(|s| s.ends_with(&tag)))
        .collect();
    let mut per: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in &mine {
        assert_eq!(
            e.labels.len(),
            2,
            "only service and container_id: {:?}",
            e.labels
        );
        let cid = &e.labels["container_id"];
        assert_eq!(cid.len(), 64);
        per.entry(e.labels["service"].clone())
            .or_default()
            .push(e.line.clone());
    }
    assert!(
        !per.contains_key(&format!("other-{tag}")),
        "the keep rule excludes other-*"
    );
    assert!(
        entries.iter().all(|e| !e.labels.is_empty()),
        "no entry with an empty label set"
    );
    for name in ["ai", "tasks"] {
        let lines = &per[&format!("{name}-{tag}")];
        assert_eq!(lines.len(), 400, "{name}: {} lines", lines.len());
        let mut sorted = lines.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 400, "{name}: each line once");
        assert!(lines.contains(&format!(
            "{{\"level\":\"INFO\",\"n\":200,\"svc\":\"{name}\"}}"
        )));
        assert!(lines.contains(&format!("err {name} 200")));
    }
    // stdout and stderr of one container share a stream: its entries stay in time order.
    let mut last: BTreeMap<String, i64> = BTreeMap::new();
    for e in &mine {
        let prev = last
            .insert(e.labels["service"].clone(), e.ts_nanos)
            .unwrap_or(i64::MIN);
        assert!(
            e.ts_nanos > prev,
            "time order within {}",
            e.labels["service"]
        );
    }
    let redis = &per[&format!("redis-{tag}")];
    assert_eq!(redis.len(), 400, "TTY container: {} lines", redis.len());
    let (_, targets) = ft.get("/targets").await;
    assert!(targets.contains("json-file"), "{targets}");
    assert!(ft.stop().await.success());
    let pos = std::fs::read_to_string(tmp.path().join("positions.yaml")).unwrap();
    assert!(pos.contains("-json.log: \""), "{pos}");
}
