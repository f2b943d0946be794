//! Arbitrary datagrams never panic the reassembler, decompressor or decoder.

use std::time::{Duration, Instant};

use gelf::{decode, decompress, Config, Reassembler, CHUNK_MAGIC};
use proptest::prelude::*;

fn datagram() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..64),
        (
            any::<u8>(),
            0u8..4,
            0u8..4,
            proptest::collection::vec(any::<u8>(), 0..32)
        )
            .prop_map(|(id, seq, count, data)| {
                let mut c = CHUNK_MAGIC.to_vec();
                c.extend_from_slice(&[id % 3; 8]);
                c.push(seq);
                c.push(count);
                c.extend_from_slice(&data);
                c
            }),
        proptest::collection::vec(any::<u8>(), 0..32).prop_map(|mut v| {
            v.splice(0..0, [0x1f, 0x8b]);
            v
        }),
        proptest::collection::vec(any::<u8>(), 0..32).prop_map(|mut v| {
            v.splice(0..0, [0x78, 0x9c]);
            v
        }),
        "[ -~]{0,40}"
            .prop_map(|s| format!("{{\"short_message\":\"{s}\",\"_x\":{}}}", s.len()).into_bytes()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn never_panics(dgrams in proptest::collection::vec(datagram(), 1..12), step in 0u64..3000) {
        let mut r = Reassembler::new(Config { max_pending_messages: 2, max_pending_bytes: 64, ..Config::default() });
        let mut now = Instant::now();
        for d in &dgrams {
            now += Duration::from_millis(step);
            if let Ok(Some(p)) = r.push(d, now) {
                if let Ok(json) = decompress(&p, 4096) {
                    if let Ok(Some(m)) = decode(&json) {
                        let line = m.promtail_line();
                        // The line decodes back to the same message.
                        let again = decode(line.as_bytes()).unwrap().unwrap();
                        prop_assert_eq!(again.promtail_line(), line);
                        let _ = gelf::labels(&m);
                    }
                }
            }
            r.expire(now);
            prop_assert!(r.pending_bytes() <= 64);
            prop_assert!(r.pending_messages() <= 2);
        }
    }
}
