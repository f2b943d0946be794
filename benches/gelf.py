#!/usr/bin/env python3
"""Throughput and peak RSS of the gelf receiver (release binary): GELF 1.1 JSON messages shaped like
Docker's gelf log driver's (plain JSON datagrams, plus every --zlib-th one zlib-compressed and
every --chunked-th one split into chunks), sent over UDP from several sockets to one `gelf` job
that labels host and level, pushed to a discard endpoint. Prints messages received, wall s,
CPU s, messages per CPU-second and peak RSS (VmHWM).

UDP has no backpressure: the senders pace themselves (a short pause every --burst datagrams) so
the kernel's socket buffer does not overflow, and the rate is computed from the messages ferrotail
counted (`promtail_gelf_target_entries_total`), so a datagram the kernel dropped counts nowhere.

usage: python3 benches/gelf.py [--no-build] [--senders=N] [--messages=N] [--repeat=N]
                               [--burst=N] [--zlib=N] [--chunked=N]
"""
import json, os, shutil, signal, socket, subprocess, sys, tempfile, threading, time, zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import BIN, DISCARD, ROOT, build_release, cpu_seconds, spawn, free_port, metric, metrics, status_mb


def arg(name, default):
    return int(next((a.split("=", 1)[1] for a in sys.argv if a.startswith(f"--{name}=")), default))


SENDERS = arg("senders", 4)
MESSAGES = arg("messages", 25000)  # per sender
REPEAT = arg("repeat", 3)
BURST = arg("burst", 8)
ZLIB_EVERY = arg("zlib", 10)
CHUNKED_EVERY = arg("chunked", 50)


def message(sender, i):
    """A message as Docker's gelf driver writes it (its `_container_*`, `_image_*`, `_tag`)."""
    return {
        "version": "1.1",
        "host": f"docker-{sender:02d}",
        "short_message": f"GET /api/v1/items/{i} 200 {i % 997}ms user=u{i % 101} request_id=3f2c{i:08x}",
        "timestamp": 1_733_390_000 + i / 1000,
        "level": 6 if i % 10 else 3,
        "_command": "/usr/bin/app --serve",
        "_container_id": f"{sender:02d}" * 32,
        "_container_name": f"app-{i % 8}",
        "_created": "2026-12-05T08:00:00.000000000Z",
        "_image_id": "sha256:" + "ab" * 32,
        "_image_name": "registry.example.net/app:1.4.2",
        "_tag": f"app-{i % 8}",
    }


def chunks(data, msg_id, size=1420 - 12):
    parts = [data[i:i + size] for i in range(0, len(data), size)]
    return [b"\x1e\x0f" + msg_id + bytes([n, len(parts)]) + p for n, p in enumerate(parts)]


def datagrams(sender):
    out = []
    for i in range(MESSAGES):
        body = json.dumps(message(sender, i), separators=(",", ":")).encode()
        if CHUNKED_EVERY and i % CHUNKED_EVERY == 0:
            # Chunked as go-gelf chunks a long message: the body made long with padding.
            body = body[:-1] + b',"_pad":"' + b"x" * 3000 + b'"}'
            out.extend(chunks(body, sender.to_bytes(4, "big") + i.to_bytes(4, "big")))
        elif ZLIB_EVERY and i % ZLIB_EVERY == 0:
            out.append(zlib.compress(body))
        else:
            out.append(body)
    return out


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
  - job_name: gelf
    gelf:
      listen_address: {listen}
      use_incoming_timestamp: true
      labels:
        job: gelf
    relabel_configs:
      - source_labels: [__gelf_message_host]
        target_label: host
      - source_labels: [__gelf_message_level]
        target_label: level
"""


def run_once(loki_port, payloads):
    tmp = tempfile.mkdtemp()
    port, gport = free_port(), free_port()
    p = spawn(tmp, config(tmp, loki_port, port, f"127.0.0.1:{gport}"))
    while "promtail_targets_active_total" not in metrics(port):
        time.sleep(0.02)
    time.sleep(0.2)
    c0 = cpu_seconds(p.pid)
    t0 = time.time()

    def send(grams):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for n, g in enumerate(grams):
            s.sendto(g, ("127.0.0.1", gport))
            if n % BURST == BURST - 1:
                time.sleep(0.001)
        s.close()

    threads = [threading.Thread(target=send, args=(g,)) for g in payloads]
    for t in threads:
        t.start()
    peak = 0.0
    while any(t.is_alive() for t in threads):
        peak = max(peak, status_mb(p.pid, "VmHWM"))
        time.sleep(0.05)
    # Everything received is shipped once the counters stand still.
    last, still = -1.0, 0
    while still < 4:
        text = metrics(port)
        got, sent = metric(text, "promtail_gelf_target_entries_total"), metric(text, "promtail_sent_entries_total")
        still = still + 1 if (got, sent) == last and sent >= got else 0
        last = (got, sent)
        peak = max(peak, status_mb(p.pid, "VmHWM"))
        time.sleep(0.1)
    wall = time.time() - t0
    cpu = cpu_seconds(p.pid) - c0
    errors = metric(text, "promtail_gelf_target_parsing_errors_total")
    if errors:
        print(f"parsing errors: {errors:.0f}; drops: " + ", ".join(
            l for l in text.splitlines() if l.startswith("ferrotail_gelf_dropped_total")), file=sys.stderr)
    peak = max(peak, status_mb(p.pid, "VmHWM"))
    p.send_signal(signal.SIGTERM)
    p.wait()
    shutil.rmtree(tmp)
    return got, wall, cpu, peak


def main():
    if "--no-build" not in sys.argv:
        build_release(("discard_loki",))
    payloads = [datagrams(s) for s in range(SENDERS)]
    total = SENDERS * MESSAGES
    size = sum(len(g) for p in payloads for g in p)
    loki_port = free_port()
    discard = subprocess.Popen([DISCARD, f"127.0.0.1:{loki_port}"])
    time.sleep(0.3)
    try:
        runs = sorted((run_once(loki_port, payloads) for _ in range(REPEAT)), key=lambda r: r[2])
        got, wall, cpu, peak = runs[len(runs) // 2]
        print("| senders | messages sent | received | datagrams MB | wall s | CPU s | messages per CPU-second | peak RSS MB |")
        print("|---|---|---|---|---|---|---|---|")
        print(f"| {SENDERS} | {total} | {got:.0f} | {size / 1e6:.0f} | {wall:.2f} | {cpu:.2f} | {got / cpu:,.0f} | {peak:.1f} |")
        print("all runs (received, CPU s, peak RSS MB): " + ", ".join(f"{r[0]:.0f}/{r[2]:.2f}/{r[3]:.1f}" for r in runs))
    finally:
        discard.terminate()
        discard.wait()


if __name__ == "__main__":
    main()
