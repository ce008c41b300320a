// Benchmarks of the CPU matmul on SmolLM2-135M's shapes (Q4_1 layer
// matrices, the Q8_0 tied LM head) at the token counts of single-stream
// decode (1), batched decode (8, 32) and prefill (512), with 1 and 2
// threads, packed and unpacked weights; plus a streaming-read bandwidth
// probe to compare the weight bytes/s against.
//
//   ./build/bin/kernels-bench --benchmark_filter='MatMul/.*'
// Counters: weight_bytes/s (weights read per call / time), FLOP/s
// (2·rows·cols·tokens / time).
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "benchmark/benchmark.h"
#include "common/thread_pool.h"
#include "kernels/cpu/matmul.h"
#include "kernels/reference/quantize.h"

namespace llm::kernels {
namespace {

struct Shape {
  const char* name;
  GgmlType type;
  int64_t cols;
  std::vector<int64_t> rows;  // several = one MatMulShared call
};

const Shape kShapes[] = {
    {"qkv", GgmlType::kQ4_1, 576, {576, 192, 192}},
    {"o", GgmlType::kQ4_1, 576, {576}},
    {"gate_up", GgmlType::kQ4_1, 576, {1536, 1536}},
    {"down", GgmlType::kQ4_1, 1536, {576}},
    {"lm_head", GgmlType::kQ8_0, 576, {49152}},
};

struct Matrices {
  std::vector<std::vector<uint8_t>> bytes;
  std::vector<WeightMatrix> ws;
  std::vector<PackedWeightMatrix> packed;
  uint64_t total_bytes = 0;
  int64_t total_rows = 0;
};

// Random quantised weights, built once per shape and cached.
const Matrices& GetMatrices(int shape_index) {
  static std::map<int, std::unique_ptr<Matrices>> cache;
  auto& slot = cache[shape_index];
  if (slot) return *slot;
  slot = std::make_unique<Matrices>();
  const Shape& s = kShapes[shape_index];
  std::mt19937 rng(shape_index);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> row(s.cols);
  for (int64_t rows : s.rows) {
    const uint64_t row_bytes = GgmlRowBytes(s.type, s.cols).value();
    auto& buf = slot->bytes.emplace_back(row_bytes * rows);
    for (int64_t r = 0; r < rows; ++r) {
      for (auto& v : row) v = dist(rng);
      (void)reference::QuantizeRow(s.type, row.data(), s.cols, buf.data() + r * row_bytes);
    }
    slot->ws.push_back(WeightMatrix{s.type, rows, s.cols, buf.data(), row_bytes});
    slot->total_bytes += buf.size();
    slot->total_rows += rows;
  }
  for (const auto& w : slot->ws) slot->packed.push_back(PackForCpu(w));
  return *slot;
}

ThreadPool& Pool(int threads) {
  static ThreadPool one(1), two(2);
  return threads == 1 ? one : two;
}

// Args: shape index, tokens, threads, packed (0/1).
void BM_MatMul(benchmark::State& state) {
  const int shape = static_cast<int>(state.range(0));
  const int tokens = static_cast<int>(state.range(1));
  ThreadPool& pool = Pool(static_cast<int>(state.range(2)));
  const bool packed = state.range(3) != 0;
  const Matrices& m = GetMatrices(shape);
  const int64_t cols = kShapes[shape].cols;
  std::vector<float> x(tokens * cols);
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (auto& v : x) v = dist(rng);
  std::vector<std::vector<float>> ys;
  std::vector<float*> yp;
  for (const auto& w : m.ws) ys.emplace_back(tokens * w.rows);
  for (auto& y : ys) yp.push_back(y.data());
  for (auto _ : state) {
    if (packed) {
      MatMulShared(pool, m.packed, x.data(), tokens, yp);
    } else {
      MatMulShared(pool, m.ws, x.data(), tokens, yp);
    }
    benchmark::ClobberMemory();
  }
  state.SetLabel(std::string(kShapes[shape].name) + (packed ? " packed" : " unpacked"));
  state.counters["weight_bytes/s"] =
      benchmark::Counter(static_cast<double>(m.total_bytes), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["FLOP/s"] = benchmark::Counter(2.0 * m.total_rows * cols * tokens,
                                                benchmark::Counter::kIsIterationInvariantRate);
}

void MatMulArgs(benchmark::internal::Benchmark* b) {
  for (int shape = 0; shape < static_cast<int>(std::size(kShapes)); ++shape) {
    for (int tokens : {1, 8, 32, 512}) {
      for (int threads : {1, 2}) {
        for (int packed : {1, 0}) b->Args({shape, tokens, threads, packed});
      }
    }
  }
}
BENCHMARK(BM_MatMul)->Apply(MatMulArgs)->ArgNames({"shape", "tokens", "threads", "packed"})->UseRealTime();

// One thread, unpacked weights, each available ISA (0 scalar, 1 AVX2, 2
// AVX-512): what each dispatch level gives on the decode/prefill shapes.
void BM_MatMulIsa(benchmark::State& state) {
  const int shape = static_cast<int>(state.range(0));
  const int tokens = static_cast<int>(state.range(1));
  const MatMulIsa isa = state.range(2) == 0   ? MatMulIsa::kScalar
                        : state.range(2) == 1 ? MatMulIsa::kAvx2
                                              : MatMulIsa::kAvx512;
  if (!MatMulIsaAvailable(isa)) {
    state.SkipWithError("ISA not available");
    return;
  }
  const Matrices& m = GetMatrices(shape);
  const int64_t cols = kShapes[shape].cols;
  std::vector<float> x(tokens * cols, 0.5f);
  for (int64_t i = 0; i < tokens * cols; ++i) x[i] = static_cast<float>((i * 7919) % 1000) / 500.0f - 1.0f;
  std::vector<std::vector<float>> ys;
  std::vector<float*> yp;
  for (const auto& w : m.ws) ys.emplace_back(tokens * w.rows);
  for (auto& y : ys) yp.push_back(y.data());
  SetMatMulIsaForTesting(isa);
  for (auto _ : state) {
    MatMulShared(Pool(1), m.ws, x.data(), tokens, yp);
    benchmark::ClobberMemory();
  }
  SetMatMulIsaForTesting(MatMulIsa::kAuto);
  state.SetLabel(kShapes[shape].name);
  state.counters["weight_bytes/s"] =
      benchmark::Counter(static_cast<double>(m.total_bytes), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["FLOP/s"] = benchmark::Counter(2.0 * m.total_rows * cols * tokens,
                                                benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_MatMulIsa)
    ->ArgsProduct({{1, 3}, {1, 32}, {0, 1, 2}})
    ->ArgNames({"shape", "tokens", "isa"})
    ->UseRealTime();

// Streaming read of a buffer much larger than the L3 (bytes/s), split over
// `threads` pool threads: the bandwidth ceiling for decode.
void BM_StreamRead(benchmark::State& state) {
  const size_t bytes = size_t{1} << 29;  // 512 MiB
  static std::vector<uint64_t> buf(bytes / 8, 1);
  ThreadPool& pool = Pool(static_cast<int>(state.range(0)));
  uint64_t sink[2] = {0, 0};
  for (auto _ : state) {
    pool.Run([&](int thread, int n) {
      const auto [b, e] = SplitRange(static_cast<int64_t>(buf.size()), thread, n, 8);
      uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (int64_t i = b; i < e; i += 4) {
        s0 += buf[i], s1 += buf[i + 1], s2 += buf[i + 2], s3 += buf[i + 3];
      }
      sink[thread] += s0 + s1 + s2 + s3;
    });
  }
  benchmark::DoNotOptimize(sink);
  state.counters["bytes/s"] = benchmark::Counter(static_cast<double>(bytes), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_StreamRead)->Arg(1)->Arg(2)->UseRealTime();

}  // namespace
}  // namespace llm::kernels

BENCHMARK_MAIN();
