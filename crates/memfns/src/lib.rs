//! `memcpy`, `memmove`, `memset`, `memcmp` and `bcmp` for the static musl build on x86_64.
//!
//! # Why
//!
//! The release image ships a static binary built for `x86_64-unknown-linux-musl` (see the
//! `Dockerfile`). musl's x86_64 `memcpy` is a `rep movsq` sequence (plus byte moves for the
//! unaligned head and the tail), whose start-up cost of some tens of cycles dominates the short
//! copies of the per-line path: the JSON unescaper copies a 5-20 byte span per escape, lines and
//! values are copied into strings and batches. Its `memmove` is the same for forward moves and a
//! backward `rep movsq` with the direction flag set; `memset` is similar; `memcmp` is a byte loop
//! and `bcmp` calls it. Profiled on the docker pipeline, musl's `memcpy` alone was 41% of the CPU
//! and the musl binary shipped half the glibc binary's lines per CPU-second (BENCHMARKS.md, "The
//! release image's binary (static musl)"). glibc picks vector code by length instead.
//!
//! # What
//!
//! The functions here use overlapping unaligned loads and stores for short lengths (up to 16
//! bytes with 8/4/2/1-byte integers, 17-32 and 33-64 with two or four SSE2 vectors, SSE2 being
//! baseline on x86_64), a loop of four 16-byte vectors for medium lengths and `rep movsb` /
//! `rep stosb` for long ones (fast on every CPU with ERMS, i.e. since Ivy Bridge). `memmove`
//! copies backwards when the destination starts inside the source. `memcmp` and `bcmp` compare 16
//! bytes at a time and find the first difference from the SSE2 comparison mask.
//!
//! They are Rust functions under their own names on every target ([`copy`], [`copy_overlapping`],
//! [`fill`], [`compare`], [`differ`]), so their tests run on the glibc host too. On other
//! architectures these names fall back to `core`'s copies (which call the libc's functions).
//!
//! # Exported as the C symbols on x86_64 musl only
//!
//! With `#[cfg(all(target_env = "musl", target_arch = "x86_64"))]` the crate also defines the C
//! symbols `memcpy`, `memmove`, `memset`, `memcmp` and `bcmp`. The glibc build keeps glibc's
//! (which are already fast and chosen by CPU), and other musl architectures keep musl's.
//!
//! **Which definition wins, and why there is no duplicate-symbol error.** A static link takes an
//! object out of an archive (`libc.a`) only to resolve a symbol that is still undefined when the
//! linker reaches that archive. rustc puts the Rust code (with this crate's functions: in the one
//! LTO object of the release build, or this crate's object in its rlib otherwise) before the
//! libc, which comes last; so when the linker reaches `libc.a`, `memcpy` and the others are
//! already defined and musl's `memcpy.lo`, `memmove.lo`, `memset.lo`, `memcmp.lo` and `bcmp.lo`
//! are never taken (their symbols are not weak: had they been taken too, the link would fail with
//! a duplicate definition). All five must be defined together: musl's `memmove.lo` calls
//! `__memcpy_fwd`, which only `memcpy.lo` defines (and defines beside `memcpy`), and its
//! `bcmp.lo` calls `memcmp`. musl's own C code (and mimalloc's, built with `musl-gcc`) calls
//! these symbols too, so it gets these functions as well. Checked on the release binary with
//! `nm` (one `T memcpy`, no `__memcpy_fwd`) and `objdump -d` (its `memcpy` is the code below); the
//! crate's test `exported_symbols_are_these_functions` checks the addresses under the musl target.
//! The binary must name this crate (`use memfns as _;` in `src/main.rs`) or rustc does not link it.
//!
//! **No calls back into themselves.** Inside `memcpy`, a loop that copies bytes can be recognised
//! by LLVM and replaced by a call to `memcpy`. The crate is `#![no_builtins]`, which stops LLVM
//! from making such calls in this crate's code, and the code only uses fixed-size unaligned
//! reads and writes (`u16`/`u32`/`u64`, SSE2 `__m128i`) and inline `rep movsb`/`rep stosb`,
//! never `core::ptr::copy*`/`write_bytes` with a variable length. The disassembly of the release
//! binary's `memcpy`/`memmove`/`memset`/`memcmp`/`bcmp` has no `call`.

#![cfg_attr(not(test), no_std)]
#![no_builtins]

#[cfg(target_arch = "x86_64")]
mod x86_64;

#[cfg(test)]
mod tests;

/// Copies `n` bytes from `src` to `dst` (C's `memcpy`).
///
/// # Safety
///
/// `src` must be valid for reads and `dst` for writes of `n` bytes, and the two ranges must not
/// overlap.
#[inline]
pub unsafe fn copy(dst: *mut u8, src: *const u8, n: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the caller's contract is the function's.
    unsafe {
        x86_64::copy(dst, src, n)
    }
    #[cfg(not(target_arch = "x86_64"))]
    // SAFETY: the caller's contract is copy_nonoverlapping's.
    unsafe {
        core::ptr::copy_nonoverlapping(src, dst, n)
    }
}

/// Copies `n` bytes from `src` to `dst`, which may overlap (C's `memmove`).
///
/// # Safety
///
/// `src` must be valid for reads and `dst` for writes of `n` bytes.
#[inline]
pub unsafe fn copy_overlapping(dst: *mut u8, src: *const u8, n: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the caller's contract is the function's.
    unsafe {
        x86_64::copy_overlapping(dst, src, n)
    }
    #[cfg(not(target_arch = "x86_64"))]
    // SAFETY: the caller's contract is copy's.
    unsafe {
        core::ptr::copy(src, dst, n)
    }
}

/// Sets `n` bytes at `dst` to `c` (C's `memset`).
///
/// # Safety
///
/// `dst` must be valid for writes of `n` bytes.
#[inline]
pub unsafe fn fill(dst: *mut u8, c: u8, n: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the caller's contract is the function's.
    unsafe {
        x86_64::fill(dst, c, n)
    }
    #[cfg(not(target_arch = "x86_64"))]
    // SAFETY: the caller's contract is write_bytes'.
    unsafe {
        core::ptr::write_bytes(dst, c, n)
    }
}

/// Compares `n` bytes as unsigned bytes (C's `memcmp`): negative, zero or positive as the first
/// differing byte of `a` is less than, (there is none) or greater than that of `b`.
///
/// # Safety
///
/// `a` and `b` must be valid for reads of `n` bytes.
#[inline]
pub unsafe fn compare(a: *const u8, b: *const u8, n: usize) -> i32 {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the caller's contract is the function's.
    unsafe {
        x86_64::compare(a, b, n)
    }
    #[cfg(not(target_arch = "x86_64"))]
    // SAFETY: the caller's contract is from_raw_parts' (u8 has no alignment or validity needs).
    unsafe {
        let (a, b) = (
            core::slice::from_raw_parts(a, n),
            core::slice::from_raw_parts(b, n),
        );
        a.cmp(b) as i32
    }
}

/// Zero when the `n` bytes are equal, non-zero otherwise (C's `bcmp`).
///
/// # Safety
///
/// `a` and `b` must be valid for reads of `n` bytes.
#[inline]
pub unsafe fn differ(a: *const u8, b: *const u8, n: usize) -> i32 {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the caller's contract is the function's.
    unsafe {
        x86_64::differ(a, b, n)
    }
    #[cfg(not(target_arch = "x86_64"))]
    // SAFETY: the caller's contract is from_raw_parts' (u8 has no alignment or validity needs).
    unsafe {
        let (a, b) = (
            core::slice::from_raw_parts(a, n),
            core::slice::from_raw_parts(b, n),
        );
        i32::from(a != b)
    }
}

/// The C symbols, on x86_64 musl only (see the crate documentation for why they win over
/// `libc.a`'s).
#[cfg(all(target_env = "musl", target_arch = "x86_64"))]
pub mod exported {
    use core::ffi::{c_int, c_void};

    /// C's `memcpy`.
    ///
    /// # Safety
    ///
    /// As [`crate::copy`].
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn memcpy(dst: *mut c_void, src: *const c_void, n: usize) -> *mut c_void {
        // SAFETY: C's memcpy contract is copy's.
        unsafe { crate::x86_64::copy(dst.cast(), src.cast(), n) };
        dst
    }

    /// C's `memmove`.
    ///
    /// # Safety
    ///
    /// As [`crate::copy_overlapping`].
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn memmove(
        dst: *mut c_void,
        src: *const c_void,
        n: usize,
    ) -> *mut c_void {
        // SAFETY: C's memmove contract is copy_overlapping's.
        unsafe { crate::x86_64::copy_overlapping(dst.cast(), src.cast(), n) };
        dst
    }

    /// C's `memset`: `c` converted to `unsigned char`.
    ///
    /// # Safety
    ///
    /// As [`crate::fill`].
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn memset(dst: *mut c_void, c: c_int, n: usize) -> *mut c_void {
        // SAFETY: C's memset contract is fill's; C converts c to unsigned char (truncation).
        unsafe { crate::x86_64::fill(dst.cast(), c as u8, n) };
        dst
    }

    /// C's `memcmp`.
    ///
    /// # Safety
    ///
    /// As [`crate::compare`].
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn memcmp(a: *const c_void, b: *const c_void, n: usize) -> c_int {
        // SAFETY: C's memcmp contract is compare's.
        unsafe { crate::x86_64::compare(a.cast(), b.cast(), n) }
    }

    /// C's (and LLVM's) `bcmp`: zero when equal.
    ///
    /// # Safety
    ///
    /// As [`crate::differ`].
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn bcmp(a: *const c_void, b: *const c_void, n: usize) -> c_int {
        // SAFETY: C's bcmp contract is differ's.
        unsafe { crate::x86_64::differ(a.cast(), b.cast(), n) }
    }
}
