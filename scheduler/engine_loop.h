// File: scheduler/engine_loop.h
//
// EngineLoop: the thread that owns one worker group's Engine and its
// WorkerChannel. Front ends (gRPC reactors) hand it requests and
// cancellations through a thread-safe inbox and never block on it; the loop
// applies the inbox, steps the engine while there is work, and sleeps on a
// condition variable when idle. Update callbacks run on the loop thread and
// must not block.
//
// Worker failures. The loop first connects to its worker group (Reconnect,
// Describe, the caller's validation, then a fresh Engine sized from the
// description), retrying with exponential backoff for as long as it takes;
// until then the group is unavailable. When a step fails (the worker died,
// or hung past the channel's step timeout) every request in flight ends
// with on_error(status) (the engine's kError updates of that step are
// swallowed) and, for channels that can reconnect (gRPC), the group turns
// unavailable, the engine and its block tables are dropped (the worker's
// new session knows no sequence) and the loop reconnects. Requests handed
// in while unavailable get on_error(Unavailable) at once, so that the
// front end can send them elsewhere. Channels that cannot reconnect
// (in-process) keep their engine and go on serving.
//
// Thread safety: Submit, Cancel, CancelSample, Stats, available,
// availability and worker are thread-safe.
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
#include "scheduler/prefix_index.h"
#include "scheduler/request.h"

namespace llm {

// A request handed to the loop.
struct LoopRequest {
  GenerationRequest request;        // request_id must be unique in the loop
  UpdateCallback on_update;         // per sample, on the loop thread
  // Called once instead of further updates when the request cannot run
  // (Engine::Add refused it, or the worker failed). On the loop thread, or
  // on the submitting thread when the loop is stopping.
  std::function<void(const absl::Status&)> on_error;
};

// A snapshot of the loop's state, refreshed after every step.
struct LoopStats {
  int running = 0;        // sequences in the batch
  int waiting = 0;        // sequences waiting + requests still in the inbox
  int blocks_used = 0;
  int blocks_total = 0;   // of the worker last connected (kept while down)
  int64_t steps = 0;
  int64_t preemptions = 0;
  int64_t prompt_tokens = 0;
  int64_t generated_tokens = 0;
  int64_t worker_failures = 0;  // steps that lost the worker
  // Every counter of the engine, summed over the engines this loop has had
  // (a reconnection starts a new engine; counters never go backwards).
  EngineStats engine;
};

struct LoopOptions {
  EngineOptions engine;
  // How logs and errors name the group ("host:port" or "a:1+b:2").
  std::string name;
  // Checks a worker's description before the group serves: block size,
  // model. An error keeps the group unavailable (and is the answer of
  // WaitFirstAttempt at start-up).
  std::function<absl::Status(const WorkerDescription&)> validate;
  // Each connection attempt waits at most this long.
  absl::Duration connect_timeout = absl::Seconds(10);
  // Pause between failed attempts: doubles from initial to max.
  absl::Duration initial_backoff = absl::Milliseconds(200);
  absl::Duration max_backoff = absl::Seconds(5);
  // On the loop thread after every change of available() (health status).
  std::function<void()> on_availability_change;
  // Logs connection changes (one JSON line each) on stderr.
  bool log = false;
};

class EngineLoop {
 public:
  // Connects at once and fails if the worker cannot be used (tests and the
  // in-process path, where there is nothing to wait for).
  static absl::StatusOr<std::unique_ptr<EngineLoop>> Start(
      const EngineOptions& options, std::unique_ptr<WorkerChannel> channel);
  // Starts the thread, which connects in the background (see above).
  static std::unique_ptr<EngineLoop> StartConnecting(LoopOptions options,
                                                     std::unique_ptr<WorkerChannel> channel);
  // Stops the thread; requests still in flight are dropped silently.
  ~EngineLoop();

  // The outcome of the first connection attempt (waits for it): OK, the
  // reason the worker is not reachable (the loop keeps trying), or the
  // validation error.
  absl::Status WaitFirstAttempt();

  void Submit(LoopRequest request);
  // Cancels a request by id (no-op when unknown or finished); its samples
  // end with kCancelled and its blocks are freed before the next step.
  void Cancel(const std::string& request_id);
  // The same for one sample (a stop string ended it for the client while
  // its siblings go on).
  void CancelSample(const std::string& request_id, int sample_index);

  LoopStats Stats() const;
  // Requests submitted and not finished (for least-loaded routing).
  int load() const { return load_.load(std::memory_order_relaxed); }
  // Connected and its last step succeeded.
  bool available() const { return available_.load(std::memory_order_acquire); }
  // Why the group is unavailable (OK while available).
  absl::Status availability() const;
  // The worker's description as of the last connection (empty before).
  WorkerDescription worker() const;
  const std::string& name() const { return options_.name; }
  // Prompt blocks recently admitted here (prefix-aware routing).
  PrefixIndex& prefixes() { return prefixes_; }
  // When the step now being applied started. Loop thread only (from update
  // callbacks).
  absl::Time step_start() const { return step_start_; }

 private:
  struct InFlight {
    UpdateCallback on_update;
    std::function<void(const absl::Status&)> on_error;
    int live_samples = 0;
  };
  struct CancelOrder {
    std::string request_id;
    int sample_index;  // -1: every sample
  };

  EngineLoop(LoopOptions options, std::unique_ptr<WorkerChannel> channel);
  void Run();
  // Reconnect, Describe, validate, new Engine. Loop thread.
  absl::Status Connect();
  void SetAvailability(const absl::Status& status);
  void Admit(LoopRequest& r);
  void OnUpdate(const SequenceUpdate& u);
  void FailAll(const absl::Status& status);
  // Drops the engine after a failed step (its counters are kept).
  void RetireEngine();
  void Publish();
  bool stopping() const;

  const LoopOptions options_;
  std::unique_ptr<WorkerChannel> channel_;
  std::unique_ptr<Engine> engine_;  // loop thread only; null while down
  bool can_reconnect_ = true;       // loop thread only
  EngineStats retired_stats_;       // loop thread only
  int64_t worker_failures_ = 0;     // loop thread only
  std::string logged_reason_;       // loop thread only
  absl::flat_hash_map<std::string, InFlight> in_flight_;  // loop thread only
  absl::Time step_start_;                                  // loop thread only
  bool in_step_ = false;                                   // loop thread only
  std::vector<SequenceUpdate> held_errors_;                // loop thread only
  PrefixIndex prefixes_;

  mutable absl::Mutex mu_;
  std::vector<LoopRequest> inbox_ ABSL_GUARDED_BY(mu_);
  std::vector<CancelOrder> cancels_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  LoopStats stats_ ABSL_GUARDED_BY(mu_);
  WorkerDescription worker_ ABSL_GUARDED_BY(mu_);
  absl::Status availability_ ABSL_GUARDED_BY(mu_);
  bool first_attempt_done_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status first_attempt_ ABSL_GUARDED_BY(mu_);
  std::atomic<int> load_{0};
  std::atomic<bool> available_{false};
  std::thread thread_;
};

}  // namespace llm

#endif  // LLM_SCHEDULER_ENGINE_LOOP_H_
