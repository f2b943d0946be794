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

/// A container whose log is written on demand (`docker exec` into PID 1's stdout), rotated by
/// dockerd at 20 kB with one rotated file kept.
fn rotating_container(name: &str) -> (Containers, String, std::path::PathBuf) {
    let id = docker(&[
        "run",
        "-d",
        "--name",
        name,
        "--log-opt",
        "max-size=20k",
        "--log-opt",
        "max-file=2",
        IMAGE,
        "sleep",
        "3600",
    ]);
    let log = docker(&["inspect", "--format", "{{.LogPath}}", &id]);
    (
        Containers(vec![id.clone()]),
        id,
        std::path::PathBuf::from(log),
    )
}

/// Writes lines `<prefix><n>` for n in `from..=to` (padded to about 170 bytes) to the
/// container's log, pausing 100 ms after every `pace` lines (0: no pause).
fn write_lines(id: &str, prefix: &str, from: u32, to: u32, pace: u32) {
    let pause = if pace == 0 {
        String::new()
    } else {
        format!("if [ $((i % {pace})) = 0 ]; then sleep 0.1; fi; ")
    };
    let script = format!(
        "i={from}; while [ $i -le {to} ]; do echo \"{prefix}$i {}\"; {pause}i=$((i+1)); done > /proc/1/fd/1",
        "x".repeat(150)
    );
    docker(&["exec", id, "sh", "-c", &script]);
}

fn docker_job_config(loki: &str, positions: &std::path::Path, port: u16, name: &str) -> String {
    format!(
        "server:\n  http_listen_address: 127.0.0.1\n  http_listen_port: {port}\npositions:\n  filename: {}\n  sync_period: 100ms\nclients:\n  - url: {loki}\n    batchwait: 100ms\n    batchsize: 2048\n    backoff_config:\n      min_period: 50ms\n      max_period: 200ms\n      max_retries: 0\nscrape_configs:\n  - job_name: docker\n    docker_sd_configs:\n      - host: unix:///var/run/docker.sock\n        refresh_interval: 1s\n        filters:\n          - name: name\n            values: [{name}]\n    relabel_configs:\n      - source_labels: [__meta_docker_container_name]\n        target_label: container\n",
        positions.display()
    )
}

/// The numbers of the lines `<prefix><n> ...` among `lines`, in the order given.
fn numbers(lines: &[String], prefix: &str) -> Vec<u32> {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix(prefix)?.split(' ').next()?.parse().ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_dockerd_rotates_away_while_reading_is_paused_are_counted_and_logged() {
    if !docker_ready() {
        return;
    }
    let name = format!("ft-rotlost-{}", std::process::id());
    let (_c, id, _log) = rotating_container(&name);
    // Loki is down: the client retries forever, and once its bound is full reading pauses.
    let loki = FakeLoki::start().await;
    loki.fail_with(Some(500));
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let ft = Ferrotail::start(
        tmp.path(),
        &docker_job_config(&loki.url, &tmp.path().join("positions.yaml"), port, &name),
        port,
        &[],
    );
    ft.wait_up().await;
    write_lines(&id, "n=", 0, 0, 0);
    loki.wait_failed(1, Duration::from_secs(30)).await;
    // About 200 lines a second: dockerd rotates every half second, far faster than the reader,
    // which is paused, moves on.
    let last = 1500;
    let writer = {
        let id = id.clone();
        tokio::task::spawn_blocking(move || write_lines(&id, "n=", 1, last, 20))
    };
    writer.await.unwrap();
    ft.wait_metric(
        "ferrotail_docker_rotated_unread_files_total",
        &[
            "reason=\"deleted_unread\"",
            &format!("container=\"{name}\""),
        ],
        Duration::from_secs(20),
        |v| v >= 1.0,
    )
    .await;
    let log = ft.log();
    assert!(
        log.lines().any(
            |l| l.contains("deleted a json-file log before ferrotail read it")
                && l.contains(&format!("container={name}"))
                && l.contains(&id)
                && l.contains("-json.log")
        ),
        "{log}"
    );

    // Loki is back: what was not rotated away arrives, in order, the last line included.
    loki.fail_with(None);
    let last_line = format!("n={last} ");
    loki.wait_for("the last line", Duration::from_secs(60), |e| {
        e.iter().any(|x| x.line.starts_with(&last_line))
    })
    .await;
    let got = numbers(&loki.lines(), "n=");
    assert!(
        got.windows(2).all(|w| w[0] < w[1]),
        "in order, once: {got:?}"
    );
    // Every file counted was logged, its size counted, and it held at least one line.
    let files = ft
        .metric(
            "ferrotail_docker_rotated_unread_files_total",
            &[&format!("container=\"{name}\"")],
        )
        .await;
    let bytes = ft
        .metric(
            "ferrotail_docker_rotated_unread_bytes_total",
            &[&format!("container=\"{name}\"")],
        )
        .await;
    let warnings = ft
        .log()
        .lines()
        .filter(|l| l.contains("deleted a json-file log before ferrotail read it"))
        .count();
    assert_eq!(warnings as f64, files);
    assert!(bytes > 0.0);
    let missing = (last + 1) as usize - got.len();
    assert!(
        missing as f64 >= files,
        "{missing} lines missing, {files} files counted"
    );
    assert!(ft.stop().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_docker_log_rotated_while_ferrotail_was_stopped_is_counted_and_the_rest_read() {
    if !docker_ready() {
        return;
    }
    let name = format!("ft-rotstop-{}", std::process::id());
    let (_c, id, log_path) = rotating_container(&name);
    let loki = FakeLoki::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let positions = tmp.path().join("positions.yaml");
    let port = free_port();
    let cfg = docker_job_config(&loki.url, &positions, port, &name);
    let ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
    ft.wait_up().await;
    write_lines(&id, "n=", 1, 20, 0);
    loki.wait_for("first lines", Duration::from_secs(30), |e| e.len() >= 20)
        .await;
    assert!(ft.stop().await.success());

    // While ferrotail is stopped, dockerd rotates twice: the file it was reading (with lines it
    // never read) is deleted, the next one is `.1`. (Inode numbers do not tell: the new file
    // often gets the deleted one's inode; the first line does.)
    let rotated = {
        let mut p = log_path.as_os_str().to_owned();
        p.push(".1");
        std::path::PathBuf::from(p)
    };
    let starts_at_1 = |p: &std::path::Path| {
        std::fs::read_to_string(p).is_ok_and(|t| t.starts_with("{\"log\":\"n=1 "))
    };
    let mut n = 20;
    while starts_at_1(&log_path) || starts_at_1(&rotated) {
        write_lines(&id, "n=", n + 1, n + 10, 0);
        n += 10;
        assert!(n < 2000, "dockerd did not rotate");
    }
    let in_file = |p: &std::path::Path| {
        let text = std::fs::read_to_string(p).unwrap();
        let lines: Vec<String> = text.lines().map(String::from).collect();
        lines
            .iter()
            .filter_map(|l| {
                l.split("\"log\":\"n=")
                    .nth(1)?
                    .split(' ')
                    .next()?
                    .parse::<u32>()
                    .ok()
            })
            .collect::<Vec<u32>>()
    };
    let mut want: Vec<u32> = (1..=20).collect();
    let (older, newest) = (in_file(&rotated), in_file(&log_path));
    assert!(
        older[0] > 21,
        "lines 21.. of the deleted file are lost: {older:?}"
    );
    want.extend(older);
    want.extend(newest);

    let ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
    ft.wait_up().await;
    let last_line = format!("n={n} ");
    loki.wait_for("the last line", Duration::from_secs(30), |e| {
        e.iter().any(|x| x.line.starts_with(&last_line))
    })
    .await;
    assert_eq!(numbers(&loki.lines(), "n="), want);
    let counted = ft
        .wait_metric(
            "ferrotail_docker_rotated_unread_files_total",
            &[
                "reason=\"deleted_while_stopped\"",
                &format!("container=\"{name}\""),
            ],
            Duration::from_secs(5),
            |v| v >= 1.0,
        )
        .await;
    assert_eq!(counted, 1.0);
    assert!(ft
        .log()
        .lines()
        .any(|l| l.contains("deleted by dockerd's log rotation")
            && l.contains(&format!("container={name}"))
            && l.contains(&id)));
    assert!(ft.stop().await.success());
}
