//! `loki_push_api` end to end: a second ferrotail (the real binary) tailing a file and pushing to
//! the first one's push server, which relays to the fake Loki; `curl` with JSON and raw bodies;
//! refusals (bad input, compression bombs, a full pipeline).

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use prost::Message;

use crate::util::{append, free_port, FakeLoki, Ferrotail};

const WAIT: Duration = Duration::from_secs(30);

/// The common blocks: one client per URL, a server on `port`, patient retries.
fn base(clients: &[&str], positions: &Path, port: u16) -> String {
    let mut s = format!(
        "server:\n  http_listen_address: 127.0.0.1\n  http_listen_port: {port}\n  grpc_listen_port: 0\npositions:\n  filename: {}\n  sync_period: 100ms\ntarget_config:\n  sync_period: 200ms\nclients:\n",
        positions.display()
    );
    for url in clients {
        s.push_str(&format!(
            "  - url: {url}\n    batchwait: 100ms\n    backoff_config:\n      min_period: 50ms\n      max_period: 200ms\n      max_retries: 1000\n"
        ));
    }
    s
}

/// A `loki_push_api` job listening on `port`.
fn push_job(name: &str, port: u16, extra: &str) -> String {
    format!(
        "  - job_name: {name}\n    loki_push_api:\n      server:\n        http_listen_address: 127.0.0.1\n        http_listen_port: {port}\n        grpc_listen_port: 0\n{extra}"
    )
}

/// Waits until the push server on `port` answers `/ready` (it binds right after the main one).
async fn wait_push_ready(ft: &Ferrotail, port: u16) {
    ft.wait_up().await;
    let client = reqwest::Client::new();
    for _ in 0..400 {
        if let Ok(r) = client
            .get(format!("http://127.0.0.1:{port}/ready"))
            .send()
            .await
        {
            assert_eq!(r.status().as_u16(), 200);
            assert_eq!(r.text().await.unwrap(), "ready");
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("push server did not come up; stderr:\n{}", ft.log());
}

fn push_url(port: u16, path: &str) -> String {
    format!("http://127.0.0.1:{port}{path}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_a_second_ferrotail_with_labels_metadata_and_timestamps() {
    let tmp = tempfile::tempdir().unwrap();
    let (relay_dir, tail_dir) = (tmp.path().join("relay"), tmp.path().join("tail"));
    std::fs::create_dir_all(&relay_dir).unwrap();
    std::fs::create_dir_all(&tail_dir).unwrap();
    let loki = FakeLoki::start().await;
    // The relay: two push jobs, one keeping the incoming timestamps, one stamping receipt time;
    // both relabel (job copied to origin, filename dropped) and add a configured label.
    let (keep_port, now_port, relay_port) = (free_port(), free_port(), free_port());
    let relabel = "    relabel_configs:\n      - source_labels: [job]\n        target_label: origin\n      - action: labeldrop\n        regex: filename\n";
    let relay_cfg = format!(
        "{}scrape_configs:\n{}{}",
        base(&[&loki.url], &relay_dir.join("pos.yaml"), relay_port),
        push_job(
            "keep",
            keep_port,
            &format!(
                "      labels:\n        relay: keep\n      use_incoming_timestamp: true\n{relabel}"
            )
        ),
        push_job(
            "now",
            now_port,
            &format!("      labels:\n        relay: now\n{relabel}")
        ),
    );
    let relay = Ferrotail::start(&relay_dir, &relay_cfg, relay_port, &[]);
    wait_push_ready(&relay, keep_port).await;
    wait_push_ready(&relay, now_port).await;
    let (_, targets) = relay.get("/targets").await;
    assert!(
        targets.contains("loki_push_api listening on 127.0.0.1"),
        "{targets}"
    );
    let (status, _) = relay.get("/ready").await;
    assert_eq!(status, 200, "push jobs are ready as in Promtail");

    // The tailer: reads a file, takes the timestamp and a trace id (structured metadata) from
    // each line, and pushes to both push jobs.
    let log = tail_dir.join("app.log");
    append(&log, "");
    let tail_port = free_port();
    let tail_cfg = format!(
        "{}scrape_configs:\n  - job_name: tailed\n    pipeline_stages:\n      - regex:\n          expression: '^(?P<ts>\\d+) (?P<msg>\\S+) trace=(?P<trace>\\S+)$'\n      - timestamp:\n          source: ts\n          format: Unix\n      - structured_metadata:\n          trace_id: trace\n    static_configs:\n      - targets: [localhost]\n        labels:\n          job: tailed\n          __path__: {}\n",
        base(
            &[
                &push_url(keep_port, "/loki/api/v1/push"),
                &push_url(now_port, "/loki/api/v1/push"),
            ],
            &tail_dir.join("pos.yaml"),
            tail_port
        ),
        log.display()
    );
    let tailer = Ferrotail::start(&tail_dir, &tail_cfg, tail_port, &[]);
    tailer.wait_up().await;
    let started = ferrotail::core::entry::now_nanos();
    append(
        &log,
        "1700000000 hello trace=t1\n1700000001 world trace=t2\n",
    );
    loki.wait_for("both lines through both jobs", WAIT, |e| e.len() >= 4)
        .await;
    let entries = loki.entries();
    assert_eq!(entries.len(), 4, "{entries:#?}");
    for e in &entries {
        let relay_label = e.labels["relay"].clone();
        let want: std::collections::BTreeMap<String, String> = [
            ("job", "tailed"),
            ("origin", "tailed"),
            ("relay", relay_label.as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(e.labels, want, "relabelled, filename dropped");
        let (secs, trace) = if e.line.contains("hello") {
            (1_700_000_000i64, "t1")
        } else {
            (1_700_000_001, "t2")
        };
        assert_eq!(
            e.structured_metadata,
            vec![("trace_id".to_string(), trace.to_string())]
        );
        if relay_label == "keep" {
            assert_eq!(e.ts_nanos, secs * 1_000_000_000, "incoming timestamp kept");
        } else {
            assert!(e.ts_nanos >= started, "receipt time: {}", e.ts_nanos);
        }
    }
    let mut lines = loki.lines();
    lines.sort();
    assert_eq!(
        lines,
        [
            "1700000000 hello trace=t1",
            "1700000000 hello trace=t1",
            "1700000001 world trace=t2",
            "1700000001 world trace=t2"
        ]
    );
    relay
        .wait_metric(
            "ferrotail_push_entries_total",
            &["job=\"keep\"", "endpoint=\"push\""],
            WAIT,
            |v| v == 2.0,
        )
        .await;
    tailer.stop().await;
    relay.stop().await;
}

/// Runs curl and returns (status code, body).
fn curl(args: &[&str]) -> Option<(u16, String)> {
    let out = match std::process::Command::new("curl")
        .args(["-s", "-o", "-", "-w", "\n%{http_code}"])
        .args(args)
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            assert!(std::env::var_os("CI").is_none(), "curl is missing: {e}");
            eprintln!("NOTICE: curl is missing ({e}); skipping");
            return None;
        }
    };
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    Some((code.trim().parse().unwrap_or(0), body.to_string()))
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

/// A relay with one push job on `push_port`, returning the running ferrotail.
async fn start_relay(dir: &Path, loki: &FakeLoki, push_port: u16, extra: &str) -> (Ferrotail, u16) {
    let port = free_port();
    let cfg = format!(
        "{}scrape_configs:\n{}",
        base(&[&loki.url], &dir.join("pos.yaml"), port),
        push_job("push", push_port, extra)
    );
    let ft = Ferrotail::start(dir, &cfg, port, &[]);
    wait_push_ready(&ft, push_port).await;
    (ft, port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_json_gzip_json_and_raw_bodies() {
    let tmp = tempfile::tempdir().unwrap();
    let loki = FakeLoki::start().await;
    let push_port = free_port();
    let (ft, _) = start_relay(
        tmp.path(),
        &loki,
        push_port,
        "      labels:\n        src: curl\n      use_incoming_timestamp: true\n",
    )
    .await;
    let url = push_url(push_port, "/loki/api/v1/push");
    let json = r#"{"streams":[{"stream":{"app":"web","src":"overridden"},"values":[["1700000000000000001","json one"],["1700000000000000002","json two",{"user":"u1"}]]}]}"#;
    let Some((code, body)) = curl(&[
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        json,
        &url,
    ]) else {
        return;
    };
    assert_eq!((code, body.as_str()), (204, ""));
    let gz = tmp.path().join("body.json.gz");
    std::fs::write(
        &gz,
        gzip(
            r#"{"streams":[{"stream":{"app":"gz"},"values":[["1700000000000000003","gzipped"]]}]}"#
                .as_bytes(),
        ),
    )
    .unwrap();
    let (code, body) = curl(&[
        "-H",
        "Content-Type: application/json",
        "-H",
        "Content-Encoding: gzip",
        "--data-binary",
        &format!("@{}", gz.display()),
        &url,
    ])
    .unwrap();
    assert_eq!((code, body.as_str()), (204, ""), "gzip JSON");
    let (code, _) = curl(&[
        "--data-binary",
        "raw one\r\n\nraw two\n",
        &push_url(push_port, "/promtail/api/v1/raw"),
    ])
    .unwrap();
    assert_eq!(code, 204, "raw");
    loki.wait_for("5 entries", WAIT, |e| e.len() >= 5).await;
    let e = loki.entries();
    let find = |line: &str| {
        e.iter()
            .find(|x| x.line == line)
            .unwrap_or_else(|| panic!("{line} missing: {e:#?}"))
    };
    let one = find("json one");
    assert_eq!(one.labels["app"], "web");
    assert_eq!(one.labels["src"], "curl", "the configured label wins");
    assert_eq!(one.ts_nanos, 1_700_000_000_000_000_001);
    let two = find("json two");
    assert_eq!(
        two.structured_metadata,
        vec![("user".to_string(), "u1".to_string())]
    );
    assert_eq!(find("gzipped").labels["app"], "gz");
    for raw in ["raw one", "raw two"] {
        let r = find(raw);
        assert_eq!(
            r.labels.iter().collect::<Vec<_>>(),
            vec![(&"src".to_string(), &"curl".to_string())],
            "raw lines get the configured labels only"
        );
    }
    assert_eq!(e.len(), 5, "the empty raw line is skipped: {e:#?}");
    ft.stop().await;
}

fn proto_body(streams: &[(&str, &[&str])]) -> Vec<u8> {
    use ferrotail::client::proto::*;
    let req = PushRequest {
        streams: streams
            .iter()
            .map(|(labels, lines)| StreamAdapter {
                labels: labels.to_string(),
                entries: lines
                    .iter()
                    .map(|l| EntryAdapter {
                        timestamp: Some(Timestamp::from_nanos(1_700_000_000_000_000_000)),
                        line: l.to_string(),
                        structured_metadata: vec![],
                        parsed: vec![],
                    })
                    .collect(),
                hash: 0,
            })
            .collect(),
    };
    snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .unwrap()
}

async fn post(url: &str, headers: &[(&str, &str)], body: Vec<u8>) -> (u16, String) {
    let mut r = reqwest::Client::new().post(url).body(body);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// VmHWM (peak RSS) of a process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_with_loki_reasons_and_bounded_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let loki = FakeLoki::start().await;
    let push_port = free_port();
    let (ft, _) = start_relay(
        tmp.path(),
        &loki,
        push_port,
        "    relabel_configs:\n      - source_labels: [app]\n        regex: dropme\n        action: drop\n",
    )
    .await;
    let url = push_url(push_port, "/loki/api/v1/push");
    let proto = [("Content-Type", "application/x-protobuf")];
    let json = [("Content-Type", "application/json")];

    let (code, body) = post(&url, &proto, b"\xff\x00garbage".to_vec()).await;
    assert_eq!(code, 400, "{body}");
    let (code, body) = post(&url, &json, b"{\"streams\":[{\"stream\":".to_vec()).await;
    assert_eq!(code, 400, "{body}");
    let (code, body) = post(
        &url,
        &json,
        br#"{"streams":[{"stream":{"a":"b"},"values":[["notanumber","x"]]}]}"#.to_vec(),
    )
    .await;
    assert_eq!(code, 400);
    assert!(
        body.contains("strconv.ParseInt: parsing \"notanumber\": invalid syntax"),
        "{body}"
    );
    // One bad label string refuses the whole request: nothing of it is shipped.
    let (code, body) = post(
        &url,
        &proto,
        proto_body(&[
            ("{app=\"ok\"}", &["not shipped"]),
            ("{app-x=\"b\"}", &["bad"]),
        ]),
    )
    .await;
    assert_eq!(code, 400);
    assert!(
        body.starts_with("couldn't parse labels: 1:5: parse error:"),
        "{body}"
    );
    let (code, body) = post(
        &url,
        &[
            ("Content-Type", "application/json"),
            ("Content-Encoding", "br"),
        ],
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(
        (code, body.as_str()),
        (400, "Content-Encoding \"br\" not supported\n")
    );

    // A gzip bomb: 256 MiB of zeros in ~250 KiB, refused at the 64 MiB cap.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..256 {
        gz.write_all(&zeros).unwrap();
    }
    let bomb = gz.finish().unwrap();
    let (code, body) = post(
        &url,
        &[
            ("Content-Type", "application/json"),
            ("Content-Encoding", "gzip"),
        ],
        bomb,
    )
    .await;
    assert_eq!(code, 413, "{body}");
    // A snappy body declaring 100 MiB.
    let mut declared = Vec::new();
    let mut n: u64 = 100 << 20;
    while n >= 0x80 {
        declared.push((n as u8) | 0x80);
        n >>= 7;
    }
    declared.push(n as u8);
    declared.extend_from_slice(b"\x00\x00\x00");
    let (code, _) = post(&url, &proto, declared).await;
    assert_eq!(code, 413);
    let rss = peak_rss_kib(ft.child.id());
    assert!(rss < 200 * 1024, "peak RSS {rss} KiB after the bombs");
    ft.wait_metric(
        "ferrotail_push_rejected_requests_total",
        &["reason=\"too_large\""],
        WAIT,
        |v| v == 2.0,
    )
    .await;
    ft.wait_metric(
        "ferrotail_push_rejected_requests_total",
        &["reason=\"bad_request\""],
        WAIT,
        |v| v == 5.0,
    )
    .await;

    // A stream dropped by relabelling is skipped; the request's other streams are kept.
    let (code, _) = post(
        &url,
        &proto,
        proto_body(&[
            ("{app=\"dropme\"}", &["dropped"]),
            ("{app=\"kept\"}", &["kept line"]),
        ]),
    )
    .await;
    assert_eq!(code, 204);
    loki.wait_for("the kept stream", WAIT, |e| !e.is_empty())
        .await;
    assert_eq!(loki.lines(), ["kept line"]);
    ft.wait_metric("ferrotail_push_dropped_entries_total", &[], WAIT, |v| {
        v == 1.0
    })
    .await;
    let log = ft.log();
    assert!(
        log.contains("failed to parse incoming push request") && log.contains("peer=127.0.0.1:"),
        "{log}"
    );
    // Wrong method, unknown path.
    let r = reqwest::get(&url).await.unwrap();
    assert_eq!(r.status().as_u16(), 405);
    let r = reqwest::get(push_url(push_port, "/nope")).await.unwrap();
    assert_eq!(r.status().as_u16(), 404);
    ft.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_pipeline_answers_429_then_accepts_the_retry() {
    let tmp = tempfile::tempdir().unwrap();
    let loki = FakeLoki::start().await;
    loki.fail_with(Some(500));
    let push_port = free_port();
    let (ft, _) = start_relay(tmp.path(), &loki, push_port, "").await;
    let url = push_url(push_port, "/loki/api/v1/push");
    let proto = [("Content-Type", "application/x-protobuf")];
    let mut accepted = Vec::new();
    let mut refused = None;
    // Lines of 100 KB, so batches fill by size (1 MiB) rather than by time.
    let pad = "x".repeat(100_000);
    for i in 0..2000 {
        let line = format!("line {i} {pad}");
        let (code, body) = post(&url, &proto, proto_body(&[("{app=\"a\"}", &[&line])])).await;
        match code {
            204 => accepted.push(line),
            429 => {
                assert!(body.contains("retry later"), "{body}");
                refused = Some(line);
                break;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    let refused = refused.expect("a 429 once the pipeline is full");
    assert!(!accepted.is_empty());
    ft.wait_metric(
        "ferrotail_push_rejected_requests_total",
        &["reason=\"pipeline_full\""],
        WAIT,
        |v| v >= 1.0,
    )
    .await;
    // Loki recovers; the sender retries the refused request until it is accepted.
    loki.fail_with(None);
    let mut ok = false;
    for _ in 0..100 {
        let (code, _) = post(&url, &proto, proto_body(&[("{app=\"a\"}", &[&refused])])).await;
        if code == 204 {
            ok = true;
            break;
        }
        assert_eq!(code, 429);
    }
    assert!(ok, "the retry was accepted");
    accepted.push(refused);
    let want = accepted.len();
    loki.wait_for("every accepted line", WAIT, |e| e.len() >= want)
        .await;
    let mut got = loki.lines();
    got.sort();
    accepted.sort();
    assert_eq!(got, accepted, "each accepted line once, nothing lost");
    ft.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_syntax_accepts_push_and_gelf_and_names_bad_labels() {
    let tmp = tempfile::tempdir().unwrap();
    let write = |name: &str, scrape: &str| {
        let p = tmp.path().join(name);
        std::fs::write(
            &p,
            format!("clients:\n  - url: http://127.0.0.1:1/loki/api/v1/push\npositions:\n  filename: {}/pos.yaml\nscrape_configs:\n{scrape}", tmp.path().display()),
        )
        .unwrap();
        p
    };
    let ok = write(
        "ok.yml",
        "  - job_name: p\n    loki_push_api:\n      server:\n        http_listen_port: 3500\n      labels: {a: b}\n  - job_name: g\n    gelf:\n      listen_address: 127.0.0.1:12201\n",
    );
    let (code, out, err) =
        crate::util::run_to_end(&["-check-syntax", &format!("-config.file={}", ok.display())]);
    assert_eq!(code, 0, "{out}{err}");
    let bad = write(
        "bad.yml",
        "  - job_name: p\n    loki_push_api:\n      labels: {a-b: c}\n",
    );
    let (code, out, err) =
        crate::util::run_to_end(&["-check-syntax", &format!("-config.file={}", bad.display())]);
    assert_ne!(code, 0);
    assert!(
        format!("{out}{err}").contains("\"a-b\" is not a valid label name"),
        "{out}{err}"
    );
    let bad_key = write(
        "badkey.yml",
        "  - job_name: g\n    gelf:\n      listen_adress: x\n",
    );
    let (code, out, err) = crate::util::run_to_end(&[
        "-check-syntax",
        &format!("-config.file={}", bad_key.display()),
    ]);
    assert_ne!(code, 0);
    assert!(
        format!("{out}{err}")
            .contains("field listen_adress not found in type scrapeconfig.GelfTargetConfig"),
        "{out}{err}"
    );
}
