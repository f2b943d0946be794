#!/usr/bin/env python3
"""Soak test (issue 8): 200 files appended to at 20,000 lines/s in total for 10 minutes, each file
rotated (rename + create) every minute. Samples ferrotail's RSS and open file descriptors every
10 s and checks at the end that every written line was sent (promtail_sent_entries_total).

usage: python3 benches/soak.py [--minutes N] [--files N] [--rate LINES_PER_S]
Results go to stdout as a Markdown table; paste them into BENCHMARKS.md.
"""
import argparse, os, shutil, signal, subprocess, sys, tempfile, time

from benchlib import BIN, DISCARD, ROOT, build_release, config, free_port, metric, metrics, status_mb

def sent(port):
    text = metrics(port)
    return metric(text, "promtail_sent_entries_total") if text else -1

def rss_fds(pid):
    return status_mb(pid, "VmRSS"), len(os.listdir(f"/proc/{pid}/fd"))

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--rate", type=int, default=20000)
    a = ap.parse_args()
    build_release(("discard_loki",))
    tmp = tempfile.mkdtemp()
    logs = os.path.join(tmp, "logs"); os.makedirs(logs)
    lport, port = free_port(), free_port()
    d = subprocess.Popen([DISCARD, f"127.0.0.1:{lport}"])
    cfg = os.path.join(tmp, "config.yml")
    open(cfg, "w").write(config(tmp, lport, port, "soak", f"{logs}/*.log", top="target_config:\n  sync_period: 1s\n"))

    p = subprocess.Popen([BIN, f"-config.file={cfg}", "-log.level=warn"], stderr=open(os.path.join(tmp, "stderr.log"), "w"))
    time.sleep(1)
    handles = [open(os.path.join(logs, f"f{i}.log"), "a", buffering=1 << 16) for i in range(a.files)]
    written = 0
    start = time.time()
    end = start + a.minutes * 60
    next_rotate = start + 60
    next_sample = start
    per_tick = max(1, a.rate // 100)
    print("| t (s) | lines written | lines sent | RSS MB | open fds |")
    print("|---|---|---|---|---|", flush=True)
    tick = start
    while time.time() < end:
        for k in range(per_tick):
            h = handles[(written + k) % a.files]
            h.write("soak line %012d %s\n" % (written + k, "x" * 60))
        written += per_tick
        for h in handles:
            h.flush()
        now = time.time()
        if now >= next_rotate:
            for i, h in enumerate(handles):
                h.close()
                path = os.path.join(logs, f"f{i}.log")
                os.replace(path, path + ".1")
                handles[i] = open(path, "a", buffering=1 << 16)
            next_rotate += 60
        if now >= next_sample:
            rss, fds = rss_fds(p.pid)
            print(f"| {now - start:.0f} | {written} | {sent(port):.0f} | {rss:.1f} | {fds} |", flush=True)
            next_sample += 10
        tick += 0.01
        delay = tick - time.time()
        if delay > 0:
            time.sleep(delay)
    for h in handles:
        h.close()
    deadline = time.time() + 60
    while sent(port) < written and time.time() < deadline:
        time.sleep(0.5)
    rss, fds = rss_fds(p.pid)
    s = sent(port)
    print(f"| end | {written} | {s:.0f} | {rss:.1f} | {fds} |")
    print(f"\n{'every line delivered' if s >= written else 'LINES MISSING: %d' % (written - s)}")
    p.send_signal(signal.SIGTERM); p.wait(); d.terminate()
    shutil.rmtree(tmp)

if __name__ == "__main__":
    main()
