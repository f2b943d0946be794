//! Checks of the shipped stack: the compose files, the Loki, Prometheus and Grafana configs, the
//! example Promtail configs and the demo log writer.
//!
//! * every YAML and JSON file parses (YAML with ferrotail's own loader, as Promtail reads YAML);
//! * the compose files validate with `docker compose config` or `docker-compose config` when one
//!   of them is installed (skipped with a notice otherwise);
//! * the Loki config is one that Loki 3 accepts (tsdb, schema v13) with the seed's limits;
//! * every LogQL stream selector in the dashboards and data sources uses only labels that the
//!   shipped configs produce, and the config that compose mounts produces each of them;
//! * each config under `configs/` passes `ferrotail -check-syntax`;
//! * the demo services write the seed logger's JSON and text formats.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use gocompat::yaml::{self, Node, NodeKind};

/// Labels that ferrotail can attach with the shipped configs and that dashboards may select on.
const ALLOWED_SELECTOR_LABELS: &[&str] = &["service", "container_id", "job", "filename", "stream"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every file under `dir` (recursively) whose name ends with one of `exts`, sorted.
fn files_under(dir: &Path, exts: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).unwrap_or_else(|e| panic!("read {}: {e}", d.display()));
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if exts.iter().any(|ext| path.to_string_lossy().ends_with(ext)) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn parse_yaml(path: &Path) -> Node {
    yaml::parse(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn parse_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn rel(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

fn seq(node: Option<&Node>) -> &[Node] {
    match node.map(|n| &n.kind) {
        Some(NodeKind::Seq(items)) => items,
        _ => &[],
    }
}

fn map(node: Option<&Node>) -> &[(Node, Node)] {
    match node.map(|n| &n.kind) {
        Some(NodeKind::Map(entries)) => entries,
        _ => &[],
    }
}

fn text<'a>(node: &'a Node, key: &str) -> Option<&'a str> {
    node.get(key).and_then(Node::scalar_text)
}

// ------------------------------------------------------------------------------------ parsing

#[test]
fn every_yaml_and_json_file_parses() {
    let mut yaml_files = vec![
        root().join("docker-compose.yml"),
        root().join("docker-compose.dev.yml"),
    ];
    let mut json_files = Vec::new();
    for dir in ["configs", "loki", "grafana", "prometheus"] {
        yaml_files.extend(files_under(&root().join(dir), &[".yml", ".yaml"]));
        json_files.extend(files_under(&root().join(dir), &[".json"]));
    }
    assert!(
        yaml_files.len() >= 12,
        "expected the stack's YAML files, found {yaml_files:?}"
    );
    assert!(
        json_files.len() >= 2,
        "expected the dashboards, found {json_files:?}"
    );
    for f in &yaml_files {
        let node = parse_yaml(f);
        assert!(
            matches!(node.kind, NodeKind::Map(_)),
            "{}: top level is not a mapping",
            rel(f)
        );
    }
    for f in &json_files {
        assert!(
            parse_json(f).is_object(),
            "{}: top level is not an object",
            rel(f)
        );
    }
}

// ------------------------------------------------------------------------------------ compose

/// `docker compose` (v2 plugin) or `docker-compose` (Debian's package), whichever runs.
fn compose_command() -> Option<Vec<&'static str>> {
    let candidates: [&[&'static str]; 2] = [&["docker", "compose"], &["docker-compose"]];
    candidates.into_iter().find_map(|argv| {
        let ok = Command::new(argv[0])
            .args(&argv[1..])
            .arg("version")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        ok.then(|| argv.to_vec())
    })
}

#[test]
fn compose_files_validate_with_the_compose_tool() {
    let Some(argv) = compose_command() else {
        eprintln!(
            "NOTICE: neither `docker compose` nor `docker-compose` is installed; \
             compose validation skipped (install Debian's docker-compose to run it)"
        );
        return;
    };
    for files in [
        &["docker-compose.yml"][..],
        &["docker-compose.yml", "docker-compose.dev.yml"][..],
    ] {
        let mut cmd = Command::new(argv[0]);
        cmd.args(&argv[1..]).current_dir(root());
        for f in files {
            cmd.args(["-f", f]);
        }
        // No variables from the caller's environment change what is validated.
        cmd.env_remove("GRAFANA_ADMIN_USER")
            .env_remove("GRAFANA_ADMIN_PASSWORD")
            .env_remove("COMPOSE_FILE")
            .env_remove("COMPOSE_PROFILES");
        let out = cmd.args(["config", "-q"]).output().expect("run compose");
        assert!(
            out.status.success(),
            "{} -f {} config: {}{}",
            argv.join(" "),
            files.join(" -f "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn compose() -> Node {
    parse_yaml(&root().join("docker-compose.yml"))
}

fn service<'a>(compose: &'a Node, name: &str) -> &'a Node {
    compose
        .get("services")
        .and_then(|s| s.get(name))
        .unwrap_or_else(|| panic!("docker-compose.yml has no service {name}"))
}

fn strings(node: Option<&Node>) -> Vec<String> {
    seq(node)
        .iter()
        .filter_map(|n| n.scalar_text().map(str::to_owned))
        .collect()
}

#[test]
fn compose_pins_images_and_runs_ferrotail_as_promtail_ran() {
    let c = compose();
    for (name, svc) in map(c.get("services")) {
        let name = name.scalar_text().unwrap_or_default();
        if let Some(image) = text(svc, "image") {
            let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or("");
            assert!(
                !tag.is_empty() && tag != "latest" && !tag.contains('/'),
                "service {name}: image {image} is not pinned to a release"
            );
        }
    }
    assert!(text(service(&c, "loki"), "image")
        .unwrap_or_default()
        .starts_with("grafana/loki:3."));

    let ft = service(&c, "ferrotail");
    assert_eq!(
        text(ft, "build"),
        Some("."),
        "ferrotail is built from the repo's Dockerfile"
    );
    assert_eq!(
        text(ft, "command"),
        Some("-config.file=/etc/promtail/config.yml")
    );
    let volumes = strings(ft.get("volumes"));
    for mount in [
        "./configs/promtail-config.yml:/etc/promtail/config.yml:ro",
        "/var/lib/docker/containers:/var/lib/docker/containers:ro",
        "/var/run/docker.sock:/var/run/docker.sock",
    ] {
        assert!(
            volumes.iter().any(|v| v == mount),
            "ferrotail lacks the mount {mount}"
        );
    }
    // The seed's config keeps positions in /tmp/positions.yaml: /tmp must be a named volume (a
    // directory, so that the file can be replaced by rename).
    let named: BTreeSet<String> = map(c.get("volumes"))
        .iter()
        .filter_map(|(k, _)| k.scalar_text().map(str::to_owned))
        .collect();
    assert!(
        volumes.iter().any(|v| v
            .split_once(':')
            .is_some_and(|(src, dst)| named.contains(src) && dst == "/tmp")),
        "no named volume on /tmp for positions: {volumes:?}"
    );
    assert!(named.contains("loki_data"));
    assert!(strings(service(&c, "loki").get("volumes")).contains(&"loki_data:/loki".to_owned()));
}

#[test]
fn demo_container_names_pass_the_seed_keep_rule() {
    // The seed's rule, anchored as Prometheus relabeling anchors it; Docker prefixes names with '/'.
    let keep = regex::Regex::new("^(?:/(ai|tasks|redis|postgres).*)$").unwrap();
    let c = compose();
    for name in ["ai", "tasks"] {
        let svc = service(&c, name);
        let container = text(svc, "container_name").unwrap_or_default();
        assert_eq!(
            container, name,
            "service {name} needs container_name: {name}"
        );
        assert!(keep.is_match(&format!("/{container}")));
    }
    // What compose would name them otherwise is not kept: the reason for container_name.
    assert!(!keep.is_match("/wt-stack-ai-1"));
    for other in ["loki", "grafana", "prometheus", "ferrotail"] {
        let container = text(service(&c, other), "container_name").unwrap_or(other);
        assert!(
            !keep.is_match(&format!("/{container}")),
            "{other} would be shipped"
        );
    }
}

// --------------------------------------------------------------------------------------- Loki

#[test]
fn loki_config_is_loki_3_with_the_seed_limits_and_retention() {
    let loki = parse_yaml(&root().join("loki/loki-config.yml"));
    let periods = seq(loki.get("schema_config").and_then(|s| s.get("configs")));
    assert!(!periods.is_empty());
    for p in periods {
        assert_eq!(text(p, "store"), Some("tsdb"));
        assert_eq!(text(p, "schema"), Some("v13"));
        assert_eq!(text(p, "object_store"), Some("filesystem"));
    }
    let compactor = loki.get("compactor").expect("compactor");
    assert_eq!(text(compactor, "retention_enabled"), Some("true"));
    assert_eq!(text(compactor, "delete_request_store"), Some("filesystem"));
    let limits = loki.get("limits_config").expect("limits_config");
    for (key, want) in [
        ("reject_old_samples", "true"),
        ("reject_old_samples_max_age", "168h"),
        ("ingestion_rate_mb", "16"),
        ("ingestion_burst_size_mb", "32"),
        ("max_streams_per_user", "10000"),
        ("max_line_size", "256KB"),
        ("retention_period", "168h"),
    ] {
        assert_eq!(text(limits, key), Some(want), "limits_config.{key}");
    }
}

#[test]
fn prometheus_scrapes_ferrotail_and_loki() {
    let prom = parse_yaml(&root().join("prometheus/prometheus.yml"));
    let targets: Vec<String> = seq(prom.get("scrape_configs"))
        .iter()
        .flat_map(|job| seq(job.get("static_configs")))
        .flat_map(|sc| strings(sc.get("targets")))
        .collect();
    for want in ["ferrotail:9080", "loki:3100"] {
        assert!(
            targets.iter().any(|t| t == want),
            "no scrape target {want}: {targets:?}"
        );
    }
}

// ------------------------------------------------------------------------------------ labels

/// The labels a Promtail config attaches to what it ships, read from the config: relabel
/// targets, static labels, `filename` for file targets, and the `labels` / `static_labels`
/// stages (also inside `match`). `__`-prefixed names are never shipped.
fn produced_labels(config: &Node) -> BTreeSet<String> {
    fn stages(list: &[Node], out: &mut BTreeSet<String>) {
        for stage in list {
            for (name, body) in map(Some(stage)) {
                match name.scalar_text() {
                    Some("labels" | "static_labels") => {
                        out.extend(
                            map(Some(body))
                                .iter()
                                .filter_map(|(k, _)| k.scalar_text().map(str::to_owned)),
                        );
                    }
                    Some("match") => stages(seq(body.get("stages")), out),
                    _ => {}
                }
            }
        }
    }
    let mut out = BTreeSet::new();
    for job in seq(config.get("scrape_configs")) {
        for rule in seq(job.get("relabel_configs")) {
            let action = text(rule, "action").unwrap_or("replace");
            if matches!(action, "replace" | "lowercase" | "uppercase" | "hashmod") {
                if let Some(t) = text(rule, "target_label") {
                    out.insert(t.to_owned());
                }
            }
        }
        let statics = seq(job.get("static_configs"));
        for sc in statics {
            out.extend(
                map(sc.get("labels"))
                    .iter()
                    .filter_map(|(k, _)| k.scalar_text().map(str::to_owned)),
            );
        }
        if !statics.is_empty() {
            out.insert("filename".to_owned());
        }
        stages(seq(job.get("pipeline_stages")), &mut out);
    }
    out.retain(|l| !l.starts_with("__"));
    out
}

/// Label names used in the stream selectors of a LogQL expression. Selectors are the `{...}`
/// groups outside string literals; inside them come `name op "value"` matchers.
fn selector_labels(expr: &str) -> Result<Vec<String>, String> {
    let b = expr.as_bytes();
    let mut labels = Vec::new();
    let mut i = 0;
    let skip_string = |i: usize| -> Result<usize, String> {
        let quote = b[i];
        let mut j = i + 1;
        while j < b.len() {
            if b[j] == b'\\' && quote == b'"' {
                j += 2;
                continue;
            }
            if b[j] == quote {
                return Ok(j + 1);
            }
            j += 1;
        }
        Err(format!("unterminated string in {expr}"))
    };
    while i < b.len() {
        match b[i] {
            b'"' | b'`' => i = skip_string(i)?,
            b'{' => {
                i += 1;
                loop {
                    while i < b.len() && (b[i] == b' ' || b[i] == b',') {
                        i += 1;
                    }
                    if i >= b.len() {
                        return Err(format!("unterminated selector in {expr}"));
                    }
                    if b[i] == b'}' {
                        i += 1;
                        break;
                    }
                    let start = i;
                    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                        i += 1;
                    }
                    if start == i {
                        return Err(format!("bad matcher at byte {start} in {expr}"));
                    }
                    labels.push(expr[start..i].to_owned());
                    while i < b.len() && b" =!~".contains(&b[i]) {
                        i += 1;
                    }
                    if i >= b.len() || !(b[i] == b'"' || b[i] == b'`') {
                        return Err(format!("matcher without a quoted value in {expr}"));
                    }
                    i = skip_string(i)?;
                }
            }
            _ => i += 1,
        }
    }
    Ok(labels)
}

#[test]
fn selector_label_extraction_reads_logql() {
    assert_eq!(
        selector_labels(r#"sum by (service) (rate({service=~"$service", job!="x"} |= "{a=1}" | regexp `\{(?P<x>y)\}` [1m]))"#)
            .unwrap(),
        ["service", "job"]
    );
    assert_eq!(
        selector_labels(r#"{filename="/a\"}"} |~ "b""#).unwrap(),
        ["filename"]
    );
    assert!(selector_labels(r#"{service="a""#).is_err());
}

#[test]
fn seed_configs_produce_the_labels_the_reference_describes() {
    let labels = |f: &str| produced_labels(&parse_yaml(&root().join("configs").join(f)));
    let set = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(
        labels("promtail-config.yml"),
        set(&["container_id", "service"])
    );
    assert_eq!(
        labels("promtail-config-macos.yml"),
        set(&["container_id", "service"])
    );
    assert_eq!(
        labels("promtail-config-direct.yml"),
        set(&["filename", "job", "stream"])
    );
}

/// Every LogQL expression of the Loki panels and variables of a dashboard.
fn loki_queries(dashboard: &serde_json::Value) -> Vec<String> {
    fn is_loki(ds: Option<&serde_json::Value>) -> bool {
        ds.and_then(|d| d.get("type"))
            .and_then(|t| t.as_str())
            .is_some_and(|t| t == "loki")
    }
    let mut out = Vec::new();
    let panels = dashboard["panels"].as_array().cloned().unwrap_or_default();
    for panel in &panels {
        for target in panel["targets"].as_array().into_iter().flatten() {
            if is_loki(target.get("datasource")) || is_loki(panel.get("datasource")) {
                if let Some(expr) = target["expr"].as_str() {
                    out.push(expr.to_owned());
                }
            }
        }
    }
    for var in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if is_loki(var.get("datasource")) {
            if let Some(stream) = var["query"]["stream"].as_str().filter(|s| !s.is_empty()) {
                out.push(stream.to_owned());
            }
        }
    }
    out
}

#[test]
fn dashboard_queries_use_only_labels_the_shipped_configs_produce() {
    // The config compose mounts into ferrotail.
    let c = compose();
    let mounted = strings(service(&c, "ferrotail").get("volumes"))
        .into_iter()
        .find_map(|v| {
            let mut parts = v.split(':');
            let src = parts.next()?.to_owned();
            (parts.next()? == "/etc/promtail/config.yml").then_some(src)
        })
        .expect("ferrotail mounts a config at /etc/promtail/config.yml");
    let stack_labels = produced_labels(&parse_yaml(&root().join(mounted.trim_start_matches("./"))));

    let mut all_configs = BTreeSet::new();
    for f in files_under(&root().join("configs"), &[".yml", ".yaml"]) {
        all_configs.extend(produced_labels(&parse_yaml(&f)));
    }

    let mut queries = Vec::new();
    for f in files_under(&root().join("grafana"), &[".json"]) {
        for q in loki_queries(&parse_json(&f)) {
            queries.push((rel(&f), q));
        }
    }
    // The Loki data source's derived-field link is a query too.
    let ds = read(&root().join("grafana/provisioning/datasources/loki.yml"));
    for line in ds.lines() {
        if let Some(url) = line.trim().strip_prefix("url: '{") {
            queries.push((
                "loki.yml derivedFields".into(),
                format!("{{{}", url.trim_end_matches('\'')),
            ));
        }
    }
    assert!(
        queries.len() >= 7,
        "expected the Logs dashboard's queries, found {queries:?}"
    );

    for (file, q) in &queries {
        let labels = selector_labels(q).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(!labels.is_empty(), "{file}: no stream selector in {q}");
        for l in labels {
            assert!(
                ALLOWED_SELECTOR_LABELS.contains(&l.as_str()),
                "{file}: label {l} is not one ferrotail ships: {q}"
            );
            assert!(
                stack_labels.contains(&l),
                "{file}: label {l} is not produced by {mounted} (produces {stack_labels:?}): {q}"
            );
            assert!(all_configs.contains(&l));
        }
        // A LogQL regexp parser only extracts named groups: the seed's panel 6 had none.
        for (i, _) in q.match_indices("| regexp") {
            assert!(
                q[i..].contains("(?P<"),
                "{file}: regexp without a named group: {q}"
            );
        }
    }
}

#[test]
fn dashboards_use_the_provisioned_datasources() {
    let mut uids = BTreeSet::new();
    for f in files_under(&root().join("grafana/provisioning/datasources"), &[".yml"]) {
        for ds in seq(parse_yaml(&f).get("datasources")) {
            uids.insert(text(ds, "uid").expect("fixed datasource uid").to_owned());
        }
    }
    assert_eq!(uids, ["loki", "prometheus"].map(String::from).into());
    let mut titles = BTreeSet::new();
    for f in files_under(&root().join("grafana/dashboards"), &[".json"]) {
        let d = parse_json(&f);
        titles.insert(d["title"].as_str().unwrap_or_default().to_owned());
        let mut refs = Vec::new();
        for p in d["panels"].as_array().into_iter().flatten() {
            refs.push(&p["datasource"]);
            refs.extend(
                p["targets"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|t| &t["datasource"]),
            );
        }
        for r in refs {
            let uid = r["uid"].as_str().unwrap_or_default();
            assert!(
                uids.contains(uid),
                "{}: unknown datasource uid {uid:?}",
                rel(&f)
            );
        }
    }
    assert!(
        titles.contains("Logs") && titles.contains("ferrotail"),
        "{titles:?}"
    );
    let logs = parse_json(&root().join("grafana/dashboards/logs.json"));
    let vars: BTreeSet<&str> = logs["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert!(
        vars.contains("service") && vars.contains("search"),
        "{vars:?}"
    );
}

#[test]
fn ferrotail_dashboard_covers_its_metrics() {
    let d = read(&root().join("grafana/dashboards/ferrotail.json"));
    for metric in [
        "promtail_read_lines_total",
        "promtail_sent_entries_total",
        "promtail_dropped_entries_total",
        "promtail_sent_bytes_total",
        "promtail_request_duration_seconds_bucket",
        "promtail_batch_retries_total",
        "promtail_targets_active_total",
        "promtail_files_active_total",
    ] {
        assert!(d.contains(metric), "ferrotail dashboard lacks {metric}");
    }
}

// ------------------------------------------------------------------------------ check-syntax

fn check_syntax(path: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ferrotail"))
        .arg(format!("-config.file={}", path.display()))
        .arg("-check-syntax")
        .output()
        .expect("run ferrotail")
}

#[test]
fn every_shipped_config_passes_check_syntax() {
    let configs = files_under(&root().join("configs"), &[".yml", ".yaml"]);
    assert!(configs.len() >= 6, "{configs:?}");
    for f in configs {
        let out = check_syntax(&f);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("Valid config file! No syntax issues found"),
            "ferrotail -check-syntax {}: exit {:?}\n{stdout}{}",
            rel(&f),
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The same command refuses a broken config, so the passes above mean something.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yml");
    let seed = read(&root().join("configs/promtail-config.yml"));
    std::fs::write(&bad, format!("{seed}\nnot_a_promtail_key: true\n")).unwrap();
    let out = check_syntax(&bad);
    assert_eq!(
        out.status.code(),
        Some(1),
        "-check-syntax accepted an unknown top-level key\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// --------------------------------------------------------------------------------------- demo

fn demo_lines(format: &str, service: &str) -> Vec<String> {
    let out = Command::new("sh")
        .arg(root().join("demo/logger.sh"))
        .env("LOG_FORMAT", format)
        .env("SERVICE", service)
        .env("COUNT", "60")
        .env("RATE", "1000000") // gaps round to 0.00 s
        .output()
        .expect("run sh demo/logger.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .chain(String::from_utf8_lossy(&out.stderr).lines())
        .map(str::to_owned)
        .collect();
    lines.retain(|l| !l.is_empty());
    assert_eq!(lines.len(), 60);
    lines
}

#[test]
fn demo_ai_writes_the_seed_json_format() {
    let ts = regex::Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$").unwrap();
    let mut levels = BTreeSet::new();
    for line in demo_lines("json", "ai") {
        let v: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert!(ts.is_match(v["timestamp"].as_str().unwrap()), "{line}");
        levels.insert(v["level"].as_str().unwrap().to_owned());
        assert!(v["tag"].is_string() && v["message"].is_string(), "{line}");
        if let Some(ctx) = v.get("context") {
            assert!(ctx["requestId"].is_string(), "{line}");
            assert!(
                ctx["statusCode"].is_u64() && ctx["durationMs"].is_u64(),
                "{line}"
            );
        }
        assert!(keys
            .iter()
            .all(|k| ["timestamp", "level", "tag", "message", "context", "error"].contains(k)));
    }
    assert!(levels
        .iter()
        .all(|l| ["INFO", "WARN", "ERROR"].contains(&l.as_str())));
    assert!(levels.contains("INFO"));
}

#[test]
fn demo_tasks_writes_the_seed_text_format() {
    let re = regex::Regex::new(
        r#"^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] \[(INFO|WARN|ERROR)\] \[[A-Za-z]+\]: [^{]+( \{"requestId":"[0-9a-f-]{36}","statusCode":\d{3},"durationMs":\d+\})?$"#,
    )
    .unwrap();
    for line in demo_lines("text", "tasks") {
        assert!(re.is_match(&line), "{line}");
    }
}
