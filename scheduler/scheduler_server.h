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

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
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
  absl::Duration connect_timeout = absl::Seconds(10);

  absl::Status Validate() const;
};

class SchedulerServer {
 public:
  // Serves at once with health NOT_SERVING (Generate: UNAVAILABLE), connects
  // to every worker (Unavailable "worker at ADDR is not reachable" when one
  // does not answer within connect_timeout; the server is then torn down),
  // then reports SERVING and returns.
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

  std::unique_ptr<InferenceService> service_;
  std::unique_ptr<SchedulerMetrics> metrics_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace llm

#endif  // LLM_SCHEDULER_SCHEDULER_SERVER_H_
