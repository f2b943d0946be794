//! Per-line cost of the parsing stages: the docker stage, the seed's direct json pipeline
//! (json output/stream/attrs + labels stream + json on attrs + output) and a regex stage.
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};

use ferrotail::pipeline::{BuildCtx, Entry, Labels, Pipeline};
use gocompat::yaml;

fn pipeline(stages: &str) -> Pipeline {
    let node = yaml::parse(stages).expect("bench YAML");
    let mut warnings = Vec::new();
    let mut ctx = BuildCtx {
        job: "bench",
        warnings: &mut warnings,
        base_dir: None,
    };
    Pipeline::build(&mut ctx, &node).expect("bench pipeline")
}

fn labels() -> Labels {
    [
        ("job", "docker-logs"),
        ("filename", "/var/lib/docker/containers/abc/abc-json.log"),
    ]
    .into_iter()
    .collect()
}

fn bench_pipeline(c: &mut Criterion, name: &str, stages: &str, line: &str) {
    let mut p = pipeline(stages);
    let labels = labels();
    let mut out = Vec::with_capacity(4);
    c.bench_function(name, |b| {
        b.iter_batched(
            || Entry::new(labels.clone(), 0, line.to_string()),
            |e| {
                out.clear();
                p.process(e, &mut out);
                out.len()
            },
            BatchSize::SmallInput,
        )
    });
}

fn bench(c: &mut Criterion) {
    bench_pipeline(
        c,
        "docker",
        "- docker: {}\n",
        r#"{"log":"{\"timestamp\":\"2025-01-15T10:30:00.123Z\",\"level\":\"INFO\",\"tag\":\"ai\",\"message\":\"Request completed\"}\n","stream":"stdout","time":"2025-01-15T10:30:00.124567891Z"}"#,
    );
    bench_pipeline(
        c,
        "json_seed_direct",
        r#"
- json:
    expressions:
      output: log
      stream: stream
      attrs: attrs
- labels:
    stream:
- json:
    expressions:
      tag: attrs.tag
      level: attrs.level
    source: attrs
- output:
    source: output
"#,
        r#"{"log":"warn from app\n","stream":"stderr","attrs":{"tag":"ai"},"time":"2025-01-15T10:30:01.2Z"}"#,
    );
    bench_pipeline(
        c,
        "regex",
        r#"
- regex:
    expression: '\[(?P<timestamp>[^\]]+)\] \[(?P<level>[^\]]+)\] \[(?P<tag>[^\]]+)\]: (?P<message>.*)'
"#,
        "[2025-01-15T10:30:00.123Z] [INFO] [ai]: Server started on port 3002",
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
