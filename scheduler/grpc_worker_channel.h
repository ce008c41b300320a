// File: scheduler/grpc_worker_channel.h
//
// GrpcWorkerChannel: a WorkerChannel to one llm-worker process over gRPC.
// Submit writes the plan on one persistent Execute stream (a session: the
// worker keeps per-sequence state for as long as the stream lives) without
// reading; Await reads the next result, which answers the oldest submitted
// plan (the worker handles the stream's plans one after the other, so a
// plan submitted while the previous one runs waits in the stream and starts
// as soon as that one's result is written). Execute is Submit + Await. A
// plan the worker rejects comes back as that status (INVALID_ARGUMENT ...),
// the stream staying usable.
//
// Failures: when the stream breaks (worker killed, connection reset) or no
// result arrives within the step timeout (worker hung: SIGSTOP, deadlock;
// a watchdog thread cancels the stream), Submit/Await/Execute return
// Unavailable naming the address, and so does every later call until
// Reconnect opens a fresh session (dropping the outstanding steps). The
// timeout runs while at least one step is outstanding, for the oldest one:
// from its submission, or from the previous result when it was queued
// behind another step. The underlying gRPC channel retries the TCP connection with a
// short backoff, so a restarted worker is found again within seconds.
//
// Thread safety: one caller at a time (the group's engine loop), as the
// WorkerChannel contract says; the watchdog only cancels.
#ifndef LLM_SCHEDULER_GRPC_WORKER_CHANNEL_H_
#define LLM_SCHEDULER_GRPC_WORKER_CHANNEL_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/worker_channel.h"
#include "grpcpp/grpcpp.h"
#include "llm/worker/v1/worker.grpc.pb.h"

namespace llm {

struct GrpcWorkerChannelOptions {
  // Null means plaintext. With TLS, the scheduler's client certificate is
  // in here too (mutual TLS).
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  // Longest a step may take before the worker is declared hung. Generous:
  // a long prefill chunk on a slow CPU takes seconds.
  absl::Duration step_timeout = absl::Seconds(60);
};

class GrpcWorkerChannel final : public WorkerChannel {
 public:
  // The channel, not yet connected: Reconnect opens the first session.
  static std::unique_ptr<GrpcWorkerChannel> Create(const std::string& address,
                                                   const GrpcWorkerChannelOptions& options);
  // Create + Reconnect(timeout): Unavailable "worker at ADDR is not
  // reachable" when the worker does not answer in time.
  static absl::StatusOr<std::unique_ptr<GrpcWorkerChannel>> Connect(
      const std::string& address, absl::Duration timeout,
      const GrpcWorkerChannelOptions& options = {});
  ~GrpcWorkerChannel() override;

  absl::StatusOr<WorkerDescription> Describe() override;
  absl::StatusOr<StepResult> Execute(const StepPlan& plan) override;
  absl::Status Submit(const StepPlan& plan) override;
  absl::StatusOr<StepResult> Await() override;
  // Ends the current session (if any) and opens a new one once the worker
  // accepts a connection, waiting at most `timeout`.
  absl::Status Reconnect(absl::Duration timeout) override;

  // The full Describe answer (model name, architecture, KV bytes ...).
  absl::StatusOr<worker::v1::DescribeResponse> DescribeProto();
  const std::string& address() const { return address_; }

 private:
  GrpcWorkerChannel(std::string address, std::shared_ptr<grpc::Channel> channel,
                    absl::Duration step_timeout);
  absl::Status Broken(const std::string& what);
  // Arms the watchdog for the oldest outstanding step (now + step timeout),
  // or disarms it when none is outstanding. Returns whether it had fired.
  bool Rearm();
  std::string TimeoutMessage() const;
  void CloseSession();
  void Watchdog();

  const std::string address_;
  const absl::Duration step_timeout_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<worker::v1::Worker::Stub> stub_;
  std::unique_ptr<grpc::ClientContext> stream_context_;
  std::unique_ptr<grpc::ClientReaderWriter<worker::v1::StepPlan, worker::v1::StepResult>>
      stream_;
  absl::Status broken_;  // not OK while there is no usable session
  // Step ids submitted on this session whose results are not read yet.
  std::deque<uint64_t> outstanding_;
  // Reused between steps to avoid reallocating repeated fields.
  worker::v1::StepPlan plan_proto_;
  worker::v1::StepResult result_proto_;

  // The step watchdog: while armed (a step is outstanding), cancels the
  // stream's context once the deadline passes (checked every step_timeout / 4, at most
  // 500 ms).
  absl::Mutex watch_mu_;
  absl::CondVar watch_cv_;
  grpc::ClientContext* armed_context_ ABSL_GUARDED_BY(watch_mu_) = nullptr;
  absl::Time armed_deadline_ ABSL_GUARDED_BY(watch_mu_);
  bool timed_out_ ABSL_GUARDED_BY(watch_mu_) = false;
  bool stop_watchdog_ ABSL_GUARDED_BY(watch_mu_) = false;
  std::thread watchdog_;
};

}  // namespace llm

#endif  // LLM_SCHEDULER_GRPC_WORKER_CHANNEL_H_
