//! Reload: SIGHUP and `POST /reload` apply a changed config without losing or repeating a line;
//! an invalid or unchanged config keeps the running one and is counted as a failure.

use std::time::Duration;

use crate::util::{append, config, free_port, FakeLoki, Ferrotail};

const WAIT: Duration = Duration::from_secs(20);

fn job(dir: &std::path::Path, env: &str) -> String {
    format!(
        "  - job_name: files\n    static_configs:\n      - targets: [localhost]\n        labels:\n          job: files\n          env: {env}\n          __path__: {}/*.log\n",
        dir.display()
    )
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_and_post_reload_apply_changes_without_loss() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let file = logs.join("app.log");
    append(&file, "one\n");
    let loki = FakeLoki::start().await;
    let port = free_port();
    let pos = tmp.path().join("pos.yaml");
    let extra = "";
    let mk = |env: &str| {
        config(&loki.url, &pos, port, extra, &job(&logs, env)).replace(
            "  grpc_listen_port: 0\n",
            "  grpc_listen_port: 0\n  enable_runtime_reload: true\n",
        )
    };
    let ft = Ferrotail::start(tmp.path(), &mk("a"), port, &[]);
    ft.wait_up().await;
    loki.wait_for("one", WAIT, |e| !e.is_empty()).await;

    // An invalid config is refused and counted; the running config keeps shipping.
    std::fs::write(tmp.path().join("config.yml"), "clients: [\n").unwrap();
    ft.signal(libc::SIGHUP);
    for _ in 0..200 {
        if metric(
            &ft.get("/metrics").await.1,
            "promtail_config_reload_fail_total",
        ) >= 1.0
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        metric(
            &ft.get("/metrics").await.1,
            "promtail_config_reload_fail_total"
        ),
        1.0
    );
    append(&file, "two\n");
    loki.wait_for("two", WAIT, |e| e.iter().any(|e| e.line == "two"))
        .await;

    // SIGHUP with a changed config: new lines carry the new label, nothing repeats.
    std::fs::write(tmp.path().join("config.yml"), mk("b")).unwrap();
    ft.signal(libc::SIGHUP);
    for _ in 0..200 {
        if metric(
            &ft.get("/metrics").await.1,
            "promtail_config_reload_success_total",
        ) >= 1.0
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    append(&file, "three\n");
    loki.wait_for("three", WAIT, |e| e.iter().any(|e| e.line == "three"))
        .await;

    // POST /reload.
    std::fs::write(tmp.path().join("config.yml"), mk("c")).unwrap();
    let r = reqwest::Client::new()
        .post(ft.url("/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = reqwest::Client::new()
        .post(ft.url("/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        500,
        "unchanged config is a failed reload"
    );
    assert!(r.text().await.unwrap().contains("config has not changed"));
    append(&file, "four\n");
    loki.wait_for("four", WAIT, |e| e.iter().any(|e| e.line == "four"))
        .await;
    assert!(ft.stop().await.success());

    let entries = loki.entries();
    let lines: Vec<&str> = entries.iter().map(|e| e.line.as_str()).collect();
    assert_eq!(lines, vec!["one", "two", "three", "four"]);
    let env = |l: &str| entries.iter().find(|e| e.line == l).unwrap().labels["env"].clone();
    assert_eq!(
        (env("one"), env("two"), env("three"), env("four")),
        ("a".into(), "a".into(), "b".into(), "c".into())
    );
}
