//! Property tests: arbitrary bytes through every stage that parses log data (json, logfmt,
//! regex, cri, docker, multiline, template, timestamp, and the stages that re-serialise:
//! output, pack, replace, metrics). None may panic (`panic = "abort"` would make a panic a
//! restart loop on the same line); each entry comes out or is dropped, never both.

use proptest::prelude::*;

use super::{BuildCtx, Entry, Labels, Pipeline};

/// Each pipeline under test, one stage (or a parse-then-use pair) per entry.
const PIPELINES: &[&str] = &[
    "- json: {expressions: {a: a, b: 'b[0].c', nx: nested.x, all: '@'}}",
    "- json: {expressions: {a: a}, drop_malformed: true}",
    "- logfmt: {mapping: {a: a, b: }}",
    "- regex: {expression: '^(?P<a>\\S+) (?P<b>.*)$'}",
    "- cri: {}",
    "- docker: {}",
    "- multiline: {firstline: '^\\[', max_wait_time: 1s, max_lines: 5}",
    "- regex: {expression: '^(?P<a>\\S+)'}\n- template: {source: a, template: '{{ .Value | ToUpper }} {{ .Entry | trunc 5 }} {{ .a | default \"x\" }}'}",
    "- regex: {expression: '^(?P<ts>\\S+)'}\n- timestamp: {source: ts, format: RFC3339Nano}",
    "- regex: {expression: '^(?P<ts>\\S+)'}\n- timestamp: {source: ts, format: '2006-01-02 15:04:05.000 MST', location: Europe/Berlin}",
    "- regex: {expression: '^(?P<ts>\\S+)'}\n- timestamp: {source: ts, format: UnixMs}",
    "- json: {expressions: {a: a}}\n- output: {source: a}\n- pack: {labels: [a]}",
    "- replace: {expression: '(\\d+)', replace: '{{ .Value }}x'}",
    "- logfmt: {mapping: {v: }}\n- metrics: {hostile_prop_values: {type: Histogram, source: v, config: {buckets: [1, 10]}}}",
    "- json: {expressions: {v: v}}\n- metrics: {hostile_prop_gauge: {type: Gauge, source: v, config: {action: add}}}",
];

fn pipelines() -> Vec<Pipeline> {
    PIPELINES
        .iter()
        .map(|yaml| {
            let mut warnings = Vec::new();
            let mut ctx = BuildCtx {
                job: "prop",
                warnings: &mut warnings,
                base_dir: None,
            };
            let node = gocompat::yaml::parse(yaml).unwrap();
            Pipeline::build(&mut ctx, &node).unwrap_or_else(|e| panic!("{yaml}: {e}"))
        })
        .collect()
}

fn run_all(line: String) {
    let labels: Labels = [("job", "prop")].into_iter().collect();
    for mut p in pipelines() {
        let mut out = Vec::new();
        p.process(Entry::new(labels.clone(), 1, line.clone()), &mut out);
        p.tick(i64::MAX / 2, &mut out);
        p.flush(&mut out);
        assert!(out.len() <= 2, "one entry became {}", out.len());
    }
}

/// JSON-shaped text: nested objects and arrays of strings with escapes, numbers and literals.
fn jsonish() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        "\"[a-z\\\\\"/\\u{0}-\\u{1f}é]{0,8}\"",
        "-?[0-9]{1,3}(\\.[0-9]{0,3})?([eE][+-]?[0-9]{1,3})?",
        Just("true".to_string()),
        Just("null".to_string()),
        "\"\\\\u[dD][89abAB][0-9a-f]{2}\"",
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec(("[abc]{1,2}", inner), 0..4).prop_map(|v| {
                let body: Vec<String> =
                    v.into_iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                format!("{{{}}}", body.join(","))
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_a_stage(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        run_all(String::from_utf8_lossy(&bytes).into_owned());
    }

    #[test]
    fn log_shaped_lines_never_panic_a_stage(
        ts in "(20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9](\\.[0-9]{0,12})?(Z|[+-][0-9]{2}:[0-9]{2})?|[0-9]{0,20}|\\[.{0,5})",
        stream in "(stdout|stderr|x)?",
        flag in "[PF]?",
        rest in ".{0,60}",
    ) {
        run_all(format!("{ts} {stream} {flag} {rest}"));
        run_all(format!("{{\"log\":\"{rest}\",\"stream\":\"{stream}\",\"time\":\"{ts}\"}}"));
        run_all(format!("a={ts} b=\"{rest}\" {flag}={stream}"));
    }

    #[test]
    fn json_shaped_lines_never_panic_a_stage(obj in prop::collection::vec(("[abvn]{1,2}", jsonish()), 0..5), cut in 0usize..200) {
        let body: Vec<String> = obj.into_iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        let line = format!("{{{}}}", body.join(","));
        run_all(line.clone());
        // The same, cut short anywhere (on a character boundary).
        let mut end = cut.min(line.len());
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        run_all(line[..end].to_string());
    }
}

/// A line nested to json-iterator's limit through JMESPath expressions that take the whole
/// document (`@`, `to_string`, `keys`, comparisons), on a thread with tokio's default 2 MiB stack:
/// nothing recurses on the document's depth.
#[test]
fn jmespath_over_a_document_nested_10000_deep() {
    std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(|| {
            let mut line = "{\"a\":".repeat(10_000);
            line.push('1');
            line.push_str(&"}".repeat(10_000));
            let mut warnings = Vec::new();
            let mut ctx = BuildCtx {
                job: "prop",
                warnings: &mut warnings,
                base_dir: None,
            };
            let node = gocompat::yaml::parse(
                "- json: {expressions: {all: '@', k: 'keys(@)', ty: 'type(a)', len: 'length(a)'}}",
            )
            .unwrap();
            let mut p = Pipeline::build(&mut ctx, &node).unwrap();
            let mut out = Vec::new();
            p.process(Entry::new(Labels::new(), 1, line.clone()), &mut out);
            let e = out.pop().unwrap();
            assert_eq!(
                e.extracted.get("all"),
                Some(&super::Value::Str(line.clone()))
            );
            assert_eq!(
                e.extracted.get("ty"),
                Some(&super::Value::Str("object".into()))
            );
        })
        .unwrap()
        .join()
        .unwrap();
}
