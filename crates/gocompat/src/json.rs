//! JSON as Promtail's Go libraries read and write it.
//!
//! Owns three things the json, docker and pack stages need byte for byte:
//! * [`parse_object`]: the input parser of json-iterator v1.1.12 (`ConfigDefault`) decoding into
//!   `map[string]interface{}`: top level an object or `null`, numbers as float64 (out-of-range is
//!   an error), lone surrogate escapes as U+FFFD, and raw control characters rejected only before
//!   the first backslash escape of a string.
//! * [`write_jsoniter`] and friends: json-iterator's encoder (HTML escaping, `1e-07` floats).
//! * [`write_encoding_json_var`]: Go `encoding/json` as JMESPath `to_string()` uses it (sorted keys,
//!   `1e-7` floats, `\b`/`\f` short escapes).

use std::borrow::Cow;

use jmespath::Variable;

/// A parsed JSON value borrowing unescaped strings from the input.
#[derive(Debug, Clone, PartialEq)]
pub enum JVal<'a> {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// Every number, as float64.
    Num(f64),
    /// A string.
    Str(Cow<'a, str>),
    /// An array.
    Arr(Vec<JVal<'a>>),
    /// An object in document order; duplicate keys are kept and the last one wins on lookup.
    Obj(Vec<(Cow<'a, str>, JVal<'a>)>),
}

impl<'a> JVal<'a> {
    /// The value of `key` when this is an object (last duplicate wins).
    pub fn get(&self, key: &str) -> Option<&JVal<'a>> {
        match self {
            JVal::Obj(entries) => entries.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

impl<'a> JVal<'a> {
    /// Mutable access to the value of `key` when this is an object (last duplicate wins).
    pub fn get_mut(&mut self, key: &str) -> Option<&mut JVal<'a>> {
        match self {
            JVal::Obj(entries) => entries
                .iter_mut()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v),
            _ => None,
        }
    }
}

/// The index of the first `"` or `\\` in `b`, eight bytes at a time.
pub fn find_quote_or_backslash(b: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let mut i = 0;
    while i + 8 <= b.len() {
        let mut word = [0u8; 8];
        word.copy_from_slice(&b[i..i + 8]);
        let x = u64::from_le_bytes(word);
        let hit = has_zero(x ^ (ONES * u64::from(b'"'))) | has_zero(x ^ (ONES * u64::from(b'\\')));
        if hit != 0 {
            // The lowest flagged byte is a real match (borrows only run toward higher bytes).
            return Some(i + (hit.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    b[i..]
        .iter()
        .position(|&c| c == b'"' || c == b'\\')
        .map(|p| i + p)
}

/// Copies `b[pos..]` onto `out` up to the first `"` or `\\` and returns that byte's index, or
/// `None` (everything copied) when there is none.
///
/// The spans between the escapes of a JSON-in-JSON log line are a few bytes long, so instead of a
/// search and then a copy (a `memcpy` call per span) this copies whole 8-byte words as it scans
/// them and takes back the bytes past the stop. `out` should have room for the rest of `b` (then
/// it never reallocates).
#[inline]
pub fn copy_until_quote_or_backslash(b: &[u8], mut pos: usize, out: &mut Vec<u8>) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    while let Some(word) = b
        .get(pos..pos + 8)
        .and_then(|w| <[u8; 8]>::try_from(w).ok())
    {
        out.extend_from_slice(&word);
        let x = u64::from_le_bytes(word);
        let hit = has_zero(x ^ (ONES * u64::from(b'"'))) | has_zero(x ^ (ONES * u64::from(b'\\')));
        if hit != 0 {
            // The lowest flagged byte is a real match (borrows only run toward higher bytes).
            let k = (hit.trailing_zeros() / 8) as usize;
            out.truncate(out.len() - 8 + k);
            return Some(pos + k);
        }
        pos += 8;
    }
    while let Some(&c) = b.get(pos) {
        if c == b'"' || c == b'\\' {
            return Some(pos);
        }
        out.push(c);
        pos += 1;
    }
    None
}

/// Unescapes `b[pos..]` onto `out` up to the first `"` or the first `\\` that does not start a
/// short escape (`\n`, `\"`, ...: those are decoded on the way), and returns that byte's index;
/// `None` (everything copied) when there is none. `b[pos..]` must be UTF-8 cut at an ASCII byte
/// for `out` to stay UTF-8 (the spans are copied as they are).
///
/// The escaped log of a JSON-in-JSON line has an escape every few bytes, so the loop is built
/// around one escape per step: on x86_64 sixteen bytes are loaded, stored to `out` whole, and
/// compared with `"` and `\\` at once (SSE2, part of the x86_64 baseline); the stop's position
/// takes back the bytes past it. Elsewhere it is the eight-byte word scan.
#[inline]
pub fn unescape_short(b: &[u8], pos: usize, out: &mut Vec<u8>) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        unescape_short_sse2(b, pos, out)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        unescape_short_words(b, pos, out)
    }
}

/// [`unescape_short`] with the eight-byte word scan (any target; the reference the SSE2 version
/// is tested against).
pub fn unescape_short_words(b: &[u8], mut pos: usize, out: &mut Vec<u8>) -> Option<usize> {
    loop {
        pos = copy_until_quote_or_backslash(b, pos, out)?;
        if b[pos] == b'"' {
            return Some(pos);
        }
        match b.get(pos + 1).and_then(|&c| short_escape_byte(c)) {
            Some(e) => {
                out.push(e);
                pos += 2;
            }
            None => return Some(pos),
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn unescape_short_sse2(b: &[u8], mut pos: usize, out: &mut Vec<u8>) -> Option<usize> {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
        _mm_storeu_si128,
    };
    if pos > b.len() {
        return None;
    }
    // Every step writes at most as many bytes as it consumes, so `out` never needs more room
    // than the rest of `b`: with that reserved here, `n - len0 <= pos - pos0` holds throughout,
    // and a 16-byte store at `n` (made only when `pos + 16 <= b.len()`) ends within capacity.
    out.reserve(b.len() - pos);
    let dst = out.as_mut_ptr();
    let mut n = out.len();
    let stop;
    // SAFETY: loads read `b[pos..pos + 16]` only when `pos + 16 <= b.len()`; stores write
    // `dst[n..n + 16]` under the same condition, and `n + 16 <= len0 + (pos - pos0) + 16 <=
    // len0 + b.len() - pos0 <= capacity` by the reserve above; single-byte writes at `n` come
    // after consuming at least one byte, so `n < capacity`. `set_len(n)` covers only bytes
    // written (the initialised prefix: every byte below `n` was stored by this loop or was there).
    unsafe {
        let quote = _mm_set1_epi8(b'"' as i8);
        let backslash = _mm_set1_epi8(b'\\' as i8);
        loop {
            if pos + 16 <= b.len() {
                let v = _mm_loadu_si128(b.as_ptr().add(pos).cast::<__m128i>());
                _mm_storeu_si128(dst.add(n).cast::<__m128i>(), v);
                let hits = _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash));
                let mask = _mm_movemask_epi8(hits) as u32;
                if mask == 0 {
                    pos += 16;
                    n += 16;
                    continue;
                }
                let k = mask.trailing_zeros() as usize;
                pos += k;
                n += k;
            } else {
                // The last bytes, one at a time.
                loop {
                    match b.get(pos) {
                        None => {
                            out.set_len(n);
                            return None;
                        }
                        Some(&c) if c == b'"' || c == b'\\' => break,
                        Some(&c) => {
                            dst.add(n).write(c);
                            n += 1;
                            pos += 1;
                        }
                    }
                }
            }
            // `b[pos]` is `"` or `\\`.
            if b[pos] == b'"' {
                stop = pos;
                break;
            }
            match b.get(pos + 1).and_then(|&c| short_escape_byte(c)) {
                Some(e) => {
                    dst.add(n).write(e);
                    n += 1;
                    pos += 2;
                }
                None => {
                    stop = pos;
                    break;
                }
            }
        }
        out.set_len(n);
    }
    Some(stop)
}

/// What each byte stands for after a `\` as a JSON short escape, 0 for none (a table: one load
/// instead of a jump per escape).
static SHORT_ESCAPES: [u8; 256] = {
    let mut t = [0u8; 256];
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t[b'/' as usize] = b'/';
    t[b'b' as usize] = 0x08;
    t[b'f' as usize] = 0x0c;
    t[b'n' as usize] = b'\n';
    t[b'r' as usize] = b'\r';
    t[b't' as usize] = b'\t';
    t
};

/// The byte a JSON short escape stands for (`n` of `\n`, ...), as [`short_escape`] (all of them
/// are ASCII).
#[inline]
pub fn short_escape_byte(c: u8) -> Option<u8> {
    match SHORT_ESCAPES[usize::from(c)] {
        0 => None,
        b => Some(b),
    }
}

/// The character a JSON short escape stands for (`n` of `\n`, ...): `"`, `\`, `/`, `b`, `f`, `n`,
/// `r`, `t`. `None` for `u` and for anything that is no escape.
#[inline]
pub fn short_escape(c: u8) -> Option<char> {
    Some(match c {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        _ => return None,
    })
}

/// Maximum nesting depth, as json-iterator's.
const MAX_DEPTH: usize = 10_000;

/// Why the input is not acceptable JSON (the stage only needs to know that it failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

struct Parser<'a> {
    s: &'a str,
    b: &'a [u8],
    pos: usize,
}

enum Frame<'a> {
    Arr(Vec<JVal<'a>>),
    Obj(Vec<(Cow<'a, str>, JVal<'a>)>, Cow<'a, str>),
}

/// Parses `input` as json-iterator decodes it into `map[string]interface{}`. `Ok(None)` for a
/// top-level `null`.
pub fn parse_object(input: &str) -> Result<Option<JVal<'_>>, Malformed> {
    let mut p = Parser {
        s: input,
        b: input.as_bytes(),
        pos: 0,
    };
    p.ws();
    let v = match p.peek() {
        Some(b'n') => {
            p.literal(b"null")?;
            None
        }
        Some(b'{') => Some(p.value()?),
        _ => return Err(Malformed),
    };
    p.ws();
    if p.pos != p.b.len() {
        return Err(Malformed);
    }
    Ok(v)
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn literal(&mut self, lit: &[u8]) -> Result<(), Malformed> {
        if self.b[self.pos..].starts_with(lit) {
            self.pos += lit.len();
            Ok(())
        } else {
            Err(Malformed)
        }
    }

    fn key(&mut self) -> Result<Cow<'a, str>, Malformed> {
        self.ws();
        if self.peek() != Some(b'"') {
            return Err(Malformed);
        }
        self.pos += 1;
        let k = self.string()?;
        self.ws();
        if self.peek() != Some(b':') {
            return Err(Malformed);
        }
        self.pos += 1;
        self.ws();
        Ok(k)
    }

    /// Parses one value (iteratively, so deep nesting cannot overflow the stack).
    fn value(&mut self) -> Result<JVal<'a>, Malformed> {
        self.value_at(0)
    }

    /// [`Parser::value`] for a value nested in `base` containers (for the depth limit).
    fn value_at(&mut self, base: usize) -> Result<JVal<'a>, Malformed> {
        let mut stack: smallvec::SmallVec<[Frame<'a>; 4]> = smallvec::SmallVec::new();
        'value: loop {
            self.ws();
            let mut v = match self.peek().ok_or(Malformed)? {
                b'{' => {
                    self.pos += 1;
                    self.ws();
                    if self.peek() == Some(b'}') {
                        self.pos += 1;
                        JVal::Obj(Vec::new())
                    } else {
                        if base + stack.len() >= MAX_DEPTH {
                            return Err(Malformed);
                        }
                        let k = self.key()?;
                        stack.push(Frame::Obj(Vec::with_capacity(8), k));
                        continue 'value;
                    }
                }
                b'[' => {
                    self.pos += 1;
                    self.ws();
                    if self.peek() == Some(b']') {
                        self.pos += 1;
                        JVal::Arr(Vec::new())
                    } else {
                        if base + stack.len() >= MAX_DEPTH {
                            return Err(Malformed);
                        }
                        stack.push(Frame::Arr(Vec::new()));
                        continue 'value;
                    }
                }
                b'"' => {
                    self.pos += 1;
                    JVal::Str(self.string()?)
                }
                b't' => {
                    self.literal(b"true")?;
                    JVal::Bool(true)
                }
                b'f' => {
                    self.literal(b"false")?;
                    JVal::Bool(false)
                }
                b'n' => {
                    self.literal(b"null")?;
                    JVal::Null
                }
                b'-' | b'0'..=b'9' => JVal::Num(self.number()?),
                _ => return Err(Malformed),
            };
            // Attach the finished value to its container, closing containers as they end.
            loop {
                match stack.last_mut() {
                    None => return Ok(v),
                    Some(Frame::Arr(items)) => {
                        items.push(v);
                        self.ws();
                        match self.peek() {
                            Some(b',') => {
                                self.pos += 1;
                                continue 'value;
                            }
                            Some(b']') => {
                                self.pos += 1;
                                match stack.pop() {
                                    Some(Frame::Arr(items)) => v = JVal::Arr(items),
                                    _ => return Err(Malformed),
                                }
                            }
                            _ => return Err(Malformed),
                        }
                    }
                    Some(Frame::Obj(entries, key)) => {
                        let k = std::mem::replace(key, Cow::Borrowed(""));
                        entries.push((k, v));
                        self.ws();
                        match self.peek() {
                            Some(b',') => {
                                self.pos += 1;
                                let k = self.key()?;
                                if let Some(Frame::Obj(_, key)) = stack.last_mut() {
                                    *key = k;
                                }
                                continue 'value;
                            }
                            Some(b'}') => {
                                self.pos += 1;
                                match stack.pop() {
                                    Some(Frame::Obj(entries, _)) => v = JVal::Obj(entries),
                                    _ => return Err(Malformed),
                                }
                            }
                            _ => return Err(Malformed),
                        }
                    }
                }
            }
        }
    }

    fn number(&mut self) -> Result<f64, Malformed> {
        let start = self.pos;
        self.scan_number()?;
        let f: f64 = self.s[start..self.pos].parse().map_err(|_| Malformed)?;
        if f.is_infinite() {
            return Err(Malformed);
        }
        Ok(f)
    }

    /// Checks a number as [`Parser::number`] does without converting it when it cannot be out of
    /// range (no exponent and fewer than 309 integer digits: below float64's largest value).
    fn skip_number(&mut self) -> Result<(), Malformed> {
        let start = self.pos;
        let (int_digits, exponent) = self.scan_number()?;
        if exponent || int_digits >= 309 {
            let f: f64 = self.s[start..self.pos].parse().map_err(|_| Malformed)?;
            if f.is_infinite() {
                return Err(Malformed);
            }
        }
        Ok(())
    }

    /// Moves past a number's characters, checking its syntax; returns its count of integer digits
    /// and whether it has an exponent.
    fn scan_number(&mut self) -> Result<(usize, bool), Malformed> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let start = self.pos;
        match self.peek() {
            Some(b'0') => {
                self.pos += 1;
                if matches!(self.peek(), Some(b'0'..=b'9')) {
                    return Err(Malformed);
                }
            }
            Some(b'1'..=b'9') => {
                while matches!(self.peek(), Some(b'0'..=b'9')) {
                    self.pos += 1;
                }
            }
            _ => return Err(Malformed),
        }
        let int_digits = self.pos - start;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(Malformed);
            }
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.pos += 1;
            }
        }
        let exponent = matches!(self.peek(), Some(b'e' | b'E'));
        if exponent {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(Malformed);
            }
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.pos += 1;
            }
        }
        // json-iterator reads the run of number characters and hands it to ParseFloat, so a
        // number glued to more number characters (`1.5.3`, `1-2`) is an error either way.
        if matches!(self.peek(), Some(b'.' | b'-' | b'+' | b'e' | b'E')) {
            return Err(Malformed);
        }
        Ok((int_digits, exponent))
    }

    /// Checks one value as [`Parser::value_at`] would parse it, without building it.
    fn skip_value_at(&mut self, base: usize) -> Result<(), Malformed> {
        // The open containers: true for an object.
        let mut stack: smallvec::SmallVec<[bool; 16]> = smallvec::SmallVec::new();
        'value: loop {
            self.ws();
            match self.peek().ok_or(Malformed)? {
                open @ (b'{' | b'[') => {
                    let object = open == b'{';
                    self.pos += 1;
                    self.ws();
                    if self.peek() == Some(if object { b'}' } else { b']' }) {
                        self.pos += 1;
                    } else {
                        if base + stack.len() >= MAX_DEPTH {
                            return Err(Malformed);
                        }
                        if object {
                            self.key()?;
                        }
                        stack.push(object);
                        continue 'value;
                    }
                }
                b'"' => {
                    self.pos += 1;
                    self.string()?;
                }
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                b'-' | b'0'..=b'9' => self.skip_number()?,
                _ => return Err(Malformed),
            }
            // The value is done: go on in its container, closing containers as they end.
            loop {
                let Some(&object) = stack.last() else {
                    return Ok(());
                };
                self.ws();
                match (self.peek(), object) {
                    (Some(b','), _) => {
                        self.pos += 1;
                        if object {
                            self.key()?;
                        }
                        continue 'value;
                    }
                    (Some(b'}'), true) | (Some(b']'), false) => {
                        self.pos += 1;
                        stack.pop();
                    }
                    _ => return Err(Malformed),
                }
            }
        }
    }
}

/// Reads `input` as [`parse_object`] does (the same inputs accepted and refused) and moves the
/// values of the top-level fields `keys` into `out` (by index; the last of duplicate fields wins;
/// `None` when absent or when the document is `null`). The other values are checked, not built.
pub fn extract_top_level<'a, K: AsRef<str>>(
    input: &'a str,
    keys: &[K],
    out: &mut [Option<JVal<'a>>],
) -> Result<(), Malformed> {
    let mut p = Parser {
        s: input,
        b: input.as_bytes(),
        pos: 0,
    };
    p.ws();
    match p.peek() {
        Some(b'n') => p.literal(b"null")?,
        Some(b'{') => {
            p.pos += 1;
            p.ws();
            if p.peek() == Some(b'}') {
                p.pos += 1;
            } else {
                loop {
                    let k = p.key()?;
                    match keys.iter().position(|want| want.as_ref() == k) {
                        Some(i) => {
                            let v = p.value_at(1)?;
                            if let Some(slot) = out.get_mut(i) {
                                *slot = Some(v);
                            }
                        }
                        None => p.skip_value_at(1)?,
                    }
                    p.ws();
                    match p.peek() {
                        Some(b',') => p.pos += 1,
                        Some(b'}') => {
                            p.pos += 1;
                            break;
                        }
                        _ => return Err(Malformed),
                    }
                }
            }
        }
        _ => return Err(Malformed),
    }
    p.ws();
    if p.pos != p.b.len() {
        return Err(Malformed);
    }
    Ok(())
}

impl<'a> Parser<'a> {
    fn hex4(&mut self) -> Result<u32, Malformed> {
        let h = self.b.get(self.pos..self.pos + 4).ok_or(Malformed)?;
        let mut v = 0u32;
        for &c in h {
            v = v * 16 + (c as char).to_digit(16).ok_or(Malformed)?;
        }
        self.pos += 4;
        Ok(v)
    }

    /// Parses a string body (after the opening quote).
    fn string(&mut self) -> Result<Cow<'a, str>, Malformed> {
        let start = self.pos;
        // Fast path: no escapes; raw control characters are errors.
        let n = memchr::memchr2(b'"', b'\\', &self.b[start..]).ok_or(Malformed)?;
        // Branch-free, so the compiler can check the span in wide chunks.
        let controls = self.b[start..start + n]
            .iter()
            .fold(0u8, |acc, &c| acc | u8::from(c < 0x20));
        if controls != 0 {
            return Err(Malformed);
        }
        self.pos = start + n;
        if self.b[self.pos] == b'"' {
            let s = &self.s[start..self.pos];
            self.pos += 1;
            return Ok(Cow::Borrowed(s));
        }
        // Slow path after the first escape: raw control characters are accepted. The unescaped
        // string is no longer than the rest of the input, so one allocation of that size holds it.
        let mut out: Vec<u8> = Vec::with_capacity(self.b.len() - start);
        out.extend_from_slice(&self.b[start..self.pos]);
        loop {
            // Short escapes and the spans between them, then here `b[pos]` is `"`, or `\`
            // before a `u`, an invalid escape or the end.
            self.pos = unescape_short(self.b, self.pos, &mut out).ok_or(Malformed)?;
            if self.b[self.pos] != b'"' {
                self.pos += 1;
                let c = self.peek().ok_or(Malformed)?;
                self.pos += 1;
                self.escape(c, &mut out)?;
            } else {
                self.pos += 1;
                // UTF-8: spans of the (UTF-8) input cut at ASCII bytes, ASCII escapes and
                // encoded `char`s. The check is kept; it does not fail.
                return Ok(Cow::Owned(String::from_utf8(out).unwrap_or_else(|e| {
                    String::from_utf8_lossy(e.as_bytes()).into_owned()
                })));
            }
        }
    }

    fn escape(&mut self, c: u8, out: &mut Vec<u8>) -> Result<(), Malformed> {
        if let Some(b) = short_escape_byte(c) {
            out.push(b);
            return Ok(());
        }
        let push = |out: &mut Vec<u8>, ch: char| {
            out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
        };
        match c {
            b'u' => {
                let r = self.hex4()?;
                if (0xD800..0xE000).contains(&r) {
                    if self.peek() != Some(b'\\') {
                        push(out, '\u{FFFD}');
                        return Ok(());
                    }
                    self.pos += 1;
                    let c2 = self.peek().ok_or(Malformed)?;
                    self.pos += 1;
                    if c2 != b'u' {
                        push(out, '\u{FFFD}');
                        return self.escape(c2, out);
                    }
                    let r2 = self.hex4()?;
                    if (0xD800..0xDC00).contains(&r) && (0xDC00..0xE000).contains(&r2) {
                        let cp = 0x10000 + ((r - 0xD800) << 10) + (r2 - 0xDC00);
                        push(out, char::from_u32(cp).unwrap_or('\u{FFFD}'));
                    } else {
                        push(out, '\u{FFFD}');
                        push(out, char::from_u32(r2).unwrap_or('\u{FFFD}'));
                    }
                } else {
                    push(out, char::from_u32(r).unwrap_or('\u{FFFD}'));
                }
            }
            _ => return Err(Malformed),
        }
        Ok(())
    }
}

/// Which Go encoder's string escaping to use.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// json-iterator `ConfigDefault`: only `\n`, `\r`, `\t` get short escapes.
    Jsoniter,
    /// Go 1.23 `encoding/json`: also `\b` and `\f`.
    EncodingJson,
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `s` as a JSON string with HTML-safe escaping.
pub fn write_string(out: &mut String, s: &str, flavor: Flavor) {
    out.push('"');
    let b = s.as_bytes();
    let mut start = 0;
    for (i, ch) in s.char_indices() {
        let esc: Option<&str> = match ch {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            '\u{8}' if flavor == Flavor::EncodingJson => Some("\\b"),
            '\u{c}' if flavor == Flavor::EncodingJson => Some("\\f"),
            '<' => Some("\\u003c"),
            '>' => Some("\\u003e"),
            '&' => Some("\\u0026"),
            '\u{2028}' => Some("\\u2028"),
            '\u{2029}' => Some("\\u2029"),
            c if (c as u32) < 0x20 => None,
            _ => continue,
        };
        out.push_str(&s[start..i]);
        match esc {
            Some(e) => out.push_str(e),
            None => {
                let c = b[i];
                out.push_str("\\u00");
                out.push(HEX[(c >> 4) as usize] as char);
                out.push(HEX[(c & 0xf) as usize] as char);
            }
        }
        start = i + ch.len_utf8();
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Appends a float as json-iterator writes it: `'f'` form, or Go's `'e'` form (`1e-07`, `1e+21`)
/// below 1e-6 and from 1e21.
pub fn write_float_jsoniter(out: &mut String, f: f64) {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        out.push_str(&go_exp_format(f, false));
    } else {
        out.push_str(&crate::strconv::format_go_float(f));
    }
}

/// Appends a float as Go `encoding/json` writes it (`1e-7`, `1e+21`).
fn write_float_encoding_json(out: &mut String, f: f64) {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        out.push_str(&go_exp_format(f, true));
    } else {
        out.push_str(&crate::strconv::format_go_float(f));
    }
}

/// `strconv.FormatFloat(f, 'e', -1, 64)`, optionally with encoding/json's `e-07` → `e-7` cleanup.
fn go_exp_format(f: f64, cleanup: bool) -> String {
    let e = format!("{f:e}");
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let sign = if exp < 0 { '-' } else { '+' };
    if cleanup && exp < 0 && exp > -10 {
        format!("{mant}e-{}", -exp)
    } else {
        format!("{mant}e{sign}{:02}", exp.abs())
    }
}

/// Appends a parsed value as json-iterator re-serialises it (objects in document order, last
/// duplicate winning). Iterative: the parser's depth cap (10,000) bounds the work list, never
/// the call stack; the duplicate check is linear in the object's size.
pub fn write_jsoniter(out: &mut String, v: &JVal<'_>) {
    enum Step<'v, 'a> {
        Value(&'v JVal<'a>),
        Text(&'static str),
        Key(&'v str),
    }
    let mut work: Vec<Step<'_, '_>> = vec![Step::Value(v)];
    while let Some(step) = work.pop() {
        let v = match step {
            Step::Text(t) => {
                out.push_str(t);
                continue;
            }
            Step::Key(k) => {
                write_string(out, k, Flavor::Jsoniter);
                out.push(':');
                continue;
            }
            Step::Value(v) => v,
        };
        match v {
            JVal::Null => out.push_str("null"),
            JVal::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            JVal::Num(f) => write_float_jsoniter(out, *f),
            JVal::Str(s) => write_string(out, s, Flavor::Jsoniter),
            JVal::Arr(items) => {
                out.push('[');
                work.push(Step::Text("]"));
                for (i, item) in items.iter().enumerate().rev() {
                    work.push(Step::Value(item));
                    if i > 0 {
                        work.push(Step::Text(","));
                    }
                }
            }
            JVal::Obj(entries) => {
                out.push('{');
                work.push(Step::Text("}"));
                let kept = last_occurrences(entries);
                let is_kept = |i: usize| {
                    kept.as_ref()
                        .is_none_or(|keep| keep.get(i).copied().unwrap_or(true))
                };
                // Pushed in reverse, so the first kept entry is written first; a comma goes
                // before every kept entry that has a kept entry before it.
                let first_kept = (0..entries.len()).find(|&i| is_kept(i));
                for (i, (k, val)) in entries.iter().enumerate().rev() {
                    if !is_kept(i) {
                        continue;
                    }
                    work.push(Step::Value(val));
                    work.push(Step::Key(k));
                    if Some(i) != first_kept {
                        work.push(Step::Text(","));
                    }
                }
            }
        }
    }
}

/// Which entries of an object are the last occurrence of their key (`None`: all of them, no key
/// repeats). Small objects compare pairwise; larger ones use a hash set, so a 100,000-key object
/// costs 100,000 lookups rather than 5 billion comparisons.
fn last_occurrences(entries: &[(Cow<'_, str>, JVal<'_>)]) -> Option<Vec<bool>> {
    if entries.len() <= 16 {
        let repeats = entries
            .iter()
            .enumerate()
            .any(|(i, (k, _))| entries[i + 1..].iter().any(|(k2, _)| k2 == k));
        if !repeats {
            return None;
        }
        return Some(
            entries
                .iter()
                .enumerate()
                .map(|(i, (k, _))| !entries[i + 1..].iter().any(|(k2, _)| k2 == k))
                .collect(),
        );
    }
    let mut seen: std::collections::HashSet<&str> =
        std::collections::HashSet::with_capacity(entries.len());
    let mut keep = vec![false; entries.len()];
    let mut repeats = false;
    for (i, (k, _)) in entries.iter().enumerate().rev() {
        if seen.insert(k) {
            if let Some(slot) = keep.get_mut(i) {
                *slot = true;
            }
        } else {
            repeats = true;
        }
    }
    repeats.then_some(keep)
}

/// Dropping a value takes its nested containers apart one at a time, so a document nested
/// 10,000 deep is freed without 10,000 nested calls.
impl Drop for JVal<'_> {
    fn drop(&mut self) {
        fn take_nested<'a>(v: &mut JVal<'a>, into: &mut Vec<JVal<'a>>) {
            let nested = |c: &JVal<'_>| match c {
                JVal::Arr(a) => !a.is_empty(),
                JVal::Obj(o) => !o.is_empty(),
                _ => false,
            };
            match v {
                JVal::Arr(items) => {
                    for c in items.iter_mut().filter(|c| nested(c)) {
                        into.push(std::mem::replace(c, JVal::Null));
                    }
                }
                JVal::Obj(entries) => {
                    for (_, c) in entries.iter_mut().filter(|(_, c)| nested(c)) {
                        into.push(std::mem::replace(c, JVal::Null));
                    }
                }
                _ => {}
            }
        }
        let mut pending = Vec::new();
        take_nested(self, &mut pending);
        while let Some(mut v) = pending.pop() {
            take_nested(&mut v, &mut pending);
        }
    }
}

/// Appends a JMESPath result as json-iterator serialises it.
pub fn write_jsoniter_var(out: &mut String, v: &Variable) {
    write_var(out, v, Flavor::Jsoniter);
}

/// Appends a JMESPath value as Go `encoding/json` marshals it (what `to_string()` returns).
pub fn write_encoding_json_var(out: &mut String, v: &Variable) {
    write_var(out, v, Flavor::EncodingJson);
}

fn write_var(out: &mut String, v: &Variable, flavor: Flavor) {
    enum Step<'v> {
        Value(&'v Variable),
        Text(&'static str),
        Key(&'v str),
    }
    let mut work = vec![Step::Value(v)];
    while let Some(step) = work.pop() {
        let v = match step {
            Step::Text(t) => {
                out.push_str(t);
                continue;
            }
            Step::Key(k) => {
                write_string(out, k, flavor);
                out.push(':');
                continue;
            }
            Step::Value(v) => v,
        };
        match v {
            Variable::Null => out.push_str("null"),
            Variable::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Variable::Number(n) => {
                let f = n.as_f64().unwrap_or(0.0);
                match flavor {
                    Flavor::Jsoniter => write_float_jsoniter(out, f),
                    Flavor::EncodingJson => write_float_encoding_json(out, f),
                }
            }
            Variable::String(s) => write_string(out, s, flavor),
            Variable::Array(items) => {
                out.push('[');
                work.push(Step::Text("]"));
                for (i, item) in items.iter().enumerate().rev() {
                    work.push(Step::Value(item));
                    if i > 0 {
                        work.push(Step::Text(","));
                    }
                }
            }
            Variable::Object(map) => {
                out.push('{');
                work.push(Step::Text("}"));
                for (i, (k, val)) in map.iter().enumerate().rev() {
                    work.push(Step::Value(val));
                    work.push(Step::Key(k));
                    if i > 0 {
                        work.push(Step::Text(","));
                    }
                }
            }
            // An expression reference has no exported fields: Go marshals it as `{}`.
            Variable::Expref(_) => out.push_str("{}"),
        }
    }
}

/// Converts a parsed value to a JMESPath variable (numbers that are whole become integers so
/// they compare equal to integer literals). Iterative, like [`write_jsoniter`].
pub fn to_variable(v: &JVal<'_>) -> Variable {
    enum Frame<'v, 'a> {
        Arr(Vec<jmespath::Rcvar>, std::slice::Iter<'v, JVal<'a>>),
        Obj(
            std::collections::BTreeMap<String, jmespath::Rcvar>,
            std::slice::Iter<'v, (Cow<'a, str>, JVal<'a>)>,
            &'v str,
        ),
    }
    let mut stack: Vec<Frame<'_, '_>> = Vec::new();
    let mut cur = v;
    loop {
        let mut value = match cur {
            JVal::Arr(items) => {
                stack.push(Frame::Arr(Vec::with_capacity(items.len()), items.iter()));
                None
            }
            JVal::Obj(entries) => {
                stack.push(Frame::Obj(
                    std::collections::BTreeMap::new(),
                    entries.iter(),
                    "",
                ));
                None
            }
            JVal::Null => Some(Variable::Null),
            JVal::Bool(b) => Some(Variable::Bool(*b)),
            JVal::Num(f) => Some(Variable::Number(number_from_f64(*f))),
            JVal::Str(s) => Some(Variable::String(s.to_string())),
        };
        // Attach finished values to their containers until one has a child left to convert.
        loop {
            let Some(top) = stack.last_mut() else {
                return value.unwrap_or(Variable::Null);
            };
            match top {
                Frame::Arr(out, rest) => {
                    if let Some(v) = value.take() {
                        out.push(jmespath::Rcvar::new(v));
                    }
                    if let Some(child) = rest.next() {
                        cur = child;
                        break;
                    }
                }
                Frame::Obj(out, rest, key) => {
                    if let Some(v) = value.take() {
                        out.insert((*key).to_string(), jmespath::Rcvar::new(v));
                    }
                    if let Some((k, child)) = rest.next() {
                        *key = k;
                        cur = child;
                        break;
                    }
                }
            }
            value = match stack.pop() {
                Some(Frame::Arr(out, _)) => Some(Variable::Array(out)),
                Some(Frame::Obj(out, _, _)) => Some(Variable::Object(out)),
                None => None,
            };
        }
    }
}

/// Drops a JMESPath value one container at a time (a `Variable` nested 10,000 deep would
/// otherwise be freed by 10,000 nested calls).
pub fn drop_variable(v: jmespath::Rcvar) {
    let mut pending = vec![v];
    while let Some(rc) = pending.pop() {
        if let Ok(var) = jmespath::Rcvar::try_unwrap(rc) {
            match var {
                Variable::Array(items) => pending.extend(items),
                Variable::Object(map) => pending.extend(map.into_values()),
                _ => {}
            }
        }
    }
}

/// A serde_json number for a Go float64.
pub fn number_from_f64(f: f64) -> serde_json::Number {
    if f.fract() == 0.0 && f.abs() < 9.0e15 && !(f == 0.0 && f.is_sign_negative()) {
        serde_json::Number::from(f as i64)
    } else {
        serde_json::Number::from_f64(f).unwrap_or_else(|| serde_json::Number::from(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> bool {
        parse_object(s).is_ok()
    }

    #[test]
    fn jsoniter_acceptance() {
        assert!(ok(r#"{"a":"1"}"#));
        assert!(ok("null"));
        assert!(ok(r#"  {"a":"ws"}  "#));
        assert!(ok("{\"a\":\"esc\\n\ttab\"}"));
        assert!(!ok("{\"a\":\"tab\there\"}"));
        assert!(!ok(r#"{"a":"x"} trailing"#));
        assert!(!ok("[1,2]"));
        assert!(!ok(r#"{"a":1,}"#));
        assert!(!ok(r#"{"a":1E400}"#));
        assert!(!ok(r#"{"a":01}"#));
        assert!(!ok(r#"{"a":NaN}"#));
        assert!(!ok(r#"{'a':1}"#));
        assert!(!ok(r#"{"a":"\x41"}"#));
        assert!(!ok("not json"));
    }

    #[test]
    fn strings_and_numbers() {
        let v = parse_object(
            r#"{"a":"caf\u00e9 \ud800x \/","b":12345678901234567890123,"a":"\ud83d\ude00"}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(v.get("a"), Some(&JVal::Str("😀".into())));
        assert_eq!(v.get("b"), Some(&JVal::Num(1.2345678901234568e22)));
        let v = parse_object(r#"{"a":"\ud800x"}"#).unwrap().unwrap();
        assert_eq!(v.get("a"), Some(&JVal::Str("\u{FFFD}x".into())));
    }

    #[test]
    fn reserialise_like_jsoniter() {
        let v = parse_object(
            r#"{"arr":[1,2.0,"\u2028",1e-7,true,null,{"k":"v"}],"o":{"c":"<a&b>"},"t":1e21}"#,
        )
        .unwrap()
        .unwrap();
        let mut s = String::new();
        write_jsoniter(&mut s, v.get("arr").unwrap());
        assert_eq!(s, r#"[1,2,"\u2028",1e-07,true,null,{"k":"v"}]"#);
        s.clear();
        write_jsoniter(&mut s, v.get("o").unwrap());
        assert_eq!(s, r#"{"c":"\u003ca\u0026b\u003e"}"#);
        s.clear();
        write_jsoniter(&mut s, v.get("t").unwrap());
        assert_eq!(s, "1e+21");
    }

    #[test]
    fn encoding_json_floats() {
        let mut s = String::new();
        write_encoding_json_var(&mut s, &Variable::Number(number_from_f64(1e-7)));
        assert_eq!(s, "1e-7");
    }

    #[test]
    fn quote_or_backslash_scan() {
        for (input, want) in [
            ("", None),
            ("abc", None),
            ("\"", Some(0)),
            ("abcdefgh\\", Some(8)),
            ("abcdefg\"xx\\", Some(7)),
            ("ééééé\"", Some(10)),
            ("\u{1}\u{7f}\u{80}\u{ff}abcdefghij\\", Some(16)),
        ] {
            let naive = input.bytes().position(|c| c == b'"' || c == b'\\');
            assert_eq!(naive, want, "{input:?}");
            assert_eq!(find_quote_or_backslash(input.as_bytes()), want, "{input:?}");
        }
        // Every position in a long buffer.
        for at in 0..40 {
            let mut b = vec![b'a'; 40];
            b[at] = if at % 2 == 0 { b'"' } else { b'\\' };
            assert_eq!(find_quote_or_backslash(&b), Some(at));
        }
    }

    #[test]
    fn short_escape_table_agrees_with_short_escape() {
        for c in 0..=255u8 {
            assert_eq!(short_escape_byte(c).map(char::from), short_escape(c), "{c}");
        }
    }

    #[test]
    fn copy_until_quote_or_backslash_copies_what_it_scans() {
        for len in 0..40 {
            for at in 0..=len {
                for stop in [b'"', b'\\'] {
                    let mut b: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
                    if at < len {
                        b[at] = stop;
                    }
                    for from in 0..=at.min(len) {
                        let mut out = b"x".to_vec();
                        let got = copy_until_quote_or_backslash(&b, from, &mut out);
                        let want = (at < len).then_some(at);
                        assert_eq!(got, want, "len {len} at {at} from {from}");
                        assert_eq!(
                            &out[1..],
                            &b[from..at.min(len)],
                            "len {len} at {at} from {from}"
                        );
                    }
                }
            }
        }
    }

    /// `{"a":{"a":...{"a":1}...}}`, `depth` objects deep.
    fn nested(depth: usize) -> String {
        let mut s = "{\"a\":".repeat(depth);
        s.push('1');
        s.push_str(&"}".repeat(depth));
        s
    }

    /// Runs `f` on a thread with a small stack: anything recursing on the input's depth would
    /// overflow it.
    fn on_small_stack(f: impl FnOnce() + Send + 'static) {
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(f)
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn nesting_to_json_iterators_limit_parses_writes_and_frees_without_recursion() {
        on_small_stack(|| {
            let line = nested(10_000);
            let doc = parse_object(&line).unwrap().unwrap();
            let mut out = String::new();
            write_jsoniter(&mut out, doc.get("a").unwrap());
            assert_eq!(out, line["{\"a\":".len()..line.len() - 1]);
            let var = jmespath::Rcvar::new(to_variable(&doc));
            let mut again = String::new();
            write_jsoniter_var(&mut again, &var);
            assert_eq!(again, line);
            drop_variable(var);
            drop(doc);
            // One deeper is json-iterator's "exceeded max depth".
            assert_eq!(parse_object(&nested(10_001)), Err(Malformed));
            let arrays = format!("{{\"a\":{}1{}}}", "[".repeat(9_999), "]".repeat(9_999));
            assert!(parse_object(&arrays).is_ok());
            let arrays = format!("{{\"a\":{}1{}}}", "[".repeat(10_000), "]".repeat(10_000));
            assert_eq!(parse_object(&arrays), Err(Malformed));
            // Docker's json-file decoder skips a deep extra field without recursing.
            let log = format!(
                "{{\"log\":\"x\\n\",\"attrs\":{},\"stream\":\"stdout\",\"time\":\"2024-01-02T03:04:05.000000006Z\"}}",
                nested(100_000)
            );
            assert!(crate::jsonlog::decode(log.as_bytes()).is_ok());
        });
    }

    #[test]
    fn a_hundred_thousand_keys_reserialise_in_linear_time_last_duplicate_winning() {
        let mut line = String::from("{\"o\":{");
        for i in 0..100_000 {
            line.push_str(&format!("\"k{i}\":{i},"));
        }
        line.push_str("\"k0\":\"last\"}}");
        let doc = parse_object(&line).unwrap().unwrap();
        let mut out = String::new();
        write_jsoniter(&mut out, doc.get("o").unwrap());
        assert!(out.starts_with("{\"k1\":1,\"k2\":2,"), "{}", &out[..40]);
        assert!(out.ends_with(",\"k99999\":99999,\"k0\":\"last\"}"));
        assert_eq!(out.matches("\"k0\"").count(), 1);
        // Small objects keep the same rule.
        let doc = parse_object(r#"{"a":1,"b":2,"a":3}"#).unwrap().unwrap();
        let mut out = String::new();
        write_jsoniter(&mut out, &doc);
        assert_eq!(out, r#"{"b":2,"a":3}"#);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 128, ..Default::default() })]

        /// Arbitrary bytes: parsed or refused, never a panic; what parses re-serialises, and
        /// the re-serialisation parses to the same value.
        #[test]
        fn arbitrary_input_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let text = String::from_utf8_lossy(&bytes);
            if let Ok(Some(v)) = parse_object(&text) {
                let mut out = String::new();
                write_jsoniter(&mut out, &v);
                let _ = to_variable(&v);
                proptest::prop_assert!(parse_object(&out).is_ok(), "{out}");
            }
            let _ = crate::jsonlog::decode(&bytes);
        }

        /// Strings of text, multi-byte characters and escapes (short, `\u`, surrogate pairs) at
        /// every length and position: both unescapers (the json stage's parser and the Docker
        /// line decoder, which copy spans a word at a time) read what serde_json reads.
        #[test]
        fn unescaping_reads_what_serde_json_reads(
            pieces in proptest::collection::vec(proptest::prop_oneof![
                "[a-z0-9 :,{}é✓😀]{0,19}",
                proptest::prelude::Just("\\\"".to_string()),
                proptest::prelude::Just("\\\\".to_string()),
                proptest::prelude::Just("\\n".to_string()),
                proptest::prelude::Just("\\/".to_string()),
                proptest::prelude::Just("\\u00e9".to_string()),
                proptest::prelude::Just("\\ud83d\\ude00".to_string()),
            ], 0..24)
        ) {
            let body: String = pieces.concat();
            let want: String = serde_json::from_str(&format!("\"{body}\"")).unwrap();
            let obj = format!(r#"{{"log":"{body}","stream":"stdout","time":"t"}}"#);
            let got = parse_object(&obj).unwrap().unwrap();
            proptest::prop_assert_eq!(got.get("log"), Some(&JVal::Str(want.clone().into())));
            let line = crate::jsonlog::decode(obj.as_bytes()).unwrap();
            proptest::prop_assert_eq!(line.log.as_deref(), Some(want.as_str()));
        }

        /// The SSE2 unescaper copies, decodes and stops exactly as the word scan does, from
        /// every start, on text with short, `\u`, invalid and cut-off escapes and quotes at any
        /// place, into outputs that already hold bytes.
        #[test]
        fn sse2_unescaping_is_the_word_scan(
            pieces in proptest::collection::vec(proptest::prop_oneof![
                "[a-z0-9 é✓😀]{0,40}",
                proptest::prelude::Just("\\\"".to_string()),
                proptest::prelude::Just("\\n".to_string()),
                proptest::prelude::Just("\\u00e9".to_string()),
                proptest::prelude::Just("\\x".to_string()),
                proptest::prelude::Just("\"".to_string()),
            ], 0..12),
            cut in proptest::prelude::any::<bool>(),
        ) {
            let mut b: Vec<u8> = pieces.concat().into_bytes();
            if cut {
                b.push(b'\\');
            }
            for from in 0..=b.len() {
                let mut want = b"ab".to_vec();
                let mut got = want.clone();
                let w = unescape_short_words(&b, from, &mut want);
                let g = unescape_short(&b, from, &mut got);
                proptest::prop_assert_eq!(g, w, "from {}", from);
                proptest::prop_assert_eq!(&got, &want, "from {}", from);
            }
        }

        #[test]
        fn object_shaped_input_never_panics(s in "\\{(\"[a-z\\\\u0-9]{0,6}\":[\\[\\]{}0-9eE.+\\-\",tfrunl]{0,12},?){0,6}\\}?") {
            if let Ok(Some(v)) = parse_object(&s) {
                let mut out = String::new();
                write_jsoniter(&mut out, &v);
                let again = parse_object(&out).ok().flatten();
                proptest::prop_assert!(again.is_some(), "{out}");
                let mut out2 = String::new();
                if let Some(a) = &again {
                    write_jsoniter(&mut out2, a);
                }
                proptest::prop_assert_eq!(&out, &out2);
            }
        }

        /// The top-level extraction accepts and refuses what the full parse does, and finds what
        /// its lookup finds (the last of duplicate fields).
        #[test]
        fn top_level_extraction_reads_as_the_full_parse(s in "[ ]?(null|\\{( ?\"[abc\\\\u0-9]{0,3}\" ?: ?([\\[\\]{}0-9eE.+\\-\",tfrunl ]{0,14}|\"[a-z\\\\\"]{0,5}\"|[0-9]{300,312}|-?[0-9]{1,4}(\\.[0-9]{1,3})?([eE][+-]?[0-9]{1,4})?) ?,?){0,6}\\}?)[ ]?") {
            check_top_level(&s)?;
        }
    }

    fn check_top_level(s: &str) -> Result<(), proptest::test_runner::TestCaseError> {
        let keys = ["a", "b", "c"];
        let mut out: [Option<JVal<'_>>; 3] = [None, None, None];
        let got = extract_top_level(s, &keys, &mut out);
        match parse_object(s) {
            Err(e) => proptest::prop_assert_eq!(got, Err(e), "{}", s),
            Ok(doc) => {
                proptest::prop_assert_eq!(got, Ok(()), "{}", s);
                // Compared as their JSON text: `==` and `Debug` on JVal recurse, and the depth
                // cases nest 10,000 deep.
                let text = |v: Option<&JVal<'_>>| {
                    v.map(|v| {
                        let mut t = String::new();
                        write_jsoniter(&mut t, v);
                        t
                    })
                };
                for (k, v) in keys.iter().zip(&out) {
                    let want = doc.as_ref().and_then(|d| d.get(k));
                    proptest::prop_assert_eq!(text(v.as_ref()), text(want), "{} {}", s, k);
                }
            }
        }
        Ok(())
    }

    #[test]
    fn top_level_extraction_examples_and_the_depth_limit() {
        for s in [
            r#"{"a":"x","b":1,"c":[1,{"d":null}],"a":"y"}"#,
            r#"{"level":"info","tag":"api","context":{"requestId":"r","statusCode":200,"durationMs":12}}"#,
            r#"{"a":1e400}"#,
            r#"{"z":1e400,"a":1}"#,
            r#"{"z":1.5e3,"a":-0}"#,
            r#"{"z":01,"a":1}"#,
            r#"{"z":"\ud800x","a":"\u00e9"}"#,
            r#"{"z":"raw	tab","a":1}"#,
            r#"{"z":"a\nraw	tab after an escape","a":1}"#,
            r#"{"z":[1,2,],"a":1}"#,
            r#"{"z":{"y":1,},"a":1}"#,
            r#" { } "#,
            "null",
            "[1]",
            r#"{"a":1} x"#,
        ] {
            check_top_level(s).unwrap();
        }
        for depth in [9_998, 9_999, 10_000, 10_001] {
            for key in ["a", "z"] {
                let s = format!("{{\"{key}\":{}1{}}}", "[".repeat(depth), "]".repeat(depth));
                check_top_level(&s).unwrap();
                let s = format!(
                    "{{\"{key}\":{}1{}}}",
                    "{\"k\":".repeat(depth),
                    "}".repeat(depth)
                );
                check_top_level(&s).unwrap();
            }
        }
    }
}
