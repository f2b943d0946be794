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
