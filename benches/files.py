#!/usr/bin/env python3
"""File tailing benchmarks, through the release binary and the discard Loki (issues 22 and 20):

1. many-files: 10,000 small files in one directory (100 lines of about 100 bytes each: 1,000,000
   lines), one `static_configs` target `<dir>/*.log`, no stages. Time until every line is sent,
   ferrotail's CPU seconds, lines per CPU-second and peak RSS (VmHWM).
2. many-globs: 5,000 `static_configs` targets in one job, each `<dir>/*-<n>.log` (a wildcard, so
   each must be matched against the directory's entries), over 5,000 files of one line in that
   directory. Time until every target is active and every file shipped, CPU seconds to then, the
   CPU share over the following 30 s idle (three periodic syncs at `sync_period: 10s`), and peak
   RSS.

3. idle-files: 1,000 files of one line each (`idle_files()` of benches/shipper/run.py: the peak is
   set at start-up, when every reader reads its first block at once). Time to /ready, peak RSS,
   the peak of anonymous memory (RssAnon, sampled every 5 ms: VmHWM also counts the binary's own
   pages) and the CPU share over 10 s idle.

Every case reports VmHWM and the highest RssAnon sampled every 5 ms.

usage: python3 benches/files.py [--no-build] [--repeat=N] [--only=many-files|many-globs|idle-files]
                                [--bins=A,B]   (interleaved runs of two binaries: A, B, A, B, ...)
"""
import os, shutil, signal, subprocess, sys, tempfile, threading, time, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import BIN, DISCARD, ROOT, build_release, config, cpu_seconds, free_port, metric, metrics, status_mb

REPEAT = int(next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--repeat=")), "3"))
ONLY = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--only=")), "")
BINS = next((a.split("=", 1)[1].split(",") for a in sys.argv if a.startswith("--bins=")), [BIN])


class Peak:
    """Samples /proc/<pid>/status every 5 ms: the highest RssAnon (VmHWM is the kernel's own)."""

    def __init__(self, pid):
        self.pid, self.anon, self.stop = pid, 0.0, False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop:
            try:
                self.anon = max(self.anon, status_mb(self.pid, "RssAnon"))
            except OSError:
                return
            time.sleep(0.005)

    def end(self):
        self.stop = True
        self.thread.join()
        return self.anon
LINE = "level=info ts=2024-01-01T00:00:00.000Z caller=main.go:42 msg=\"request served\" status=200 n={n:06}\n"


def start(tmp, text, binary):
    path = os.path.join(tmp, "config.yml")
    open(path, "w").write(text)
    return subprocess.Popen([binary, f"-config.file={path}", "-log.level=warn"],
                            stderr=open(os.path.join(tmp, "stderr.log"), "w"))


def wait(p, tmp, port, t0, done, peak, limit=600):
    """Polls until `done(metrics text)`; returns the peak VmHWM seen."""
    while True:
        time.sleep(0.05)
        peak = max(peak, status_mb(p.pid, "VmHWM"))
        if done(metrics(port)):
            return peak
        if p.poll() is not None or time.time() - t0 > limit:
            p.kill()
            sys.exit("ferrotail exited or timed out: " + open(os.path.join(tmp, "stderr.log")).read()[-2000:])


def many_files(loki_port, binary, files=10_000, lines=100):
    tmp = tempfile.mkdtemp()
    d = os.path.join(tmp, "logs")
    os.makedirs(d)
    total, size = 0, 0
    for f in range(files):
        body = "".join(LINE.format(n=f * lines + i) for i in range(lines))
        open(os.path.join(d, f"app-{f:05}.log"), "w").write(body)
        total += lines
        size += len(body)
    port = free_port()
    t0 = time.time()
    p = start(tmp, config(tmp, loki_port, port, "files", f"{d}/*.log", client="    batchwait: 1s\n"), binary)
    anon = Peak(p.pid)
    try:
        peak = wait(p, tmp, port, t0, lambda m: metric(m, "promtail_sent_entries_total") >= total, 0.0)
        wall = time.time() - t0
        cpu = cpu_seconds(p.pid)
        peak = max(peak, status_mb(p.pid, "VmHWM"))
    finally:
        anon = anon.end()
        p.send_signal(signal.SIGTERM); p.wait()
        shutil.rmtree(tmp)
    return (cpu, f"| {files:,} files × {lines} lines | {total:,} | {size / 1e6:.0f} | {wall:.2f} | {cpu:.2f} | {total / cpu:,.0f} | {peak:.1f} | {anon:.1f} |")


def many_globs(loki_port, binary, targets=5000, idle=30):
    tmp = tempfile.mkdtemp()
    d = os.path.join(tmp, "logs")
    os.makedirs(d)
    for i in range(targets):
        open(os.path.join(d, f"app-{i:05}.log"), "w").write(LINE.format(n=i))
    port = free_port()
    text = config(tmp, loki_port, port, "globs", f"{d}/*-00000.log", client="    batchwait: 1s\n")
    head, tail = text.split("    static_configs:\n", 1)
    groups = "".join(f"      - targets: [localhost]\n        labels:\n          job: globs\n          __path__: {d}/*-{i:05}.log\n" for i in range(targets))
    text = head + "    static_configs:\n" + groups + "target_config:\n  sync_period: 10s\n"
    t0 = time.time()
    p = start(tmp, text, binary)
    anon = Peak(p.pid)
    try:
        peak = wait(p, tmp, port, t0, lambda m: metric(m, "promtail_targets_active_total") >= targets
                    and metric(m, "promtail_sent_entries_total") >= targets, 0.0)
        wall = time.time() - t0
        cpu = cpu_seconds(p.pid)
        time.sleep(idle)
        idle_cpu = cpu_seconds(p.pid) - cpu
        peak = max(peak, status_mb(p.pid, "VmHWM"))
    finally:
        anon = anon.end()
        p.send_signal(signal.SIGTERM); p.wait()
        shutil.rmtree(tmp)
    return (wall, f"| {targets:,} globs `<dir>/*-<n>.log`, {targets:,} files in `<dir>` | {wall:.2f} | {cpu:.2f} | {100 * idle_cpu / idle:.2f}% | {peak:.1f} | {anon:.1f} |")


def idle_files(loki_port, binary, n=1000, idle=10):
    """As `idle_files()` in benches/shipper/run.py, plus RssAnon and RssFile."""
    tmp = tempfile.mkdtemp()
    d = os.path.join(tmp, "logs")
    os.makedirs(d)
    for i in range(n):
        open(os.path.join(d, f"f{i}.log"), "w").write("x\n")
    port = free_port()
    t0 = time.time()
    p = start(tmp, config(tmp, loki_port, port, "bench", f"{d}/*.log", client="    batchwait: 1s\n"), binary)
    anon = Peak(p.pid)
    try:
        ready = None
        while ready is None:
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1).status == 200:
                    ready = time.time() - t0
            except Exception:
                time.sleep(0.005)
        wait(p, tmp, port, t0, lambda m: metric(m, "promtail_sent_entries_total") >= n, 0.0)
        time.sleep(2)
        c0 = cpu_seconds(p.pid); time.sleep(idle); c1 = cpu_seconds(p.pid)
        peak = status_mb(p.pid, "VmHWM")
        file_pages = status_mb(p.pid, "RssFile")
    finally:
        anon = anon.end()
        p.send_signal(signal.SIGTERM); p.wait()
        shutil.rmtree(tmp)
    return (peak, f"| {n:,} files of one line, idle | {ready * 1000:.0f} | {100 * (c1 - c0) / idle:.2f}% | {peak:.1f} | {anon:.1f} | {file_pages:.1f} |")


def run_case(name, fn, loki_port):
    """Runs `fn` REPEAT times per binary, interleaved (A, B, A, B, ...); prints every run with the
    load average at its start, then the median run per binary."""
    runs = {b: [] for b in BINS}
    for _ in range(REPEAT):
        for b in BINS:
            load = os.getloadavg()[0]
            key, row = fn(loki_port, b)
            runs[b].append((key, row))
            if len(BINS) > 1 or REPEAT > 1:
                print(f"{row}  <- {os.path.basename(b)}, load {load:.1f}", flush=True)
    for b in BINS:
        rs = sorted(runs[b])
        print(f"median ({os.path.basename(b)}):" if len(BINS) > 1 else "median:", flush=True)
        print(rs[len(rs) // 2][1], flush=True)
    print()


def main():
    if "--no-build" not in sys.argv and not any(a.startswith("--bins=") for a in sys.argv):
        build_release(("discard_loki",))
    loki_port = free_port()
    discard = subprocess.Popen([DISCARD, f"127.0.0.1:{loki_port}"])
    time.sleep(0.3)
    try:
        print(f"load average at start: {os.getloadavg()[0]:.1f}", flush=True)
        if ONLY in ("", "many-files"):
            print("| case | lines | MB | wall s | CPU s | lines per CPU-second | peak RSS (VmHWM) MB | peak RssAnon MB |")
            print("|---|---|---|---|---|---|---|---|")
            run_case("many-files", many_files, loki_port)
        if ONLY in ("", "idle-files"):
            print("| case | /ready after ms | CPU idle (share of a core) | peak RSS (VmHWM) MB | peak RssAnon MB | RssFile MB at the end |")
            print("|---|---|---|---|---|---|")
            run_case("idle-files", idle_files, loki_port)
        if ONLY in ("", "many-globs"):
            print("| case | time to every target active and every file shipped s | CPU s to then | CPU idle after (share of a core) | peak RSS (VmHWM) MB | peak RssAnon MB |")
            print("|---|---|---|---|---|---|")
            run_case("many-globs", many_globs, loki_port)
        print(f"load average at end: {os.getloadavg()[0]:.1f}", flush=True)
    finally:
        discard.terminate()


if __name__ == "__main__":
    main()
