//! Secrets stay secret: a run with a secret in every place a config can hold one (client
//! `basic_auth`, `bearer_token`, `bearer_token_file`, `authorization`, URL user info,
//! `docker_sd_configs` and `kubernetes_sd_configs` credentials and hosts), at debug level, with
//! `-print-config-stderr`, pushes that fail and discoveries that cannot connect. No output
//! (stderr, `/metrics`, `/targets`, the printed config, Loki's request lines) holds a secret value.

use std::time::Duration;

use crate::util::{config, free_port, DownPort, FakeLoki, Ferrotail};

const SECRETS: &[&str] = &[
    "URLPASS1x",
    "BASICPASS2x",
    "BEARER3x",
    "AUTHCRED4x",
    "FILESECRET5x",
    "DOCKERURLPASS6x",
    "DOCKERPASS7x",
    "KUBEURLPASS8x",
    "KUBEBEARER9x",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_logs_print_config_targets_metrics_or_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let loki = FakeLoki::start().await;
    // The first pushes fail (errors with the client's URL are logged), then Loki recovers.
    loki.script(&[500]);
    // Held for the whole test: refused, and no other test can take the port.
    let closed_port = DownPort::new();
    let closed = closed_port.port();
    let token_file = tmp.path().join("token");
    std::fs::write(&token_file, "FILESECRET5x\n").unwrap();
    let port = free_port();
    let loki_userinfo = loki.url.replacen("http://", "http://alice:URLPASS1x@", 1);
    let extra = format!(
        "  - url: {loki}\n    basic_auth:\n      username: bob\n      password: BASICPASS2x\n    backoff_config:\n      min_period: 50ms\n      max_period: 100ms\n      max_retries: 2\n  - url: http://carol:URLPASS1x@127.0.0.1:{closed}/loki/api/v1/push\n    bearer_token: BEARER3x\n    backoff_config:\n      min_period: 50ms\n      max_period: 100ms\n      max_retries: 1\n  - url: {loki}\n    authorization:\n      type: Bearer\n      credentials: AUTHCRED4x\n  - url: {loki_userinfo}\n    bearer_token_file: {}\n",
        token_file.display(),
        loki = loki.url,
    );
    let scrape = format!(
        "  - job_name: files\n    static_configs:\n      - targets: [localhost]\n        labels:\n          job: files\n          __path__: {}/*.log\n  - job_name: docker\n    docker_sd_configs:\n      - host: tcp://dave:DOCKERURLPASS6x@127.0.0.1:{closed}\n        refresh_interval: 1s\n        basic_auth:\n          username: dave\n          password: DOCKERPASS7x\n  - job_name: kube\n    kubernetes_sd_configs:\n      - role: pod\n        api_server: http://erin:KUBEURLPASS8x@127.0.0.1:{closed}\n        bearer_token: KUBEBEARER9x\n",
        logs.display()
    );
    // The common config's client first, then the extra clients.
    let cfg = config(
        &loki.url,
        &tmp.path().join("positions.yaml"),
        port,
        "",
        &scrape,
    );
    let cfg = cfg.replacen("target_config:", &format!("{extra}target_config:"), 1);
    let ft = Ferrotail::start(
        tmp.path(),
        &cfg,
        port,
        &["-log.level=debug", "-print-config-stderr"],
    );
    ft.wait_up().await;
    crate::util::append(&logs.join("a.log"), "hello\n");
    assert!(
        loki.wait_until(Duration::from_secs(60), |e| e.len() >= 4)
            .await,
        "{}",
        ft.log()
    );
    // Wait for the failing client's retries and the discoveries' errors to be logged.
    ft.wait_metric(
        "promtail_dropped_entries_total",
        &[&format!("127.0.0.1:{closed}")],
        Duration::from_secs(60),
        |v| v >= 1.0,
    )
    .await;
    let (_, metrics) = ft.get("/metrics").await;
    let (_, targets) = ft.get("/targets").await;
    let (_, service_discovery) = ft.get("/service-discovery").await;
    let stderr = ft.stderr.clone();
    ft.stop().await;
    let log = std::fs::read_to_string(&stderr).unwrap_or_default();
    assert!(log.contains("<secret>"), "print-config did not run:\n{log}");
    for (what, text) in [
        ("stderr", log.as_str()),
        ("/metrics", metrics.as_str()),
        ("/targets", targets.as_str()),
        ("/service-discovery", service_discovery.as_str()),
    ] {
        for s in SECRETS {
            assert!(!text.contains(s), "{what} holds secret {s}:\n{text}");
        }
    }
}
