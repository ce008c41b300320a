// File: scheduler/engine_step.cc
//
// Engine's step: plan, hand the plan to the worker (Execute, or Submit now
// and Await later with async scheduling), apply the result (append tokens,
// stop conditions, updates), and the failure path. Planning a step ahead is
// correct because the worker runs plans in submission order, each against
// the state the previous ones left:
//   - a decode chunk names no token: the worker computes the one it sampled
//     in the step before;
//   - blocks freed while a step that writes them is in flight (a sequence
//     finished, was cancelled or preempted) go to other sequences only in
//     later plans, which the worker runs after that step;
//   - a block enters the prefix cache only once the step that filled it has
//     returned, so a prefix hit never reads KV still being computed, and no
//     step in flight writes into a cached block (writes start at the
//     sequence's computed count, past every block it has registered).
#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "scheduler/engine.h"

namespace llm {

FinishReason Engine::CheckStop(const Sequence& s, int32_t token) const {
  const GenerationRequest& r = *s.request;
  if (!r.ignore_eos &&
      std::find(options_.eog_token_ids.begin(), options_.eog_token_ids.end(),
                token) != options_.eog_token_ids.end()) {
    return FinishReason::kStop;
  }
  if (std::find(r.stop_token_ids.begin(), r.stop_token_ids.end(), token) !=
      r.stop_token_ids.end()) {
    return FinishReason::kStop;
  }
  if (s.num_output() >= r.max_tokens) return FinishReason::kLength;
  if (static_cast<int>(s.tokens.size()) >= worker_.context_length) {
    return FinishReason::kLength;
  }
  return FinishReason::kNone;
}

bool Engine::StopsInFlight(const Sequence& s) const {
  if (s.inflight_samples == 0) return false;
  // The same length limits as CheckStop, counting the tokens in flight.
  return s.num_output() + s.inflight_samples >= s.request->max_tokens ||
         s.num_known() >= worker_.context_length;
}

StepPlan Engine::Schedule() {
  StepPlan plan;
  plan.step_id = next_step_id_++;
  plan.finished = std::move(finished_for_worker_);
  finished_for_worker_.clear();
  planned_.clear();
  Budget budget{options_.max_batched_tokens, options_.max_num_seqs};
  if (options_.batching == BatchingMode::kStatic) {
    if (running_.empty()) {
      while (!waiting_.empty() && Admissible(*waiting_.front()) &&
             static_cast<int>(running_.size()) < options_.max_num_seqs) {
        Sequence* s = waiting_.front();
        waiting_.pop_front();
        running_.push_back(s);
        s->is_running = true;
      }
    }
    ScheduleRunning(budget, plan);
  } else {
    const bool preempted = ScheduleRunning(budget, plan);
    if (!preempted) ScheduleWaiting(budget, plan);
  }
  plan.block_copies = std::move(pending_copies_);
  pending_copies_.clear();
  return plan;
}

void Engine::ApplyResult(const InFlightStep& step, const StepResult& result) {
  for (const PlannedChunk& c : step.chunks) {
    auto it = seqs_.find(c.seq_id);
    if (it == seqs_.end()) continue;  // finished or cancelled meanwhile
    Sequence& s = *it->second;
    --s.inflight_chunks;
    if (c.sample) --s.inflight_samples;
    // The step succeeded: the full blocks it computed can serve later
    // prefixes. (A sequence preempted meanwhile holds no blocks.)
    RegisterFullBlocks(s, c.computed_end);
  }
  for (const SequenceResult& r : result.results) {
    // Sequences that finished after this step was planned are gone: their
    // token (computed from a context that had already stopped) is dropped.
    auto it = seqs_.find(r.seq_id);
    if (it == seqs_.end()) continue;
    Sequence& s = *it->second;
    // A parent preempted after this step was planned has no prompt KV left
    // to share: its samples fork once it has been recomputed.
    if (!s.fork_children.empty() && s.is_running) Fork(s);
    SequenceUpdate update;
    update.request_id = s.request_id;
    update.sample_index = s.sample_index;
    update.num_prompt_tokens = s.num_prompt;
    update.num_cached_tokens = s.num_cached;
    update.first_scheduled = s.first_scheduled;
    RecordSpeculation(s, r, update);
    FinishReason reason = FinishReason::kNone;
    // A sequence preempted meanwhile (waiting, unknown to the worker) keeps
    // the token too: it was sampled from its whole context.
    for (const SampledToken& t : r.tokens) {
      s.tokens.push_back(t.token);
      update.new_tokens.push_back(t);
      ++stats_.generated_tokens;
      reason = CheckStop(s, t.token);
      if (reason != FinishReason::kNone) break;
    }
    update.finish_reason = reason;
    // Accepted drafts may have completed blocks (hashed from the tokens
    // just appended; rejected tokens were never appended).
    if (r.num_proposed > 0 && reason == FinishReason::kNone) {
      RegisterFullBlocks(s, s.num_computed);
    }
    if (s.on_update) s.on_update(update);
    if (reason != FinishReason::kNone) {
      // Finish() reports only cancellations; this update already carried it.
      Finish(s, reason);
    }
  }
}

absl::Status Engine::FailAll(const absl::Status& status) {
  // Results still outstanding would answer later plans: take them off the
  // channel (a broken gRPC session answers at once) and drop them.
  while (!in_flight_.empty()) {
    channel_.Await().IgnoreError();
    in_flight_.pop_front();
  }
  // Fail everything in flight so that no request hangs and every block
  // returns to the pool. Unavailable: the session (and the worker's state)
  // is gone. Anything else (a plan the worker rejected): the session lives
  // on, so the next plan tells the worker to drop these sequences, which it
  // would otherwise keep until the session ends.
  const bool session_lost = absl::IsUnavailable(status);
  std::vector<SeqId> all;
  for (auto& [id, s] : seqs_) all.push_back(id);
  for (SeqId id : all) {
    auto it = seqs_.find(id);
    if (it == seqs_.end()) continue;
    Sequence* s = it->second.get();
    SequenceUpdate update;
    update.request_id = s->request_id;
    update.sample_index = s->sample_index;
    update.finish_reason = FinishReason::kError;
    if (s->on_update) s->on_update(update);
    if (session_lost) s->known_to_worker = false;
    for (Sequence* child : s->fork_children) {
      if (child->on_update) {
        SequenceUpdate u = update;
        u.sample_index = child->sample_index;
        child->on_update(u);
      }
    }
    Finish(*s, FinishReason::kError);
  }
  if (session_lost) finished_for_worker_.clear();
  return status;
}

absl::Status Engine::Step() {
  step_start_ = absl::Now();
  StepPlan plan = Schedule();
  const bool has_plan =
      !plan.chunks.empty() || !plan.finished.empty() || !plan.block_copies.empty();
  if (has_plan) ++stats_.steps;
  if (!pipelined_) {
    if (!has_plan) return absl::OkStatus();
    const InFlightStep step{std::move(planned_)};
    absl::StatusOr<StepResult> result = channel_.Execute(plan);
    if (!result.ok()) return FailAll(result.status());
    ApplyResult(step, *result);
    return absl::OkStatus();
  }
  if (has_plan) {
    if (absl::Status s = channel_.Submit(plan); !s.ok()) return FailAll(s);
    in_flight_.push_back({std::move(planned_)});
  }
  // Keep one step running while the next is planned: await the oldest once
  // another is queued behind it, or when nothing more could be planned.
  if (in_flight_.size() >= 2 || (!has_plan && !in_flight_.empty())) {
    absl::StatusOr<StepResult> result = channel_.Await();
    const InFlightStep step = std::move(in_flight_.front());
    in_flight_.pop_front();
    if (!result.ok()) return FailAll(result.status());
    ApplyResult(step, *result);
  }
  return absl::OkStatus();
}

}  // namespace llm
