#!/usr/bin/env python3
"""Kubernetes benchmarks (issue 20), through the release binary:

1. Discovery: 5,000 pods on one fake API server (examples/fake_apiserver, its own process). Time
   from starting ferrotail to its first complete target set (promtail_targets_active_total at its
   final value), ferrotail's CPU seconds and peak RSS (VmHWM) at that moment, for:
   * daemonset: the chart's config; pods on 50 nodes, HOSTNAME=node-0, so Promtail's
     spec.nodeName field selector lists 100 pods;
   * all-listed: every pod listed (selectors written in the config, so no node selector), 100
     kept by `__host__`;
   * all-read: the chart's config with every pod on this node: 5,000 targets.
   The log root holds the 100 local pods' directories (one CRI file each), as a node's
   /var/log/pods does.
2. CRI tail throughput: the shipper bench's data (benches/shipper/gen.py) written as CRI lines,
   `cri: {}`, beside the same lines as Docker json-file with `docker: {}`.

usage: python3 benches/kubernetes.py [--no-build] [--repeat=N] [--discovery-only] [--cri-only]
                                    [--case=daemonset,listed,read]
`--case` picks discovery cases (default: all three); a case that does not reach its complete
target set within --timeout=S seconds (default 300) prints "did not finish" and the others run.
"""
import os, shutil, signal, subprocess, sys, tempfile, time, json

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import BIN, DISCARD, ROOT, build_release, TARGET, config as base_config, cpu_seconds, free_port, metric, metrics, status_mb

FAKE = os.path.join(TARGET, "release", "examples", "fake_apiserver")
REPEAT = int(next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--repeat=")), "3"))
CASES = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--case=")), "daemonset,listed,read").split(",")
TIMEOUT = float(next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--timeout=")), "300"))
PODS = 5000
DATA = os.environ.get("BENCH_DATA", "/tmp/ferrotail-bench-data")
CRI_DATA = DATA + "-cri"


def chart_config(tmp, loki_port, port, api, root, host_filter=False):
    text = open(os.path.join(ROOT, "configs/promtail-config-kubernetes.yml")).read()
    text = (text.replace("http://loki-gateway/loki/api/v1/push", f"http://127.0.0.1:{loki_port}/loki/api/v1/push")
                .replace("http_listen_port: 3101", f"http_listen_port: {port}\n  http_listen_address: 127.0.0.1")
                .replace("/run/promtail/positions.yaml", f"{tmp}/positions.yaml")
                .replace("/var/log/pods", root))
    sd = f"      - role: pod\n        api_server: {api}\n"
    if host_filter:
        sd += "        selectors:\n          - role: pod\n            label: app=web\n"
        text = text.replace("    relabel_configs:\n", "    relabel_configs:\n      - source_labels: [__meta_kubernetes_pod_node_name]\n        target_label: __host__\n", 1)
    return text.replace("      - role: pod\n", sd, 1)


def discovery(name, loki_port, nodes, expect, host_filter):
    fake = subprocess.Popen([FAKE, str(PODS), str(nodes)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    api = fake.stdout.readline().strip()
    tmp = tempfile.mkdtemp()
    root = os.path.join(tmp, "pods")
    for i in range(0, PODS, nodes):  # the pods of node-0
        d = os.path.join(root, f"ns{i % 20}_web-5d8f9c7b6d-{i:05}_uid-{i:05}", "app")
        os.makedirs(d)
        open(os.path.join(d, "0.log"), "w").write("2024-01-01T00:00:00.000000000Z stdout F hello\n")
    port = free_port()
    path = os.path.join(tmp, "config.yml")
    open(path, "w").write(chart_config(tmp, loki_port, port, api, root, host_filter))
    env = dict(os.environ, HOSTNAME="node-0")
    t0 = time.time()
    p = subprocess.Popen([BIN, f"-config.file={path}", "-log.level=warn"], env=env, stderr=open(os.path.join(tmp, "stderr.log"), "w"))
    peak = 0.0
    try:
        while True:
            time.sleep(0.01)
            peak = max(peak, status_mb(p.pid, "VmHWM"))
            if metric(metrics(port), "promtail_targets_active_total") >= expect:
                break
            if p.poll() is not None:
                sys.exit(f"{name}: ferrotail exited: " + open(os.path.join(tmp, "stderr.log")).read()[-2000:])
            if time.time() - t0 > TIMEOUT:
                rss = status_mb(p.pid, "VmRSS")
                return (float("inf"), f"| {name} | {PODS} | {PODS} | {expect} | did not finish in {TIMEOUT:.0f} s | {cpu_seconds(p.pid):.2f} | {rss:.1f} (RSS then) | |", rss)
        wall = time.time() - t0
        cpu = cpu_seconds(p.pid)
        peak = max(peak, status_mb(p.pid, "VmHWM"))
        # Settled: every local file shipped, RSS after the first sync.
        while metric(metrics(port), "promtail_sent_entries_total") < PODS // nodes and time.time() - t0 < 120:
            time.sleep(0.05)
        hwm_settled = status_mb(p.pid, "VmHWM")
    finally:
        p.send_signal(signal.SIGTERM); p.wait()
        fake.stdin.close(); fake.wait()
        shutil.rmtree(tmp)
    listed = PODS if host_filter or nodes == 1 else PODS // nodes
    return (wall, f"| {name} | {PODS} | {listed} | {expect} | {wall:.2f} | {cpu:.2f} | {peak:.1f} | {hwm_settled:.1f} |", peak)


def make_cri_data():
    """The shipper bench's Docker json-file lines, as the kubelet's CRI files."""
    if not os.path.isdir(DATA) or not os.listdir(DATA):
        os.makedirs(DATA, exist_ok=True)
        subprocess.check_call([sys.executable, os.path.join(ROOT, "benches/shipper/gen.py"), DATA, "4", "250000"])
    if os.path.isdir(CRI_DATA) and len(os.listdir(CRI_DATA)) == len(os.listdir(DATA)):
        return
    shutil.rmtree(CRI_DATA, ignore_errors=True)
    for cid in os.listdir(DATA):
        d = os.path.join(CRI_DATA, f"ns_pod-{cid[:8]}_{cid[:32]}", "app")
        os.makedirs(d)
        with open(os.path.join(DATA, cid, cid + "-json.log")) as src, open(os.path.join(d, "0.log"), "w") as out:
            for l in src:
                j = json.loads(l)
                out.write(f"{j['time']} {j['stream']} F {j['log'].rstrip(chr(10))}\n")


def throughput(name, glob, stages, data, loki_port):
    tmp = tempfile.mkdtemp()
    port = free_port()
    total = sum(sum(1 for _ in open(os.path.join(dp, f))) for dp, _, fs in os.walk(data) for f in fs)
    size = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(data) for f in fs)
    path = os.path.join(tmp, "config.yml")
    open(path, "w").write(base_config(tmp, loki_port, port, "bench", glob, client="    batchwait: 1s\n", stages=stages))
    t0 = time.time()
    p = subprocess.Popen([BIN, f"-config.file={path}", "-log.level=warn"], stderr=open(os.path.join(tmp, "stderr.log"), "w"))
    peak = 0.0
    while True:
        time.sleep(0.05)
        peak = max(peak, status_mb(p.pid, "VmHWM"))
        if metric(metrics(port), "promtail_sent_entries_total") >= total:
            break
        if p.poll() is not None:
            sys.exit(f"{name}: ferrotail exited: " + open(os.path.join(tmp, "stderr.log")).read())
    wall = time.time() - t0
    cpu = cpu_seconds(p.pid)
    peak = max(peak, status_mb(p.pid, "VmHWM"))
    p.send_signal(signal.SIGTERM); p.wait()
    shutil.rmtree(tmp)
    return (cpu, f"| {name} | {total} | {size / 1e6:.0f} | {wall:.2f} | {cpu:.2f} | {total / cpu:,.0f} | {size / 1e6 / wall:.1f} | {peak:.1f} |", total / cpu, peak)


def main():
    if "--no-build" not in sys.argv:
        build_release(("discard_loki", "fake_apiserver",))
    loki_port = free_port()
    discard = subprocess.Popen([DISCARD, f"127.0.0.1:{loki_port}"])
    time.sleep(0.3)
    try:
        if "--cri-only" not in sys.argv:
            print("| case | pods in the API | pods listed | targets | time to first complete target set s | CPU s | peak RSS MB | peak RSS once every local file is shipped MB |")
            print("|---|---|---|---|---|---|---|---|")
            spread = []
            for case, name, nodes, expect, host_filter in [
                ("daemonset", "daemonset (chart config, node field selector)", 50, PODS // 50, False),
                ("listed", "all listed, `__host__` keeps this node's", 50, PODS // 50, True),
                ("read", "all read (5,000 pods on this node)", 1, PODS, False),
            ]:
                if case not in CASES:
                    continue
                runs = sorted(discovery(name, loki_port, nodes, expect, host_filter) for _ in range(REPEAT))
                print(runs[len(runs) // 2][1], flush=True)
                spread.append(f"{case}: time {runs[0][0]:.2f}-{runs[-1][0]:.2f} s, peak RSS "
                              f"{min(r[2] for r in runs):.1f}-{max(r[2] for r in runs):.1f} MB")
            print()
            if REPEAT > 1:
                print(f"Over the {REPEAT} runs (the row is the run of median time): " + "; ".join(spread) + "\n", flush=True)
        if "--discovery-only" not in sys.argv:
            make_cri_data()
            print("| pipeline | lines | MB | wall s | CPU s | lines per CPU-second | MB/s | peak RSS MB |")
            print("|---|---|---|---|---|---|---|---|")
            spread = []
            for name, glob, stages, data in [
                ("docker json-file, `docker: {}`", f"{DATA}/*/*-json.log", "      - docker: {}\n", DATA),
                ("CRI, `cri: {}`", f"{CRI_DATA}/*/app/*.log", "      - cri: {}\n", CRI_DATA),
            ]:
                runs = sorted(throughput(name, glob, stages, data, loki_port) for _ in range(REPEAT))
                print(runs[len(runs) // 2][1], flush=True)
                spread.append(f"{name.split(',')[0]}: {min(r[2] for r in runs):,.0f}-{max(r[2] for r in runs):,.0f} "
                              f"lines per CPU-second, peak RSS {min(r[3] for r in runs):.1f}-{max(r[3] for r in runs):.1f} MB")
            if REPEAT > 1:
                print(f"\nOver the {REPEAT} runs (the row is the run of median CPU): " + "; ".join(spread), flush=True)
    finally:
        discard.terminate()


if __name__ == "__main__":
    main()
