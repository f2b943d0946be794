//! Interoperability with real senders: util-linux `logger` and rsyslog's `omfwd`.
//! A missing tool skips the test with a notice, or fails it when `CI` is set
//! (install them with `.ci/syslog-setup.sh`).

use std::io::Read;
use std::net::{TcpListener, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use syslog::{labels, line, rfc3164, rfc5424, Framer, FramerConfig, LabelOptions, SyslogFormat};

fn have(tool: &str) -> bool {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
        || ["/usr/sbin", "/sbin"]
            .iter()
            .any(|d| std::path::Path::new(d).join(tool).is_file());
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
        let p = std::path::Path::new(d).join(tool);
        if p.is_file() {
            return p.display().to_string();
        }
    }
    tool.to_string()
}

/// Accepts one TCP connection and returns everything received until EOF.
fn tcp_capture(send: impl FnOnce(u16)) -> Vec<u8> {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        let (mut c, _) = l.accept().unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut v = Vec::new();
        c.read_to_end(&mut v).unwrap();
        v
    });
    send(port);
    h.join().unwrap()
}

fn frames(data: &[u8]) -> Vec<Vec<u8>> {
    let mut f = Framer::new(FramerConfig::default());
    f.push(data);
    f.finish();
    let mut out = Vec::new();
    while let Some(r) = f.next_frame() {
        out.push(r.unwrap().to_vec());
    }
    out
}

fn logger(args: &[&str]) {
    let st = Command::new("logger").args(args).status().unwrap();
    assert!(st.success(), "logger {args:?} failed");
}

fn lbl(m: &syslog::Message<'_>, name: &str) -> Option<String> {
    labels(
        m,
        &LabelOptions {
            label_structured_data: true,
            ..Default::default()
        },
    )
    .into_iter()
    .find(|(k, _)| k == name)
    .map(|(_, v)| v)
}

#[test]
fn logger_tcp_rfc5424_octet_counting() {
    if !have("logger") {
        return;
    }
    let data = tcp_capture(|port| {
        let p = port.to_string();
        logger(&[
            "--tcp",
            "-n",
            "127.0.0.1",
            "-P",
            &p,
            "--rfc5424",
            "--octet-count",
            "-t",
            "myapp",
            "--id=4242",
            "-p",
            "local4.notice",
            "--msgid",
            "MSG1",
            "--sd-id",
            "example@99999",
            "--sd-param",
            "test=\"yes\"",
            "hello world",
        ]);
    });
    let fr = frames(&data);
    assert_eq!(fr.len(), 1, "{:?}", String::from_utf8_lossy(&data));
    let m = rfc5424::parse(&fr[0]).unwrap();
    assert_eq!(m.app_name, Some("myapp"));
    assert_eq!(m.proc_id, Some("4242"));
    assert_eq!(m.msg_id, Some("MSG1"));
    assert_eq!(m.severity_level(), "notice");
    assert_eq!(m.facility_level(), "local4");
    assert!(m.hostname.is_some());
    assert!(m.timestamp.unwrap().unix_nanos().unwrap() > 1_600_000_000_000_000_000);
    assert_eq!(m.message, Some(&b"hello world"[..]));
    assert_eq!(
        lbl(&m, "__syslog_message_sd_example_99999_test").as_deref(),
        Some("yes")
    );
    assert_eq!(
        lbl(&m, "__syslog_message_sd_timeQuality_tzKnown").as_deref(),
        Some("1")
    );
    // use_rfc5424_message round trip of a real message.
    let full = line(&m, SyslogFormat::Rfc5424, true).unwrap();
    assert!(full.starts_with(b"<165>1 "));
    assert!(full.ends_with(b"hello world"));
}

#[test]
fn logger_tcp_rfc5424_non_transparent() {
    if !have("logger") {
        return;
    }
    let data = tcp_capture(|port| {
        let p = port.to_string();
        logger(&[
            "--tcp",
            "-n",
            "127.0.0.1",
            "-P",
            &p,
            "--rfc5424",
            "-t",
            "nt",
            "line a",
        ]);
    });
    let fr = frames(&data);
    assert_eq!(fr.len(), 1, "{:?}", String::from_utf8_lossy(&data));
    let m = rfc5424::parse(&fr[0]).unwrap();
    assert_eq!(m.app_name, Some("nt"));
    assert_eq!(m.message, Some(&b"line a"[..]));
}

#[test]
fn logger_udp_rfc3164_and_rfc5424() {
    if !have("logger") {
        return;
    }
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let p = s.local_addr().unwrap().port().to_string();
    let mut buf = vec![0u8; 8192];

    logger(&[
        "--udp",
        "-n",
        "127.0.0.1",
        "-P",
        &p,
        "--rfc3164",
        "-t",
        "myapp",
        "--id=42",
        "-p",
        "user.info",
        "hello 3164",
    ]);
    let n = s.recv(&mut buf).unwrap();
    // Promtail parses each datagram as its own stream.
    let fr = frames(syslog::framing::truncate_datagram(&buf[..n], 8192));
    assert_eq!(fr.len(), 1);
    let m = rfc3164::parse(&fr[0], &rfc3164::Options::default()).unwrap();
    assert_eq!(m.app_name, Some("myapp"));
    assert_eq!(m.proc_id, Some("42"));
    assert_eq!(m.severity_level(), "informational");
    assert_eq!(m.facility_level(), "user");
    assert!(m.hostname.is_some());
    assert_eq!(m.message, Some(&b"hello 3164"[..]));
    assert_eq!(m.timestamp.unwrap().civil().0, 0, "Promtail keeps year 0");

    logger(&[
        "--udp",
        "-n",
        "127.0.0.1",
        "-P",
        &p,
        "--rfc5424",
        "--octet-count",
        "-t",
        "u5424",
        "hello udp",
    ]);
    let n = s.recv(&mut buf).unwrap();
    let fr = frames(&buf[..n]);
    let m = rfc5424::parse(&fr[0]).unwrap();
    assert_eq!(m.app_name, Some("u5424"));
    assert_eq!(m.message, Some(&b"hello udp"[..]));
}

#[test]
fn rsyslog_omfwd_octet_counted_rfc5424() {
    if !have("rsyslogd") || !have("logger") {
        return;
    }
    let out = TcpListener::bind("127.0.0.1:0").unwrap();
    let out_port = out.local_addr().unwrap().port();
    let in_port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(format!(
        "ferrotail-rsyslog-{}-{}",
        std::process::id(),
        in_port
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("rsyslog.conf");
    std::fs::write(
        &conf,
        format!(
            r#"global(workDirectory="{dir}")
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="{in_port}")
action(type="omfwd" target="127.0.0.1" port="{out_port}" protocol="tcp"
       TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format")
"#,
            dir = dir.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(tool_path("rsyslogd"))
        .arg("-n")
        .arg("-f")
        .arg(&conf)
        .arg("-i")
        .arg(dir.join("rsyslogd.pid"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    out.set_nonblocking(false).unwrap();
    let reader = std::thread::spawn(move || {
        let (mut c, _) = out.accept().unwrap();
        c.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut f = Framer::new(FramerConfig::default());
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            match c.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => f.push(&buf[..n]),
                Err(_) => {}
            }
            if let Some(r) = f.next_frame() {
                return Some(r.unwrap().to_vec());
            }
        }
        None
    });
    // Send until rsyslog is up and forwards (its UDP input may start late).
    let p = in_port.to_string();
    let mut frame = None;
    for _ in 0..40 {
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
            "via rsyslog",
        ]);
        std::thread::sleep(Duration::from_millis(250));
        if reader.is_finished() {
            frame = reader.join().unwrap();
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let frame = frame.expect("rsyslog forwarded nothing");
    let m = rfc5424::parse(&frame)
        .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&frame)));
    assert_eq!(m.app_name, Some("viarsyslog"));
    assert_eq!(m.severity_level(), "warning");
    assert_eq!(m.facility_level(), "daemon");
    let msg = m.message.unwrap();
    assert!(
        msg.starts_with(b"via rsyslog"),
        "{:?}",
        String::from_utf8_lossy(msg)
    );
}
