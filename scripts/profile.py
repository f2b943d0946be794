#!/usr/bin/env python3
"""Instructions per function of the stripped release binary over the shipper benchmark's path
(file reader, pipeline, client, snappy, push to the discard endpoint), counted by callgrind.

usage: python3 scripts/profile.py [--bin=PATH] [--map=PATH] [--pipeline=docker] [--lines=100000]
                                  [--top=40]

The binary is the release build (`target/release/ferrotail` unless --bin) and its functions are
named from the link map build.rs has LLD write (the newest under target/release/build unless
--map; keep the map with a copied binary): the binary is linked at a fixed address, so callgrind's
per-address counts (`--dump-instr=yes`) fall into the map's functions. Functions outside the
binary (libc's memcpy, memcmp, ...) are named as callgrind names them, prefixed with `?`.

The input is the first --lines lines of one benchmark file (benches/shipper/gen.py), shipped
through --pipeline (a name of benches/shipper/run.py's PIPELINES). The total includes start-up
(about 70M instructions, mostly reading the system's root certificates). Counts are repeatable
run to run, unlike seconds on a shared machine.
"""
import collections, glob, importlib.util, os, re, signal, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benches"))
sys.path.insert(0, os.path.join(ROOT, "benches", "shipper"))
from benchlib import BIN, DISCARD, free_port, metric, metrics  # noqa: E402
import run as shipper  # noqa: E402


def arg(name, default):
    return next((a.split("=", 1)[1] for a in sys.argv if a.startswith(f"--{name}=")), default)


# The binary's functions from its link map, as scripts/symbol-order.py reads them.
_spec = importlib.util.spec_from_file_location("symbol_order", os.path.join(ROOT, "scripts", "symbol-order.py"))
symbol_order = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(symbol_order)


def run_callgrind(binary, pipeline, lines, out):
    data = os.environ.get("BENCH_DATA", "/tmp/ferrotail-bench-data")
    if not glob.glob(f"{data}/*/*-json.log"):
        subprocess.run([sys.executable, os.path.join(ROOT, "benches/shipper/gen.py"), data], check=True)
    tmp = tempfile.mkdtemp(prefix="profile-")
    os.makedirs(f"{tmp}/logs/c")
    with open(sorted(glob.glob(f"{data}/*/*-json.log"))[0]) as src, open(f"{tmp}/logs/c/c-json.log", "w") as dst:
        for i, line in enumerate(src):
            if i >= lines:
                break
            dst.write(line)
    loki_port, port = free_port(), free_port()
    loki = subprocess.Popen([DISCARD, f"127.0.0.1:{loki_port}"], stdout=subprocess.DEVNULL)
    with open(f"{tmp}/config.yml", "w") as f:
        f.write(shipper.config(tmp, loki_port, port, f"{tmp}/logs/*/*-json.log", shipper.PIPELINES[pipeline]))
    # Set, so ferrotail does not re-execute itself (out of valgrind) to set them.
    env = dict(os.environ, MIMALLOC_ARENA_EAGER_COMMIT="0", MIMALLOC_PURGE_DELAY="5")
    p = subprocess.Popen(["valgrind", "--tool=callgrind", "--dump-instr=yes", "--dump-line=no", "--compress-pos=no",
                          f"--callgrind-out-file={out}", binary, f"-config.file={tmp}/config.yml", "-log.level=warn"],
                         stderr=open(f"{tmp}/valgrind.log", "w"), env=env)
    t0 = time.time()
    try:
        while True:
            time.sleep(0.5)
            try:
                if metric(metrics(port), "promtail_sent_entries_total") >= lines:
                    break
            except OSError:
                pass
            if p.poll() is not None or time.time() - t0 > 900:
                sys.exit("ferrotail exited or timed out: " + open(f"{tmp}/valgrind.log").read()[-2000:])
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait()
        loki.kill()


def self_costs(path, funcs):
    """Self instructions per function (`0x<address> <count>` cost lines; a line after `calls=` is
    a call's inclusive cost and is skipped)."""
    cost, names, fn, skip, total = collections.Counter(), {}, "?", False, 0
    for line in open(path, errors="replace"):
        if line.startswith(("fn=", "cfn=")):
            m = re.match(r"c?fn=\((\d+)\)(?: (.*))?", line.strip())
            if m and m.group(2):
                names[m.group(1)] = m.group(2)
            if line.startswith("fn=") and m:
                fn = names.get(m.group(1), "?")
        elif line.startswith("calls="):
            skip = True
        elif line.startswith("0x"):
            if skip:
                skip = False
                continue
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                n = int(parts[1])
                total += n
                cost[funcs.at(int(parts[0], 16)) or "?" + fn] += n
    return cost, total


def main():
    binary = arg("bin", BIN)
    pipeline, lines, top = arg("pipeline", "docker"), int(arg("lines", "100000")), int(arg("top", "40"))
    out = os.path.join(tempfile.mkdtemp(prefix="profile-out-"), "callgrind.out")
    run_callgrind(binary, pipeline, lines, out)
    cost, total = self_costs(out, symbol_order.Functions(arg("map", None)))
    names = [k for k, _ in cost.most_common(top)]
    shown = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True, text=True).stdout.split("\n")
    print(f"{total / 1e6:.1f}M instructions, {total / lines:,.0f} per line ({pipeline}, {lines:,} lines; {out})")
    for k, d in zip(names, shown):
        print(f"{cost[k] / 1e6:9.2f}M {100 * cost[k] / total:5.1f}%  {re.sub(r'::h[0-9a-f]{16}', '', d)[:150]}")


if __name__ == "__main__":
    main()
