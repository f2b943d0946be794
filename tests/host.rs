//! The host install (issue 18, point 4): the systemd unit passes `systemd-analyze verify`, the
//! default config passes `-check-syntax`, and (with `FERROTAIL_DPKG_TEST=1`, as root: it changes
//! the machine) the Debian package from `deploy/host/build-deb.sh` installs and uninstalls with
//! `dpkg`.

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_ferrotail");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Notice, or a failure under CI.
fn missing(what: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("required test tool missing under CI: {what}");
    }
    eprintln!("NOTICE: skipped: {what} not available");
    if let Some(log) = std::env::var_os("FERROTAIL_SKIP_LOG") {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(log) {
            let _ = writeln!(f, "host: {what} not available");
        }
    }
}

#[test]
fn unit_passes_systemd_analyze_verify() {
    let Some(analyze) = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"]
        .iter()
        .map(Path::new)
        .find(|p| p.exists())
    else {
        return missing("systemd-analyze");
    };
    let unit = std::fs::read_to_string(root().join("deploy/host/ferrotail.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/bin/ferrotail -config.file=/etc/promtail/config.yml,/etc/ferrotail/config.yml"));
    for key in [
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "SupplementaryGroups=systemd-journal adm",
        "StateDirectory=ferrotail",
    ] {
        assert!(unit.contains(key), "unit lacks {key}");
    }
    // verify checks that ExecStart's binary exists: point it at the one just built.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ferrotail.service");
    std::fs::write(&path, unit.replace("/usr/bin/ferrotail", BIN)).unwrap();
    let out = Command::new(analyze)
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stderr.contains("ferrotail.service:"),
        "systemd-analyze verify: {stderr}"
    );
}

#[test]
fn default_config_passes_check_syntax() {
    let cfg = root().join("deploy/host/config.yml");
    let out = Command::new(BIN)
        .arg("-check-syntax")
        .arg(format!("-config.file={}", cfg.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&cfg).unwrap(),
        std::fs::read_to_string(root().join("configs/promtail-config-host.yml")).unwrap(),
        "the package's default config is configs/promtail-config-host.yml"
    );
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Builds the package and installs, checks, removes and purges it. Needs root and changes the
/// machine, so it runs only with `FERROTAIL_DPKG_TEST=1`.
#[test]
fn deb_package_installs_and_uninstalls() {
    if std::env::var("FERROTAIL_DPKG_TEST").as_deref() != Ok("1") {
        eprintln!("NOTICE: skipped: set FERROTAIL_DPKG_TEST=1 (as root) to install the package");
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let deb = run(Command::new(root().join("deploy/host/build-deb.sh"))
        .arg(out.path())
        .env("FERROTAIL_BIN", BIN)
        .env("FERROTAIL_DEB_COMPRESS", "gzip"));
    let deb = deb.trim();
    let info = run(Command::new("dpkg-deb").args(["--info", deb]));
    assert!(info.contains("Package: ferrotail"), "{info}");
    let files = run(Command::new("dpkg-deb").args(["--contents", deb]));
    for f in [
        "./usr/bin/ferrotail",
        "./lib/systemd/system/ferrotail.service",
        "./etc/ferrotail/config.yml",
    ] {
        assert!(files.contains(f), "{f} not in the package:\n{files}");
    }
    run(Command::new("dpkg").args(["-i", deb]));
    assert!(Path::new("/usr/bin/ferrotail").exists());
    assert!(Path::new("/lib/systemd/system/ferrotail.service").exists());
    assert!(Path::new("/etc/ferrotail/config.yml").exists());
    assert!(Path::new("/var/lib/ferrotail").is_dir());
    let id = run(Command::new("id").arg("ferrotail"));
    assert!(id.contains("(ferrotail)"), "{id}");
    run(Command::new("/usr/bin/ferrotail")
        .args(["-check-syntax", "-config.file=/etc/ferrotail/config.yml"]));
    run(Command::new("dpkg").args(["-r", "ferrotail"]));
    assert!(!Path::new("/usr/bin/ferrotail").exists());
    assert!(!Path::new("/lib/systemd/system/ferrotail.service").exists());
    assert!(
        Path::new("/etc/ferrotail/config.yml").exists(),
        "a removed package keeps its conffile"
    );
    run(Command::new("dpkg").args(["-P", "ferrotail"]));
    assert!(!Path::new("/etc/ferrotail/config.yml").exists());
    assert!(!Path::new("/var/lib/ferrotail").exists());
    let gone = Command::new("id").arg("ferrotail").output().unwrap();
    assert!(
        !gone.status.success(),
        "the ferrotail user is removed on purge"
    );
}
