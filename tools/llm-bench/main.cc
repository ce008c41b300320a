// llm-bench: a load generator over llm-scheduler's public API.
//
//   llm-bench --server 127.0.0.1:50051 --num-requests 200 --concurrency 32 \
//       --input-len 32:512 --output-len 16:256 --json
//   llm-bench --server ... --num-requests 100 --request-rate 4 --input-len 128
//   llm-bench --server ... --dataset prompts.jsonl --concurrency 8
//   llm-bench --server ... --tls-ca ca.pem --tls-cert me.pem --tls-key me.key   # (mutual) TLS
//
// Closed loop (--concurrency C: C requests always in flight) or open loop
// (--request-rate R: Poisson arrivals, at most --concurrency in flight when
// it is given). Synthetic prompts are random token ids sent as
// GenerateRequest.token_ids, so input lengths are exact; ignore_eos is on
// for them (--no-ignore-eos turns it off) so output lengths are exact too.
// Reports requests/s, output tokens/s and p50/p90/p99 of TTFT, inter-token
// and end-to-end latency in ms (see report.h); a progress bar on stderr
// when stderr is a terminal. Exit 1 when any request failed.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "CLI/CLI.hpp"
#include "grpcpp/grpcpp.h"
#include "llm/v1/inference.grpc.pb.h"
#include "proto/tls_credentials.h"
#include "proto/tls_flags.h"
#include "tools/llm-bench/in_process_runner.h"
#include "tools/llm-bench/load_runner.h"
#include "tools/llm-bench/report.h"
#include "tools/llm-bench/workload.h"
#include "tools/llmctl/grpc_status_text.h"

namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "llm-bench: %s\n", message.c_str());
  return 1;
}

void DrawProgress(int done, int total) {
  constexpr int kWidth = 40;
  const int filled = total > 0 ? done * kWidth / total : kWidth;
  std::fprintf(stderr, "\r[%s%s] %d/%d", std::string(filled, '#').c_str(),
               std::string(kWidth - filled, '.').c_str(), done, total);
  if (done == total) std::fprintf(stderr, "\n");
  std::fflush(stderr);
}

// The workload over the public API: model facts from GetModelInfo (the
// vocabulary bounds synthetic token ids; end-of-generation ids are left out
// so prompts never look finished), then the load.
absl::StatusOr<llm::bench::LoadResult> RunOverGrpc(const std::string& server,
                                                   const llm::TlsFiles& tls,
                                                   const std::string& tls_server_name,
                                                   llm::bench::WorkloadOptions w,
                                                   const llm::bench::LoadOptions& load,
                                                   const std::function<void(int, int)>& progress) {
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      llm::MakeChannelCredentials(tls);
  if (!credentials.ok()) return credentials.status();
  auto channel = llm::CreateClientChannel(server, *credentials, tls_server_name);
  auto stub = llm::v1::Inference::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  llm::v1::ModelInfo info;
  grpc::Status s = stub->GetModelInfo(&ctx, llm::v1::GetModelInfoRequest(), &info);
  if (!s.ok()) return absl::UnavailableError("GetModelInfo: " + llm::tools::GrpcStatusText(s));
  w.vocab_size = info.vocab_size();
  w.excluded_ids.assign(info.end_of_generation_token_ids().begin(),
                        info.end_of_generation_token_ids().end());
  absl::StatusOr<std::vector<llm::bench::BenchRequest>> workload =
      llm::bench::BuildWorkload(w);
  if (!workload.ok()) return workload.status();
  return llm::bench::RunLoad(channel, *workload, load, progress);
}

}  // namespace

int main(int argc, char** argv) {
  std::string server = "127.0.0.1:50051";
  std::string input_len = "128", output_len = "128";
  llm::bench::WorkloadOptions w;
  llm::bench::LoadOptions load;
  bool json = false;
  bool ignore_eos = true;
  CLI::App app{"llm-bench: load generator for llm-scheduler"};
  app.add_option("--server", server, "llm-scheduler address HOST:PORT")->capture_default_str();
  llm::TlsFiles tls;
  std::string tls_server_name;
  llm::AddTlsFlags(app, tls, llm::TlsRole::kClient, "LLM_BENCH");
  llm::AddTlsServerNameFlag(app, tls_server_name, "LLM_BENCH");
  app.add_option("--num-requests", w.num_requests, "Requests to send")->capture_default_str();
  auto* conc_opt = app.add_option("--concurrency", load.concurrency,
                                  "Closed loop: requests in flight (open loop: the cap)")
                       ->capture_default_str();
  app.add_option("--request-rate", load.request_rate,
                 "Open loop: Poisson arrivals per second (0 = closed loop)")
      ->capture_default_str();
  app.add_option("--input-len", input_len, "Prompt tokens: N or MIN:MAX (uniform)")
      ->capture_default_str();
  app.add_option("--output-len", output_len, "Generated tokens: N or MIN:MAX (uniform)")
      ->capture_default_str();
  app.add_option("--dataset", w.dataset,
                 "JSON lines {\"prompt\": TEXT, \"max_tokens\": N} instead of synthetic prompts");
  app.add_option("--seed", w.seed, "Seeds lengths, prompts, arrivals and sampling")
      ->capture_default_str();
  app.add_option("--temperature", w.temperature, "Sampling temperature (0 = greedy)")
      ->capture_default_str();
  auto* eos_opt = app.add_flag("--ignore-eos,!--no-ignore-eos", ignore_eos,
                               "Generate exactly the output length (default: on for "
                               "synthetic prompts, off for --dataset)");
  app.add_option("--timeout", load.timeout_s, "Per-request deadline in seconds")
      ->capture_default_str();
  app.add_flag("--json", json, "Print the report as one JSON object");
  // The in-process baseline (no gRPC): the same workload through the engine
  // and a local worker in this process, as llm-generate runs.
  bool in_process = false;
  std::string batching = "continuous";
  llm::bench::InProcessOptions ip;
  app.add_flag("--in-process", in_process,
               "Run the workload in this process (needs --model; closed loop only)");
  app.add_option("--model", ip.model_path, "GGUF model (--in-process)");
  app.add_option("--backend", ip.backend,
                 "auto, cpu or cuda (--in-process; auto = CUDA when built and a device is "
                 "present)")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}))
      ->capture_default_str();
  app.add_option("--threads", ip.threads, "CPU threads (--in-process; 0 = one per core)")
      ->capture_default_str();
  app.add_option("--kv-cache-bytes", ip.kv_cache_bytes, "KV pool bytes (--in-process)")
      ->capture_default_str();
  app.add_option("--max-num-seqs", ip.max_num_seqs, "Sequences per step (--in-process)")
      ->capture_default_str();
  app.add_option("--max-batched-tokens", ip.max_batched_tokens, "Tokens per step (--in-process)")
      ->capture_default_str();
  app.add_option("--batching", batching, "continuous or static (--in-process)")
      ->check(CLI::IsMember({"continuous", "static"}))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  ip.static_batching = batching == "static";

  if (w.num_requests < 1) return Fail("--num-requests must be >= 1");
  if (load.concurrency < 1) return Fail("--concurrency must be >= 1");
  if (load.request_rate > 0 && conc_opt->count() == 0) load.concurrency = w.num_requests;
  absl::StatusOr<llm::bench::LengthRange> in = llm::bench::ParseLengthRange(input_len);
  if (!in.ok()) return Fail("--input-len: " + std::string(in.status().message()));
  absl::StatusOr<llm::bench::LengthRange> out = llm::bench::ParseLengthRange(output_len);
  if (!out.ok()) return Fail("--output-len: " + std::string(out.status().message()));
  w.input_len = *in;
  w.output_len = *out;
  w.default_max_tokens = out->max;
  w.ignore_eos = eos_opt->count() > 0 ? ignore_eos : w.dataset.empty();
  load.seed = w.seed;

  const bool tty = isatty(STDERR_FILENO);
  llm::bench::LoadResult result;
  if (in_process) {
    if (ip.model_path.empty()) return Fail("--in-process needs --model");
    if (load.request_rate > 0) return Fail("--in-process runs the closed loop only");
    absl::StatusOr<llm::bench::LoadResult> r =
        llm::bench::RunLoadInProcess(ip, w, load, tty ? DrawProgress : nullptr);
    if (!r.ok()) return Fail(std::string(r.status().message()));
    result = std::move(*r);
  } else {
    absl::StatusOr<llm::bench::LoadResult> r =
        RunOverGrpc(server, tls, tls_server_name, w, load, tty ? DrawProgress : nullptr);
    if (!r.ok()) return Fail(std::string(r.status().message()));
    result = std::move(*r);
  }
  nlohmann::json report = llm::bench::MakeReport(result);
  report["concurrency"] = load.concurrency;
  report["request_rate"] = load.request_rate;
  report["input_len"] = input_len;
  report["path"] = in_process ? "in-process" : "grpc";
  report["output_len"] = output_len;
  if (!w.dataset.empty()) report["dataset"] = w.dataset;
  if (json) {
    std::cout << report.dump() << std::endl;
  } else {
    std::cout << llm::bench::FormatReport(report) << std::flush;
  }
  return report["errors"].get<int>() == 0 ? 0 : 1;
}
