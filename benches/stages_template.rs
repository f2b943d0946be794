//! Per-line cost of the template-family stages: a template with a couple of functions, a replace
//! with a template, and timestamps in RFC3339 and a custom layout.
use criterion::{black_box, criterion_group, criterion_main, Criterion};

use ferrotail::pipeline::{BuildCtx, Entry, Labels, Pipeline, Value};
use gocompat::yaml;

fn pipeline(text: &str) -> Pipeline {
    let node = yaml::parse(text).expect("yaml");
    let mut warnings = Vec::new();
    let mut ctx = BuildCtx {
        job: "bench",
        warnings: &mut warnings,
        base_dir: None,
    };
    Pipeline::build(&mut ctx, &node).expect("pipeline")
}

fn entry(extracted: &[(&str, &str)], line: &str) -> Entry {
    let labels: Labels = [("job", "bench"), ("filename", "/var/log/app.log")]
        .into_iter()
        .collect();
    let mut e = Entry::new(labels, 0, line.to_string());
    for (k, v) in extracted {
        e.extracted.insert(k.to_string(), Value::Str(v.to_string()));
    }
    e
}

fn run(c: &mut Criterion, name: &str, p: &mut Pipeline, e: &Entry) {
    let mut out = Vec::with_capacity(1);
    c.bench_function(name, |b| {
        b.iter(|| {
            out.clear();
            p.process(black_box(e.clone()), &mut out);
            black_box(&out);
        })
    });
}

fn bench(c: &mut Criterion) {
    let mut p = pipeline(
        "- template:\n    source: out\n    template: '{{ ToUpper .app }}-{{ .level | ToLower }}-{{ Replace .msg \"o\" \"0\" -1 }}'\n",
    );
    let e = entry(
        &[("app", "loki"), ("level", "WARN"), ("msg", "hello world")],
        "line",
    );
    run(c, "template_two_functions", &mut p, &e);

    let mut p = pipeline(
        "- replace:\n    expression: 'password=(\\S+)'\n    replace: '{{ .Value | Sha2Hash \"salt\" }}'\n",
    );
    let e = entry(&[], "user=bob password=secret123 action=login");
    run(c, "replace_with_template", &mut p, &e);

    let mut p = pipeline("- timestamp:\n    source: ts\n    format: RFC3339\n");
    let e = entry(&[("ts", "2024-05-01T10:00:00.123456789+02:00")], "line");
    run(c, "timestamp_rfc3339", &mut p, &e);

    let mut p = pipeline(
        "- timestamp:\n    source: ts\n    format: '02/Jan/2006:15:04:05 -0700'\n    location: America/New_York\n",
    );
    let e = entry(&[("ts", "10/Oct/2023:13:55:36 -0700")], "line");
    run(c, "timestamp_custom_layout", &mut p, &e);

    let mut p = pipeline(
        "- timestamp:\n    source: ts\n    format: '2006-01-02 15:04:05'\n    location: America/New_York\n",
    );
    let e = entry(&[("ts", "2024-07-15 10:00:00")], "line");
    run(c, "timestamp_custom_layout_in_zone", &mut p, &e);
}

criterion_group!(benches, bench);
criterion_main!(benches);
