// File: common/worker_channel.h
//
// WorkerChannel: how the scheduler reaches one worker group: send a step
// plan, get its result. Two implementations carry the same messages: the
// in-process channel (worker/in_process_channel.h; llm-generate and tests)
// and the gRPC channel (the cluster). The scheduler sees only this.
//
// Two ways to drive it: Execute (one step, synchronous), or Submit then
// Await (pipelined: the engine's async scheduling submits step N+1 before
// it awaits step N, so that the round trip and its own bookkeeping hide
// behind the worker's step). A worker executes plans in submission order,
// each against the state the previous ones left; that is what makes a
// plan built before its predecessor's result correct.
//
// Thread safety: one caller at a time (the group's engine loop).
#ifndef LLM_COMMON_WORKER_CHANNEL_H_
#define LLM_COMMON_WORKER_CHANNEL_H_

#include <cstdint>
#include <deque>
#include <string>

#include "absl/status/status.h"
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
  // REQUIRES: no submitted step is outstanding.
  virtual absl::StatusOr<StepResult> Execute(const StepPlan& plan) = 0;

  // Pipelined use: Submit sends a plan without waiting for its result;
  // Await returns the result of the oldest outstanding plan (results come
  // in submission order). Errors as Execute's; after Unavailable every
  // later call fails too until Reconnect. After any failure the caller
  // awaits (and discards) what is still outstanding before it submits
  // again. The defaults queue the plan and Execute it in Await: correct
  // for every channel (the worker still sees the plans in order, each
  // built before its predecessor ran), overlapping nothing; the gRPC
  // channel overrides both to really overlap.
  virtual absl::Status Submit(const StepPlan& plan) {
    queued_.push_back(plan);
    return absl::OkStatus();
  }
  virtual absl::StatusOr<StepResult> Await() {
    if (queued_.empty()) return absl::FailedPreconditionError("no step outstanding");
    const StepPlan plan = std::move(queued_.front());
    queued_.pop_front();
    return Execute(plan);
  }

  // After a step failed with Unavailable: waits at most `timeout` for the
  // worker to answer again and opens a fresh session with it, in which the
  // worker knows no sequence (the caller restarts its bookkeeping); steps
  // still outstanding are dropped. Unimplemented for channels that cannot
  // lose their worker (in-process).
  virtual absl::Status Reconnect(absl::Duration /*timeout*/) {
    return absl::UnimplementedError("this worker channel cannot reconnect");
  }

 private:
  std::deque<StepPlan> queued_;  // the defaults' outstanding plans, oldest first
};

}  // namespace llm

#endif  // LLM_COMMON_WORKER_CHANNEL_H_
