//! Link the `ferrotail` executable at a fixed address (non-PIE), as Go links Promtail.
//!
//! A position-independent executable has every pointer in its read-only tables (vtables, panic
//! locations, string tables: about 56,000 of them here) patched by the loader at start-up, which
//! turns 1.5 MB of `.data.rel.ro` into private dirty memory and reads 1.3 MB of `.rela.dyn`:
//! about 2.5 MB of the resident set of a process that otherwise needs a few MB. Linked at a fixed
//! address those tables stay clean file pages, loaded only where they are used. Only the binaries
//! are affected; the library and tests link as usual. Fully static builds (`+crt-static`, musl)
//! keep rustc's static-PIE linking.
fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    let crt_static = std::env::var("CARGO_CFG_TARGET_FEATURE")
        .is_ok_and(|f| f.split(',').any(|f| f == "crt-static"));
    if target.contains("linux") && target.ends_with("-gnu") && !crt_static {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
