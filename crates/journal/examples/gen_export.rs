//! Writes N realistic journal entries in journal export format to stdout, for
//! `systemd-journal-remote -o DIR/system.journal -` (see BENCH.md).
//!
//! `cargo run --release --example gen_export -- 1000000 > entries.export`

use std::io::{BufWriter, Write};

fn main() -> std::io::Result<()> {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let out = std::io::stdout();
    let mut w = BufWriter::with_capacity(1 << 20, out.lock());
    let units = [
        "nginx.service",
        "sshd.service",
        "cron.service",
        "postgresql.service",
        "app.service",
    ];
    let comms = ["nginx", "sshd", "cron", "postgres", "app"];
    let t0: u64 = 1_700_000_000_000_000;
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let u = (i % 5) as usize;
        let pid = 1000 + u as u64 * 17;
        let rt = t0 + i * 1000;
        writeln!(w, "__REALTIME_TIMESTAMP={rt}")?;
        writeln!(w, "__MONOTONIC_TIMESTAMP={}", 5_000_000 + i * 1000)?;
        writeln!(w, "_BOOT_ID=0123456789abcdef0123456789abcdef")?;
        writeln!(w, "_MACHINE_ID=3d1219c7c4c5404aaa1f6d2a48adfda4")?;
        writeln!(w, "_HOSTNAME=web-01")?;
        writeln!(w, "_TRANSPORT=stdout")?;
        writeln!(w, "PRIORITY={}", 3 + (x % 4))?;
        writeln!(w, "SYSLOG_FACILITY=3")?;
        writeln!(w, "SYSLOG_IDENTIFIER={}", comms[u])?;
        writeln!(w, "_PID={pid}")?;
        writeln!(w, "_UID={}", if u == 1 { 0 } else { 33 })?;
        writeln!(w, "_GID={}", if u == 1 { 0 } else { 33 })?;
        writeln!(w, "_COMM={}", comms[u])?;
        writeln!(w, "_EXE=/usr/sbin/{}", comms[u])?;
        writeln!(
            w,
            "_CMDLINE=/usr/sbin/{} --config /etc/{}/main.conf",
            comms[u], comms[u]
        )?;
        writeln!(w, "_CAP_EFFECTIVE=0")?;
        writeln!(w, "_SELINUX_CONTEXT=unconfined")?;
        writeln!(w, "_SYSTEMD_CGROUP=/system.slice/{}", units[u])?;
        writeln!(w, "_SYSTEMD_UNIT={}", units[u])?;
        writeln!(w, "_SYSTEMD_SLICE=system.slice")?;
        writeln!(
            w,
            "_SYSTEMD_INVOCATION_ID=5d0b6c0a7e3f4b8e9c1d2a3b4c5d6e{:02x}",
            u
        )?;
        writeln!(w, "_STREAM_ID=8f1e2d3c4b5a69788796a5b4c3d2e1f{u}")?;
        writeln!(
            w,
            "MESSAGE=10.0.{}.{} - - \"GET /api/v1/items/{} HTTP/1.1\" {} {} \"-\" \"curl/8.1\" request {i}",
            (x >> 8) % 256,
            (x >> 16) % 256,
            x % 100_000,
            [200, 200, 200, 404, 500][(x % 5) as usize],
            (x >> 24) % 10_000
        )?;
        writeln!(w)?;
    }
    w.flush()
}
