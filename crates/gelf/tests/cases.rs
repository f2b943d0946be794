//! GELF packets built exactly as go-gelf's `UDPWriter` builds them (JSON via
//! `MarshalJSONBuf`, gzip/zlib at `BestSpeed`, chunks of 1420 bytes with a 12-byte
//! header), decoded and mapped as Promtail 3.4.6 does.

use std::io::Write;
use std::time::{Duration, Instant};

use gelf::{
    decode, decompress, entry_timestamp_nanos, labels, Compression, Config, GelfError, Message,
    Reassembler, CHUNK_MAGIC,
};

const CHUNK_SIZE: usize = 1420;
const CHUNK_DATA: usize = CHUNK_SIZE - 12;

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn zlib(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// go-gelf `writeChunked`.
fn chunks(z: &[u8], id: [u8; 8]) -> Vec<Vec<u8>> {
    if z.len() <= CHUNK_SIZE {
        return vec![z.to_vec()];
    }
    let n = z.len() / CHUNK_DATA + 1;
    (0..n)
        .map(|i| {
            let mut c = CHUNK_MAGIC.to_vec();
            c.extend_from_slice(&id);
            c.push(i as u8);
            c.push(n as u8);
            c.extend_from_slice(&z[i * CHUNK_DATA..((i + 1) * CHUNK_DATA).min(z.len())]);
            c
        })
        .collect()
}

fn receive(r: &mut Reassembler, dgrams: &[Vec<u8>], now: Instant) -> Vec<Message> {
    let mut out = Vec::new();
    for d in dgrams {
        if let Some(p) = r.push(d, now).unwrap() {
            let json = decompress(&p, r.config().max_decompressed_size).unwrap();
            out.extend(decode(&json).unwrap());
        }
    }
    out
}

/// The message of Promtail's Test_Gelf, as go-gelf marshals it.
const PROMTAIL_TEST_JSON: &str = r#"{"version":"2.2","host":"thishost","short_message":"short","full_message":"full","timestamp":10.25,"level":3,"facility":"gelftest","_foo":"bar"}"#;

#[test]
fn promtail_test_gelf_message() {
    let mut r = Reassembler::new(Config::default());
    let now = Instant::now();
    for payload in [
        PROMTAIL_TEST_JSON.as_bytes().to_vec(),
        gzip(PROMTAIL_TEST_JSON.as_bytes()),
        zlib(PROMTAIL_TEST_JSON.as_bytes()),
    ] {
        let msgs = receive(&mut r, &[payload], now);
        assert_eq!(msgs.len(), 1);
        let m = &msgs[0];
        assert_eq!(
            labels(m),
            vec![
                ("__gelf_message_level", "error"),
                ("__gelf_message_host", "thishost"),
                ("__gelf_message_version", "2.2"),
                ("__gelf_message_facility", "gelftest"),
            ]
        );
        // The line is the whole message re-marshalled.
        assert_eq!(m.promtail_line(), PROMTAIL_TEST_JSON);
        // TestConvertTime: 10.25 s.
        assert_eq!(entry_timestamp_nanos(m, true, 7), 10_250_000_000);
        assert_eq!(entry_timestamp_nanos(m, false, 7), 7);
    }
}

#[test]
fn chunked_unordered_interleaved() {
    // Promtail Test_GelfChunksUnordered: two uncompressed chunked messages, chunks
    // interleaved.
    let a = format!(r#"{{"short_message":"{}"}}"#, "a".repeat(CHUNK_SIZE * 2));
    let b = format!(r#"{{"short_message":"{}"}}"#, "b".repeat(CHUNK_SIZE * 2));
    let ca = chunks(a.as_bytes(), *b"AAAAAAAA");
    let cb = chunks(b.as_bytes(), *b"BBBBBBBB");
    assert_eq!(ca.len(), 3);
    let mut order = Vec::new();
    for i in (0..3).rev() {
        order.push(ca[i].clone());
        order.push(cb[i].clone());
    }
    let mut r = Reassembler::new(Config {
        max_datagram: 1420,
        ..Config::default()
    });
    let msgs = receive(&mut r, &order, Instant::now());
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0].short_message, "a".repeat(CHUNK_SIZE * 2));
    assert_eq!(msgs[1].short_message, "b".repeat(CHUNK_SIZE * 2));
    // No level field: level 0 -> "emergency", line omits level and empty fields.
    assert_eq!(
        labels(&msgs[0]),
        vec![("__gelf_message_level", "emergency")]
    );
    assert!(msgs[0]
        .promtail_line()
        .starts_with(r#"{"version":"","host":"","short_message":"aaa"#));
    assert!(msgs[0].promtail_line().ends_with(r#"aaa","timestamp":0}"#));
    assert_eq!(r.pending_messages(), 0);
    assert_eq!(r.pending_bytes(), 0);
    assert_eq!(r.stats().reassembled_messages, 2);
}

#[test]
fn docker_like_gzip_chunked() {
    // What Docker's gelf log driver sends: gzip, extra container fields.
    let long = "x".repeat(20_000);
    let json = format!(
        r#"{{"version":"1.1","host":"dockerhost","short_message":"{long}","timestamp":1700000000.123,"level":6,"_command":"sh -c echo","_container_id":"abc","_container_name":"web","_created":"2024-01-01T00:00:00Z","_image_id":"sha256:1","_image_name":"busybox","_tag":"abc"}}"#
    );
    // Incompressible payload to force several chunks.
    let mut x: u32 = 0x9e37_79b9;
    let noisy: String = (0..6000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            char::from(b'a' + (x % 26) as u8)
        })
        .collect();
    let json2 = format!(
        r#"{{"version":"1.1","host":"h","short_message":"{noisy}","timestamp":1.5,"level":7}}"#
    );
    let mut r = Reassembler::new(Config::default());
    let now = Instant::now();
    let mut d = chunks(&gzip(json.as_bytes()), *b"12345678");
    let c2 = chunks(&gzip(json2.as_bytes()), *b"87654321");
    assert!(c2.len() > 2, "{}", c2.len());
    d.extend(c2);
    let msgs = receive(&mut r, &d, now);
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0].host, "dockerhost");
    assert_eq!(msgs[0].extra.len(), 7);
    assert_eq!(msgs[0].promtail_line(), json);
    assert_eq!(
        entry_timestamp_nanos(&msgs[0], true, 0),
        1_700_000_000_122_999_808
    );
    assert_eq!(msgs[1].promtail_line(), json2);
    assert_eq!(labels(&msgs[1])[0], ("__gelf_message_level", "debug"));
}

#[test]
fn go_json_marshalling() {
    let cases = [
        // Unknown non-underscore keys dropped, extras sorted, numbers as float64,
        // HTML escaping, level 0 and empty facility omitted, nested values sorted.
        (
            r#"{"_z":1,"_a":{"y":[1,2.50,"<x>"],"b":null},"id":"dropped","short_message":"a&b","level":0,"timestamp":1e21,"facility":""}"#,
            r#"{"version":"","host":"","short_message":"a\u0026b","timestamp":1e+21,"_a":{"b":null,"y":[1,2.5,"\u003cx\u003e"]},"_z":1}"#,
        ),
        // Level truncated to int32, big integers become float64.
        (
            r#"{"level":6.9,"_n":12345678901234567890,"_t":true,"_s":"\u00e9\n"}"#,
            r#"{"version":"","host":"","short_message":"","timestamp":0,"level":6,"_n":12345678901234567000,"_s":"é\n","_t":true}"#,
        ),
        // Duplicate keys: the last wins; trailing data after the object ignored.
        (
            r#"{"host":"a","host":"b"} trailing"#,
            r#"{"version":"","host":"b","short_message":"","timestamp":0}"#,
        ),
    ];
    for (input, want) in cases {
        let m = decode(input.as_bytes()).unwrap().unwrap();
        assert_eq!(m.promtail_line(), want, "{input}");
    }
    // Invalid UTF-8 becomes U+FFFD, as Go's decoder does.
    let m = decode(b"{\"short_message\":\"a\xffb\"}").unwrap().unwrap();
    assert_eq!(m.short_message, "a\u{fffd}b");
}

#[test]
fn refused_payloads() {
    let bad: &[&[u8]] = &[
        b"",
        b"not json",
        b"[1,2]",
        b"\"str\"",
        br#"{"level":"6"}"#,
        br#"{"timestamp":"1.5"}"#,
        br#"{"host":5}"#,
        br#"{"full_message":null}"#,
        br#"{"":1}"#,
        br#"{"short_message":"x""#,
        br#"{"timestamp":1e400}"#,
    ];
    for b in bad {
        assert!(
            matches!(decode(b), Err(GelfError::Json(_))),
            "{:?}",
            String::from_utf8_lossy(b)
        );
    }
    assert_eq!(decode(b"null").unwrap(), None);
    assert_eq!(decode(b" \n{}").unwrap(), Some(Message::default()));
    // Corrupt gzip.
    assert!(matches!(
        decompress(&[0x1f, 0x8b, 1, 2, 3], 1 << 20),
        Err(GelfError::Decompress(_))
    ));
    assert_eq!(Compression::detect(&[0x78, 0x9c]), Compression::Zlib);
    assert_eq!(Compression::detect(&[0x78, 0x00]), Compression::None);
    assert_eq!(Compression::detect(b"{"), Compression::None);
}

#[test]
fn gzip_bomb_is_capped() {
    let zeros = vec![b' '; 8 << 20];
    let bomb = gzip(&zeros);
    assert!(bomb.len() < 64 << 10);
    assert_eq!(
        decompress(&bomb, 1 << 20),
        Err(GelfError::DecompressedTooLarge { max: 1 << 20 })
    );
    assert!(decompress(&bomb, 8 << 20).is_ok());
    let zb = zlib(&zeros);
    assert_eq!(
        decompress(&zb, 1000),
        Err(GelfError::DecompressedTooLarge { max: 1000 })
    );
}

#[test]
fn chunk_errors_expiry_and_bounds() {
    let now = Instant::now();
    let mut r = Reassembler::new(Config::default());
    let hdr = |seq: u8, count: u8, id: u8| {
        let mut c = CHUNK_MAGIC.to_vec();
        c.extend_from_slice(&[id; 8]);
        c.push(seq);
        c.push(count);
        c
    };
    assert_eq!(
        r.push(&hdr(0, 2, 1), now),
        Err(GelfError::ChunkTooShort { len: 12 })
    );
    let mut c = hdr(2, 2, 1);
    c.push(b'x');
    assert_eq!(
        r.push(&c, now),
        Err(GelfError::InvalidChunk { seq: 2, count: 2 })
    );
    let mut c = hdr(0, 129, 1);
    c.push(b'x');
    assert_eq!(
        r.push(&c, now),
        Err(GelfError::InvalidChunk { seq: 0, count: 129 })
    );
    let mut c = hdr(0, 0, 1);
    c.push(b'x');
    assert!(r.push(&c, now).is_err());
    assert_eq!(r.stats().rejected_chunks, 4);

    // Single chunk is a whole message.
    let mut c = hdr(0, 1, 9);
    c.extend_from_slice(b"{}");
    assert_eq!(r.push(&c, now).unwrap().unwrap().as_ref(), b"{}");

    // Duplicate chunk ignored; the message completes once.
    let mut c0 = hdr(0, 2, 2);
    c0.extend_from_slice(b"{\"host\":");
    let mut c1 = hdr(1, 2, 2);
    c1.extend_from_slice(b"\"h\"}");
    assert_eq!(r.push(&c0, now).unwrap(), None);
    assert_eq!(r.push(&c0, now).unwrap(), None);
    assert_eq!(r.stats().duplicate_chunks, 1);
    assert_eq!(
        r.push(&c1, now).unwrap().unwrap().as_ref(),
        b"{\"host\":\"h\"}"
    );

    // Expiry: 5 s window from the first chunk.
    assert_eq!(r.push(&c0, now).unwrap(), None);
    let late = now + Duration::from_millis(5001);
    assert_eq!(r.push(&c1, late), Err(GelfError::Expired));
    assert_eq!(r.expire(late), 1);
    assert_eq!(r.stats().expired_messages, 1);
    assert_eq!(r.pending_bytes(), 0);
    // After cleanup the id can be reused.
    assert_eq!(r.push(&c0, late).unwrap(), None);
    assert!(r.push(&c1, late).unwrap().is_some());

    // Pending-message bound evicts the oldest.
    let mut r = Reassembler::new(Config {
        max_pending_messages: 2,
        ..Config::default()
    });
    for id in 1..=3u8 {
        let mut c = hdr(0, 2, id);
        c.push(b'x');
        assert_eq!(r.push(&c, now).unwrap(), None);
    }
    assert_eq!(r.pending_messages(), 2);
    assert_eq!(r.stats().evicted_messages, 1);
    let mut c = hdr(1, 2, 1);
    c.push(b'y');
    assert_eq!(r.push(&c, now).unwrap(), None, "message 1 was evicted");

    // Pending-byte bound.
    let mut r = Reassembler::new(Config {
        max_pending_bytes: 10,
        ..Config::default()
    });
    let mut c = hdr(0, 3, 1);
    c.extend_from_slice(&[b'a'; 8]);
    assert_eq!(r.push(&c, now).unwrap(), None);
    let mut c = hdr(0, 3, 2);
    c.extend_from_slice(&[b'b'; 8]);
    assert_eq!(r.push(&c, now).unwrap(), None);
    assert_eq!(r.pending_messages(), 1);
    assert_eq!(r.pending_bytes(), 8);
    let mut c = hdr(0, 3, 3);
    c.extend_from_slice(&[b'c'; 11]);
    assert_eq!(r.push(&c, now).unwrap(), None);
    assert!(r.pending_bytes() <= 10);

    // Datagrams longer than go-gelf's 1420-byte read buffer are cut.
    let mut r = Reassembler::new(Config::default());
    let big = format!(r#"{{"short_message":"{}"}}"#, "z".repeat(2000));
    let p = r.push(big.as_bytes(), now).unwrap().unwrap();
    assert_eq!(p.len(), 1420);
    assert!(decode(&p).is_err());
}
