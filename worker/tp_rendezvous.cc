// File: worker/tp_rendezvous.cc
#include "worker/tp_rendezvous.h"

#include <chrono>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "llm/worker/v1/worker.grpc.pb.h"

namespace llm {

absl::StatusOr<std::string> FetchTensorParallelId(
    const std::string& root_address, int tp_rank, int tp_size, absl::Duration timeout,
    std::shared_ptr<grpc::ChannelCredentials> credentials) {
  if (credentials == nullptr) credentials = grpc::InsecureChannelCredentials();
  // Rank 0 may start minutes later (another pod): cap gRPC's reconnect
  // backoff (default up to 120 s) so that it is seen within a second.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 250);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 250);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(root_address, credentials, args);
  std::unique_ptr<worker::v1::Worker::Stub> stub = worker::v1::Worker::NewStub(channel);
  const absl::Time deadline = absl::Now() + timeout;
  std::string last_error = "no answer";
  while (true) {
    worker::v1::GetTensorParallelIdRequest request;
    request.set_tp_rank(tp_rank);
    request.set_tp_size(tp_size);
    worker::v1::GetTensorParallelIdResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    const grpc::Status status = stub->GetTensorParallelId(&context, request, &response);
    if (status.ok()) return response.nccl_unique_id();
    if (status.error_code() == grpc::StatusCode::FAILED_PRECONDITION ||
        status.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "tensor-parallel root %s refused rank %d: %s", root_address, tp_rank,
          status.error_message()));
    }
    last_error = status.error_message();
    if (absl::Now() + absl::Milliseconds(500) > deadline) break;
    absl::SleepFor(absl::Milliseconds(500));
  }
  return absl::DeadlineExceededError(absl::StrFormat(
      "rank %d of %d: no NCCL id from the tensor-parallel root %s within %s (last "
      "error: %s)",
      tp_rank, tp_size, root_address, absl::FormatDuration(timeout), last_error));
}

}  // namespace llm
