//! Table tests re-expressing Promtail 3.4.6's syslog target / syslogparser tests and
//! go-syslog's documented behaviour.

use syslog::framing::{Found, FrameError};
use syslog::{
    entry_timestamp, labels, line, parse, rfc3164, rfc5424, Framer, FramerConfig, Framing,
    LabelOptions, SyslogFormat, Timestamp,
};

type Frames = Vec<Result<Vec<u8>, FrameError>>;

fn frames(input: &[u8], cfg: FramerConfig) -> Frames {
    let mut f = Framer::new(cfg);
    f.push(input);
    f.finish();
    let mut out = Vec::new();
    while let Some(r) = f.next_frame() {
        out.push(r.map(<[u8]>::to_vec));
    }
    out
}

/// Feeds one byte at a time, must give the same frames.
fn frames_bytewise(input: &[u8], cfg: FramerConfig) -> Frames {
    let mut f = Framer::new(cfg);
    let mut out = Vec::new();
    for b in input {
        f.push(std::slice::from_ref(b));
        while let Some(r) = f.next_frame() {
            out.push(r.map(<[u8]>::to_vec));
        }
    }
    f.finish();
    while let Some(r) = f.next_frame() {
        out.push(r.map(<[u8]>::to_vec));
    }
    out
}

fn ok(s: &str) -> Result<Vec<u8>, FrameError> {
    Ok(s.as_bytes().to_vec())
}

#[test]
fn framing_table() {
    let cfg = FramerConfig::default();
    let cases: Vec<(&str, Frames)> = vec![
        // Promtail syslogparser_test: TestParseStream_OctetCounting.
        (
            "23 <13>1 - - - - - - First24 <13>1 - - - - - - Second",
            vec![
                ok("<13>1 - - - - - - First"),
                ok("<13>1 - - - - - - Second"),
            ],
        ),
        // TestParseStream_NewlineSeparated.
        (
            "<13>1 - - - - - - First\n<13>1 - - - - - - Second\n",
            vec![
                ok("<13>1 - - - - - - First"),
                ok("<13>1 - - - - - - Second"),
            ],
        ),
        // TestParseStream_OctetCounting_LongMessage: error, stream stops.
        (
            "8198 <13>1 - - - - - - First",
            vec![Err(FrameError::MessageTooLarge {
                length: 8198,
                max: 8192,
            })],
        ),
        // TestParseStream_InvalidStream.
        (
            "invalid",
            vec![Err(FrameError::InvalidFraming { first_byte: b'i' })],
        ),
        // TestParseStream_EmptyStream: nothing.
        ("", vec![]),
        // Non-transparent continuation lines belong to the message.
        (
            "<13>1 - - - - - - a\nb\n<14>1 - - - - - - c",
            vec![ok("<13>1 - - - - - - a\nb"), ok("<14>1 - - - - - - c")],
        ),
        // At EOF the unterminated last line is a separate frame.
        (
            "<13>1 - - - - - - a\nb",
            vec![ok("<13>1 - - - - - - a"), ok("b")],
        ),
        // Empty line kept inside the message, one LF stripped.
        (
            "<13>1 - - - - - - a\n\n<14>1 - - - - - - c\n",
            vec![ok("<13>1 - - - - - - a\n"), ok("<14>1 - - - - - - c")],
        ),
        // CRLF: the CR stays in the frame (go-syslog has no CR trailer).
        ("<13>1 - - - - - - a\r\n", vec![ok("<13>1 - - - - - - a\r")]),
        // NUL is an ordinary byte in non-transparent framing.
        (
            "<13>1 - - - - - - a\0b\n",
            vec![ok("<13>1 - - - - - - a\0b")],
        ),
        // Octet counting: one LF between frames tolerated, leading zeros accepted.
        ("5 <1>1 \n05 <2>1 ", vec![ok("<1>1 "), ok("<2>1 ")]),
        // Octet counting: trailing LF at EOF is an error after the frame.
        (
            "5 <1>1 \n",
            vec![
                ok("<1>1 "),
                Err(FrameError::Unexpected {
                    found: Found::Eof,
                    expected: "MSGLEN",
                }),
            ],
        ),
        // Octet counting: two LFs -> error.
        (
            "5 <1>1 \n\n5 <1>1 ",
            vec![
                ok("<1>1 "),
                Err(FrameError::Unexpected {
                    found: Found::Byte(b'\n'),
                    expected: "MSGLEN",
                }),
            ],
        ),
        // Octet counting: missing space.
        (
            "5<1>1 ",
            vec![Err(FrameError::Unexpected {
                found: Found::Byte(b'<'),
                expected: "WS",
            })],
        ),
        // Octet counting: message must start with '<'.
        (
            "5 hello",
            vec![Err(FrameError::Unexpected {
                found: Found::Byte(b'h'),
                expected: "SYSLOGMSG",
            })],
        ),
        // Octet counting: zero length.
        (
            "0 <1>",
            vec![Err(FrameError::Unexpected {
                found: Found::Byte(b'<'),
                expected: "SYSLOGMSG",
            })],
        ),
        // Octet counting: truncated by EOF.
        (
            "10 <1>1",
            vec![Err(FrameError::Truncated {
                expected: 10,
                got: 4,
            })],
        ),
        // Octet counting: overflowing length.
        (
            "99999999999999999999999 <",
            vec![Err(FrameError::InvalidLength)],
        ),
        // Octet counting: non-transparent frame after an octet-counted one.
        (
            "5 <1>1 <2>1 x\n",
            vec![
                ok("<1>1 "),
                Err(FrameError::Unexpected {
                    found: Found::Byte(b'<'),
                    expected: "MSGLEN",
                }),
            ],
        ),
        // NUL after a frame ends the stream silently (go-syslog's EOF marker).
        ("5 <1>1 \0garbage", vec![ok("<1>1 ")]),
    ];
    for (input, want) in cases {
        assert_eq!(frames(input.as_bytes(), cfg), want, "input {input:?}");
        assert_eq!(
            frames_bytewise(input.as_bytes(), cfg),
            want,
            "bytewise {input:?}"
        );
    }
}

#[test]
fn framing_detection_and_limits() {
    let mut f = Framer::new(FramerConfig::default());
    f.push(b"12");
    assert!(f.next_frame().is_none());
    assert_eq!(f.framing(), Some(Framing::OctetCounting));

    // A TCP message is delivered only once the next one starts.
    let mut f = Framer::new(FramerConfig::default());
    f.push(b"<13>1 - - - - - - a\n");
    assert!(f.next_frame().is_none());
    f.push(b"<");
    assert_eq!(f.next_frame().unwrap().unwrap(), b"<13>1 - - - - - - a");

    // Ferrotail's non-transparent bound: skip, report, resync.
    let cfg = FramerConfig {
        max_message_length: 8192,
        max_nontransparent_length: 16,
    };
    let input = b"<13>1 - - - - - - aaaaaaaaaaaaaaaaaaaa\n<14>1 - - - - - x\n<15>ok\n";
    let got = frames(input, cfg);
    assert_eq!(
        got,
        vec![
            Err(FrameError::NonTransparentTooLong { max: 16 }),
            Err(FrameError::NonTransparentTooLong { max: 16 }),
            ok("<15>ok"),
        ]
    );
    assert_eq!(frames_bytewise(input, cfg), got);
    assert!(!FrameError::NonTransparentTooLong { max: 1 }.is_fatal());
    assert!(FrameError::InvalidLength.is_fatal());
    assert!(!FrameError::InvalidFraming { first_byte: b'x' }.counts_as_parsing_error());

    // max_message_length is inclusive.
    let cfg = FramerConfig::with_max_message_length(5);
    assert_eq!(frames(b"5 <1>1 ", cfg), vec![ok("<1>1 ")]);
    assert_eq!(
        frames(b"6 <1>1 x", cfg),
        vec![Err(FrameError::MessageTooLarge { length: 6, max: 5 })]
    );
    assert_eq!(syslog::framing::truncate_datagram(b"abcdef", 4), b"abcd");
    assert_eq!(syslog::framing::truncate_datagram(b"ab", 0), b"ab");
}

const PROMTAIL_MSGS: [&str; 3] = [
    r#"<165>1 2018-10-11T22:14:15.003Z host5 e - id1 [custom@32473 exkey="1"] An application event log entry..."#,
    r#"<165>1 2018-10-11T22:14:15.005Z host5 e - id2 [custom@32473 exkey="2"] An application event log entry..."#,
    r#"<165>1 2018-10-11T22:14:15.007Z host5 e - id3 [custom@32473 exkey="3"] An application event log entry..."#,
];

#[test]
fn promtail_syslog_target_labels() {
    let m = rfc5424::parse(PROMTAIL_MSGS[0].as_bytes()).unwrap();
    let opts = LabelOptions {
        label_structured_data: true,
        connection_ip: Some("127.0.0.1"),
        connection_hostname: Some("localhost"),
    };
    let got = labels(&m, &opts);
    let want: Vec<(String, String)> = [
        ("__syslog_connection_ip_address", "127.0.0.1"),
        ("__syslog_connection_hostname", "localhost"),
        ("__syslog_message_severity", "notice"),
        ("__syslog_message_facility", "local4"),
        ("__syslog_message_hostname", "host5"),
        ("__syslog_message_app_name", "e"),
        ("__syslog_message_msg_id", "id1"),
        ("__syslog_message_sd_custom_32473_exkey", "1"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(got, want);
    assert_eq!(
        line(&m, SyslogFormat::Rfc5424, false).unwrap().as_ref(),
        b"An application event log entry..."
    );
    // use_rfc5424_message gives back the original messages.
    for raw in PROMTAIL_MSGS {
        let m = rfc5424::parse(raw.as_bytes()).unwrap();
        assert_eq!(
            line(&m, SyslogFormat::Rfc5424, true).unwrap().as_ref(),
            raw.as_bytes()
        );
    }
    // Without label_structured_data and without a reverse DNS name.
    let opts = LabelOptions {
        label_structured_data: false,
        connection_ip: Some("127.0.0.1"),
        connection_hostname: Some(""),
    };
    let names: Vec<String> = labels(&m, &opts).into_iter().map(|(k, _)| k).collect();
    assert!(!names.iter().any(|n| n.starts_with("__syslog_message_sd_")));
    assert!(!names.iter().any(|n| n == "__syslog_connection_hostname"));
}

#[test]
fn docs_example_sd_label_name() {
    let m = rfc5424::parse(br#"<13>1 - - - - - [example@99999 test="yes"] x"#).unwrap();
    let l = labels(
        &m,
        &LabelOptions {
            label_structured_data: true,
            ..Default::default()
        },
    );
    assert!(l.contains(&(
        "__syslog_message_sd_example_99999_test".to_string(),
        "yes".to_string()
    )));
}

#[test]
fn rfc5424_accepts() {
    // Promtail TestSyslogTarget_NonUTF8Message: non-UTF-8 MSG kept byte for byte.
    let msg1 = b"Some non utf8 \xF8\xF7\xE3\xE4 characters";
    let mut raw = b"<165>1 - - - - - - ".to_vec();
    raw.extend_from_slice(msg1);
    let m = rfc5424::parse(&raw).unwrap();
    assert_eq!(m.message, Some(&msg1[..]));
    assert_eq!(m.timestamp, None);
    assert_eq!(m.hostname, None);

    // RFC 5424 examples.
    let m = rfc5424::parse(
        b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \xEF\xBB\xBF'su root' failed for lonvick on /dev/pts/8",
    )
    .unwrap();
    assert_eq!(m.priority, 34);
    assert_eq!((m.facility, m.severity), (4, 2));
    assert_eq!(m.severity_level(), "critical");
    assert_eq!(m.facility_level(), "auth");
    assert_eq!(m.hostname, Some("mymachine.example.com"));
    assert_eq!(m.app_name, Some("su"));
    assert_eq!(m.proc_id, None);
    assert_eq!(m.msg_id, Some("ID47"));
    assert_eq!(m.structured_data, None);
    // BOM kept.
    assert!(m.message.unwrap().starts_with(b"\xEF\xBB\xBF'su root'"));
    let ts = m.timestamp.unwrap();
    assert_eq!(ts.unix_nanos(), Some(1_065_910_455_003_000_000));

    let m = rfc5424::parse(
        br#"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts."#,
    )
    .unwrap();
    let ts = m.timestamp.unwrap();
    assert_eq!(ts.offset_secs, -7 * 3600);
    assert_eq!(ts.unix_nanos(), Some(1_061_727_255_000_003_000));
    assert_eq!(m.proc_id, Some("8710"));
    let s = syslog::promtail::rfc5424_string(&m);
    assert_eq!(
        s,
        br#"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts."#
    );

    let m = rfc5424::parse(
        br#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]"#,
    )
    .unwrap();
    assert_eq!(m.message, None, "no MSG");
    let sd = m.structured_data.as_ref().unwrap();
    assert_eq!(sd.len(), 2);
    assert_eq!(sd[0].id, "exampleSDID@32473");
    assert_eq!(sd[0].params[1].0, "eventSource");
    assert_eq!(sd[1].params[0].1, "high");
    // No MSG: Promtail drops it as empty.
    assert!(line(&m, SyslogFormat::Rfc5424, false).is_none());

    // Escapes, empty SD element, SD element without params.
    let m = rfc5424::parse(br#"<1>1 - - - - - [a x="q\"b\]c\\d" y=""][b] m"#).unwrap();
    let sd = m.structured_data.as_ref().unwrap();
    assert_eq!(sd[0].params[0].1, r#"q"b]c\d"#);
    assert_eq!(sd[1].params.len(), 0);
    let s = syslog::promtail::rfc5424_string(&m);
    assert_eq!(s, br#"<1>1 - - - - - [a x="q\"b\]c\\d" y=""][b] m"#);
    let l = labels(
        &m,
        &LabelOptions {
            label_structured_data: true,
            ..Default::default()
        },
    );
    assert!(
        !l.iter().any(|(k, _)| k == "__syslog_message_sd_a_y"),
        "empty value omitted"
    );

    // SD sorted on re-serialisation, +00:00 printed as Z, fraction trimmed.
    let m = rfc5424::parse(
        br#"<1>1 2020-01-01T00:00:00.500000+00:00 h a p m [z b="1" a="2"][y c="3"] hi"#,
    )
    .unwrap();
    assert_eq!(
        syslog::promtail::rfc5424_string(&m),
        br#"<1>1 2020-01-01T00:00:00.5Z h a p m [y c="3"][z a="2" b="1"] hi"#
    );

    // MSG with trailing newline and CR kept; empty MSG after SP is absent.
    let m = rfc5424::parse(b"<1>1 - - - - - - a\r\n").unwrap();
    assert_eq!(m.message, Some(&b"a\r\n"[..]));
    let m = rfc5424::parse(b"<1>1 - - - - - - ").unwrap();
    assert_eq!(m.message, None);
    // PRI 0 and 191, version 999, leap day, max field lengths.
    assert_eq!(rfc5424::parse(b"<0>1 - - - - - - x").unwrap().priority, 0);
    assert_eq!(
        rfc5424::parse(b"<191>999 - - - - - - x").unwrap().version,
        999
    );
    assert!(rfc5424::parse(b"<1>1 2024-02-29T00:00:00Z - - - - - x").is_ok());
    let h = "h".repeat(255);
    assert!(rfc5424::parse(format!("<1>1 - {h} - - - - x").as_bytes()).is_ok());
    let a = "a".repeat(48);
    assert!(rfc5424::parse(format!("<1>1 - - {a} - - - x").as_bytes()).is_ok());
}

#[test]
fn rfc5424_refuses() {
    let bad: &[&[u8]] = &[
        b"",
        b"<>1 - - - - - - x",
        b"<00>1 - - - - - - x",
        b"<01>1 - - - - - - x",
        b"<192>1 - - - - - - x",
        b"<1000>1 - - - - - - x",
        b"<1>0 - - - - - - x",
        b"<1>1000 - - - - - - x",
        b"<1> - - - - - - x",
        b"<1>1 - - - - -",
        b"<1>1 - - - - - -x",
        // Promtail's "malformed" messages (best effort recovers them, Promtail drops).
        b"<165>1    -   An application event log entry...",
        b"<165>1 2018-10-11T22:14:15.007Z host5 e -   An application event log entry...",
        b"<13>1       First",
        b"<1>1 2024-02-30T00:00:00Z - - - - - x",
        b"<1>1 2023-02-29T00:00:00Z - - - - - x",
        b"<1>1 2024-01-01T24:00:00Z - - - - - x",
        b"<1>1 2024-01-01T00:00:60Z - - - - - x",
        b"<1>1 2024-01-01T00:00:00.1234567Z - - - - - x",
        b"<1>1 2024-01-01T00:00:00. - - - - - x",
        b"<1>1 2024-01-01T00:00:00 - - - - - x",
        b"<1>1 2024-01-01t00:00:00Z - - - - - x",
        b"<1>1 2024-01-01T00:00:00z - - - - - x",
        b"<1>1 2024-1-01T00:00:00Z - - - - - x",
        b"<1>1 - h\xc3\xa9 - - - - x",
        b"<1>1 - - - - - [a x=\"1\"][a y=\"2\"] x",
        b"<1>1 - - - - - [a x=\"1] x",
        b"<1>1 - - - - - [a x=\"\\n\"] x",
        b"<1>1 - - - - - [a x=\"\xff\"] x",
        b"<1>1 - - - - - [a x=1] x",
        b"<1>1 - - - - - [] x",
        b"<1>1 - - - - - [a=b] x",
        b"<1>1 - - - - - [a  x=\"1\"] x",
        b"<1>1 - - - - - [aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa] x",
        b"<1>1 - - - - - [a x=\"1\"",
        b"<1>1 - - - - - [a x=\"1\"]x",
        b"  <1>1 - - - - - - x",
    ];
    for b in bad {
        assert!(
            rfc5424::parse(b).is_err(),
            "{:?}",
            String::from_utf8_lossy(b)
        );
    }
    let h = "h".repeat(256);
    assert!(rfc5424::parse(format!("<1>1 - {h} - - - - x").as_bytes()).is_err());
    let m = "m".repeat(33);
    assert!(rfc5424::parse(format!("<1>1 - - - - {m} - x").as_bytes()).is_err());
}

fn p3164(s: &str) -> syslog::Message<'_> {
    rfc3164::parse(s.as_bytes(), &rfc3164::Options::default())
        .unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

#[test]
fn rfc3164_fields() {
    // (input, hostname, app, procid, message)
    type Row<'a> = (
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        &'a str,
    );
    let rows: &[Row] = &[
        (
            "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
            Some("mymachine"),
            Some("su"),
            None,
            "'su root' failed for lonvick on /dev/pts/8",
        ),
        (
            "<13>Mar  5 10:00:00 myhost myuser[123]: hello world",
            Some("myhost"),
            Some("myuser"),
            Some("123"),
            "hello world",
        ),
        // Tag only (no hostname).
        (
            "<13>Jan  1 00:00:00 app[1]: msg",
            None,
            Some("app"),
            Some("1"),
            "msg",
        ),
        (
            "<13>Jan  1 00:00:00 app: msg",
            None,
            Some("app"),
            None,
            "msg",
        ),
        // First word taken as the hostname.
        (
            "<13>Jan  1 00:00:00 hello world",
            Some("hello"),
            None,
            None,
            "world",
        ),
        // A single word: the message.
        ("<13>Jan  1 00:00:00 hello", None, None, None, "hello"),
        // Quirk: a tag alternative that fails later still sets the fields.
        (
            "<13>Jan  1 00:00:00 host app:foo bar",
            Some("host"),
            Some("app"),
            None,
            "app:foo bar",
        ),
        (
            "<13>Jan  1 00:00:00 host app[1] no colon",
            Some("host"),
            Some("app"),
            Some("1"),
            "1] no colon",
        ),
        // Extra spaces, leading zero day, spaces after PRI, trailing LF.
        (
            "<13>  Jan 01 00:00:00   host   app: m  x\n",
            Some("host"),
            Some("app"),
            None,
            "m  x",
        ),
        // Non-ASCII message bytes are visible.
        (
            "<13>Jan  1 00:00:00 host app: h\u{e9}",
            Some("host"),
            Some("app"),
            None,
            "h\u{e9}",
        ),
        // Hostname "-" is nil.
        ("<13>Jan  1 00:00:00 - app: m", None, Some("app"), None, "m"),
    ];
    for &(input, host, app, pid, msg) in rows {
        let m = p3164(input);
        assert_eq!(m.hostname, host, "{input:?}");
        assert_eq!(m.app_name, app, "{input:?}");
        assert_eq!(m.proc_id, pid, "{input:?}");
        assert_eq!(m.msg_id, None);
        assert_eq!(m.message, Some(msg.as_bytes()), "{input:?}");
        assert_eq!(m.version, 0);
    }
    let m = p3164("<34>Oct 11 22:14:15 mymachine su: x");
    assert_eq!(m.severity_level(), "critical");
    assert_eq!(m.facility_level(), "auth");
    // Year 0, UTC: out of the i64 nanosecond range.
    let ts = m.timestamp.unwrap();
    assert_eq!(ts.civil(), (0, 10, 11, 22, 14, 15));
    assert_eq!(ts.unix_nanos(), None);
    // Feb 29 exists in year 0; WithYear moves it to Mar 1 in 2023.
    let m = p3164("<13>Feb 29 00:00:00 h a: m");
    assert_eq!(m.timestamp.unwrap().civil().1, 2);
    let m = rfc3164::parse(
        b"<13>Feb 29 00:00:00 h a: m",
        &rfc3164::Options { year: Some(2023) },
    )
    .unwrap();
    assert_eq!(m.timestamp.unwrap().civil(), (2023, 3, 1, 0, 0, 0));
    let m = rfc3164::parse(
        b"<13>Jul  4 01:02:03 h a: m",
        &rfc3164::Options { year: Some(2024) },
    )
    .unwrap();
    assert_eq!(
        m.timestamp.unwrap().unix_nanos(),
        Some(1_720_054_923_000_000_000)
    );
}

#[test]
fn rfc3164_refuses() {
    let bad: &[&[u8]] = &[
        b"<13>Jan  1 00:00:00",
        b"<13>Jan  1 00:00:00 ",
        b"<13>Jan  1 00:00:00\n",
        b"<13>Jan  1 00:00:00host a: m",
        b"<13>Jan  1 00:00:00 host a:\tm",
        b"<13>Jan  1 00:00:00 host a: m\r\n",
        b"<13>Jan  1 00:00:00 host a: m\n\n",
        b"<13>Jan  1 00:00:00 host a: m\nb",
        b"<13>jan  1 00:00:00 host a: m",
        b"<13>Jan 1 00:00:00 host a: m",
        b"<13>Jan 32 00:00:00 host a: m",
        b"<13>Feb 30 00:00:00 host a: m",
        b"<13>Apr 31 00:00:00 host a: m",
        b"<13>Jan  1 24:00:00 host a: m",
        b"<13>Jan  1 00:00:00.123 host a: m",
        b"<13>2024-01-01T00:00:00Z host a: m",
        b"<13>1 2024-01-01T00:00:00Z host a - - - m",
        b"Jan  1 00:00:00 host a: m",
        b"<192>Jan  1 00:00:00 host a: m",
    ];
    for b in bad {
        assert!(
            rfc3164::parse(b, &rfc3164::Options::default()).is_err(),
            "{:?}",
            String::from_utf8_lossy(b)
        );
    }
}

#[test]
fn rfc3164_labels_line_and_timestamp() {
    let m = p3164("<13>Mar  5 10:00:00 myhost myuser[123]: hello");
    let l = labels(&m, &LabelOptions::default());
    assert!(l.contains(&("__syslog_message_severity".into(), "notice".into())));
    assert!(l.contains(&("__syslog_message_facility".into(), "user".into())));
    assert!(l.contains(&("__syslog_message_proc_id".into(), "123".into())));
    // use_rfc5424_message is ignored for RFC 3164.
    assert_eq!(
        line(&m, SyslogFormat::Rfc3164, true).unwrap().as_ref(),
        b"hello"
    );
    let now = Timestamp::from_unix_nanos(1_700_000_000_000_000_000);
    assert_eq!(entry_timestamp(&m, false, now), now);
    assert_eq!(entry_timestamp(&m, true, now).civil().0, 0);
    let m = rfc5424::parse(b"<13>1 - - - - - - x").unwrap();
    assert_eq!(entry_timestamp(&m, true, now), now, "nil timestamp");
    assert_eq!(SyslogFormat::from_config(""), Some(SyslogFormat::Rfc5424));
    assert_eq!(
        SyslogFormat::from_config("rfc3164"),
        Some(SyslogFormat::Rfc3164)
    );
    assert_eq!(SyslogFormat::from_config("RFC3164"), None);
    assert!(parse(SyslogFormat::Rfc3164, b"<13>Mar  5 10:00:00 a b").is_ok());
}

#[test]
fn keywords() {
    let sev: Vec<&str> = (0..8).map(syslog::message::severity_keyword).collect();
    assert_eq!(
        sev,
        [
            "emergency",
            "alert",
            "critical",
            "error",
            "warning",
            "notice",
            "informational",
            "debug"
        ]
    );
    let fac: Vec<&str> = (0..24).map(syslog::message::facility_keyword).collect();
    assert_eq!(fac[9], "cron");
    assert_eq!(fac[15], "cron2");
    assert_eq!(fac[23], "local7");
}

#[test]
fn flush_line_delivers_a_non_transparent_message_before_the_next_one_starts() {
    let mut f = Framer::new(FramerConfig::default());
    f.push(b"<13>1 - - - - - - a\n");
    assert!(f.next_frame().is_none(), "waits for the next byte");
    assert!(f.has_pending_line());
    assert_eq!(f.flush_line(), Some(&b"<13>1 - - - - - - a"[..]));
    assert!(!f.has_pending_line());
    assert!(f.flush_line().is_none());
    f.push(b"<13>1 - - - - - - b\n<14>1 - - - - - - c");
    assert_eq!(f.next_frame().unwrap().unwrap(), b"<13>1 - - - - - - b");
    assert!(f.next_frame().is_none());
    assert!(!f.has_pending_line(), "no LF at the end");
    f.shrink();
    f.finish();
    assert_eq!(f.next_frame().unwrap().unwrap(), b"<14>1 - - - - - - c");
    // Octet counting never has a pending line.
    let mut o = Framer::new(FramerConfig::default());
    o.push(b"3 <1>\n");
    assert!(!o.has_pending_line());
}
