// File: tools/llmctl/commands.h
//
// The llmctl subcommands, each a function from its options to an exit code
// (0 success, 1 an RPC failed or the server is not SERVING). main.cc parses
// the command line into these structs; nothing here reads flags.
//
// Every value the user typed goes to the server as it is (no client-side
// range checks), so what users see for a bad value is the server's own
// INVALID_ARGUMENT message. Fields the user did not give stay unset in the
// request, so the server's documented defaults apply (inference.proto).
//
// Thread safety: each function runs on the calling thread only.
#ifndef LLM_TOOLS_LLMCTL_COMMANDS_H_
#define LLM_TOOLS_LLMCTL_COMMANDS_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "grpcpp/channel.h"
#include "grpcpp/security/credentials.h"

namespace llm::tools {

struct ConnectionOptions {
  // HOST:PORT of llm-scheduler (or, for `health`, any gRPC server).
  std::string server = "127.0.0.1:50051";
  // Deadline of the RPC in seconds; 0 = none (health: 5 s when 0).
  double timeout_s = 0;
  // From --tls-cert/--tls-key/--tls-ca (proto/tls_credentials.h), built
  // and checked by main.cc; null: plaintext.
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  // --tls-server-name; empty: the host of `server`.
  std::string tls_server_name;
};

// The channel every subcommand calls through.
std::shared_ptr<grpc::Channel> Connect(const ConnectionOptions& conn);

struct GenerateOptions {
  std::string prompt;
  // Send the prompt as one user chat message (server-side chat template).
  bool chat = false;
  // Prompt token ids instead of text (--prompt-ids 1,2,3), sent as they are.
  std::vector<int32_t> prompt_ids;
  bool use_prompt_ids = false;
  std::optional<int32_t> max_tokens;
  std::optional<float> temperature;
  std::optional<int32_t> top_k;
  std::optional<float> top_p;
  std::optional<float> min_p;
  std::optional<float> repetition_penalty;
  std::optional<float> presence_penalty;
  std::optional<float> frequency_penalty;
  std::optional<uint64_t> seed;
  std::optional<int32_t> n;
  std::optional<int32_t> logprobs;
  // Speculative decoding: unset = the server's default, 0 = off, K > 0.
  std::optional<int32_t> num_speculative_tokens;
  bool ignore_eos = false;
  std::vector<std::string> stop;
  std::vector<int32_t> stop_token_ids;
  std::string request_id;
  // Print one JSON object per completion at the end instead of streaming.
  bool json = false;
};

struct TokenizeOptions {
  std::string text;
  bool chat = false;
};

struct HealthOptions {
  // grpc.health.v1 service name; "" is the server as a whole.
  std::string service;
};

int RunGenerate(const ConnectionOptions& conn, const GenerateOptions& options);
int RunTokenize(const ConnectionOptions& conn, const TokenizeOptions& options);
int RunInfo(const ConnectionOptions& conn);
int RunHealth(const ConnectionOptions& conn, const HealthOptions& options);

}  // namespace llm::tools

#endif  // LLM_TOOLS_LLMCTL_COMMANDS_H_
