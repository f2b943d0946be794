//! Link options of the `ferrotail` executable.
//!
//! **Non-PIE.** The executable is linked at a fixed address, as Go links Promtail. A
//! position-independent executable has every pointer in its read-only tables (vtables, panic
//! locations, string tables: about 56,000 of them here) patched by the loader at start-up, which
//! turns 1.5 MB of `.data.rel.ro` into private dirty memory and reads 1.3 MB of `.rela.dyn`:
//! about 2.5 MB of the resident set of a process that otherwise needs a few MB. Linked at a fixed
//! address those tables stay clean file pages, loaded only where they are used. Only the binaries
//! are affected; the library and tests link as usual. Fully static builds (`+crt-static`, musl)
//! keep rustc's static-PIE linking.
//!
//! **Hot code together.** `link/symbol-order.txt` lists the functions that run while ferrotail
//! ships lines (first, most instructions first) and then those that run only at start-up, as
//! measured by `scripts/symbol-order.py` (callgrind over file, syslog and push workloads). The
//! linker places them in that order at the start of `.text`, so the code a running shipper uses
//! sits in a few hundred KB instead of being spread over the whole binary; the kernel maps an
//! executable in 64 KiB windows around each page used, so spread code costs resident memory.
//! Only for LLD (`--symbol-ordering-file`), rustc's default linker on x86_64 Linux (glibc) since
//! Rust 1.90; names the list does not find (after code changes) are skipped silently. The names
//! carry a hash that differs between build configurations (a `cargo rustc -C strip=none` build
//! with symbols and the stripped `cargo build --release` hash the workspace crates' names
//! differently), so the list holds the names of the release build, read from the link map this
//! script has LLD write (`OUT_DIR/ferrotail.map`).
fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    let crt_static = std::env::var("CARGO_CFG_TARGET_FEATURE")
        .is_ok_and(|f| f.split(',').any(|f| f == "crt-static"));
    if target.contains("linux") && target.ends_with("-gnu") && !crt_static {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    if target == "x86_64-unknown-linux-gnu" && rustc_links_with_lld() {
        let order = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default())
            .join("link/symbol-order.txt");
        if order.is_file() {
            println!(
                "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
                order.display()
            );
            println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
        }
        // The link map names every function of the binary as this build configuration mangles
        // it: `scripts/symbol-order.py` writes the list with these names (the stripped release
        // binary has none to read, and a build with symbols hashes the crates' names otherwise).
        if let Ok(out) = std::env::var("OUT_DIR") {
            let map = std::path::Path::new(&out).join("ferrotail.map");
            println!("cargo:rustc-link-arg-bins=-Wl,-Map={}", map.display());
        }
        println!("cargo:rerun-if-changed=link/symbol-order.txt");
    }
    println!("cargo:rerun-if-changed=build.rs");
}

/// Whether rustc links x86_64 glibc binaries with its own LLD: its default from Rust 1.90 on,
/// unless the build names another linker.
fn rustc_links_with_lld() -> bool {
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if flags.contains("linker") || flags.contains("link-self-contained") {
        return false;
    }
    if std::env::vars().any(|(k, _)| k.starts_with("CARGO_TARGET_") && k.ends_with("_LINKER")) {
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
