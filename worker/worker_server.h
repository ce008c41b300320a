// File: worker/worker_server.h
//
// WorkerServer: llm-worker assembled and serving: the LocalWorker (model
// and KV pool), the llm.worker.v1.Worker service, grpc.health.v1 (SERVING
// from the start, since the model is loaded and the pool allocated before
// the port opens), server reflection, and the Prometheus endpoint. main.cc
// and the tests start it through here.
//
// Thread safety: Start and the destructor from one thread.
#ifndef LLM_WORKER_WORKER_SERVER_H_
#define LLM_WORKER_WORKER_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"
#include "worker/local_worker.h"
#include "worker/worker_metrics.h"
#include "worker/worker_service.h"

namespace llm {

struct WorkerServerOptions {
  WorkerOptions worker;
  std::string listen = "0.0.0.0:50061";  // port 0 picks a free one
  std::string metrics_listen = "0.0.0.0:9091";
};

class WorkerServer {
 public:
  static absl::StatusOr<std::unique_ptr<WorkerServer>> Start(
      const WorkerServerOptions& options);
  // Health NOT_SERVING, then shutdown (open streams cancelled).
  ~WorkerServer();

  int port() const { return port_; }
  int metrics_port() const { return metrics_->port(); }
  const LocalWorker& worker() const { return *worker_; }

 private:
  WorkerServer() = default;

  std::unique_ptr<LocalWorker> worker_;
  std::unique_ptr<WorkerMetrics> metrics_;
  std::unique_ptr<WorkerService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace llm

#endif  // LLM_WORKER_WORKER_SERVER_H_
