// engine-bench: end-to-end CPU engine throughput on a real model, through the
// same scheduler + in-process worker channel that llm-generate uses.
//   prefill:  one 512-token prompt, tokens/s of the prefill step(s)
//   decode:   one sequence, 256 generated tokens, tokens/s after prefill
//   batched:  N sequences (128-token prompts, 128 generated each, as
//             llama-batched-bench -npp 128 -ntg 128), aggregate generated
//             tokens/s after every prefill finished
// Prints a JSON object (--json) or a table. bench/run_cpu_engine_bench.sh
// puts it next to llama.cpp's numbers from the same run.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "common/gguf.h"
#include "common/model_config.h"
#include "nlohmann/json.hpp"
#include "scheduler/engine.h"
#include "worker/in_process_channel.h"
#include "worker/local_worker.h"

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

std::vector<int32_t> SyntheticPrompt(int len, int salt, int vocab) {
  std::vector<int32_t> ids(len);
  uint32_t x = 2463534242u + salt * 7919u;
  for (int i = 0; i < len; ++i) {
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    ids[i] = 100 + static_cast<int32_t>(x % static_cast<uint32_t>(vocab - 100));
  }
  return ids;
}

struct RunResult {
  double prefill_seconds = 0;  // until every sequence has its first token
  double decode_seconds = 0;   // from then to the end
  int64_t decode_tokens = 0;   // tokens generated after the first of each
};

// Runs `num_seqs` sequences of `prompt_len` prompt tokens, `gen` tokens each.
RunResult RunWorkload(llm::LocalWorker& worker, int num_seqs, int prompt_len,
                      int gen, int max_batched_tokens) {
  llm::InProcessWorkerChannel channel(worker);
  llm::EngineOptions opts;
  opts.max_num_seqs = std::max(num_seqs, 1);
  opts.max_batched_tokens = max_batched_tokens;
  auto engine = llm::Engine::Create(opts, channel);
  if (!engine.ok()) {
    std::cerr << engine.status() << "\n";
    std::exit(1);
  }
  int64_t total_tokens = 0;
  Clock::time_point all_started;
  const Clock::time_point start = Clock::now();
  for (int i = 0; i < num_seqs; ++i) {
    llm::GenerationRequest req;
    req.request_id = "bench-" + std::to_string(i);
    req.prompt_tokens = SyntheticPrompt(prompt_len, i, worker.config().n_vocab);
    req.params.temperature = 0.0f;
    req.max_tokens = gen;
    req.ignore_eos = true;
    auto status = (*engine)->Add(std::move(req), [&](const llm::SequenceUpdate& u) {
      total_tokens += static_cast<int64_t>(u.new_tokens.size());
    });
    if (!status.ok()) {
      std::cerr << status << "\n";
      std::exit(1);
    }
  }
  // Every sequence yields exactly one token per step once its prefill is
  // done (greedy, ignore_eos), so decoding has started for all of them when
  // num_seqs tokens have arrived.
  int64_t tokens_at_decode_start = 0;
  bool decoding = false;
  while ((*engine)->HasWork()) {
    auto s = (*engine)->Step();
    if (!s.ok()) {
      std::cerr << s << "\n";
      std::exit(1);
    }
    if (!decoding && total_tokens >= num_seqs) {
      decoding = true;
      all_started = Clock::now();
      tokens_at_decode_start = total_tokens;
    }
  }
  const Clock::time_point end = Clock::now();
  RunResult r;
  r.prefill_seconds = Seconds(start, all_started);
  r.decode_seconds = Seconds(all_started, end);
  r.decode_tokens = total_tokens - tokens_at_decode_start;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model;
  int threads = 2;
  bool json = false;
  int prefill_len = 512, decode_len = 256, batch_prompt = 128, batch_gen = 128;
  std::vector<int> batch_sizes = {1, 8, 32};
  int64_t kv_cache_tokens = 8192;
  CLI::App app{"engine-bench: prefill / decode / batched decode throughput"};
  app.add_option("--model", model, "GGUF model")->required();
  app.add_option("--threads", threads, "CPU threads")->capture_default_str();
  app.add_option("--prefill-len", prefill_len)->capture_default_str();
  app.add_option("--decode-len", decode_len)->capture_default_str();
  app.add_option("--batch-prompt-len", batch_prompt)->capture_default_str();
  app.add_option("--batch-gen-len", batch_gen)->capture_default_str();
  app.add_option("--batch-sizes", batch_sizes)->capture_default_str();
  app.add_option("--kv-cache-tokens", kv_cache_tokens, "KV pool size in tokens")->capture_default_str();
  app.add_flag("--json", json, "Print one JSON object");
  CLI11_PARSE(app, argc, argv);

  // A KV pool of kv_cache_tokens tokens, as llama-batched-bench -c 8192
  // preallocates, so peak RSS compares like with like.
  auto file = llm::GgufFile::Open(model);
  if (!file.ok()) {
    std::cerr << "engine-bench: " << file.status() << "\n";
    return 1;
  }
  auto config = llm::ModelConfigFromGguf(**file);
  if (!config.ok()) {
    std::cerr << "engine-bench: " << config.status() << "\n";
    return 1;
  }
  const int64_t bytes_per_token =
      int64_t{2} * config->n_layer * config->kv_dim() * 2;  // K and V, fp16
  file->reset();
  llm::WorkerOptions wopts;
  wopts.model_path = model;
  wopts.threads = threads;
  wopts.backend = "cpu";
  wopts.kv_cache_bytes = kv_cache_tokens * bytes_per_token;
  auto worker = llm::LocalWorker::Create(wopts);
  if (!worker.ok()) {
    std::cerr << "engine-bench: " << worker.status() << "\n";
    return 1;
  }
  // Warm-up: page in the weights.
  RunWorkload(**worker, 1, 32, 8, 2048);

  nlohmann::json out;
  {
    const RunResult r = RunWorkload(**worker, 1, prefill_len, 1, prefill_len);
    out["prefill_tok_s"] = prefill_len / r.prefill_seconds;
  }
  {
    const RunResult r = RunWorkload(**worker, 1, 16, decode_len + 1, 2048);
    out["decode_tok_s"] = r.decode_tokens / r.decode_seconds;
  }
  for (int n : batch_sizes) {
    // One prefill step for all, so the decode phase is pure decode.
    const RunResult r = RunWorkload(**worker, n, batch_prompt, batch_gen + 1,
                                    std::max(2048, n * batch_prompt));
    out["batched_decode_tok_s"][std::to_string(n)] = r.decode_tokens / r.decode_seconds;
  }
  uint64_t weight_bytes = 0;
  for (const auto& t : (*worker)->file().tensors()) weight_bytes += t.nbytes;
  out["decode_weight_bytes"] = weight_bytes;
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  out["peak_rss_mb"] = ru.ru_maxrss / 1024.0;
  out["backend"] = (*worker)->backend_name();
  out["threads"] = threads;
  if (json) {
    std::cout << out.dump() << "\n";
  } else {
    std::cout << out.dump(2) << "\n";
  }
  return 0;
}
