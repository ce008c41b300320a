// File: scheduler/grpc_worker_channel.h
//
// GrpcWorkerChannel: a WorkerChannel to one llm-worker process over gRPC.
// Execute writes the plan on one persistent Execute stream (opened at
// Connect) and blocks until the matching result arrives; a plan the worker
// rejects comes back as that status (INVALID_ARGUMENT ...), the stream
// staying usable. When the stream breaks (worker gone) every later call
// returns Unavailable naming the address.
//
// Thread safety: one caller at a time (the group's engine loop), as the
// WorkerChannel contract says.
#ifndef LLM_SCHEDULER_GRPC_WORKER_CHANNEL_H_
#define LLM_SCHEDULER_GRPC_WORKER_CHANNEL_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/worker_channel.h"
#include "grpcpp/grpcpp.h"
#include "llm/worker/v1/worker.grpc.pb.h"

namespace llm {

class GrpcWorkerChannel final : public WorkerChannel {
 public:
  // Connects to the worker at `address` (HOST:PORT), waiting at most
  // `timeout`; Unavailable "worker at ADDR is not reachable" otherwise.
  static absl::StatusOr<std::unique_ptr<GrpcWorkerChannel>> Connect(
      const std::string& address, absl::Duration timeout);
  ~GrpcWorkerChannel() override;

  absl::StatusOr<WorkerDescription> Describe() override;
  absl::StatusOr<StepResult> Execute(const StepPlan& plan) override;

  // The full Describe answer (model name, architecture, KV bytes ...).
  absl::StatusOr<worker::v1::DescribeResponse> DescribeProto();
  const std::string& address() const { return address_; }

 private:
  GrpcWorkerChannel(std::string address, std::shared_ptr<grpc::Channel> channel);
  absl::Status Broken(const std::string& what);

  const std::string address_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<worker::v1::Worker::Stub> stub_;
  std::unique_ptr<grpc::ClientContext> stream_context_;
  std::unique_ptr<grpc::ClientReaderWriter<worker::v1::StepPlan, worker::v1::StepResult>>
      stream_;
  absl::Status broken_;  // set once the stream has failed
  // Reused between steps to avoid reallocating repeated fields.
  worker::v1::StepPlan plan_proto_;
  worker::v1::StepResult result_proto_;
};

}  // namespace llm

#endif  // LLM_SCHEDULER_GRPC_WORKER_CHANNEL_H_
