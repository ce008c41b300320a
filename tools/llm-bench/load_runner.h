// File: tools/llm-bench/load_runner.h
//
// Sends a workload to llm-scheduler and times every request on the client:
// TTFT (send -> first message carrying tokens), the gaps between later
// token-carrying messages (inter-token latency; a message with k tokens
// counts as k gaps of gap/k), end-to-end latency (send -> stream end).
//
// Two arrival patterns: closed loop (`concurrency` threads, each sends its
// next request when the previous one ends) and open loop (Poisson arrivals
// at `request_rate` per second, at most `concurrency` in flight; a request
// that finds them all busy waits, and its latencies include that wait, as
// a user's would). One thread per in-flight request with the synchronous
// streaming API: simple, and enough for the tens of streams a CPU server
// takes.
//
// Thread safety: Run() from one thread; the progress callback is called
// from the request threads (serialised by the runner).
#ifndef LLM_TOOLS_LLM_BENCH_LOAD_RUNNER_H_
#define LLM_TOOLS_LLM_BENCH_LOAD_RUNNER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "grpcpp/grpcpp.h"
#include "tools/llm-bench/workload.h"

namespace llm::bench {

struct RequestTiming {
  bool ok = false;
  std::string error;  // "CODE: message" when !ok
  int input_tokens = 0;
  int output_tokens = 0;
  int cached_tokens = 0;
  double ttft_s = 0;
  double e2e_s = 0;
  std::vector<double> itl_s;
};

struct LoadOptions {
  int concurrency = 1;
  double request_rate = 0;  // > 0: open loop (Poisson)
  uint64_t seed = 0;
  double timeout_s = 600;   // per-request deadline
};

struct LoadResult {
  std::vector<RequestTiming> requests;  // one per workload entry
  double duration_s = 0;
};

// `progress(done, total)` after each request (may be empty).
LoadResult RunLoad(const std::shared_ptr<grpc::Channel>& channel,
                   const std::vector<BenchRequest>& workload, const LoadOptions& options,
                   const std::function<void(int, int)>& progress);

}  // namespace llm::bench

#endif  // LLM_TOOLS_LLM_BENCH_LOAD_RUNNER_H_
