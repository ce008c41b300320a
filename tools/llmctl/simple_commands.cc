// llmctl tokenize / info / health: one unary RPC each, printed as JSON
// (health prints the serving status name).
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>

#include "google/protobuf/util/json_util.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "llm/v1/inference.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "proto/tls_credentials.h"
#include "tools/llmctl/commands.h"
#include "tools/llmctl/grpc_status_text.h"

namespace llm::tools {

std::shared_ptr<grpc::Channel> Connect(const ConnectionOptions& conn) {
  return CreateClientChannel(conn.server, conn.credentials, conn.tls_server_name);
}

namespace {

void SetDeadline(grpc::ClientContext& ctx, double seconds) {
  if (seconds <= 0) return;
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::microseconds(static_cast<int64_t>(seconds * 1e6)));
}

int Failed(const grpc::Status& status) {
  std::fprintf(stderr, "%s\n", GrpcStatusText(status).c_str());
  return 1;
}

}  // namespace

int RunTokenize(const ConnectionOptions& conn, const TokenizeOptions& o) {
  auto stub = v1::Inference::NewStub(Connect(conn));
  grpc::ClientContext ctx;
  SetDeadline(ctx, conn.timeout_s);
  v1::TokenizeRequest req;
  if (o.chat) {
    v1::ChatMessage* m = req.mutable_chat()->add_messages();
    m->set_role("user");
    m->set_content(o.text);
  } else {
    req.set_text(o.text);
  }
  v1::TokenizeResponse resp;
  if (grpc::Status s = stub->Tokenize(&ctx, req, &resp); !s.ok()) return Failed(s);
  nlohmann::json j = {{"token_ids", resp.token_ids()}, {"tokens", resp.tokens()}};
  std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
  return 0;
}

int RunInfo(const ConnectionOptions& conn) {
  auto stub = v1::Inference::NewStub(Connect(conn));
  grpc::ClientContext ctx;
  SetDeadline(ctx, conn.timeout_s);
  v1::ModelInfo info;
  if (grpc::Status s = stub->GetModelInfo(&ctx, v1::GetModelInfoRequest(), &info); !s.ok()) {
    return Failed(s);
  }
  google::protobuf::util::JsonPrintOptions print;
  print.add_whitespace = true;
  print.always_print_primitive_fields = true;
  print.preserve_proto_field_names = true;
  std::string text;
  if (!google::protobuf::util::MessageToJsonString(info, &text, print).ok()) {
    std::fprintf(stderr, "INTERNAL: cannot print ModelInfo as JSON\n");
    return 1;
  }
  std::cout << text << std::flush;
  return 0;
}

int RunHealth(const ConnectionOptions& conn, const HealthOptions& o) {
  auto stub = grpc::health::v1::Health::NewStub(Connect(conn));
  grpc::ClientContext ctx;
  // A health probe must answer promptly even when nobody listens.
  SetDeadline(ctx, conn.timeout_s > 0 ? conn.timeout_s : 5.0);
  grpc::health::v1::HealthCheckRequest req;
  req.set_service(o.service);
  grpc::health::v1::HealthCheckResponse resp;
  if (grpc::Status s = stub->Check(&ctx, req, &resp); !s.ok()) return Failed(s);
  std::cout << grpc::health::v1::HealthCheckResponse::ServingStatus_Name(resp.status())
            << std::endl;
  return resp.status() == grpc::health::v1::HealthCheckResponse::SERVING ? 0 : 1;
}

}  // namespace llm::tools
