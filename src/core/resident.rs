//! Gives back the resident pages of code that ran only at start-up.
//!
//! Starting ferrotail runs a large share of its code once: config parsing, TLS and HTTP set-up,
//! discovery, every source's and stage's constructor. The kernel maps an executable's pages in
//! 64 KiB windows around each page touched (fault-around), so by the time the targets run, most
//! of the binary's text and read-only data is resident (`RssFile`, about 8 MB of a 15 MB binary)
//! although the per-line path uses a small part of it.
//!
//! [`release_code_pages`] unmaps the read-only segments of the executable and of the shared
//! libraries it loaded (`madvise(MADV_DONTNEED)`), after a generation of targets has started. The
//! pages stay in the page cache; the code that runs afterwards maps its pages back with a minor
//! fault per 64 KiB window, so what stays resident is the code that actually runs. Only segments
//! without write permission are touched: their private mappings hold nothing but the file's
//! bytes (no relocation is applied to them; the RELRO part of the writable segment is excluded),
//! so dropping them loses nothing. The vDSO is left alone.

/// Unmaps the resident pages of every read-only loaded segment of the executable and its shared
/// libraries, so that only the code that runs from now on maps its pages back. Returns the number
/// of bytes advised (0 where the platform has no such call).
pub fn release_code_pages() -> usize {
    imp::release()
}

#[cfg(target_os = "linux")]
mod imp {
    use std::ffi::CStr;

    /// Read-only ranges collected by the `dl_iterate_phdr` callback.
    struct Ranges {
        list: Vec<(usize, usize)>,
        vdso: usize,
    }

    pub fn release() -> usize {
        // SAFETY: getauxval has no preconditions; 0 when the entry is absent.
        let vdso = unsafe { libc::getauxval(libc::AT_SYSINFO_EHDR) } as usize;
        let mut ranges = Ranges {
            list: Vec::new(),
            vdso,
        };
        // SAFETY: the callback only reads the `dl_phdr_info` it is given, for the duration of the
        // call, and writes to the `Ranges` passed as its data pointer, which outlives the call.
        unsafe {
            libc::dl_iterate_phdr(Some(collect), (&mut ranges as *mut Ranges).cast());
        }
        // SAFETY: sysconf has no preconditions.
        let page = match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
            p if p > 0 => p as usize,
            _ => 4096,
        };
        let mut advised = 0;
        for (start, end) in ranges.list {
            // Whole pages inside the segment only: a page shared with a writable neighbour
            // stays.
            let from = start.div_ceil(page) * page;
            let to = end / page * page;
            if to <= from {
                continue;
            }
            // SAFETY: [from, to) lies inside a loaded segment without write permission, mapped
            // privately from its file; MADV_DONTNEED there drops page-table entries whose
            // contents the file still holds, and the next access maps them again.
            let rc =
                unsafe { libc::madvise(from as *mut libc::c_void, to - from, libc::MADV_DONTNEED) };
            if rc == 0 {
                advised += to - from;
            }
        }
        advised
    }

    unsafe extern "C" fn collect(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        data: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: `data` is the `Ranges` passed by `release`, alive and not otherwise borrowed
        // during the iteration; `info` is valid for the duration of this call.
        let (ranges, info) = unsafe { (&mut *data.cast::<Ranges>(), &*info) };
        let base = info.dlpi_addr as usize;
        if ranges.vdso != 0 && base == ranges.vdso {
            return 0;
        }
        if !info.dlpi_name.is_null() {
            // SAFETY: a non-null dlpi_name is a NUL-terminated string owned by the loader.
            let name = unsafe { CStr::from_ptr(info.dlpi_name) }.to_bytes();
            // The executable has an empty name; libraries have paths. Anything else (the vDSO
            // under its soname) is skipped.
            if !name.is_empty() && !name.starts_with(b"/") {
                return 0;
            }
        }
        if info.dlpi_phdr.is_null() {
            return 0;
        }
        // SAFETY: the loader gives `dlpi_phnum` program headers at `dlpi_phdr`.
        let headers =
            unsafe { std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) };
        let relro: Vec<(usize, usize)> = headers
            .iter()
            .filter(|h| h.p_type == libc::PT_GNU_RELRO)
            .map(|h| {
                let s = base + h.p_vaddr as usize;
                (s, s + h.p_memsz as usize)
            })
            .collect();
        for h in headers {
            if h.p_type != libc::PT_LOAD || h.p_flags & libc::PF_W != 0 || h.p_memsz == 0 {
                continue;
            }
            // A segment whose memory is larger than its file part has zero-filled (anonymous)
            // pages at its end: only the file part is given back.
            let start = base + h.p_vaddr as usize;
            let end = start + (h.p_filesz.min(h.p_memsz) as usize);
            if relro.iter().any(|&(s, e)| s < end && start < e) {
                continue;
            }
            ranges.list.push((start, end));
        }
        0
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    pub fn release() -> usize {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rss_file_kb() -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("RssFile:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    #[test]
    fn code_runs_on_after_its_pages_are_released_and_file_pages_shrink() {
        let before = rss_file_kb();
        let advised = release_code_pages();
        assert!(advised > 0, "no read-only segment was found");
        let after = rss_file_kb();
        if let (Some(b), Some(a)) = (before, after) {
            assert!(a < b, "RssFile {b} kB before, {a} kB after");
        }
        // Code, read-only data and libc all work after the release (they map back).
        let text = format!("{:?}", (1..100).map(|i| i * 3).collect::<Vec<_>>());
        assert!(text.starts_with("[3, 6, 9"));
        let parsed: serde_json::Value = serde_json::from_str(r#"{"a":[1,2,{"b":"c"}]}"#).unwrap();
        assert_eq!(parsed["a"][2]["b"], "c");
        // Twice is harmless.
        assert!(release_code_pages() > 0);
        assert_eq!(std::env::var("FERROTAIL_NO_SUCH_VAR").ok(), None);
    }
}
