#!/usr/bin/env python3
"""loki_push_api relay benchmark: a load generator sends pre-encoded snappy protobuf push
requests (BATCH entries each, over CONNS keep-alive connections) to ferrotail's loki_push_api job,
which relays them to the discard endpoint. Prints entries, wall s, ferrotail's CPU s, entries per
CPU-second and ferrotail's peak RSS.

usage: python3 benches/push/run.py [--no-build] [--requests=N] [--batch=N] [--conns=N] [--repeat=N]

The bodies are snappy framed with literal blocks only (valid snappy, no compression), so the
generator needs nothing beyond the standard library; ferrotail decodes them like any snappy body.
"""
import http.client, os, signal, shutil, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchlib import BIN, DISCARD, ROOT, build_release, cpu_seconds, free_port, metric, metrics, status_mb

def arg(name, default):
    return int(next((a.split("=", 1)[1] for a in sys.argv if a.startswith(f"--{name}=")), default))

REQUESTS, BATCH, CONNS, REPEAT = arg("requests", 3000), arg("batch", 1000), arg("conns", 4), arg("repeat", 3)
STREAMS = 4  # streams per request


def varint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80); n >>= 7
    out.append(n)
    return bytes(out)


def field(tag, wire, payload):
    key = varint((tag << 3) | wire)
    return key + (varint(len(payload)) + payload if wire == 2 else payload)


def push_request(seed):
    """A PushRequest of BATCH entries over STREAMS streams, ~120-byte lines, one metadata pair."""
    streams = b""
    per = BATCH // STREAMS
    for s in range(STREAMS):
        entries = b""
        for i in range(per):
            ts = field(1, 0, varint(1_700_000_000 + i)) + field(2, 0, varint(i * 1000))
            line = (f"level=info ts=2024-01-01T00:00:{i % 60:02d}Z caller=bench.go:{i} req={seed}-{s}-{i} "
                    f"msg=\"request served\" status=200 duration_ms={i % 997}").encode()
            meta = field(1, 2, b"trace_id") + field(2, 2, f"{seed:08x}{i:08x}".encode())
            entries += field(2, 2, field(1, 2, ts) + field(2, 2, line) + field(3, 2, meta))
        labels = f'{{app="bench", instance="i{s}", env="prod"}}'.encode()
        streams += field(1, 2, field(1, 2, labels) + entries)
    return streams


def snappy_literal(data):
    """Raw snappy with literal elements only (each at most 65536 bytes)."""
    out = bytearray(varint(len(data)))
    for i in range(0, len(data), 65536):
        chunk = data[i:i + 65536]
        n = len(chunk) - 1
        if n < 60:
            out.append(n << 2)
        elif n < 256:
            out += bytes([60 << 2, n])
        else:
            out += bytes([61 << 2, n & 0xFF, n >> 8])
        out += chunk
    return bytes(out)


def load(port, bodies, count, errors):
    c = http.client.HTTPConnection("127.0.0.1", port)
    headers = {"Content-Type": "application/x-protobuf"}
    sent = 0
    while sent < count:
        body = bodies[sent % len(bodies)]
        c.request("POST", "/loki/api/v1/push", body, headers)
        r = c.getresponse(); r.read()
        if r.status == 204:
            sent += 1
        elif r.status == 429:
            time.sleep(0.05)  # the pipeline is full: retry, as a Loki client does
        else:
            errors.append(r.status); return


def run_once(loki_port):
    tmp = tempfile.mkdtemp()
    port, push_port = free_port(), free_port()
    cfg = f"""server:
  http_listen_address: 127.0.0.1
  http_listen_port: {port}
positions:
  filename: {tmp}/positions.yaml
clients:
  - url: http://127.0.0.1:{loki_port}/loki/api/v1/push
scrape_configs:
  - job_name: relay
    loki_push_api:
      server:
        http_listen_address: 127.0.0.1
        http_listen_port: {push_port}
      labels:
        relay: bench
"""
    open(os.path.join(tmp, "config.yml"), "w").write(cfg)
    p = subprocess.Popen([BIN, f"-config.file={tmp}/config.yml", "-log.level=warn"],
                         stderr=open(os.path.join(tmp, "stderr.log"), "w"))
    while True:
        try:
            http.client.HTTPConnection("127.0.0.1", push_port, timeout=1).request("GET", "/ready"); break
        except OSError:
            time.sleep(0.01)
    bodies = [snappy_literal(push_request(seed)) for seed in range(8)]
    total = REQUESTS * BATCH // STREAMS * STREAMS
    c0, t0 = cpu_seconds(p.pid), time.time()
    errors, per = [], REQUESTS // CONNS
    threads = [threading.Thread(target=load, args=(push_port, bodies, per, errors)) for _ in range(CONNS)]
    for t in threads: t.start()
    peak = 0.0
    while any(t.is_alive() for t in threads):
        time.sleep(0.05); peak = max(peak, status_mb(p.pid, "VmHWM"))
    for t in threads: t.join()
    if errors:
        sys.exit(f"push errors: {errors[:5]}; stderr: " + open(os.path.join(tmp, "stderr.log")).read())
    want = per * CONNS * (BATCH // STREAMS) * STREAMS
    while metric(metrics(port), "promtail_sent_entries_total") < want:
        time.sleep(0.02)
    wall, cpu = time.time() - t0, cpu_seconds(p.pid) - c0
    peak = max(peak, status_mb(p.pid, "VmHWM"))
    p.send_signal(signal.SIGTERM); p.wait(); shutil.rmtree(tmp)
    size = sum(len(b) for b in bodies) / len(bodies)
    return cpu, f"| {want} | {BATCH} | {CONNS} | {size / 1e3:.0f} KB | {wall:.2f} | {cpu:.2f} | {want / cpu:,.0f} | {peak:.1f} |"


def main():
    if "--no-build" not in sys.argv:
        build_release(("discard_loki",))
    loki_port = free_port()
    discard = subprocess.Popen([DISCARD, f"127.0.0.1:{loki_port}"])
    time.sleep(0.3)
    try:
        print("| entries | per request | connections | body | wall s | ferrotail CPU s | entries per CPU-second | peak RSS MB |")
        print("|---|---|---|---|---|---|---|---|")
        runs = sorted(run_once(loki_port) for _ in range(REPEAT))
        print(runs[len(runs) // 2][1], flush=True)
    finally:
        discard.terminate()


if __name__ == "__main__":
    main()
