// File: worker/local_worker.h
//
// LocalWorker: everything one worker process holds, assembled from
// WorkerOptions: the mapped model file, the backend (CPU; CUDA later), the
// model with its weights bound, the KV pool sized from a byte budget, and the
// model runner that executes step plans. Used by llm-worker (behind gRPC) and
// in-process by llm-generate and the tests.
//
// Thread safety: one owner thread.
#ifndef LLM_WORKER_LOCAL_WORKER_H_
#define LLM_WORKER_LOCAL_WORKER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/gguf.h"
#include "common/step_plan.h"
#include "worker/backend.h"
#include "worker/llama_model.h"
#include "worker/model_runner.h"

namespace llm {

struct WorkerOptions {
  std::string model_path;
  // "auto" | "cpu" | "cuda". auto = cuda when built and a device is present.
  std::string backend = "auto";
  // Tensor parallelism (CUDA only; worker/tensor_parallel.h): this process
  // is rank tp_rank of a group of tp_size workers, each holding 1/tp_size of
  // the attention heads and FFN units. tp_size > 1 needs a CUDA device.
  int tp_rank = 0;
  int tp_size = 1;
  // Threads for the CPU backend; <= 0 means one per core.
  int threads = 0;
  // Bytes for the paged KV pool (all layers, K and V, fp16). Larger admits
  // more concurrent tokens; 0 means kv_cache_fraction when that is set, else
  // 256 MiB on the CPU and 90% of free device memory on CUDA.
  int64_t kv_cache_bytes = 0;
  // In (0, 1]: the pool gets this share of the memory available after the
  // model is loaded (worker/kv_cache_sizing.h: MemAvailable, capped by the
  // cgroup limit, on the CPU; free device memory on CUDA). 0: unset.
  // Exclusive with kv_cache_bytes. On the CPU, leave room for activations
  // and the other processes of the host (0.5 or less).
  double kv_cache_fraction = 0;
  // Tokens per KV block. 16 is vLLM's default: < 1 block of waste per
  // sequence, cheap tables.
  int block_size = 16;
  // Optional draft model for speculative decoding: a GGUF with the same
  // vocabulary, on its own backend and KV pool (same block count and size,
  // so the scheduler's block tables index both). Empty: none.
  std::string draft_model_path;
  // Self-draft instead: the model's first N layers propose (early exit), no
  // second model or KV pool. 0: none. Exclusive with draft_model_path.
  int self_draft_layers = 0;

  absl::Status Validate() const;
};

class LocalWorker {
 public:
  static absl::StatusOr<std::unique_ptr<LocalWorker>> Create(
      const WorkerOptions& options);

  absl::StatusOr<StepResult> Execute(const StepPlan& plan) {
    return runner_->Execute(plan);
  }

  const ModelConfig& config() const { return model_->config(); }
  const GgufFile& file() const { return *file_; }
  const KvCacheShape& kv_shape() const { return backend_->kv_cache_shape(); }
  std::string backend_name() const { return backend_->name(); }
  int tp_rank() const { return backend_->tp_rank(); }
  int tp_size() const { return backend_->tp_size(); }
  // Tensor parallelism: rank 0 creates the group's NCCL id; every rank then
  // joins with it (blocks until all have). See worker/tp_rendezvous.h.
  absl::StatusOr<std::string> NewTensorParallelId() const;
  absl::Status JoinTensorParallel(const std::string& id);
  // The memory that kv_cache_fraction applied to, in bytes; -1 when the pool
  // was sized from kv_cache_bytes or the default.
  int64_t kv_available_bytes() const { return kv_available_bytes_; }
  // A draft model or a self-draft proposes tokens (DraftSource::kDraftModel).
  bool has_draft_model() const {
    return draft_model_ != nullptr || self_draft_layers_ > 0;
  }

 private:
  LocalWorker() = default;
  std::unique_ptr<GgufFile> file_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<LlamaModel> model_;
  std::unique_ptr<GgufFile> draft_file_;
  std::unique_ptr<Backend> draft_backend_;
  std::unique_ptr<LlamaModel> draft_model_;
  std::unique_ptr<ModelRunner> runner_;
  int self_draft_layers_ = 0;
  int64_t kv_available_bytes_ = -1;
};

}  // namespace llm

#endif  // LLM_WORKER_LOCAL_WORKER_H_
