// File: common/step_plan.h
//
// The contract between the scheduler (decisions) and a worker (arithmetic):
// one StepPlan in, one StepResult out, per model step. A plan is a delta:
// sequences travel in full once (SequenceSpec), afterwards only the number
// of tokens to compute, appended blocks and finished ids. The worker keeps
// each sequence's tokens and block table between steps.
//
// Order in which a worker applies a plan: finished (drop state) ->
// new_sequences -> block_copies (copy-on-write, before any attention) ->
// chunks (replace copied blocks, append blocks, compute, sample).
#ifndef LLM_COMMON_STEP_PLAN_H_
#define LLM_COMMON_STEP_PLAN_H_

#include <cstdint>
#include <utility>
#include <vector>

#include "common/sampling_params.h"

namespace llm {

using SeqId = uint64_t;

struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0.0f;  // log softmax of the raw logits (before penalties
                         // and temperature), as OpenAI/vLLM report
};

struct SampledToken {
  int32_t token = 0;
  // The chosen token's logprob; 0 for greedy sampling without penalties
  // when params.logprobs == 0 (not requested, so not computed).
  float logprob = 0.0f;
  std::vector<TokenLogprob> top;  // params.logprobs most likely, desc.
};

// A sequence the worker has not seen, or one resumed after preemption.
struct SequenceSpec {
  SeqId seq_id = 0;
  std::vector<int32_t> prompt_tokens;
  // Tokens generated before a preemption (recomputed like the prompt, but
  // counted as output by the penalties and the sampler's step counter).
  std::vector<int32_t> output_tokens;
  SamplingParams params;
  uint64_t seed = 0;            // params.seed or the scheduler's draw
  uint32_t sample_index = 0;    // which of the request's n samples
  std::vector<int32_t> block_table;
  // Tokens whose KV is already in the cache (prefix-cache hit, fork).
  int32_t num_computed_tokens = 0;
};

// Compute the next `num_tokens` known tokens of a sequence this step.
struct ScheduledChunk {
  SeqId seq_id = 0;
  int32_t num_tokens = 0;
  // Copy-on-write replacements (table index, new block id), applied before
  // new_blocks; the copy itself travels in StepPlan::block_copies.
  std::vector<std::pair<int32_t, int32_t>> replaced_blocks;
  std::vector<int32_t> new_blocks;  // appended to the block table first
  // Sample one token after the chunk. REQUIRES: the chunk ends at the last
  // known token.
  bool sample = false;
  // Speculative decoding (REQUIRES sample): after the chunk, verify
  // `num_speculative_tokens` draft tokens in the same forward pass (the
  // block table covers them). `draft_tokens` empty: the worker's draft
  // model proposes them; else exactly that many proposals from the
  // scheduler (n-gram lookup). The worker keeps the longest accepted prefix
  // plus one token of the target's own; rejected positions' KV is garbage
  // that later writes overwrite.
  int32_t num_speculative_tokens = 0;
  std::vector<int32_t> draft_tokens;
  // The worker's draft model computes this chunk (and what it lacks before
  // it) in the same step: prompt chunks of sequences that will speculate
  // with it, so the prompt reaches the draft during prefill rather than in
  // the first verification step. Ignored without a separate draft model.
  bool draft_catch_up = false;
};

struct StepPlan {
  uint64_t step_id = 0;
  std::vector<SeqId> finished;
  std::vector<SequenceSpec> new_sequences;
  std::vector<std::pair<int32_t, int32_t>> block_copies;  // (src, dst)
  std::vector<ScheduledChunk> chunks;
};

struct SequenceResult {
  SeqId seq_id = 0;
  // One per step without speculation; with it, the accepted draft tokens
  // then the target's own token (num_accepted + 1 tokens).
  std::vector<SampledToken> tokens;
  int32_t num_proposed = 0;  // draft tokens verified this step
  int32_t num_accepted = 0;  // of which accepted (a prefix)
};

struct StepResult {
  uint64_t step_id = 0;
  std::vector<SequenceResult> results;  // chunks with sample = true, in order
};

}  // namespace llm

#endif  // LLM_COMMON_STEP_PLAN_H_
