//! `__path__` globs, expanded to files as Promtail's doublestar library does. Never opens a file
//! for reading.

use std::path::{Component, Path, PathBuf};

use globset::{GlobBuilder, GlobMatcher};

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
}
