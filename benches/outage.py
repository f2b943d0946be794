#!/usr/bin/env python3
"""Loki outage (issue 8, point 3): the release ferrotail with `backoff_config: {max_retries: 0}`
(retry forever; every other client setting Promtail's default) while lines are appended
continuously to a few files. The push endpoint is up for a warm-up, then down for --minutes:
connection refused for the first third, 500 for the second, 429 for the last; then up again.

Every 10 s it records lines written and received, bytes not yet read by ferrotail (file sizes
minus its promtail_read_bytes_total gauges: this grows while reading is paused), ferrotail's RSS,
and its push attempts by status (promtail_request_duration_seconds_count), retries and drops.
At the end it checks that every line arrived, once, in order per file, from the same process, and
counts the retry warnings in ferrotail's log.

The endpoint is in this script: it decodes each push (snappy block, then the lines are found in
the protobuf bytes, in push order) and answers 204, or the phase's status.

usage: python3 benches/outage.py [--minutes 10] [--files 4] [--rate 1000] [--max-period 5m]
Results go to stdout as Markdown; paste them into BENCHMARKS.md.
"""
import argparse, http.server, os, re, shutil, signal, subprocess, sys, tempfile, threading, time

from benchlib import BIN, ROOT, config, free_port, metric, metrics, status_mb

LINE = re.compile(rb"outage f(\d+) (\d{12}) ")


def snappy_decompress(buf):
    """Snappy's block format (what Loki's push API takes), in plain Python."""
    pos, n, shift = 0, 0, 0
    while True:
        b = buf[pos]; pos += 1
        n |= (b & 0x7F) << shift; shift += 7
        if b < 0x80:
            break
    out = bytearray()
    end = len(buf)
    while pos < end:
        tag = buf[pos]; pos += 1
        kind = tag & 3
        if kind == 0:
            ln = tag >> 2
            if ln >= 60:
                k = ln - 59
                ln = int.from_bytes(buf[pos:pos + k], "little"); pos += k
            ln += 1
            out += buf[pos:pos + ln]; pos += ln
            continue
        if kind == 1:
            ln = ((tag >> 2) & 7) + 4
            off = ((tag >> 5) << 8) | buf[pos]; pos += 1
        elif kind == 2:
            ln = (tag >> 2) + 1
            off = int.from_bytes(buf[pos:pos + 2], "little"); pos += 2
        else:
            ln = (tag >> 2) + 1
            off = int.from_bytes(buf[pos:pos + 4], "little"); pos += 4
        start = len(out) - off
        if off >= ln:
            out += out[start:start + ln]
        else:
            while ln > 0:
                piece = out[start:start + min(off, ln)]
                out += piece; ln -= len(piece)
    if len(out) != n:
        raise ValueError(f"snappy: {len(out)} bytes, header says {n}")
    return bytes(out)


class Sink:
    """What the endpoint received: per file, the sequence numbers seen and the order they came in."""

    def __init__(self, files):
        self.lock = threading.Lock()
        self.seen = [bytearray() for _ in range(files)]
        self.last = [-1] * files
        self.received = self.unique = self.dups = self.out_of_order = 0
        self.pushes = {}

    def count(self, status):
        with self.lock:
            self.pushes[status] = self.pushes.get(status, 0) + 1

    def take(self, raw):
        found = [(int(f), int(s)) for f, s in LINE.findall(raw)]
        with self.lock:
            for f, s in found:
                self.received += 1
                seen = self.seen[f]
                if s >= len(seen):
                    seen.extend(b"\0" * (s + 1 - len(seen) + 65536))
                if seen[s]:
                    self.dups += 1
                else:
                    seen[s] = 1
                    self.unique += 1
                if s != self.last[f] + 1:
                    self.out_of_order += 1
                self.last[f] = s


class Endpoint:
    """The push endpoint; `phase` is "up", "refused" (not listening), "500" or "429"."""

    def __init__(self, port, sink):
        self.port, self.sink, self.phase, self.server = port, sink, "refused", None

    def set(self, phase):
        if phase == "refused":
            if self.server:
                self.server.shutdown(); self.server.server_close(); self.server = None
        elif self.server is None:
            ep = self

            class H(http.server.BaseHTTPRequestHandler):
                def do_POST(self):
                    body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                    phase = ep.phase
                    if phase in ("500", "429"):
                        ep.sink.count(phase)
                        msg = b"outage: scripted " + phase.encode()
                        self.send_response(int(phase)); self.send_header("Content-Length", str(len(msg))); self.end_headers()
                        self.wfile.write(msg)
                        return
                    ep.sink.take(snappy_decompress(body))
                    ep.sink.count("204")
                    self.send_response(204); self.end_headers()

                def log_message(self, *a):
                    pass

            class S(http.server.ThreadingHTTPServer):
                allow_reuse_address = True
                daemon_threads = True

            self.server = S(("127.0.0.1", self.port), H)
            threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.phase = phase


def rss_mb(pid):
    return status_mb(pid, "VmRSS")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10, help="length of the outage")
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--rate", type=int, default=1000, help="lines per second, all files together")
    ap.add_argument("--warmup", type=float, default=30, help="seconds with the endpoint up first")
    ap.add_argument("--max-period", default="", help="backoff_config.max_period (default: Promtail's 5m)")
    a = ap.parse_args()
    subprocess.check_call(["cargo", "build", "--release", "--bin", "ferrotail"], cwd=ROOT)
    tmp = tempfile.mkdtemp()
    logs = os.path.join(tmp, "logs"); os.makedirs(logs)
    lport, port = free_port(), free_port()
    sink = Sink(a.files)
    ep = Endpoint(lport, sink)
    ep.set("up")
    backoff = "      max_retries: 0\n" + (f"      max_period: {a.max_period}\n" if a.max_period else "")
    cfg = os.path.join(tmp, "config.yml")
    open(cfg, "w").write(config(tmp, lport, port, "outage", f"{logs}/*.log", client="    backoff_config:\n" + backoff))

    stderr_path = os.path.join(tmp, "stderr.log")
    p = subprocess.Popen([BIN, f"-config.file={cfg}"], stderr=open(stderr_path, "w"))
    for _ in range(200):
        if metrics(port):
            break
        time.sleep(0.05)
    start_time = metric(metrics(port), "process_start_time_seconds")
    paths = [os.path.join(logs, f"f{i}.log") for i in range(a.files)]
    handles = [open(pth, "a", buffering=1 << 16) for pth in paths]
    pad = "x" * 60
    seq = [0] * a.files
    written = 0

    outage = a.minutes * 60
    t0 = time.time()
    phases = [(0, "up"), (a.warmup, "refused"), (a.warmup + outage / 3, "500"),
              (a.warmup + 2 * outage / 3, "429"), (a.warmup + outage, "up")]
    append_until = a.warmup + outage + 60
    per_tick = max(1, a.rate // 100)
    rows = []
    rss_by_phase = {}
    recovered_at = None

    def sample(now, phase):
        text = metrics(port)
        read = sum(metric(text, "promtail_read_bytes_total", f'path="{pth}"') for pth in paths)
        size = sum(os.path.getsize(pth) for pth in paths)
        rss = rss_mb(p.pid)
        key = "outage" if phase in ("refused", "500", "429") else ("warm-up" if now < a.warmup else "after")
        rss_by_phase.setdefault(key, []).append(rss)
        att = {c: metric(text, "promtail_request_duration_seconds_count", f'status_code="{c}"') for c in ("-1", "500", "429")}
        row = (f"| {now:.0f} | {phase} | {written} | {sink.unique} | {(size - read) / 1e6:.1f} | {rss:.1f} | "
               f"{att['-1']:.0f} | {att['500']:.0f} | {att['429']:.0f} | "
               f"{metric(text, 'promtail_batch_retries_total'):.0f} | {metric(text, 'promtail_dropped_entries_total'):.0f} |")
        rows.append(row)
        print(row, flush=True)

    print(f"outage {outage:.0f} s, {a.files} files, {a.rate} lines/s; samples every 10 s", flush=True)
    print("| t (s) | endpoint | lines written | lines received | unread MB | RSS MB | attempts refused | 500 | 429 | retries | dropped |")
    print("|---|---|---|---|---|---|---|---|---|---|---|", flush=True)
    phase_i = 0
    next_sample = 0.0
    tick = t0
    while True:
        now = time.time() - t0
        while phase_i < len(phases) and now >= phases[phase_i][0]:
            ep.set(phases[phase_i][1])
            phase_i += 1
            if ep.phase == "up" and phase_i == len(phases):
                recovered_at = now
        if now < append_until:
            for _ in range(per_tick):
                f = written % a.files
                handles[f].write(f"outage f{f} {seq[f]:012d} {pad}\n")
                seq[f] += 1
                written += 1
            for h in handles:
                h.flush()
        elif sink.unique >= written or now > append_until + 900:
            break
        if now >= next_sample:
            sample(now, ep.phase)
            next_sample += 10
        tick += 0.01
        delay = tick - time.time()
        if delay > 0:
            time.sleep(delay)
    done = time.time() - t0
    sample(done, ep.phase)
    for h in handles:
        h.close()
    text = metrics(port)
    same_process = p.poll() is None and metric(text, "process_start_time_seconds") == start_time
    log = open(stderr_path).read()
    warns = {s: sum(1 for l in log.splitlines() if "error sending batch, will retry" in l and f"status={s} " in l + " ")
             for s in ("-1", "500", "429")}
    finals = sum(1 for l in log.splitlines() if "final error sending batch" in l)
    missing = written - sink.unique
    print()
    print(f"* lines written {written}, received {sink.received} ({sink.unique} distinct): "
          f"missing {missing}, duplicates {sink.dups}, out of order {sink.out_of_order}")
    print(f"* every line delivered once, in order per file: {'yes' if missing == 0 and sink.dups == 0 and sink.out_of_order == 0 else 'NO'}")
    print(f"* same process throughout (no restart): {'yes' if same_process else 'NO'}")
    for k in ("warm-up", "outage", "after"):
        v = rss_by_phase.get(k, [0])
        print(f"* RSS {k}: {min(v):.1f}-{max(v):.1f} MB")
    print(f"* endpoint answers: {dict(sorted(sink.pushes.items()))}")
    print(f"* retry warnings logged: refused {warns['-1']}, 500 {warns['500']}, 429 {warns['429']}; "
          f"final errors (drops) logged: {finals}; promtail_dropped_entries_total {metric(text, 'promtail_dropped_entries_total'):.0f}")
    if recovered_at is not None:
        print(f"* endpoint up again at t={recovered_at:.0f} s; last line received at t={done:.0f} s "
              f"(appending stopped at t={append_until:.0f} s)")
    p.send_signal(signal.SIGTERM); p.wait()
    ep.set("refused")
    shutil.rmtree(tmp)
    sys.exit(0 if missing == 0 and sink.dups == 0 and sink.out_of_order == 0 and same_process else 1)


if __name__ == "__main__":
    main()
