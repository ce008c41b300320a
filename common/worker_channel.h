// File: common/worker_channel.h
//
// WorkerChannel: how the scheduler reaches one worker group: send a step
// plan, get its result. Two implementations carry the same messages: the
// in-process channel (worker/in_process_channel.h; llm-generate and tests)
// and the gRPC channel (the cluster). The scheduler sees only this.
//
// Thread safety: one caller at a time (the group's engine loop).
#ifndef LLM_COMMON_WORKER_CHANNEL_H_
#define LLM_COMMON_WORKER_CHANNEL_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/step_plan.h"

namespace llm {

struct WorkerDescription {
  std::string backend;         // "cpu(avx512, 2 threads)"
  int num_kv_blocks = 0;
  int block_size = 16;
  int context_length = 0;
  int vocab_size = 0;
  // A draft model (or self-draft) is loaded: DraftSource::kDraftModel works.
  bool has_draft_model = false;
};

class WorkerChannel {
 public:
  virtual ~WorkerChannel() = default;
  virtual absl::StatusOr<WorkerDescription> Describe() = 0;
  // Unavailable when the worker is gone; InvalidArgument for a bad plan.
  virtual absl::StatusOr<StepResult> Execute(const StepPlan& plan) = 0;
  // After Execute failed with Unavailable: waits at most `timeout` for the
  // worker to answer again and opens a fresh session with it, in which the
  // worker knows no sequence (the caller restarts its bookkeeping).
  // Unimplemented for channels that cannot lose their worker (in-process).
  virtual absl::Status Reconnect(absl::Duration /*timeout*/) {
    return absl::UnimplementedError("this worker channel cannot reconnect");
  }
};

}  // namespace llm

#endif  // LLM_COMMON_WORKER_CHANNEL_H_
