// File: tools/llmctl/grpc_status_text.h
//
// How the client tools (llmctl, llm-bench) show a failed RPC: the canonical
// gRPC code name and the server's message, "INVALID_ARGUMENT: sampling.top_p
// must be in (0, 1]". The names are those of grpc/status.h's comments and of
// every other gRPC language, so users can grep for them. Header-only so that
// both tools (separate binaries built from their own folders) share it.
//
// Thread safety: pure functions.
#ifndef LLM_TOOLS_LLMCTL_GRPC_STATUS_TEXT_H_
#define LLM_TOOLS_LLMCTL_GRPC_STATUS_TEXT_H_

#include <string>

#include "grpcpp/support/status.h"

namespace llm::tools {

inline const char* GrpcCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "UNKNOWN";
  }
}

// "CODE_NAME: message" (just the name when the message is empty).
inline std::string GrpcStatusText(const grpc::Status& status) {
  std::string text = GrpcCodeName(status.error_code());
  if (!status.error_message().empty()) text += ": " + status.error_message();
  return text;
}

}  // namespace llm::tools

#endif  // LLM_TOOLS_LLMCTL_GRPC_STATUS_TEXT_H_
