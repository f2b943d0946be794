//! systemd journal cursors: `s=<seqnum_id>;i=<seqnum>;b=<boot_id>;m=<monotonic>;t=<realtime>;x=<xor_hash>`.

use crate::file::Key;
use crate::{Error, Result};

/// Lower-case hex of a 128-bit id (32 characters, as `SD_ID128_FORMAT_STR`).
pub fn id128_hex(id: &[u8; 16]) -> String {
    let mut s = String::with_capacity(32);
    for b in id {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 15)]));
    }
    s
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn parse_id128(s: &str) -> Option<[u8; 16]> {
    let s = s.as_bytes();
    // Also accept the UUID form with dashes.
    let hex: Vec<u8> = s.iter().copied().filter(|&c| c != b'-').collect();
    if hex.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        let hi = (*hex.get(2 * i)? as char).to_digit(16)?;
        let lo = (*hex.get(2 * i + 1)? as char).to_digit(16)?;
        *o = (hi * 16 + lo) as u8;
    }
    Some(out)
}

pub(crate) fn format_cursor(k: &Key) -> String {
    format!(
        "s={};i={:x};b={};m={:x};t={:x};x={:x}",
        id128_hex(&k.seqnum_id),
        k.seqnum,
        id128_hex(&k.boot_id),
        k.monotonic,
        k.realtime,
        k.xor_hash
    )
}

/// A parsed cursor; like systemd, every part is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    /// `s=`: sequence number id.
    pub seqnum_id: Option<[u8; 16]>,
    /// `i=`: sequence number.
    pub seqnum: Option<u64>,
    /// `b=`: boot id.
    pub boot_id: Option<[u8; 16]>,
    /// `m=`: monotonic time (µs).
    pub monotonic: Option<u64>,
    /// `t=`: realtime (µs since the epoch).
    pub realtime: Option<u64>,
    /// `x=`: xor hash of the entry's data objects.
    pub xor_hash: Option<u64>,
}

impl Cursor {
    /// Parses a cursor string as produced by `journalctl --show-cursor`.
    pub fn parse(s: &str) -> Result<Cursor> {
        let bad = |m: &str| Error::Cursor(format!("{m} in cursor {s:?}"));
        let mut c = Cursor::default();
        for part in s.trim().split(';') {
            if part.is_empty() {
                continue;
            }
            let (k, v) = part.split_once('=').ok_or_else(|| bad("missing '='"))?;
            let num = || u64::from_str_radix(v, 16).map_err(|_| bad("bad number"));
            match k {
                "s" => c.seqnum_id = Some(parse_id128(v).ok_or_else(|| bad("bad seqnum id"))?),
                "i" => c.seqnum = Some(num()?),
                "b" => c.boot_id = Some(parse_id128(v).ok_or_else(|| bad("bad boot id"))?),
                "m" => c.monotonic = Some(num()?),
                "t" => c.realtime = Some(num()?),
                "x" => c.xor_hash = Some(num()?),
                _ => {} // unknown parts are ignored, as systemd does
            }
        }
        if c == Cursor::default() {
            return Err(bad("no known field"));
        }
        if c.seqnum_id.is_some() != c.seqnum.is_some() && c.realtime.is_none() {
            return Err(bad("incomplete location"));
        }
        Ok(c)
    }

    /// Whether the entry with key `k` is the one this cursor names (every part present must match).
    pub(crate) fn matches(&self, k: &Key) -> bool {
        self.seqnum_id.is_none_or(|v| v == k.seqnum_id)
            && self.seqnum.is_none_or(|v| v == k.seqnum)
            && self.boot_id.is_none_or(|v| v == k.boot_id)
            && self.monotonic.is_none_or(|v| v == k.monotonic)
            && self.realtime.is_none_or(|v| v == k.realtime)
            && self.xor_hash.is_none_or(|v| v == k.xor_hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let k = Key {
            seqnum_id: [0x7a; 16],
            seqnum: 1,
            boot_id: *b"0123456789abcdef",
            monotonic: 0x3039,
            realtime: 0x60a24181e4000,
            xor_hash: 0x26ad9697f6dca841,
        };
        let s = format_cursor(&k);
        assert_eq!(
            s,
            "s=7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a;i=1;b=30313233343536373839616263646566;m=3039;t=60a24181e4000;x=26ad9697f6dca841"
        );
        let c = Cursor::parse(&s).expect("parse");
        assert!(c.matches(&k));
        assert!(Cursor::parse("garbage").is_err());
        assert!(Cursor::parse("").is_err());
        assert!(Cursor::parse("s=zz;i=1").is_err());
    }
}
