//! The module layers of ARCHITECTURE.md, enforced: a module of `src/` may `use crate::…` only
//! modules below it in [`LAYERS`]. Test code (after a file's first `#[cfg(test)]`) may reach up.

use std::collections::BTreeSet;
use std::path::Path;

/// Bottom first. The same order, with what each layer is for, is ARCHITECTURE.md's diagram.
const LAYERS: &[&str] = &[
    "core",
    "telemetry",
    "relabel",
    "config",
    "pipeline",
    "positions",
    "client",
    "readline",
    "source",
    "tail",
    "discovery",
    "file",
    "docker",
    "journal",
    "push",
    "gelf",
    "syslog",
    "kubernetes",
    "server",
    "shutdown",
    "check",
    "run",
    "stdin",
    "cli",
];

/// The top-level modules `code` names through `crate::…` paths (`use crate::{a, b::c}` too),
/// comments skipped.
fn crate_refs(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in code.lines() {
        let line = line.trim_start();
        if line.starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            let before = rest[..at].chars().last();
            rest = &rest[at + "crate::".len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue; // `gocompat::…` or `mycrate::…`
            }
            if let Some(group) = rest.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                for item in group[..end].split(',') {
                    let name: String = item
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() {
                        out.insert(name);
                    }
                }
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                out.insert(name);
            }
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn every_crate_path_points_down_the_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut violations = Vec::new();
    let mut seen_modules = BTreeSet::new();
    for file in files {
        let rel = file.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        seen_modules.insert(module.clone());
        let Some(level) = LAYERS.iter().position(|l| *l == module) else {
            violations.push(format!(
                "{}: module {module} is not in LAYERS",
                rel.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for target in crate_refs(code) {
            if target == module {
                continue;
            }
            match LAYERS.iter().position(|l| *l == target) {
                Some(t) if t < level => {}
                Some(_) => violations.push(format!(
                    "{}: {module} uses crate::{target}, which is not below it",
                    rel.display()
                )),
                None => violations.push(format!(
                    "{}: crate::{target} is not a module in LAYERS",
                    rel.display()
                )),
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
    let listed: BTreeSet<String> = LAYERS.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        listed, seen_modules,
        "LAYERS lists exactly the modules of src/"
    );
}

#[test]
fn the_reference_scanner_sees_every_form() {
    let refs = crate_refs(
        "use crate::core::Labels;\nuse crate::{a, b::c};\n// crate::commented\nlet x = crate::d::f(gocompat::e);\n",
    );
    let want: BTreeSet<String> = ["core", "a", "b", "d"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(refs, want);
}

#[test]
fn the_go_compatibility_crate_knows_nothing_of_ferrotail() {
    let manifest = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/gocompat/Cargo.toml"),
    )
    .unwrap();
    assert!(!manifest.contains("ferrotail"), "{manifest}");
}

#[test]
fn the_http_client_config_crate_knows_nothing_of_ferrotail() {
    let manifest = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/httpconfig/Cargo.toml"),
    )
    .unwrap();
    let deps = manifest.split("[dependencies]").nth(1).unwrap_or("");
    assert!(!deps.contains("ferrotail"), "{manifest}");
}
