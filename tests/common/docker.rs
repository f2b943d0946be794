//! Docker helpers shared by the test binaries (`tests/docker_discovery.rs` and
//! `tests/integration/`): set-up and the docker CLI.

use std::process::Command;
use std::sync::OnceLock;

/// The local busybox image `.ci/docker-setup.sh` builds.
pub const IMAGE: &str = "ferrotail-test-busybox:latest";

/// True when a Docker daemon answers (after running `.ci/docker-setup.sh` once); tests skip with
/// a notice otherwise, or fail when `CI` is set. `FERROTAIL_DOCKER_TESTS=0` skips them on purpose.
/// A skip is appended to `$FERROTAIL_SKIP_LOG` when that is set (CI counts them).
pub fn docker_ready() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    let ready = *READY.get_or_init(|| {
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
            assert!(
                std::env::var_os("CI").is_none(),
                "Docker is required when CI is set (.ci/docker-setup.sh failed)"
            );
            eprintln!("NOTICE: Docker is not available (.ci/docker-setup.sh failed); skipping Docker tests");
        }
        ok
    });
    if !ready {
        if let Some(log) = std::env::var_os("FERROTAIL_SKIP_LOG") {
            use std::io::Write as _;
            let name = std::thread::current().name().unwrap_or("?").to_string();
            if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(log) {
                let _ = writeln!(f, "{name}: Docker not available");
            }
        }
    }
    ready
}

/// Runs the docker CLI and returns its trimmed stdout; panics with stderr on failure.
pub fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("docker CLI runs");
    assert!(
        out.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
