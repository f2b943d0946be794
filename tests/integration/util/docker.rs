//! Docker helpers for the integration tests: set-up, the CLI, cleanup.

use std::process::Command;
use std::sync::OnceLock;

/// The local busybox image `.ci/docker-setup.sh` builds.
pub const IMAGE: &str = "ferrotail-test-busybox:latest";

/// True when a Docker daemon answers (after running `.ci/docker-setup.sh` once); tests skip with
/// a notice otherwise. `FERROTAIL_DOCKER_TESTS=0` skips them on purpose.
pub fn docker_ready() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    *READY.get_or_init(|| {
        if std::env::var("FERROTAIL_DOCKER_TESTS").as_deref() == Ok("0") {
            eprintln!("NOTICE: FERROTAIL_DOCKER_TESTS=0; skipping Docker tests");
            return false;
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/docker-setup.sh");
        let ok = Command::new("bash")
            .arg(script)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            eprintln!("NOTICE: Docker is not available; skipping Docker end-to-end tests");
        }
        ok
    })
}

/// Runs the docker CLI and returns its trimmed stdout; panics with stderr on failure.
pub fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("docker CLI");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
