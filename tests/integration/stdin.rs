//! `-stdin`: `cat file | ferrotail -config.file=… -stdin` pushes every line through the first
//! scrape config's pipeline with its static labels, and exits 0 once everything is sent.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::util::{free_port, FakeLoki, BIN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn piped_lines_are_pushed_and_the_process_exits_when_input_ends() {
    let tmp = tempfile::tempdir().unwrap();
    let loki = FakeLoki::start().await;
    let port = free_port();
    let cfg = tmp.path().join("config.yml");
    std::fs::write(
        &cfg,
        format!(
            "server:\n  http_listen_address: 127.0.0.1\n  http_listen_port: {port}\npositions:\n  filename: {pos}\nclients:\n  - url: {url}\n    batchwait: 100ms\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - labels:\n          job: app\n    pipeline_stages:\n      - regex:\n          expression: '^(?P<level>\\w+) '\n      - labels:\n          level:\n  - job_name: skipped\n    static_configs:\n      - labels:\n          job: skipped\n          __path__: /nonexistent/*.log\n",
            pos = tmp.path().join("pos.yaml").display(),
            url = loki.url,
        ),
    )
    .unwrap();
    let lines: Vec<String> = (0..2000)
        .map(|i| format!("{} line {i}", if i % 2 == 0 { "info" } else { "warn" }))
        .collect();
    let mut input = lines.join("\n");
    input.push_str("\n\n\r\n");
    let mut child = Command::new(BIN)
        .arg(format!("-config.file={}", cfg.display()))
        .arg("-stdin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        stdin.write_all(input.as_bytes()).unwrap();
    });
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    writer.join().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // Everything was sent before the exit: no waiting needed.
    let got = loki.entries();
    assert_eq!(got.len(), 2000, "{stderr}");
    // In order within each stream (the level label makes two).
    for level in ["info", "warn"] {
        let got_lines: Vec<&str> = got
            .iter()
            .map(|e| e.line.as_str())
            .filter(|l| l.starts_with(level))
            .collect();
        let want: Vec<&str> = lines
            .iter()
            .map(String::as_str)
            .filter(|l| l.starts_with(level))
            .collect();
        assert!(got_lines == want, "{level}: lines differ");
    }
    for e in &got {
        assert_eq!(e.labels.get("job").map(String::as_str), Some("app"));
        let level = if e.line.starts_with("info") {
            "info"
        } else {
            "warn"
        };
        assert_eq!(e.labels.get("level").map(String::as_str), Some(level));
        assert!(!e.labels.contains_key("filename"));
    }
    assert!(
        stderr.contains("too many scrape configs, skipping 1 configs."),
        "{stderr}"
    );
}

/// Standard input redirected from a file is read without `-stdin` (Promtail's check: not a
/// terminal, size above 0); with no scrape config the labels are `job="stdin"` and `hostname`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirected_file_is_read_with_promtails_default_labels() {
    let tmp = tempfile::tempdir().unwrap();
    let loki = FakeLoki::start().await;
    let port = free_port();
    let cfg = tmp.path().join("config.yml");
    std::fs::write(
        &cfg,
        format!(
            "server:\n  http_listen_address: 127.0.0.1\n  http_listen_port: {port}\npositions:\n  filename: {pos}\nclients:\n  - url: {url}\n    batchwait: 100ms\n",
            pos = tmp.path().join("pos.yaml").display(),
            url = loki.url,
        ),
    )
    .unwrap();
    let input = tmp.path().join("in.log");
    std::fs::write(&input, "one\ntwo\n").unwrap();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .arg(format!("-config.file={}", cfg.display()))
            .stdin(std::fs::File::open(&input).unwrap())
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let got = loki.entries();
    let lines: Vec<&str> = got.iter().map(|e| e.line.as_str()).collect();
    assert_eq!(lines, vec!["one", "two"], "{stderr}");
    let host = hostname_of_this_machine();
    for e in &got {
        assert_eq!(e.labels.get("job").map(String::as_str), Some("stdin"));
        assert_eq!(e.labels.get("hostname"), Some(&host));
    }
}

fn hostname_of_this_machine() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

/// Promtail's documented debugging command: `cat my.log | promtail --stdin --dry-run
/// --client.url …` with no config file prints each entry with the default labels and exits 0.
#[test]
fn stdin_dry_run_without_a_config_file_prints_the_entries() {
    let mut child = Command::new(BIN)
        .args([
            "--stdin",
            "--dry-run",
            "--client.url",
            "http://127.0.0.1:9/loki/api/v1/push",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"hello\nworld\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    // Timestamp, labels, line, as Promtail's dry run prints them (tab padding depends on widths).
    assert!(
        lines[0].contains("job=\"stdin\"}") && lines[0].ends_with("hello"),
        "{stdout}"
    );
    assert!(lines[1].ends_with("world"), "{stdout}");
}
