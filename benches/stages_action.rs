//! Per-line cost of the action stages: `match` with a selector and a line filter, `drop` by
//! expression, and `multiline` joining blocks. Each iteration processes one entry.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ferrotail::pipeline::stages;
use ferrotail::pipeline::{BuildCtx, Entry, Labels, Stage};
use gocompat::yaml;

fn stage(name: &str, config: &str) -> Box<dyn Stage> {
    let node = yaml::parse(config).expect("bench config parses");
    let mut warnings = Vec::new();
    let mut ctx = BuildCtx {
        job: "bench",
        warnings: &mut warnings,
        base_dir: None,
    };
    stages::build(&mut ctx, name, &node).expect("bench stage builds")
}

fn labels() -> Labels {
    [
        ("job", "varlogs"),
        ("filename", "/var/log/app/app.log"),
        ("app", "api"),
    ]
    .into_iter()
    .collect()
}

const LINES: &[&str] = &[
    "2024-05-01T10:00:00.123Z level=info msg=\"request served\" path=/api/v1/users status=200 took=12ms",
    "2024-05-01T10:00:00.456Z level=error msg=\"upstream timeout\" path=/api/v1/orders status=504 took=3001ms",
    "2024-05-01T10:00:01.001Z level=debug msg=\"cache hit\" key=user:42",
    "    at com.example.Handler.serve(Handler.java:42)",
];

fn run(c: &mut Criterion, id: &str, mut s: Box<dyn Stage>) {
    let labels = labels();
    let mut group = c.benchmark_group("stages_action");
    group.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    let mut out = Vec::with_capacity(4);
    group.bench_function(id, |b| {
        b.iter(|| {
            let line = LINES[i % LINES.len()];
            i += 1;
            s.process(Entry::new(labels.clone(), 0, line.to_string()), &mut out);
            black_box(out.len());
            out.clear();
        })
    });
    group.finish();
}

fn bench(c: &mut Criterion) {
    run(
        c,
        "match_selector_line_filter_drop",
        stage(
            "match",
            "selector: '{app=\"api\", job=~\"var.*\"} |= \"level=debug\"'\naction: drop",
        ),
    );
    run(
        c,
        "drop_expression",
        stage("drop", "expression: 'level=(debug|trace)'"),
    );
    run(
        c,
        "multiline",
        stage(
            "multiline",
            "firstline: '^\\d{4}-\\d{2}-\\d{2}T'\nmax_wait_time: 3s",
        ),
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
