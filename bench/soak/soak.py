#!/usr/bin/env python3
"""Bounded soak of a local llm-scheduler + llm-worker cluster (issue 6 item 7).

Starts a cluster with the real model (deploy/local/start-cluster.sh), measures
its capacity for the request mix of bench/soak/load.py with a closed loop of
--capacity-concurrency clients (unless --rate is given), then sends that mix
open loop (Poisson arrivals) at --load-fraction of the capacity for
--duration seconds. Every --sample-interval seconds it records the
scheduler's and workers' RSS (/proc/PID/status), the scheduler's
llm_kv_cache_blocks_used / running / waiting gauges and llm_requests_total,
and the requests that ended in the window by status with client-side TTFT and
end-to-end latency percentiles.

At the end, with the load stopped and the cluster idle, it checks:
  - llm_kv_cache_blocks_used is back to 0 (no leaked KV blocks);
  - every process's RSS is flat: mean of the last quarter of the samples minus
    the first quarter's within max(--rss-tolerance-mib, --rss-tolerance-frac);
  - no request ended with a status its kind does not expect (client side), and
    the scheduler counted only OK, CANCELLED, DEADLINE_EXCEEDED and
    INVALID_ARGUMENT (server side);
  - no process died.
It writes docs/perf/soak.md (or --report) with the table over time, plus
soak-samples.csv and soak.png beside it, and exits 1 when a check failed.

    python3 bench/soak/soak.py                         # 30 min at 80% of capacity
    python3 bench/soak/soak.py --duration 180 --report /tmp/soak.md
    python3 bench/soak/soak.py --rate 1.5 --duration 600

Not part of CI: it runs for as long as --duration says.
"""

import argparse
import concurrent.futures
import datetime
import os
import platform
import random
import shlex
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster as cl  # noqa: E402
import load  # noqa: E402
import report  # noqa: E402

EXPECTED_SERVER_CODES = {"OK", "CANCELLED", "DEADLINE_EXCEEDED", "INVALID_ARGUMENT"}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=1800, help="soak seconds [1800]")
    p.add_argument("--rate", type=float, help="requests/s; default: --load-fraction x measured capacity")
    p.add_argument("--load-fraction", type=float, default=0.8, help="of the measured capacity [0.8]")
    p.add_argument("--capacity-seconds", type=float, default=60, help="closed-loop capacity run [60]")
    p.add_argument("--capacity-concurrency", type=int, default=16, help="clients in that run [16]")
    p.add_argument("--sample-interval", type=float, default=10, help="seconds between samples [10]")
    p.add_argument("--max-inflight", type=int, default=256,
                   help="client-side bound on open calls; arrivals beyond it are counted as skipped")
    p.add_argument("--bin-dir", default=os.environ.get("LLM_BIN_DIR", os.path.join(load.REPO, "build", "bin")))
    p.add_argument("--model", default=os.environ.get(
        "LLM_MODEL", os.path.join(load.REPO, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")))
    p.add_argument("--workers", type=int, default=1, help="llm-worker processes [1]")
    p.add_argument("--threads", type=int, default=0, help="CPU threads per worker, 0 = one per core [0]")
    p.add_argument("--log-dir", default="/tmp/llm-soak", help="process logs [/tmp/llm-soak]")
    p.add_argument("--report", default=os.path.join(load.REPO, "docs", "perf", "soak.md"))
    p.add_argument("--rss-tolerance-mib", type=float, default=16.0)
    p.add_argument("--rss-tolerance-frac", type=float, default=0.05)
    p.add_argument("--idle-timeout", type=float, default=120, help="seconds to wait for idle at the end")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--notes", default="", help="free text for the report (e.g. what else loaded the machine)")
    p.add_argument("scheduler_args", nargs="*", help="extra llm-scheduler flags (after --)")
    return p.parse_args()


def run_one(client, kind, rng, log):
    try:
        client.run(kind, rng)
    except Exception as e:  # a client bug must show up as an unexpected outcome
        now = time.monotonic()
        log.add(load.Outcome(kind, "CLIENT_ERROR", now, now, None, 0, False, repr(e)[:200]))


def measure_capacity(client, cluster, log, seconds, concurrency, rng):
    """Sustainable requests/s of the mix, from a closed loop of `concurrency` clients.

    Counting requests that complete in a closed loop would overstate it: the
    cheap kinds (rejected, cancelled, deadline) come back fast and dominate
    the count. So capacity is measured in generated tokens/s (the scheduler's
    llm_generation_tokens_total over the window after a warm-up) and turned
    into requests/s with the mix's mean tokens per request (each kind's mean
    from this run, weighted by the kind's share). Returns (requests/s,
    tokens/s, mean tokens per request).
    """
    start_index = len(log.all())
    t_start = time.monotonic()
    end = t_start + seconds
    warm_s = min(15.0, seconds / 4)
    seeds = [rng.getrandbits(64) for _ in range(concurrency)]

    def loop(seed):
        r = random.Random(seed)
        while time.monotonic() < end:
            run_one(client, load.pick_kind(r), r, log)

    threads = [threading.Thread(target=loop, args=(s,)) for s in seeds]
    for t in threads:
        t.start()
    time.sleep(warm_s)
    tok0 = cl.metric(cl.scrape_metrics(cluster.metrics_url), "llm_generation_tokens_total")
    t0 = time.monotonic()
    time.sleep(max(0.0, end - t0))
    tok1 = cl.metric(cl.scrape_metrics(cluster.metrics_url), "llm_generation_tokens_total")
    tokens_per_s = (tok1 - tok0) / max(1e-9, time.monotonic() - t0)
    for t in threads:
        t.join()
    per_kind = {}
    for o in log.since(start_index)[0]:
        per_kind.setdefault(o.kind, []).append(o.tokens)
    mean_tokens = sum(w * (sum(per_kind[k]) / len(per_kind[k]) if per_kind.get(k) else 0.0)
                      for k, (w, _) in load.KINDS.items())
    return tokens_per_s / max(1e-9, mean_tokens), tokens_per_s, mean_tokens


class Sampler:
    """Takes one sample dict per interval from the cluster and the outcome log."""

    def __init__(self, cluster, log, interval):
        self.cluster, self.log, self.interval = cluster, log, interval
        self.samples = []
        self.arrivals = 0
        self._arrivals_lock = threading.Lock()
        self._log_pos = len(log.all())
        self._t0 = time.monotonic()
        self._last_arrivals = 0

    def count_arrival(self):
        with self._arrivals_lock:
            self.arrivals += 1

    def sample(self):
        now = time.monotonic()
        outcomes, self._log_pos = self.log.since(self._log_pos)
        by_status = {}
        for o in outcomes:
            by_status[o.status] = by_status.get(o.status, 0) + 1
        ok = [o for o in outcomes if o.status == "OK" and o.kind in ("normal", "n_gt_1")]
        ttft = [o.ttft for o in ok if o.ttft is not None]
        e2e = [o.end - o.start for o in ok]
        try:
            m = cl.scrape_metrics(self.cluster.metrics_url)
            gauges = {k: cl.metric(m, f"llm_{k}") for k in
                      ("kv_cache_blocks_used", "kv_cache_blocks_total", "requests_running",
                       "requests_waiting")}
            codes = cl.requests_by_code(m)
        except OSError as e:
            print(f"soak: scrape failed: {e}", file=sys.stderr)
            gauges, codes = {}, {}
        with self._arrivals_lock:
            arrivals, self._last_arrivals = self.arrivals - self._last_arrivals, self.arrivals
        s = {
            "t": now - self._t0, "interval": self.interval, "arrivals": arrivals,
            "done": len(outcomes), "by_status": by_status,
            "unexpected": sum(1 for o in outcomes if not o.expected),
            "unexpected_examples": [f"{o.kind}:{o.status}:{o.detail}" for o in outcomes
                                    if not o.expected][:3],
            "ttft_p50": report.percentile(ttft, 50), "ttft_p90": report.percentile(ttft, 90),
            "ttft_p99": report.percentile(ttft, 99), "e2e_p50": report.percentile(e2e, 50),
            "e2e_p90": report.percentile(e2e, 90), "e2e_p99": report.percentile(e2e, 99),
            "tokens_per_s": sum(o.tokens for o in outcomes) / self.interval,
            "blocks_used": gauges.get("kv_cache_blocks_used"),
            "blocks_total": gauges.get("kv_cache_blocks_total"),
            "running": gauges.get("requests_running"), "waiting": gauges.get("requests_waiting"),
            "server_codes": codes,
            "rss": {n: cl.rss_mib(p) for n, p in
                    zip(self.cluster.process_names(), self.cluster.pids)},
            "dead": self.cluster.alive(),
        }
        self.samples.append(s)
        st = " ".join(f"{k}={v}" for k, v in sorted(by_status.items()))
        rss = " ".join(f"{k}={v:.0f}" for k, v in s["rss"].items() if v is not None)
        print(f"soak: t={s['t']:6.0f}s arrivals={arrivals} ended={len(outcomes)} [{st}] "
              f"unexpected={s['unexpected']} ttft_p50={s['ttft_p50']} blocks={s['blocks_used']} "
              f"running={s['running']} waiting={s['waiting']} rss[{rss}]", flush=True)
        return s


def open_loop(client, log, sampler, rate, duration, max_inflight, rng):
    """Poisson arrivals at `rate` for `duration` s, sampling as it goes. Returns skipped arrivals."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max_inflight)
    inflight = threading.BoundedSemaphore(max_inflight)
    skipped = 0
    start = time.monotonic()
    end = start + duration
    next_arrival = start
    next_sample = start + sampler.interval

    def task(kind, seed):
        try:
            run_one(client, kind, random.Random(seed), log)
        finally:
            inflight.release()

    while True:
        now = time.monotonic()
        if now >= next_sample:
            sampler.sample()
            next_sample += sampler.interval
            continue
        if next_arrival >= end:
            if now >= end:
                break
            time.sleep(min(end, next_sample) - now)
            continue
        if now < next_arrival:
            time.sleep(min(next_arrival, next_sample) - now)
            continue
        next_arrival += rng.expovariate(rate)
        sampler.count_arrival()
        if not inflight.acquire(blocking=False):
            skipped += 1
            continue
        pool.submit(task, load.pick_kind(rng), rng.getrandbits(64))
    pool.shutdown(wait=True)  # let every open call end (deadlines bound them)
    return skipped


def wait_idle(cluster, timeout):
    """Polls /metrics until nothing runs or waits; returns the last scrape's gauges."""
    deadline = time.monotonic() + timeout
    g = {}
    while True:
        m = cl.scrape_metrics(cluster.metrics_url)
        g = {k: cl.metric(m, f"llm_{k}") for k in
             ("kv_cache_blocks_used", "requests_running", "requests_waiting")}
        if (g["requests_running"] == 0 and g["requests_waiting"] == 0
                and g["kv_cache_blocks_used"] == 0) or time.monotonic() > deadline:
            return g
        time.sleep(1)


def machine_info():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    with open("/proc/meminfo") as f:
        mem_kb = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
    return f"{cpu}, {os.cpu_count()} cores, {mem_kb / 2**20:.0f} GiB RAM, Linux {platform.release()}"


def commit_info():
    def git(*a):
        return subprocess.run(["git", "-C", load.REPO, *a], capture_output=True, text=True).stdout.strip()
    rev = git("rev-parse", "--short", "HEAD") or "?"
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return rev + (" + uncommitted changes in the working tree" if dirty else "")


def main():
    args = parse_args()
    rng = random.Random(args.seed)
    info = {"date": datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M"),
            "machine": machine_info(), "commit": commit_info(),
            "command": "`" + " ".join(shlex.quote(a) for a in sys.argv) + "`",
            "binaries": args.bin_dir, "notes": args.notes}
    load_start = os.getloadavg()
    cluster = cl.LocalCluster(args.bin_dir, args.model, args.workers, args.threads,
                              args.log_dir, args.scheduler_args)
    print(f"soak: starting {args.workers} worker(s) + scheduler at {cluster.server}", flush=True)
    cluster.start()
    info["cluster"] = (f"{args.workers} llm-worker (--threads {args.threads}) + llm-scheduler "
                       f"{' '.join(args.scheduler_args)} on loopback, logs in {args.log_dir}")
    log = load.OutcomeLog()
    with tempfile.TemporaryDirectory(prefix="llm-soak-stubs-") as stub_dir:
        pb2, pb2_grpc = load.load_stubs(stub_dir)
        client = load.Client(pb2, pb2_grpc, cluster.server, log)
        try:
            rate = args.rate
            if rate is None:
                capacity, toks, mean_tokens = measure_capacity(
                    client, cluster, log, args.capacity_seconds, args.capacity_concurrency, rng)
                rate = args.load_fraction * capacity
                info["capacity"] = (f"{toks:.0f} generated tokens/s with "
                                    f"{args.capacity_concurrency} closed-loop clients sending the "
                                    f"mix for {args.capacity_seconds:.0f} s; the mix averages "
                                    f"{mean_tokens:.1f} generated tokens per request, so "
                                    f"{capacity:.2f} requests/s")
                print(f"soak: {info['capacity']}; soaking at {rate:.2f} requests/s", flush=True)
            else:
                info["capacity"] = "not measured (--rate given)"
            info["load"] = (f"{rate:.2f} requests/s Poisson arrivals for {args.duration / 60:.1f} min"
                            + ("" if args.rate else f" ({args.load_fraction:.0%} of capacity)"))
            info["mix"] = ", ".join(f"{k} {w:.0%} (expects {'/'.join(sorted(c))})"
                                    for k, (w, c) in load.KINDS.items())
            sampler = Sampler(cluster, log, args.sample_interval)
            codes_before = cl.requests_by_code(cl.scrape_metrics(cluster.metrics_url))
            skipped = open_loop(client, log, sampler, rate, args.duration, args.max_inflight, rng)
            idle = wait_idle(cluster, args.idle_timeout)
            sampler.sample()  # the idle sample closes the table
        finally:
            client.close()
    final_codes = sampler.samples[-1]["server_codes"]
    dead = sampler.samples[-1]["dead"]
    cluster.stop()
    load_end = os.getloadavg()

    names = cluster.process_names()
    soak_samples = sampler.samples[:-1] or sampler.samples
    checks = [{"name": "KV blocks back to 0 when idle",
               "ok": idle["kv_cache_blocks_used"] == 0,
               "detail": f"llm_kv_cache_blocks_used={idle['kv_cache_blocks_used']:.0f}, "
                         f"running={idle['requests_running']:.0f}, waiting={idle['requests_waiting']:.0f}"
                         f" after the load stopped"}]
    for n in names:
        tr = report.rss_trend(soak_samples, n)
        if tr is None:
            checks.append({"name": f"{n} RSS flat", "ok": False, "detail": "too few samples"})
            continue
        tol = max(args.rss_tolerance_mib, args.rss_tolerance_frac * tr["first_q"])
        checks.append({"name": f"{n} RSS flat", "ok": tr["diff"] <= tol,
                       "detail": f"first quarter {tr['first_q']:.1f} MiB, last quarter "
                                 f"{tr['last_q']:.1f} MiB (diff {tr['diff']:+.1f}, tolerance "
                                 f"{tol:.1f}); slope {tr['slope_mib_per_h']:+.1f} MiB/h, second half "
                                 f"{tr['slope_second_half_mib_per_h']:+.1f} MiB/h; "
                                 f"min {tr['min']:.1f}, max {tr['max']:.1f}"})
    outcomes = log.all()
    bad = [o for o in outcomes if not o.expected]
    examples = "; ".join(sorted({f"{o.kind}->{o.status} {o.detail}" for o in bad})[:5])
    checks.append({"name": "client: only expected statuses", "ok": not bad,
                   "detail": f"{len(bad)} unexpected of {len(outcomes)}" + (f": {examples}" if bad else "")})
    server_delta = {c: final_codes.get(c, 0) - codes_before.get(c, 0) for c in final_codes}
    odd = {c: v for c, v in server_delta.items() if v and c not in EXPECTED_SERVER_CODES}
    checks.append({"name": "server: only expected codes in llm_requests_total", "ok": not odd,
                   "detail": ", ".join(f"{c}={v:.0f}" for c, v in sorted(server_delta.items()) if v)})
    checks.append({"name": "no process died", "ok": not dead,
                   "detail": "all running at the end" if not dead else f"exited: {', '.join(dead)}"})
    # A check of the run, not of the server: with arrivals skipped the load
    # offered was less than --rate says.
    checks.append({"name": "load generator kept up (run validity)", "ok": skipped == 0,
                   "detail": f"{skipped} arrivals skipped (more than --max-inflight open calls)"})

    by = {}
    for o in outcomes:
        by.setdefault(o.kind, {}).setdefault(o.status, 0)
        by[o.kind][o.status] += 1
    soak_ok = [o for o in outcomes if o.status == "OK" and o.kind in ("normal", "n_gt_1")
               and o.start >= sampler._t0]
    info["totals"] = {
        "requests by kind and status (capacity run included)":
            "; ".join(f"{k}: " + ", ".join(f"{s} {c}" for s, c in sorted(v.items()))
                      for k, v in sorted(by.items())),
        "soak-phase TTFT p50/p90/p99 (s)": "/".join(report._fmt(report.percentile(
            [o.ttft for o in soak_ok if o.ttft is not None], q)) for q in (50, 90, 99)),
        "soak-phase e2e p50/p90/p99 (s)": "/".join(report._fmt(report.percentile(
            [o.end - o.start for o in soak_ok], q)) for q in (50, 90, 99)),
        "load average (1/5/15 min) at start / end": f"{load_start} / {load_end}",
    }
    report.write_all(args.report, info, sampler.samples, names, checks)
    print(f"soak: report in {args.report}")
    for c in checks:
        print(f"soak: {'PASS' if c['ok'] else 'FAIL'} {c['name']}: {c['detail']}")
    return 0 if all(c["ok"] for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
