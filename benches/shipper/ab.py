#!/usr/bin/env python3
"""Interleaved A/B runs of two (or more) ferrotail binaries on the shipper workload: the runs go
A, B, A, B, ... so that the load of the shared machine falls on both alike. Prints one row per run
(with the 1-minute load average at its start) and, per binary and pipeline, the median.

usage: python3 benches/shipper/ab.py BIN_A BIN_B [...] [--rounds=N] [--pipeline=NAME ...] [--quick]
"""
import os, statistics, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (the shipper benchmark: data, config, throughput())

def main():
    bins = [a for a in sys.argv[1:] if not a.startswith("--")]
    rounds = int(next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--rounds=")), "2"))
    only = [a.split("=", 1)[1] for a in sys.argv if a.startswith("--pipeline=")]
    pipelines = {k: v for k, v in run.PIPELINES.items() if not only or k in only}
    if not os.path.isdir(run.DATA) or len(os.listdir(run.DATA)) != run.FILES:
        subprocess.check_call([sys.executable, os.path.join(run.ROOT, "benches/shipper/gen.py"), run.DATA, str(run.FILES), str(run.LINES)])
    loki_port = run.free_port()
    discard = subprocess.Popen([run.DISCARD, f"127.0.0.1:{loki_port}"])
    time.sleep(0.3)
    results = {}
    try:
        print("| pipeline | binary | round | load avg | CPU s | lines per CPU-second | peak RSS MB |")
        print("|---|---|---|---|---|---|---|")
        for name, stages in pipelines.items():
            for r in range(rounds):
                for b in bins:
                    run.BIN = b
                    load = os.getloadavg()[0]
                    cpu, row = run.throughput_retrying(name, stages, loki_port)
                    rss = float(row.rstrip(" |").rsplit("|", 1)[1])
                    lps = run.FILES * run.LINES / cpu
                    results.setdefault((name, b), []).append((lps, rss))
                    print(f"| {name} | {os.path.basename(b)} | {r + 1} | {load:.1f} | {cpu:.2f} | {lps:,.0f} | {rss:.1f} |", flush=True)
        print()
        print("| pipeline | binary | median lines per CPU-second | median peak RSS MB |")
        print("|---|---|---|---|")
        for (name, b), v in results.items():
            print(f"| {name} | {os.path.basename(b)} | {statistics.median(x for x, _ in v):,.0f} | {statistics.median(y for _, y in v):.1f} |")
    finally:
        discard.terminate()

if __name__ == "__main__":
    main()
