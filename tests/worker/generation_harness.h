// Runs prompts through the real engine (scheduler + in-process worker) for
// tests: the same path as llm-generate.
#ifndef LLM_TESTS_WORKER_GENERATION_HARNESS_H_
#define LLM_TESTS_WORKER_GENERATION_HARNESS_H_

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "scheduler/engine.h"
#include "worker/in_process_channel.h"
#include "worker/local_worker.h"

namespace llm::testing {

inline std::string RealModelPath() {
  return std::string(LLM_SOURCE_DIR) + "/models/SmolLM2-135M-Instruct.Q4_1.gguf";
}

struct Generated {
  std::vector<int32_t> tokens;
  std::vector<SampledToken> sampled;
  FinishReason finish = FinishReason::kNone;
};

struct GenerationSpec {
  std::vector<int32_t> prompt;
  SamplingParams params;  // default below: greedy
  int max_tokens = 32;
  int n = 1;
  bool ignore_eos = false;
};

// Runs all specs together (one batch) and returns results in spec order
// (n > 1: spec-major, sample-minor).
inline std::vector<Generated> Generate(LocalWorker& worker,
                                       const std::vector<GenerationSpec>& specs,
                                       EngineOptions options = {},
                                       std::vector<int32_t> eog = {0, 2}) {
  InProcessWorkerChannel channel(worker);
  options.eog_token_ids = eog;
  auto engine = Engine::Create(options, channel);
  EXPECT_TRUE(engine.ok()) << engine.status();
  std::vector<int> offset;
  int total = 0;
  for (const auto& s : specs) {
    offset.push_back(total);
    total += s.n;
  }
  std::vector<Generated> out(total);
  for (size_t i = 0; i < specs.size(); ++i) {
    GenerationRequest req;
    req.request_id = "r" + std::to_string(i);
    req.prompt_tokens = specs[i].prompt;
    req.params = specs[i].params;
    req.max_tokens = specs[i].max_tokens;
    req.n = specs[i].n;
    req.ignore_eos = specs[i].ignore_eos;
    const int base = offset[i];
    absl::Status s = (*engine)->Add(req, [&out, base](const SequenceUpdate& u) {
      Generated& g = out[base + u.sample_index];
      for (const SampledToken& t : u.new_tokens) {
        g.tokens.push_back(t.token);
        g.sampled.push_back(t);
      }
      if (u.finish_reason != FinishReason::kNone) g.finish = u.finish_reason;
    });
    EXPECT_TRUE(s.ok()) << s;
  }
  while ((*engine)->HasWork()) {
    absl::Status s = (*engine)->Step();
    EXPECT_TRUE(s.ok()) << s;
    if (!s.ok()) break;
  }
  EXPECT_EQ((*engine)->blocks().num_used(), 0);
  return out;
}

inline GenerationSpec Greedy(std::vector<int32_t> prompt, int max_tokens) {
  GenerationSpec s;
  s.prompt = std::move(prompt);
  s.params.temperature = 0.0f;
  s.max_tokens = max_tokens;
  return s;
}

}  // namespace llm::testing

#endif  // LLM_TESTS_WORKER_GENERATION_HARNESS_H_
