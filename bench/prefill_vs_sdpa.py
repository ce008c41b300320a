#!/usr/bin/env python3
"""Our paged prefill attention vs PyTorch's scaled_dot_product_attention.

Runs `gpu-attention-bench` (its plain-text output: one line per prefill
shape, "prefill S x L hd D: T ms, F TFLOP/s"), then times
torch.nn.functional.scaled_dot_product_attention on the same shapes (S
sequences of L tokens, 32 query heads, 8 KV heads, causal, bf16 - the dtype
that selects its FlashAttention-2 kernel; GQA through enable_gqa when the
installed torch has it, else K/V expanded before timing), counts FLOPs the
same way (4 * head_dim * heads * causal (query, key) pairs), and prints /
writes a markdown table with both TFLOP/s and the ratio ours / SDPA.

Usage: prefill_vs_sdpa.py [--bench-bin BUILD/bin/gpu-attention-bench]
                          [--out docs/perf/prefill_vs_sdpa.md] [--iters 20]
Exit 77 (and "SKIP: ...") when torch or a CUDA device is missing.
"""
import argparse
import datetime
import re
import subprocess
import sys

N_HEAD, N_KV = 32, 8  # as gpu-attention-bench
LINE = re.compile(r"^(prefill|prefill-tc) (\d+) x (\d+) hd (\d+): ([\d.]+) ms, ([\d.]+) TFLOP/s")
KERNELS = {"prefill": "fp32 (CUDA cores)", "prefill-tc": "bf16 tensor cores"}


def parse_bench(text):
    shapes = []
    for line in text.splitlines():
        m = LINE.match(line.strip())
        if m:
            s, l, d = int(m[2]), int(m[3]), int(m[4])
            shapes.append({"kernel": KERNELS[m[1]], "seqs": s, "len": l, "hd": d,
                           "ours_ms": float(m[5]), "ours_tflops": float(m[6])})
    return shapes


def causal_flops(seqs, length, hd, heads=N_HEAD):
    pairs = length * (length + 1) / 2 * seqs
    return 4.0 * hd * heads * pairs


def time_sdpa(torch, seqs, length, hd, iters):
    import torch.nn.functional as F
    dev = "cuda"
    q = torch.randn(seqs, N_HEAD, length, hd, device=dev, dtype=torch.bfloat16)
    k = torch.randn(seqs, N_KV, length, hd, device=dev, dtype=torch.bfloat16)
    v = torch.randn(seqs, N_KV, length, hd, device=dev, dtype=torch.bfloat16)
    try:
        F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        run = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
    except TypeError:  # torch < 2.5: no enable_gqa; expand K/V outside the timing
        k = k.repeat_interleave(N_HEAD // N_KV, dim=1)
        v = v.repeat_interleave(N_HEAD // N_KV, dim=1)
        run = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True)
    for _ in range(3):
        run()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(iters):
        run()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / iters


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench-bin", default="build-gpu/bin/gpu-attention-bench")
    ap.add_argument("--out", default="docs/perf/prefill_vs_sdpa.md")
    ap.add_argument("--iters", type=int, default=20)
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        print("SKIP: torch is not importable")
        return 77
    if not torch.cuda.is_available():
        print("SKIP: torch sees no CUDA device")
        return 77
    bench = subprocess.run([args.bench_bin], capture_output=True, text=True, timeout=600)
    if bench.returncode != 0:
        print(f"gpu-attention-bench failed: {bench.stderr.strip()[-500:]}", file=sys.stderr)
        return 1
    shapes = parse_bench(bench.stdout)
    if not shapes:
        print("no prefill lines in gpu-attention-bench's output", file=sys.stderr)
        return 1
    rows = []
    sdpa_ms = {}
    for s in shapes:
        key = (s["seqs"], s["len"], s["hd"])
        if key not in sdpa_ms:
            sdpa_ms[key] = time_sdpa(torch, *key, args.iters)
        ms = sdpa_ms[key]
        sdpa = causal_flops(s["seqs"], s["len"], s["hd"]) / (ms * 1e-3) / 1e12
        rows.append((s, ms, sdpa))
    device = torch.cuda.get_device_name(0)
    lines = [
        "# Prefill attention: ours vs PyTorch SDPA",
        "",
        f"Written by `bench/prefill_vs_sdpa.py` on "
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}. "
        f"Device: {device}. torch {torch.__version__}.",
        "",
        f"{N_HEAD} query heads, {N_KV} KV heads, causal. Ours: paged fp16 KV "
        "(gpu-attention-bench; fp32 CUDA-core and bf16 tensor-core kernels); SDPA: contiguous bf16 Q/K/V (its "
        "FlashAttention-2 path). FLOPs = 4 x head_dim x heads x causal pairs for both.",
        "",
        "| our kernel | sequences x tokens | head_dim | ours (ms) | ours TFLOP/s | SDPA (ms) | SDPA TFLOP/s | ours / SDPA |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s, ms, sdpa in rows:
        lines.append(f"| {s['kernel']} | {s['seqs']} x {s['len']} | {s['hd']} | {s['ours_ms']:.2f} | "
                     f"{s['ours_tflops']:.1f} | {ms:.2f} | {sdpa:.1f} | "
                     f"{s['ours_tflops'] / sdpa:.2f}x |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
