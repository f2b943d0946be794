#!/usr/bin/env python3
"""Journal benchmark (issue 18): a journal of N entries written by systemd-journal-remote from
crates/journal/examples/gen_export.rs, shipped by the release binary to a discard Loki. Prints
wall s, CPU s (user + system, cold start to the last entry sent), entries per CPU-second and
peak RSS, then the CPU used while following the quiet journal.

usage: python3 benches/journal.py [--entries=N] [--no-build] [--idle=SECONDS]
The journal is kept in $BENCH_JOURNAL (default /tmp/ferrotail-journal-bench) between runs.
"""
import os, shutil, signal, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import BIN, DISCARD, ROOT, build_release, TARGET, cpu_seconds, free_port, metric, metrics, status_mb

N = int(next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--entries=")), "1000000"))
IDLE = float(next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--idle=")), "60"))
DATA = os.environ.get("BENCH_JOURNAL", "/tmp/ferrotail-journal-bench")
REMOTE = next(p for p in ["/lib/systemd/systemd-journal-remote", "/usr/lib/systemd/systemd-journal-remote"] if os.path.exists(p))


def journal():
    stamp = os.path.join(DATA, f".entries-{N}")
    if os.path.exists(stamp):
        return
    shutil.rmtree(DATA, ignore_errors=True)
    os.makedirs(DATA)
    gen = os.path.join(TARGET, "release", "examples", "gen_export")
    g = subprocess.Popen([gen, str(N)], stdout=subprocess.PIPE)
    subprocess.check_call([REMOTE, "-o", os.path.join(DATA, "system.journal"), "-"], stdin=g.stdout)
    g.wait()
    open(stamp, "w").close()


def config(tmp, loki_port, port):
    # gen_export's entries are from November 2023: max_age reaches back to them.
    return f"""server:
  http_listen_address: 127.0.0.1
  http_listen_port: {port}
positions:
  filename: {tmp}/positions.yaml
clients:
  - url: http://127.0.0.1:{loki_port}/loki/api/v1/push
    batchwait: 1s
scrape_configs:
  - job_name: journal
    journal:
      path: {DATA}
      max_age: 100000h
      labels:
        job: systemd-journal
    relabel_configs:
      - source_labels: ['__journal__systemd_unit']
        target_label: unit
      - source_labels: ['__journal__hostname']
        target_label: hostname
      - source_labels: ['__journal_priority_keyword']
        target_label: level
"""


def main():
    if "--no-build" not in sys.argv:
        build_release(("discard_loki",))
        subprocess.check_call(["cargo", "build", "--release", "-p", "ferrotail-journal", "--example", "gen_export"], cwd=ROOT)
    journal()
    loki_port = free_port()
    discard = subprocess.Popen([DISCARD, f"127.0.0.1:{loki_port}"])
    tmp = tempfile.mkdtemp()
    port = free_port()
    path = os.path.join(tmp, "config.yml")
    open(path, "w").write(config(tmp, loki_port, port))
    try:
        t0 = time.time()
        p = subprocess.Popen([BIN, f"-config.file={path}", "-log.level=warn"], stderr=open(os.path.join(tmp, "stderr.log"), "w"))
        while metric(metrics(port), "promtail_sent_entries_total") < N:
            time.sleep(0.05)
            if p.poll() is not None:
                sys.exit("ferrotail exited: " + open(os.path.join(tmp, "stderr.log")).read())
        wall = time.time() - t0
        cpu = cpu_seconds(p.pid)
        peak = status_mb(p.pid, "VmHWM")
        print("| entries | wall s | CPU s | entries / CPU-s | peak RSS MB |")
        print("| ---: | ---: | ---: | ---: | ---: |")
        print(f"| {N:,} | {wall:.2f} | {cpu:.2f} | {N / cpu:,.0f} | {peak:.1f} |")
        time.sleep(2)  # the last batch's cursor is saved
        c0 = cpu_seconds(p.pid)
        time.sleep(IDLE)
        idle = (cpu_seconds(p.pid) - c0) / IDLE * 100
        print(f"idle (following the quiet journal for {IDLE:.0f} s): {idle:.2f} % of a core, RSS {status_mb(p.pid, 'VmRSS'):.1f} MB")
        p.send_signal(signal.SIGTERM); p.wait()
    finally:
        discard.terminate()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
