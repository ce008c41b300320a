// llm-worker: one worker process of the cluster. Loads the model, allocates
// the paged KV pool, and serves llm.worker.v1.Worker (Describe, Execute),
// grpc.health.v1 (SERVING once ready), server reflection, and Prometheus
// metrics on --metrics-listen. SIGINT/SIGTERM: health goes NOT_SERVING, open
// streams are cancelled, the process exits 0.
#include <signal.h>

#include <cstdio>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "worker/worker_server.h"

namespace {

struct Flags {
  std::string model;
  std::string listen = "0.0.0.0:50061";
  std::string metrics_listen = "0.0.0.0:9091";
  std::string backend = "auto";
  int threads = 0;
  int64_t kv_cache_bytes = 0;
  int block_size = 16;
};

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "llm-worker: %s\n", std::string(status.message()).c_str());
  return 1;
}

int Run(const Flags& f, const sigset_t& signals) {
  llm::WorkerServerOptions options;
  options.worker.model_path = f.model;
  options.worker.backend = f.backend;
  options.worker.threads = f.threads;
  options.worker.kv_cache_bytes = f.kv_cache_bytes;
  options.worker.block_size = f.block_size;
  options.listen = f.listen;
  options.metrics_listen = f.metrics_listen;
  absl::StatusOr<std::unique_ptr<llm::WorkerServer>> server =
      llm::WorkerServer::Start(options);
  if (!server.ok()) return Fail(server.status());

  const llm::LocalWorker& worker = (*server)->worker();
  const llm::KvCacheShape& kv = worker.kv_shape();
  nlohmann::json log = {
      {"event", "llm-worker ready"},
      {"model", f.model},
      {"model_name", worker.config().name},
      {"listen", f.listen},
      {"port", (*server)->port()},
      {"metrics_listen", f.metrics_listen},
      {"metrics_port", (*server)->metrics_port()},
      {"backend", worker.backend_name()},
      {"threads", f.threads},
      {"kv_blocks", kv.num_blocks},
      {"block_size", kv.block_size},
      {"kv_cache_bytes", kv.bytes_per_block() * kv.num_blocks},
      {"context_length", worker.config().context_length},
  };
  std::fprintf(stderr, "%s\n", log.dump().c_str());

  int sig = 0;
  sigwait(&signals, &sig);
  std::fprintf(stderr, "{\"event\": \"llm-worker stopping\", \"signal\": %d}\n", sig);
  server->reset();  // NOT_SERVING, streams cancelled, port closed
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Block the stop signals in every thread (gRPC's included) so that only
  // sigwait in Run sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  Flags f;
  CLI::App app{"llm-worker: loads a model and executes step plans for llm-scheduler"};
  app.set_config("--config", "", "Config file (TOML or INI) with these flags");
  app.add_option("--model", f.model, "GGUF model file")->required()->envname("LLM_WORKER_MODEL");
  app.add_option("--listen", f.listen, "gRPC address HOST:PORT")
      ->capture_default_str()->envname("LLM_WORKER_LISTEN");
  app.add_option("--metrics-listen", f.metrics_listen, "Prometheus /metrics address HOST:PORT")
      ->capture_default_str()->envname("LLM_WORKER_METRICS_LISTEN");
  app.add_option("--backend", f.backend, "auto, cpu or cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}))
      ->capture_default_str()->envname("LLM_WORKER_BACKEND");
  app.add_option("--threads", f.threads, "CPU threads (0 = one per core)")
      ->capture_default_str()->envname("LLM_WORKER_THREADS");
  app.add_option("--kv-cache-bytes", f.kv_cache_bytes, "KV pool bytes (0 = 256 MiB)")
      ->capture_default_str()->envname("LLM_WORKER_KV_CACHE_BYTES");
  app.add_option("--block-size", f.block_size, "Tokens per KV block")
      ->capture_default_str()->envname("LLM_WORKER_BLOCK_SIZE");
  CLI11_PARSE(app, argc, argv);
  return Run(f, signals);
}
