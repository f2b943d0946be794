//! File targets: `static_configs` and `file_sd_configs` target groups, relabelled once per target,
//! and `__path__` globs expanded to files. Never opens a file for reading.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use globset::{GlobBuilder, GlobMatcher};

use crate::core::Labels;
use crate::relabel::Relabeler;

/// A `__path__` glob (doublestar semantics: `*`, `?`, `[...]`, `{a,b}`, `**` for any depth).
#[derive(Debug, Clone)]
pub struct PathGlob {
    pattern: String,
    matcher: GlobMatcher,
    base: PathBuf,
    max_depth: usize,
    literal: bool,
}

/// Depth limit for `**` walks (guards against symlink loops).
const MAX_WALK_DEPTH: usize = 32;

fn has_meta(s: &str) -> bool {
    s.contains(['*', '?', '[', '{'])
}

impl PathGlob {
    /// Compiles `pattern`, made absolute against the working directory.
    pub fn new(pattern: &str) -> Result<PathGlob, String> {
        let abs = if Path::new(pattern).is_absolute() {
            pattern.to_string()
        } else {
            let cwd = std::env::current_dir().map_err(|e| format!("current directory: {e}"))?;
            cwd.join(pattern).to_string_lossy().into_owned()
        };
        let matcher = GlobBuilder::new(&abs)
            .literal_separator(true)
            .backslash_escape(true)
            .build()
            .map_err(|e| format!("invalid __path__ glob {pattern:?}: {e}"))?
            .compile_matcher();
        let mut base = PathBuf::from("/");
        let mut rest = 0usize;
        let mut in_base = true;
        let mut recursive = false;
        for c in Path::new(&abs).components() {
            let Component::Normal(part) = c else { continue };
            let part = part.to_string_lossy();
            if in_base && !has_meta(&part) {
                base.push(part.as_ref());
            } else {
                in_base = false;
                rest += 1;
                if part.contains("**") {
                    recursive = true;
                }
            }
        }
        Ok(PathGlob {
            literal: !has_meta(&abs),
            pattern: abs,
            matcher,
            base,
            max_depth: if recursive { MAX_WALK_DEPTH } else { rest },
        })
    }

    /// The absolute pattern.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// True if `path` matches.
    pub fn is_match(&self, path: &Path) -> bool {
        self.matcher.is_match(path)
    }

    /// The directory a walk starts from (watched for new files).
    pub fn base(&self) -> &Path {
        &self.base
    }

    /// Regular files matching the glob (symlinks followed, dotfiles included), sorted.
    pub fn expand(&self) -> Vec<PathBuf> {
        if self.literal {
            let p = PathBuf::from(&self.pattern);
            return if p.is_file() { vec![p] } else { Vec::new() };
        }
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        walk(
            &self.base,
            0,
            self.max_depth,
            &self.matcher,
            &mut seen,
            &mut out,
        );
        out.sort();
        out
    }
}

/// Walks `dir`, following symlinks but entering each directory (by device and inode) once, so a
/// symlink loop neither repeats files nor explodes the walk.
fn walk(
    dir: &Path,
    depth: usize,
    max_depth: usize,
    m: &GlobMatcher,
    seen: &mut std::collections::HashSet<(u64, u64)>,
    out: &mut Vec<PathBuf>,
) {
    use std::os::unix::fs::MetadataExt;
    if depth >= max_depth {
        return;
    }
    if let Ok(meta) = std::fs::metadata(dir) {
        if !seen.insert((meta.dev(), meta.ino())) {
            return;
        }
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in rd.flatten() {
        let p = entry.path();
        let Ok(meta) = std::fs::metadata(&p) else {
            continue;
        };
        if meta.is_dir() {
            walk(&p, depth + 1, max_depth, m, seen, out);
        } else if meta.is_file() && m.is_match(&p) {
            out.push(p);
        }
    }
}

/// A file target after relabelling.
#[derive(Debug, Clone)]
pub struct FileTarget {
    /// The `__path__` glob.
    pub glob: PathGlob,
    /// The `__path_exclude__` glob.
    pub exclude: Option<PathGlob>,
    /// Labels with every `__` label removed.
    pub labels: Labels,
    /// Labels before relabelling (for `/targets`).
    pub discovered: Labels,
}

/// Why a discovered target was not used (`promtail_targets_failed_total{reason}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// A relabel rule dropped it.
    Relabel,
    /// No `__path__` after relabelling.
    NoPath,
    /// `__host__` names another host.
    WrongHost,
    /// The same target twice.
    Exists,
    /// A bad glob.
    Error,
}

impl Dropped {
    /// The metric's reason label.
    pub fn reason(self) -> &'static str {
        match self {
            Dropped::Relabel => "dropped",
            Dropped::NoPath => "no_path",
            Dropped::WrongHost => "wrong_host",
            Dropped::Exists => "exists",
            Dropped::Error => "error",
        }
    }
}

/// Relabels target groups into file targets, as Promtail's file target manager does.
pub fn build_targets(
    groups: &[Labels],
    relabel: &Relabeler,
    hostname: &str,
) -> (Vec<FileTarget>, Vec<(Labels, Dropped)>) {
    let mut targets: Vec<FileTarget> = Vec::new();
    let mut dropped = Vec::new();
    let mut seen = BTreeMap::new();
    for discovered in groups {
        let Some(labels) = relabel.process(discovered.clone()) else {
            dropped.push((discovered.clone(), Dropped::Relabel));
            continue;
        };
        if let Some(h) = labels.get("__host__") {
            if h != hostname {
                dropped.push((discovered.clone(), Dropped::WrongHost));
                continue;
            }
        }
        let Some(path) = labels
            .get("__path__")
            .filter(|p| !p.is_empty())
            .map(str::to_string)
        else {
            tracing::info!(labels = %discovered.display_string(), "no path for target");
            dropped.push((discovered.clone(), Dropped::NoPath));
            continue;
        };
        let exclude_pattern = labels
            .get("__path_exclude__")
            .filter(|p| !p.is_empty())
            .map(str::to_string);
        let mut clean = labels.clone();
        clean.retain(|k, _| !k.starts_with("__"));
        let key = format!(
            "{path}:{}:{}",
            clean.display_string(),
            exclude_pattern.clone().unwrap_or_default()
        );
        if seen.insert(key, ()).is_some() {
            continue;
        }
        let glob = match PathGlob::new(&path) {
            Ok(g) => g,
            Err(e) => {
                tracing::error!(error = %e, "bad target path");
                dropped.push((discovered.clone(), Dropped::Error));
                continue;
            }
        };
        let exclude = match exclude_pattern.as_deref().map(PathGlob::new) {
            Some(Ok(g)) => Some(g),
            Some(Err(e)) => {
                tracing::error!(error = %e, "bad __path_exclude__");
                dropped.push((discovered.clone(), Dropped::Error));
                continue;
            }
            None => None,
        };
        targets.push(FileTarget {
            glob,
            exclude,
            labels: clean,
            discovered: discovered.clone(),
        });
    }
    (targets, dropped)
}

/// Reads `file_sd_configs` files (JSON or YAML lists of `{targets, labels}`), adding
/// `__meta_filepath`. Files that cannot be read or parsed are logged and skipped.
pub fn read_file_sd(patterns: &[String]) -> Vec<Labels> {
    let mut out = Vec::new();
    for pattern in patterns {
        let files = match PathGlob::new(pattern) {
            Ok(g) => g.expand(),
            Err(e) => {
                tracing::error!(error = %e, "file_sd_configs: bad file pattern");
                continue;
            }
        };
        for file in files {
            let text = match std::fs::read_to_string(&file) {
                Ok(t) => t,
                Err(e) => {
                    tracing::error!(file = %file.display(), error = %e, "file_sd_configs: cannot read file");
                    continue;
                }
            };
            let node = match gocompat::yaml::parse(&text) {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(file = %file.display(), error = %e, "file_sd_configs: cannot parse file");
                    continue;
                }
            };
            let groups: Vec<crate::config::raw::RawStaticConfig> = match gocompat::yaml::from_node(
                &node,
                gocompat::yaml::Mode::Config,
            ) {
                Ok(d) => d.value,
                Err(e) => {
                    tracing::error!(file = %file.display(), error = %e, "file_sd_configs: invalid target groups");
                    continue;
                }
            };
            for g in groups {
                for t in if g.targets.is_empty() {
                    vec!["localhost".to_string()]
                } else {
                    g.targets.clone()
                } {
                    let mut l: Labels = g
                        .labels
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    l.insert("__address__", t);
                    l.insert("__meta_filepath", file.to_string_lossy().into_owned());
                    out.push(l);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_table() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for f in [
            "a.log",
            "b.txt",
            ".hidden.log",
            "sub/c.log",
            "sub/deep/d.log",
            "x.log.1",
        ] {
            let p = d.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "x\n").unwrap();
        }
        let names = |pat: &str| -> Vec<String> {
            PathGlob::new(&format!("{}/{pat}", d.display()))
                .unwrap()
                .expand()
                .iter()
                .map(|p| p.strip_prefix(d).unwrap().to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(names("*.log"), vec![".hidden.log", "a.log"]);
        assert_eq!(
            names("**/*.log"),
            vec![".hidden.log", "a.log", "sub/c.log", "sub/deep/d.log"]
        );
        assert_eq!(names("sub/*/*.log"), vec!["sub/deep/d.log"]);
        assert_eq!(names("{a,b}.*"), vec!["a.log", "b.txt"]);
        assert_eq!(names("a.log"), vec!["a.log"]);
        assert_eq!(names("?.log*"), vec!["a.log", "x.log.1"]);
    }

    #[test]
    fn targets_from_groups() {
        let groups: Vec<Labels> = vec![
            [
                ("__path__", "/var/log/*.log"),
                ("job", "a"),
                ("__address__", "localhost"),
            ]
            .into_iter()
            .collect(),
            [("job", "nopath")].into_iter().collect(),
            [
                ("__path__", "/var/log/*.log"),
                ("job", "a"),
                ("__address__", "other"),
            ]
            .into_iter()
            .collect(),
        ];
        let (t, d) = build_targets(&groups, &Relabeler::default(), "h");
        assert_eq!(t.len(), 1, "targets differing only in __ labels collapse");
        assert_eq!(t[0].labels.display_string(), "{job=\"a\"}");
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].1, Dropped::NoPath);
    }
}
