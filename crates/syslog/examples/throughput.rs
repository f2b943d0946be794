//! Quick throughput check: `cargo run --release --example throughput`.
use std::time::Instant;

fn main() {
    let one = br#"<165>1 2018-10-11T22:14:15.003Z host5 e - id1 [custom@32473 exkey="1"] An application event log entry..."#;
    let mut stream = Vec::new();
    for _ in 0..200_000 {
        stream.extend_from_slice(format!("{} ", one.len()).as_bytes());
        stream.extend_from_slice(one);
    }
    let t = Instant::now();
    let mut f = syslog::Framer::new(syslog::FramerConfig::default());
    let mut n = 0usize;
    let mut labels = 0usize;
    for chunk in stream.chunks(64 * 1024) {
        f.push(chunk);
        while let Some(Ok(frame)) = f.next_frame() {
            let m = syslog::rfc5424::parse(frame).expect("valid");
            syslog::visit_labels(
                &m,
                &syslog::LabelOptions {
                    label_structured_data: true,
                    ..Default::default()
                },
                |_, _| labels += 1,
            );
            n += 1;
        }
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "rfc5424 frame+parse+labels: {n} msgs in {s:.3}s = {:.2} M msg/s ({labels} labels)",
        n as f64 / s / 1e6
    );

    let msg = b"<13>Mar  5 10:00:00 myhost myuser[123]: hello world this is a test";
    let t = Instant::now();
    let mut ok = 0;
    for _ in 0..1_000_000 {
        if syslog::rfc3164::parse(std::hint::black_box(msg), &Default::default()).is_ok() {
            ok += 1;
        }
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "rfc3164 parse: {ok} msgs in {s:.3}s = {:.2} M msg/s",
        ok as f64 / s / 1e6
    );
}
