// File: scheduler/scheduler_server.h
//
// SchedulerServer: llm-scheduler assembled and serving: the model's
// tokenizer and chat template (read from the GGUF metadata only), one
// gRPC worker channel and engine loop per worker group, the public
// llm.v1.Inference service with grpc.health.v1 and reflection, and the
// Prometheus endpoint. main.cc and the tests both start it through here.
//
// Thread safety: Start and the destructor from one thread; the accessors
// are thread-safe.
#ifndef LLM_SCHEDULER_SCHEDULER_SERVER_H_
#define LLM_SCHEDULER_SCHEDULER_SERVER_H_

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "scheduler/inference_service.h"
#include "scheduler/scheduler_metrics.h"

namespace llm {

struct SchedulerOptions {
  std::string model_path;
  std::string listen = "0.0.0.0:50051";
  // One entry per worker group; "a+b" is a group of tensor-parallel ranks.
  std::vector<std::string> workers;
  std::string metrics_listen = "0.0.0.0:9090";
  std::string batching = "continuous";  // or "static"
  int max_num_seqs = 64;
  int max_batched_tokens = 2048;
  // Must equal the workers' block size; 0 accepts theirs.
  int block_size = 16;
  int max_queue = 256;
  // "prefix": to the group recently given the longest prefix of the prompt
  // (its blocks are likely cached there) unless it is much busier than the
  // least-loaded one; "least-loaded": always the least-loaded group.
  std::string routing = "prefix";
  // The first connection attempt to each worker waits this long (workers
  // may still be loading); later attempts retry with backoff forever.
  absl::Duration connect_timeout = absl::Seconds(10);
  // A step without a result after this long means the worker is hung: its
  // group turns unavailable and its requests end (or move elsewhere).
  absl::Duration step_timeout = absl::Seconds(60);
  // TLS (mutual TLS when built with a CA) on the public API, and the
  // credentials towards the workers (proto/tls_credentials.h; main.cc builds
  // both from the same --tls-* files). Null = plaintext.
  std::shared_ptr<grpc::ServerCredentials> server_credentials;
  std::shared_ptr<grpc::ChannelCredentials> worker_credentials;
  // Speculative decoding (--draft, --num-speculative-tokens, ...): the
  // default for every request, which GenerateRequest.num_speculative_tokens
  // overrides. DraftSource::kDraftModel needs workers with a draft model
  // (a start-up error otherwise).
  SpeculativeOptions speculative;
  // Async scheduling (EngineOptions::async_scheduling): plan and send each
  // step while the worker still runs the previous one, so the gRPC round
  // trip and the scheduler's bookkeeping leave the step's critical path.
  // "auto": on unless speculative decoding is configured (a verification
  // step must return before the next can be planned); "true": on (an error
  // with speculation); "false": off.
  std::string async_scheduling = "auto";

  absl::Status Validate() const;
  // Whether the engines run with async scheduling. REQUIRES: Validate() ok.
  bool async_scheduling_enabled() const;
};

class SchedulerServer {
 public:
  // Serves at once with health NOT_SERVING (Generate: UNAVAILABLE) and
  // tries every worker group once (each at most connect_timeout). A group
  // that answers with the wrong block size or another model is a start-up
  // error. A group that does not answer is logged and retried in the
  // background with backoff; health is SERVING while at least one group is
  // available (and not draining), NOT_SERVING otherwise, and follows the
  // groups as workers die and come back.
  static absl::StatusOr<std::unique_ptr<SchedulerServer>> Start(
      const SchedulerOptions& options);
  // Shuts down at once (streams still open are cancelled).
  ~SchedulerServer();

  // Graceful stop: health NOT_SERVING, new calls UNAVAILABLE, waits up to
  // `timeout` for open streams, then shuts the server down.
  void Drain(absl::Duration timeout);

  int port() const { return port_; }
  int metrics_port() const { return metrics_ ? metrics_->port() : 0; }
  InferenceService& service() { return *service_; }

 private:
  SchedulerServer() = default;
  // Health follows the groups' availability and the drain.
  void UpdateHealth();

  std::unique_ptr<InferenceService> service_;
  std::unique_ptr<SchedulerMetrics> metrics_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::atomic<bool> draining_{false};
  absl::Mutex health_mu_;
  grpc::HealthCheckServiceInterface* health_ ABSL_GUARDED_BY(health_mu_) = nullptr;
};

}  // namespace llm

#endif  // LLM_SCHEDULER_SCHEDULER_SERVER_H_
