//! The x86_64 implementations (SSE2, which every x86_64 CPU has, and `rep movsb`/`rep stosb`).
//!
//! Every function here is `unsafe` with the contract of the C function it implements: the
//! pointers are valid for `n` bytes (reads for sources, writes for destinations), `copy`'s ranges
//! do not overlap. Every offset used below is checked against `n` before it is used, so every
//! access stays inside those `n` bytes; that is the whole of the safety argument, repeated at
//! each `unsafe` block.
//!
//! Nothing here may become a call to `memcpy`/`memset` (this code *is* those functions on musl):
//! the crate is `#![no_builtins]` and only fixed-size loads and stores are used.

use core::arch::asm;
use core::arch::x86_64::{
    __m128i, _mm_and_si128, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
    _mm_store_si128, _mm_storeu_si128,
};

/// From this length on, copies use `rep movsb` (glibc's default threshold for 16-byte vectors;
/// below it the set-up of the string instruction costs more than the vector loop).
const REP_MOVSB_MIN: usize = 2048;
/// From this length on, `fill` uses `rep stosb` (as glibc).
const REP_STOSB_MIN: usize = 2048;

/// 16 bytes from `p` (any alignment).
///
/// # Safety
///
/// `p` is valid for reads of 16 bytes.
#[inline(always)]
unsafe fn ld16(p: *const u8) -> __m128i {
    // SAFETY: the caller's contract; loadu has no alignment requirement.
    unsafe { _mm_loadu_si128(p.cast()) }
}

/// 16 bytes to `p` (any alignment).
///
/// # Safety
///
/// `p` is valid for writes of 16 bytes.
#[inline(always)]
unsafe fn st16(p: *mut u8, v: __m128i) {
    // SAFETY: the caller's contract; storeu has no alignment requirement.
    unsafe { _mm_storeu_si128(p.cast(), v) }
}

/// 16 bytes to `p`, which is 16-byte aligned.
///
/// # Safety
///
/// `p` is 16-byte aligned and valid for writes of 16 bytes.
#[inline(always)]
unsafe fn st16a(p: *mut u8, v: __m128i) {
    // SAFETY: the caller's contract.
    unsafe { _mm_store_si128(p.cast(), v) }
}

/// Reads an unaligned `T` (a fixed-size integer).
///
/// # Safety
///
/// `p` is valid for reads of `size_of::<T>()` bytes.
#[inline(always)]
unsafe fn ld<T: Copy>(p: *const u8) -> T {
    // SAFETY: the caller's contract; read_unaligned has no alignment requirement, and the size is
    // a constant, so this is one load, never a call.
    unsafe { p.cast::<T>().read_unaligned() }
}

/// Writes an unaligned `T` (a fixed-size integer).
///
/// # Safety
///
/// `p` is valid for writes of `size_of::<T>()` bytes.
#[inline(always)]
unsafe fn st<T: Copy>(p: *mut u8, v: T) {
    // SAFETY: as `ld`.
    unsafe { p.cast::<T>().write_unaligned(v) }
}

/// Bit i set when byte i of the 16 at `a` equals byte i of the 16 at `b`.
///
/// # Safety
///
/// `a` and `b` are valid for reads of 16 bytes.
#[inline(always)]
unsafe fn eq_mask(a: *const u8, b: *const u8) -> u32 {
    // SAFETY: the caller's contract.
    let (x, y) = unsafe { (ld16(a), ld16(b)) };
    // SAFETY: SSE2 is baseline on x86_64 (no memory access).
    unsafe { _mm_movemask_epi8(_mm_cmpeq_epi8(x, y)) as u32 }
}

/// Copies `n` <= 16 bytes. Every load happens before any store, so the ranges may overlap.
///
/// # Safety
///
/// `n` <= 16; `s` valid for reads and `d` for writes of `n` bytes.
#[inline(always)]
unsafe fn copy_0_16(d: *mut u8, s: *const u8, n: usize) {
    // SAFETY (all branches): both accesses of each branch lie in 0..n (8 <= n: [0,8) and
    // [n-8,n); and so on for 4 and 2).
    unsafe {
        if n >= 8 {
            let (a, b) = (ld::<u64>(s), ld::<u64>(s.add(n - 8)));
            st(d, a);
            st(d.add(n - 8), b);
        } else if n >= 4 {
            let (a, b) = (ld::<u32>(s), ld::<u32>(s.add(n - 4)));
            st(d, a);
            st(d.add(n - 4), b);
        } else if n >= 2 {
            let (a, b) = (ld::<u16>(s), ld::<u16>(s.add(n - 2)));
            st(d, a);
            st(d.add(n - 2), b);
        } else if n == 1 {
            *d = *s;
        }
    }
}

/// Copies 16 < `n` <= 64 bytes. Every load happens before any store, so the ranges may overlap.
///
/// # Safety
///
/// 16 < `n` <= 64; `s` valid for reads and `d` for writes of `n` bytes.
#[inline(always)]
unsafe fn copy_17_64(d: *mut u8, s: *const u8, n: usize) {
    // SAFETY: n > 16 (n >= 32 in the second branch), so [0,16), [n-16,n), [16,32) and [n-32,n-16)
    // lie in 0..n.
    unsafe {
        if n <= 32 {
            let (a, b) = (ld16(s), ld16(s.add(n - 16)));
            st16(d, a);
            st16(d.add(n - 16), b);
        } else {
            let (a, b) = (ld16(s), ld16(s.add(16)));
            let (c, e) = (ld16(s.add(n - 32)), ld16(s.add(n - 16)));
            st16(d, a);
            st16(d.add(16), b);
            st16(d.add(n - 32), c);
            st16(d.add(n - 16), e);
        }
    }
}

/// Copies `n` > 64 bytes front to back, 64 at a time, with aligned stores. Also right for
/// overlapping ranges with `d` before `s`: each block is loaded before it is stored, a store
/// only reaches source bytes already loaded, and the first and last 64 bytes are loaded first.
///
/// # Safety
///
/// `n` > 64; `s` valid for reads and `d` for writes of `n` bytes; `d` <= `s` if they overlap.
#[inline(always)]
unsafe fn copy_forward_long(d: *mut u8, s: *const u8, n: usize) {
    // SAFETY: n > 64, so [0,16) and [n-64,n) lie in 0..n.
    let (head, t0, t1, t2, t3) = unsafe {
        (
            ld16(s),
            ld16(s.add(n - 64)),
            ld16(s.add(n - 48)),
            ld16(s.add(n - 32)),
            ld16(s.add(n - 16)),
        )
    };
    // First offset at which d is 16-byte aligned (1..=16): the head store covers what is before.
    let mut i = 16 - (d as usize & 15);
    while n - i > 64 {
        // SAFETY: i + 64 < n; d + i is 16-byte aligned.
        unsafe {
            let (a, b, c, e) = (
                ld16(s.add(i)),
                ld16(s.add(i + 16)),
                ld16(s.add(i + 32)),
                ld16(s.add(i + 48)),
            );
            st16a(d.add(i), a);
            st16a(d.add(i + 16), b);
            st16a(d.add(i + 32), c);
            st16a(d.add(i + 48), e);
        }
        i += 64;
    }
    // SAFETY: as for the loads above. The last 64 bytes cover [i, n) since n - i <= 64.
    unsafe {
        st16(d, head);
        st16(d.add(n - 64), t0);
        st16(d.add(n - 48), t1);
        st16(d.add(n - 32), t2);
        st16(d.add(n - 16), t3);
    }
}

/// Copies `n` > 64 bytes back to front, 64 at a time. Right for overlapping ranges with `d`
/// after `s` (mirror of `copy_forward_long`).
///
/// # Safety
///
/// `n` > 64; `s` valid for reads and `d` for writes of `n` bytes.
#[inline(always)]
unsafe fn copy_backward_long(d: *mut u8, s: *const u8, n: usize) {
    // SAFETY: n > 64, so [0,64) lies in 0..n.
    let (h0, h1, h2, h3) = unsafe { (ld16(s), ld16(s.add(16)), ld16(s.add(32)), ld16(s.add(48))) };
    let mut end = n;
    while end > 64 {
        // SAFETY: 64 < end <= n, so [end-64, end) lies in 0..n.
        unsafe {
            let (a, b, c, e) = (
                ld16(s.add(end - 64)),
                ld16(s.add(end - 48)),
                ld16(s.add(end - 32)),
                ld16(s.add(end - 16)),
            );
            st16(d.add(end - 16), e);
            st16(d.add(end - 32), c);
            st16(d.add(end - 48), b);
            st16(d.add(end - 64), a);
        }
        end -= 64;
    }
    // SAFETY: as the first loads; [0,64) covers what is left, [0,end) with end <= 64.
    unsafe {
        st16(d, h0);
        st16(d.add(16), h1);
        st16(d.add(32), h2);
        st16(d.add(48), h3);
    }
}

/// `rep movsb`: byte-by-byte front-to-back semantics, fast for long copies on CPUs with ERMS.
///
/// # Safety
///
/// `s` valid for reads and `d` for writes of `n` bytes; `d` <= `s` if they overlap.
#[inline(always)]
unsafe fn rep_movsb(d: *mut u8, s: *const u8, n: usize) {
    // SAFETY: the caller's contract; the direction flag is clear at every call (ABI), so the
    // copy goes forward through exactly these n bytes.
    unsafe {
        asm!(
            "rep movsb",
            inout("rcx") n => _,
            inout("rdi") d => _,
            inout("rsi") s => _,
            options(nostack, preserves_flags)
        );
    }
}

/// C's `memcpy`.
///
/// # Safety
///
/// `s` valid for reads and `d` for writes of `n` bytes, not overlapping.
#[inline(always)]
pub(crate) unsafe fn copy(d: *mut u8, s: *const u8, n: usize) {
    // SAFETY: each branch's length condition is its callee's, the rest is the caller's contract.
    unsafe {
        if n <= 16 {
            copy_0_16(d, s, n)
        } else if n <= 64 {
            copy_17_64(d, s, n)
        } else if n < REP_MOVSB_MIN {
            copy_forward_long(d, s, n)
        } else {
            rep_movsb(d, s, n)
        }
    }
}

/// C's `memmove`.
///
/// # Safety
///
/// `s` valid for reads and `d` for writes of `n` bytes.
#[inline(always)]
pub(crate) unsafe fn copy_overlapping(d: *mut u8, s: *const u8, n: usize) {
    // SAFETY: the short copies load everything before they store; the long ones go forward
    // only when d does not start inside (s, s+n), i.e. d - s (mod 2^64) >= n, else backward.
    unsafe {
        if n <= 16 {
            copy_0_16(d, s, n)
        } else if n <= 64 {
            copy_17_64(d, s, n)
        } else if (d as usize).wrapping_sub(s as usize) >= n {
            if n < REP_MOVSB_MIN {
                copy_forward_long(d, s, n)
            } else {
                rep_movsb(d, s, n)
            }
        } else {
            copy_backward_long(d, s, n)
        }
    }
}

/// C's `memset`.
///
/// # Safety
///
/// `d` valid for writes of `n` bytes.
#[inline(always)]
pub(crate) unsafe fn fill(d: *mut u8, c: u8, n: usize) {
    if n <= 16 {
        let v = u64::from(c) * 0x0101_0101_0101_0101;
        // SAFETY: as copy_0_16: both stores of a branch lie in 0..n.
        unsafe {
            if n >= 8 {
                st(d, v);
                st(d.add(n - 8), v);
            } else if n >= 4 {
                st(d, v as u32);
                st(d.add(n - 4), v as u32);
            } else if n >= 2 {
                st(d, v as u16);
                st(d.add(n - 2), v as u16);
            } else if n == 1 {
                *d = c;
            }
        }
        return;
    }
    // SAFETY: SSE2 is baseline (no memory access).
    let v = unsafe { _mm_set1_epi8(c as i8) };
    if n >= REP_STOSB_MIN {
        // SAFETY: d is valid for n bytes of writes; the direction flag is clear (ABI).
        unsafe {
            asm!(
                "rep stosb",
                inout("rcx") n => _,
                inout("rdi") d => _,
                in("al") c,
                options(nostack, preserves_flags)
            );
        }
        return;
    }
    // SAFETY: n > 16: [0,16) and [n-16,n) lie in 0..n; n > 32 for [16,32) and [n-32,n-16).
    unsafe {
        st16(d, v);
        st16(d.add(n - 16), v);
        if n <= 32 {
            return;
        }
        st16(d.add(16), v);
        st16(d.add(n - 32), v);
    }
    if n <= 64 {
        return;
    }
    // [0,32) and [n-32,n) are written; the aligned loop fills from the first aligned offset
    // (1..=16) while more than 64 bytes are left, and [n-64,n-32) closes the gap.
    let mut i = 16 - (d as usize & 15);
    while n - i > 64 {
        // SAFETY: i + 64 < n; d + i is 16-byte aligned.
        unsafe {
            st16a(d.add(i), v);
            st16a(d.add(i + 16), v);
            st16a(d.add(i + 32), v);
            st16a(d.add(i + 48), v);
        }
        i += 64;
    }
    // SAFETY: n > 64, so [n-64, n-32) lies in 0..n; with the stores above it covers [i, n).
    unsafe {
        st16(d.add(n - 64), v);
        st16(d.add(n - 48), v);
    }
}

/// The sign of the first difference of two unsigned big-endian-read words.
#[inline(always)]
fn sign<T: Ord>(x: T, y: T) -> i32 {
    if x < y {
        -1
    } else {
        1
    }
}

/// C's `memcmp`: the sign of the first differing byte (as unsigned) of `a` against `b`.
///
/// # Safety
///
/// `a` and `b` valid for reads of `n` bytes.
#[inline(always)]
pub(crate) unsafe fn compare(a: *const u8, b: *const u8, n: usize) -> i32 {
    if n < 16 {
        // SAFETY: both loads of a branch lie in 0..n (as copy_0_16); the byte loop reads 0..n.
        unsafe {
            if n >= 8 {
                let (x, y) = (u64::from_be(ld(a)), u64::from_be(ld(b)));
                if x != y {
                    return sign(x, y);
                }
                let (x, y) = (
                    u64::from_be(ld(a.add(n - 8))),
                    u64::from_be(ld(b.add(n - 8))),
                );
                return if x == y { 0 } else { sign(x, y) };
            }
            if n >= 4 {
                let (x, y) = (u32::from_be(ld(a)), u32::from_be(ld(b)));
                if x != y {
                    return sign(x, y);
                }
                let (x, y) = (
                    u32::from_be(ld(a.add(n - 4))),
                    u32::from_be(ld(b.add(n - 4))),
                );
                return if x == y { 0 } else { sign(x, y) };
            }
            let mut k = 0;
            while k < n {
                let (x, y) = (*a.add(k), *b.add(k));
                if x != y {
                    return i32::from(x) - i32::from(y);
                }
                k += 1;
            }
        }
        return 0;
    }
    // n >= 16: 16 bytes at a time; the last window [n-16, n) overlaps bytes already found equal,
    // so its first difference is the first difference of the whole.
    let mut i = 0;
    loop {
        let at = if n - i > 16 { i } else { n - 16 };
        // SAFETY: at + 16 <= n.
        let m = unsafe { eq_mask(a.add(at), b.add(at)) };
        if m != 0xFFFF {
            let j = at + (!m).trailing_zeros() as usize;
            // SAFETY: j < at + 16 <= n.
            let (x, y) = unsafe { (*a.add(j), *b.add(j)) };
            return i32::from(x) - i32::from(y);
        }
        if at == n - 16 {
            return 0;
        }
        i += 16;
    }
}

/// C's `bcmp`: zero when the `n` bytes are equal, one otherwise.
///
/// # Safety
///
/// `a` and `b` valid for reads of `n` bytes.
#[inline(always)]
pub(crate) unsafe fn differ(a: *const u8, b: *const u8, n: usize) -> i32 {
    if n <= 16 {
        // SAFETY: both loads of a branch lie in 0..n (as copy_0_16).
        let diff = unsafe {
            if n >= 8 {
                (ld::<u64>(a) ^ ld::<u64>(b)) | (ld::<u64>(a.add(n - 8)) ^ ld::<u64>(b.add(n - 8)))
            } else if n >= 4 {
                u64::from(
                    (ld::<u32>(a) ^ ld::<u32>(b))
                        | (ld::<u32>(a.add(n - 4)) ^ ld::<u32>(b.add(n - 4))),
                )
            } else if n >= 2 {
                u64::from(
                    (ld::<u16>(a) ^ ld::<u16>(b))
                        | (ld::<u16>(a.add(n - 2)) ^ ld::<u16>(b.add(n - 2))),
                )
            } else if n == 1 {
                u64::from(*a ^ *b)
            } else {
                0
            }
        };
        return i32::from(diff != 0);
    }
    // n > 16: 32 bytes per step, then the last one or two windows of 16 (overlapping).
    let mut i = 0;
    while n - i > 32 {
        // SAFETY: i + 32 < n; SSE2 is baseline.
        let m = unsafe {
            let x = _mm_cmpeq_epi8(ld16(a.add(i)), ld16(b.add(i)));
            let y = _mm_cmpeq_epi8(ld16(a.add(i + 16)), ld16(b.add(i + 16)));
            _mm_movemask_epi8(_mm_and_si128(x, y)) as u32
        };
        if m != 0xFFFF {
            return 1;
        }
        i += 32;
    }
    // 0 < n - i <= 32 and n > 16: [i, i+16) (when n - i > 16) and [n-16, n) lie in 0..n.
    // SAFETY: as said.
    unsafe {
        if n - i > 16 && eq_mask(a.add(i), b.add(i)) != 0xFFFF {
            return 1;
        }
        i32::from(eq_mask(a.add(n - 16), b.add(n - 16)) != 0xFFFF)
    }
}
