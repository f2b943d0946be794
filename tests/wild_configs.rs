//! The 133 real Promtail configs of `tests/data/wild-configs/` (taken from public repositories;
//! INDEX.md there lists each one's source and features) run through `ferrotail -check-syntax
//! -config.expand-env=true` with no variables set. Each has an explicit expected outcome, so a
//! regression (or a newly supported feature) shows:
//!
//! * `Ok`: loads;
//! * `Unsupported(key)`: refused with `not supported: <key>` (windows_events, kafka,
//!   dockerswarm_sd_configs);
//! * `LikePromtail(reason)`: fails for the reason Promtail 3.4.6 fails (a client without URL, an
//!   unparsable URL, a job without targets, a missing GeoIP database, or `-config.expand-env` turning `\\` into `\` as
//!   drone/envsubst does, which breaks a quoted YAML escape or a template string);
//! * `Stricter(reason)`: a client URL Promtail accepts and then fails to push to forever (empty
//!   host, relative URL, placeholder host), refused at start-up by ferrotail on purpose; the
//!   README's differences table says so.

use std::process::Command;

#[derive(Debug, Clone, Copy)]
enum Outcome {
    Ok,
    Unsupported(&'static str),
    LikePromtail(&'static str),
    Stricter(&'static str),
}
use Outcome::*;

const EXPECTED: &[(&str, Outcome)] = &[
    ("001", Ok),
    ("002", Ok),
    ("003", LikePromtail("client needs target URL")),
    ("004", LikePromtail("found unknown escape character")),
    ("005", Ok),
    ("006", Ok),
    ("007", Ok),
    ("008", LikePromtail("found unknown escape character")),
    ("009", Ok),
    (
        "010",
        LikePromtail("GeoLite2-City.mmdb: no such file or directory"),
    ),
    ("011", Ok),
    ("012", Ok),
    ("013", LikePromtail("client needs target URL")),
    ("014", Ok),
    ("015", Ok),
    ("016", Ok),
    ("017", LikePromtail("invalid port number")),
    ("018", Ok),
    ("019", Ok),
    ("020", LikePromtail("found unknown escape character")),
    ("021", Ok),
    ("022", Ok),
    ("023", Ok),
    ("024", Ok),
    ("025", Ok),
    ("026", Ok),
    ("027", Ok),
    ("028", Ok),
    ("029", Ok),
    ("030", Ok),
    ("031", Ok),
    ("032", Ok),
    ("033", LikePromtail("client needs target URL")),
    ("034", Ok),
    ("035", Ok),
    ("036", Ok),
    ("037", Ok),
    ("038", Ok),
    ("039", Ok),
    (
        "040",
        LikePromtail("at least one client config must be provided"),
    ),
    ("041", Ok),
    ("042", Stricter("relative URL without a base")),
    ("043", LikePromtail("invalid")),
    ("044", Unsupported("kafka")),
    ("045", Ok),
    ("046", Ok),
    ("047", Ok),
    ("048", Stricter("empty host")),
    ("049", Ok),
    ("050", LikePromtail("client needs target URL")),
    ("051", Ok),
    ("052", LikePromtail("client needs target URL")),
    ("053", Ok),
    ("054", Ok),
    ("055", Ok),
    ("056", Ok),
    ("057", Ok),
    ("058", Ok),
    ("059", LikePromtail("client needs target URL")),
    ("060", Ok),
    ("061", Ok),
    (
        "062",
        LikePromtail("at least one client config must be provided"),
    ),
    ("063", Ok),
    ("064", Ok),
    ("065", Ok),
    ("066", Ok),
    ("067", Ok),
    (
        "068",
        LikePromtail("at least one client config must be provided"),
    ),
    ("069", Stricter("empty host")),
    ("070", Ok),
    ("071", LikePromtail("relative URL without a base")),
    ("072", Ok),
    ("073", Ok),
    ("074", Ok),
    ("075", Ok),
    ("076", Unsupported("windows_events")),
    ("077", Ok),
    (
        "078",
        LikePromtail("at least one client config must be provided"),
    ),
    ("079", Unsupported("windows_events")),
    (
        "080",
        LikePromtail("at least one client config must be provided"),
    ),
    ("081", Ok),
    ("082", Ok),
    ("083", Ok),
    ("084", Ok),
    ("085", Ok),
    ("086", Ok),
    ("087", Ok),
    ("088", Ok),
    ("089", Ok),
    ("090", Ok),
    ("091", LikePromtail("client needs target URL")),
    ("092", Ok),
    ("093", Ok),
    ("094", Ok),
    ("095", Ok),
    ("096", Ok),
    ("097", Ok),
    ("098", Ok),
    ("099", Ok),
    ("100", LikePromtail("client needs target URL")),
    ("101", Ok),
    ("102", Ok),
    ("103", Ok),
    ("104", Stricter("empty host")),
    ("105", Stricter("relative URL without a base")),
    ("106", Ok),
    ("107", Ok),
    ("108", Ok),
    ("109", LikePromtail("unterminated quoted string")),
    ("110", Stricter("empty host")),
    ("111", Ok),
    ("112", Ok),
    ("113", Ok),
    ("114", Ok),
    ("115", Ok),
    ("116", LikePromtail("no valid target scrape config defined")),
    ("117", Ok),
    ("118", Ok),
    ("119", Ok),
    ("120", Ok),
    ("121", Ok),
    ("122", Stricter("invalid international domain name")),
    ("123", Ok),
    ("124", Ok),
    ("125", Ok),
    ("126", Ok),
    ("127", Ok),
    ("128", Ok),
    ("129", Ok),
    ("130", LikePromtail("positions.filename is empty")),
    ("131", Ok),
    ("132", Unsupported("dockerswarm_sd_configs")),
    ("133", Ok),
];

fn check(n: &str) -> (bool, String) {
    let path = format!(
        "{}/tests/data/wild-configs/{n}.yml",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = Command::new(env!("CARGO_BIN_EXE_ferrotail"))
        .arg(format!("-config.file={path}"))
        .arg("-config.expand-env=true")
        .arg("-check-syntax")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .expect("run ferrotail");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn every_wild_config_has_its_expected_outcome() {
    let dir = format!("{}/tests/data/wild-configs", env!("CARGO_MANIFEST_DIR"));
    let files = std::fs::read_dir(&dir)
        .expect("wild configs")
        .filter(|e| {
            e.as_ref()
                .map(|e| e.path().extension().is_some_and(|x| x == "yml"))
                .unwrap_or(false)
        })
        .count();
    assert_eq!(files, EXPECTED.len(), "one expected outcome per file");
    assert_eq!(files, 133);
    let mut wrong = Vec::new();
    for &(n, want) in EXPECTED {
        let (ok, text) = check(n);
        let good = match want {
            Ok => ok && text.contains("Valid config file! No syntax issues found"),
            Unsupported(key) => !ok && text.contains(&format!("not supported: {key}")),
            LikePromtail(reason) | Stricter(reason) => !ok && text.contains(reason),
        };
        assert!(!text.contains("panicked"), "{n}: {text}");
        if !good {
            let last: Vec<&str> = text.lines().rev().take(2).collect();
            wrong.push(format!("{n}: want {want:?}, got exit ok={ok}: {last:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_wild_config_keeps_its_source_line() {
    for &(n, _) in EXPECTED {
        let text = std::fs::read_to_string(format!(
            "{}/tests/data/wild-configs/{n}.yml",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        assert!(text.starts_with("# source: "), "{n}");
    }
}
