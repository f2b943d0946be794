//! Masterminds/semver v3 as sprig's `semver` and `semverCompare` use it: lenient version parsing
//! (`v` prefix, missing minor/patch) and constraint checks (`=`, `!=`, `>`, `<`, `>=`, `<=`, `~`,
//! `^`, wildcards, hyphen ranges, `||` and comma/space conjunctions, prerelease exclusion).

use std::cmp::Ordering;

/// A parsed semantic version.
#[derive(Debug, Clone, PartialEq)]
pub struct Version {
    /// Major number.
    pub major: u64,
    /// Minor number.
    pub minor: u64,
    /// Patch number.
    pub patch: u64,
    /// Prerelease identifiers joined by dots (empty when none).
    pub pre: String,
    /// Build metadata (empty when none).
    pub meta: String,
}

fn valid_ident(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

impl Version {
    /// `semver.NewVersion`: lenient parsing. The error text is Masterminds'.
    pub fn parse(s: &str) -> Result<Version, String> {
        let bad = || "Invalid Semantic Version".to_string();
        let body = s.strip_prefix('v').unwrap_or(s);
        let (body, meta) = match body.split_once('+') {
            Some((b, m)) => {
                if !valid_ident(m) {
                    return Err(bad());
                }
                (b, m.to_string())
            }
            None => (body, String::new()),
        };
        let (nums, pre) = match body.split_once('-') {
            Some((n, p)) => {
                if !valid_ident(p) {
                    return Err(bad());
                }
                (n, p.to_string())
            }
            None => (body, String::new()),
        };
        let parts: Vec<&str> = nums.split('.').collect();
        if parts.is_empty() || parts.len() > 3 {
            return Err(bad());
        }
        let mut n = [0u64; 3];
        for (i, p) in parts.iter().enumerate() {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            n[i] = p.parse().map_err(|_| bad())?;
        }
        Ok(Version {
            major: n[0],
            minor: n[1],
            patch: n[2],
            pre,
            meta,
        })
    }

    /// The normalised text (`Version.String`).
    pub fn text(&self) -> String {
        let mut s = format!("{}.{}.{}", self.major, self.minor, self.patch);
        if !self.pre.is_empty() {
            s.push('-');
            s.push_str(&self.pre);
        }
        if !self.meta.is_empty() {
            s.push('+');
            s.push_str(&self.meta);
        }
        s
    }

    fn cmp(&self, o: &Version) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(o.major, o.minor, o.patch))
            .then_with(|| cmp_pre(&self.pre, &o.pre))
    }
}

fn cmp_pre(a: &str, b: &str) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        _ => {}
    }
    let (pa, pb): (Vec<&str>, Vec<&str>) = (a.split('.').collect(), b.split('.').collect());
    for (x, y) in pa.iter().zip(pb.iter()) {
        let o = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(i), Ok(j)) => i.cmp(&j),
            (Ok(_), Err(_)) => Ordering::Less,
            (Err(_), Ok(_)) => Ordering::Greater,
            _ => x.cmp(y),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    pa.len().cmp(&pb.len())
}

struct Constraint {
    op: String,
    con: Version,
    dirty: bool,
    minor_dirty: bool,
    patch_dirty: bool,
}

fn is_x(s: &str) -> bool {
    matches!(s, "x" | "X" | "*")
}

fn parse_constraint(s: &str) -> Result<Constraint, String> {
    let s = s.trim();
    let op_len = s
        .bytes()
        .take_while(|b| matches!(b, b'=' | b'!' | b'>' | b'<' | b'~' | b'^'))
        .count();
    let (op, ver) = (&s[..op_len], s[op_len..].trim());
    let op = match op {
        "" | "=" => "=",
        "!=" => "!=",
        ">" => ">",
        "<" => "<",
        ">=" | "=>" => ">=",
        "<=" | "=<" => "<=",
        "~" | "~>" => "~",
        "^" => "^",
        _ => return Err(format!("improper constraint: {s}")),
    };
    let v = ver.strip_prefix('v').unwrap_or(ver);
    let (core, rest) = match v.find(['-', '+']) {
        Some(i) => (&v[..i], &v[i..]),
        None => (v, ""),
    };
    let parts: Vec<&str> = core.split('.').collect();
    let (mut dirty, mut minor_dirty, mut patch_dirty) = (false, false, false);
    let text = if parts.first().is_some_and(|p| is_x(p)) {
        // `*` is `~0.0.0`, which accepts everything.
        dirty = true;
        "0.0.0".to_string()
    } else if parts.get(1).is_some_and(|p| is_x(p)) {
        dirty = true;
        minor_dirty = true;
        patch_dirty = true;
        format!("{}.0.0{rest}", parts[0])
    } else if parts.get(2).is_some_and(|p| is_x(p)) {
        dirty = true;
        patch_dirty = true;
        format!("{}.{}.0{rest}", parts[0], parts[1])
    } else {
        v.to_string()
    };
    let con = Version::parse(&text).map_err(|_| format!("improper constraint: {s}"))?;
    Ok(Constraint {
        op: op.to_string(),
        con,
        dirty,
        minor_dirty,
        patch_dirty,
    })
}

fn check(v: &Version, c: &Constraint) -> bool {
    let pre_excluded = !v.pre.is_empty() && c.con.pre.is_empty();
    let cv = &c.con;
    match c.op.as_str() {
        "=" => {
            if c.dirty {
                tilde(v, c, pre_excluded)
            } else {
                !pre_excluded && v.cmp(cv) == Ordering::Equal
            }
        }
        "!=" => {
            if c.dirty {
                if pre_excluded {
                    return false;
                }
                if cv.major != v.major {
                    return true;
                }
                if cv.minor != v.minor && !c.minor_dirty {
                    return true;
                }
                if c.minor_dirty {
                    return false;
                }
                if cv.patch != v.patch && !c.patch_dirty {
                    return true;
                }
                return false;
            }
            v.cmp(cv) != Ordering::Equal
        }
        ">" => {
            if pre_excluded {
                return false;
            }
            if !c.dirty {
                return v.cmp(cv) == Ordering::Greater;
            }
            if v.major != cv.major {
                return v.major > cv.major;
            }
            if c.minor_dirty {
                return false;
            }
            if c.patch_dirty {
                return v.minor > cv.minor;
            }
            v.cmp(cv) == Ordering::Greater
        }
        "<" => !pre_excluded && v.cmp(cv) == Ordering::Less,
        ">=" => !pre_excluded && v.cmp(cv) != Ordering::Less,
        "<=" => {
            if pre_excluded {
                return false;
            }
            if !c.dirty {
                return v.cmp(cv) != Ordering::Greater;
            }
            if v.major > cv.major {
                return false;
            }
            !(v.major == cv.major && v.minor > cv.minor && !c.minor_dirty)
        }
        "~" => tilde(v, c, pre_excluded),
        "^" => {
            if pre_excluded || v.cmp(cv) == Ordering::Less {
                return false;
            }
            if cv.major > 0 || c.minor_dirty {
                return v.major == cv.major;
            }
            if cv.minor > 0 || c.patch_dirty {
                return v.major == 0 && v.minor == cv.minor;
            }
            v.major == 0 && v.minor == 0 && v.patch == cv.patch
        }
        _ => false,
    }
}

fn tilde(v: &Version, c: &Constraint, pre_excluded: bool) -> bool {
    let cv = &c.con;
    if pre_excluded || v.cmp(cv) == Ordering::Less {
        return false;
    }
    if cv.major == 0 && cv.minor == 0 && cv.patch == 0 && !c.minor_dirty && !c.patch_dirty {
        return true;
    }
    if v.major != cv.major {
        return false;
    }
    v.minor == cv.minor || c.minor_dirty
}

/// `semverCompare constraint version`.
pub fn compare(constraint: &str, version: &str) -> Result<bool, String> {
    let mut groups = Vec::new();
    for group in constraint.split("||") {
        let mut cs = Vec::new();
        // Hyphen ranges first: "1.2 - 1.4.5" is ">= 1.2, <= 1.4.5".
        let mut text = group.trim().to_string();
        if let Some((a, b)) = text.split_once(" - ") {
            text = format!(">= {}, <= {}", a.trim(), b.trim());
        }
        // Constraints are separated by commas or by spaces between complete constraints.
        let mut tokens: Vec<String> = Vec::new();
        for part in text.split(',') {
            let mut pending = String::new();
            for w in part.split_whitespace() {
                let only_op = w
                    .bytes()
                    .all(|b| matches!(b, b'=' | b'!' | b'>' | b'<' | b'~' | b'^'));
                pending.push_str(w);
                if !only_op {
                    tokens.push(std::mem::take(&mut pending));
                }
            }
            if !pending.is_empty() {
                tokens.push(pending);
            }
        }
        if tokens.is_empty() {
            return Err(format!("improper constraint: {constraint}"));
        }
        for t in tokens {
            cs.push(parse_constraint(&t)?);
        }
        groups.push(cs);
    }
    let v = Version::parse(version)?;
    Ok(groups.iter().any(|g| g.iter().all(|c| check(&v, c))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sprig_documented_constraints() {
        for (c, v, want) in [
            (">=1.2.3", "1.2.3", true),
            ("~1.2.3", "1.2.9", true),
            ("~1.2.3", "1.3.0", false),
            ("^1.2.3", "1.9.0", true),
            ("^1.2.3", "2.0.0", false),
            ("^0.2.3", "0.2.9", true),
            ("^0.2.3", "0.3.0", false),
            ("1.2.x", "1.2.7", true),
            ("1.2.x", "1.3.0", false),
            (">= 1.2, < 3.0.0 || >= 4.2.3", "4.5.0", true),
            (">= 1.2, < 3.0.0 || >= 4.2.3", "3.1.0", false),
            ("1.2 - 1.4.5", "1.4.5", true),
            ("1.2 - 1.4.5", "1.4.6", false),
            ("!=1.2.3", "1.2.3", false),
            (">1.2.3", "1.3.0-beta", false),
            (">1.2.3-alpha", "1.3.0-beta", true),
            ("*", "5.0.0", true),
            ("> 1.0 < 2.0", "1.5.0", true),
        ] {
            assert_eq!(compare(c, v), Ok(want), "{c} {v}");
        }
        assert!(compare(">=1.2", "not-a-version").is_err());
        assert_eq!(Version::parse("v1.2").unwrap().text(), "1.2.0");
    }
}
