// File: scheduler/worker_group_channel.cc
#include "scheduler/worker_group_channel.h"

#include <algorithm>
#include <future>
#include <utility>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

namespace llm {
namespace {

bool SameTokens(const StepResult& a, const StepResult& b) {
  if (a.results.size() != b.results.size()) return false;
  for (size_t i = 0; i < a.results.size(); ++i) {
    const SequenceResult& x = a.results[i];
    const SequenceResult& y = b.results[i];
    if (x.seq_id != y.seq_id || x.tokens.size() != y.tokens.size()) return false;
    for (size_t k = 0; k < x.tokens.size(); ++k) {
      if (x.tokens[k].token != y.tokens[k].token) return false;
    }
  }
  return true;
}

}  // namespace

WorkerGroupChannel::WorkerGroupChannel(std::vector<std::unique_ptr<WorkerChannel>> ranks)
    : ranks_(std::move(ranks)) {}

absl::StatusOr<WorkerDescription> WorkerGroupChannel::Describe() {
  absl::StatusOr<WorkerDescription> first = ranks_[0]->Describe();
  if (!first.ok()) return first.status();
  WorkerDescription group = *first;
  for (size_t r = 1; r < ranks_.size(); ++r) {
    absl::StatusOr<WorkerDescription> d = ranks_[r]->Describe();
    if (!d.ok()) return d.status();
    if (d->block_size != group.block_size || d->context_length != group.context_length ||
        d->vocab_size != group.vocab_size) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "rank %d disagrees with rank 0 (block size %d vs %d, context %d vs %d, "
          "vocab %d vs %d)",
          r, d->block_size, group.block_size, d->context_length, group.context_length,
          d->vocab_size, group.vocab_size));
    }
    group.num_kv_blocks = std::min(group.num_kv_blocks, d->num_kv_blocks);
    group.has_draft_model = group.has_draft_model && d->has_draft_model;
  }
  if (ranks_.size() > 1) {
    group.backend = absl::StrFormat("%s x%d ranks", group.backend, ranks_.size());
  }
  return group;
}

absl::Status WorkerGroupChannel::Reconnect(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (std::unique_ptr<WorkerChannel>& rank : ranks_) {
    const absl::Duration left = std::max(deadline - absl::Now(), absl::Milliseconds(1));
    if (absl::Status s = rank->Reconnect(left); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<StepResult> WorkerGroupChannel::Execute(const StepPlan& plan) {
  if (ranks_.size() == 1) return ranks_[0]->Execute(plan);
  return OnAllRanks([&plan](WorkerChannel& rank) { return rank.Execute(plan); });
}

absl::Status WorkerGroupChannel::Submit(const StepPlan& plan) {
  // A rank that fails leaves the group inconsistent: the caller fails the
  // step, and Unavailable makes it reconnect every rank.
  for (std::unique_ptr<WorkerChannel>& rank : ranks_) {
    if (absl::Status s = rank->Submit(plan); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<StepResult> WorkerGroupChannel::Await() {
  if (ranks_.size() == 1) return ranks_[0]->Await();
  return OnAllRanks([](WorkerChannel& rank) { return rank.Await(); });
}

absl::StatusOr<StepResult> WorkerGroupChannel::OnAllRanks(
    const std::function<absl::StatusOr<StepResult>(WorkerChannel&)>& call) {
  std::vector<std::future<absl::StatusOr<StepResult>>> others;
  for (size_t r = 1; r < ranks_.size(); ++r) {
    others.push_back(std::async(std::launch::async,
                                [this, r, &call] { return call(*ranks_[r]); }));
  }
  absl::StatusOr<StepResult> result = call(*ranks_[0]);
  absl::Status failure = result.status();
  for (size_t r = 1; r < ranks_.size(); ++r) {
    absl::StatusOr<StepResult> other = others[r - 1].get();
    if (!failure.ok()) continue;
    if (!other.ok()) {
      failure = other.status();
    } else if (!SameTokens(*result, *other)) {
      failure = absl::InternalError(absl::StrFormat(
          "rank %d sampled other tokens than rank 0 in step %d", r, result->step_id));
    }
  }
  if (!failure.ok()) return failure;
  return result;
}

}  // namespace llm
