// File: tests/cluster/generate_client.h
//
// A blocking Generate client for the integration tests: collects each
// sample's token ids, text, finish reason and usage, the call's status and
// its time to first token; can cancel the call after a number of tokens.
//
// Thread safety: RunGenerate is thread-safe (its own ClientContext per call;
// stubs are thread-safe).
#ifndef LLM_TESTS_CLUSTER_GENERATE_CLIENT_H_
#define LLM_TESTS_CLUSTER_GENERATE_CLIENT_H_

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "grpcpp/grpcpp.h"
#include "llm/v1/inference.grpc.pb.h"

namespace llm::testing {

struct SampleResult {
  std::vector<int32_t> token_ids;
  std::string text;
  std::string finish_reason;
  v1::Usage usage;
};

struct GenerateResult {
  grpc::Status status;
  std::map<int, SampleResult> samples;  // by GenerateResponse.index
  double ttft_s = -1;                   // first message with tokens
  double e2e_s = 0;
  bool cancelled_by_client = false;
};

inline std::unique_ptr<v1::Inference::Stub> MakeStub(const std::string& address) {
  return v1::Inference::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
}

// Streams one request to the end (or, when cancel_after_tokens >= 0, until
// that many tokens arrived, then cancels). Deadline: `timeout`.
inline GenerateResult RunGenerate(v1::Inference::Stub& stub, const v1::GenerateRequest& req,
                                  int cancel_after_tokens = -1,
                                  std::chrono::seconds timeout = std::chrono::seconds(120)) {
  GenerateResult r;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + timeout);
  const auto start = std::chrono::steady_clock::now();
  auto reader = stub.Generate(&ctx, req);
  v1::GenerateResponse resp;
  int tokens = 0;
  while (reader->Read(&resp)) {
    SampleResult& s = r.samples[resp.index()];
    if (resp.token_ids_size() > 0 && r.ttft_s < 0) {
      r.ttft_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
    s.token_ids.insert(s.token_ids.end(), resp.token_ids().begin(), resp.token_ids().end());
    s.text += resp.text();
    tokens += resp.token_ids_size();
    if (!resp.finish_reason().empty()) {
      s.finish_reason = resp.finish_reason();
      s.usage = resp.usage();
    }
    if (cancel_after_tokens >= 0 && tokens >= cancel_after_tokens && !r.cancelled_by_client) {
      ctx.TryCancel();
      r.cancelled_by_client = true;
    }
  }
  r.status = reader->Finish();
  r.e2e_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

// GetModelInfo with a short deadline; a default ModelInfo on failure.
inline v1::ModelInfo GetInfo(v1::Inference::Stub& stub) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::ModelInfo info;
  if (!stub.GetModelInfo(&ctx, v1::GetModelInfoRequest(), &info).ok()) return v1::ModelInfo();
  return info;
}

inline v1::GenerateRequest TextRequest(const std::string& text, int max_tokens,
                                       float temperature = 0.0f) {
  v1::GenerateRequest req;
  req.set_text(text);
  req.set_max_tokens(max_tokens);
  req.mutable_sampling()->set_temperature(temperature);
  return req;
}

}  // namespace llm::testing

#endif  // LLM_TESTS_CLUSTER_GENERATE_CLIENT_H_
