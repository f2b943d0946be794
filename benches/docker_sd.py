#!/usr/bin/env python3
"""Throughput of the `docker_sd_configs` source (release binary), for both ways it reads a
container: the json-file log tailed directly (`--driver=json-file`, dockerd's default driver) and
the Docker logs API (`--driver=local`: a driver without a readable json-file, so ferrotail falls
back to `GET /containers/<id>/logs`, as Promtail always does).

A busybox container (the local image `.ci/docker-setup.sh` builds with `docker import`) writes
N JSON lines like the seed's logger (about 190 bytes: timestamp, level, tag, message, context),
90% to stdout and 10% to stderr, then stays up. Only once all are in its log does ferrotail start,
with one `docker_sd_configs` job keeping that container, pushing to `examples/discard_loki`, so
the CPU measured is ferrotail's reading of the whole history (from the file, or streamed by
dockerd), not waiting for the container. "lines per CPU-second" is lines shipped
(`promtail_sent_entries_total`) divided by ferrotail's user+system CPU; dockerd's CPU is not
counted. Peak RSS is `VmHWM`.

usage: python3 benches/docker_sd.py [--no-build] [--driver=json-file|local|both] [--lines=N]
                                    [--repeat=N]
"""
import os, shutil, signal, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import BIN, DISCARD, ROOT, build_release, cpu_seconds, free_port, metric, metrics, status_mb

IMAGE = "ferrotail-test-busybox:latest"


def arg(name, default):
    return next((a.split("=", 1)[1] for a in sys.argv if a.startswith(f"--{name}=")), default)


LINES = int(arg("lines", "500000"))
REPEAT = int(arg("repeat", "3"))
DRIVERS = {"both": ["json-file", "local"]}.get(arg("driver", "both"), [arg("driver", "both")])
BIN = arg("bin", BIN)

# The container's program: busybox awk writing the lines, then a marker file, then sleeping.
AWK = r"""BEGIN {
  split("api db worker auth cache", tags, " ");
  split("request_completed user_logged_in cache_miss job_finished slow_query_detected", msgs, " ");
  srand(42);
  for (i = 0; i < N; i++) {
    lvl = (i % 10 == 9) ? "ERROR" : ((i % 10 == 8) ? "WARN" : "INFO");
    line = sprintf("{\"timestamp\":\"2026-12-05T10:%02d:%02d.%03dZ\",\"level\":\"%s\",\"tag\":\"%s\",\"message\":\"%s\",\"context\":{\"requestId\":\"req-%08x\",\"statusCode\":%d,\"durationMs\":%d}}",
                   int(i / 60000) % 60, int(i / 1000) % 60, i % 1000, lvl, tags[i % 5 + 1], msgs[i % 5 + 1],
                   int(rand() * 4294967295), (i % 7 == 0) ? 500 : 200, int(rand() * 3000));
    if (lvl == "ERROR") print line > "/dev/stderr"; else print line;
  }
}"""


def docker(*args, check=True):
    r = subprocess.run(["docker", *args], capture_output=True, text=True)
    if check and r.returncode != 0:
        sys.exit(f"docker {' '.join(args)}: {r.stderr.strip()}")
    return r.stdout.strip()


def start_container(driver):
    name = f"ferrotail-bench-{driver}-{os.getpid()}"
    docker("run", "-d", "--name", name, "--log-driver", driver, IMAGE, "sh", "-c",
           f"awk -v N={LINES} '{AWK}'; touch /tmp/done; exec sleep 3600")
    t0 = time.time()
    while docker("exec", name, "ls", "/tmp/done", check=False) != "/tmp/done":
        if time.time() - t0 > 600:
            sys.exit(f"{name}: the container did not write its lines in 10 minutes")
        time.sleep(0.5)
    return name


def config(tmp, loki_port, port, name):
    return f"""server:
  http_listen_address: 127.0.0.1
  http_listen_port: {port}
positions:
  filename: {tmp}/positions.yaml
clients:
  - url: http://127.0.0.1:{loki_port}/loki/api/v1/push
    batchwait: 1s
scrape_configs:
  - job_name: docker
    docker_sd_configs:
      - host: unix:///var/run/docker.sock
        refresh_interval: 5s
        filters:
          - name: name
            values: [{name}]
    relabel_configs:
      - source_labels: [__meta_docker_container_name]
        target_label: container
      - source_labels: [__meta_docker_container_log_stream]
        target_label: stream
"""


def run_once(driver, name, loki_port):
    tmp = tempfile.mkdtemp()
    port = free_port()
    path = os.path.join(tmp, "config.yml")
    open(path, "w").write(config(tmp, loki_port, port, name))
    t0 = time.time()
    p = subprocess.Popen([BIN, f"-config.file={path}", "-log.level=warn"], stderr=open(os.path.join(tmp, "stderr.log"), "w"))
    peak = 0.0
    try:
        while True:
            time.sleep(0.05)
            peak = max(peak, status_mb(p.pid, "VmHWM"))
            if metric(metrics(port), "promtail_sent_entries_total") >= LINES:
                break
            if p.poll() is not None:
                sys.exit(f"{driver}: ferrotail exited: " + open(os.path.join(tmp, "stderr.log")).read())
            if time.time() - t0 > 600:
                sys.exit(f"{driver}: not every line was shipped in 10 minutes")
        wall = time.time() - t0
        cpu = cpu_seconds(p.pid)
        peak = max(peak, status_mb(p.pid, "VmHWM"))
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait()
        shutil.rmtree(tmp)
    return cpu, f"| {driver} ({'API' if driver != 'json-file' else 'file'}) | {LINES} | {wall:.2f} | {cpu:.2f} | {LINES / cpu:,.0f} | {peak:.1f} |"


def main():
    if "--no-build" not in sys.argv and not any(a.startswith("--bin=") for a in sys.argv):
        build_release(("discard_loki",))
    subprocess.check_call(["bash", os.path.join(ROOT, ".ci/docker-setup.sh")])
    loki_port = free_port()
    discard = subprocess.Popen([DISCARD, f"127.0.0.1:{loki_port}"])
    time.sleep(0.3)
    names = []
    try:
        print(f"load average at start: {os.getloadavg()[0]:.1f}")
        print("| driver (read through) | lines | wall s | CPU s | lines per CPU-second | peak RSS MB |")
        print("|---|---|---|---|---|---|")
        for driver in DRIVERS:
            name = start_container(driver)
            names.append(name)
            runs = sorted(run_once(driver, name, loki_port) for _ in range(REPEAT))
            print(runs[len(runs) // 2][1], flush=True)
        print(f"load average at end: {os.getloadavg()[0]:.1f}")
    finally:
        for n in names:
            docker("rm", "-f", n, check=False)
        discard.terminate()


if __name__ == "__main__":
    main()
