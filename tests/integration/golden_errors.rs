//! `tests/data/golden/errors/`: configs real Promtail refuses. ferrotail refuses each with exit
//! code 1 and a message naming the same key, both at start and with `-check-syntax` (which runs
//! every start-up check in ferrotail, where Promtail's passes stage and client mistakes).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::BIN;

/// Case -> what ferrotail's message must contain (the key or value Promtail's message names).
const NEEDLES: &[(&str, &[&str])] = &[
    (
        "001",
        &["line 17", "field foo not found in type config.plain"],
    ),
    ("002", &["field batch_wait not found in type client.raw"]),
    ("003", &["cannot unmarshal !!str `abc` into int"]),
    ("004", &["cannot unmarshal !!str `1d` into time.Duration"]),
    ("005", &["Unknown stage type: bogus_stage"]),
    ("006", &["invalid regex stage config"]),
    ("007", &["unknown relabel action \"replase\""]),
    ("008", &["client needs target URL"]),
    (
        "009",
        &["found multiple scrape configs with job name \"golden\""],
    ),
    ("010", &["positions.filename is empty"]),
    ("011", &["already set"]),
    ("012", &["pipeline stage must contain only one key"]),
    ("013", &["check stage `- docker`"]),
    ("014", &["invalid match stage config"]),
    (
        "015",
        &["no valid target scrape config defined for \"golden\""],
    ),
    (
        "016",
        &[
            "invalid static_labels stage config",
            "expected type 'string', got unconvertible type 'int'",
        ],
    ),
    (
        "017",
        &[
            "invalid drop stage config",
            "drop stage config must contain at least one of",
        ],
    ),
    (
        "018",
        &["field stream_lag_labels not found in type config.Options"],
    ),
    ("019", &["invalid label name: foo-bar"]),
    (
        "020",
        &[
            "invalid labels stage config",
            "got unconvertible type 'bool'",
        ],
    ),
    (
        "021",
        &["relabel configuration for hashmod requires non-zero modulus"],
    ),
    ("022", &["invalid template stage config"]),
    ("023", &["invalid timestamp stage config", "Foo/Bar"]),
    ("024", &["invalid json stage config"]),
    ("025", &["at least one client config must be provided"]),
    (
        "026",
        &["\"bad-name\" is invalid 'target_label' for replace action"],
    ),
    (
        "027",
        &["\"bad-$1\" is invalid 'target_label' for replace action"],
    ),
];

fn run(dir: &Path, args: &[&str]) -> (i32, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
    .replace("\\\"", "\"");
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn golden_error_cases() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden/errors");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert_eq!(dirs.len(), NEEDLES.len());
    let mut failures = Vec::new();
    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let (_, needles) = NEEDLES.iter().find(|(p, _)| name.starts_with(p)).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let cfg = tmp.path().join("config.yml");
        std::fs::copy(dir.join("case.yml"), &cfg).unwrap();
        let cfg_arg = format!("-config.file={}", cfg.display());
        for args in [
            vec![cfg_arg.as_str(), "-check-syntax"],
            vec![cfg_arg.as_str()],
        ] {
            let (code, text) = run(tmp.path(), &args);
            if code != 1 {
                failures.push(format!("{name} {args:?}: exit {code}, want 1\n{text}"));
                continue;
            }
            for n in *needles {
                if !text.contains(n) {
                    failures.push(format!("{name} {args:?}: output lacks {n:?}:\n{text}"));
                }
            }
            if text.contains("panicked") {
                failures.push(format!("{name}: panic\n{text}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
