//! `__path__` globs, expanded to files as Promtail's doublestar library does. Never opens a file
//! for reading.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, OnceLock};

use globset::{Candidate, Glob, GlobBuilder, GlobMatcher, GlobSet, GlobSetBuilder};

/// A `__path__` glob (doublestar semantics: `*`, `?`, `[...]`, `{a,b}`, `**` for any depth).
#[derive(Debug, Clone)]
pub struct PathGlob {
    pattern: String,
    glob: Glob,
    /// The whole pattern's matcher, compiled on first use: a compiled glob and its match cache
    /// cost tens of KB, so 5,000 pod targets whose components are matched one by one never
    /// build theirs.
    matcher: OnceLock<GlobMatcher>,
    base: PathBuf,
    parts: Vec<Part>,
    literal: bool,
}

/// One path component of a glob below its literal base directory, as an expansion evaluates it.
#[derive(Debug, Clone)]
pub enum Part {
    /// No wildcard: resolved by looking the name up in the directory, never by listing it.
    Literal(OsString),
    /// Wildcards within this one component: matched against the directory's listing.
    Wild(Box<WildPart>),
    /// The rest of the pattern (from a `**`, or a component that does not stand alone, such as
    /// `{a/b,c}`): a walk of up to this many levels, the files filtered by the whole pattern.
    Rest(usize),
}

/// A wildcard component's pattern (matched through a [`PartSet`]: a set of suffix, prefix or
/// extension patterns needs no compiled regex).
#[derive(Debug, Clone)]
pub struct WildPart {
    glob: Glob,
}

/// Depth limit for `**` walks (guards against symlink loops).
const MAX_WALK_DEPTH: usize = 32;

fn has_meta(s: &str) -> bool {
    s.contains(['*', '?', '[', '{', '\\'])
}

/// One component compiled on its own. A name never holds a separator, so `*` may be compiled to
/// match one (which lets a set of `*<suffix>` components run as one suffix search).
fn component_glob(part: &str) -> Option<WildPart> {
    let glob = GlobBuilder::new(part)
        .literal_separator(false)
        .backslash_escape(true)
        .build()
        .ok()?;
    Some(WildPart { glob })
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
        let glob = GlobBuilder::new(&abs)
            .literal_separator(true)
            .backslash_escape(true)
            .build()
            .map_err(|e| format!("invalid __path__ glob {pattern:?}: {e}"))?;
        let mut base = PathBuf::from("/");
        let mut rest: Vec<String> = Vec::new();
        for c in Path::new(&abs).components() {
            let part = match c {
                Component::Normal(part) => part.to_string_lossy(),
                Component::ParentDir => "..".into(),
                _ => continue,
            };
            if rest.is_empty() && !has_meta(&part) {
                base.push(part.as_ref());
            } else {
                rest.push(part.into_owned());
            }
        }
        if rest.is_empty() {
            // A literal path: its directory is the base, its name looked up there.
            if let Some(name) = base.file_name().map(OsStr::to_os_string) {
                base.pop();
                rest.push(name.to_string_lossy().into_owned());
            }
        }
        let mut parts = Vec::with_capacity(rest.len());
        for (i, part) in rest.iter().enumerate() {
            if part.contains("**") {
                parts.push(Part::Rest(MAX_WALK_DEPTH));
                break;
            }
            if !has_meta(part) {
                parts.push(Part::Literal(OsString::from(part)));
                continue;
            }
            match component_glob(part) {
                Some(w) => parts.push(Part::Wild(Box::new(w))),
                None => {
                    let recursive = rest[i..].iter().any(|p| p.contains("**"));
                    parts.push(Part::Rest(if recursive {
                        MAX_WALK_DEPTH
                    } else {
                        rest.len() - i
                    }));
                    break;
                }
            }
        }
        Ok(PathGlob {
            literal: !has_meta(&abs),
            pattern: abs,
            glob,
            matcher: OnceLock::new(),
            base,
            parts,
        })
    }

    /// The absolute pattern.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// True if `path` matches.
    pub fn is_match(&self, path: &Path) -> bool {
        self.matcher
            .get_or_init(|| self.glob.compile_matcher())
            .is_match(path)
    }

    /// The directory an expansion starts from (watched for new files): the literal directories
    /// before the first wildcard, or a literal path's directory.
    pub fn base(&self) -> &Path {
        &self.base
    }

    /// The components below [`PathGlob::base`], as an expansion evaluates them.
    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// Regular files matching the glob (symlinks followed, dotfiles included), sorted.
    pub fn expand(&self) -> Vec<PathBuf> {
        let mut cache = FsCache::default();
        expand_many(&[self], &mut cache, &mut |_| {})
            .pop()
            .map(|e| e.files.into_iter().collect())
            .unwrap_or_default()
    }
}

/// What an entry of a directory is (symlinks followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A directory.
    Dir,
    /// A regular file.
    File,
    /// Anything else, or gone.
    Other,
}

fn kind_of(meta: &std::fs::Metadata) -> Kind {
    if meta.is_dir() {
        Kind::Dir
    } else if meta.is_file() {
        Kind::File
    } else {
        Kind::Other
    }
}

type Listing = Arc<Vec<(OsString, Kind)>>;

/// What one expansion pass has seen of the file system: each directory is listed, and each path
/// looked up, at most once per pass, however many globs need it.
#[derive(Default)]
pub struct FsCache {
    listings: HashMap<PathBuf, Option<Listing>>,
    kinds: HashMap<PathBuf, Kind>,
    /// Directories listed.
    pub listed: usize,
    /// Paths looked up (a `stat`).
    pub looked_up: usize,
}

impl FsCache {
    fn kind(&mut self, path: &Path) -> Kind {
        if let Some(k) = self.kinds.get(path) {
            return *k;
        }
        self.looked_up += 1;
        let k = std::fs::metadata(path).map_or(Kind::Other, |m| kind_of(&m));
        self.kinds.insert(path.to_path_buf(), k);
        k
    }

    /// The directory's entries with their kinds (from the directory entry's type; symlinks and
    /// unknown types followed with a `stat`). `None` if it cannot be listed.
    fn list(&mut self, dir: &Path) -> Option<Listing> {
        if let Some(l) = self.listings.get(dir) {
            return l.clone();
        }
        self.listed += 1;
        let listing = std::fs::read_dir(dir).ok().map(|rd| {
            let mut out = Vec::new();
            for entry in rd.flatten() {
                let kind = match entry.file_type() {
                    Ok(t) if t.is_dir() => Kind::Dir,
                    Ok(t) if t.is_file() => Kind::File,
                    Ok(t) if !t.is_symlink() => Kind::Other,
                    _ => {
                        self.looked_up += 1;
                        std::fs::metadata(entry.path()).map_or(Kind::Other, |m| kind_of(&m))
                    }
                };
                out.push((entry.file_name(), kind));
            }
            Arc::new(out)
        });
        self.listings.insert(dir.to_path_buf(), listing.clone());
        listing
    }
}

/// Parts evaluated in one directory, matched against names together: literal names by lookup,
/// wildcard components as one [`GlobSet`] (one pass over a name for thousands of `*<uid>`
/// components), `Rest` parts always.
pub struct PartSet {
    literal: HashMap<OsString, Vec<usize>>,
    set: Option<GlobSet>,
    wild: Vec<(Option<GlobMatcher>, Vec<usize>)>,
    any: Vec<usize>,
    scratch: Vec<usize>,
}

impl PartSet {
    /// The set of `parts`; [`PartSet::matches`] answers with their indexes in this list.
    pub fn new<'a>(parts: impl IntoIterator<Item = &'a Part>) -> PartSet {
        let mut literal: HashMap<OsString, Vec<usize>> = HashMap::new();
        let mut by_pattern: HashMap<&str, usize> = HashMap::new();
        let mut wild: Vec<(Option<GlobMatcher>, Vec<usize>)> = Vec::new();
        let mut globs: Vec<&Glob> = Vec::new();
        let mut any = Vec::new();
        for (i, p) in parts.into_iter().enumerate() {
            match p {
                Part::Literal(name) => literal.entry(name.clone()).or_default().push(i),
                Part::Wild(w) => match by_pattern.get(w.glob.glob()) {
                    Some(&j) => wild[j].1.push(i),
                    None => {
                        by_pattern.insert(w.glob.glob(), wild.len());
                        wild.push((None, vec![i]));
                        globs.push(&w.glob);
                    }
                },
                Part::Rest(_) => any.push(i),
            }
        }
        let set = if globs.is_empty() {
            None
        } else {
            let mut b = GlobSetBuilder::new();
            for g in &globs {
                b.add((*g).clone());
            }
            b.build().ok()
        };
        if set.is_none() {
            // The set could not be built: match one by one.
            for (w, g) in wild.iter_mut().zip(&globs) {
                w.0 = Some(g.compile_matcher());
            }
        }
        PartSet {
            literal,
            set,
            wild,
            any,
            scratch: Vec::new(),
        }
    }

    /// Calls `f` with the index of every part `name` matches.
    pub fn matches(&mut self, name: &OsStr, mut f: impl FnMut(usize)) {
        if let Some(l) = self.literal.get(name) {
            l.iter().for_each(|&i| f(i));
        }
        if let Some(set) = &self.set {
            set.matches_candidate_into(&Candidate::new(name), &mut self.scratch);
            for &j in &self.scratch {
                if let Some((_, ids)) = self.wild.get(j) {
                    ids.iter().for_each(|&i| f(i));
                }
            }
        } else {
            for (m, ids) in &self.wild {
                if m.as_ref().is_some_and(|m| m.is_match(name)) {
                    ids.iter().for_each(|&i| f(i));
                }
            }
        }
        self.any.iter().for_each(|&i| f(i));
    }
}

/// What expanding one glob found.
#[derive(Debug, Default, Clone)]
pub struct Expansion {
    /// The matching regular files.
    pub files: BTreeSet<PathBuf>,
    /// The directories the expansion looked in, each with the index of the part evaluated there:
    /// an entry created, removed or renamed in one of them that this part matches can change
    /// the result.
    pub dirs: Vec<(PathBuf, usize)>,
}

/// Expands `globs` together: a directory is listed once however many globs look in it, a
/// component without wildcards is a lookup instead of a listing, and the wildcard components of
/// all globs in one directory are matched in one pass over its names. `on_dir` is called for a
/// directory before it is first looked in (to watch it, so nothing created after the look is
/// missed). The files equal what each glob's own walk would find.
pub fn expand_many(
    globs: &[&PathGlob],
    cache: &mut FsCache,
    on_dir: &mut dyn FnMut(&Path),
) -> Vec<Expansion> {
    let mut out = vec![Expansion::default(); globs.len()];
    // Directories still to look in, with the (glob, part) pairs to evaluate in each.
    let mut pending: BTreeMap<PathBuf, Vec<(usize, usize)>> = BTreeMap::new();
    for (i, g) in globs.iter().enumerate() {
        if !g.parts.is_empty() {
            pending.entry(g.base.clone()).or_default().push((i, 0));
        }
    }
    let mut seen_dirs: HashSet<PathBuf> = HashSet::new();
    while let Some((dir, items)) = pending.pop_first() {
        if seen_dirs.insert(dir.clone()) {
            on_dir(&dir);
        }
        let mut wild: Vec<(usize, usize)> = Vec::new();
        for (i, k) in items {
            let Some(g) = globs.get(i) else { continue };
            out[i].dirs.push((dir.clone(), k));
            match g.parts.get(k) {
                Some(Part::Literal(name)) => {
                    let path = dir.join(name);
                    let kind = cache.kind(&path);
                    found(g, i, k, path, kind, &mut out, &mut pending);
                }
                Some(Part::Wild(_)) => wild.push((i, k)),
                Some(Part::Rest(depth)) => {
                    let mut seen = HashSet::new();
                    walk(
                        &dir,
                        0,
                        *depth,
                        g,
                        k,
                        cache,
                        on_dir,
                        &mut seen_dirs,
                        &mut seen,
                        &mut out[i],
                    );
                }
                None => {}
            }
        }
        if wild.is_empty() {
            continue;
        }
        let Some(listing) = cache.list(&dir) else {
            continue;
        };
        let mut set = PartSet::new(
            wild.iter()
                .filter_map(|&(i, k)| globs.get(i).and_then(|g| g.parts.get(k))),
        );
        let mut hits = Vec::new();
        for (name, kind) in listing.iter() {
            hits.clear();
            set.matches(name, |j| hits.push(j));
            for &j in &hits {
                if let Some(&(i, k)) = wild.get(j) {
                    if let Some(g) = globs.get(i) {
                        found(g, i, k, dir.join(name), *kind, &mut out, &mut pending);
                    }
                }
            }
        }
    }
    out
}

/// Part `k` of glob `i` matched `path`: a file if it is the last part, else a directory to look
/// in next.
fn found(
    g: &PathGlob,
    i: usize,
    k: usize,
    path: PathBuf,
    kind: Kind,
    out: &mut [Expansion],
    pending: &mut BTreeMap<PathBuf, Vec<(usize, usize)>>,
) {
    if k + 1 < g.parts.len() {
        if kind == Kind::Dir {
            pending.entry(path).or_default().push((i, k + 1));
        }
    } else if kind == Kind::File {
        if g.literal {
            // Exactly as written (a doubled `/` kept): that is the file's name in positions.
            out[i].files.insert(PathBuf::from(&g.pattern));
        } else if !g.parts.iter().any(|p| matches!(p, Part::Rest(_))) || g.is_match(&path) {
            // Every component matched on its own is the whole pattern matched.
            out[i].files.insert(path);
        }
    }
}

/// Walks `dir` for a [`Part::Rest`], following symlinks; a `**` walk enters each directory (by
/// device and inode) once, so a symlink loop neither repeats files nor explodes the walk. Every
/// directory entered is recorded with part `k`.
#[allow(clippy::too_many_arguments)]
fn walk(
    dir: &Path,
    depth: usize,
    max_depth: usize,
    g: &PathGlob,
    k: usize,
    cache: &mut FsCache,
    on_dir: &mut dyn FnMut(&Path),
    seen_dirs: &mut HashSet<PathBuf>,
    seen: &mut HashSet<(u64, u64)>,
    out: &mut Expansion,
) {
    use std::os::unix::fs::MetadataExt;
    if depth >= max_depth {
        return;
    }
    // A `**` walk could loop through symlinks; a bounded one cannot, and follows every symlinked
    // directory, as Go's `filepath.Glob` does.
    if max_depth == MAX_WALK_DEPTH {
        if let Ok(meta) = std::fs::metadata(dir) {
            if !seen.insert((meta.dev(), meta.ino())) {
                return;
            }
        }
    }
    if depth > 0 {
        out.dirs.push((dir.to_path_buf(), k));
    }
    if seen_dirs.insert(dir.to_path_buf()) {
        on_dir(dir);
    }
    let Some(listing) = cache.list(dir) else {
        return;
    };
    for (name, kind) in listing.iter() {
        let p = dir.join(name);
        match kind {
            Kind::Dir => walk(
                &p,
                depth + 1,
                max_depth,
                g,
                k,
                cache,
                on_dir,
                seen_dirs,
                seen,
                out,
            ),
            Kind::File if g.is_match(&p) => {
                out.files.insert(p);
            }
            _ => {}
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

    /// The walk every target did before expansions were shared: list from the base down to the
    /// pattern's depth, keep the files the whole pattern matches. A `**` walk enters each
    /// directory (by device and inode) once; other walks follow every symlinked directory, as
    /// Go's `filepath.Glob` does (the old walk deduplicated those too, keeping whichever came
    /// first in the listing).
    fn reference(pattern: &str) -> Vec<PathBuf> {
        use std::os::unix::fs::MetadataExt;
        fn walk(
            dir: &Path,
            depth: usize,
            max: usize,
            m: &GlobMatcher,
            seen: &mut Option<HashSet<(u64, u64)>>,
            out: &mut Vec<PathBuf>,
        ) {
            if depth >= max {
                return;
            }
            if let (Some(seen), Ok(meta)) = (seen.as_mut(), std::fs::metadata(dir)) {
                if !seen.insert((meta.dev(), meta.ino())) {
                    return;
                }
            }
            let Ok(rd) = std::fs::read_dir(dir) else {
                return;
            };
            for e in rd.flatten() {
                let p = e.path();
                let Ok(meta) = std::fs::metadata(&p) else {
                    continue;
                };
                if meta.is_dir() {
                    walk(&p, depth + 1, max, m, seen, out);
                } else if meta.is_file() && m.is_match(&p) {
                    out.push(p);
                }
            }
        }
        let m = GlobBuilder::new(pattern)
            .literal_separator(true)
            .backslash_escape(true)
            .build()
            .unwrap()
            .compile_matcher();
        let mut base = PathBuf::from("/");
        let mut depth = 0;
        for c in Path::new(pattern).components() {
            let Component::Normal(part) = c else { continue };
            let part = part.to_string_lossy();
            if depth == 0 && !has_meta(&part) {
                base.push(part.as_ref());
            } else {
                depth += if part.contains("**") {
                    MAX_WALK_DEPTH
                } else {
                    1
                };
            }
        }
        if depth == 0 {
            let p = PathBuf::from(pattern);
            return if p.is_file() { vec![p] } else { Vec::new() };
        }
        let mut out = Vec::new();
        let mut seen = pattern.contains("**").then(HashSet::new);
        walk(&base, 0, depth, &m, &mut seen, &mut out);
        out.sort();
        out.dedup();
        out
    }

    #[test]
    fn shared_expansion_finds_what_each_walk_finds() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for f in [
            "pods/ns_a-1_uid-1/app/0.log",
            "pods/ns_a-1_uid-1/app/0.log.20240101-000000",
            "pods/ns_a-1_uid-1/side/0.log",
            "pods/ns_b-2_uid-2/app/0.log",
            "pods/ns_b-2_uid-2/app/1.log",
            "pods/ns_c-3_uid-30/app/0.log",
            "pods/.dot_uid-4/app/0.log",
            "pods/file_uid-5",
            "logs/a.log",
            "logs/b.txt",
            "logs/sub/c.log",
            "logs/sub/deep/d.log",
            "logs/{x}.log",
        ] {
            let p = d.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "x\n").unwrap();
        }
        std::fs::create_dir_all(d.join("pods/ns_e-5_uid-6/app/0.log")).unwrap();
        std::os::unix::fs::symlink(d.join("logs/sub"), d.join("logs/link")).unwrap();
        std::os::unix::fs::symlink(d.join("logs/a.log"), d.join("logs/alias.log")).unwrap();
        std::os::unix::fs::symlink(d.join("nowhere"), d.join("logs/dangling.log")).unwrap();
        let patterns: Vec<String> = [
            "pods/*uid-1/app/*.log",
            "pods/*uid-2/app/*.log",
            "pods/*uid-3/app/*.log",
            "pods/*uid-30/app/*.log",
            "pods/*uid-4/app/*.log",
            "pods/*uid-5",
            "pods/*uid-6/app/*.log",
            "pods/*/*/*.log",
            "pods/*/app/0.log",
            "pods/ns_a-1_uid-1/app/0.log",
            "pods/ns_a-1_uid-1/app/missing.log",
            "pods/*_uid-[12]/{app,side}/?.log*",
            "logs/*.log",
            "logs/*/*.log",
            "logs/**/*.log",
            "logs/**",
            "logs/\\{x\\}.log",
            "logs/{sub/deep,link}/*.log",
            "logs/a.log",
            "logs/sub",
            "missing/*.log",
        ]
        .iter()
        .map(|p| format!("{}/{p}", d.display()))
        .collect();
        let globs: Vec<PathGlob> = patterns.iter().map(|p| PathGlob::new(p).unwrap()).collect();
        let refs: Vec<&PathGlob> = globs.iter().collect();
        let mut cache = FsCache::default();
        let mut watched = Vec::new();
        let got = expand_many(&refs, &mut cache, &mut |d| watched.push(d.to_path_buf()));
        for ((p, g), e) in patterns.iter().zip(&globs).zip(&got) {
            let want = reference(p);
            let files: Vec<PathBuf> = e.files.iter().cloned().collect();
            assert_eq!(files, want, "{p}");
            assert_eq!(g.expand(), want, "{p} alone");
        }
        let listed_alone: usize = globs
            .iter()
            .map(|g| {
                let mut c = FsCache::default();
                expand_many(&[g], &mut c, &mut |_| {});
                c.listed
            })
            .sum();
        assert!(
            cache.listed < listed_alone,
            "listings shared: {} together, {listed_alone} one by one",
            cache.listed
        );
        let mut unique = watched.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), watched.len(), "each directory watched once");
    }

    #[test]
    fn literal_components_are_looked_up_not_listed() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for i in 0..50 {
            let p = d.join(format!("pods/ns_p-{i}_uid-{i}/app/0.log"));
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "x\n").unwrap();
        }
        let globs: Vec<PathGlob> = (0..50)
            .map(|i| PathGlob::new(&format!("{}/pods/*_uid-{i}/app/*.log", d.display())).unwrap())
            .collect();
        let refs: Vec<&PathGlob> = globs.iter().collect();
        let mut cache = FsCache::default();
        let got = expand_many(&refs, &mut cache, &mut |_| {});
        for (i, e) in got.iter().enumerate() {
            assert_eq!(e.files.len(), 1, "target {i}: {:?}", e.files);
        }
        // The root once, each `app` directory once; the pod directories are never listed (`app`
        // is looked up in each).
        assert_eq!(cache.listed, 1 + 50);
        assert_eq!(cache.looked_up, 50);
    }
}
