//! The command line: Promtail's flag syntax, exit codes and output streams.

use crate::util::run_to_end;

fn seed(name: &str) -> String {
    format!("{}/tests/data/seed/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn flag_styles_are_all_accepted() {
    let path = seed("promtail-config.yml");
    for args in [
        vec![format!("-config.file={path}")],
        vec!["-config.file".into(), path.clone()],
        vec![format!("--config.file={path}")],
    ] {
        let mut a: Vec<&str> = args.iter().map(String::as_str).collect();
        a.push("-check-syntax");
        let (code, out, err) = run_to_end(&a);
        assert_eq!(code, 0, "{a:?}: {out}{err}");
        assert_eq!(out, "Valid config file! No syntax issues found\n");
    }
}

#[test]
fn unknown_flag_exits_2_with_usage() {
    let (code, _, err) = run_to_end(&["-nope"]);
    assert_eq!(code, 2);
    assert!(
        err.starts_with("flag provided but not defined: -nope\n"),
        "{err}"
    );
    assert!(err.contains("-config.file"), "usage missing: {err}");
}

#[test]
fn help_version_and_missing_config() {
    let (code, out, _) = run_to_end(&["-help"]);
    assert_eq!(code, 2);
    assert!(out.contains("-client.external-labels"));
    let (code, out, _) = run_to_end(&["-version"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("ferrotail, version"));
    let (code, out, _) = run_to_end(&["-check-syntax"]);
    assert_eq!((code, out.as_str()), (1, "Invalid config file\n"));
    let (code, out, _) = run_to_end(&["-config.file=/nonexistent/x.yml"]);
    assert_eq!(code, 1);
    assert!(out.contains("/nonexistent/x.yml does not exist"), "{out}");
}

#[test]
fn expand_env_and_flags_override_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("c.yml");
    std::fs::write(
        &cfg,
        "server:\n  http_listen_port: ${PORT:-9080}\nclients:\n  - url: ${LOKI_URL}\nscrape_configs:\n  - job_name: a\n    static_configs:\n      - labels: {__path__: /tmp/none.log}\n",
    )
    .unwrap();
    let c = cfg.display().to_string();
    let (code, out, _) = run_to_end(&[&format!("-config.file={c}"), "-check-syntax"]);
    assert_eq!(
        code, 1,
        "without expand-env the ${{PORT}} is not an int: {out}"
    );
    assert!(out.contains("-config.expand-env=true"), "{out}");
    let out = std::process::Command::new(crate::util::BIN)
        .args([
            &format!("-config.file={c}"),
            "-config.expand-env=true",
            "-check-syntax",
        ])
        .env("LOKI_URL", "http://loki:3100/loki/api/v1/push")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, _, err) = run_to_end(&[
        &format!("-config.file={c}"),
        "-config.expand-env=true",
        "-check-syntax",
    ]);
    assert_eq!(code, 1, "LOKI_URL unset leaves no client URL");
    assert!(err.contains("client needs target URL"), "{err}");
}

#[test]
fn print_config_hides_secrets() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("c.yml");
    std::fs::write(
        &cfg,
        "server:\n  http_listen_port: 0\nclients:\n  - url: http://x/loki/api/v1/push\n    basic_auth:\n      username: u\n      password: hunter2\nscrape_configs: []\n",
    )
    .unwrap();
    let out = std::process::Command::new(crate::util::BIN)
        .args([
            &format!("-config.file={}", cfg.display()),
            "-print-config-stderr",
            "-check-syntax",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn dry_run_inspect_prints_each_stage_like_promtail() {
    use crate::util::{append, config, free_port, Ferrotail};
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let file = logs.join("i.log");
    append(
        &file,
        "2024-01-02T03:04:05.5Z level=info msg=\"hello inspect\"\n",
    );
    let scrape = format!(
        r#"  - job_name: files
    static_configs:
      - targets: [localhost]
        labels:
          job: files
          __path__: {}/*.log
    pipeline_stages:
      - match:
          selector: '{{job="files"}}'
          stages:
            - regex:
                expression: '^(?P<time>\S+) level=(?P<level>\w+) msg="(?P<msg>[^"]*)"$'
      - labels:
          level:
      - timestamp:
          source: time
          format: RFC3339Nano
      - output:
          source: msg
"#,
        logs.display()
    );
    let port = free_port();
    let cfg = config(
        "http://127.0.0.1:9/loki/api/v1/push",
        &tmp.path().join("pos.yaml"),
        port,
        "",
        &scrape,
    );
    let ft = Ferrotail::start(tmp.path(), &cfg, port, &["-dry-run", "-inspect"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let err = loop {
        let err = ft.log();
        if err.contains("[inspect: output stage]") || std::time::Instant::now() > deadline {
            break err;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    ft.kill();

    let labels = format!("filename=\"{}\", job=\"files\"", file.display());
    // Stdout is a pipe, so no colours. The match stage itself is not inspected, the regex
    // nested in it is.
    let blocks = [
        "[inspect: regex stage]: \n\
         {stages.Entry}.Extracted[\"level\"]:\n\
         \t+: info\n\
         {stages.Entry}.Extracted[\"msg\"]:\n\
         \t+: hello inspect\n\
         {stages.Entry}.Extracted[\"time\"]:\n\
         \t+: 2024-01-02T03:04:05.5Z\n"
            .to_string(),
        format!(
            "[inspect: labels stage]: \n\
             {{stages.Entry}}.Entry.Labels:\n\
             \t-: {{{labels}}}\n\
             \t+: {{{labels}, level=\"info\"}}\n"
        ),
        // The old timestamp is the read time, in the local zone.
        "[inspect: timestamp stage]: \n\
         {stages.Entry}.Entry.Entry.Timestamp:\n\
         \t-: "
            .to_string(),
        "\n\t+: 2024-01-02 03:04:05.5 +0000 UTC\n".to_string(),
        "[inspect: output stage]: \n\
         {stages.Entry}.Entry.Entry.Line:\n\
         \t-: 2024-01-02T03:04:05.5Z level=info msg=\"hello inspect\"\n\
         \t+: hello inspect\n"
            .to_string(),
    ];
    let mut at = 0;
    for b in &blocks {
        let Some(i) = err[at..].find(b.as_str()) else {
            panic!("missing, in order:\n{b}\n--- stderr:\n{err}");
        };
        at += i + b.len();
    }
    let read_time = err
        .split("{stages.Entry}.Entry.Entry.Timestamp:\n\t-: ")
        .nth(1)
        .and_then(|r| r.lines().next())
        .unwrap_or_default();
    // Go's Time.String(): 2006-01-02 15:04:05.999999999 -0700 MST
    let parts: Vec<&str> = read_time.split(' ').collect();
    assert!(
        parts.len() == 4 && parts[0].len() == 10 && parts[2].len() == 5,
        "{read_time:?}"
    );
    assert!(!err.contains("[inspect: match stage]"), "{err}");
    assert_eq!(err.matches("[inspect: ").count(), 4, "{err}");
}
