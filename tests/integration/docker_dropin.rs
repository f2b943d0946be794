//! Drop-in container: ferrotail itself running in a container exactly as Promtail is run, with
//! Promtail's mounts (`/etc/promtail/config.yml`, `/var/lib/docker/containers:ro`,
//! `/var/run/docker.sock`) and command line (`-config.file=/etc/promtail/config.yml`), reading the
//! seed's `promtail-config.yml` with only the client URL (the fake Loki on the host), the
//! positions file (under a mounted directory) and the HTTP port (host networking) changed.
//!
//! The image is made locally, without a registry or base image: `docker import` of a tarball
//! holding the very binary this test was compiled with, the shared libraries `ldd` lists and the
//! dynamic loader.
//!
//! Also here: the daemon's socket vanishing and coming back while the real binary reads a
//! json-file container, an API-fallback container (`local` log driver) and one started during
//! the outage; nothing is lost or shipped twice, and ferrotail keeps running. The outage is made
//! with a socket proxy, so the shared dockerd is never disturbed.
//!
//! Skips with a notice when Docker is unavailable.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::util::docker::{docker, docker_ready, IMAGE};
use crate::util::{free_port, FakeLoki, Ferrotail, BIN};

/// Containers and the image of the test, removed on drop.
struct Cleanup {
    containers: Vec<String>,
    image: Option<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if !self.containers.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(self.containers.iter().map(String::as_str));
            let _ = Command::new("docker").args(&args).output();
        }
        if let Some(image) = &self.image {
            let _ = Command::new("docker").args(["rmi", "-f", image]).output();
        }
    }
}

/// The files `ldd` says `bin` needs: its shared libraries and the dynamic loader.
fn shared_libraries(bin: &str) -> Vec<PathBuf> {
    let out = Command::new("ldd").arg(bin).output().expect("ldd runs");
    assert!(out.status.success(), "ldd {bin} failed");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut libs = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        if let Some(p) = path.filter(|p| p.starts_with('/')) {
            libs.push(PathBuf::from(p));
        }
    }
    assert!(
        libs.iter()
            .any(|p| p.to_string_lossy().contains("ld-linux")),
        "ldd lists the dynamic loader: {text}"
    );
    libs
}

/// Builds `image` from a tarball: `/usr/bin/ferrotail` (this test's binary), its libraries at
/// the paths `ldd` gives (symlinks resolved), `/tmp`, and Promtail's paths as mount points.
fn build_image(image: &str, work: &Path) {
    let root = work.join("rootfs");
    let put = |src: &Path, dst: &Path| {
        let target = root.join(dst.strip_prefix("/").expect("absolute path"));
        std::fs::create_dir_all(target.parent().expect("has a parent")).unwrap();
        std::fs::copy(src, &target).unwrap_or_else(|e| panic!("copy {}: {e}", src.display()));
    };
    put(Path::new(BIN), Path::new("/usr/bin/ferrotail"));
    for lib in shared_libraries(BIN) {
        put(&lib, &lib);
    }
    for dir in [
        "tmp",
        "etc/promtail",
        "var/lib/docker/containers",
        "var/run",
        "positions",
    ] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/:/bin/false\n").unwrap();
    let tarball = work.join("rootfs.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tarball)
        .arg(".")
        .status()
        .expect("tar runs");
    assert!(st.success(), "tar failed");
    docker(&[
        "import",
        "--change",
        r#"ENTRYPOINT ["/usr/bin/ferrotail"]"#,
        "--change",
        r#"CMD ["-config.file=/etc/promtail/config.yml"]"#,
        tarball.to_str().expect("utf-8 path"),
        image,
    ]);
}

/// The seed's config with the client URL pointing at `loki`, positions in the mounted
/// `/positions` directory and the HTTP server on `port` (the container shares the host network).
fn seed_config(loki: &str, port: u16) -> String {
    let seed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/configs/promtail-config.yml"
    ))
    .expect("seed config");
    assert!(seed.contains("http://loki:3100/loki/api/v1/push"));
    assert!(seed.contains("/tmp/positions.yaml"));
    seed.replace("http://loki:3100/loki/api/v1/push", loki)
        .replace("/tmp/positions.yaml", "/positions/positions.yaml")
        .replace(
            "http_listen_port: 9080",
            &format!("http_listen_port: {port}\n  http_listen_address: 127.0.0.1"),
        )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ferrotail_in_a_container_with_promtails_mounts_ships_the_kept_containers() {
    if !docker_ready() {
        eprintln!("NOTICE: skipped: Docker is not available");
        return;
    }
    let tag = format!("dropin{}", std::process::id());
    let image = format!("ferrotail-dropin-test:{tag}");
    let mut cleanup = Cleanup {
        containers: Vec::new(),
        image: None,
    };
    let work = tempfile::tempdir().unwrap();
    build_image(&image, work.path());
    cleanup.image = Some(image.clone());

    // Containers writing lines on stdout and stderr; only ai-* is kept by the seed's rules.
    let lines_of = |name: &str| -> Vec<String> {
        (1..=100)
            .flat_map(|i| [format!("{name} out {i}"), format!("{name} err {i}")])
            .collect()
    };
    let script = |name: &str| {
        format!(
            "i=1; while [ $i -le 100 ]; do echo \"{name} out $i\"; echo \"{name} err $i\" >&2; i=$((i+1)); done; sleep 60"
        )
    };
    let ai_name = format!("ai-{tag}");
    let other_name = format!("other-{tag}");
    let ai_id = docker(&[
        "run",
        "-d",
        "--name",
        &ai_name,
        IMAGE,
        "sh",
        "-c",
        &script(&ai_name),
    ]);
    cleanup.containers.push(ai_id.clone());
    let other_id = docker(&[
        "run",
        "-d",
        "--name",
        &other_name,
        IMAGE,
        "sh",
        "-c",
        &script(&other_name),
    ]);
    cleanup.containers.push(other_id.clone());

    let loki = FakeLoki::start().await;
    let port = free_port();
    let config = work.path().join("config.yml");
    std::fs::write(&config, seed_config(&loki.url, port)).unwrap();
    let positions = work.path().join("positions");
    std::fs::create_dir_all(&positions).unwrap();
    let ft_name = format!("ferrotail-{tag}");
    let ft_id = docker(&[
        "run",
        "-d",
        "--name",
        &ft_name,
        "--network",
        "host",
        "-v",
        &format!("{}:/etc/promtail/config.yml", config.display()),
        "-v",
        "/var/lib/docker/containers:/var/lib/docker/containers:ro",
        "-v",
        "/var/run/docker.sock:/var/run/docker.sock",
        "-v",
        &format!("{}:/positions", positions.display()),
        &image,
        "-config.file=/etc/promtail/config.yml",
    ]);
    cleanup.containers.push(ft_id.clone());

    let mine = |e: &crate::util::fake_loki::Received| {
        e.labels.get("service").is_some_and(|s| s.ends_with(&tag))
    };
    let want = lines_of(&ai_name);
    let ready = tokio::time::timeout(
        Duration::from_secs(20),
        loki.wait_for("ai's lines", Duration::from_secs(60), |e| {
            e.iter().filter(|x| mine(x)).count() >= want.len()
        }),
    )
    .await;
    if ready.is_err() {
        panic!(
            "ai's lines did not arrive; ferrotail's log:\n{}",
            docker(&["logs", &ft_id])
        );
    }
    // The json-file is read through the read-only mount, not through the API fallback.
    let targets = reqwest::get(format!("http://127.0.0.1:{port}/targets"))
        .await
        .expect("/targets answers")
        .text()
        .await
        .expect("/targets body");
    assert!(targets.contains("json-file"), "{targets}");
    // A clean stop (SIGTERM) flushes and saves positions; lines shipped twice would show now.
    docker(&["stop", "-t", "10", &ft_id]);
    let exit = docker(&["inspect", "-f", "{{.State.ExitCode}}", &ft_id]);
    assert_eq!(exit, "0", "ferrotail exits cleanly on SIGTERM");

    let entries = loki.entries();
    let shipped: Vec<_> = entries.iter().filter(|e| mine(e)).collect();
    for e in &shipped {
        let labels: Vec<(&str, &str)> = e
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            labels,
            vec![
                ("container_id", ai_id.as_str()),
                ("service", ai_name.as_str())
            ],
            "only the seed's labels, for ai"
        );
    }
    let got: Vec<String> = shipped.iter().map(|e| e.line.clone()).collect();
    assert_eq!(got.len(), want.len(), "each line once: {got:?}");
    let got_set: BTreeSet<&String> = got.iter().collect();
    let want_set: BTreeSet<&String> = want.iter().collect();
    assert_eq!(got_set, want_set, "exactly ai's lines");
    assert!(
        !entries
            .iter()
            .any(|e| e.line.contains(&other_name) || e.labels.values().any(|v| v == &other_id)),
        "nothing of other-* is shipped"
    );
    let pos = std::fs::read_to_string(positions.join("positions.yaml")).unwrap_or_default();
    assert!(
        pos.contains(&format!("{ai_id}-json.log")),
        "positions saved in the mounted directory: {pos}"
    );
}

/// A unix socket forwarding each connection to dockerd's, to simulate the daemon's socket
/// vanishing (connections cut, socket file removed) without disturbing the real daemon.
struct SocketProxy {
    path: PathBuf,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl SocketProxy {
    fn start(path: &Path) -> SocketProxy {
        let _ = std::fs::remove_file(path);
        let listener = tokio::net::UnixListener::bind(path).expect("proxy socket binds");
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                conns.spawn(async move {
                    if let Ok(mut outbound) =
                        tokio::net::UnixStream::connect("/var/run/docker.sock").await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        SocketProxy {
            path: path.to_path_buf(),
            task: Some(task),
        }
    }

    /// Closes every connection and removes the socket.
    async fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docker_socket_vanishing_loses_no_line_and_does_not_crash() {
    if !docker_ready() {
        eprintln!("NOTICE: skipped: Docker is not available");
        return;
    }
    let tag = format!("outage{}", std::process::id());
    let mut cleanup = Cleanup {
        containers: Vec::new(),
        image: None,
    };
    let work = tempfile::tempdir().unwrap();
    let sock = work.path().join("docker.sock");
    let mut proxy = SocketProxy::start(&sock);

    let script = |name: &str, n: u32, pause: &str| {
        format!(
            "i=1; while [ $i -le {n} ]; do echo \"{name} out $i\"; if [ $((i % 10)) -eq 0 ]; then echo \"{name} err $i\" >&2; fi; i=$((i+1)); {pause} done"
        )
    };
    let expected = |name: &str, n: u32| -> Vec<String> {
        (1..=n)
            .flat_map(|i| {
                let mut v = vec![format!("{name} out {i}")];
                if i % 10 == 0 {
                    v.push(format!("{name} err {i}"));
                }
                v
            })
            .collect()
    };
    let run = |cleanup: &mut Cleanup, name: &str, extra: &[&str], script: &str| -> String {
        let mut args = vec!["run", "-d", "--name", name];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[IMAGE, "sh", "-c", script]);
        let id = docker(&args);
        cleanup.containers.push(id.clone());
        id
    };
    let json_name = format!("ai-json-{tag}");
    let api_name = format!("ai-api-{tag}");
    let during_name = format!("tasks-during-{tag}");
    let json_id = run(
        &mut cleanup,
        &json_name,
        &[],
        &script(&json_name, 200, "sleep 0.01;"),
    );
    let api_id = run(
        &mut cleanup,
        &api_name,
        &["--log-driver", "local"],
        &script(&api_name, 200, "sleep 0.01;"),
    );

    let loki = FakeLoki::start().await;
    let port = free_port();
    let config = seed_config(&loki.url, port)
        .replace(
            "unix:///var/run/docker.sock",
            &format!("unix://{}", sock.display()),
        )
        .replace(
            "/positions/positions.yaml",
            &work.path().join("positions.yaml").display().to_string(),
        );
    let ft = Ferrotail::start(work.path(), &config, port, &[]);
    ft.wait_up().await;
    let count = |e: &[crate::util::fake_loki::Received], service: &str| {
        e.iter()
            .filter(|x| x.labels.get("service").map(String::as_str) == Some(service))
            .count()
    };
    loki.wait_for("first lines of both", Duration::from_secs(20), |e| {
        count(e, &json_name) >= 10 && count(e, &api_name) >= 10
    })
    .await;

    // The socket vanishes while both write; a short-lived container comes and goes meanwhile.
    proxy.stop().await;
    let during_id = run(
        &mut cleanup,
        &during_name,
        &[],
        &script(&during_name, 50, ""),
    );
    for id in [&json_id, &api_id, &during_id] {
        docker(&["wait", id]);
    }
    assert!(
        ft.child.id() > 0 && reqwest::get(ft.url("/metrics")).await.is_ok(),
        "ferrotail still serves while the socket is gone"
    );
    let _proxy = SocketProxy::start(&sock);

    let all = [
        (
            json_name.clone(),
            json_id.clone(),
            expected(&json_name, 200),
        ),
        (api_name.clone(), api_id.clone(), expected(&api_name, 200)),
        (
            during_name.clone(),
            during_id.clone(),
            expected(&during_name, 50),
        ),
    ];
    let waited = tokio::time::timeout(
        Duration::from_secs(25),
        loki.wait_for(
            "every line after the outage",
            Duration::from_secs(60),
            |e| {
                all.iter()
                    .all(|(name, _, want)| count(e, name) >= want.len())
            },
        ),
    )
    .await;
    if waited.is_err() {
        let e = loki.entries();
        let got: Vec<(String, usize)> = all
            .iter()
            .map(|(n, _, _)| (n.clone(), count(&e, n)))
            .collect();
        panic!(
            "lines missing after the outage: {got:?}; ferrotail's log:\n{}",
            ft.log()
        );
    }
    let mut ft = ft;
    assert!(
        ft.child.try_wait().unwrap().is_none(),
        "ferrotail is still running"
    );
    let (_, targets) = ft.get("/targets").await;
    assert!(targets.contains("Docker API"), "{targets}");
    assert!(
        ft.log().contains("docker log stream broke"),
        "the outage cut the API stream: {}",
        ft.log()
    );
    assert!(ft.stop().await.success(), "clean exit after the outage");
    let entries = loki.entries();
    for (name, id, want) in &all {
        let got: Vec<&crate::util::fake_loki::Received> = entries
            .iter()
            .filter(|e| e.labels.get("service") == Some(name))
            .collect();
        for e in &got {
            assert_eq!(e.labels.get("container_id"), Some(id), "{name}");
        }
        let mut lines: Vec<String> = got.iter().map(|e| e.line.clone()).collect();
        assert_eq!(lines.len(), want.len(), "{name}: each line once");
        lines.sort();
        let mut want = want.clone();
        want.sort();
        assert_eq!(&lines, &want, "{name}: every line");
    }
}

/// Waits for `path` to exist inside a container, polling; the test creates it to let the
/// container go on.
fn wait_for_file(path: &str) -> String {
    format!("while [ ! -e {path} ]; do sleep 0.02; done")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_container_resumes_exactly_after_a_restart_within_the_same_second() {
    if !docker_ready() {
        eprintln!("NOTICE: skipped: Docker is not available");
        return;
    }
    let tag = format!("resume{}", std::process::id());
    let mut cleanup = Cleanup {
        containers: Vec::new(),
        image: None,
    };
    let work = tempfile::tempdir().unwrap();
    let trigger = work.path().join("trigger");
    std::fs::create_dir_all(&trigger).unwrap();
    let name = format!("ai-resume-{tag}");
    // Read through the API (`local` driver); each step waits for the test.
    let script = format!(
        "{}; echo first; {}; echo second; echo third >&2",
        wait_for_file("/trigger/a"),
        wait_for_file("/trigger/b")
    );
    let id = docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--log-driver",
        "local",
        "-v",
        &format!("{}:/trigger", trigger.display()),
        IMAGE,
        "sh",
        "-c",
        &script,
    ]);
    cleanup.containers.push(id.clone());

    let loki = FakeLoki::start().await;
    let positions = work.path().join("positions.yaml");
    let scrape = format!(
        "  - job_name: docker\n    docker_sd_configs:\n      - host: unix:///var/run/docker.sock\n        refresh_interval: 5s\n    relabel_configs:\n      - source_labels: [__meta_docker_container_name]\n        regex: /{name}\n        action: keep\n      - source_labels: [__meta_docker_container_name]\n        regex: /(.*)\n        target_label: service\n"
    );
    let port = free_port();
    let cfg = crate::util::config(&loki.url, &positions, port, "", &scrape);
    let ft = Ferrotail::start(work.path(), &cfg, port, &[]);
    ft.wait_up().await;
    // Discovery runs once the server is up: wait for the target.
    let mut targets = String::new();
    for _ in 0..200 {
        targets = ft.get("/targets").await.1;
        if targets.contains("Docker API") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(targets.contains("Docker API"), "{targets}");
    // Start at the beginning of a wall-clock second, so that `first`, the restart and `second`
    // most likely share one second: resuming from Promtail's whole-second cursor alone would
    // then skip `second` and `third`.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    tokio::time::sleep(Duration::from_nanos(
        1_000_000_000 - u64::from(now.subsec_nanos()),
    ))
    .await;
    std::fs::write(trigger.join("a"), "").unwrap();
    loki.wait_for("first", Duration::from_secs(20), |e| {
        e.iter().any(|x| x.line == "first")
    })
    .await;
    assert!(ft.stop().await.success());
    std::fs::write(trigger.join("b"), "").unwrap();
    docker(&["wait", &id]);

    let port = free_port();
    let cfg = crate::util::config(&loki.url, &positions, port, "", &scrape);
    let ft = Ferrotail::start(work.path(), &cfg, port, &[]);
    ft.wait_up().await;
    loki.wait_for("second and third", Duration::from_secs(20), |e| {
        e.iter().any(|x| x.line == "second") && e.iter().any(|x| x.line == "third")
    })
    .await;
    assert!(ft.stop().await.success());
    let mut lines = loki.lines();
    lines.sort();
    assert_eq!(lines, vec!["first", "second", "third"], "each line once");
}
