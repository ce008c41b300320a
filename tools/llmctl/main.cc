// llmctl: a command-line client of llm-scheduler's public API
// (proto/llm/v1/inference.proto) and of grpc.health.v1.
//
//   llmctl --server 127.0.0.1:50051 generate --prompt "The sea" --max-tokens 32
//   llmctl generate --chat --prompt "Tell me a joke" --temperature 0.8 --seed 1 --n 3
//   llmctl generate --prompt "Hi" --max-tokens 8 --temperature 0 --json
//   llmctl tokenize --text "Hello world"
//   llmctl info
//   llmctl health            # exit 0 only when the server reports SERVING
//   llmctl --tls-ca ca.pem --tls-cert me.pem --tls-key me.key info   # (mutual) TLS
//
// Values go to the server unchecked (the server validates and its
// INVALID_ARGUMENT message is what the user sees); options left out stay
// unset so the server's defaults apply (temperature 1, max_tokens 256).
// On a failed call llmctl prints "CODE_NAME: message" and exits 1.
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "proto/tls_credentials.h"
#include "proto/tls_flags.h"
#include "tools/llmctl/commands.h"

namespace {

// Copies a CLI11 value into the request's optional only when it was given.
template <typename T>
void SetIfGiven(const CLI::Option* opt, const T& value, std::optional<T>& out) {
  if (opt->count() > 0) out = value;
}

}  // namespace

int main(int argc, char** argv) {
  using llm::tools::ConnectionOptions;
  CLI::App app{"llmctl: client of the llm-scheduler inference API"};
  app.require_subcommand(1);
  // --server / --timeout may also follow the subcommand.
  app.fallthrough();
  ConnectionOptions conn;
  app.add_option("--server", conn.server, "llm-scheduler address HOST:PORT")
      ->capture_default_str()->envname("LLMCTL_SERVER");
  app.add_option("--timeout", conn.timeout_s, "RPC deadline in seconds (0 = none)")
      ->capture_default_str();
  llm::TlsFiles tls;
  llm::AddTlsFlags(app, tls, llm::TlsRole::kClient, "LLMCTL");
  llm::AddTlsServerNameFlag(app, conn.tls_server_name, "LLMCTL");

  // generate
  llm::tools::GenerateOptions g;
  int32_t max_tokens = 0, top_k = 0, n = 0, logprobs = 0, num_spec = 0;
  float temperature = 0, top_p = 0, min_p = 0, rep = 0, pres = 0, freq = 0;
  uint64_t seed = 0;
  CLI::App* gen = app.add_subcommand("generate", "Stream a completion of a prompt");
  auto* prompt_opt = gen->add_option("--prompt", g.prompt, "Prompt text");
  auto* ids_opt = gen->add_option("--prompt-ids", g.prompt_ids,
                                  "Prompt as token ids, comma-separated (instead of --prompt)")
                      ->delimiter(',');
  prompt_opt->excludes(ids_opt);
  gen->add_flag("--chat", g.chat, "Send the prompt as a user chat message");
  auto* max_tokens_opt = gen->add_option("--max-tokens", max_tokens, "Tokens per sample");
  auto* temperature_opt = gen->add_option("--temperature", temperature, "0 = greedy [server: 1]");
  auto* top_k_opt = gen->add_option("--top-k", top_k, "Top-k (0 = off)");
  auto* top_p_opt = gen->add_option("--top-p", top_p, "Nucleus threshold (1 = off)");
  auto* min_p_opt = gen->add_option("--min-p", min_p, "Min-p threshold (0 = off)");
  auto* rep_opt = gen->add_option("--repetition-penalty", rep, "Repetition penalty (1 = off)");
  auto* pres_opt = gen->add_option("--presence-penalty", pres, "Presence penalty");
  auto* freq_opt = gen->add_option("--frequency-penalty", freq, "Frequency penalty");
  auto* seed_opt = gen->add_option("--seed", seed, "Seed: same seed, same text");
  auto* n_opt = gen->add_option("--n", n, "Samples of the prompt");
  auto* logprobs_opt = gen->add_option("--logprobs", logprobs, "Alternatives per token");
  auto* num_spec_opt = gen->add_option(
      "--num-speculative-tokens", num_spec,
      "Draft tokens per step (0 = no speculation) [server: its --num-speculative-tokens]");
  gen->add_flag("--ignore-eos", g.ignore_eos, "Do not stop at end-of-generation tokens");
  gen->add_option("--stop", g.stop, "Stop string (repeatable); never printed");
  gen->add_option("--stop-token-id", g.stop_token_ids, "Stop token id (repeatable)");
  gen->add_option("--request-id", g.request_id, "Request id shown in server logs");
  gen->add_flag("--json", g.json, "One JSON object per sample at the end");

  // tokenize
  llm::tools::TokenizeOptions t;
  CLI::App* tok = app.add_subcommand("tokenize", "Token ids of a text, as Generate sees it");
  tok->add_option("--text", t.text, "Text to tokenize")->required();
  tok->add_flag("--chat", t.chat, "Render the text as a user chat message first");

  // info, health
  CLI::App* info = app.add_subcommand("info", "Model, workers and KV cache (JSON)");
  llm::tools::HealthOptions h;
  CLI::App* health = app.add_subcommand(
      "health", "grpc.health.v1 Check; exit 0 only when SERVING");
  health->add_option("--service", h.service, "Service name (\"\" = whole server)");

  CLI11_PARSE(app, argc, argv);
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      llm::MakeChannelCredentials(tls);
  if (!credentials.ok()) {
    std::fprintf(stderr, "llmctl: %s\n", std::string(credentials.status().message()).c_str());
    return 1;
  }
  conn.credentials = *credentials;

  if (*gen) {
    g.use_prompt_ids = ids_opt->count() > 0;
    SetIfGiven(max_tokens_opt, max_tokens, g.max_tokens);
    SetIfGiven(temperature_opt, temperature, g.temperature);
    SetIfGiven(top_k_opt, top_k, g.top_k);
    SetIfGiven(top_p_opt, top_p, g.top_p);
    SetIfGiven(min_p_opt, min_p, g.min_p);
    SetIfGiven(rep_opt, rep, g.repetition_penalty);
    SetIfGiven(pres_opt, pres, g.presence_penalty);
    SetIfGiven(freq_opt, freq, g.frequency_penalty);
    SetIfGiven(seed_opt, seed, g.seed);
    SetIfGiven(n_opt, n, g.n);
    SetIfGiven(logprobs_opt, logprobs, g.logprobs);
    SetIfGiven(num_spec_opt, num_spec, g.num_speculative_tokens);
    return llm::tools::RunGenerate(conn, g);
  }
  if (*tok) return llm::tools::RunTokenize(conn, t);
  if (*info) return llm::tools::RunInfo(conn);
  if (*health) return llm::tools::RunHealth(conn, h);
  return 2;
}
