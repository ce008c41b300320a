#!/usr/bin/env python3
"""Writes docs/perf/cpu-engine.md from the raw outputs collected by
bench/run_cpu_engine_bench.sh (inputs arrive as environment variables and
files in $WORK). Separate from the shell script so parsing stays testable and
readable; it has no dependencies beyond the standard library.
"""

import datetime
import json
import os
import platform
import re
import subprocess
import sys

# REFERENCE.md section 13: batch-1 decode streams ~96.6 MB per step. Used only
# when engine-bench does not report its own figure.
DEFAULT_DECODE_WEIGHT_BYTES = 96_577_380


def read(path):
  with open(path, encoding="utf-8", errors="replace") as f:
    return f.read()


def peak_rss_mb(time_path):
  """Max RSS from `/usr/bin/time -v` output, in MB (1e6 bytes)."""
  if not os.path.exists(time_path):
    return None
  m = re.search(r"Maximum resident set size \(kbytes\):\s*(\d+)",
                read(time_path))
  return int(m.group(1)) * 1024 / 1e6 if m else None


def parse_llama_bench(text):
  """Returns {"pp": (avg, stddev), "tg": (avg, stddev), "raw": [...]}."""
  runs = json.loads(text)
  out = {"raw": runs}
  for r in runs:
    if r.get("n_prompt", 0) > 0 and r.get("n_gen", 0) == 0:
      out["pp"] = (r["avg_ts"], r.get("stddev_ts", 0.0))
    elif r.get("n_gen", 0) > 0 and r.get("n_prompt", 0) == 0:
      out["tg"] = (r["avg_ts"], r.get("stddev_ts", 0.0))
  return out


def parse_batched(text):
  """Rows of llama-batched-bench's markdown table keyed by B (parallel seqs)."""
  rows = {}
  for line in text.splitlines():
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if len(cells) == 10 and cells[0].isdigit():
      pp, tg, b, n_kv = (int(c) for c in cells[:4])
      t_pp, s_pp, t_tg, s_tg, t, s = (float(c) for c in cells[4:])
      rows[b] = {"pp": pp, "tg": tg, "n_kv": n_kv, "s_pp": s_pp,
                 "s_tg": s_tg, "t": t, "s": s}
  return rows


def table_lines(text):
  return "\n".join(l for l in text.splitlines() if l.lstrip().startswith("|"))


def lscpu_field(name):
  try:
    out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
  except OSError:
    return "unknown"
  for line in out.splitlines():
    if line.startswith(name + ":"):
      return line.split(":", 1)[1].strip()
  return "unknown"


def mem_total_gb():
  try:
    m = re.search(r"MemTotal:\s*(\d+) kB", read("/proc/meminfo"))
    return f"{int(m.group(1)) / 1024 / 1024:.1f} GiB"
  except OSError:
    return "unknown"


def build_flags(build_dir):
  cache = os.path.join(build_dir, "CMakeCache.txt")
  if not os.path.exists(cache):
    return "unknown (no CMakeCache.txt)"
  vals = {}
  for line in read(cache).splitlines():
    m = re.match(r"(CMAKE_BUILD_TYPE|CMAKE_CXX_FLAGS|CMAKE_CXX_FLAGS_RELEASE|"
                 r"CMAKE_CXX_COMPILER):[A-Z]+=(.*)", line)
    if m:
      vals[m.group(1)] = m.group(2)
  return ", ".join(f"{k}=`{v}`" for k, v in sorted(vals.items()))


def fmt(x, digits=1):
  return "n/a" if x is None else f"{x:,.{digits}f}"


def ratio(ours, theirs):
  if ours is None or theirs in (None, 0):
    return "n/a"
  return f"{ours / theirs:.2f}x"


def main():
  env = os.environ
  work = env["WORK"]
  membw = json.loads(read(os.path.join(work, "membw.out")))
  lb_text = read(os.path.join(work, "llama_bench.out"))
  lb = parse_llama_bench(lb_text)
  lb_md = read(os.path.join(work, "llama_bench.err"))
  batched_text = read(os.path.join(work, "batched.out"))
  batched = parse_batched(batched_text)
  engine_text = read(os.path.join(work, "engine.out"))
  engine = json.loads(engine_text.strip().splitlines()[-1])
  fake = env.get("ENGINE_FAKE") == "1"

  rss_lb = peak_rss_mb(os.path.join(work, "llama_bench.time"))
  rss_bb = peak_rss_mb(os.path.join(work, "batched.time"))
  rss_ours_time = peak_rss_mb(os.path.join(work, "engine.time"))
  rss_ours = rss_ours_time or engine.get("peak_rss_mb")
  rss_theirs = max(x for x in (rss_lb, rss_bb, 0) if x is not None) or None

  ebatch = engine.get("batched_decode_tok_s", {})
  rows = [
      ("prefill, 512-token prompt (tok/s)", engine.get("prefill_tok_s"),
       lb.get("pp", (None,))[0], "llama-bench pp512"),
      ("decode, 256 tokens, 1 stream (tok/s)", engine.get("decode_tok_s"),
       lb.get("tg", (None,))[0], "llama-bench tg256"),
  ]
  for n in (1, 8, 32):
    theirs = batched.get(n, {}).get("s_tg")
    rows.append((f"batched decode, {n} seq{'s' if n > 1 else ''}, aggregate (tok/s)",
                 ebatch.get(str(n)), theirs,
                 f"llama-batched-bench S_TG, B={n}"))

  # The roofline uses the best measured bandwidth: on an idle machine that is
  # the 2-thread figure, but when other processes steal a core the 1-thread
  # pass can come out higher, and a roofline must not understate the limit.
  bw = max(membw["read_gb_s_1t"], membw["read_gb_s_2t"])
  wbytes = engine.get("decode_weight_bytes") or DEFAULT_DECODE_WEIGHT_BYTES
  roof = bw * 1e9 / wbytes
  ours_dec = engine.get("decode_tok_s")
  theirs_dec = lb.get("tg", (None,))[0]

  date = datetime.datetime.now(datetime.timezone.utc).strftime(
      "%Y-%m-%d %H:%M UTC")
  L = []
  L.append("# CPU engine performance vs llama.cpp\n")
  if fake:
    L.append("> **WARNING: the \"ours\" column is FAKE** (injected via "
             "ENGINE_BENCH_JSON to test the script); do not quote it.\n")
  if env.get("QUICK") == "1":
    L.append("> **WARNING: QUICK=1 smoke-test sizes**; these are not the "
             "pp512/tg256/npp128 benchmarks and must not be quoted.\n")
  L.append("Generated by `bench/run_cpu_engine_bench.sh` in one run on one "
           "machine; see `docs/perf/README.md` to reproduce.\n")
  L.append("## Setup\n")
  L.append(f"- Date: {date}")
  L.append(f"- CPU: {lscpu_field('Model name')} "
           f"({lscpu_field('CPU(s)')} logical CPUs visible, "
           f"L3 {lscpu_field('L3 cache')}); threads used: {env['THREADS']}")
  L.append(f"- Memory: {mem_total_gb()}; kernel {platform.release()}")
  try:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    L.append(f"- Load average at report time: {load} (other processes "
             "compete for the same cores; numbers are noisy when it is "
             "above the thread count)")
  except OSError:
    pass
  L.append(f"- OMP_WAIT_POLICY: {env.get('OMP_WAIT_POLICY') or 'unset'} "
           "(llama.cpp uses OpenMP; `passive` avoids spin-wait collapse on "
           "a busy machine, `active`/unset is faster on an idle one)")
  L.append(f"- Our commit: {env['GIT_COMMIT']}")
  L.append(f"- Our build ({env['BUILD_DIR']}): {build_flags(env['BUILD_DIR'])}")
  L.append(f"- llama.cpp: commit {env['LLAMA_COMMIT']} (vendored in "
           "llama-cpp-python 0.3.36 sdist), Release, GGML_NATIVE=ON")
  L.append(f"- Model: `{os.path.basename(env['MODEL'])}`\n")
  L.append("## Results\n")
  L.append("Ratio = ours / llama.cpp (higher is better for throughput, lower "
           "is better for RSS).\n")
  L.append("| metric | ours | llama.cpp | ratio | llama.cpp source |")
  L.append("|---|---:|---:|---:|---|")
  for name, ours, theirs, src in rows:
    L.append(f"| {name} | {fmt(ours)} | {fmt(theirs)} | {ratio(ours, theirs)}"
             f" | {src} |")
  L.append(f"| peak RSS (MB) | {fmt(rss_ours)} | {fmt(rss_theirs)} | "
           f"{ratio(rss_ours, rss_theirs)} | max of llama-bench "
           f"({fmt(rss_lb)}) and llama-batched-bench ({fmt(rss_bb)}) |")
  L.append("")
  if rss_ours_time is not None and engine.get("peak_rss_mb") is not None:
    L.append(f"Our peak RSS: {fmt(rss_ours_time)} MB by `/usr/bin/time -v` "
             f"(used above), {fmt(engine['peak_rss_mb'])} MB self-reported.\n")
  L.append("Note: llama-bench's tg256 and our decode both start from an empty "
           "context; llama-batched-bench decodes 128 tokens per sequence "
           "after a 128-token prompt per sequence, with random tokens.\n")
  L.append("## Bandwidth roofline (batch-1 decode)\n")
  L.append(f"- Streaming read bandwidth: {membw['read_gb_s_1t']:.2f} GB/s "
           f"(1 thread), {membw['read_gb_s_2t']:.2f} GB/s (2 threads) "
           f"(`membw-bench`, {membw['buffer_bytes'] >> 20} MiB buffer, best "
           f"of {membw['reps']})")
  L.append(f"- Bytes read per decode step: {wbytes:,} "
           + ("(engine-bench `decode_weight_bytes`)"
              if engine.get("decode_weight_bytes")
              else "(REFERENCE.md section 13 default)"))
  L.append(f"- Roofline (best of the two): {bw:.2f} GB/s / {wbytes / 1e6:.1f} MB = "
           f"**{roof:,.0f} tok/s** max decode")
  frac = (lambda x: "n/a" if x is None else f"{100 * x / roof:.0f}%")
  L.append(f"- Fraction of roofline: ours {frac(ours_dec)}, llama.cpp "
           f"{frac(theirs_dec)}")
  L.append("- The model (~97 MB) exceeds this L3, so decode streams from "
           "DRAM; a fraction above 100% would mean cache reuse or a wrong "
           "byte count.\n")
  L.append("## Commands\n")
  L.append("```")
  for k in ("CMD_MEMBW", "CMD_LLAMA_BENCH", "CMD_BATCHED", "CMD_ENGINE"):
    prefix = "/usr/bin/time -v " if k != "CMD_MEMBW" else ""
    L.append(prefix + env[k])
  L.append("```\n")
  L.append("## Raw output\n")
  L.append("membw-bench:\n\n```\n" + json.dumps(membw) + "\n```\n")
  L.append("llama-bench (markdown, stderr):\n\n```\n" + lb_md.strip()
           + "\n```\n")
  L.append("llama-batched-bench (table):\n\n```\n" + table_lines(batched_text)
           + "\n```\n")
  L.append("engine-bench" + (" (FAKE, injected)" if fake else "") + ":\n\n```\n"
           + engine_text.strip() + "\n```")
  with open(env["OUT"], "w", encoding="utf-8") as f:
    f.write("\n".join(L) + "\n")


if __name__ == "__main__":
  sys.exit(main())
