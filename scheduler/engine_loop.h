// File: scheduler/engine_loop.h
//
// EngineLoop: the thread that owns one worker group's Engine and its
// WorkerChannel. Front ends (gRPC reactors) hand it requests and
// cancellations through a thread-safe inbox and never block on it; the loop
// applies the inbox, steps the engine while there is work, and sleeps on a
// condition variable when idle. Update callbacks run on the loop thread and
// must not block.
//
// When a step fails (the worker is gone) every request in flight is ended
// with on_error(status) (the engine's kError updates of that step are
// swallowed) and removed from the engine; the loop keeps accepting
// requests, which fail the same way until the worker answers.
//
// Thread safety: Submit, Cancel, Stats and Stop are thread-safe.
#ifndef LLM_SCHEDULER_ENGINE_LOOP_H_
#define LLM_SCHEDULER_ENGINE_LOOP_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/worker_channel.h"
#include "scheduler/engine.h"
#include "scheduler/request.h"

namespace llm {

// A request handed to the loop.
struct LoopRequest {
  GenerationRequest request;        // request_id must be unique in the loop
  UpdateCallback on_update;         // per sample, on the loop thread
  // Called once instead of further updates when the request cannot run
  // (Engine::Add refused it, or the worker failed). On the loop thread.
  std::function<void(const absl::Status&)> on_error;
};

// A snapshot of the loop's state, refreshed after every step.
struct LoopStats {
  int running = 0;        // sequences in the batch
  int waiting = 0;        // sequences waiting + requests still in the inbox
  int blocks_used = 0;
  int blocks_total = 0;
  int64_t steps = 0;
  int64_t preemptions = 0;
  int64_t prompt_tokens = 0;
  int64_t generated_tokens = 0;
};

class EngineLoop {
 public:
  // Creates the engine (Describes the worker) and starts the thread.
  static absl::StatusOr<std::unique_ptr<EngineLoop>> Start(
      const EngineOptions& options, std::unique_ptr<WorkerChannel> channel);
  // Stops the thread; requests still in flight are dropped silently.
  ~EngineLoop();

  void Submit(LoopRequest request);
  // Cancels a request by id (no-op when unknown or finished); its samples
  // end with kCancelled and its blocks are freed before the next step.
  void Cancel(const std::string& request_id);

  LoopStats Stats() const;
  // Requests submitted and not finished (for least-loaded routing).
  int load() const { return load_.load(std::memory_order_relaxed); }
  const WorkerDescription& worker() const { return worker_; }
  // When the step now being applied started. Loop thread only (from update
  // callbacks): the end of a sequence's queueing is the start of the step
  // that produced its first token.
  absl::Time step_start() const { return step_start_; }

 private:
  struct InFlight {
    UpdateCallback on_update;
    std::function<void(const absl::Status&)> on_error;
    int live_samples = 0;
  };

  EngineLoop(std::unique_ptr<WorkerChannel> channel, std::unique_ptr<Engine> engine);
  void Run();
  void Admit(LoopRequest& r);
  void OnUpdate(const SequenceUpdate& u);
  void FailAll(const absl::Status& status);
  void Publish();

  std::unique_ptr<WorkerChannel> channel_;
  std::unique_ptr<Engine> engine_;  // loop thread only
  const WorkerDescription worker_;
  absl::flat_hash_map<std::string, InFlight> in_flight_;  // loop thread only
  absl::Time step_start_;                                  // loop thread only
  bool in_step_ = false;                                   // loop thread only
  std::vector<SequenceUpdate> held_errors_;                // loop thread only

  mutable absl::Mutex mu_;
  std::vector<LoopRequest> inbox_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> cancels_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  LoopStats stats_ ABSL_GUARDED_BY(mu_);
  std::atomic<int> load_{0};
  std::thread thread_;
};

}  // namespace llm

#endif  // LLM_SCHEDULER_ENGINE_LOOP_H_
