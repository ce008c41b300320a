// File: worker/speculative_sampling.h
//
// The rejection rule of speculative sampling (Leviathan et al. 2023, Chen et
// al. 2023; REFERENCE.md §11) for drafts sampled from a real distribution q:
// accept draft x with probability min(1, p(x) / q(x)), otherwise emit a
// sample of the normalised residual max(0, p - q). Whatever q is, every
// emitted token is then distributed exactly as a plain sample of p, so a
// draft model may sample its proposals under the request's temperature,
// top-k/p and min-p and still leave the output distribution the target's.
//
// p and q are the dense distributions the sampler draws from (penalties ->
// temperature -> top-k -> top-p -> min-p, normalised), computed here by
// SamplingDistribution. The uniforms come from three counter-based Philox
// streams of the request's seed, so a seed reproduces a speculative run:
//   - the plain sampler's stream (step, sample_index): the residual sample
//     and the bonus token after all drafts were accepted;
//   - DraftUniform: the draft model's own samples (distinct stream);
//   - AcceptUniform: the acceptance tests (distinct stream).
//
// Thread safety: stateless functions; call from any thread.
#ifndef LLM_WORKER_SPECULATIVE_SAMPLING_H_
#define LLM_WORKER_SPECULATIVE_SAMPLING_H_

#include <cstdint>

#include "absl/types/span.h"
#include "common/sampling_params.h"
#include "common/step_plan.h"
#include "worker/sampler.h"

namespace llm {

// The normalised distribution Sample() draws from for these logits, dense
// over the vocabulary, into `probs` (same size as `logits`). Logits are
// read only. REQUIRES: !params.greedy(); params.Validate().ok().
void SamplingDistribution(absl::Span<const float> logits, const SamplingParams& params,
                          const SamplingContext& context, absl::Span<float> probs);

// Inverse CDF over `probs` in id order (unnormalised weights are fine).
// Returns the last id with positive weight when rounding overshoots, and 0
// when every weight is 0.
int32_t SampleFromWeights(absl::Span<const float> weights, double u);

// Uniform [0, 1) of the draft model's sample for output index `step`, and
// of the acceptance test of the draft at `step`: streams disjoint from the
// plain sampler's (and from each other) for the same seed.
double DraftUniform(uint64_t seed, uint64_t step, uint64_t sample_index);
double AcceptUniform(uint64_t seed, uint64_t step, uint64_t sample_index);

struct DraftVerdict {
  bool accepted = false;
  int32_t token = 0;  // the draft when accepted, else the residual sample
};

// One draft position: p = target distribution, q = draft distribution it
// was sampled from (q[draft] > 0), `u_accept` / `u_resample` independent
// uniforms. Accepts when u_accept * q[draft] < p[draft]; otherwise samples
// norm(max(0, p - q)) with u_resample (p itself if the residual has no
// mass, which only rounding can cause: p == q never rejects). `residual`
// is scratch of the vocabulary's size.
DraftVerdict VerifyDraft(absl::Span<const float> p, absl::Span<const float> q,
                         int32_t draft, double u_accept, double u_resample,
                         absl::Span<float> residual);

// Logprob of `token` under log softmax of the raw logits and, when
// params.logprobs > 0, the most likely alternatives: what Sample() reports.
void FillLogprobs(absl::Span<const float> raw_logits, int logprobs,
                  SampledToken& token);

}  // namespace llm

#endif  // LLM_WORKER_SPECULATIVE_SAMPLING_H_
