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
// Thread safety: one owner thread.
#ifndef LLM_WORKER_MODEL_RUNNER_H_
#define LLM_WORKER_MODEL_RUNNER_H_

#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "common/step_plan.h"
#include "worker/llama_model.h"

namespace llm {

class ModelRunner {
 public:
  // REQUIRES: model outlives the runner; its backend's KV cache allocated.
  explicit ModelRunner(LlamaModel& model);

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
  };

  absl::Status Validate(const StepPlan& plan) const;

  LlamaModel& model_;
  absl::flat_hash_map<SeqId, Sequence> seqs_;
  // Reused across steps to avoid per-step allocation.
  ForwardBatch batch_;
  std::vector<float> logits_;
};

}  // namespace llm

#endif  // LLM_WORKER_MODEL_RUNNER_H_
