// llm-generate: offline generation with the real engine, in process.
// Runs the same scheduler (continuous batching, paged KV) and model runner
// as the cluster, through the in-process worker channel. Several prompts run
// together, batched.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "common/chat_template.h"
#include "common/incremental_detokenizer.h"
#include "common/tokenizer.h"
#include "nlohmann/json.hpp"
#include "scheduler/engine.h"
#include "worker/in_process_channel.h"
#include "worker/local_worker.h"

namespace {

struct Flags {
  std::string model;
  // cpu by default: the goldens and tests compare against the CPU numerics.
  std::string backend = "cpu";
  std::vector<std::string> prompts;
  std::string prompts_file;
  bool chat = false;
  int max_tokens = 128;
  float temperature = 0.0f;
  int top_k = 0;
  float top_p = 1.0f;
  float min_p = 0.0f;
  float repetition_penalty = 1.0f;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  int64_t seed = -1;
  int n = 1;
  int logprobs = 0;
  bool ignore_eos = false;
  int threads = 0;
  int64_t kv_cache_bytes = 0;
  int max_num_seqs = 64;
  int max_batched_tokens = 2048;
  bool json = false;
  std::string draft_model;
  std::string draft;  // "", "ngram", "model"
  int num_speculative_tokens = -1;  // -1: 5 when a draft source is given
  bool spec_adaptive = false;
  int self_draft_layers = 0;
  bool print_stats = false;
};

struct Completion {
  int prompt_index = 0;
  int sample_index = 0;
  std::vector<int32_t> prompt_ids;
  std::vector<int32_t> token_ids;
  std::vector<float> logprobs;
  std::vector<std::vector<llm::TokenLogprob>> top_logprobs;
  std::string finish_reason;
  int proposed_draft_tokens = 0;
  int accepted_draft_tokens = 0;
};

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "llm-generate: %s\n", std::string(status.message()).c_str());
  return 1;
}

absl::StatusOr<std::vector<int32_t>> EncodePrompt(const llm::Tokenizer& tok,
                                                  const std::string& prompt,
                                                  bool chat) {
  if (prompt.empty()) return absl::InvalidArgumentError("prompt is empty");
  if (!chat) return tok.Encode(prompt, /*add_special=*/true, /*parse_special=*/false);
  absl::StatusOr<llm::ChatTemplateFamily> family =
      llm::DetectChatTemplate(tok.chat_template());
  if (!family.ok()) return family.status();
  const llm::ChatMessage messages[] = {{"user", prompt}};
  absl::StatusOr<std::string> text =
      llm::RenderChat(*family, messages, /*add_generation_prompt=*/true);
  if (!text.ok()) return text.status();
  return tok.Encode(*text, /*add_special=*/true, /*parse_special=*/true);
}

int Run(const Flags& f) {
  std::vector<std::string> prompts = f.prompts;
  if (!f.prompts_file.empty()) {
    std::ifstream in(f.prompts_file);
    if (!in) {
      return Fail(absl::NotFoundError(
          absl::StrFormat("cannot open --prompts-file %s", f.prompts_file)));
    }
    for (std::string line; std::getline(in, line);) prompts.push_back(line);
  }
  if (prompts.empty()) {
    return Fail(absl::InvalidArgumentError("give --prompt TEXT or --prompts-file FILE"));
  }

  llm::WorkerOptions wopts;
  wopts.model_path = f.model;
  wopts.threads = f.threads;
  wopts.kv_cache_bytes = f.kv_cache_bytes;
  wopts.backend = f.backend;
  wopts.draft_model_path = f.draft_model;
  wopts.self_draft_layers = f.self_draft_layers;
  if (!f.draft.empty() && f.draft != "ngram" && f.draft != "model" && f.draft != "none") {
    return Fail(absl::InvalidArgumentError(
        absl::StrFormat("--draft must be ngram, model or none, got '%s'", f.draft)));
  }
  if (f.draft == "model" && f.draft_model.empty()) {
    return Fail(absl::InvalidArgumentError("--draft model needs --draft-model PATH"));
  }
  if (f.draft == "ngram" && !f.draft_model.empty()) {
    return Fail(absl::InvalidArgumentError("give --draft ngram or --draft-model, not both"));
  }
  absl::StatusOr<std::unique_ptr<llm::LocalWorker>> worker =
      llm::LocalWorker::Create(wopts);
  if (!worker.ok()) return Fail(worker.status());
  absl::StatusOr<std::unique_ptr<llm::Tokenizer>> tok =
      llm::Tokenizer::FromGguf((*worker)->file());
  if (!tok.ok()) return Fail(tok.status());

  llm::InProcessWorkerChannel channel(**worker);
  llm::EngineOptions eopts;
  eopts.max_num_seqs = f.max_num_seqs;
  eopts.max_batched_tokens = f.max_batched_tokens;
  eopts.eog_token_ids = (*tok)->end_of_generation_ids();
  if (f.draft == "ngram") {
    eopts.speculative.source = llm::DraftSource::kNgram;
  } else if ((!f.draft_model.empty() || f.self_draft_layers > 0) && f.draft != "none") {
    eopts.speculative.source = llm::DraftSource::kDraftModel;
  }
  if (eopts.speculative.source != llm::DraftSource::kNone) {
    eopts.speculative.num_speculative_tokens =
        f.num_speculative_tokens >= 0 ? f.num_speculative_tokens : 5;
    eopts.speculative.adaptive = f.spec_adaptive;
  }
  absl::StatusOr<std::unique_ptr<llm::Engine>> engine =
      llm::Engine::Create(eopts, channel);
  if (!engine.ok()) return Fail(engine.status());

  llm::SamplingParams params;
  params.temperature = f.temperature;
  params.top_k = f.top_k;
  params.top_p = f.top_p;
  params.min_p = f.min_p;
  params.repetition_penalty = f.repetition_penalty;
  params.presence_penalty = f.presence_penalty;
  params.frequency_penalty = f.frequency_penalty;
  params.logprobs = f.logprobs;
  if (f.seed >= 0) params.seed = static_cast<uint64_t>(f.seed);

  std::vector<Completion> completions(prompts.size() * f.n);
  const bool stream = !f.json && completions.size() == 1;
  llm::IncrementalDetokenizer detok(**tok);
  for (size_t i = 0; i < prompts.size(); ++i) {
    absl::StatusOr<std::vector<int32_t>> ids = EncodePrompt(**tok, prompts[i], f.chat);
    if (!ids.ok()) {
      return Fail(absl::Status(ids.status().code(),
                               absl::StrFormat("prompt %d: %s", i, ids.status().message())));
    }
    llm::GenerationRequest req;
    req.request_id = absl::StrFormat("prompt-%d", i);
    req.prompt_tokens = *ids;
    req.params = params;
    req.n = f.n;
    req.max_tokens = f.max_tokens;
    req.ignore_eos = f.ignore_eos;
    for (int s = 0; s < f.n; ++s) {
      Completion& c = completions[i * f.n + s];
      c.prompt_index = static_cast<int>(i);
      c.sample_index = s;
      c.prompt_ids = *ids;
    }
    auto on_update = [&, i](const llm::SequenceUpdate& u) {
      Completion& c = completions[i * f.n + u.sample_index];
      for (const llm::SampledToken& t : u.new_tokens) {
        c.token_ids.push_back(t.token);
        c.logprobs.push_back(t.logprob);
        c.top_logprobs.push_back(t.top);
        if (stream) std::cout << detok.Append(t.token) << std::flush;
      }
      c.proposed_draft_tokens += u.num_proposed_draft_tokens;
      c.accepted_draft_tokens += u.num_accepted_draft_tokens;
      if (u.finish_reason != llm::FinishReason::kNone) {
        c.finish_reason = llm::FinishReasonName(u.finish_reason);
      }
    };
    if (absl::Status s = (*engine)->Add(std::move(req), on_update); !s.ok()) {
      return Fail(absl::Status(s.code(), absl::StrFormat("prompt %d: %s", i, s.message())));
    }
  }
  while ((*engine)->HasWork()) {
    if (absl::Status s = (*engine)->Step(); !s.ok()) return Fail(s);
  }
  if (f.print_stats) {
    const llm::EngineStats& st = (*engine)->stats();
    nlohmann::json j;
    j["steps"] = st.steps;
    j["preemptions"] = st.preemptions;
    j["prompt_tokens"] = st.prompt_tokens;
    j["generated_tokens"] = st.generated_tokens;
    j["spec_verifications"] = st.spec_verifications;
    j["spec_proposed_tokens"] = st.spec_proposed_tokens;
    j["spec_accepted_tokens"] = st.spec_accepted_tokens;
    std::cerr << j.dump() << "\n";
  }
  if (stream) {
    std::cout << detok.Flush() << std::endl;
    return 0;
  }
  for (size_t k = 0; k < completions.size(); ++k) {
    const Completion& c = completions[k];
    const std::string text = (*tok)->Decode(c.token_ids);
    if (f.json) {
      nlohmann::json j;
      j["index"] = k;
      j["prompt_index"] = c.prompt_index;
      j["sample_index"] = c.sample_index;
      j["prompt_token_ids"] = c.prompt_ids;
      j["token_ids"] = c.token_ids;
      j["text"] = text;
      j["finish_reason"] = c.finish_reason;
      if (f.logprobs > 0) {
        j["logprobs"] = c.logprobs;
        nlohmann::json tops = nlohmann::json::array();
        for (const auto& step : c.top_logprobs) {
          nlohmann::json row = nlohmann::json::array();
          for (const auto& t : step) row.push_back({t.token, t.logprob});
          tops.push_back(row);
        }
        j["top_logprobs"] = tops;
      }
      if (eopts.speculative.source != llm::DraftSource::kNone) {
        j["proposed_draft_tokens"] = c.proposed_draft_tokens;
        j["accepted_draft_tokens"] = c.accepted_draft_tokens;
      }
      std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                << "\n";
    } else {
      std::cout << "=== completion " << k << " (prompt " << c.prompt_index
                << ", sample " << c.sample_index << ", " << c.finish_reason
                << ")\n"
                << text << "\n";
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  CLI::App app{"llm-generate: offline batched generation with the CPU engine"};
  app.add_option("--model", f.model, "GGUF model file")->required();
  app.add_option("--prompt", f.prompts, "Prompt text (repeatable)");
  app.add_option("--prompts-file", f.prompts_file, "File with one prompt per line");
  app.add_flag("--chat", f.chat, "Wrap each prompt as a user message in the model's chat template");
  app.add_option("--max-tokens", f.max_tokens, "Tokens to generate per completion")->capture_default_str();
  app.add_option("--temperature", f.temperature, "0 = greedy")->capture_default_str();
  app.add_option("--top-k", f.top_k, "Keep the k most likely tokens (0 = off)")->capture_default_str();
  app.add_option("--top-p", f.top_p, "Nucleus sampling threshold")->capture_default_str();
  app.add_option("--min-p", f.min_p, "Min-p threshold")->capture_default_str();
  app.add_option("--repetition-penalty", f.repetition_penalty)->capture_default_str();
  app.add_option("--presence-penalty", f.presence_penalty)->capture_default_str();
  app.add_option("--frequency-penalty", f.frequency_penalty)->capture_default_str();
  app.add_option("--seed", f.seed, "Seed (same seed, same text); -1 = random")->capture_default_str();
  app.add_option("--n", f.n, "Completions per prompt")->capture_default_str();
  app.add_option("--logprobs", f.logprobs, "Report each token's logprob and the N most likely alternatives (JSON)")->capture_default_str();
  app.add_flag("--ignore-eos", f.ignore_eos, "Do not stop at end-of-generation tokens");
  app.add_option("--backend", f.backend,
                 "auto, cpu or cuda (auto = CUDA when built and a device is present; "
                 "without one, a line on stderr and the CPU)")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}))
      ->capture_default_str();
  app.add_option("--threads", f.threads, "CPU threads (0 = all cores)")->capture_default_str();
  app.add_option("--kv-cache-bytes", f.kv_cache_bytes, "KV pool bytes (0 = 256 MiB)")->capture_default_str();
  app.add_option("--max-num-seqs", f.max_num_seqs, "Sequences per step")->capture_default_str();
  app.add_option("--max-batched-tokens", f.max_batched_tokens, "Tokens per step")->capture_default_str();
  app.add_flag("--json", f.json, "One JSON object per completion per line");
  app.add_option("--draft-model", f.draft_model,
                 "Draft GGUF (same vocabulary) for speculative decoding");
  app.add_option("--draft", f.draft,
                 "Draft source: ngram (prompt lookup), model (--draft-model) or none");
  app.add_option("--num-speculative-tokens", f.num_speculative_tokens,
                 "Draft tokens verified per step (default 5 with a draft source)");
  app.add_option("--self-draft-layers", f.self_draft_layers,
                 "Self-draft: the model's first N layers propose (no second model)");
  app.add_flag("--spec-adaptive", f.spec_adaptive,
               "Per sequence, next K = accepted + 1 (capped at K)");
  app.add_flag("--print-stats", f.print_stats, "Engine statistics as JSON on stderr");
  CLI11_PARSE(app, argc, argv);
  return Run(f);
}
