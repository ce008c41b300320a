// File: scheduler/engine.h
//
// Engine: the batching loop of one worker group. Each Step() builds a step
// plan under two budgets (max batched tokens, max sequences), sends it over
// the WorkerChannel, and applies the result: appends tokens, checks stop
// conditions, reports updates, frees finished sequences' blocks.
//
// Continuous batching (Orca, vLLM): running sequences first (one decode
// token each; prefills in progress continue in chunks), then waiting ones
// FCFS, prefilled in chunks that fit the token budget; when blocks run out
// the newest running sequence is preempted (blocks freed, recomputed later,
// nothing lost) and no new sequence is admitted in that step. Static
// batching: admit up to max_num_seqs only when nothing runs, then run them
// all to completion (the baseline benchmarks compare against).
//
// Async scheduling (EngineOptions::async_scheduling, vLLM V1's): Step()
// plans and submits step N+1 while step N still runs on the worker, then
// awaits and applies N; the round trip and this bookkeeping hide behind the
// worker's step instead of adding to it. One step is in flight between
// Step() calls (two right after a submit). A sequence whose token is still
// in flight gets its next 1-token decode planned anyway (the worker appends
// the token it sampled itself, so the plan never carries it), unless that
// token certainly ends it (max_tokens, context); an EOS or stop token is
// only seen when the result is applied, so the step planned after it
// computes one discarded row. Full blocks enter the prefix cache only when
// the step that completed them has returned. Off with speculative decoding
// (a verification returns 1..K+1 tokens, so the next step cannot be
// planned before it returns).
//
// Thread safety: thread-compatible; one engine loop thread owns it.
#ifndef LLM_SCHEDULER_ENGINE_H_
#define LLM_SCHEDULER_ENGINE_H_

#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "common/worker_channel.h"
#include "scheduler/block_allocator.h"
#include "scheduler/request.h"

namespace llm {

enum class BatchingMode { kContinuous, kStatic };

// Where draft tokens come from (speculative decoding, REFERENCE.md §11).
enum class DraftSource {
  kNone,
  // Prompt lookup in the scheduler (scheduler/ngram_proposer.h).
  kNgram,
  // The worker's draft model (the worker must have one loaded).
  kDraftModel,
};

// "none", "ngram", "model" (the command lines' --draft values).
absl::StatusOr<DraftSource> ParseDraftSource(const std::string& name);
const char* DraftSourceName(DraftSource source);

// A decoding sequence reserves 1 + K slots (token budget and KV blocks);
// the target scores them in one pass and keeps the longest accepted prefix
// plus its own next token, so the output is the target's.
struct SpeculativeOptions {
  DraftSource source = DraftSource::kNone;
  // K: draft tokens per step per sequence (0 = off unless a request asks).
  int num_speculative_tokens = 0;
  // Cap on a request's own K (GenerationRequest::num_speculative_tokens).
  // REQUIRES: num_speculative_tokens <= this <= kMaxSpeculativeTokens.
  int max_num_speculative_tokens = kMaxSpeculativeTokens;
  // n-gram lookup window: longest match first.
  int ngram_min = 1;
  int ngram_max = 3;
  // Per sequence, the next step's K is (accepted last step + 1), capped at
  // K: fewer wasted target positions when drafts are poor.
  bool adaptive = false;
  // No speculation in a step while more than this many sequences run
  // (0: no limit). Large batches are compute bound, so rejected draft rows
  // cost real time there (vLLM's speculative_disable_by_batch_size).
  int disable_by_batch_size = 0;

  absl::Status Validate() const;
};

struct EngineOptions {
  BatchingMode batching = BatchingMode::kContinuous;
  // Sequences per step. More raises throughput until compute-bound, and
  // raises inter-token latency.
  int max_num_seqs = 64;
  // Tokens per step (prefill chunks + decodes). Bounds step latency, so
  // long prompts cannot stall running decodes.
  int max_batched_tokens = 2048;
  // Fraction of blocks kept free when admitting new sequences, against
  // preemption storms (vLLM V0 uses 1%).
  double admission_watermark = 0.01;
  // End-of-generation ids (from the tokenizer) stop a sample unless
  // ignore_eos.
  std::vector<int32_t> eog_token_ids;
  // Reuse the KV of full prompt blocks already computed for another request
  // with the same prefix (vLLM automatic prefix caching).
  bool enable_prefix_caching = true;
  // Mixed into every block hash: different models/KV dtypes never share.
  uint64_t cache_salt = 0;
  SpeculativeOptions speculative;
  // Plan and submit each step while the previous one runs (see the class
  // comment). A win when the channel overlaps (gRPC: the hop and the
  // scheduler's CPU time leave the step's critical path); with the
  // in-process channel, which runs a step only when it is awaited, it
  // changes nothing but costs a discarded row per finished sequence.
  // Ignored (synchronous) when speculative.source != kNone.
  bool async_scheduling = false;

  absl::Status Validate() const;
};

struct EngineStats {
  int64_t steps = 0;  // plans sent to the worker
  int64_t preemptions = 0;
  int64_t prompt_tokens = 0;
  int64_t generated_tokens = 0;
  int64_t prefix_cache_queried_tokens = 0;
  int64_t prefix_cache_hit_tokens = 0;
  int64_t block_copies = 0;
  // Speculative decoding. A verification is one sequence-step that scored
  // >= 1 draft token. Acceptance rate = accepted / proposed; mean accepted
  // length per verification = accepted / verifications (tokens emitted per
  // verification = that + 1).
  int64_t spec_verifications = 0;
  int64_t spec_proposed_tokens = 0;
  int64_t spec_accepted_tokens = 0;
  // The same, per draft source.
  int64_t spec_ngram_verifications = 0;
  int64_t spec_ngram_proposed_tokens = 0;
  int64_t spec_ngram_accepted_tokens = 0;
  int64_t spec_draft_model_verifications = 0;
  int64_t spec_draft_model_proposed_tokens = 0;
  int64_t spec_draft_model_accepted_tokens = 0;

  // Field by field (a loop sums the engines it has had).
  EngineStats& operator+=(const EngineStats& o);
};

class Engine {
 public:
  // Describes the worker to size the block pool. REQUIRES: channel outlives
  // the engine.
  static absl::StatusOr<std::unique_ptr<Engine>> Create(
      const EngineOptions& options, WorkerChannel& channel);

  // Enqueues a request (n sequences). InvalidArgument when it can never fit
  // (prompt + max_tokens beyond the context or the whole pool).
  absl::Status Add(GenerationRequest request, UpdateCallback on_update);
  // Finishes all samples of a request with kCancelled; frees their blocks
  // in the next step. NotFound when unknown or already finished.
  absl::Status Cancel(const std::string& request_id);
  // Finishes one sample with kCancelled (its siblings go on). NotFound when
  // unknown or already finished; FailedPrecondition while siblings still
  // wait to be forked from it (cancel the request instead).
  absl::Status CancelSample(const std::string& request_id, int sample_index);

  // One iteration: plans a step and runs it (synchronous), or with async
  // scheduling plans and submits the next step and then applies the oldest
  // in flight once another is queued behind it or nothing more can be
  // planned (so Step() with nothing to plan drains). An error from the
  // channel (Unavailable, Internal ...) is returned after every request
  // has ended with kError and every block is back in the pool.
  absl::Status Step();

  // Also true while finished ids still have to reach the worker, or a
  // step's result is outstanding.
  bool HasWork() const {
    return !running_.empty() || !waiting_.empty() || !finished_for_worker_.empty() ||
           !in_flight_.empty();
  }
  // async_scheduling and no speculation.
  bool pipelined() const { return pipelined_; }
  int num_steps_in_flight() const { return static_cast<int>(in_flight_.size()); }
  int num_running() const { return static_cast<int>(running_.size()); }
  int num_waiting() const { return static_cast<int>(waiting_.size()); }
  const BlockAllocator& blocks() const { return allocator_; }
  const EngineStats& stats() const { return stats_; }
  const WorkerDescription& worker() const { return worker_; }

 private:
  Engine(const EngineOptions& options, WorkerChannel& channel,
         const WorkerDescription& worker);

  struct Budget {
    int tokens;
    int seqs;
  };
  // What a step submitted but not yet applied did to each sequence.
  struct PlannedChunk {
    SeqId seq_id;
    int computed_end;  // the sequence's num_computed once the chunk has run
    bool sample;
  };
  struct InFlightStep {
    std::vector<PlannedChunk> chunks;
  };
  // Blocks needed for the sequence to hold `tokens` tokens.
  int BlocksFor(int tokens) const;
  // Makes the blocks for `tokens` tokens exist and the ones the next writes
  // touch exclusively owned (copy-on-write into pending_copies_), or fails
  // without side effects.
  bool TryGrow(Sequence& s, int tokens);
  void TakePrefixHits(Sequence& s);
  void ReleaseBlocks(Sequence& s);
  // Hashes the full blocks below min(`computed`, known tokens) into the
  // prefix cache. REQUIRES: the step that computed them has returned.
  void RegisterFullBlocks(Sequence& s, int computed);
  void Fork(Sequence& parent);
  // `drafts`: n-gram proposals; `k`: draft tokens to verify after the chunk
  // (drafts.size(), or the draft model's count with drafts empty).
  void AddChunk(Sequence& s, int n, StepPlan& plan, int k = 0,
                std::vector<int32_t> drafts = {});
  // Draft tokens for a decoding sequence this step (fills `drafts` for
  // n-gram), within `budget_tokens` - 1, the context and max_tokens.
  int PlanSpeculation(const Sequence& s, int budget_tokens,
                      std::vector<int32_t>& drafts) const;
  void RecordSpeculation(Sequence& s, const SequenceResult& r,
                         SequenceUpdate& update);
  // Async scheduling: the token in flight certainly ends `s` (max_tokens or
  // the context), so a step planned for it now would be wasted.
  bool StopsInFlight(const Sequence& s) const;
  // A waiting sequence may be (re)admitted: none of its chunks is in flight
  // (a preempted sequence's last sample must be in `tokens` before its
  // state is sent to the worker again). Defensive: a sequence preempted
  // while planning step N+1 could only come back in N+2, planned after
  // step N (its only step in flight) has been applied.
  static bool Admissible(const Sequence& s) { return s.inflight_chunks == 0; }
  // The next plan (maybe empty); its chunks are recorded in planned_.
  StepPlan Schedule();
  bool ScheduleRunning(Budget& budget, StepPlan& plan);
  void ScheduleWaiting(Budget& budget, StepPlan& plan);
  void Preempt(Sequence* s);
  void FreeSequence(Sequence& s);
  void ApplyResult(const InFlightStep& step, const StepResult& result);
  // The channel failed: discards what is still in flight, ends every
  // request with kError and returns `status`.
  absl::Status FailAll(const absl::Status& status);
  void Finish(Sequence& s, FinishReason reason);
  FinishReason CheckStop(const Sequence& s, int32_t token) const;

  const EngineOptions options_;
  const bool pipelined_;
  WorkerChannel& channel_;
  const WorkerDescription worker_;
  BlockAllocator allocator_;
  uint64_t next_seq_id_ = 1;
  uint64_t next_step_id_ = 1;

  absl::flat_hash_map<std::string, std::unique_ptr<GenerationRequest>> requests_;
  absl::flat_hash_map<SeqId, std::unique_ptr<Sequence>> seqs_;
  std::list<Sequence*> running_;   // admission order (oldest first)
  std::deque<Sequence*> waiting_;  // FCFS; preempted go to the front
  std::vector<SeqId> finished_for_worker_;  // sent with the next plan
  std::vector<std::pair<int32_t, int32_t>> pending_copies_;  // this step's CoW
  std::vector<PlannedChunk> planned_;  // the chunks of the step being planned
  // Submitted, not yet applied, oldest first (at most one between Step()
  // calls; always empty without async scheduling).
  std::deque<InFlightStep> in_flight_;
  absl::flat_hash_map<std::string, int> live_samples_;  // per request
  EngineStats stats_;
  absl::Time step_start_;  // of the step being planned
};

}  // namespace llm

#endif  // LLM_SCHEDULER_ENGINE_H_
