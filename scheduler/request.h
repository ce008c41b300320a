// File: scheduler/request.h
//
// A generation request as the engine sees it (already tokenized and
// validated), and the per-sample sequence state the engine keeps for it.
#ifndef LLM_SCHEDULER_REQUEST_H_
#define LLM_SCHEDULER_REQUEST_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/sampling_params.h"
#include "common/step_plan.h"
#include "scheduler/block_hash.h"

namespace llm {

enum class FinishReason { kNone, kStop, kLength, kCancelled, kError };

// Upper bound on K (draft tokens per step) anywhere, per request or per
// deployment: beyond ~10 the chance that all drafts hold is tiny and the
// verification rows are wasted.
inline constexpr int kMaxSpeculativeTokens = 32;
const char* FinishReasonName(FinishReason reason);  // "stop", "length", ...

struct GenerationRequest {
  std::string request_id;
  std::vector<int32_t> prompt_tokens;
  SamplingParams params;
  int n = 1;                    // parallel samples
  int max_tokens = 256;         // generated tokens per sample
  bool ignore_eos = false;
  std::vector<int32_t> stop_token_ids;
  // Speculative decoding for this request: unset = the engine's default
  // (EngineOptions::speculative), 0 = off, K > 0 = up to K draft tokens per
  // step from the engine's draft source, capped at its
  // max_num_speculative_tokens. Output is unchanged either way (in
  // distribution when a draft model samples). Range [0, kMaxSpeculativeTokens].
  std::optional<int> num_speculative_tokens;
};

// What the engine reports for one sample after a step.
struct SequenceUpdate {
  std::string request_id;
  int sample_index = 0;
  std::vector<SampledToken> new_tokens;
  FinishReason finish_reason = FinishReason::kNone;  // kNone: still running
  int num_prompt_tokens = 0;
  int num_cached_tokens = 0;
  // When the sequence first got a chunk into a step: the end of its
  // queueing (llm_queue_time_seconds). Set on token updates.
  absl::Time first_scheduled = absl::InfinitePast();
  // Speculative decoding in the step(s) this update covers.
  int num_proposed_draft_tokens = 0;
  int num_accepted_draft_tokens = 0;
};

using UpdateCallback = std::function<void(const SequenceUpdate&)>;

// One sample of a request inside the engine.
struct Sequence {
  SeqId id = 0;
  std::string request_id;
  int sample_index = 0;
  const GenerationRequest* request = nullptr;  // owned by the engine
  std::vector<int32_t> tokens;   // prompt then output
  int num_prompt = 0;
  int num_computed = 0;          // tokens whose KV is in the cache
  std::vector<int32_t> blocks;   // block table
  int blocks_sent = 0;           // prefix of `blocks` the worker knows
  // Copy-on-write replacements inside that prefix not yet sent.
  std::vector<std::pair<int32_t, int32_t>> replaced_blocks;
  bool known_to_worker = false;
  bool is_running = false;
  // Hashes of the full, computed blocks, in table order (prefix caching).
  std::vector<BlockHash> block_hashes;
  int num_cached = 0;            // prompt tokens served by the prefix cache
  // n > 1: samples 1..n-1 wait here until sample 0's prefill is done, then
  // fork from its blocks (shared, copy-on-write) instead of recomputing.
  std::vector<Sequence*> fork_children;
  Sequence* fork_parent = nullptr;
  uint64_t seed = 0;
  // Speculation: the K this sample may use (0 = off) and, when adaptive,
  // the K of its next step.
  int spec_max_k = 0;
  int spec_k = 0;
  absl::Time arrival;
  absl::Time first_scheduled = absl::InfinitePast();  // see SequenceUpdate
  FinishReason finish_reason = FinishReason::kNone;
  UpdateCallback on_update;

  // Async scheduling (EngineOptions::async_scheduling): this sequence's
  // chunks in steps submitted but not yet applied, and how many of those
  // sample. A sampled token in flight is known to the worker (it appends
  // its own samples) but not yet to `tokens`: it counts as known, so the
  // next plan can already compute it. Both 0 between synchronous steps.
  int inflight_chunks = 0;
  int inflight_samples = 0;

  int num_output() const { return static_cast<int>(tokens.size()) - num_prompt; }
  // Tokens known to the worker once the steps in flight have run.
  int num_known() const { return static_cast<int>(tokens.size()) + inflight_samples; }
  int num_pending() const { return num_known() - num_computed; }
};

}  // namespace llm

#endif  // LLM_SCHEDULER_REQUEST_H_
