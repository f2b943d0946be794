//! The clients' HTTP settings that Promtail users rely on, through the real binary:
//! `http_headers` (values, secrets and files) reach Loki, and `no_proxy` sends a push past a
//! configured `proxy_url`.

use std::time::Duration;

use crate::util::{free_port, DownPort, FakeLoki, Ferrotail};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_headers_reach_loki_and_no_proxy_bypasses_the_proxy() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::write(logs.join("a.log"), "hello\n").unwrap();
    let token = tmp.path().join("token");
    std::fs::write(&token, "from-file\n").unwrap();
    let loki = FakeLoki::start().await;
    let port = free_port();
    // The proxy port is closed: a push that went through it would fail and be retried forever.
    // Held for the whole test: refused, and no other test can take the port.
    let dead_port = DownPort::new();
    let dead = dead_port.port();
    let cfg = format!(
        "server:\n  http_listen_address: 127.0.0.1\n  http_listen_port: {port}\npositions:\n  filename: {pos}\nclients:\n  - url: {url}\n    batchwait: 100ms\n    proxy_url: http://127.0.0.1:{dead}\n    no_proxy: 127.0.0.1,localhost\n    proxy_connect_header:\n      X-Proxy: [p]\n    http_headers:\n      X-Scope-Extra:\n        values: [v1]\n        secrets: [s1]\n      X-File:\n        files: [{token}]\nscrape_configs:\n  - job_name: files\n    static_configs:\n      - labels:\n          __path__: {logs}/*.log\n",
        pos = tmp.path().join("pos.yaml").display(),
        url = loki.url,
        token = token.display(),
        logs = logs.display(),
    );
    let ft = Ferrotail::start(tmp.path(), &cfg, port, &[]);
    ft.wait_up().await;
    loki.wait_for("the line, pushed directly", Duration::from_secs(20), |e| {
        e.iter().any(|e| e.line == "hello")
    })
    .await;
    let headers = loki.headers();
    let h = headers.first().expect("a push");
    let all = |name: &str| -> Vec<String> {
        h.get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(all("x-scope-extra"), vec!["v1", "s1"]);
    assert_eq!(all("x-file"), vec!["from-file"]);
    assert!(
        h.get("x-proxy").is_none(),
        "proxy headers go to the proxy only"
    );
    assert!(ft.stop().await.success());
}
