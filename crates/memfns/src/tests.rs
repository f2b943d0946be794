//! Every function against a byte-at-a-time reference: all lengths 0..=600 at every source and
//! destination alignment 0..=15, the lengths around the `rep movsb`/`rep stosb` threshold, every
//! overlap of `copy_overlapping` in both directions, and random lengths up to 64 KiB.
//!
//! The checks use the byte loops below, never `==` on slices or `copy_from_slice`: on the musl
//! target those call `bcmp`/`memcpy`, which are the functions under test. This crate is
//! `#![no_builtins]`, so the loops stay loops.

use super::{compare, copy, copy_overlapping, differ, fill};
use proptest::prelude::*;

const MAX: usize = 600;
/// Room before and after the bytes a call may touch, to catch writes out of range.
const GUARD: usize = 32;
const GUARD_BYTE: u8 = 0xEE;

/// A byte that depends on its position (so a shifted copy differs) and is never GUARD_BYTE.
fn pattern(i: usize, seed: u32) -> u8 {
    let x = (i as u32).wrapping_add(seed).wrapping_mul(2_654_435_761) >> 13;
    let b = x as u8;
    if b == GUARD_BYTE {
        0x11
    } else {
        b
    }
}

fn patterned(len: usize, seed: u32) -> Vec<u8> {
    let mut v = vec![0u8; len];
    let mut i = 0;
    while i < len {
        v[i] = pattern(i, seed);
        i += 1;
    }
    v
}

/// Byte-loop copy (the reference), memmove semantics.
fn ref_move(buf: &mut [u8], dst: usize, src: usize, n: usize) {
    if dst <= src {
        let mut k = 0;
        while k < n {
            buf[dst + k] = buf[src + k];
            k += 1;
        }
    } else {
        let mut k = n;
        while k > 0 {
            k -= 1;
            buf[dst + k] = buf[src + k];
        }
    }
}

/// Index of the first difference, if any (byte loop).
fn first_diff(a: &[u8], b: &[u8]) -> Option<usize> {
    assert_eq!(a.len(), b.len());
    let mut k = 0;
    while k < a.len() {
        if a[k] != b[k] {
            return Some(k);
        }
        k += 1;
    }
    None
}

fn ref_compare(a: &[u8], b: &[u8]) -> i32 {
    match first_diff(a, b) {
        Some(k) => i32::from(a[k]) - i32::from(b[k]),
        None => 0,
    }
}

/// Copies `n` bytes with `copy` from `src[sa..]` into a guarded destination at alignment `da`
/// and checks the bytes written and the guards.
fn check_copy(src: &[u8], sa: usize, da: usize, n: usize, dst: &mut Vec<u8>) {
    dst.clear();
    dst.resize(GUARD + 16 + n + GUARD, GUARD_BYTE);
    // Align the destination buffer's start so `da` is the real alignment.
    let base = GUARD + (16 - (dst.as_ptr() as usize + GUARD) % 16) % 16;
    let d = base + da;
    // SAFETY: src[sa..sa+n] and dst[d..d+n] are in bounds (checked by the slicing below).
    unsafe { copy(dst[d..d + n].as_mut_ptr(), src[sa..sa + n].as_ptr(), n) };
    if let Some(k) = first_diff(&dst[d..d + n], &src[sa..sa + n]) {
        panic!("copy n={n} src align={sa} dst align={da}: byte {k} wrong");
    }
    for (k, &b) in dst.iter().enumerate() {
        if (k < d || k >= d + n) && b != GUARD_BYTE {
            panic!("copy n={n} src align={sa} dst align={da}: wrote outside at {k}");
        }
    }
}

/// A source buffer whose start is 16-byte aligned plus `sa`.
fn aligned_src(n: usize, seed: u32) -> (Vec<u8>, usize) {
    let v = patterned(n + 32, seed);
    let base = (16 - v.as_ptr() as usize % 16) % 16;
    (v, base)
}

#[test]
fn copy_every_length_to_600_at_every_alignment() {
    let (src, base) = aligned_src(MAX + 16, 1);
    let mut dst = Vec::new();
    for n in 0..=MAX {
        for sa in 0..16 {
            for da in 0..16 {
                check_copy(&src, base + sa, da, n, &mut dst);
            }
        }
    }
}

/// Lengths around the switch to `rep movsb` (2048) and long ones, every alignment.
#[test]
fn copy_long_lengths_at_every_alignment() {
    let lengths = [
        1023, 1024, 1025, 2047, 2048, 2049, 2111, 4096, 4099, 65_536, 65_541,
    ];
    let (src, base) = aligned_src(65_541 + 16, 2);
    let mut dst = Vec::new();
    for &n in &lengths {
        for sa in 0..16 {
            for da in 0..16 {
                check_copy(&src, base + sa, da, n, &mut dst);
            }
        }
    }
}

/// One `copy_overlapping` of `n` bytes from `src` to `dst` inside one buffer, against the
/// reference on a copy of the buffer.
fn check_move(buf: &mut [u8], expect: &mut [u8], dst: usize, src: usize, n: usize) {
    let mut k = 0;
    while k < buf.len() {
        let b = pattern(k, 7);
        buf[k] = b;
        expect[k] = b;
        k += 1;
    }
    ref_move(expect, dst, src, n);
    let p = buf.as_mut_ptr();
    // SAFETY: src + n and dst + n are within buf (the callers size it).
    unsafe { copy_overlapping(p.add(dst), p.add(src), n) };
    if let Some(k) = first_diff(buf, expect) {
        panic!("copy_overlapping n={n} src={src} dst={dst}: byte {k} wrong");
    }
}

/// Every length to 600, every overlap offset in both directions (the destination 1..n bytes
/// after or before the source), plus disjoint moves, at varying alignments.
#[test]
fn copy_overlapping_every_length_and_overlap() {
    let mut buf = vec![0u8; 2 * MAX + 64];
    let mut expect = buf.clone();
    for n in 0..=MAX {
        let size = 2 * n + 40;
        let (buf, expect) = (&mut buf[..size], &mut expect[..size]);
        let src = 3 + n % 16;
        for off in 0..=n + 1 {
            // destination after the source (backward copy) and before it (forward copy)
            if src + off + n <= size {
                check_move(buf, expect, src + off, src, n);
            }
            if off <= src + n {
                let s = src + n;
                if s + n <= size && off <= s {
                    check_move(buf, expect, s - off, s, n);
                }
            }
        }
    }
}

/// Long overlapping moves, both directions, small and large distances.
#[test]
fn copy_overlapping_long_lengths() {
    for &n in &[2047usize, 2048, 2049, 5000, 65_536] {
        let size = 2 * n + 200;
        let mut buf = vec![0u8; size];
        let mut expect = buf.clone();
        for &off in &[1usize, 7, 15, 16, 17, 63, 64, 65, 100, n - 1, n, n + 3] {
            check_move(&mut buf, &mut expect, 50 + off, 50, n);
            check_move(&mut buf, &mut expect, 50, 50 + off, n);
        }
    }
}

fn check_fill(buf: &mut Vec<u8>, da: usize, c: u8, n: usize) {
    buf.clear();
    buf.resize(GUARD + 16 + n + GUARD, GUARD_BYTE);
    let base = GUARD + (16 - (buf.as_ptr() as usize + GUARD) % 16) % 16;
    let d = base + da;
    // SAFETY: buf[d..d+n] is in bounds.
    unsafe { fill(buf[d..d + n].as_mut_ptr(), c, n) };
    for (k, &b) in buf.iter().enumerate() {
        let want = if k >= d && k < d + n { c } else { GUARD_BYTE };
        if b != want {
            panic!("fill n={n} align={da} c={c:#x}: byte {k} is {b:#x}");
        }
    }
}

#[test]
fn fill_every_length_at_every_alignment() {
    let mut buf = Vec::new();
    for n in (0..=MAX).chain([1023, 2047, 2048, 2049, 4097, 65_536]) {
        for da in 0..16 {
            for c in [0u8, 0x5A, 0xFF] {
                check_fill(&mut buf, da, c, n);
            }
        }
    }
}

/// `compare` and `differ` of `a[aa..aa+n]` and `b[ba..ba+n]` against the reference.
fn check_cmp(a: &[u8], b: &[u8], n: usize, what: (usize, usize, usize)) {
    let (a, b) = (&a[..n], &b[..n]);
    let want = ref_compare(a, b);
    // SAFETY: a and b are n bytes long.
    let (got, ne) = unsafe {
        (
            compare(a.as_ptr(), b.as_ptr(), n),
            differ(a.as_ptr(), b.as_ptr(), n),
        )
    };
    if got.signum() != want.signum() {
        panic!(
            "compare n={n} (diff at, align a, align b) {what:?}: {got}, want the sign of {want}"
        );
    }
    if (ne != 0) != (want != 0) {
        let are = if want == 0 { "equal" } else { "different" };
        panic!("differ n={n} (diff at, align a, align b) {what:?}: {ne}, the bytes are {are}");
    }
}

/// Every length to 600 at every pair of alignments: equal, and one byte different at the
/// first, last and a middle position (both signs, and 0x80 against 0x7F for unsignedness);
/// for lengths to 64, at every position.
#[test]
fn compare_and_differ_every_length_at_every_alignment() {
    let a0 = patterned(MAX + 32, 3);
    let mut a = vec![0u8; MAX + 32];
    let mut b = vec![0u8; MAX + 32];
    for n in 0..=MAX {
        for aa in 0..16 {
            for ba in 0..16 {
                let (ra, rb) = (&mut a[aa..aa + n], &mut b[ba..ba + n]);
                let mut k = 0;
                while k < n {
                    ra[k] = a0[k];
                    rb[k] = a0[k];
                    k += 1;
                }
                check_cmp(ra, rb, n, (n, aa, ba));
                let positions: Vec<usize> = if n <= 64 {
                    (0..n).collect()
                } else {
                    vec![0, n / 2, n - 16, n - 1]
                };
                let pairs: &[(u8, u8)] = if n <= 64 {
                    &[(0x80, 0x7F), (0x7F, 0x80), (0, 0xFF)]
                } else {
                    &[(0x80, 0x7F), (0, 0xFF)]
                };
                for p in positions {
                    let keep = (ra[p], rb[p]);
                    for &(x, y) in pairs {
                        ra[p] = x;
                        rb[p] = y;
                        check_cmp(ra, rb, n, (p, aa, ba));
                    }
                    // two differences: the first decides
                    if p == 0 && n > 1 {
                        ra[p] = 1;
                        rb[p] = 2;
                        ra[n - 1] = 9;
                        rb[n - 1] = 0;
                        check_cmp(ra, rb, n, (p, aa, ba));
                        ra[n - 1] = a0[n - 1];
                        rb[n - 1] = a0[n - 1];
                    }
                    ra[p] = keep.0;
                    rb[p] = keep.1;
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn copy_random(n in 0usize..=65_536, sa in 0usize..16, da in 0usize..16, seed in any::<u32>()) {
        let (src, base) = aligned_src(n + 16, seed);
        let mut dst = Vec::new();
        check_copy(&src, base + sa, da, n, &mut dst);
    }

    #[test]
    fn copy_overlapping_random(n in 0usize..=65_536, off in 0usize..70_000, forward in any::<bool>()) {
        let off = off % (n + 2);
        let size = n + off + 40;
        let mut buf = vec![0u8; size];
        let mut expect = buf.clone();
        let (dst, src) = if forward { (5, 5 + off) } else { (5 + off, 5) };
        check_move(&mut buf, &mut expect, dst, src, n);
    }

    #[test]
    fn fill_random(n in 0usize..=65_536, da in 0usize..16, c in any::<u8>()) {
        let mut buf = Vec::new();
        check_fill(&mut buf, da, c, n);
    }

    #[test]
    fn compare_random(n in 0usize..=65_536, at in any::<usize>(), x in any::<u8>(), y in any::<u8>(), seed in any::<u32>()) {
        let a = patterned(n, seed);
        let mut b = patterned(n, seed);
        check_cmp(&a, &b, n, (n, 0, 0));
        if n > 0 {
            b[at % n] = if x == y { y.wrapping_add(1) } else { y };
            let mut a = a;
            a[at % n] = x;
            check_cmp(&a, &b, n, (at % n, 0, 0));
        }
    }
}
