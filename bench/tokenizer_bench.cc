// Tokenizer encode/decode throughput on the real SmolLM2 vocabulary.
//   build/bin/tokenizer-bench [--model=PATH] [--benchmark_filter=...]
// PATH defaults to models/SmolLM2-135M-Instruct.Q4_1.gguf (run from the repo root).
// Reports tokens/s ("items_per_second") and bytes/s.
#include <memory>
#include <string>

#include "benchmark/benchmark.h"
#include "common/gguf.h"
#include "common/tokenizer.h"

namespace {

std::string g_model = "models/SmolLM2-135M-Instruct.Q4_1.gguf";

const llm::Tokenizer* LoadTokenizer() {
  static const llm::Tokenizer* tok = [] () -> const llm::Tokenizer* {
    auto file = llm::GgufFile::Open(g_model);
    if (!file.ok()) return nullptr;
    auto t = llm::Tokenizer::FromGguf(**file);
    return t.ok() ? t->release() : nullptr;
  }();
  return tok;
}

// ~64 KiB of mixed prose, code and numbers; with `unique` every word is
// made distinct so the piece cache cannot help.
std::string Corpus(bool unique) {
  std::string s;
  for (int i = 0; s.size() < (64 << 10); ++i) {
    s += "The quick brown fox jumps over the lazy dog, number " + std::to_string(i * 7919) +
         ".\nfor (int i = 0; i < n; ++i) { sum += x[i] * 3.14; }  // loop\n";
    if (unique) s += "word" + std::to_string(i) + "x" + std::to_string(i * 31) + " ";
  }
  return s;
}

void BM_Encode(benchmark::State& state) {
  const llm::Tokenizer* tok = LoadTokenizer();
  if (tok == nullptr) {
    state.SkipWithError("model not found");
    return;
  }
  const std::string text = Corpus(state.range(0) != 0);
  size_t tokens = 0;
  for (auto _ : state) {
    std::vector<int32_t> ids = tok->Encode(text, false, true);
    tokens += ids.size();
    benchmark::DoNotOptimize(ids);
  }
  state.SetItemsProcessed(static_cast<int64_t>(tokens));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_Encode)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

// Cold piece cache: a fresh tokenizer per iteration (loading not timed), so
// every piece goes through the BPE merge loop.
void BM_EncodeColdCache(benchmark::State& state) {
  auto file = llm::GgufFile::Open(g_model);
  if (!file.ok()) {
    state.SkipWithError("model not found");
    return;
  }
  const std::string text = Corpus(true);
  size_t tokens = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto tok = llm::Tokenizer::FromGguf(**file);
    state.ResumeTiming();
    std::vector<int32_t> ids = (*tok)->Encode(text, false, true);
    tokens += ids.size();
    benchmark::DoNotOptimize(ids);
    state.PauseTiming();
    tok->reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<int64_t>(tokens));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_EncodeColdCache)->Unit(benchmark::kMillisecond);

void BM_Decode(benchmark::State& state) {
  const llm::Tokenizer* tok = LoadTokenizer();
  if (tok == nullptr) {
    state.SkipWithError("model not found");
    return;
  }
  const std::vector<int32_t> ids = tok->Encode(Corpus(false), false, true);
  for (auto _ : state) benchmark::DoNotOptimize(tok->Decode(ids));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * ids.size()));
}
BENCHMARK(BM_Decode)->Unit(benchmark::kMicrosecond);

void BM_Load(benchmark::State& state) {
  auto file = llm::GgufFile::Open(g_model);
  if (!file.ok()) {
    state.SkipWithError("model not found");
    return;
  }
  for (auto _ : state) benchmark::DoNotOptimize(llm::Tokenizer::FromGguf(**file));
}
BENCHMARK(BM_Load)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  // Take --model=PATH out before Google Benchmark sees the flags.
  int out = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--model=", 0) == 0) {
      g_model = arg.substr(8);
    } else {
      argv[out++] = argv[i];
    }
  }
  argc = out;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
