//! Arbitrary bytes never panic the framer or the parsers, and framing does not
//! depend on how the stream is split into pushes.

use proptest::prelude::*;
use syslog::{rfc3164, rfc5424, Framer, FramerConfig};

fn run(chunks: &[Vec<u8>], cfg: FramerConfig) -> Vec<Result<Vec<u8>, String>> {
    let mut f = Framer::new(cfg);
    let mut out = Vec::new();
    for c in chunks {
        f.push(c);
        while let Some(r) = f.next_frame() {
            out.push(r.map(<[u8]>::to_vec).map_err(|e| e.to_string()));
        }
    }
    f.finish();
    while let Some(r) = f.next_frame() {
        out.push(r.map(<[u8]>::to_vec).map_err(|e| e.to_string()));
    }
    out
}

fn syslogish() -> impl Strategy<Value = Vec<u8>> {
    let atoms = prop_oneof![
        Just(b"<13>1 ".to_vec()),
        Just(b"<34>Oct 11 22:14:15 ".to_vec()),
        Just(b"2024-02-29T10:00:00.123Z ".to_vec()),
        Just(b"- ".to_vec()),
        Just(b"[a@1 x=\"y\\\"\"]".to_vec()),
        Just(b"host app[12]: ".to_vec()),
        Just(b"\n".to_vec()),
        Just(b" ".to_vec()),
        Just(b"12 ".to_vec()),
        Just(b"\0".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..8),
    ];
    proptest::collection::vec(atoms, 0..24).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parsers_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = rfc5424::parse(&data);
        let _ = rfc3164::parse(&data, &rfc3164::Options::default());
        let _ = rfc3164::parse(&data, &rfc3164::Options { year: Some(2023) });
    }

    #[test]
    fn parsers_never_panic_syslogish(data in syslogish()) {
        if let Ok(m) = rfc5424::parse(&data) {
            let s = syslog::promtail::rfc5424_string(&m);
            // Re-serialisation parses back to the same fields.
            let m2 = rfc5424::parse(&s).unwrap();
            prop_assert_eq!(m.priority, m2.priority);
            prop_assert_eq!(m.timestamp.map(|t| (t.secs, t.nanos)), m2.timestamp.map(|t| (t.secs, t.nanos)));
            prop_assert_eq!(m.message, m2.message);
            let _ = syslog::labels(&m, &syslog::LabelOptions { label_structured_data: true, ..Default::default() });
        }
        if let Ok(m) = rfc3164::parse(&data, &rfc3164::Options::default()) {
            prop_assert!(m.message.is_some());
        }
    }

    #[test]
    fn framer_split_invariant(data in syslogish(), cuts in proptest::collection::vec(0usize..400, 0..6), max in 1usize..64) {
        let cfg = FramerConfig { max_message_length: max, max_nontransparent_length: max * 2 };
        let whole = run(std::slice::from_ref(&data), cfg);
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
        cuts.sort_unstable();
        let mut chunks = Vec::new();
        let mut last = 0;
        for c in cuts {
            chunks.push(data[last..c].to_vec());
            last = c;
        }
        chunks.push(data[last..].to_vec());
        prop_assert_eq!(run(&chunks, cfg), whole.clone());
        for r in whole.into_iter().flatten() {
            let _ = rfc5424::parse(&r);
            let _ = rfc3164::parse(&r, &rfc3164::Options::default());
        }
    }

    #[test]
    fn framer_never_panics(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = run(std::slice::from_ref(&data), FramerConfig::default());
        let _ = run(&data.chunks(3).map(<[u8]>::to_vec).collect::<Vec<_>>(), FramerConfig::with_max_message_length(7));
    }
}
