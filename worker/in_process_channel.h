// File: worker/in_process_channel.h
//
// InProcessWorkerChannel: a WorkerChannel that calls a LocalWorker directly,
// so the offline CLI and the tests run the same scheduler as the cluster.
#ifndef LLM_WORKER_IN_PROCESS_CHANNEL_H_
#define LLM_WORKER_IN_PROCESS_CHANNEL_H_

#include "common/worker_channel.h"
#include "worker/local_worker.h"

namespace llm {

class InProcessWorkerChannel final : public WorkerChannel {
 public:
  // REQUIRES: worker outlives the channel.
  explicit InProcessWorkerChannel(LocalWorker& worker) : worker_(worker) {}

  absl::StatusOr<WorkerDescription> Describe() override {
    WorkerDescription d;
    d.backend = worker_.backend_name();
    d.num_kv_blocks = worker_.kv_shape().num_blocks;
    d.block_size = worker_.kv_shape().block_size;
    d.context_length = worker_.config().context_length;
    d.vocab_size = worker_.config().n_vocab;
    d.has_draft_model = worker_.has_draft_model();
    return d;
  }
  absl::StatusOr<StepResult> Execute(const StepPlan& plan) override {
    return worker_.Execute(plan);
  }

 private:
  LocalWorker& worker_;
};

}  // namespace llm

#endif  // LLM_WORKER_IN_PROCESS_CHANNEL_H_
