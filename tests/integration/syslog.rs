//! The `syslog` receiver through the real binary, fed by real senders: util-linux `logger` (TCP
//! and UDP, RFC 5424 and 3164, octet counting and non-transparent framing), rsyslog's `omfwd`
//! (octet-counted RFC 5424, plain and over TLS with client certificates), and hostile input
//! (garbage, a truncated or oversized frame, a half-open TLS handshake), each counted, logged
//! with the peer, and without stopping other connections; 1,000 open connections with bounded
//! memory. A missing tool skips a test, or fails it when `CI` is set (`.ci/syslog-setup.sh`).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::util::certs::Issued;
use crate::util::{config, free_port, run_to_end, FakeLoki, Ferrotail};

const WAIT: Duration = Duration::from_secs(30);

fn have(tool: &str) -> bool {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
        || ["/usr/sbin", "/sbin"]
            .iter()
            .any(|d| Path::new(d).join(tool).is_file());
    if !found {
        if std::env::var_os("CI").is_some() {
            panic!("{tool} is required when CI is set (run .ci/syslog-setup.sh)");
        }
        eprintln!("SKIP: {tool} not installed");
    }
    found
}

fn tool_path(tool: &str) -> String {
    for d in ["/usr/sbin", "/sbin"] {
        let p = Path::new(d).join(tool);
        if p.is_file() {
            return p.display().to_string();
        }
    }
    tool.to_string()
}

fn logger(args: &[&str]) {
    let st = Command::new("logger")
        .env("TZ", "UTC")
        .args(args)
        .status()
        .unwrap();
    assert!(st.success(), "logger {args:?} failed");
}

/// The short host name senders put in HOSTNAME.
fn short_hostname() -> String {
    let h = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    h.trim().split('.').next().unwrap().to_string()
}

/// The relabel rules people use: host, app, severity (and facility) as labels.
const RELABEL: &str = "    relabel_configs:
      - source_labels: [__syslog_message_hostname]
        target_label: host
      - source_labels: [__syslog_message_app_name]
        target_label: app
      - source_labels: [__syslog_message_severity]
        target_label: severity
      - source_labels: [__syslog_message_facility]
        target_label: facility
";

fn job(name: &str, syslog: &str) -> String {
    format!(
        "  - job_name: {name}\n    syslog:\n{syslog}      labels:\n        job: {name}\n{RELABEL}"
    )
}

/// Waits until `/targets` shows `n` syslog listeners.
async fn wait_listeners(ft: &Ferrotail, n: usize) {
    ft.wait_up().await;
    for _ in 0..400 {
        let (_, html) = ft.get("/targets").await;
        if html.matches("syslog listener").count() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("syslog listeners did not start; stderr:\n{}", ft.log());
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn now_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logger_tcp_and_udp_rfc5424_and_rfc3164() {
    if !have("logger") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let loki = FakeLoki::start().await;
    let (p1, p2, p3, p4) = (free_port(), free_port(), free_port(), free_port());
    let scrape = [
        job(
            "tcp5424",
            &format!("      listen_address: 127.0.0.1:{p1}\n      label_structured_data: true\n      use_incoming_timestamp: true\n"),
        ),
        job(
            "udp5424",
            &format!("      listen_address: 127.0.0.1:{p2}\n      listen_protocol: udp\n      use_rfc5424_message: true\n"),
        ),
        job(
            "tcp3164",
            &format!("      listen_address: 127.0.0.1:{p3}\n      syslog_format: rfc3164\n      use_incoming_timestamp: true\n"),
        ),
        job(
            "udp3164",
            &format!("      listen_address: 127.0.0.1:{p4}\n      listen_protocol: udp\n      syslog_format: rfc3164\n"),
        ),
    ]
    .concat();
    let scrape = scrape.replacen(
        "    relabel_configs:\n",
        "    relabel_configs:\n      - source_labels: [__syslog_message_sd_example_99999_test]\n        target_label: sdtest\n",
        1,
    );
    let port = free_port();
    let cfg = config(&loki.url, &dir.path().join("pos.yml"), port, "", &scrape);
    let ft = Ferrotail::start(dir.path(), &cfg, port, &[]);
    wait_listeners(&ft, 4).await;
    let before = now_nanos();
    let (s1, s2, s3, s4) = (
        p1.to_string(),
        p2.to_string(),
        p3.to_string(),
        p4.to_string(),
    );
    let base = |proto: &'static str, port: &str| -> Vec<String> {
        vec![
            proto.into(),
            "-n".into(),
            "127.0.0.1".into(),
            "-P".into(),
            port.into(),
        ]
    };
    let run = |mut a: Vec<String>, rest: &[&str]| {
        a.extend(rest.iter().map(|s| s.to_string()));
        let v: Vec<&str> = a.iter().map(String::as_str).collect();
        logger(&v);
    };
    run(
        base("--tcp", &s1),
        &[
            "--rfc5424",
            "--octet-count",
            "-t",
            "app1",
            "-p",
            "local4.warning",
            "--sd-id",
            "example@99999",
            "--sd-param",
            "test=\"yes\"",
            "m1 octet counted",
        ],
    );
    run(
        base("--tcp", &s1),
        &[
            "--rfc5424",
            "-t",
            "app2",
            "-p",
            "user.err",
            "m2 non-transparent",
        ],
    );
    run(
        base("--udp", &s2),
        &["--rfc5424", "-t", "app3", "--msgid", "ID7", "m3 udp"],
    );
    run(
        base("--tcp", &s3),
        &["--rfc3164", "-t", "app4", "-p", "daemon.info", "m4 bsd tcp"],
    );
    run(
        base("--udp", &s4),
        &["--rfc3164", "-t", "app5", "--id=77", "m5 bsd udp"],
    );
    loki.wait_for("five messages", WAIT, |e| e.len() >= 5).await;
    let after = now_nanos();
    let host = short_hostname();
    let by_app = |app: &str| {
        loki.entries()
            .into_iter()
            .find(|e| e.labels.get("app").map(String::as_str) == Some(app))
            .unwrap_or_else(|| panic!("no entry of {app}: {:#?}", loki.entries()))
    };
    let e1 = by_app("app1");
    assert_eq!(e1.line, "m1 octet counted");
    assert_eq!(
        e1.labels,
        labels(&[
            ("job", "tcp5424"),
            ("host", &host),
            ("app", "app1"),
            ("severity", "warning"),
            ("facility", "local4"),
            ("sdtest", "yes"),
        ])
    );
    // use_incoming_timestamp: logger's microsecond timestamp.
    assert!(
        e1.ts_nanos >= before - 1_000_000_000 && e1.ts_nanos <= after,
        "{e1:?}"
    );
    assert_eq!(e1.ts_nanos % 1000, 0, "logger writes microseconds");
    let e2 = by_app("app2");
    assert_eq!(e2.line, "m2 non-transparent");
    assert_eq!(e2.labels["severity"], "error");
    let e3 = by_app("app3");
    // use_rfc5424_message: the whole message, re-serialised.
    assert!(e3.line.starts_with("<13>1 "), "{}", e3.line);
    assert!(
        e3.line.contains(" app3 ") && e3.line.contains(" ID7 "),
        "{}",
        e3.line
    );
    assert!(e3.line.ends_with(" m3 udp"), "{}", e3.line);
    assert_eq!(e3.labels["job"], "udp5424");
    assert_eq!(e3.labels["severity"], "notice");
    let e4 = by_app("app4");
    assert_eq!(e4.line, "m4 bsd tcp");
    assert_eq!(e4.labels["severity"], "informational");
    assert_eq!(e4.labels["facility"], "daemon");
    assert_eq!(e4.labels["host"], host);
    // RFC 3164 with use_incoming_timestamp: whole seconds, this year (Promtail: year 0).
    assert_eq!(e4.ts_nanos % 1_000_000_000, 0);
    assert!(
        e4.ts_nanos >= before - 2_000_000_000 && e4.ts_nanos <= after,
        "{} not in [{before}, {after}]",
        e4.ts_nanos
    );
    let e5 = by_app("app5");
    assert_eq!(e5.line, "m5 bsd udp");
    assert_eq!(e5.labels["job"], "udp3164");
    // Reception time without use_incoming_timestamp.
    assert!(e5.ts_nanos >= before && e5.ts_nanos <= after);
    let (_, metrics) = ft.get("/metrics").await;
    assert_eq!(
        crate::util::metric(&metrics, "promtail_syslog_target_entries_total", &[]),
        5.0,
        "{metrics}"
    );
    let (_, targets) = ft.get("/targets").await;
    assert!(
        targets.contains(&format!("syslog listener tcp on 127.0.0.1:{p1}")),
        "{targets}"
    );
    assert!(targets.contains(&format!("syslog listener udp on 127.0.0.1:{p2}")));
    ft.stop().await;
}

/// rsyslog, as a relay: UDP in, `omfwd` out to ferrotail over plain TCP and over TLS (gtls,
/// client certificate), octet-counted RFC 5424.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsyslog_omfwd_plain_and_tls() {
    if !have("rsyslogd") || !have("logger") {
        return;
    }
    if !Path::new("/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so").exists()
        && !Path::new("/usr/lib/rsyslog/lmnsd_gtls.so").exists()
    {
        if std::env::var_os("CI").is_some() {
            panic!("rsyslog-gnutls is required when CI is set (run .ci/syslog-setup.sh)");
        }
        eprintln!("SKIP: rsyslog-gnutls not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ca = Issued::ca("ferrotail test CA");
    let (ca_file, _) = ca.write(dir.path(), "ca");
    let (srv_cert, srv_key) = ca
        .leaf(&["localhost", "127.0.0.1"], true)
        .write(dir.path(), "server");
    let (cli_cert, cli_key) = ca
        .leaf(&["rsyslog-client"], false)
        .write(dir.path(), "client");
    let loki = FakeLoki::start().await;
    let (plain, tls) = (free_port(), free_port());
    let scrape = [
        job("rsplain", &format!("      listen_address: 127.0.0.1:{plain}\n")),
        job(
            "rstls",
            &format!(
                "      listen_address: 127.0.0.1:{tls}\n      use_incoming_timestamp: true\n      tls_config:\n        cert_file: {}\n        key_file: {}\n        ca_file: {}\n",
                srv_cert.display(),
                srv_key.display(),
                ca_file.display()
            ),
        ),
    ]
    .concat();
    let port = free_port();
    let cfg = config(&loki.url, &dir.path().join("pos.yml"), port, "", &scrape);
    let ft = Ferrotail::start(dir.path(), &cfg, port, &[]);
    wait_listeners(&ft, 2).await;

    let in_port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let work = dir.path().join("rsyslog");
    std::fs::create_dir_all(&work).unwrap();
    let conf = work.join("rsyslog.conf");
    std::fs::write(
        &conf,
        format!(
            r#"global(workDirectory="{work}"
       DefaultNetstreamDriverCAFile="{ca}"
       DefaultNetstreamDriverCertFile="{cert}"
       DefaultNetstreamDriverKeyFile="{key}")
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="{in_port}")
action(type="omfwd" target="127.0.0.1" port="{plain}" protocol="tcp"
       TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format")
action(type="omfwd" target="127.0.0.1" port="{tls}" protocol="tcp"
       TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format"
       StreamDriver="gtls" StreamDriverMode="1" StreamDriverAuthMode="x509/certvalid")
"#,
            work = work.display(),
            ca = ca_file.display(),
            cert = cli_cert.display(),
            key = cli_key.display(),
        ),
    )
    .unwrap();
    let mut child = Command::new(tool_path("rsyslogd"))
        .arg("-n")
        .arg("-f")
        .arg(&conf)
        .arg("-i")
        .arg(work.join("rsyslogd.pid"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(work.join("stderr")).unwrap())
        .spawn()
        .unwrap();
    let p = in_port.to_string();
    let mut delivered = false;
    let before = now_nanos();
    // imudp may start after the first datagrams: send until both relays delivered one.
    for i in 0..120 {
        logger(&[
            "--udp",
            "-n",
            "127.0.0.1",
            "-P",
            &p,
            "--rfc5424",
            "-t",
            "viarsyslog",
            "-p",
            "daemon.warning",
            &format!("via rsyslog {i}"),
        ]);
        let ok = loki
            .wait_until(Duration::from_millis(250), |e| {
                ["rsplain", "rstls"].iter().all(|j| {
                    e.iter()
                        .any(|x| x.labels.get("job").map(String::as_str) == Some(*j))
                })
            })
            .await;
        if ok {
            delivered = true;
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        delivered,
        "rsyslog forwarded nothing to both listeners: {:#?}\nrsyslog: {}\nferrotail: {}",
        loki.entries(),
        std::fs::read_to_string(work.join("stderr")).unwrap_or_default(),
        ft.log()
    );
    let host = short_hostname();
    for j in ["rsplain", "rstls"] {
        let e = loki
            .entries()
            .into_iter()
            .find(|x| x.labels["job"] == j)
            .unwrap();
        assert!(e.line.starts_with("via rsyslog "), "{e:?}");
        assert_eq!(e.labels["app"], "viarsyslog");
        assert_eq!(e.labels["severity"], "warning");
        assert_eq!(e.labels["facility"], "daemon");
        assert_eq!(e.labels["host"], host);
        if j == "rstls" {
            assert!(e.ts_nanos >= before - 1_000_000_000 && e.ts_nanos <= now_nanos());
        }
    }
    ft.stop().await;
}

/// Reads until the peer closes the connection (or 20 s pass).
fn closed_by_peer(c: &mut TcpStream) -> bool {
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut b = [0u8; 64];
    loop {
        match c.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

fn octet(msg: &str) -> String {
    format!("{} {msg}", msg.len())
}

/// Garbage, a truncated octet count, an oversized frame, an unparsable message and a half-open
/// TLS handshake: each counted with its reason and logged with the peer; framing loss closes the
/// connection; another connection keeps flowing throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_is_counted_and_other_connections_flow() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Issued::ca("ca");
    let (cert, key) = ca.leaf(&["localhost"], true).write(dir.path(), "srv");
    let loki = FakeLoki::start().await;
    let (pb, pt) = (free_port(), free_port());
    let scrape = [
        job(
            "bad",
            &format!("      listen_address: 127.0.0.1:{pb}\n      max_message_length: 1024\n"),
        ),
        job(
            "badtls",
            &format!(
                "      listen_address: 127.0.0.1:{pt}\n      idle_timeout: 1s\n      tls_config:\n        cert_file: {}\n        key_file: {}\n",
                cert.display(),
                key.display()
            ),
        ),
    ]
    .concat();
    let port = free_port();
    let cfg = config(&loki.url, &dir.path().join("pos.yml"), port, "", &scrape);
    let ft = Ferrotail::start(dir.path(), &cfg, port, &[]);
    wait_listeners(&ft, 2).await;
    let addr = format!("127.0.0.1:{pb}");
    let dropped = "ferrotail_syslog_dropped_total";

    // The well-behaved connection.
    let mut good = TcpStream::connect(&addr).unwrap();
    good.write_all(octet("<13>1 - h goodapp - - - a1").as_bytes())
        .unwrap();
    loki.wait_for("a1", WAIT, |e| e.iter().any(|x| x.line == "a1"))
        .await;

    // Garbage: neither `<` nor a digit first; closed.
    let mut garbage = TcpStream::connect(&addr).unwrap();
    let garbage_peer = garbage.local_addr().unwrap().to_string();
    garbage
        .write_all(b"\x00\xffGET / HTTP/1.1\r\n\r\n")
        .unwrap();
    assert!(
        closed_by_peer(&mut garbage),
        "garbage connection not closed"
    );
    ft.wait_metric(dropped, &[r#"reason="invalid_framing""#], WAIT, |v| {
        v == 1.0
    })
    .await;

    // An octet count longer than what comes before the sender closes.
    let mut trunc = TcpStream::connect(&addr).unwrap();
    trunc
        .write_all(b"80 <13>1 - h app - - - cut short")
        .unwrap();
    trunc.shutdown(Shutdown::Write).unwrap();
    assert!(closed_by_peer(&mut trunc));
    ft.wait_metric(dropped, &[r#"reason="truncated_frame""#], WAIT, |v| {
        v == 1.0
    })
    .await;

    // An octet count above max_message_length: framing is lost, closed.
    let mut big = TcpStream::connect(&addr).unwrap();
    let big_peer = big.local_addr().unwrap().to_string();
    big.write_all(b"99999 <13>1 - h app - - - x").unwrap();
    assert!(closed_by_peer(&mut big), "oversized frame did not close");
    ft.wait_metric(dropped, &[r#"reason="message_too_large""#], WAIT, |v| {
        v == 1.0
    })
    .await;

    // Non-transparent: a message the parser refuses is counted; the next one still arrives and
    // the connection stays open.
    let mut nt = TcpStream::connect(&addr).unwrap();
    nt.write_all(b"<999>not syslog\n<13>1 - h ntapp - - - after bad\n")
        .unwrap();
    loki.wait_for("after bad", WAIT, |e| {
        e.iter().any(|x| x.line == "after bad")
    })
    .await;
    ft.wait_metric(dropped, &[r#"reason="parse_error""#], WAIT, |v| v == 1.0)
        .await;

    // A TLS handshake that starts and stalls: closed after idle_timeout, counted.
    let mut half = TcpStream::connect(format!("127.0.0.1:{pt}")).unwrap();
    half.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00])
        .unwrap();
    assert!(closed_by_peer(&mut half), "half-open handshake not closed");
    ft.wait_metric(dropped, &[r#"reason="tls_handshake""#], WAIT, |v| v == 1.0)
        .await;

    // The good connection still flows.
    good.write_all(octet("<13>1 - h goodapp - - - a2").as_bytes())
        .unwrap();
    loki.wait_for("a2", WAIT, |e| e.iter().any(|x| x.line == "a2"))
        .await;
    let (_, metrics) = ft.get("/metrics").await;
    let parsing = crate::util::metric(&metrics, "promtail_syslog_target_parsing_errors_total", &[]);
    // truncated + too large + the refused message (invalid framing is not a parsing error in
    // Promtail).
    assert_eq!(parsing, 3.0, "{metrics}");
    let log = ft.log();
    for peer in [&garbage_peer, &big_peer] {
        assert!(
            log.lines()
                .any(|l| l.contains(peer.as_str()) && l.contains("closing the connection")),
            "no log line names {peer}:\n{log}"
        );
    }
    assert!(log.contains("TLS handshake"), "{log}");
    assert!(
        loki.entries().iter().all(|e| e.labels["job"] == "bad"),
        "{:?}",
        loki.entries()
    );
    ft.stop().await;
}

fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// 1,000 open connections (each sent one message) stay within bounded memory; the next one is
/// refused by `max_connections` and counted; closed ones leave the count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_open_connections_bounded_memory_and_limit() {
    let dir = tempfile::tempdir().unwrap();
    let loki = FakeLoki::start().await;
    let p = free_port();
    let scrape = job(
        "many",
        &format!("      listen_address: 127.0.0.1:{p}\n      max_connections: 1000\n"),
    );
    let port = free_port();
    let cfg = config(&loki.url, &dir.path().join("pos.yml"), port, "", &scrape);
    let ft = Ferrotail::start(dir.path(), &cfg, port, &[]);
    wait_listeners(&ft, 1).await;
    let idle_rss = rss_kib(ft.child.id());
    let mut conns = Vec::new();
    for i in 0..1000 {
        let mut c = TcpStream::connect(format!("127.0.0.1:{p}")).unwrap();
        c.write_all(octet(&format!("<13>1 - h app - - - conn {i}")).as_bytes())
            .unwrap();
        conns.push(c);
    }
    ft.wait_metric("ferrotail_syslog_connections", &[], WAIT, |v| v == 1000.0)
        .await;
    loki.wait_for("1000 messages", WAIT, |e| e.len() >= 1000)
        .await;
    let rss = rss_kib(ft.child.id());
    eprintln!("RSS: {idle_rss} KiB listening, {rss} KiB with 1000 open connections");
    assert!(
        rss < idle_rss + 16 * 1024,
        "1000 connections cost {} KiB",
        rss - idle_rss
    );
    let (_, targets) = ft.get("/targets").await;
    assert!(targets.contains("connections=1000"), "{targets}");

    let mut extra = TcpStream::connect(format!("127.0.0.1:{p}")).unwrap();
    assert!(
        closed_by_peer(&mut extra),
        "connection over the limit not closed"
    );
    ft.wait_metric(
        "ferrotail_syslog_dropped_total",
        &[r#"reason="connection_limit""#],
        WAIT,
        |v| v == 1.0,
    )
    .await;
    conns.truncate(400);
    ft.wait_metric("ferrotail_syslog_connections", &[], WAIT, |v| v == 400.0)
        .await;
    drop(conns);
    ft.wait_metric("ferrotail_syslog_connections", &[], WAIT, |v| v == 0.0)
        .await;
    ft.stop().await;
}

/// While Loki refuses pushes, a TCP sender is slowed down (the receiver stops reading) rather
/// than buffered without bound; once Loki is back every message arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_backpressure_during_an_outage() {
    let dir = tempfile::tempdir().unwrap();
    let loki = FakeLoki::start().await;
    loki.fail_with(Some(503));
    let p = free_port();
    let scrape = job("bp", &format!("      listen_address: 127.0.0.1:{p}\n"));
    let port = free_port();
    let cfg = config(&loki.url, &dir.path().join("pos.yml"), port, "", &scrape).replace(
        "      max_period: 200ms\n",
        "      max_period: 200ms\n      max_retries: 100000\n",
    );
    let ft = Ferrotail::start(dir.path(), &cfg, port, &[]);
    wait_listeners(&ft, 1).await;
    let base_rss = rss_kib(ft.child.id());
    let n = 200_000usize;
    let pad = "x".repeat(200);
    let sender = std::thread::spawn(move || {
        let mut c = TcpStream::connect(format!("127.0.0.1:{p}")).unwrap();
        let mut sent = 0usize;
        let mut buf = Vec::new();
        for i in 0..n {
            buf.extend_from_slice(octet(&format!("<13>1 - h app - - - {i} {pad}")).as_bytes());
            if buf.len() > 64 * 1024 {
                c.write_all(&buf).unwrap();
                sent += buf.len();
                buf.clear();
            }
        }
        c.write_all(&buf).unwrap();
        sent + buf.len()
    });
    // The sender is blocked long before it has written its ~45 MB.
    loki.wait_failed(10, WAIT).await;
    assert!(!sender.is_finished(), "the sender was never slowed down");
    let rss = rss_kib(ft.child.id());
    eprintln!("RSS during the outage: {base_rss} KiB -> {rss} KiB");
    assert!(rss < base_rss + 48 * 1024, "{rss} KiB during the outage");
    loki.fail_with(None);
    let bytes = tokio::task::spawn_blocking(move || sender.join().unwrap())
        .await
        .unwrap();
    assert!(bytes > 40_000_000);
    loki.wait_for("every message", Duration::from_secs(120), |e| e.len() >= n)
        .await;
    assert_eq!(loki.entries().len(), n);
    ft.stop().await;
}

/// The example config and errors Promtail gives at start-up.
#[test]
fn check_syntax_of_syslog_configs() {
    let root = env!("CARGO_MANIFEST_DIR");
    let (code, out, err) = run_to_end(&[
        "-check-syntax",
        &format!("-config.file={root}/configs/promtail-config-syslog.yml"),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.yml");
    std::fs::write(
        &cfg,
        "clients:\n  - url: http://127.0.0.1:1/loki/api/v1/push\nscrape_configs:\n  - job_name: s\n    syslog:\n      listen_address: 127.0.0.1:0\n      listen_protocol: sctp\n",
    )
    .unwrap();
    let (code, out, err) =
        run_to_end(&["-check-syntax", &format!("-config.file={}", cfg.display())]);
    assert_ne!(code, 0);
    assert!(
        (out.clone() + &err).contains(
            "failed to make syslog target manager: invalid transport protocol. expected 'tcp' or 'udp', got 'sctp'"
        ),
        "{out}{err}"
    );
}
