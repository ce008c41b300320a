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
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "worker/local_worker.h"
#include "worker/worker_metrics.h"
#include "worker/worker_service.h"

namespace llm {

struct WorkerServerOptions {
  WorkerOptions worker;
  std::string listen = "0.0.0.0:50061";  // port 0 picks a free one
  std::string metrics_listen = "0.0.0.0:9091";
  // TLS or mutual TLS on the gRPC port (proto/tls_credentials.h); null:
  // plaintext.
  std::shared_ptr<grpc::ServerCredentials> credentials;
  // How long the destructor waits for running steps to deliver their
  // results before cancelling the streams.
  absl::Duration drain_timeout = absl::Seconds(10);
  // Tensor parallelism (worker.tp_size > 1, worker/tp_rendezvous.h): rank
  // 0's gRPC address, which ranks > 0 ask for the NCCL id; how long they
  // wait for it; the channel credentials for that call (null: plaintext).
  // Start() returns once every rank has joined the group.
  std::string tp_root;
  absl::Duration tp_timeout = absl::Minutes(10);
  std::shared_ptr<grpc::ChannelCredentials> tp_root_credentials;
};

class WorkerServer {
 public:
  static absl::StatusOr<std::unique_ptr<WorkerServer>> Start(
      const WorkerServerOptions& options);
  // Graceful stop (SIGTERM): health NOT_SERVING; steps already running
  // finish and their results are written (at most drain_timeout); every
  // Execute stream then ends with UNAVAILABLE "worker shutting down" (idle
  // ones are cancelled after a 250 ms grace) and the server shuts down.
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
  absl::Duration drain_timeout_;
};

}  // namespace llm

#endif  // LLM_WORKER_WORKER_SERVER_H_
