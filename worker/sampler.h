// File: worker/sampler.h
//
// Sampler: one row of logits -> one token, under a request's SamplingParams.
// Randomness is counter-based (Philox-4x32-10 keyed by the request's seed,
// counter (step, sample_index)), so a seed reproduces a result whatever the
// batch, the preemptions or the worker. Inverse-CDF sampling over tokens in
// id order after filtering.
//
// Thread safety: stateless; call from any thread.
#ifndef LLM_WORKER_SAMPLER_H_
#define LLM_WORKER_SAMPLER_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "common/sampling_params.h"
#include "common/step_plan.h"  // TokenLogprob, SampledToken

namespace llm {

// Per-request context for penalties and randomness.
struct SamplingContext {
  absl::Span<const int32_t> prompt_tokens;     // for repetition_penalty
  absl::Span<const int32_t> generated_tokens;  // for all three penalties
  uint64_t seed = 0;          // params.seed or the engine's draw
  uint64_t step = 0;          // index of the token being sampled in the output
  uint64_t sample_index = 0;  // which of n parallel samples
};

// `logits` ([vocab]) is used as scratch and left modified.
// REQUIRES: params.Validate().ok().
SampledToken Sample(absl::Span<float> logits, const SamplingParams& params,
                    const SamplingContext& context);

// Uniform [0, 1) from Philox-4x32-10 for (seed, counter_hi, counter_lo); exposed
// for speculative decoding's acceptance test and for tests.
double PhiloxUniform(uint64_t seed, uint64_t counter_hi, uint64_t counter_lo);

}  // namespace llm

#endif  // LLM_WORKER_SAMPLER_H_
