// Sampler cost per token at SmolLM2's vocabulary (49152), by parameter mix.
//   ./build/bin/sampler-bench --benchmark_filter=Sample
#include <random>
#include <vector>

#include "benchmark/benchmark.h"
#include "worker/sampler.h"

namespace llm {
namespace {

constexpr int kVocab = 49152;

std::vector<float> Logits() {
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.0f, 3.0f);  // model-like spread
  std::vector<float> x(kVocab);
  for (float& v : x) v = dist(rng);
  return x;
}

void Run(benchmark::State& state, SamplingParams p, bool penalties) {
  const std::vector<float> base = Logits();
  std::vector<float> x = base;
  std::vector<int32_t> history;
  for (int i = 0; i < 512; ++i) history.push_back(i * 97 % kVocab);
  SamplingContext ctx;
  ctx.seed = 7;
  if (penalties) {
    ctx.prompt_tokens = history;
    ctx.generated_tokens = absl::MakeConstSpan(history).subspan(0, 128);
  }
  for (auto _ : state) {
    state.PauseTiming();
    x = base;
    state.ResumeTiming();
    ++ctx.step;
    benchmark::DoNotOptimize(Sample(absl::MakeSpan(x), p, ctx));
  }
}

void BM_SampleGreedy(benchmark::State& state) {
  SamplingParams p;
  p.temperature = 0.0f;
  Run(state, p, false);
}
void BM_SampleGreedyPenalties(benchmark::State& state) {
  SamplingParams p;
  p.temperature = 0.0f;
  p.repetition_penalty = 1.1f;
  p.frequency_penalty = 0.2f;
  Run(state, p, true);
}
void BM_SampleTemperature(benchmark::State& state) {
  SamplingParams p;
  p.temperature = 0.8f;
  Run(state, p, false);
}
void BM_SampleTemperatureOne(benchmark::State& state) {
  SamplingParams p;  // defaults: temperature 1, no filters (OpenAI default)
  Run(state, p, false);
}
void BM_SampleTopK50(benchmark::State& state) {
  SamplingParams p;
  p.temperature = 0.8f;
  p.top_k = 50;
  Run(state, p, false);
}
void BM_SampleTopP09(benchmark::State& state) {
  SamplingParams p;
  p.temperature = 0.8f;
  p.top_p = 0.9f;
  Run(state, p, false);
}
void BM_SampleTopKTopPMinPLogprobs(benchmark::State& state) {
  SamplingParams p;
  p.temperature = 0.7f;
  p.top_k = 40;
  p.top_p = 0.95f;
  p.min_p = 0.05f;
  p.logprobs = 5;
  Run(state, p, true);
}

BENCHMARK(BM_SampleGreedy);
BENCHMARK(BM_SampleGreedyPenalties);
BENCHMARK(BM_SampleTemperature);
BENCHMARK(BM_SampleTemperatureOne);
BENCHMARK(BM_SampleTopK50);
BENCHMARK(BM_SampleTopP09);
BENCHMARK(BM_SampleTopKTopPMinPLogprobs);

}  // namespace
}  // namespace llm

BENCHMARK_MAIN();
