// Benchmarks of kernels/cpu/attention.h and elementwise.h at SmolLM2-135M
// shapes (9 query heads, 3 KV heads, head_dim 64, block size 16).
//
//   attention-bench --benchmark_filter=Decode
//
// Decode reports bytes/s of K+V read from the paged cache (the roofline
// quantity); prefill also reports attention GFLOP/s (4 * d * causal pairs).
// Arguments: context, batch, threads, ISA (0 scalar, 1 AVX2, 2 AVX-512).
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "benchmark/benchmark.h"
#include "common/fp16.h"
#include "common/thread_pool.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/cpu_isa_select.h"
#include "kernels/cpu/elementwise.h"

namespace llm::kernels {
namespace {

constexpr int kHeads = 9;
constexpr int kKvHeads = 3;
constexpr int kHeadDim = 64;
constexpr int kBlock = 16;

AttentionIsa IsaArg(int64_t a) {
  return a == 0 ? AttentionIsa::kScalar
                : a == 1 ? AttentionIsa::kAvx2 : AttentionIsa::kAvx512;
}

// A cache holding `batch` sequences of `context` tokens on shuffled blocks.
struct Workload {
  std::vector<uint16_t> k, v;
  std::vector<std::vector<int32_t>> tables;
  std::vector<AttentionSequence> seqs;
  std::vector<float> q, out;
  PagedKvCache cache;
  AttentionParams params;

  Workload(int context, int batch, int queries) {
    const int per_seq = (context + kBlock - 1) / kBlock;
    const int blocks = per_seq * batch;
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    const int64_t elems = static_cast<int64_t>(blocks) * kBlock * kKvHeads * kHeadDim;
    k.resize(elems);
    v.resize(elems);
    for (auto& x : k) x = FloatToFp16(dist(rng));
    for (auto& x : v) x = FloatToFp16(dist(rng));
    std::vector<int32_t> ids(blocks);
    std::iota(ids.begin(), ids.end(), 0);
    std::shuffle(ids.begin(), ids.end(), rng);
    tables.resize(batch);
    for (int b = 0; b < batch; ++b) {
      tables[b].assign(ids.begin() + b * per_seq, ids.begin() + (b + 1) * per_seq);
      seqs.push_back({b * queries, queries, context, tables[b].data()});
    }
    q.resize(static_cast<size_t>(batch) * queries * kHeads * kHeadDim);
    for (auto& x : q) x = dist(rng);
    out.resize(q.size());
    cache = {k.data(), v.data(), blocks, kBlock, kKvHeads, kHeadDim};
    params = {kHeads, kKvHeads, kHeadDim, 1.0f / std::sqrt(float{kHeadDim}), nullptr};
  }
};

void BM_Decode(benchmark::State& state) {
  const int context = state.range(0), batch = state.range(1);
  if (!SetAttentionIsaForTesting(IsaArg(state.range(3)))) {
    state.SkipWithError("ISA not supported");
    return;
  }
  ThreadPool pool(state.range(2));
  Workload w(context, batch, 1);
  for (auto _ : state) {
    PagedAttention(pool, w.params, w.cache, w.seqs, w.q.data(), w.out.data());
    benchmark::DoNotOptimize(w.out.data());
  }
  state.SetBytesProcessed(state.iterations() * int64_t{batch} * context *
                          kKvHeads * kHeadDim * 2 * 2);
  SetAttentionIsaForTesting(AttentionIsa::kAuto);
}
BENCHMARK(BM_Decode)
    ->ArgNames({"ctx", "batch", "threads", "isa"})
    ->ArgsProduct({{128, 512, 2048, 8192}, {1, 32}, {1, 2}, {2}})
    ->ArgsProduct({{2048}, {1, 32}, {1, 2}, {0, 1}})
    ->UseRealTime();

void BM_Prefill(benchmark::State& state) {
  const int tokens = state.range(0);
  if (!SetAttentionIsaForTesting(IsaArg(state.range(2)))) {
    state.SkipWithError("ISA not supported");
    return;
  }
  ThreadPool pool(state.range(1));
  Workload w(tokens, 1, tokens);
  for (auto _ : state) {
    PagedAttention(pool, w.params, w.cache, w.seqs, w.q.data(), w.out.data());
    benchmark::DoNotOptimize(w.out.data());
  }
  state.SetBytesProcessed(state.iterations() * int64_t{tokens} * kKvHeads *
                          kHeadDim * 2 * 2);
  const double pairs = 0.5 * tokens * (tokens + 1) * kHeads;
  state.counters["attn_flops"] = benchmark::Counter(
      4.0 * kHeadDim * pairs * state.iterations(), benchmark::Counter::kIsRate);
  SetAttentionIsaForTesting(AttentionIsa::kAuto);
}
BENCHMARK(BM_Prefill)
    ->ArgNames({"tokens", "threads", "isa"})
    ->ArgsProduct({{512}, {1, 2}, {0, 1, 2}})
    ->UseRealTime();

void BM_RmsNorm(benchmark::State& state) {
  const int n = state.range(0), d = 576;
  if (!SetElementwiseIsaForTesting(IsaArg(state.range(1)))) return;
  std::vector<float> x(n * d, 0.5f), w(d, 1.1f), out(n * d);
  for (auto _ : state) {
    RmsNorm(x.data(), w.data(), n, d, 1e-5f, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * int64_t{n} * d * 8);
  SetElementwiseIsaForTesting(AttentionIsa::kAuto);
}
BENCHMARK(BM_RmsNorm)->ArgNames({"n", "isa"})->ArgsProduct({{1, 512}, {0, 1, 2}});

void BM_Rope(benchmark::State& state) {
  const int n = state.range(0), heads = kHeads + kKvHeads;
  if (!SetElementwiseIsaForTesting(IsaArg(state.range(1)))) return;
  std::vector<float> x(static_cast<size_t>(n) * heads * kHeadDim, 0.5f);
  std::vector<int32_t> pos(n);
  std::iota(pos.begin(), pos.end(), 100);
  for (auto _ : state) {
    Rope(x.data(), n, heads, kHeadDim, kHeadDim, pos.data(), 100000.0f, RopeMode::kNormal);
    benchmark::DoNotOptimize(x.data());
  }
  state.SetItemsProcessed(state.iterations() * n);  // tokens
  SetElementwiseIsaForTesting(AttentionIsa::kAuto);
}
BENCHMARK(BM_Rope)->ArgNames({"n", "isa"})->ArgsProduct({{1, 512}, {0, 1, 2}});

void BM_SwiGlu(benchmark::State& state) {
  const int64_t n = state.range(0) * 1536;
  if (!SetElementwiseIsaForTesting(IsaArg(state.range(1)))) return;
  std::vector<float> g(n, 0.3f), u(n, 0.7f), out(n);
  for (auto _ : state) {
    SwiGlu(g.data(), u.data(), n, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * n * 12);
  SetElementwiseIsaForTesting(AttentionIsa::kAuto);
}
BENCHMARK(BM_SwiGlu)->ArgNames({"tokens", "isa"})->ArgsProduct({{1, 512}, {0, 1, 2}});

}  // namespace
}  // namespace llm::kernels

BENCHMARK_MAIN();
