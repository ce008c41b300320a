"""A local cluster for the soak, and what the soak reads from it.

LocalCluster starts llm-workers and llm-scheduler with
deploy/local/start-cluster.sh --detach on free loopback ports, remembers their
pids (for /proc/PID/status) and stops them, scheduler first so it drains.
scrape_metrics() reads a Prometheus text page; rss_mib() a process's VmRSS.

Thread-safety: LocalCluster is driven from one thread; scrape_metrics and
rss_mib are free functions safe to call from any thread.
"""

import os
import random
import re
import signal
import socket
import subprocess
import time
import urllib.request

from load import REPO

_SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)')
_LABEL_RE = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def _ports_free(ports):
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def _pick_base_ports(workers):
    """A gRPC and a metrics base port such that every port start-cluster.sh derives is free."""
    for _ in range(200):
        port = random.randint(20000, 40000)
        mport = port + 1000
        wanted = [port] + [port + 10 + i for i in range(workers)]
        wanted += [mport] + [mport + 1 + i for i in range(workers)]
        if _ports_free(wanted):
            return port, mport
    raise RuntimeError("no free loopback ports found")


class LocalCluster:
    def __init__(self, bin_dir, model, workers, threads, log_dir, scheduler_args=()):
        self.bin_dir = os.path.abspath(bin_dir)
        self.model = os.path.abspath(model)
        self.workers = workers
        self.threads = threads
        self.log_dir = log_dir
        self.scheduler_args = list(scheduler_args)
        self.port, self.metrics_port = _pick_base_ports(workers)
        self.pids = []         # workers first, scheduler last (start-cluster.sh's order)

    @property
    def server(self):
        return f"127.0.0.1:{self.port}"

    @property
    def metrics_url(self):
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def process_names(self):
        return [f"worker{i}" for i in range(self.workers)] + ["scheduler"]

    def start(self):
        os.makedirs(self.log_dir, exist_ok=True)
        env = dict(os.environ, LLM_BIN_DIR=self.bin_dir, LLM_MODEL=self.model,
                   LOG_DIR=self.log_dir)
        cmd = [os.path.join(REPO, "deploy", "local", "start-cluster.sh"), "--detach",
               "--workers", str(self.workers), "--threads", str(self.threads),
               "--port", str(self.port), "--metrics-port", str(self.metrics_port)]
        if self.scheduler_args:
            cmd += ["--"] + self.scheduler_args
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, timeout=300)
        with open(os.path.join(self.log_dir, "pids")) as f:
            self.pids = [int(line) for line in f if line.strip()]
        if len(self.pids) != self.workers + 1:
            raise RuntimeError(f"expected {self.workers + 1} pids, got {self.pids}")

    def alive(self):
        """Names of the processes that have exited (empty when all run)."""
        dead = []
        for name, pid in zip(self.process_names(), self.pids):
            try:
                os.kill(pid, 0)
                with open(f"/proc/{pid}/stat") as f:
                    if f.read().split(")")[-1].split()[0] == "Z":
                        dead.append(name)
            except (ProcessLookupError, FileNotFoundError):
                dead.append(name)
        return dead

    def stop(self, grace_s=60):
        # Scheduler first so it drains, then the workers.
        for pid in reversed(self.pids):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            deadline = time.monotonic() + grace_s
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                # The processes were started by a shell that has exited, so
                # they are not our children: poll instead of waitpid.
                time.sleep(0.2)
            else:
                os.kill(pid, signal.SIGKILL)


def rss_mib(pid):
    """Resident set size of pid in MiB (VmRSS), or None when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except FileNotFoundError:
        return None
    return None


def scrape_metrics(url, timeout=5):
    """{(name, frozenset(labels.items())): value} of one Prometheus text page."""
    with urllib.request.urlopen(url, timeout=timeout) as r:
        text = r.read().decode("utf-8", "replace")
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE_RE.match(line)
        if not m:
            continue
        labels = frozenset(_LABEL_RE.findall(m.group(2) or ""))
        try:
            out[(m.group(1), labels)] = float(m.group(3))
        except ValueError:
            pass
    return out


def metric(samples, name, **labels):
    """Sum of the samples of name whose labels include the given ones."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


def requests_by_code(samples):
    """{code: count} from llm_requests_total."""
    out = {}
    for (n, ls), v in samples.items():
        if n == "llm_requests_total":
            code = dict(ls).get("code", "?")
            out[code] = out.get(code, 0) + v
    return out
