// llm-scheduler: the cluster's front door. Serves the public llm.v1.Inference
// API (plus grpc.health.v1 and reflection) and Prometheus metrics, and
// drives one engine loop per worker group over gRPC. --tls-cert/--tls-key/
// --tls-ca: TLS on the public API and mutual TLS towards the workers with
// the same files (proto/tls_credentials.h). SIGINT/SIGTERM: health
// NOT_SERVING, new requests UNAVAILABLE, open streams get --drain-timeout
// seconds to finish, then the process exits 0.
#include <signal.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "proto/tls_credentials.h"
#include "proto/tls_flags.h"
#include "scheduler/scheduler_server.h"

namespace {

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "llm-scheduler: %s\n", std::string(status.message()).c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  // Only sigwait below sees the stop signals (blocked in every thread).
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  llm::SchedulerOptions o;
  double connect_timeout_s = 10;
  double drain_timeout_s = 30;
  CLI::App app{"llm-scheduler: the public inference API over a cluster of llm-workers"};
  app.set_config("--config", "", "Config file (TOML or INI) with these flags");
  app.add_option("--model", o.model_path, "GGUF model file (tokenizer and config are read)")
      ->required()->envname("LLM_SCHEDULER_MODEL");
  app.add_option("--listen", o.listen, "gRPC address HOST:PORT")
      ->capture_default_str()->envname("LLM_SCHEDULER_LISTEN");
  app.add_option("--workers", o.workers,
                 "Worker groups, comma-separated; ranks of one group joined by '+'")
      ->required()->delimiter(',')->envname("LLM_SCHEDULER_WORKERS");
  app.add_option("--metrics-listen", o.metrics_listen, "Prometheus /metrics address HOST:PORT")
      ->capture_default_str()->envname("LLM_SCHEDULER_METRICS_LISTEN");
  app.add_option("--batching", o.batching, "continuous or static")
      ->check(CLI::IsMember({"continuous", "static"}))
      ->capture_default_str()->envname("LLM_SCHEDULER_BATCHING");
  app.add_option("--max-num-seqs", o.max_num_seqs, "Sequences per step")
      ->capture_default_str()->envname("LLM_SCHEDULER_MAX_NUM_SEQS");
  app.add_option("--max-batched-tokens", o.max_batched_tokens, "Tokens per step")
      ->capture_default_str()->envname("LLM_SCHEDULER_MAX_BATCHED_TOKENS");
  app.add_option("--block-size", o.block_size,
                 "Tokens per KV block; must match the workers (0 = take theirs)")
      ->capture_default_str()->envname("LLM_SCHEDULER_BLOCK_SIZE");
  app.add_option("--max-queue", o.max_queue,
                 "Sequences allowed to wait before RESOURCE_EXHAUSTED")
      ->capture_default_str()->envname("LLM_SCHEDULER_MAX_QUEUE");
  app.add_option("--routing", o.routing,
                 "Worker group choice: prefix (longest cached prompt prefix, else least "
                 "loaded) or least-loaded")
      ->check(CLI::IsMember({"prefix", "least-loaded"}))
      ->capture_default_str()->envname("LLM_SCHEDULER_ROUTING");
  app.add_option("--async-scheduling", o.async_scheduling,
                 "Plan and send each step while the worker runs the previous one "
                 "(hides the gRPC round trip): auto (on unless --draft), true or false")
      ->check(CLI::IsMember({"auto", "true", "false"}))
      ->capture_default_str()->envname("LLM_SCHEDULER_ASYNC_SCHEDULING");
  app.add_option("--connect-timeout", connect_timeout_s,
                 "Seconds the first connection attempt waits for each worker; "
                 "an unreachable worker is then retried in the background "
                 "(health NOT_SERVING until some group is available)")
      ->capture_default_str()->envname("LLM_SCHEDULER_CONNECT_TIMEOUT");
  double step_timeout_s = 60;
  app.add_option("--step-timeout", step_timeout_s,
                 "Seconds a worker may take for one step before it is declared hung "
                 "(its group turns unavailable until it answers again)")
      ->capture_default_str()->envname("LLM_SCHEDULER_STEP_TIMEOUT");
  app.add_option("--drain-timeout", drain_timeout_s,
                 "Seconds open streams get to finish on SIGTERM")
      ->capture_default_str()->envname("LLM_SCHEDULER_DRAIN_TIMEOUT");
  std::string draft = "none";
  int num_speculative_tokens = -1;  // -1: 5 with a draft source
  app.add_option("--draft", draft,
                 "Speculative decoding: none, ngram (prompt lookup) or model (the "
                 "workers' --draft-model / --self-draft-layers)")
      ->capture_default_str()->envname("LLM_SCHEDULER_DRAFT");
  app.add_option("--num-speculative-tokens", num_speculative_tokens,
                 "Draft tokens per step and sequence (default 5 with --draft; 0: only "
                 "requests that ask speculate)")
      ->envname("LLM_SCHEDULER_NUM_SPECULATIVE_TOKENS");
  app.add_option("--max-num-speculative-tokens", o.speculative.max_num_speculative_tokens,
                 "Cap on a request's num_speculative_tokens")
      ->capture_default_str()->envname("LLM_SCHEDULER_MAX_NUM_SPECULATIVE_TOKENS");
  app.add_option("--spec-disable-by-batch-size", o.speculative.disable_by_batch_size,
                 "No speculation in steps with more than N running sequences (0: no limit)")
      ->capture_default_str()->envname("LLM_SCHEDULER_SPEC_DISABLE_BY_BATCH_SIZE");
  app.add_flag("--spec-adaptive", o.speculative.adaptive,
               "Per sequence, next K = drafts accepted last step + 1 (capped at K)")
      ->envname("LLM_SCHEDULER_SPEC_ADAPTIVE");
  // One identity for both sides: the certificate served on the public API
  // is also the client certificate shown to the workers, and the CA that
  // verifies API clients also verifies the workers.
  llm::TlsFiles tls;
  llm::AddTlsFlags(app, tls, llm::TlsRole::kServerAndClient, "LLM_SCHEDULER");
  CLI11_PARSE(app, argc, argv);
  absl::StatusOr<llm::DraftSource> source = llm::ParseDraftSource(draft);
  if (!source.ok()) return Fail(source.status());
  o.speculative.source = *source;
  o.speculative.num_speculative_tokens =
      num_speculative_tokens >= 0 ? num_speculative_tokens
                                  : (*source == llm::DraftSource::kNone ? 0 : 5);
  if (absl::Status s = o.speculative.Validate(); !s.ok()) return Fail(s);
  o.connect_timeout = absl::Seconds(connect_timeout_s);
  o.step_timeout = absl::Seconds(step_timeout_s);
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> server_credentials =
      llm::MakeServerCredentials(tls);
  if (!server_credentials.ok()) return Fail(server_credentials.status());
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> worker_credentials =
      llm::MakeChannelCredentials(tls);
  if (!worker_credentials.ok()) return Fail(worker_credentials.status());
  o.server_credentials = *server_credentials;
  o.worker_credentials = *worker_credentials;

  absl::StatusOr<std::unique_ptr<llm::SchedulerServer>> server =
      llm::SchedulerServer::Start(o);
  if (!server.ok()) return Fail(server.status());

  const llm::v1::ModelInfo info = (*server)->service().Info();
  nlohmann::json log = {
      {"event", "llm-scheduler ready"},
      {"model", o.model_path},
      {"model_name", info.model_name()},
      {"listen", o.listen},
      {"port", (*server)->port()},
      {"metrics_listen", o.metrics_listen},
      {"metrics_port", (*server)->metrics_port()},
      {"tls", tls.any() ? (tls.ca.empty() ? "tls" : "mutual") : "off"},
      {"workers", o.workers},
      {"batching", o.batching},
      {"max_num_seqs", o.max_num_seqs},
      {"max_batched_tokens", o.max_batched_tokens},
      {"max_queue", o.max_queue},
      {"draft", llm::DraftSourceName(o.speculative.source)},
      {"num_speculative_tokens", o.speculative.num_speculative_tokens},
      {"async_scheduling", o.async_scheduling_enabled()},
      {"kv_blocks", info.num_kv_blocks()},
      {"context_length", info.context_length()},
      {"chat", info.supports_chat()},
  };
  std::fprintf(stderr, "%s\n", log.dump().c_str());

  int sig = 0;
  sigwait(&signals, &sig);
  std::fprintf(stderr, "{\"event\": \"llm-scheduler draining\", \"signal\": %d}\n", sig);
  (*server)->Drain(absl::Seconds(drain_timeout_s));
  server->reset();
  std::fprintf(stderr, "{\"event\": \"llm-scheduler stopped\"}\n");
  return 0;
}
