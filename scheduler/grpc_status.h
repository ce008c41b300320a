// File: scheduler/grpc_status.h
//
// absl::Status -> grpc::Status at the service edge (the codes coincide).
#ifndef LLM_SCHEDULER_GRPC_STATUS_H_
#define LLM_SCHEDULER_GRPC_STATUS_H_

#include <string>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace llm {

inline grpc::Status ToGrpcStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

// "INVALID_ARGUMENT", ... (the metrics' code label).
inline std::string GrpcCodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

}  // namespace llm

#endif  // LLM_SCHEDULER_GRPC_STATUS_H_
