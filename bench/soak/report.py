"""Soak analysis and report: the checks, docs/perf/soak.md, the CSV and the plot.

Pure functions over the sample dicts bench/soak/soak.py collects (one every
--sample-interval seconds); no state, safe from any thread.
"""

import csv
import os


def percentile(values, q):
    """Nearest-rank percentile (q in 0..100) of values; None when empty."""
    if not values:
        return None
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(round(q / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


def linear_slope(xs, ys):
    """Least-squares slope dy/dx; 0 with fewer than two points."""
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    den = sum((x - mx) ** 2 for x in xs)
    return 0.0 if den == 0 else sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den


def rss_trend(samples, name):
    """{first_q, last_q, diff, slope_mib_per_h} of a process's RSS over the soak samples."""
    pts = [(s["t"], s["rss"][name]) for s in samples if s["rss"].get(name) is not None]
    if len(pts) < 4:
        return None
    q = max(1, len(pts) // 4)
    first = sum(y for _, y in pts[:q]) / q
    last = sum(y for _, y in pts[-q:]) / q
    # The second half's slope separates a leak (keeps rising) from a high-water
    # mark reached once under a burst (a step, then flat).
    half = pts[len(pts) // 2:]
    return {"first_q": first, "last_q": last, "diff": last - first,
            "slope_mib_per_h": linear_slope([x for x, _ in pts], [y for _, y in pts]) * 3600,
            "slope_second_half_mib_per_h":
                linear_slope([x for x, _ in half], [y for _, y in half]) * 3600,
            "min": min(y for _, y in pts), "max": max(y for _, y in pts)}


def _fmt(x, scale=1.0, digits=2):
    return "-" if x is None else f"{x * scale:.{digits}f}"


def write_csv(path, samples, names):
    cols = (["t_s", "arrivals", "done", "ok", "cancelled", "deadline", "invalid", "other",
             "unexpected", "ttft_p50_s", "ttft_p90_s", "ttft_p99_s", "e2e_p50_s", "e2e_p90_s",
             "e2e_p99_s", "tokens_per_s", "blocks_used", "blocks_total", "running", "waiting"]
            + [f"rss_{n}_mib" for n in names])
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for s in samples:
            st = s["by_status"]
            w.writerow([f"{s['t']:.1f}", s["arrivals"], s["done"], st.get("OK", 0),
                        st.get("CANCELLED", 0), st.get("DEADLINE_EXCEEDED", 0),
                        st.get("INVALID_ARGUMENT", 0),
                        sum(v for k, v in st.items() if k not in
                            ("OK", "CANCELLED", "DEADLINE_EXCEEDED", "INVALID_ARGUMENT")),
                        s["unexpected"]] +
                       [_fmt(s[k], digits=4) for k in ("ttft_p50", "ttft_p90", "ttft_p99",
                                                       "e2e_p50", "e2e_p90", "e2e_p99")] +
                       [f"{s['tokens_per_s']:.1f}", _fmt(s["blocks_used"], digits=0),
                        _fmt(s["blocks_total"], digits=0), _fmt(s["running"], digits=0),
                        _fmt(s["waiting"], digits=0)] +
                       [_fmt(s["rss"].get(n), digits=1) for n in names])


def plot(path, samples, names, title):
    """PNG with RSS, KV blocks, latency percentiles and request outcomes over time."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    t = [s["t"] / 60.0 for s in samples]
    fig, ax = plt.subplots(4, 1, figsize=(10, 13), sharex=True)
    # Change since the first sample, so a slow growth of either process shows
    # at the same scale (the worker's RSS is ~30x the scheduler's).
    for n in names:
        rss = [s["rss"].get(n) for s in samples]
        first = next((r for r in rss if r is not None), 0.0)
        ax[0].plot(t, [None if r is None else r - first for r in rss],
                   label=f"{n} (first sample {first:.0f} MiB)")
    ax[0].set_ylabel("RSS change (MiB)")
    ax[0].legend(loc="upper left")
    ax[1].plot(t, [s["blocks_used"] for s in samples], label="llm_kv_cache_blocks_used")
    ax[1].plot(t, [s["running"] for s in samples], label="llm_requests_running")
    ax[1].plot(t, [s["waiting"] for s in samples], label="llm_requests_waiting")
    ax[1].set_ylabel("count")
    ax[1].legend(loc="upper right")
    for key, style in (("ttft_p50", "b-"), ("ttft_p90", "b--"), ("e2e_p50", "r-"),
                       ("e2e_p90", "r--"), ("e2e_p99", "r:")):
        ax[2].plot(t, [s[key] for s in samples], style, label=key.replace("_", " "))
    ax[2].set_ylabel("seconds (client side)")
    ax[2].legend(loc="upper right")
    codes = ["OK", "CANCELLED", "DEADLINE_EXCEEDED", "INVALID_ARGUMENT"]
    for c in codes:
        ax[3].plot(t, [s["by_status"].get(c, 0) / s["interval"] for s in samples], label=c)
    ax[3].plot(t, [s["unexpected"] / s["interval"] for s in samples], "k-", label="unexpected")
    ax[3].set_ylabel("requests/s ended")
    ax[3].set_xlabel("minutes since the soak started")
    ax[3].legend(loc="upper right")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def markdown(info, samples, names, checks, table_rows=36):
    """docs/perf/soak.md text."""
    L = []
    verdict = "PASS" if all(c["ok"] for c in checks) else "FAIL"
    L.append("# Soak: mixed load on a local cluster\n")
    L.append(f"Written by `bench/soak/soak.py` on {info['date']} (UTC). Result: **{verdict}**.\n")
    L.append("## Checks\n")
    L.append("| check | result | detail |\n| --- | --- | --- |")
    for c in checks:
        L.append(f"| {c['name']} | {'pass' if c['ok'] else '**FAIL**'} | {c['detail']} |")
    L.append("")
    L.append("## Setup\n")
    for k in ("machine", "commit", "command", "binaries", "cluster", "capacity", "load", "mix",
              "notes"):
        if info.get(k):
            L.append(f"- **{k}**: {info[k]}")
    L.append("")
    L.append("## Totals\n")
    for k, v in info["totals"].items():
        L.append(f"- {k}: {v}")
    L.append("")
    L.append("## Over time\n")
    step = max(1, len(samples) // table_rows)
    L.append(f"One row every {step} sample(s) of {samples[0]['interval']:.0f} s"
             " (all samples: `soak-samples.csv`). Latencies are client-side, over the"
             " `normal` and `n_gt_1` requests that ended OK in the row's window;"
             " ended = requests that finished in the window, by status.\n")
    hdr = (["min", "arrivals/s", "ended", "OK", "CANC", "DEADL", "INVAL", "unexp",
            "TTFT p50", "TTFT p90", "TTFT p99", "e2e p50", "e2e p90", "e2e p99", "tok/s",
            "blocks", "run", "wait"] + [f"RSS {n} MiB" for n in names])
    L.append("| " + " | ".join(hdr) + " |")
    L.append("|" + " --- |" * len(hdr))
    rows = samples[::step]
    if samples and rows[-1] is not samples[-1]:
        rows.append(samples[-1])
    for s in rows:
        st = s["by_status"]
        L.append("| " + " | ".join(
            [f"{s['t'] / 60:.1f}", f"{s['arrivals'] / s['interval']:.2f}", str(s["done"]),
             str(st.get("OK", 0)), str(st.get("CANCELLED", 0)),
             str(st.get("DEADLINE_EXCEEDED", 0)), str(st.get("INVALID_ARGUMENT", 0)),
             str(s["unexpected"])] +
            [_fmt(s[k]) for k in ("ttft_p50", "ttft_p90", "ttft_p99",
                                   "e2e_p50", "e2e_p90", "e2e_p99")] +
            [f"{s['tokens_per_s']:.0f}", _fmt(s["blocks_used"], digits=0),
             _fmt(s["running"], digits=0), _fmt(s["waiting"], digits=0)] +
            [_fmt(s["rss"].get(n), digits=1) for n in names]) + " |")
    L.append("")
    if info.get("plot"):
        L.append("## Plot\n")
        L.append(f"![soak over time]({info['plot']})\n")
    L.append("## How to run\n")
    L.append("```sh\n# Release binaries in build/bin (scripts/setup.sh), model in models/\n"
             "python3 bench/soak/soak.py --duration 1800            # measure capacity, then 30 min at 80%\n"
             "python3 bench/soak/soak.py --duration 180 --rate 2     # a quick run at a fixed rate\n"
             "```\n")
    L.append("The soak is not part of CI (scripts/test.sh): it takes as long as `--duration`.\n")
    return "\n".join(L)


def write_all(out_md, info, samples, names, checks):
    """Writes soak.md, soak-samples.csv and soak.png (when matplotlib imports) next to each other."""
    d = os.path.dirname(os.path.abspath(out_md))
    base = os.path.splitext(os.path.basename(out_md))[0]
    write_csv(os.path.join(d, f"{base}-samples.csv"), samples, names)
    try:
        plot(os.path.join(d, f"{base}.png"), samples, names,
             f"soak {info['date']}: {info.get('load', '')}")
        info["plot"] = f"{base}.png"
    except ImportError:
        info["notes"] = (info.get("notes") or "") + " (no plot: matplotlib is not installed)"
    with open(out_md, "w") as f:
        f.write(markdown(info, samples, names, checks))
