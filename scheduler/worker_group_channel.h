// File: scheduler/worker_group_channel.h
//
// WorkerGroupChannel: one worker group of several tensor-parallel ranks
// behind the WorkerChannel interface. Every plan goes to every rank (each
// holds its shard of the weights and KV pool; the ranks all-reduce among
// themselves), concurrently; rank 0's result is the group's, and the other
// ranks must have sampled the same tokens (they sample from the same
// all-reduced logits with the same seeds) or the step is Internal. Describe
// requires the ranks to agree on block size, context and vocabulary, and
// reports the smallest pool. Submit hands the plan to every rank; Await
// collects every rank's result of the oldest plan (concurrently, as Execute
// does: in-process ranks run their step inside Await).
//
// Thread safety: one caller at a time, as WorkerChannel says.
#ifndef LLM_SCHEDULER_WORKER_GROUP_CHANNEL_H_
#define LLM_SCHEDULER_WORKER_GROUP_CHANNEL_H_

#include <functional>
#include <memory>
#include <vector>

#include "common/worker_channel.h"

namespace llm {

class WorkerGroupChannel final : public WorkerChannel {
 public:
  // REQUIRES: ranks non-empty.
  explicit WorkerGroupChannel(std::vector<std::unique_ptr<WorkerChannel>> ranks);

  absl::StatusOr<WorkerDescription> Describe() override;
  absl::StatusOr<StepResult> Execute(const StepPlan& plan) override;
  absl::Status Submit(const StepPlan& plan) override;
  absl::StatusOr<StepResult> Await() override;
  // Every rank gets a fresh session (a TP group only works whole); the
  // first rank that cannot be reached is the answer.
  absl::Status Reconnect(absl::Duration timeout) override;

  int num_ranks() const { return static_cast<int>(ranks_.size()); }

 private:
  // Runs `call` on every rank, ranks 1.. on their own threads (a rank
  // blocks in its all-reduce until every rank has the plan); rank 0's
  // result, unless some rank failed or sampled other tokens.
  absl::StatusOr<StepResult> OnAllRanks(
      const std::function<absl::StatusOr<StepResult>(WorkerChannel&)>& call);

  std::vector<std::unique_ptr<WorkerChannel>> ranks_;
};

}  // namespace llm

#endif  // LLM_SCHEDULER_WORKER_GROUP_CHANNEL_H_
