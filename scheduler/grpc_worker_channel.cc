// File: scheduler/grpc_worker_channel.cc
#include "scheduler/grpc_worker_channel.h"

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "proto/step_plan_proto.h"

namespace llm {
namespace {

std::chrono::system_clock::time_point Deadline(absl::Duration timeout) {
  return absl::ToChronoTime(absl::Now() + timeout);
}

absl::Status FromGrpc(const grpc::Status& s) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

}  // namespace

absl::StatusOr<std::unique_ptr<GrpcWorkerChannel>> GrpcWorkerChannel::Connect(
    const std::string& address, absl::Duration timeout) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(256 << 20);
  args.SetMaxSendMessageSize(256 << 20);
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
  if (!channel->WaitForConnected(Deadline(timeout))) {
    return absl::UnavailableError(absl::StrCat(
        "worker at ", address, " is not reachable (no connection within ",
        absl::FormatDuration(timeout), ")"));
  }
  std::unique_ptr<GrpcWorkerChannel> c(new GrpcWorkerChannel(address, std::move(channel)));
  c->stream_context_ = std::make_unique<grpc::ClientContext>();
  c->stream_ = c->stub_->Execute(c->stream_context_.get());
  return c;
}

GrpcWorkerChannel::GrpcWorkerChannel(std::string address,
                                     std::shared_ptr<grpc::Channel> channel)
    : address_(std::move(address)),
      channel_(std::move(channel)),
      stub_(worker::v1::Worker::NewStub(channel_)) {}

GrpcWorkerChannel::~GrpcWorkerChannel() {
  if (stream_ != nullptr && broken_.ok()) {
    // Cancel rather than wait for the worker: a hung worker must not hang
    // the scheduler's shutdown. The worker drops this stream's sequences.
    stream_context_->TryCancel();
    stream_->Finish().IgnoreError();
  }
}

absl::StatusOr<worker::v1::DescribeResponse> GrpcWorkerChannel::DescribeProto() {
  grpc::ClientContext context;
  context.set_deadline(Deadline(absl::Seconds(30)));
  worker::v1::DescribeResponse response;
  grpc::Status s = stub_->Describe(&context, worker::v1::DescribeRequest(), &response);
  if (!s.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                        absl::StrCat("worker at ", address_, ": Describe: ",
                                     s.error_message()));
  }
  return response;
}

absl::StatusOr<WorkerDescription> GrpcWorkerChannel::Describe() {
  absl::StatusOr<worker::v1::DescribeResponse> d = DescribeProto();
  if (!d.ok()) return d.status();
  return FromProto(*d);
}

absl::Status GrpcWorkerChannel::Broken(const std::string& what) {
  // The stream is dead: collect its final status for the message.
  absl::Status final_status = FromGrpc(stream_->Finish());
  broken_ = absl::UnavailableError(absl::StrCat(
      "worker at ", address_, ": Execute stream broken (", what,
      final_status.ok() ? "" : absl::StrCat(": ", final_status.message()), ")"));
  return broken_;
}

absl::StatusOr<StepResult> GrpcWorkerChannel::Execute(const StepPlan& plan) {
  if (!broken_.ok()) return broken_;
  ToProto(plan, &plan_proto_);
  if (!stream_->Write(plan_proto_)) return Broken("write failed");
  if (!stream_->Read(&result_proto_)) return Broken("no result");
  if (absl::Status s = StatusFromProto(result_proto_); !s.ok()) return s;
  if (result_proto_.step_id() != plan.step_id) {
    return absl::InternalError(absl::StrCat("worker at ", address_, " answered step ",
                                            result_proto_.step_id(), " to step ",
                                            plan.step_id));
  }
  return FromProto(result_proto_);
}

}  // namespace llm
