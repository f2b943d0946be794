"""Helpers shared by the benchmark scripts (shipper/run.py, soak.py, outage.py): where the release
binaries are, free ports, /metrics and /proc readings, and the config every script starts from."""
import os, socket, subprocess, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
BIN = os.path.join(TARGET, "release", "ferrotail")
DISCARD = os.path.join(TARGET, "release", "examples", "discard_loki")
TICKS = os.sysconf("SC_CLK_TCK")


def build_release(examples=("discard_loki",)):
    """Builds the release binary as `cargo build --release --bin ferrotail` builds it, then the
    examples in a second command: built together, the examples' dev-dependencies change the
    features of shared crates, so the binary's function names (hashes) differ from the release
    build's and link/symbol-order.txt no longer applies to it (about 2.5 MB more resident code)."""
    subprocess.check_call(["cargo", "build", "--release", "--bin", "ferrotail"], cwd=ROOT)
    args = ["cargo", "build", "--release"]
    for e in examples:
        args += ["--example", e]
    subprocess.check_call(args, cwd=ROOT)


def spawn(tmp, text, env=None):
    """Writes `text` as `<tmp>/config.yml` and starts the release binary on it (warnings and
    errors to `<tmp>/stderr.log`)."""
    path = os.path.join(tmp, "config.yml")
    with open(path, "w") as f:
        f.write(text)
    return subprocess.Popen([BIN, f"-config.file={path}", "-log.level=warn"], env=env,
                            stderr=open(os.path.join(tmp, "stderr.log"), "w"))


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def metrics(port, timeout=5):
    """The text of ferrotail's /metrics, or "" while it does not answer."""
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout).read().decode()
    except Exception:
        return ""


def metric(text, name, needle=""):
    """The sum of every series of `name` (whose line contains `needle`)."""
    return sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines()
               if (l.startswith(name + "{") or l.startswith(name + " ")) and needle in l)


def status_mb(pid, field):
    """A `/proc/<pid>/status` memory field (VmRSS, VmHWM) in MB."""
    for l in open(f"/proc/{pid}/status"):
        if l.startswith(field + ":"):
            return int(l.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / TICKS


def config(tmp, loki_port, port, job, glob, client="", top="", stages=""):
    """A config with one static_configs job over `glob`; `client` is indented under the client,
    `top` is added at the top level, `stages` under the job's pipeline_stages."""
    return f"""server:
  http_listen_address: 127.0.0.1
  http_listen_port: {port}
positions:
  filename: {tmp}/positions.yaml
clients:
  - url: http://127.0.0.1:{loki_port}/loki/api/v1/push
{client}{top}scrape_configs:
  - job_name: {job}
    static_configs:
      - targets: [localhost]
        labels:
          job: {job}
          __path__: {glob}
""" + (f"    pipeline_stages:\n{stages}" if stages else "")
