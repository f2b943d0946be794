//! Link options of the `ferrotail` executable.
//!
//! **Non-PIE.** The executable is linked at a fixed address, as Go links Promtail. A
//! position-independent executable has every pointer in its read-only tables (vtables, panic
//! locations, string tables: about 56,000 of them here) patched by the loader at start-up, which
//! turns 1.5 MB of `.data.rel.ro` into private dirty memory and reads 1.3 MB of `.rela.dyn`:
//! about 2.5 MB of the resident set of a process that otherwise needs a few MB. Linked at a fixed
//! address those tables stay clean file pages, loaded only where they are used. Only the binaries
//! are affected; the library and tests link as usual. The musl build is made non-PIE by
//! `.cargo/config.toml` (`-C relocation-model=static`: a static executable at a fixed address,
//! instead of the target's default static-PIE, which relocates those tables itself at start-up).
//!
//! **Hot code together.** `link/symbol-order.txt` lists the functions that run while ferrotail
//! ships lines (first, most instructions first) and then those that run only at start-up, as
//! measured by `scripts/symbol-order.py` (callgrind over file, syslog and push workloads). The
//! linker places them in that order at the start of `.text`, so the code a running shipper uses
//! sits in a few hundred KB instead of being spread over the whole binary; the kernel maps an
//! executable in 64 KiB windows around each page used, so spread code costs resident memory.
//! Only for LLD (`--symbol-ordering-file`): rustc's default linker on x86_64 Linux (glibc) since
//! Rust 1.90, and asked for here for the x86_64 musl build (the release image), which links
//! through the C compiler driver (`-fuse-ld=lld` with rustc's own LLD). Names the list does not
//! find (after code changes) are skipped silently. The names carry hashes and LTO's `.<n>`
//! suffixes that differ between build configurations and targets, so each target has its list
//! (`symbol-order.txt` for glibc, `symbol-order-musl.txt` for musl), written with the names of
//! its release build, read from the link map this script has LLD write (`OUT_DIR/ferrotail.map`).
fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    let crt_static = std::env::var("CARGO_CFG_TARGET_FEATURE")
        .is_ok_and(|f| f.split(',').any(|f| f == "crt-static"));
    if target.contains("linux") && target.ends_with("-gnu") && !crt_static {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    // The list of each target (the names differ between the glibc and the musl build).
    let order_file = match target.as_str() {
        "x86_64-unknown-linux-gnu" if rustc_links_with_lld() => Some("link/symbol-order.txt"),
        "x86_64-unknown-linux-musl" if musl_links_with_lld() => Some("link/symbol-order-musl.txt"),
        _ => None,
    };
    if let Some(file) = order_file {
        let order = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default())
            .join(file);
        if order.is_file() {
            println!(
                "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
                order.display()
            );
            println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
        }
        // The link map names every function of the binary as this build configuration mangles
        // it: `scripts/symbol-order.py` names the functions it profiles from it (the release
        // binary is stripped, and linked at a fixed address).
        if let Ok(out) = std::env::var("OUT_DIR") {
            let map = std::path::Path::new(&out).join("ferrotail.map");
            println!("cargo:rustc-link-arg-bins=-Wl,-Map={}", map.display());
        }
        println!("cargo:rerun-if-changed={file}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}

/// Whether the x86_64 musl build (the release image's) can link with LLD: rustc's own, through
/// the C compiler driver that links musl binaries (`-fuse-ld=lld` finds the `ld.lld` of rustc's
/// `gcc-ld` directory given with `-B`). Then the binary gets the same hot-code order as the
/// glibc build. Not when the build names another linker.
fn musl_links_with_lld() -> bool {
    if another_linker_named() {
        return false;
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let host = std::env::var("HOST").unwrap_or_default();
    let Ok(out) = std::process::Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
    else {
        return false;
    };
    let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let gcc_ld = std::path::Path::new(&sysroot)
        .join("lib/rustlib")
        .join(host)
        .join("bin/gcc-ld");
    if !gcc_ld.join("ld.lld").is_file() {
        return false;
    }
    println!("cargo:rustc-link-arg-bins=-B{}", gcc_ld.display());
    println!("cargo:rustc-link-arg-bins=-fuse-ld=lld");
    true
}

/// Whether rustc links x86_64 glibc binaries with its own LLD: its default from Rust 1.90 on,
/// unless the build names another linker.
fn rustc_links_with_lld() -> bool {
    if another_linker_named() {
        return false;
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = std::process::Command::new(rustc).arg("-V").output() else {
        return false;
    };
    let version = String::from_utf8_lossy(&out.stdout);
    // "rustc 1.95.0 (...)"
    let minor = version
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.split('.').nth(1))
        .and_then(|m| m.parse::<u32>().ok());
    minor.is_some_and(|m| m >= 90)
}

/// Whether the build names a linker of its own (rustflags or `CARGO_TARGET_<triple>_LINKER`):
/// then the LLD options are not given.
fn another_linker_named() -> bool {
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    flags.contains("linker")
        || flags.contains("link-self-contained")
        || std::env::vars().any(|(k, _)| k.starts_with("CARGO_TARGET_") && k.ends_with("_LINKER"))
}
