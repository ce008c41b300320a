// llm-spec-bench: decode tokens/s with and without speculative decoding, through
// the same scheduler + in-process worker as llm-generate, greedy.
//   --draft-model PATH: draft-model speculation on chat prompts (open
//   generation); --draft ngram: prompt lookup on input-grounded prompts
//   (rewrite / extract / summarise a given text).
// For each concurrency (1 and 8 by default) it runs the prompts without
// speculation, then with it, and reports decode tokens/s measured after
// every sequence of the wave has its first token, the acceptance rate and
// the mean accepted length, and whether the outputs were identical.
// Prints one JSON object per line.
#include <algorithm>
#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "common/chat_template.h"
#include "common/tokenizer.h"
#include "nlohmann/json.hpp"
#include "scheduler/engine.h"
#include "worker/in_process_channel.h"
#include "worker/local_worker.h"

namespace {

using Clock = std::chrono::steady_clock;

const char* kChatPrompts[] = {
    "Write a short story about a robot who learns to paint.",
    "Explain how a rainbow forms.",
    "Give me three tips for learning a new language.",
    "What is the difference between weather and climate?",
    "Describe a day in the life of a lighthouse keeper.",
    "Why is the sky blue?",
    "Write a poem about autumn leaves.",
    "How do vaccines work?",
};

const char* kText =
    "The Great Barrier Reef is the world's largest coral reef system, composed "
    "of over 2,900 individual reefs and 900 islands stretching for over 2,300 "
    "kilometres over an area of approximately 344,400 square kilometres. The "
    "reef is located in the Coral Sea, off the coast of Queensland, Australia. "
    "It can be seen from outer space and is the world's biggest single "
    "structure made by living organisms. The reef was selected as a World "
    "Heritage Site in 1981. Climate change, pollution and fishing threaten it.";

const char* kGroundedTasks[] = {
    "Repeat the following text exactly:\n",
    "Rewrite the following text, keeping every sentence:\n",
    "Copy the sentences of this text that contain a number:\n",
    "Summarise the following text, quoting it where you can:\n",
    "Extract every fact from this text as a list:\n",
    "Repeat the text below word for word:\n",
    "Rewrite this text in the same words:\n",
    "Quote the first three sentences of this text:\n",
};

struct Wave {
  double decode_tok_s = 0;
  int64_t generated = 0;
  llm::EngineStats stats;
  std::vector<std::vector<int32_t>> outputs;
};

Wave RunWave(llm::LocalWorker& worker, const std::vector<std::vector<int32_t>>& prompts,
             const llm::EngineOptions& options, int max_tokens, const std::vector<int32_t>& eog) {
  llm::InProcessWorkerChannel channel(worker);
  llm::EngineOptions o = options;
  o.eog_token_ids = eog;
  auto engine = llm::Engine::Create(o, channel);
  Wave w;
  w.outputs.resize(prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    llm::GenerationRequest r;
    r.request_id = std::to_string(i);
    r.prompt_tokens = prompts[i];
    r.params.temperature = 0.0f;
    r.max_tokens = max_tokens;
    (void)(*engine)->Add(r, [&w, i](const llm::SequenceUpdate& u) {
      for (const auto& t : u.new_tokens) w.outputs[i].push_back(t.token);
    });
  }
  // Decode phase: from the step after which every sequence has a token.
  Clock::time_point start;
  bool started = false;
  int64_t at_start = 0;
  while ((*engine)->HasWork()) {
    (void)(*engine)->Step();
    if (!started) {
      bool all = true;
      for (const auto& out : w.outputs) all = all && !out.empty();
      if (all) {
        started = true;
        start = Clock::now();
        at_start = (*engine)->stats().generated_tokens;
      }
    }
  }
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  w.stats = (*engine)->stats();
  w.generated = w.stats.generated_tokens - at_start;
  w.decode_tok_s = secs > 0 ? w.generated / secs : 0;
  return w;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model, draft_model, draft;
  std::vector<int> concurrency = {1, 8};
  int k = 5, max_tokens = 128, threads = 0, rounds_single = 4;
  bool adaptive = false;
  int self_draft_layers = 0;
  CLI::App app{"llm-spec-bench: speculative decoding speed-up"};
  app.add_option("--model", model, "Target GGUF")->required();
  app.add_option("--draft-model", draft_model, "Draft GGUF (chat prompts)");
  app.add_option("--draft", draft, "ngram: prompt lookup on grounded prompts");
  app.add_option("--num-speculative-tokens", k)->capture_default_str();
  app.add_option("--max-tokens", max_tokens)->capture_default_str();
  app.add_option("--concurrency", concurrency)->capture_default_str();
  app.add_option("--threads", threads)->capture_default_str();
  app.add_option("--self-draft-layers", self_draft_layers,
                 "Self-draft over the model's first N layers (chat prompts)");
  app.add_flag("--adaptive", adaptive, "Adaptive K (next K = accepted + 1)");
  app.add_option("--single-stream-prompts", rounds_single,
                 "Prompts run one at a time for concurrency 1 (<= 8)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  const bool ngram = draft == "ngram";
  if (!ngram && draft_model.empty() && self_draft_layers == 0) {
    std::cerr << "give --draft-model PATH, --self-draft-layers N or --draft ngram\n";
    return 1;
  }
  llm::WorkerOptions wo;
  wo.model_path = model;
  wo.draft_model_path = ngram ? "" : draft_model;
  wo.self_draft_layers = ngram ? 0 : self_draft_layers;
  wo.threads = threads;
  wo.backend = "cpu";
  auto worker = llm::LocalWorker::Create(wo);
  if (!worker.ok()) {
    std::cerr << worker.status() << "\n";
    return 1;
  }
  auto tok = llm::Tokenizer::FromGguf((*worker)->file());
  if (!tok.ok()) return 1;
  auto family = llm::DetectChatTemplate((*tok)->chat_template());
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < 8; ++i) {
    const std::string user = ngram ? std::string(kGroundedTasks[i]) + kText : kChatPrompts[i];
    const llm::ChatMessage messages[] = {{"user", user}};
    auto text = llm::RenderChat(*family, messages, true);
    prompts.push_back((*tok)->Encode(*text, true, true));
  }
  for (int c : concurrency) {
    std::vector<std::vector<int32_t>> wave(prompts.begin(), prompts.begin() + std::min<int>(c, 8));
    llm::EngineOptions plain;
    llm::EngineOptions spec;
    spec.speculative.source = ngram ? llm::DraftSource::kNgram : llm::DraftSource::kDraftModel;
    spec.speculative.num_speculative_tokens = k;
    spec.speculative.adaptive = adaptive;
    // Single stream: each prompt alone; else all at once.
    const int rounds = c == 1 ? std::min(rounds_single, 8) : 1;
    double base_s = 0, spec_s = 0, base_tok = 0, spec_tok = 0;
    int64_t proposed = 0, accepted = 0, verifications = 0;
    bool identical = true;
    for (int r = 0; r < rounds; ++r) {
      std::vector<std::vector<int32_t>> p =
          c == 1 ? std::vector<std::vector<int32_t>>{prompts[r]} : wave;
      const Wave a = RunWave(**worker, p, plain, max_tokens, (*tok)->end_of_generation_ids());
      const Wave b = RunWave(**worker, p, spec, max_tokens, (*tok)->end_of_generation_ids());
      base_tok += a.generated;
      spec_tok += b.generated;
      base_s += a.generated / a.decode_tok_s;
      spec_s += b.generated / b.decode_tok_s;
      proposed += b.stats.spec_proposed_tokens;
      accepted += b.stats.spec_accepted_tokens;
      verifications += b.stats.spec_verifications;
      identical = identical && a.outputs == b.outputs;
    }
    nlohmann::json j;
    j["source"] = ngram ? "ngram" : self_draft_layers > 0 ? "self-draft" : "draft-model";
    if (self_draft_layers > 0) j["self_draft_layers"] = self_draft_layers;
    j["concurrency"] = c;
    j["k"] = k;
    j["adaptive"] = adaptive;
    j["threads"] = threads;
    j["max_tokens"] = max_tokens;
    j["baseline_decode_tok_s"] = base_tok / base_s;
    j["spec_decode_tok_s"] = spec_tok / spec_s;
    j["speedup"] = (spec_tok / spec_s) / (base_tok / base_s);
    j["acceptance_rate"] = proposed ? double(accepted) / proposed : 0.0;
    j["mean_accepted_per_verification"] = verifications ? double(accepted) / verifications : 0.0;
    j["identical_outputs"] = identical;
    std::cout << j.dump() << std::endl;
  }
  return 0;
}
