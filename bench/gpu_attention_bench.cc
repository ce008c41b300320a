// gpu-attention-bench: the CUDA attention kernels against the machine's own
// limits, measured in the same run:
// - device-to-device cudaMemcpy bandwidth (read + write bytes / s);
// - paged decode attention (FlashDecoding): unique K/V bytes read / s and
//   that as a fraction of the copy bandwidth (target >= 80%);
// - paged prefill attention: causal TFLOP/s (4 * head_dim * visible pairs
//   per head).
// Llama-3-8B attention shape: 32 query heads, 8 KV heads, head_dim 128
// (and 64 for SmolLM2-like heads), fp16 KV, block size 16, scattered blocks.
// Prints a markdown table with --markdown, else plain lines.
// Built without CUDA it prints that and exits 0.
#include <cstdio>

#if !LLM_HAVE_CUDA
int main() {
  std::printf("gpu-attention-bench: built without CUDA\n");
  return 0;
}
#else

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "kernels/cuda/attention.cuh"
#include "kernels/cuda/attention_tc.cuh"
#include "kernels/cuda/paged_index.cuh"

namespace {

using namespace llm::cuda;

#define CHECK_CUDA(expr)                                                      \
  do {                                                                        \
    const cudaError_t _e = (expr);                                            \
    if (_e != cudaSuccess) {                                                  \
      std::fprintf(stderr, "%s: %s\n", #expr, cudaGetErrorString(_e));        \
      std::exit(1);                                                           \
    }                                                                         \
  } while (0)

template <typename F>
double TimeMs(F&& f, int iters) {
  cudaEvent_t a, b;
  CHECK_CUDA(cudaEventCreate(&a));
  CHECK_CUDA(cudaEventCreate(&b));
  f();  // warm-up
  CHECK_CUDA(cudaDeviceSynchronize());
  CHECK_CUDA(cudaEventRecord(a));
  for (int i = 0; i < iters; ++i) f();
  CHECK_CUDA(cudaEventRecord(b));
  CHECK_CUDA(cudaEventSynchronize(b));
  float ms = 0;
  CHECK_CUDA(cudaEventElapsedTime(&ms, a, b));
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return ms / iters;
}

double CopyBandwidth() {
  const size_t bytes = size_t{1} << 30;
  void *src, *dst;
  CHECK_CUDA(cudaMalloc(&src, bytes));
  CHECK_CUDA(cudaMalloc(&dst, bytes));
  CHECK_CUDA(cudaMemset(src, 1, bytes));
  const double ms = TimeMs([&] { cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice); }, 20);
  cudaFree(src);
  cudaFree(dst);
  return 2.0 * bytes / (ms * 1e-3);
}

struct Pool {
  uint16_t* k = nullptr;
  uint16_t* v = nullptr;
  int32_t* tables = nullptr;
  int num_blocks = 0;
};

// A KV pool of `tokens` slots (block 16) with a shuffled block table per
// sequence, filled with a constant (values do not change the timing).
Pool MakePool(int num_seqs, int ctx, int n_kv, int hd) {
  Pool p;
  const int per_seq = CeilDiv(ctx, 16);
  p.num_blocks = num_seqs * per_seq;
  const size_t elems = size_t{16} * p.num_blocks * n_kv * hd;
  CHECK_CUDA(cudaMalloc(&p.k, elems * 2));
  CHECK_CUDA(cudaMalloc(&p.v, elems * 2));
  CHECK_CUDA(cudaMemset(p.k, 0x2C, elems * 2));
  CHECK_CUDA(cudaMemset(p.v, 0x3C, elems * 2));
  std::vector<int32_t> t(p.num_blocks);
  std::iota(t.begin(), t.end(), 0);
  std::shuffle(t.begin(), t.end(), std::mt19937(1));
  CHECK_CUDA(cudaMalloc(&p.tables, t.size() * 4));
  CHECK_CUDA(cudaMemcpy(p.tables, t.data(), t.size() * 4, cudaMemcpyHostToDevice));
  return p;
}

void FreePool(Pool& p) {
  cudaFree(p.k);
  cudaFree(p.v);
  cudaFree(p.tables);
}

float* RandomDevice(size_t n) {
  std::vector<float> h(n);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> d(-1, 1);
  for (float& x : h) x = d(rng);
  float* p;
  CHECK_CUDA(cudaMalloc(&p, n * 4));
  CHECK_CUDA(cudaMemcpy(p, h.data(), n * 4, cudaMemcpyHostToDevice));
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"CUDA attention kernels vs the device's copy bandwidth"};
  bool markdown = false;
  app.add_flag("--markdown", markdown, "Print markdown tables");
  CLI11_PARSE(app, argc, argv);
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    std::fprintf(stderr, "gpu-attention-bench: no CUDA device\n");
    return 1;
  }
  cudaDeviceProp prop;
  CHECK_CUDA(cudaGetDeviceProperties(&prop, 0));
  const double bw = CopyBandwidth();
  if (markdown) {
    std::printf("Device: %s. Device-to-device copy bandwidth: **%.0f GB/s** (read+write).\n\n",
                prop.name, bw / 1e9);
    std::printf("### Decode (FlashDecoding, 32 q heads / 8 KV heads, fp16 KV)\n\n");
    std::printf("| batch | context | head_dim | time (us) | K/V bytes/s | vs copy bw |\n");
    std::printf("|---|---|---|---|---|---|\n");
  } else {
    std::printf("copy bandwidth %.1f GB/s\n", bw / 1e9);
  }
  const int n_head = 32, n_kv = 8;
  struct D { int batch, ctx, hd; };
  for (const D d : {D{1, 4096, 128}, D{1, 32768, 128}, D{16, 4096, 128}, D{64, 2048, 128},
                    D{256, 1024, 128}, D{64, 2048, 64}}) {
    Pool pool = MakePool(d.batch, d.ctx, n_kv, d.hd);
    std::vector<DecodeRow> rows(d.batch);
    for (int i = 0; i < d.batch; ++i) rows[i] = {i, d.ctx - 1, i * CeilDiv(d.ctx, 16)};
    DecodeRow* drows;
    CHECK_CUDA(cudaMalloc(&drows, rows.size() * sizeof(DecodeRow)));
    CHECK_CUDA(cudaMemcpy(drows, rows.data(), rows.size() * sizeof(DecodeRow),
                          cudaMemcpyHostToDevice));
    float* q = RandomDevice(static_cast<size_t>(d.batch) * n_head * d.hd);
    float* out;
    CHECK_CUDA(cudaMalloc(&out, static_cast<size_t>(d.batch) * n_head * d.hd * 4));
    float* ws;
    CHECK_CUDA(cudaMalloc(&ws, std::max<int64_t>(4, DecodeWorkspaceFloats(d.batch, n_head, d.hd, d.ctx) * 4)));
    DeviceAttentionParams p{n_head, n_kv, d.hd, 1.0f / std::sqrt(float(d.hd)), nullptr};
    DeviceKvLayer kv{pool.k, pool.v, 16, n_kv, d.hd};
    const double ms = TimeMs([&] {
      LaunchPagedDecodeAttention(p, kv, drows, d.batch, d.ctx, pool.tables, q, ws, out, nullptr);
    }, 50);
    CHECK_CUDA(cudaGetLastError());
    const double bytes = 2.0 * d.batch * d.ctx * n_kv * d.hd * 2;
    const double bps = bytes / (ms * 1e-3);
    if (markdown) {
      std::printf("| %d | %d | %d | %.1f | %.0f GB/s | %.0f%% |\n", d.batch, d.ctx, d.hd,
                  ms * 1e3, bps / 1e9, 100.0 * bps / bw);
    } else {
      std::printf("decode batch %d ctx %d hd %d: %.1f us, %.1f GB/s (%.0f%% of copy)\n",
                  d.batch, d.ctx, d.hd, ms * 1e3, bps / 1e9, 100.0 * bps / bw);
    }
    cudaFree(drows);
    cudaFree(q);
    cudaFree(out);
    cudaFree(ws);
    FreePool(pool);
  }

  if (markdown) {
    std::printf("\n### Prefill (FlashAttention-2 style over the paged cache, causal)\n\n");
    std::printf("| sequences x tokens | head_dim | fp32 time (ms) | fp32 TFLOP/s | "
                "tensor-core time (ms) | tensor-core TFLOP/s |\n|---|---|---|---|---|---|\n");
  }
  struct P { int seqs, len, hd; };
  for (const P pc : {P{1, 4096, 128}, P{8, 512, 128}, P{4, 2048, 64}}) {
    Pool pool = MakePool(pc.seqs, pc.len, n_kv, pc.hd);
    std::vector<PrefillTile> tiles;
    for (int s = 0; s < pc.seqs; ++s) {
      for (int t = 0; t < NumPrefillTiles(pc.len); ++t) {
        tiles.push_back({s * pc.len, pc.len, pc.len, t * kPrefillTileQ, s * CeilDiv(pc.len, 16)});
      }
    }
    PrefillTile* dtiles;
    CHECK_CUDA(cudaMalloc(&dtiles, tiles.size() * sizeof(PrefillTile)));
    CHECK_CUDA(cudaMemcpy(dtiles, tiles.data(), tiles.size() * sizeof(PrefillTile),
                          cudaMemcpyHostToDevice));
    const size_t qn = static_cast<size_t>(pc.seqs) * pc.len * n_head * pc.hd;
    float* q = RandomDevice(qn);
    float* out;
    CHECK_CUDA(cudaMalloc(&out, qn * 4));
    DeviceAttentionParams p{n_head, n_kv, pc.hd, 1.0f / std::sqrt(float(pc.hd)), nullptr};
    DeviceKvLayer kv{pool.k, pool.v, 16, n_kv, pc.hd};
    const double ms = TimeMs([&] {
      LaunchPagedPrefillAttention(p, kv, dtiles, static_cast<int>(tiles.size()), pool.tables,
                                  q, out, nullptr);
    }, 10);
    CHECK_CUDA(cudaGetLastError());
    // The tensor-core kernel (attention_tc.cuh) on the same tiles.
    const double tc_ms = TimeMs([&] {
      LaunchPagedPrefillAttentionTc(p, kv, dtiles, static_cast<int>(tiles.size()),
                                    pool.tables, q, out, nullptr);
    }, 10);
    CHECK_CUDA(cudaGetLastError());
    const double pairs = double(pc.len) * (pc.len + 1) / 2 * pc.seqs;
    const double tflops = 4.0 * pc.hd * n_head * pairs / (ms * 1e-3) / 1e12;
    const double tc_tflops = 4.0 * pc.hd * n_head * pairs / (tc_ms * 1e-3) / 1e12;
    if (markdown) {
      std::printf("| %d x %d | %d | %.2f | %.1f | %.2f | %.1f |\n", pc.seqs, pc.len, pc.hd,
                  ms, tflops, tc_ms, tc_tflops);
    } else {
      std::printf("prefill %d x %d hd %d: %.2f ms, %.1f TFLOP/s\n", pc.seqs, pc.len, pc.hd,
                  ms, tflops);
      std::printf("prefill-tc %d x %d hd %d: %.2f ms, %.1f TFLOP/s\n", pc.seqs, pc.len,
                  pc.hd, tc_ms, tc_tflops);
    }
    cudaFree(dtiles);
    cudaFree(q);
    cudaFree(out);
    FreePool(pool);
  }
  if (markdown) {
    std::printf("\nfp32: the prefill kernel on CUDA cores; tensor-core: bf16 mma.sync "
                "(attention_tc.cuh, off in the worker unless LLM_CUDA_TC_PREFILL=1). "
                "bench/prefill_vs_sdpa.py compares it with PyTorch SDPA (FlashAttention-2) on "
                "the same shapes.\n");
  }
  return 0;
}

#endif  // LLM_HAVE_CUDA
