#include "tools/llm-bench/in_process_runner.h"

#include <algorithm>
#include <chrono>
#include <memory>

#include "common/tokenizer.h"
#include "scheduler/engine.h"
#include "worker/in_process_channel.h"
#include "worker/local_worker.h"

namespace llm::bench {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

GenerationRequest ToEngineRequest(const v1::GenerateRequest& r) {
  GenerationRequest g;
  g.request_id = r.request_id();
  g.prompt_tokens.assign(r.token_ids().ids().begin(), r.token_ids().ids().end());
  g.params.temperature = r.sampling().temperature();
  if (r.sampling().has_seed()) g.params.seed = r.sampling().seed();
  g.n = 1;
  g.max_tokens = r.max_tokens();
  g.ignore_eos = r.ignore_eos();
  return g;
}

}  // namespace

absl::StatusOr<LoadResult> RunLoadInProcess(const InProcessOptions& o, WorkloadOptions w,
                                            const LoadOptions& load,
                                            const std::function<void(int, int)>& progress) {
  if (!w.dataset.empty()) {
    return absl::InvalidArgumentError("--in-process takes synthetic prompts only");
  }
  WorkerOptions wopts;
  wopts.model_path = o.model_path;
  wopts.threads = o.threads;
  wopts.kv_cache_bytes = o.kv_cache_bytes;
  wopts.backend = o.backend;
  absl::StatusOr<std::unique_ptr<LocalWorker>> worker = LocalWorker::Create(wopts);
  if (!worker.ok()) return worker.status();
  absl::StatusOr<std::unique_ptr<Tokenizer>> tok = Tokenizer::FromGguf((*worker)->file());
  if (!tok.ok()) return tok.status();
  w.vocab_size = (*worker)->config().n_vocab;
  w.excluded_ids = (*tok)->end_of_generation_ids();
  absl::StatusOr<std::vector<BenchRequest>> workload = BuildWorkload(w);
  if (!workload.ok()) return workload.status();

  InProcessWorkerChannel channel(**worker);
  EngineOptions eopts;
  eopts.batching = o.static_batching ? BatchingMode::kStatic : BatchingMode::kContinuous;
  eopts.max_num_seqs = o.max_num_seqs;
  eopts.max_batched_tokens = o.max_batched_tokens;
  eopts.eog_token_ids = (*tok)->end_of_generation_ids();
  absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Create(eopts, channel);
  if (!engine.ok()) return engine.status();

  // Warm-up, untimed: pages the mmapped weights in, as a running worker's
  // already are.
  {
    GenerationRequest warm = ToEngineRequest((*workload)[0].request);
    warm.request_id = "warm-up";
    warm.prompt_tokens.resize(std::min<size_t>(warm.prompt_tokens.size(), 16));
    warm.max_tokens = 4;
    warm.ignore_eos = true;
    if (absl::Status s = (*engine)->Add(std::move(warm), [](const SequenceUpdate&) {}); !s.ok()) {
      return s;
    }
    while ((*engine)->HasWork()) {
      if (absl::Status s = (*engine)->Step(); !s.ok()) return s;
    }
  }

  const int total = static_cast<int>(workload->size());
  LoadResult result;
  result.requests.resize(total);
  std::vector<Clock::time_point> start(total), last(total);
  int next = 0, in_flight = 0, done = 0;
  const Clock::time_point t0 = Clock::now();
  auto add_next = [&]() -> absl::Status {
    const int i = next++;
    start[i] = last[i] = Clock::now();
    result.requests[i].input_tokens = (*workload)[i].input_tokens;
    ++in_flight;
    return (*engine)->Add(ToEngineRequest((*workload)[i].request),
                          [&, i](const SequenceUpdate& u) {
      const Clock::time_point now = Clock::now();
      RequestTiming& t = result.requests[i];
      const int k = static_cast<int>(u.new_tokens.size());
      if (k > 0) {
        if (t.output_tokens == 0) {
          t.ttft_s = Seconds(now - start[i]);
          for (int j = 1; j < k; ++j) t.itl_s.push_back(0);
        } else {
          for (int j = 0; j < k; ++j) t.itl_s.push_back(Seconds(now - last[i]) / k);
        }
        last[i] = now;
        t.output_tokens += k;
      }
      if (u.finish_reason != FinishReason::kNone) {
        t.ok = true;
        t.cached_tokens = u.num_cached_tokens;
        t.e2e_s = Seconds(now - start[i]);
        --in_flight;
        ++done;
        if (progress) progress(done, total);
      }
    });
  };
  const int concurrency = std::max(1, load.concurrency);
  while (done < total) {
    while (next < total && in_flight < concurrency) {
      if (absl::Status s = add_next(); !s.ok()) return s;
    }
    if (absl::Status s = (*engine)->Step(); !s.ok()) return s;
  }
  result.duration_s = Seconds(Clock::now() - t0);
  return result;
}

}  // namespace llm::bench
