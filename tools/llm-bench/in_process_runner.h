// File: tools/llm-bench/in_process_runner.h
//
// The same closed-loop workload as RunLoad, but through the in-process path
// (scheduler Engine + InProcessWorkerChannel + LocalWorker in this process,
// as llm-generate runs): the baseline for the cost of the gRPC hop. The
// engine loop runs on the calling thread; `concurrency` requests are kept in
// the engine, a new one added as soon as one finishes. Timing is as in
// RunLoad (token arrival at the callback of the step that produced it).
// Synthetic (token-id) prompts only.
//
// Thread safety: one caller thread.
#ifndef LLM_TOOLS_LLM_BENCH_IN_PROCESS_RUNNER_H_
#define LLM_TOOLS_LLM_BENCH_IN_PROCESS_RUNNER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tools/llm-bench/load_runner.h"
#include "tools/llm-bench/workload.h"

namespace llm::bench {

struct InProcessOptions {
  std::string model_path;
  std::string backend = "cpu";   // auto | cpu | cuda (worker/backend_factory.h)
  int threads = 0;               // 0 = one per core
  long long kv_cache_bytes = 0;  // 0 = worker default
  int max_num_seqs = 64;
  int max_batched_tokens = 2048;
  bool static_batching = false;
};

// Model facts the synthetic workload needs (vocab size, EOG ids) and the
// run, in one: the model is loaded once.
absl::StatusOr<LoadResult> RunLoadInProcess(const InProcessOptions& options,
                                            WorkloadOptions workload_options,
                                            const LoadOptions& load,
                                            const std::function<void(int, int)>& progress);

}  // namespace llm::bench

#endif  // LLM_TOOLS_LLM_BENCH_IN_PROCESS_RUNNER_H_
