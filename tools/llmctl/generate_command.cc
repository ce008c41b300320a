// llmctl generate: one Generate call, streamed to stdout as it arrives.
//
// Output:
//   n == 1 (default): the text deltas are written as they arrive, then a
//     newline; one summary line on stderr (finish reason, token counts).
//   n > 1: the samples' deltas interleave on the wire, so each sample is
//     printed as a group "=== sample I (FINISH_REASON)" + its text when it
//     finishes, in the order they finish.
//   --json: nothing while streaming; at the end one JSON object per sample,
//     in index order: {"index", "request_id", "token_ids", "text",
//     "finish_reason", "usage": {"prompt_tokens", "completion_tokens",
//     "cached_tokens"}}.
// A failed call prints "CODE_NAME: message" on stderr and returns 1.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <string>

#include "grpcpp/grpcpp.h"
#include "llm/v1/inference.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "tools/llmctl/commands.h"
#include "tools/llmctl/grpc_status_text.h"

namespace llm::tools {
namespace {

struct SampleState {
  std::string text;
  std::vector<int32_t> token_ids;
  std::string finish_reason;
  v1::Usage usage;
};

v1::GenerateRequest BuildRequest(const GenerateOptions& o) {
  v1::GenerateRequest req;
  req.set_request_id(o.request_id);
  if (o.use_prompt_ids) {
    for (int32_t id : o.prompt_ids) req.mutable_token_ids()->add_ids(id);
  } else if (o.chat) {
    v1::ChatMessage* m = req.mutable_chat()->add_messages();
    m->set_role("user");
    m->set_content(o.prompt);
  } else {
    req.set_text(o.prompt);
  }
  v1::SamplingParams* s = req.mutable_sampling();
  if (o.temperature) s->set_temperature(*o.temperature);
  if (o.top_k) s->set_top_k(*o.top_k);
  if (o.top_p) s->set_top_p(*o.top_p);
  if (o.min_p) s->set_min_p(*o.min_p);
  if (o.repetition_penalty) s->set_repetition_penalty(*o.repetition_penalty);
  if (o.presence_penalty) s->set_presence_penalty(*o.presence_penalty);
  if (o.frequency_penalty) s->set_frequency_penalty(*o.frequency_penalty);
  if (o.seed) s->set_seed(*o.seed);
  if (o.logprobs) s->set_logprobs(*o.logprobs);
  if (o.n) req.set_n(*o.n);
  if (o.max_tokens) req.set_max_tokens(*o.max_tokens);
  if (o.num_speculative_tokens) req.set_num_speculative_tokens(*o.num_speculative_tokens);
  req.set_ignore_eos(o.ignore_eos);
  for (const std::string& stop : o.stop) req.add_stop(stop);
  for (int32_t id : o.stop_token_ids) req.add_stop_token_ids(id);
  return req;
}

nlohmann::json UsageJson(const v1::Usage& u) {
  return {{"prompt_tokens", u.prompt_tokens()},
          {"completion_tokens", u.completion_tokens()},
          {"cached_tokens", u.cached_tokens()}};
}

}  // namespace

int RunGenerate(const ConnectionOptions& conn, const GenerateOptions& o) {
  auto stub = v1::Inference::NewStub(Connect(conn));
  grpc::ClientContext ctx;
  if (conn.timeout_s > 0) {
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::microseconds(static_cast<int64_t>(conn.timeout_s * 1e6)));
  }
  const v1::GenerateRequest req = BuildRequest(o);
  // Only a single sample can be streamed verbatim; see the file comment.
  const bool stream_text = !o.json && (!o.n || *o.n == 1);

  std::map<int, SampleState> samples;
  std::string request_id;
  bool printed_partial = false;
  std::unique_ptr<grpc::ClientReader<v1::GenerateResponse>> reader = stub->Generate(&ctx, req);
  v1::GenerateResponse resp;
  while (reader->Read(&resp)) {
    request_id = resp.request_id();
    SampleState& s = samples[resp.index()];
    s.text += resp.text();
    s.token_ids.insert(s.token_ids.end(), resp.token_ids().begin(), resp.token_ids().end());
    if (stream_text && !resp.text().empty()) {
      std::cout << resp.text() << std::flush;
      printed_partial = true;
    }
    if (!resp.finish_reason().empty()) {
      s.finish_reason = resp.finish_reason();
      s.usage = resp.usage();
      if (stream_text) {
        std::cout << std::endl;
        printed_partial = false;
        std::fprintf(stderr,
                     "[finish_reason=%s prompt_tokens=%d completion_tokens=%d "
                     "cached_tokens=%d]\n",
                     s.finish_reason.c_str(), s.usage.prompt_tokens(),
                     s.usage.completion_tokens(), s.usage.cached_tokens());
      } else if (!o.json) {
        std::cout << "=== sample " << resp.index() << " (" << s.finish_reason << ")\n"
                  << s.text << std::endl;
      }
    }
  }
  const grpc::Status status = reader->Finish();
  if (printed_partial) std::cout << std::endl;
  if (!status.ok()) {
    std::fprintf(stderr, "%s\n", GrpcStatusText(status).c_str());
    return 1;
  }
  if (o.json) {
    for (const auto& [index, s] : samples) {
      nlohmann::json j = {{"index", index},
                          {"request_id", request_id},
                          {"token_ids", s.token_ids},
                          {"text", s.text},
                          {"finish_reason", s.finish_reason},
                          {"usage", UsageJson(s.usage)}};
      std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    }
    std::cout << std::flush;
  }
  return 0;
}

}  // namespace llm::tools
