//! Bad input beyond log lines (#17): a positions file truncated mid-write, and a Loki that never
//! answers, answers 200 with a body, or trickles that body. Each gets a clear message, a counted
//! metric where Promtail has one, and no lost line.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use prost::Message;

use crate::util::{append, config, free_port, FakeLoki, Ferrotail};

const WAIT: Duration = Duration::from_secs(30);

fn scrape(logs: &Path) -> String {
    format!(
        "  - job_name: files\n    static_configs:\n      - targets: [localhost]\n        labels:\n          job: files\n          __path__: {}/*.log\n",
        logs.display()
    )
}

fn lines(prefix: &str, range: std::ops::Range<usize>) -> String {
    range.map(|i| format!("{prefix} {i:05}\n")).collect()
}

/// Promtail's `positions.ignore_invalid_yaml` semantics for a file cut off mid-write: without the
/// flag, a clear error and exit 1 (no panic); with it, the complete entries are kept (Promtail
/// would start empty and ship every file again), the cut entry's file is read from its start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_positions_file_truncated_mid_write_keeps_its_complete_entries() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let (app, other) = (logs.join("app.log"), logs.join("other.log"));
    let app_text = lines("app", 0..10);
    std::fs::write(&app, &app_text).unwrap();
    std::fs::write(&other, lines("other", 0..3)).unwrap();
    let six = lines("app", 0..6).len();
    let pos = tmp.path().join("pos.yaml");
    std::fs::write(
        &pos,
        format!(
            "positions:\n  {}: \"{six}\"\n  {}: \"1",
            app.display(),
            other.display()
        ),
    )
    .unwrap();
    let loki = FakeLoki::start().await;
    let port = free_port();
    let cfg = config(&loki.url, &pos, port, "", &scrape(&logs));

    let mut ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
    let deadline = std::time::Instant::now() + WAIT;
    let status = loop {
        if let Some(st) = ft.child.try_wait().unwrap() {
            break st;
        }
        assert!(std::time::Instant::now() < deadline, "did not exit");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let log = ft.log();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(
        log.contains(&format!("invalid yaml positions file [{}]", pos.display())),
        "{log}"
    );
    assert!(!log.contains("panicked"), "{log}");
    drop(ft);

    let ft = Ferrotail::start(tmp.path(), &cfg, port, &["-positions.ignore-invalid-yaml"]);
    ft.wait_up().await;
    let want: Vec<String> = lines("app", 6..10)
        .lines()
        .chain(lines("other", 0..3).lines())
        .map(String::from)
        .collect();
    loki.wait_for("the unread lines", WAIT, |e| {
        let got: HashSet<&str> = e.iter().map(|e| e.line.as_str()).collect();
        want.iter().all(|w| got.contains(w.as_str()))
    })
    .await;
    let log = ft.log();
    assert!(ft.stop().await.success());
    let got = loki.lines();
    assert!(
        !got.iter()
            .any(|l| l.starts_with("app 0000") && l < &"app 00006".to_string()),
        "lines before the kept position were shipped again: {got:?}"
    );
    assert!(
        log.contains("ignoring invalid positions file; keeping the complete entries it holds"),
        "{log}"
    );
    assert!(log.contains("recovered=1"), "{log}");
}

/// How the scripted Loki answers.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Mode {
    /// Reads the push and never answers.
    Never,
    /// 200 with a body (Loki answers 204; a proxy or another server may not).
    OkWithBody,
    /// 200 at once, then a body that trickles a byte every 200 ms and never ends.
    OkTrickle,
}

#[derive(Clone)]
struct Scripted {
    mode: Arc<Mutex<Mode>>,
    lines: Arc<Mutex<Vec<String>>>,
}

async fn scripted_push(State(s): State<Scripted>, body: Bytes) -> Response {
    let mode = *s.mode.lock().unwrap();
    if mode == Mode::Never {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
    let req = ferrotail::client::proto::PushRequest::decode(&raw[..]).unwrap();
    s.lines.lock().unwrap().extend(
        req.streams
            .iter()
            .flat_map(|st| st.entries.iter().map(|e| e.line.clone())),
    );
    let body = match mode {
        Mode::OkTrickle => Body::from_stream(futures_util::stream::unfold((), |()| async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            Some((Ok::<_, std::io::Error>(Bytes::from_static(b"x")), ()))
        })),
        _ => Body::from("{\"status\":\"ok\"}\n".repeat(1000)),
    };
    Response::builder()
        .status(StatusCode::OK)
        .body(body)
        .unwrap()
}

/// A Loki that never answers: every push times out after the client's `timeout`, is retried and
/// counted (`promtail_batch_retries_total`, as in Promtail) with a clear message. Then it answers
/// 200 with a body, and 200 with a body that never ends: both are deliveries (Promtail reads no
/// body on success), the positions move, and every line arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loki_that_never_answers_or_answers_200_with_a_body() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let file = logs.join("app.log");
    let first = lines("first", 0..20);
    std::fs::write(&file, &first).unwrap();
    let s = Scripted {
        mode: Arc::new(Mutex::new(Mode::Never)),
        lines: Arc::default(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/loki/api/v1/push", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/loki/api/v1/push", post(scripted_push))
        .with_state(s.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let pos = tmp.path().join("pos.yaml");
    let port = free_port();
    let cfg = config(&url, &pos, port, "", &scrape(&logs)).replace(
        "    batchwait: 100ms\n",
        "    batchwait: 100ms\n    timeout: 300ms\n",
    );
    let ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
    ft.wait_up().await;

    ft.wait_metric("promtail_batch_retries_total", &[], WAIT, |v| v >= 2.0)
        .await;
    let log = ft.log();
    assert!(log.contains("error sending batch, will retry"), "{log}");
    assert!(log.contains("status=-1"), "{log}");
    assert!(log.contains("timed out"), "{log}");
    assert!(
        ft.metric(
            "promtail_request_duration_seconds_count",
            &["status_code=\"-1\""]
        )
        .await
            >= 2.0
    );
    assert!(s.lines.lock().unwrap().is_empty());

    *s.mode.lock().unwrap() = Mode::OkWithBody;
    let size = first.len() as f64;
    ft.wait_metric("ferrotail_acknowledged_bytes", &[], WAIT, |v| v >= size)
        .await;
    let retries = ft.metric("promtail_batch_retries_total", &[]).await;

    *s.mode.lock().unwrap() = Mode::OkTrickle;
    let second = lines("second", 0..20);
    append(&file, &second);
    let size = (first.len() + second.len()) as f64;
    ft.wait_metric("ferrotail_acknowledged_bytes", &[], WAIT, |v| v >= size)
        .await;
    assert_eq!(
        ft.metric("promtail_batch_retries_total", &[]).await,
        retries,
        "a 200 is not retried, whatever its body"
    );
    assert!(ft.metric("promtail_sent_entries_total", &[]).await >= 40.0);
    assert!(ft.stop().await.success());
    let got: HashSet<String> = s.lines.lock().unwrap().iter().cloned().collect();
    for l in first.lines().chain(second.lines()) {
        assert!(got.contains(l), "{l} lost");
    }
}
