// File: scheduler/inference_service.h
//
// InferenceService: the public llm.v1.Inference gRPC service. It owns the
// tokenizer and one EngineLoop per worker group. Handlers never block:
// Generate validates, tokenizes and hands the request to an available
// group's loop through its inbox (prefix-aware, else least loaded;
// GenerateReactor then streams the loop's updates); Tokenize and
// GetModelInfo answer at once. Admission is bounded:
// when max_queue sequences already wait, Generate answers
// RESOURCE_EXHAUSTED. Before the workers are connected and while draining
// (SIGTERM), new calls get UNAVAILABLE.
//
// Thread safety: thread-safe.
#ifndef LLM_SCHEDULER_INFERENCE_SERVICE_H_
#define LLM_SCHEDULER_INFERENCE_SERVICE_H_

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/tokenizer.h"
#include "llm/v1/inference.grpc.pb.h"
#include "scheduler/engine_loop.h"
#include "scheduler/request_validation.h"
#include "scheduler/scheduler_metrics.h"

namespace llm {

struct InferenceOptions {
  int max_queue = 256;   // sequences waiting across groups before refusing
  std::string batching = "continuous";
  int max_num_seqs = 64;
  int max_batched_tokens = 2048;
  std::string model_name;
  std::string architecture;
  // Send a request to the group that was recently given the longest prefix
  // of its prompt (its blocks are likely cached there) unless that group is
  // much busier than the least-loaded one.
  bool prefix_routing = true;
  uint64_t cache_salt = 0;  // as EngineOptions::cache_salt
};

struct WorkerGroup {
  std::vector<std::string> addresses;  // one per tensor-parallel rank
  std::unique_ptr<EngineLoop> loop;
};

class InferenceService final : public v1::Inference::CallbackService {
 public:
  // REQUIRES: facts.tokenizer points into `tokenizer`. Generate answers
  // UNAVAILABLE until SetGroups.
  InferenceService(InferenceOptions options, std::unique_ptr<Tokenizer> tokenizer,
                   ModelFacts facts);
  ~InferenceService() override;

  // Once, when the workers are connected. REQUIRES: groups non-empty.
  void SetGroups(std::vector<WorkerGroup> groups);
  bool ready() const { return ready_.load(std::memory_order_acquire); }
  // Some group can take requests now (the health status).
  bool any_group_available() const;

  // Set before serving; may stay null (no metrics).
  void set_metrics(SchedulerMetrics* metrics) { metrics_ = metrics; }

  grpc::ServerWriteReactor<v1::GenerateResponse>* Generate(
      grpc::CallbackServerContext* context, const v1::GenerateRequest* request) override;
  grpc::ServerUnaryReactor* Tokenize(grpc::CallbackServerContext* context,
                                     const v1::TokenizeRequest* request,
                                     v1::TokenizeResponse* response) override;
  grpc::ServerUnaryReactor* GetModelInfo(grpc::CallbackServerContext* context,
                                         const v1::GetModelInfoRequest* request,
                                         v1::ModelInfo* response) override;

  // Refuses new Generate calls with UNAVAILABLE from now on.
  void StartDrain() { draining_.store(true); }
  // Waits until no Generate stream is open, at most `timeout`; true if none.
  bool WaitForStreams(absl::Duration timeout);

  SchedulerGauges Gauges() const;
  v1::ModelInfo Info() const;

  // For GenerateReactor.
  const ModelFacts& model() const { return facts_; }
  SchedulerMetrics* metrics() const { return metrics_; }
  bool draining() const { return draining_.load(); }
  // Checks the queue bound and submits to an available group: the one
  // holding the longest cached prefix of the prompt, else the least loaded.
  // Returns that group's loop (for cancellation). RESOURCE_EXHAUSTED when
  // full, UNAVAILABLE when no group is available.
  absl::StatusOr<EngineLoop*> Admit(LoopRequest request);
  std::string NextRequestId();
  void StreamOpened();
  void StreamClosed();

 private:
  const InferenceOptions options_;
  const std::unique_ptr<Tokenizer> tokenizer_;
  const ModelFacts facts_;
  // Written once by SetGroups before ready_ is set; read only after.
  std::vector<WorkerGroup> groups_;
  std::atomic<bool> ready_{false};
  SchedulerMetrics* metrics_ = nullptr;
  std::atomic<bool> draining_{false};
  std::atomic<uint64_t> next_id_{1};
  absl::Mutex admission_mu_;
  absl::Mutex streams_mu_;
  int open_streams_ ABSL_GUARDED_BY(streams_mu_) = 0;
};

}  // namespace llm

#endif  // LLM_SCHEDULER_INFERENCE_SERVICE_H_
