//! A Docker daemon that answers garbage and closes streams mid-frame (#17 "Bad input"): a fake
//! daemon on a unix socket, so this runs without Docker. Discovery retries a garbled container
//! list, a container's log reader retries a garbled version answer, and a log stream cut off
//! mid-frame (after a chunk that is no frame at all) resumes without losing or repeating a line.
//! The garbage line is counted in `promtail_docker_target_parsing_errors_total`, as in Promtail.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Router;

use crate::util::{free_port, FakeLoki, Ferrotail};

const WAIT: Duration = Duration::from_secs(30);
const LINES: usize = 10;

fn id() -> String {
    "c0ffee".repeat(10) + "abcd"
}

#[derive(Default)]
struct Daemon {
    version_calls: AtomicUsize,
    list_calls: AtomicUsize,
    logs_calls: AtomicUsize,
    /// Set once the container was listed: the next `/version` (the log reader's) is garbage.
    garble_next_version: AtomicBool,
    /// A `/version` was answered with garbage once.
    garbled: AtomicBool,
}

fn json(text: String) -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(Body::from(text))
        .unwrap()
}

/// Docker's multiplexed frame: stream 1 (stdout), big-endian length, payload.
fn frame(payload: &str) -> Vec<u8> {
    let mut f = vec![1u8, 0, 0, 0];
    f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    f.extend_from_slice(payload.as_bytes());
    f
}

fn log_line(i: usize) -> String {
    format!("2026-01-01T00:00:{i:02}.000000001Z line {i}\n")
}

fn stream(chunks: Vec<Vec<u8>>, then_hold: bool) -> Body {
    let items = futures_util::stream::iter(
        chunks
            .into_iter()
            .map(|c| Ok::<_, std::io::Error>(Bytes::from(c))),
    );
    if then_hold {
        use futures_util::StreamExt;
        Body::from_stream(items.chain(futures_util::stream::pending()))
    } else {
        Body::from_stream(items)
    }
}

async fn daemon(State(d): State<Arc<Daemon>>, req: Request) -> Response {
    let full = req.uri().path().to_string();
    // Strip the API version prefix (`/v1.47/containers/json`).
    let path = match full.strip_prefix("/v1.") {
        Some(rest) => rest.find('/').map(|i| &rest[i..]).unwrap_or("/"),
        None => full.as_str(),
    };
    let id = id();
    match path {
        "/_ping" => Response::new(Body::from("OK")),
        "/version" => {
            d.version_calls.fetch_add(1, Ordering::SeqCst);
            if d.garble_next_version.swap(false, Ordering::SeqCst) {
                d.garbled.store(true, Ordering::SeqCst);
                return json("<html>502 Bad Gateway".into());
            }
            json(r#"{"ApiVersion":"1.43","MinAPIVersion":"1.12","Version":"24.0.0","Os":"linux","Arch":"amd64"}"#.into())
        }
        "/containers/json" => {
            if d.list_calls.fetch_add(1, Ordering::SeqCst) == 0 {
                // Cut off mid-answer.
                return json(format!("[{{\"Id\": \"{id}\", \"Names\": [\"/gar"));
            }
            if !d.garbled.load(Ordering::SeqCst) {
                d.garble_next_version.store(true, Ordering::SeqCst);
            }
            json(format!(
                r#"[{{"Id":"{id}","Names":["/garbage-test"],"Image":"busybox","Labels":{{}},"State":"running","Status":"Up","Ports":[],"HostConfig":{{"NetworkMode":"bridge"}},"NetworkSettings":{{"Networks":{{"bridge":{{"NetworkID":"net1","IPAddress":"172.17.0.2"}}}}}}}}]"#
            ))
        }
        "/networks" => json(
            r#"[{"Name":"bridge","Id":"net1","Scope":"local","Driver":"bridge","Internal":false,"Ingress":false,"Labels":{}}]"#.into(),
        ),
        "/events" => Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "application/json")
            .body(stream(Vec::new(), true))
            .unwrap(),
        p if p == format!("/containers/{id}/json") => json(format!(
            r#"{{"Id":"{id}","Name":"/garbage-test","State":{{"Status":"running","Running":true}},"LogPath":"","HostConfig":{{"LogConfig":{{"Type":"local","Config":{{}}}},"NetworkMode":"bridge"}},"Config":{{"Tty":false,"Labels":{{}}}}}}"#
        )),
        p if p == format!("/containers/{id}/logs") => {
            let call = d.logs_calls.fetch_add(1, Ordering::SeqCst);
            let body = if call == 0 {
                // Five good frames, a chunk that is no frame at all, then a frame cut off in its
                // payload, and the connection closes.
                let mut chunks: Vec<Vec<u8>> = (0..5).map(|i| frame(&log_line(i))).collect();
                chunks.push(b"NOT A DOCKER FRAME\n".to_vec());
                let cut = frame(&log_line(5));
                chunks.push(cut[..cut.len() - 6].to_vec());
                stream(chunks, false)
            } else {
                // The whole log again (the daemon ignores `since` here), then the stream stays
                // open.
                stream((0..LINES).map(|i| frame(&log_line(i))).collect(), true)
            };
            Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/vnd.docker.multiplexed-stream")
                .body(body)
                .unwrap()
        }
        _ => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .header("content-type", "application/json")
            .body(Body::from(format!("{{\"message\":\"page not found: {full}\"}}")))
            .unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_that_answers_garbage_or_closes_mid_stream_loses_no_line() {
    let tmp = tempfile::tempdir().unwrap();
    let sock = tmp.path().join("docker.sock");
    let listener = tokio::net::UnixListener::bind(&sock).unwrap();
    let d = Arc::new(Daemon::default());
    let app = Router::new().fallback(daemon).with_state(Arc::clone(&d));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let loki = FakeLoki::start().await;
    let port = free_port();
    let scrape = format!(
        "  - job_name: docker\n    docker_sd_configs:\n      - host: unix://{}\n        refresh_interval: 1s\n    relabel_configs:\n      - source_labels: [__meta_docker_container_name]\n        target_label: container\n",
        sock.display()
    );
    let cfg = crate::util::config(&loki.url, &tmp.path().join("pos.yaml"), port, "", &scrape);
    let ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
    ft.wait_up().await;
    let want: Vec<String> = (0..LINES).map(|i| format!("line {i}")).collect();
    let got_all = loki
        .wait_until(WAIT, |e| {
            want.iter().all(|w| e.iter().any(|x| &x.line == w))
        })
        .await;
    let log = ft.log();
    assert!(
        got_all,
        "lines missing: got {:?}; daemon calls: version {}, list {}, logs {}\nstderr:\n{log}",
        loki.lines(),
        d.version_calls.load(Ordering::SeqCst),
        d.list_calls.load(Ordering::SeqCst),
        d.logs_calls.load(Ordering::SeqCst),
    );
    ft.wait_metric(
        "promtail_docker_target_parsing_errors_total",
        &[],
        WAIT,
        |v| v >= 1.0,
    )
    .await;
    assert!(ft.stop().await.success());
    let lines = loki.lines();
    for w in &want {
        assert_eq!(
            lines.iter().filter(|l| *l == w).count(),
            1,
            "{w} not shipped exactly once: {lines:?}"
        );
    }
    assert_eq!(lines.len(), LINES, "{lines:?}");
    assert!(
        loki.entries()
            .iter()
            .all(|e| e.labels.get("container").map(String::as_str) == Some("/garbage-test")),
        "{:?}",
        loki.entries()
    );
    // Each failure has a clear message.
    assert!(log.contains("error while listing containers"), "{log}");
    assert!(
        log.contains("could not connect to the Docker daemon to transfer logs; retrying"),
        "{log}"
    );
    assert!(
        log.contains("docker log stream broke; reconnecting"),
        "{log}"
    );
    assert!(
        log.contains("error reading docker log line, skipping line"),
        "{log}"
    );
    assert!(!log.contains("panicked"), "{log}");
}
