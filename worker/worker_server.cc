// File: worker/worker_server.cc
#include "worker/worker_server.h"

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"

namespace llm {

constexpr char kServiceName[] = "llm.worker.v1.Worker";

absl::StatusOr<std::unique_ptr<WorkerServer>> WorkerServer::Start(
    const WorkerServerOptions& options) {
  if (absl::Status s = options.worker.Validate(); !s.ok()) return s;
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

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, grpc::InsecureServerCredentials(), &w->port_);
  builder.RegisterService(w->service_.get());
  // Plans of long prompts can exceed gRPC's 4 MiB default.
  builder.SetMaxReceiveMessageSize(256 << 20);
  builder.SetMaxSendMessageSize(256 << 20);
  w->server_ = builder.BuildAndStart();
  if (w->server_ == nullptr || w->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.listen));
  }
  grpc::HealthCheckServiceInterface* health = w->server_->GetHealthCheckService();
  health->SetServingStatus("", true);
  health->SetServingStatus(kServiceName, true);
  return w;
}

WorkerServer::~WorkerServer() {
  if (server_ == nullptr) return;
  server_->GetHealthCheckService()->Shutdown();
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
}

}  // namespace llm
