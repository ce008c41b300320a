// File: scheduler/grpc_worker_channel.cc
#include "scheduler/grpc_worker_channel.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
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

std::unique_ptr<GrpcWorkerChannel> GrpcWorkerChannel::Create(
    const std::string& address, const GrpcWorkerChannelOptions& options) {
  grpc::ChannelArguments args;
  // Plans of long prompts can exceed gRPC's 4 MiB default.
  args.SetMaxReceiveMessageSize(256 << 20);
  args.SetMaxSendMessageSize(256 << 20);
  // gRPC's default reconnect backoff grows to 2 minutes; a restarted worker
  // should be back in service within seconds.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 250);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 250);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      options.credentials != nullptr ? options.credentials : grpc::InsecureChannelCredentials();
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(address, credentials, args);
  return std::unique_ptr<GrpcWorkerChannel>(
      new GrpcWorkerChannel(address, std::move(channel), options.step_timeout));
}

absl::StatusOr<std::unique_ptr<GrpcWorkerChannel>> GrpcWorkerChannel::Connect(
    const std::string& address, absl::Duration timeout,
    const GrpcWorkerChannelOptions& options) {
  std::unique_ptr<GrpcWorkerChannel> c = Create(address, options);
  if (absl::Status s = c->Reconnect(timeout); !s.ok()) return s;
  return c;
}

GrpcWorkerChannel::GrpcWorkerChannel(std::string address,
                                     std::shared_ptr<grpc::Channel> channel,
                                     absl::Duration step_timeout)
    : address_(std::move(address)),
      step_timeout_(step_timeout),
      channel_(std::move(channel)),
      stub_(worker::v1::Worker::NewStub(channel_)),
      broken_(absl::UnavailableError(
          absl::StrCat("worker at ", address_, " is not connected yet"))) {
  watchdog_ = std::thread([this] { Watchdog(); });
}

GrpcWorkerChannel::~GrpcWorkerChannel() {
  CloseSession();
  {
    absl::MutexLock lock(&watch_mu_);
    stop_watchdog_ = true;
    watch_cv_.Signal();
  }
  watchdog_.join();
}

void GrpcWorkerChannel::Watchdog() {
  // Polls instead of being signalled per step: waking this thread at every
  // step would cost two context switches per token on a busy CPU. A hung
  // step is therefore noticed up to one period after its deadline.
  const absl::Duration period =
      std::clamp(step_timeout_ / 4, absl::Milliseconds(10), absl::Milliseconds(500));
  absl::MutexLock lock(&watch_mu_);
  while (!stop_watchdog_) {
    if (armed_context_ != nullptr && absl::Now() >= armed_deadline_) {
      // The blocked Read in Execute returns false once the call is
      // cancelled; Execute then reports the timeout.
      armed_context_->TryCancel();
      armed_context_ = nullptr;
      timed_out_ = true;
    }
    watch_cv_.WaitWithTimeout(&watch_mu_, period);
  }
}

void GrpcWorkerChannel::CloseSession() {
  if (stream_ != nullptr && broken_.ok()) {
    // Cancel rather than wait for the worker: a hung worker must not hang
    // the scheduler. The worker drops this session's sequences.
    stream_context_->TryCancel();
    stream_->Finish().IgnoreError();
  }
  stream_.reset();
  stream_context_.reset();
}

absl::Status GrpcWorkerChannel::Reconnect(absl::Duration timeout) {
  CloseSession();
  outstanding_.clear();  // the old session's steps are lost with it
  Rearm();
  broken_ = absl::UnavailableError(absl::StrCat("worker at ", address_, " is not connected"));
  // try_to_connect: leave an idle or failed channel and dial now.
  if (!channel_->WaitForConnected(Deadline(timeout))) {
    broken_ = absl::UnavailableError(absl::StrCat(
        "worker at ", address_, " is not reachable (no connection within ",
        absl::FormatDuration(absl::Ceil(timeout, absl::Milliseconds(1))), ")"));
    return broken_;
  }
  stream_context_ = std::make_unique<grpc::ClientContext>();
  stream_ = stub_->Execute(stream_context_.get());
  broken_ = absl::OkStatus();
  return absl::OkStatus();
}

absl::StatusOr<worker::v1::DescribeResponse> GrpcWorkerChannel::DescribeProto() {
  grpc::ClientContext context;
  context.set_deadline(Deadline(std::min(step_timeout_, absl::Seconds(30))));
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
  // The stream is dead: collect its final status for the message. Whatever
  // was outstanding is lost with the session.
  outstanding_.clear();
  Rearm();
  absl::Status final_status = FromGrpc(stream_->Finish());
  broken_ = absl::UnavailableError(absl::StrCat(
      "worker at ", address_, ": Execute stream broken (", what,
      final_status.ok() ? "" : absl::StrCat(": ", final_status.message()), ")"));
  return broken_;
}

bool GrpcWorkerChannel::Rearm() {
  absl::MutexLock lock(&watch_mu_);
  const bool fired = timed_out_;
  if (outstanding_.empty() || fired) {
    armed_context_ = nullptr;
  } else {
    // The oldest outstanding step is the one the worker runs now (or has
    // just been handed): its time starts here.
    armed_context_ = stream_context_.get();
    armed_deadline_ = absl::Now() + step_timeout_;
  }
  return fired;
}

std::string GrpcWorkerChannel::TimeoutMessage() const {
  return absl::StrCat("no result within the step timeout of ",
                      absl::FormatDuration(step_timeout_), "; the worker may be hung");
}

absl::Status GrpcWorkerChannel::Submit(const StepPlan& plan) {
  if (!broken_.ok()) return broken_;
  ToProto(plan, &plan_proto_);
  if (outstanding_.empty()) {
    absl::MutexLock lock(&watch_mu_);
    armed_context_ = stream_context_.get();
    armed_deadline_ = absl::Now() + step_timeout_;
    timed_out_ = false;
  }
  // Armed during the write too: a worker that stops reading blocks it once
  // the stream's flow-control window is full.
  if (!stream_->Write(plan_proto_)) {
    bool timed_out = false;
    {
      absl::MutexLock lock(&watch_mu_);
      timed_out = timed_out_;
    }
    return Broken(timed_out ? TimeoutMessage() : "write failed");
  }
  outstanding_.push_back(plan.step_id);
  return absl::OkStatus();
}

absl::StatusOr<StepResult> GrpcWorkerChannel::Await() {
  if (!broken_.ok()) return broken_;
  if (outstanding_.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("worker at ", address_, ": no step outstanding"));
  }
  const bool read = stream_->Read(&result_proto_);
  const uint64_t step_id = outstanding_.front();
  outstanding_.pop_front();
  if (Rearm()) return Broken(TimeoutMessage());
  if (!read) return Broken("no result");
  if (absl::Status s = StatusFromProto(result_proto_); !s.ok()) return s;
  if (result_proto_.step_id() != step_id) {
    return absl::InternalError(absl::StrCat("worker at ", address_, " answered step ",
                                            result_proto_.step_id(), " to step ", step_id));
  }
  return FromProto(result_proto_);
}

absl::StatusOr<StepResult> GrpcWorkerChannel::Execute(const StepPlan& plan) {
  if (!outstanding_.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "worker at ", address_, ": Execute while ", outstanding_.size(),
        " submitted steps are outstanding"));
  }
  if (absl::Status s = Submit(plan); !s.ok()) return s;
  return Await();
}

}  // namespace llm
