//! On x86_64 musl, a separate crate that calls the C symbols gets this crate's functions, and
//! they behave as the C functions (`cargo test -p ferrotail-memfns --target
//! x86_64-unknown-linux-musl`). On other targets there is nothing to link, and this file only
//! checks that the Rust names are there.

#[cfg(all(target_env = "musl", target_arch = "x86_64"))]
mod musl {
    use core::ffi::{c_int, c_void};

    extern "C" {
        fn memcpy(dst: *mut c_void, src: *const c_void, n: usize) -> *mut c_void;
        fn memmove(dst: *mut c_void, src: *const c_void, n: usize) -> *mut c_void;
        fn memset(dst: *mut c_void, c: c_int, n: usize) -> *mut c_void;
        fn memcmp(a: *const c_void, b: *const c_void, n: usize) -> c_int;
        fn bcmp(a: *const c_void, b: *const c_void, n: usize) -> c_int;
    }

    /// The symbols the C declarations resolve to are this crate's functions: the static link
    /// took them, not `libc.a`'s (which would also have been a duplicate-definition error).
    #[test]
    fn exported_symbols_are_these_functions() {
        use memfns::exported;
        assert_eq!(
            memcpy as *const () as usize,
            exported::memcpy as *const () as usize,
            "memcpy"
        );
        assert_eq!(
            memmove as *const () as usize,
            exported::memmove as *const () as usize,
            "memmove"
        );
        assert_eq!(
            memset as *const () as usize,
            exported::memset as *const () as usize,
            "memset"
        );
        assert_eq!(
            memcmp as *const () as usize,
            exported::memcmp as *const () as usize,
            "memcmp"
        );
        assert_eq!(
            bcmp as *const () as usize,
            exported::bcmp as *const () as usize,
            "bcmp"
        );
    }

    /// Called through the C symbols, with C's return values.
    #[test]
    fn the_c_symbols_work_as_c() {
        let src: Vec<u8> = (0..300u32).map(|i| (i * 7) as u8).collect();
        let mut dst = vec![0u8; 300];
        // SAFETY: both buffers are 300 bytes.
        let r = unsafe { memcpy(dst.as_mut_ptr().cast(), src.as_ptr().cast(), 300) };
        assert_eq!(r, dst.as_mut_ptr().cast());
        assert!(dst.iter().zip(&src).all(|(a, b)| a == b));

        // SAFETY: 1 + 299 <= 300.
        let r = unsafe { memmove(dst.as_mut_ptr().add(1).cast(), dst.as_ptr().cast(), 299) };
        assert_eq!(r, unsafe { dst.as_mut_ptr().add(1) }.cast());
        assert!(dst[1..].iter().zip(&src[..299]).all(|(a, b)| a == b));

        // SAFETY: 100 bytes of a 300-byte buffer; C's memset takes the low byte of c.
        unsafe { memset(dst.as_mut_ptr().cast(), 0x1_2A, 100) };
        assert!(dst[..100].iter().all(|&b| b == 0x2A));

        let (a, b) = ([1u8, 2, 0x80], [1u8, 2, 0x7F]);
        // SAFETY: 3-byte arrays.
        unsafe {
            assert!(memcmp(a.as_ptr().cast(), b.as_ptr().cast(), 3) > 0);
            assert!(memcmp(b.as_ptr().cast(), a.as_ptr().cast(), 3) < 0);
            assert_eq!(memcmp(a.as_ptr().cast(), a.as_ptr().cast(), 3), 0);
            assert_ne!(bcmp(a.as_ptr().cast(), b.as_ptr().cast(), 3), 0);
            assert_eq!(bcmp(a.as_ptr().cast(), b.as_ptr().cast(), 2), 0);
        }
    }
}

/// The Rust names exist on every target.
#[test]
fn rust_names_work_on_every_target() {
    let src = *b"0123456789abcdefghij";
    let mut dst = [0u8; 20];
    // SAFETY: 20-byte arrays.
    unsafe {
        memfns::copy(dst.as_mut_ptr(), src.as_ptr(), 20);
        assert_eq!(dst, src);
        memfns::copy_overlapping(dst.as_mut_ptr(), dst.as_ptr().add(2), 18);
        assert_eq!(&dst[..18], &src[2..]);
        memfns::fill(dst.as_mut_ptr(), b'x', 20);
        assert_eq!(dst, [b'x'; 20]);
        assert!(memfns::compare(src.as_ptr(), dst.as_ptr(), 20) < 0);
        assert_ne!(memfns::differ(src.as_ptr(), dst.as_ptr(), 20), 0);
        assert_eq!(memfns::differ(src.as_ptr(), src.as_ptr(), 20), 0);
    }
}
