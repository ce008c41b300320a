// File: worker/model_runner.h
//
// ModelRunner: executes StepPlans on a LlamaModel. It keeps the worker-side
// state of every live sequence (its tokens, block table, computed count),
// applies each plan's delta, turns the chunks into one ragged ForwardBatch
// (prefill chunks and decode tokens of many sequences mixed), runs the
// forward pass with logits only for sampled rows, samples, and appends the
// sampled tokens to its own state. It makes no scheduling decision: a plan
// that does not fit (unknown sequence, block table too short, block id out
// of the pool) is rejected with InvalidArgument and leaves state unchanged.
//
// Speculative decoding: a chunk with num_speculative_tokens = K scores its
// last token and K draft tokens in the same ragged batch (K + 1 logit
// rows). Drafts come from the plan (n-gram) or from the optional draft
// model, run K times (batched across sequences) on its own KV pool indexed
// by the same block tables. Two verification rules, both leaving the output
// distributed as the target's (worker/speculative_sampling.h):
//  - deterministic drafts (n-gram lookup; the draft model's argmax for
//    greedy requests; q one-hot): sample the target at each position with
//    the plain sampler's counter (output index) and keep drafts while they
//    equal that sample. This is "accept with p(x), else resample from
//    norm(max(0, p - q))" for one-hot q, and every emitted token is the
//    token the target would have sampled without speculation, seed for seed.
//  - sampled drafts (the draft model under temperature > 0 draws from its
//    own processed distribution q with a Philox stream of its own): accept
//    with min(1, p/q), else emit a sample of norm(max(0, p - q)); after K
//    accepted drafts the bonus token is a plain sample of p. Reproducible
//    per seed, equal to the non-speculative output only in distribution.
//
// Thread safety: one owner thread.
#ifndef LLM_WORKER_MODEL_RUNNER_H_
#define LLM_WORKER_MODEL_RUNNER_H_

#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/step_plan.h"
#include "worker/llama_model.h"
#include "worker/sampler.h"

namespace llm {

class ModelRunner {
 public:
  // REQUIRES: model (and draft) outlive the runner; their backends' KV
  // caches allocated with the same num_blocks and block_size.
  explicit ModelRunner(LlamaModel& model, LlamaModel* draft = nullptr);
  // Self-draft: the target's first `layers` layers propose (early exit),
  // sharing the target's KV pool: those layers' KV of accepted positions is
  // exactly what the draft needs, and verification rewrites the drafted
  // positions with the same values. REQUIRES: no separate draft model.
  void UseSelfDraft(int layers) {
    draft_ = &model_;
    draft_layers_ = layers;
  }

  absl::StatusOr<StepResult> Execute(const StepPlan& plan);

  int num_sequences() const { return static_cast<int>(seqs_.size()); }
  const ModelConfig& config() const { return model_.config(); }
  int num_kv_blocks() const;
  int block_size() const;

 private:
  struct Sequence {
    std::vector<int32_t> tokens;  // prompt then output
    int32_t num_prompt = 0;
    int32_t num_computed = 0;     // tokens with KV in the cache
    std::vector<int32_t> block_table;
    SamplingParams params;
    uint64_t seed = 0;
    uint32_t sample_index = 0;
    int32_t draft_computed = 0;   // tokens with KV in the draft's cache

    // The sampler's view of this sequence for its next output token.
    SamplingContext NextTokenContext() const {
      SamplingContext ctx;
      ctx.prompt_tokens = absl::MakeConstSpan(tokens.data(), num_prompt);
      ctx.generated_tokens =
          absl::MakeConstSpan(tokens.data() + num_prompt, tokens.size() - num_prompt);
      ctx.seed = seed;
      ctx.step = tokens.size() - num_prompt;
      ctx.sample_index = sample_index;
      return ctx;
    }
  };

  absl::Status Validate(const StepPlan& plan) const;
  absl::Status ValidateSpeculation(const ScheduledChunk& c) const;
  // Appends positions [from, to) of `s` to `batch` as one sequence: its
  // known tokens, then `after_known` (drafts) past them. No logit rows.
  void AppendRows(ForwardBatch& batch, const Sequence& s, int32_t from, int32_t to,
                  absl::Span<const int32_t> after_known = {}) const;
  // The separate draft model computes the KV of the chunks in `which` (and
  // whatever it lacks before them): ScheduledChunk::draft_catch_up. Block
  // tables already extended; num_computed not yet advanced.
  absl::Status CatchUpDraft(const StepPlan& plan, const std::vector<size_t>& which);
  // Greedy draft-model proposals for the chunks in `which` (indices into
  // plan.chunks), written to drafts[index]. Block tables already extended.
  // Sampled requests also get their q rows in draft_q_[index].
  absl::Status ProposeWithDraftModel(const StepPlan& plan,
                                     const std::vector<size_t>& which,
                                     std::vector<std::vector<int32_t>>& drafts);
  // Samples the next draft of `s` from the draft's processed distribution,
  // appending that distribution to `q_rows` ([drafts so far + 1][vocab]).
  int32_t SampleDraft(const Sequence& s, absl::Span<const float> logits,
                      const std::vector<int32_t>& drafts_so_far,
                      std::vector<float>& q_rows);
  // Verifies the drafts of one sampled chunk against the target rows
  // logits_[row ...] (the min(1, p/q) rule); appends emitted tokens to `s`.
  void VerifySampledDrafts(Sequence& s, const std::vector<int32_t>& drafts,
                           const std::vector<float>& q_rows, size_t row,
                           SequenceResult& r);

  LlamaModel& model_;
  LlamaModel* draft_;
  int draft_layers_ = 0;  // > 0: self-draft over the target's first layers
  absl::flat_hash_map<SeqId, Sequence> seqs_;
  // Reused across steps to avoid per-step allocation.
  ForwardBatch batch_;
  std::vector<float> logits_;
  // Device sampling (Backend::SampleRows) of all-greedy steps.
  std::vector<RowSampling> device_rows_;
  std::vector<int32_t> device_tokens_;
  ForwardBatch draft_batch_;
  std::vector<float> draft_logits_;
  // Per chunk of the current step: q rows of sampled drafts (empty for
  // deterministic drafts).
  std::vector<std::vector<float>> draft_q_;
  std::vector<int32_t> draft_history_;
  std::vector<float> p_row_;
  std::vector<float> residual_;
};

}  // namespace llm

#endif  // LLM_WORKER_MODEL_RUNNER_H_
