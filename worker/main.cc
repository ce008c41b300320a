// llm-worker: one worker process of the cluster. Loads the model, allocates
// the paged KV pool, and serves llm.worker.v1.Worker (Describe, Execute),
// grpc.health.v1 (SERVING once ready), server reflection, and Prometheus
// metrics on --metrics-listen; TLS with --tls-cert/--tls-key, mutual TLS with
// --tls-ca as well (proto/tls_credentials.h). SIGINT/SIGTERM: health goes
// NOT_SERVING, a step in progress finishes and its result is sent, the
// Execute streams end with UNAVAILABLE, the process exits 0.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "proto/tls_credentials.h"
#include "proto/tls_flags.h"
#include "worker/tensor_parallel.h"
#include "worker/worker_server.h"

namespace {

struct Flags {
  std::string model;
  std::string listen = "0.0.0.0:50061";
  std::string metrics_listen = "0.0.0.0:9091";
  std::string backend = "auto";
  int threads = 0;
  int64_t kv_cache_bytes = 0;
  double kv_cache_fraction = 0;
  int block_size = 16;
  // Tensor parallelism (worker/tensor_parallel.h, tp_rendezvous.h).
  int tp_size = 1;
  int tp_rank = -1;  // < 0: from the StatefulSet pod name ($HOSTNAME)
  std::string tp_root;
  double tp_timeout_s = 600;
  llm::TlsFiles tls;
  // Speculative decoding: a draft model or the first N layers as the draft.
  std::string draft_model;
  int self_draft_layers = 0;
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
  options.worker.kv_cache_fraction = f.kv_cache_fraction;
  options.worker.block_size = f.block_size;
  options.worker.draft_model_path = f.draft_model;
  options.worker.self_draft_layers = f.self_draft_layers;
  options.listen = f.listen;
  options.metrics_listen = f.metrics_listen;
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      llm::MakeServerCredentials(f.tls);
  if (!credentials.ok()) return Fail(credentials.status());
  options.credentials = *credentials;
  // The model before the tensor-parallel placement (which may depend on
  // the pod's name): a missing file is the likelier mistake.
  if (access(f.model.c_str(), R_OK) != 0) {
    return Fail(absl::NotFoundError("cannot read the model file '" + f.model + "'"));
  }
  const char* hostname = std::getenv("HOSTNAME");
  absl::StatusOr<llm::TpPlacement> tp = llm::ResolveTpPlacement(
      f.tp_rank, f.tp_size, f.tp_root, hostname != nullptr ? hostname : "");
  if (!tp.ok()) return Fail(tp.status());
  options.worker.tp_rank = tp->rank;
  options.worker.tp_size = f.tp_size;
  options.tp_root = tp->root;
  options.tp_timeout = absl::Seconds(f.tp_timeout_s);
  if (f.tp_size > 1 && f.tls.any()) {
    // Ranks > 0 fetch the NCCL id from rank 0 with the same certificate.
    absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> channel_credentials =
        llm::MakeChannelCredentials(f.tls);
    if (!channel_credentials.ok()) return Fail(channel_credentials.status());
    options.tp_root_credentials = *channel_credentials;
  }
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
      {"tls", f.tls.any() ? (f.tls.ca.empty() ? "tls" : "mutual") : "off"},
      {"backend", worker.backend_name()},
      {"tp_rank", worker.tp_rank()},
      {"tp_size", worker.tp_size()},
      {"threads", f.threads},
      {"kv_blocks", kv.num_blocks},
      {"block_size", kv.block_size},
      {"kv_cache_bytes", kv.bytes_per_block() * kv.num_blocks},
      {"kv_cache_fraction", f.kv_cache_fraction},
      // The memory the fraction applied to; -1 when sized in bytes.
      {"kv_available_bytes", worker.kv_available_bytes()},
      {"context_length", worker.config().context_length},
      {"draft_model", f.draft_model},
      {"self_draft_layers", f.self_draft_layers},
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
  CLI::Option* kv_bytes =
      app.add_option("--kv-cache-bytes", f.kv_cache_bytes, "KV pool bytes (0 = 256 MiB)")
          ->capture_default_str()->envname("LLM_WORKER_KV_CACHE_BYTES");
  app.add_option("--kv-cache-fraction", f.kv_cache_fraction,
                 "KV pool as a fraction in (0, 1] of the memory available after the model "
                 "is loaded (host MemAvailable within the cgroup limit, or free GPU memory); "
                 "excludes --kv-cache-bytes")
      ->excludes(kv_bytes)->envname("LLM_WORKER_KV_CACHE_FRACTION");
  app.add_option("--block-size", f.block_size, "Tokens per KV block")
      ->capture_default_str()->envname("LLM_WORKER_BLOCK_SIZE");
  app.add_option("--tp-size", f.tp_size,
                 "Tensor-parallel group size (CUDA + NCCL; 1 = no tensor parallelism)")
      ->capture_default_str()->envname("LLM_WORKER_TP_SIZE");
  app.add_option("--tp-rank", f.tp_rank,
                 "This worker's rank in its group; -1 = StatefulSet ordinal of $HOSTNAME "
                 "modulo --tp-size")
      ->capture_default_str()->envname("LLM_WORKER_TP_RANK");
  app.add_option("--tp-root", f.tp_root,
                 "Rank 0's gRPC HOST:PORT (ranks > 0 fetch the NCCL id there); "
                 "'{root_ordinal}' becomes the ordinal of the group's rank-0 pod")
      ->envname("LLM_WORKER_TP_ROOT");
  app.add_option("--tp-timeout", f.tp_timeout_s,
                 "Seconds a rank waits for rank 0's NCCL id")
      ->capture_default_str()->envname("LLM_WORKER_TP_TIMEOUT");
  app.add_option("--draft-model", f.draft_model,
                 "Draft GGUF for speculative decoding (same vocabulary; own KV pool of "
                 "the same block count); llm-scheduler --draft model uses it")
      ->envname("LLM_WORKER_DRAFT_MODEL");
  app.add_option("--self-draft-layers", f.self_draft_layers,
                 "Speculate with the model's first N layers as the draft (no second "
                 "model; excludes --draft-model; 0 = off)")
      ->capture_default_str()->envname("LLM_WORKER_SELF_DRAFT_LAYERS");
  llm::AddTlsFlags(app, f.tls, llm::TlsRole::kServer, "LLM_WORKER");
  CLI11_PARSE(app, argc, argv);
  return Run(f, signals);
}
