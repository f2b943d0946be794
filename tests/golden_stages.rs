//! Every stage case captured from real Promtail 3.4.6 (`tests/data/golden/stages/`), run through
//! ferrotail's pipeline in-process and compared as `tests/data/golden/README.md` says: streams keyed
//! by (tenant, labels), entries in order within a stream, `ts` compared unless `null`, and the
//! sample lines of `metrics.txt`.
//!
//! The run must find every case the corpus holds (the count in `tests/data/golden/README.md`), so
//! a missing or half-copied corpus fails instead of passing on fewer cases. The `wire/` data is
//! checked too: every stream key byte for byte as ferrotail renders it for the push, and the
//! structured-metadata pairs of each entry as the ordered list sent.
//!
//! `GOLDEN_CASE=<prefix>` runs only the matching cases.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use ferrotail::pipeline::{BuildCtx, Entry, Labels, Pipeline, TENANT_LABEL};
use gocompat::yaml::{self, Node};

const INPUT_PATH: &str = "/var/log/golden/input.log";

#[derive(Debug, Clone, PartialEq)]
struct Got {
    line: String,
    ts: Option<String>,
    sm: BTreeMap<String, String>,
    /// The structured-metadata pairs in the order they are sent (empty in `expected`).
    pairs: Vec<(String, String)>,
    /// The stream key as ferrotail writes it on the wire (empty in `expected`).
    stream_key: String,
}

type Streams = BTreeMap<(Option<String>, BTreeMap<String, String>), Vec<Got>>;

fn rfc3339nano(nanos: i64) -> String {
    let secs = nanos.div_euclid(1_000_000_000);
    let frac = nanos.rem_euclid(1_000_000_000) as u32;
    let dt = chrono::DateTime::from_timestamp(secs, frac).expect("timestamp in range");
    let mut s = dt.format("%Y-%m-%dT%H:%M:%S").to_string();
    if frac != 0 {
        let f = format!("{frac:09}");
        s.push('.');
        s.push_str(f.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

fn scalar(n: &Node) -> String {
    n.scalar_text().unwrap_or_default().to_string()
}

/// Runs one case and returns the pushed streams and the rendered metrics.
fn run_case(dir: &Path) -> Result<(Streams, String), String> {
    let text = std::fs::read_to_string(dir.join("case.yml")).map_err(|e| e.to_string())?;
    let root = yaml::parse(&text).map_err(|e| e.to_string())?;
    let mut labels = Labels::new();
    if let Some(Node {
        kind: yaml::NodeKind::Map(entries),
        ..
    }) = root.get("labels")
    {
        for (k, v) in entries {
            labels.insert(scalar(k), scalar(v));
        }
    }
    labels.insert("filename", INPUT_PATH);
    let (mut max_line, mut truncate) = (0usize, false);
    if let Some(l) = root.get("limits_config") {
        max_line = l
            .get("max_line_size")
            .and_then(|n| n.scalar_text())
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        truncate = l
            .get("max_line_size_truncate")
            .and_then(|n| n.scalar_text())
            .map(|s| s == "true")
            .unwrap_or(false);
    }
    let stages = root.get("pipeline_stages").cloned().unwrap_or(Node {
        kind: yaml::NodeKind::Seq(vec![]),
        line: 1,
        col: 1,
    });
    let input = std::fs::read(dir.join("input.log")).map_err(|e| e.to_string())?;

    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let mut out = Vec::new();
    metrics::with_local_recorder(&recorder, || -> Result<(), String> {
        let mut warnings = Vec::new();
        let mut ctx = BuildCtx {
            job: "golden",
            warnings: &mut warnings,
            base_dir: Some(dir),
        };
        let mut pipeline = Pipeline::build(&mut ctx, &stages).map_err(|e| e.to_string())?;
        let mut rest = &input[..];
        while let Some(pos) = rest.iter().position(|&b| b == b'\n') {
            let line = String::from_utf8_lossy(&rest[..pos]).into_owned();
            rest = &rest[pos + 1..];
            let now = ferrotail::core::entry::now_nanos();
            pipeline.process(Entry::new(labels.clone(), now, line), &mut out);
        }
        let later = ferrotail::core::entry::now_nanos() + 3_600_000_000_000;
        pipeline.tick(later, &mut out);
        Ok(())
    })?;

    let mut streams = Streams::new();
    for mut e in out {
        if ferrotail::client::limits::apply(&mut e.line, max_line, truncate)
            == ferrotail::client::limits::LineLimit::Drop
        {
            continue;
        }
        let tenant = e.labels.remove(TENANT_LABEL);
        let stream_key = e.labels.stream_key();
        let labels: BTreeMap<String, String> = e
            .labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        streams.entry((tenant, labels)).or_default().push(Got {
            line: e.line,
            ts: Some(rfc3339nano(e.timestamp)),
            sm: e.structured_metadata.iter().cloned().collect(),
            pairs: e.structured_metadata,
            stream_key,
        });
    }
    Ok((streams, handle.render()))
}

fn expected(dir: &Path) -> Streams {
    let text = std::fs::read_to_string(dir.join("expected.jsonl")).expect("expected.jsonl");
    let mut streams = Streams::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).expect("expected.jsonl line");
        let labels = v["labels"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let tenant = v.get("tenant").and_then(|t| t.as_str()).map(String::from);
        let sm = v
            .get("structured_metadata")
            .and_then(|m| m.as_object())
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        streams.entry((tenant, labels)).or_default().push(Got {
            line: v["line"].as_str().unwrap_or_default().to_string(),
            ts: v["ts"].as_str().map(String::from),
            sm,
            pairs: Vec::new(),
            stream_key: String::new(),
        });
    }
    streams
}

/// Sample lines of `metrics.txt` (no HELP/TYPE), normalised to `name{sorted labels} value`.
fn metric_samples(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.trim().to_string())
        .collect()
}

fn compare(dir: &Path, wire: &Wire) -> Result<(), String> {
    let (got, rendered) = run_case(dir)?;
    let case = format!(
        "stages/{}",
        dir.file_name().and_then(|n| n.to_str()).unwrap_or("?")
    );
    // wire/stream-keys.jsonl: the exact label strings Promtail sent for this case.
    let keys: std::collections::BTreeSet<&str> = got
        .values()
        .flatten()
        .map(|g| g.stream_key.as_str())
        .collect();
    let want_keys: std::collections::BTreeSet<&str> = wire
        .stream_keys
        .iter()
        .filter(|(c, _)| *c == case)
        .map(|(_, k)| k.as_str())
        .collect();
    if keys != want_keys {
        return Err(format!(
            "wire stream keys differ:\n  want {want_keys:?}\n  got  {keys:?}"
        ));
    }
    // wire/structured-metadata-pairs.jsonl: the pairs of the entry with that line, in order.
    for (c, line, pairs) in &wire.pairs {
        if *c != case {
            continue;
        }
        let found: Vec<&Vec<(String, String)>> = got
            .values()
            .flatten()
            .filter(|g| &g.line == line)
            .map(|g| &g.pairs)
            .collect();
        if found.is_empty() || found.iter().any(|p| *p != pairs) {
            return Err(format!(
                "structured metadata pairs of {line:?}: want {pairs:?}, got {found:?}"
            ));
        }
    }
    let want = expected(dir);
    let got_keys: Vec<_> = got.keys().collect();
    let want_keys: Vec<_> = want.keys().collect();
    if got_keys != want_keys {
        return Err(format!(
            "stream keys differ:\n  want {want_keys:?}\n  got  {got_keys:?}\n  got entries {got:?}"
        ));
    }
    for (key, want_entries) in &want {
        let got_entries = &got[key];
        if got_entries.len() != want_entries.len() {
            return Err(format!(
                "stream {key:?}: want {} entries, got {}:\n  want {want_entries:?}\n  got  {got_entries:?}",
                want_entries.len(),
                got_entries.len()
            ));
        }
        for (i, (w, g)) in want_entries.iter().zip(got_entries).enumerate() {
            if w.line != g.line {
                return Err(format!(
                    "stream {key:?} entry {i}: line\n  want {:?}\n  got  {:?}",
                    w.line, g.line
                ));
            }
            if w.ts.is_some() && w.ts != g.ts {
                return Err(format!(
                    "stream {key:?} entry {i}: ts want {:?} got {:?}",
                    w.ts, g.ts
                ));
            }
            if w.sm != g.sm {
                return Err(format!(
                    "stream {key:?} entry {i}: structured metadata want {:?} got {:?}",
                    w.sm, g.sm
                ));
            }
        }
    }
    let metrics_path = dir.join("metrics.txt");
    if metrics_path.exists() {
        let want =
            metric_samples(&std::fs::read_to_string(&metrics_path).map_err(|e| e.to_string())?);
        let have: HashMap<String, ()> = metric_samples(&rendered)
            .into_iter()
            .map(|l| (l, ()))
            .collect();
        for w in want {
            if !have.contains_key(&w) {
                return Err(format!("metric sample missing: {w}\nrendered:\n{rendered}"));
            }
        }
    }
    Ok(())
}

/// Structured-metadata pairs in the order sent.
type Pairs = Vec<(String, String)>;

/// The `wire/` files: `(case, stream key)` and `(case, line, pairs)`.
struct Wire {
    stream_keys: Vec<(String, String)>,
    pairs: Vec<(String, String, Pairs)>,
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden")
}

fn wire() -> Wire {
    let read = |name: &str| -> Vec<serde_json::Value> {
        let path = golden_dir().join("wire").join(name);
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("wire jsonl line"))
            .collect()
    };
    let text = |v: &serde_json::Value| v.as_str().expect("a string").to_string();
    let stream_keys = read("stream-keys.jsonl")
        .iter()
        .map(|v| (text(&v["case"]), text(&v["stream_key"])))
        .collect();
    let pairs = read("structured-metadata-pairs.jsonl")
        .iter()
        .map(|v| {
            let pairs = v["pairs"]
                .as_array()
                .expect("pairs")
                .iter()
                .map(|p| (text(&p[0]), text(&p[1])))
                .collect();
            (text(&v["case"]), text(&v["line"]), pairs)
        })
        .collect();
    Wire { stream_keys, pairs }
}

/// The number of cases the corpus README gives for `folder` (its table row).
fn corpus_count(folder: &str) -> usize {
    let readme = std::fs::read_to_string(golden_dir().join("README.md")).expect("golden README");
    let row = format!("| `{folder}/` | ");
    readme
        .lines()
        .find_map(|l| l.strip_prefix(&row))
        .and_then(|rest| rest.split('|').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no case count for {folder}/ in the golden README"))
}

fn case_dirs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden/stages");
    let filter = std::env::var("GOLDEN_CASE").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("golden stages dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&filter))
        })
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn golden_stage_cases() {
    let mut failures = Vec::new();
    let dirs = case_dirs();
    if std::env::var("GOLDEN_CASE").unwrap_or_default().is_empty() {
        let want = corpus_count("stages");
        assert_eq!(
            dirs.len(),
            want,
            "found {} golden stage cases in tests/data/golden/stages, the corpus holds {want}",
            dirs.len()
        );
    }
    assert!(!dirs.is_empty(), "no golden stage case matches GOLDEN_CASE");
    let wire = wire();
    for dir in &dirs {
        if let Err(e) = compare(dir, &wire) {
            failures.push(format!(
                "{}: {e}",
                dir.file_name().and_then(|n| n.to_str()).unwrap_or("?")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} golden stage cases failed:\n\n{}",
        failures.len(),
        dirs.len(),
        failures.join("\n\n")
    );
}

/// Every stream key of `wire/stream-keys.jsonl` (stage and relabel cases) rendered from its label
/// map as ferrotail writes it on the wire, byte for byte; and every stage case the file names
/// exists in the corpus (so the comparison in `golden_stage_cases` covers it).
#[test]
fn wire_stream_keys_byte_for_byte() {
    let path = golden_dir().join("wire/stream-keys.jsonl");
    let text = std::fs::read_to_string(&path).expect("wire/stream-keys.jsonl");
    let mut checked = 0;
    let mut relabel_cases = std::collections::BTreeSet::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).expect("jsonl line");
        let case = v["case"].as_str().expect("case");
        let mut labels = Labels::new();
        for (k, val) in v["labels"].as_object().expect("labels") {
            labels.insert(k.as_str(), val.as_str().expect("label value"));
        }
        assert_eq!(
            labels.stream_key(),
            v["stream_key"].as_str().expect("stream_key"),
            "{case}"
        );
        let (folder, name) = case.split_once('/').expect("folder/case");
        assert!(
            golden_dir().join(folder).join(name).is_dir(),
            "{case} is not in the corpus"
        );
        if folder == "relabel" {
            relabel_cases.insert(name.to_string());
        }
        checked += 1;
    }
    assert_eq!(
        checked,
        text.lines().filter(|l| !l.trim().is_empty()).count()
    );
    assert!(checked > 100, "only {checked} stream keys");
    // Every relabel case that makes a stream is there (one drops every target).
    assert!(relabel_cases.len() + 1 >= corpus_count("relabel"));
}
