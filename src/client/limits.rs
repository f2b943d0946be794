//! `limits_config.max_line_size`, applied per entry by each client as Promtail does.

/// What the line-size limit did to an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineLimit {
    /// The line is within the limit (or there is no limit).
    Fits,
    /// The line was cut; the number of bytes removed.
    Truncated(usize),
    /// The line is too long and must be dropped (reason `line_too_long`).
    Drop,
}

/// Applies `max_line_size` (0 = no limit) to `line`. With `truncate` the line is cut to the limit,
/// backing off to a UTF-8 character boundary (Promtail cuts bytes and can split a character; a
/// Rust `String` cannot hold the half, so ferrotail keeps the line valid).
pub fn apply(line: &mut String, max_line_size: usize, truncate: bool) -> LineLimit {
    if max_line_size == 0 || line.len() <= max_line_size {
        return LineLimit::Fits;
    }
    if !truncate {
        return LineLimit::Drop;
    }
    let mut cut = max_line_size;
    while !line.is_char_boundary(cut) {
        cut -= 1;
    }
    let removed = line.len() - cut;
    line.truncate(cut);
    LineLimit::Truncated(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits() {
        let mut s = "cafécafécafé".to_string();
        assert_eq!(apply(&mut s, 10, true), LineLimit::Truncated(5));
        assert_eq!(s, "cafécafé");
        let mut s = "0123456789abc".to_string();
        assert_eq!(apply(&mut s, 10, false), LineLimit::Drop);
        assert_eq!(apply(&mut s, 0, false), LineLimit::Fits);
    }
}
