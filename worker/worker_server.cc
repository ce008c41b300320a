// File: worker/worker_server.cc
#include "worker/worker_server.h"

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "worker/tp_rendezvous.h"

namespace llm {

constexpr char kServiceName[] = "llm.worker.v1.Worker";

absl::StatusOr<std::unique_ptr<WorkerServer>> WorkerServer::Start(
    const WorkerServerOptions& options) {
  if (absl::Status s = options.worker.Validate(); !s.ok()) return s;
  const bool tp = options.worker.tp_size > 1;
  if (tp && options.worker.tp_rank > 0 && options.tp_root.empty()) {
    return absl::InvalidArgumentError(
        "--tp-root (rank 0's HOST:PORT) is required for --tp-rank > 0");
  }
  std::unique_ptr<WorkerServer> w(new WorkerServer());
  absl::StatusOr<std::unique_ptr<LocalWorker>> worker = LocalWorker::Create(options.worker);
  if (!worker.ok()) return worker.status();
  w->worker_ = std::move(*worker);
  const KvCacheShape& kv = w->worker_->kv_shape();
  absl::StatusOr<std::unique_ptr<WorkerMetrics>> metrics =
      WorkerMetrics::Create(options.metrics_listen, kv.num_blocks, kv.block_size);
  if (!metrics.ok()) return metrics.status();
  w->metrics_ = std::move(*metrics);
  w->service_ = std::make_unique<WorkerService>(*w->worker_, w->metrics_.get());
  std::string tp_id;
  if (tp && options.worker.tp_rank == 0) {
    absl::StatusOr<std::string> id = w->worker_->NewTensorParallelId();
    if (!id.ok()) return id.status();
    tp_id = *id;
    w->service_->SetTensorParallelId(tp_id, options.worker.tp_size);
  }

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  w->drain_timeout_ = options.drain_timeout;
  builder.AddListeningPort(options.listen,
                           options.credentials != nullptr ? options.credentials
                                                          : grpc::InsecureServerCredentials(),
                           &w->port_);
  builder.RegisterService(w->service_.get());
  // Plans of long prompts can exceed gRPC's 4 MiB default.
  builder.SetMaxReceiveMessageSize(256 << 20);
  builder.SetMaxSendMessageSize(256 << 20);
  w->server_ = builder.BuildAndStart();
  if (w->server_ == nullptr || w->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.listen));
  }
  grpc::HealthCheckServiceInterface* health = w->server_->GetHealthCheckService();
  if (tp) {
    // Not ready (the Worker service) until the group is formed; the
    // process itself is live ("" stays SERVING for startup/liveness
    // probes) and rank 0 serves the id meanwhile.
    health->SetServingStatus(kServiceName, false);
    if (options.worker.tp_rank > 0) {
      absl::StatusOr<std::string> id = FetchTensorParallelId(
          options.tp_root, options.worker.tp_rank, options.worker.tp_size,
          options.tp_timeout, options.tp_root_credentials);
      if (!id.ok()) return id.status();
      tp_id = *id;
    }
    if (absl::Status s = w->worker_->JoinTensorParallel(tp_id); !s.ok()) return s;
  }
  health->SetServingStatus("", true);
  health->SetServingStatus(kServiceName, true);
  return w;
}

WorkerServer::~WorkerServer() {
  if (server_ == nullptr) return;
  server_->GetHealthCheckService()->Shutdown();
  service_->Drain(drain_timeout_);
  // No step runs any more; what is left are streams waiting for a plan
  // that will not come: cancel them soon instead of after a long deadline.
  // The short grace lets a stream that has just written its last result
  // send its "worker shutting down" status before the cancellation.
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(250));
}

}  // namespace llm
