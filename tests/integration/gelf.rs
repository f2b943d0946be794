//! `gelf` end to end: UDP datagrams built as Docker's gelf driver (go-gelf) builds them
//! (uncompressed, gzip, zlib, chunked) become entries with Promtail's line and relabelled
//! `__gelf_*` labels; and, where Docker works, a real `docker run --log-driver gelf`.

use std::io::Write;
use std::time::Duration;

use crate::util::{config, free_port, FakeLoki, Ferrotail};

const WAIT: Duration = Duration::from_secs(30);

fn gelf_job(port: u16, extra: &str) -> String {
    format!(
        "  - job_name: gelf\n    gelf:\n      listen_address: 127.0.0.1:{port}\n      labels:\n        source: gelf\n{extra}    relabel_configs:\n      - source_labels: [__gelf_message_host]\n        target_label: host\n      - source_labels: [__gelf_message_level]\n        target_label: level\n      - source_labels: [__gelf_message_facility]\n        target_label: facility\n      - source_labels: [__gelf_message_host]\n        regex: dropped-host\n        action: drop\n"
    )
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// go-gelf's chunking: magic, 8-byte id, sequence number, count, then the piece.
fn chunks(id: [u8; 8], payload: &[u8], size: usize) -> Vec<Vec<u8>> {
    let pieces: Vec<&[u8]> = payload.chunks(size).collect();
    pieces
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut d = vec![0x1e, 0x0f];
            d.extend_from_slice(&id);
            d.push(i as u8);
            d.push(pieces.len() as u8);
            d.extend_from_slice(p);
            d
        })
        .collect()
}

/// A message as Docker's gelf driver writes it (go-gelf marshals fields in this order).
fn message(host: &str, short: &str, level: i32, ts: &str) -> String {
    format!(
        r#"{{"version":"1.1","host":"{host}","short_message":"{short}","timestamp":{ts},"level":{level},"facility":"app","_command":"echo","_container_id":"abc123","_container_name":"web","_created":"2024-01-01T00:00:00Z","_image_id":"sha256:1","_image_name":"busybox","_tag":"abc123"}}"#
    )
}

async fn wait_gelf_ready(ft: &Ferrotail) {
    ft.wait_up().await;
    for _ in 0..400 {
        let (_, t) = ft.get("/targets").await;
        if t.contains("gelf listening on udp") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("gelf target did not start; stderr:\n{}", ft.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gelf_datagrams_plain_gzip_zlib_chunked() {
    let tmp = tempfile::tempdir().unwrap();
    let loki = FakeLoki::start().await;
    let (port, udp) = (free_port(), free_udp_port());
    let ft = Ferrotail::start(
        tmp.path(),
        &config(
            &loki.url,
            &tmp.path().join("pos.yaml"),
            port,
            "",
            &gelf_job(udp, "      use_incoming_timestamp: true\n"),
        ),
        port,
        &[],
    );
    wait_gelf_ready(&ft).await;
    let (status, _) = ft.get("/ready").await;
    assert_eq!(status, 200);
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = format!("127.0.0.1:{udp}");
    let plain = message("h-plain", "plain", 6, "1700000000.5");
    sock.send_to(plain.as_bytes(), &to).unwrap();
    sock.send_to(
        &gzip(message("h-gzip", "gzipped", 3, "1700000001").as_bytes()),
        &to,
    )
    .unwrap();
    sock.send_to(
        &zlib(message("h-zlib", "zlibbed", 4, "1700000002").as_bytes()),
        &to,
    )
    .unwrap();
    // A long message, gzip-compressed then chunked (sent out of order, as UDP may deliver).
    let long = "y".repeat(6000);
    let payload = gzip(message("h-chunk", &long, 7, "1700000003").as_bytes());
    let mut parts = chunks(*b"ABCDEFGH", &payload, 100);
    assert!(parts.len() > 1);
    parts.reverse();
    for p in &parts {
        sock.send_to(p, &to).unwrap();
    }
    // Garbage and a message the relabel rules drop are counted, not shipped.
    sock.send_to(b"{not json", &to).unwrap();
    sock.send_to(message("dropped-host", "dropped", 6, "1").as_bytes(), &to)
        .unwrap();
    loki.wait_for("four messages", WAIT, |e| e.len() >= 4).await;
    ft.wait_metric(
        "ferrotail_gelf_dropped_total",
        &["reason=\"json\""],
        WAIT,
        |v| v == 1.0,
    )
    .await;
    ft.wait_metric(
        "ferrotail_gelf_dropped_total",
        &["reason=\"relabel\""],
        WAIT,
        |v| v == 1.0,
    )
    .await;
    assert_eq!(
        ft.metric("promtail_gelf_target_parsing_errors_total", &[])
            .await,
        1.0
    );
    assert_eq!(
        ft.metric("promtail_gelf_target_entries_total", &[]).await,
        4.0
    );
    let e = loki.entries();
    assert_eq!(e.len(), 4, "{e:#?}");
    let find = |host: &str| {
        e.iter()
            .find(|x| x.labels.get("host").map(String::as_str) == Some(host))
            .unwrap_or_else(|| panic!("{host} missing: {e:#?}"))
    };
    let p = find("h-plain");
    // Promtail's line: the message re-marshalled by go-gelf (fields in its order, extras
    // sorted by name).
    assert_eq!(p.line, plain);
    assert_eq!(p.ts_nanos, 1_700_000_000_500_000_000);
    let want: std::collections::BTreeMap<String, String> = [
        ("source", "gelf"),
        ("host", "h-plain"),
        ("level", "informational"),
        ("facility", "app"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(
        p.labels, want,
        "__gelf_ labels relabelled, the rest removed"
    );
    assert_eq!(find("h-gzip").labels["level"], "error");
    assert_eq!(find("h-gzip").ts_nanos, 1_700_000_001_000_000_000);
    assert_eq!(find("h-zlib").labels["level"], "warning");
    let c = find("h-chunk");
    assert_eq!(c.labels["level"], "debug");
    assert!(c.line.contains(&long));
    ft.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_gelf_log_driver() {
    if !crate::util::docker::docker_ready() {
        assert!(
            std::env::var_os("CI").is_none(),
            "Docker is required with CI set"
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let loki = FakeLoki::start().await;
    let (port, udp) = (free_port(), free_udp_port());
    let ft = Ferrotail::start(
        tmp.path(),
        &config(
            &loki.url,
            &tmp.path().join("pos.yaml"),
            port,
            "",
            &gelf_job(udp, ""),
        ),
        port,
        &[],
    );
    wait_gelf_ready(&ft).await;
    let name = format!("ferrotail-gelf-{}", std::process::id());
    crate::util::docker::docker(&[
        "run",
        "--rm",
        "--name",
        &name,
        "--log-driver",
        "gelf",
        "--log-opt",
        &format!("gelf-address=udp://127.0.0.1:{udp}"),
        crate::util::docker::IMAGE,
        "echo",
        "hi from docker",
    ]);
    loki.wait_for("the container's line", WAIT, |e| {
        e.iter()
            .any(|x| x.line.contains("\"short_message\":\"hi from docker\""))
    })
    .await;
    let e = loki.entries();
    let x = e
        .iter()
        .find(|x| x.line.contains("hi from docker"))
        .unwrap();
    assert!(
        x.line.contains(&format!("\"_container_name\":\"{name}\"")),
        "{}",
        x.line
    );
    assert_eq!(x.labels["source"], "gelf");
    assert_eq!(x.labels["level"], "informational", "stdout is level 6");
    assert!(!x.labels["host"].is_empty());
    ft.stop().await;
}
