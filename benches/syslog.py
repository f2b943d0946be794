#!/usr/bin/env python3
"""Throughput of the syslog receiver (release binary): RFC 5424 messages, octet-counted, sent over
several TCP connections at once to one `syslog` job that labels host, app and severity, pushed to
a discard endpoint. Prints messages, wall s, CPU s, messages per CPU-second and peak RSS (VmHWM).

usage: python3 benches/syslog.py [--no-build] [--connections=N] [--messages=N] [--repeat=N]
"""
import os, shutil, signal, socket, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import BIN, DISCARD, ROOT, build_release, cpu_seconds, spawn, free_port, metric, metrics, status_mb


def arg(name, default):
    return int(next((a.split("=", 1)[1] for a in sys.argv if a.startswith(f"--{name}=")), default))


CONNS = arg("connections", 4)
MESSAGES = arg("messages", 250000)  # per connection
REPEAT = arg("repeat", 3)


def payload(conn):
    """One connection's stream: realistic RFC 5424 messages, octet-counted."""
    out = []
    for i in range(MESSAGES):
        msg = (f"<{128 + 8 * (i % 3) + (i % 7)}>1 2026-12-05T10:{i // 60000 % 60:02d}:{i // 1000 % 60:02d}.{i % 1000:03d}123Z "
               f"web-{conn:02d}.example.net app{i % 8} {1000 + i % 16} ID{i % 4} "
               f"[meta@32473 seq=\"{i}\"] GET /api/v1/items/{i} 200 {i % 997}ms user=u{i % 101} "
               f"request_id=3f2c{i:08x}").encode()
        out.append(b"%d %s" % (len(msg), msg))
    return b"".join(out)


def config(tmp, loki_port, port, listen):
    return f"""server:
  http_listen_address: 127.0.0.1
  http_listen_port: {port}
positions:
  filename: {tmp}/positions.yaml
clients:
  - url: http://127.0.0.1:{loki_port}/loki/api/v1/push
    batchwait: 1s
scrape_configs:
  - job_name: syslog
    syslog:
      listen_address: {listen}
      use_incoming_timestamp: true
      labels:
        job: syslog
    relabel_configs:
      - source_labels: [__syslog_message_hostname]
        target_label: host
      - source_labels: [__syslog_message_app_name]
        target_label: app
      - source_labels: [__syslog_message_severity]
        target_label: severity
"""


def run_once(loki_port, payloads):
    tmp = tempfile.mkdtemp()
    port, sport = free_port(), free_port()
    p = spawn(tmp, config(tmp, loki_port, port, f"127.0.0.1:{sport}"))
    while "promtail_syslog_target_entries_total" not in metrics(port):
        time.sleep(0.02)
    total = CONNS * MESSAGES
    size = sum(len(b) for b in payloads)
    c0 = cpu_seconds(p.pid)
    t0 = time.time()

    def send(data):
        s = socket.create_connection(("127.0.0.1", sport))
        s.sendall(data)
        s.close()

    threads = [threading.Thread(target=send, args=(b,)) for b in payloads]
    for t in threads:
        t.start()
    peak = 0.0
    while metric(metrics(port), "promtail_sent_entries_total") < total:
        peak = max(peak, status_mb(p.pid, "VmHWM"))
        if p.poll() is not None:
            sys.exit("ferrotail exited: " + open(os.path.join(tmp, "stderr.log")).read())
        time.sleep(0.05)
    wall = time.time() - t0
    cpu = cpu_seconds(p.pid) - c0
    peak = max(peak, status_mb(p.pid, "VmHWM"))
    for t in threads:
        t.join()
    p.send_signal(signal.SIGTERM)
    p.wait()
    shutil.rmtree(tmp)
    return total, size, wall, cpu, peak


def main():
    if "--no-build" not in sys.argv:
        build_release(("discard_loki",))
    payloads = [payload(c) for c in range(CONNS)]
    loki_port = free_port()
    discard = subprocess.Popen([DISCARD, f"127.0.0.1:{loki_port}"])
    time.sleep(0.3)
    try:
        runs = sorted((run_once(loki_port, payloads) for _ in range(REPEAT)), key=lambda r: r[3])
        total, size, wall, cpu, peak = runs[len(runs) // 2]
        print("| connections | messages | MB | wall s | CPU s | messages per CPU-second | peak RSS MB |")
        print("|---|---|---|---|---|---|---|")
        print(f"| {CONNS} | {total} | {size / 1e6:.0f} | {wall:.2f} | {cpu:.2f} | {total / cpu:,.0f} | {peak:.1f} |")
        print("all runs (CPU s, peak RSS MB): " + ", ".join(f"{r[3]:.2f}/{r[4]:.1f}" for r in runs))
    finally:
        discard.terminate()
        discard.wait()


if __name__ == "__main__":
    main()
