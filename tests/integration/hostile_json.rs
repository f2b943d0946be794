//! Hostile JSON lines through the real binary: an object with 100,000 keys, one nested 10,000
//! deep (json-iterator's limit) and one nested 10,001 deep (over it), through the `json`,
//! `template`, `output`, `metrics` and `pack` stages. Each finishes with Promtail's result (or,
//! over the limit, Promtail's error: the `json` stage fails and the line goes on unchanged), and
//! the file keeps shipping.

use std::time::Duration;

use crate::util::{append, config, free_port, FakeLoki, Ferrotail};

const WAIT: Duration = Duration::from_secs(120);

/// `{"a":{"a":...{"a":1}...}}`, `depth` objects deep.
fn nested(depth: usize) -> String {
    let mut s = "{\"a\":".repeat(depth);
    s.push('1');
    s.push_str(&"}".repeat(depth));
    s
}

/// json-iterator's string encoding of text made of `{`, `}`, `:`, `"`, letters, digits and `,`.
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\\\""))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_and_wide_json_lines_finish_with_promtails_result() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let loki = FakeLoki::start().await;
    let port = free_port();
    let scrape = format!(
        "  - job_name: deep\n    static_configs:\n      - targets: [localhost]\n        labels:\n          job: deep\n          __path__: {}/*.log\n    pipeline_stages:\n      - json:\n          expressions:\n            a: a\n            k: k99999\n      - template:\n          source: a\n          template: '{{{{ if .Value }}}}{{{{ .Value }}}}{{{{ end }}}}'\n      - output:\n          source: a\n      - metrics:\n          values:\n            type: Counter\n            source: a\n            config:\n              action: inc\n      - pack:\n          labels: [k]\n          ingest_timestamp: false\n",
        logs.display()
    );
    let cfg = config(
        &loki.url,
        &tmp.path().join("positions.yaml"),
        port,
        "",
        &scrape,
    );
    // Lines up to 16 MiB pass the reader and the client whole.
    let cfg = cfg.replace(
        "    batchwait: 100ms\n",
        "    batchwait: 100ms\n    batchsize: 33554432\n",
    );
    let ft = Ferrotail::start(tmp.path(), &cfg, port, &["-log.level=debug"]);
    ft.wait_up().await;

    let deep = nested(10_000);
    let too_deep = nested(10_001);
    let mut wide = String::from("{");
    for i in 0..100_000 {
        wide.push_str(&format!("\"k{i}\":{i},"));
    }
    wide.push_str("\"a\":{\"x\":[1,2]},\"a\":\"last\"}");
    let file = logs.join("hostile.log");
    append(&file, &format!("{deep}\n{too_deep}\n{wide}\nafter\n"));

    assert!(
        loki.wait_until(WAIT, |e| e.iter().any(|e| e.line.contains("after")))
            .await,
        "the healthy line after the hostile ones did not arrive\n{}",
        ft.log()
    );
    let lines = loki.lines();
    assert_eq!(
        lines.len(),
        4,
        "{:?}",
        lines.iter().map(|l| l.len()).collect::<Vec<_>>()
    );
    // 10,000 deep: `a` is the 9,999-deep inner object, re-serialised; it becomes the line.
    let inner = &deep["{\"a\":".len()..deep.len() - 1];
    assert_eq!(lines[0], format!("{{\"_entry\":{}}}", quoted(inner)));
    // 10,001 deep: json-iterator's "exceeded max depth": nothing extracted, line unchanged.
    assert_eq!(lines[1], format!("{{\"_entry\":{}}}", quoted(&too_deep)));
    // 100,000 keys: the last duplicate of `a` wins; `k99999` is packed.
    assert_eq!(lines[2], "{\"k\":\"99999\",\"_entry\":\"last\"}");
    assert_eq!(lines[3], "{\"_entry\":\"after\"}");
    // The metrics stage counted the two lines whose `a` was found.
    ft.wait_metric("promtail_custom_values", &["job=\"deep\""], WAIT, |v| {
        v == 2.0
    })
    .await;
    // The line over the limit (and `after`, not JSON) is counted and logged with its job, stage
    // and position.
    ft.wait_metric(
        "ferrotail_stage_errors_total",
        &["job=\"deep\"", "stage=\"json\""],
        WAIT,
        |v| v == 2.0,
    )
    .await;
    let log = ft.log();
    let failure = log
        .lines()
        .find(|l| l.contains("stage failed on a line"))
        .unwrap_or_else(|| panic!("no failure logged:\n{log}"));
    for want in [
        "job=deep".to_string(),
        "stage=json".to_string(),
        "reason=\"failed to unmarshal log line\"".to_string(),
        format!("filename={}", file.display()),
        "block_end_offset=Some(".to_string(),
    ] {
        assert!(failure.contains(&want), "{want} missing from {failure}");
    }
    assert!(!log.contains("panicked"), "{log}");
    ft.stop().await;
}
