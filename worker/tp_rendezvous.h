// File: worker/tp_rendezvous.h
//
// How the ranks of a tensor-parallel group find each other. Rank 0 creates
// the group's NCCL unique id and serves it over llm.worker.v1.Worker/
// GetTensorParallelId on its normal gRPC port; ranks 1..T-1 know rank 0's
// address (llm-worker --tp-root, in Kubernetes the StatefulSet pod's stable
// DNS name <name>-worker-<g·T>.<headless service>) and poll it until it
// answers, since pods start in any order. With the id every rank calls
// ncclCommInitRank; NCCL then connects the ranks directly (its bootstrap
// address is inside the id: rank 0's IP and a port it listens on).
//
// Thread safety: free function, no shared state.
#ifndef LLM_WORKER_TP_RENDEZVOUS_H_
#define LLM_WORKER_TP_RENDEZVOUS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"

namespace llm {

// Rank 0's NCCL id, asked of `root_address` every 500 ms until it answers or
// `timeout` passes (DeadlineExceeded, with the last error). A definite
// refusal (FAILED_PRECONDITION: wrong group size, not rank 0) is returned at
// once. `credentials` null: plaintext.
absl::StatusOr<std::string> FetchTensorParallelId(
    const std::string& root_address, int tp_rank, int tp_size, absl::Duration timeout,
    std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr);

}  // namespace llm

#endif  // LLM_WORKER_TP_RENDEZVOUS_H_
