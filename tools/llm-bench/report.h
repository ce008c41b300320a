// File: tools/llm-bench/report.h
//
// Turns per-request timings into llm-bench's report: throughput and
// p50/p90/p99 latencies in milliseconds, as JSON
//   {"requests_per_s", "output_tokens_per_s", "ttft_ms": {"p50","p90","p99",
//    "mean"}, "itl_ms": {...}, "e2e_ms": {...}, "completed", "errors", ...}
// or as a short table. Percentiles interpolate linearly between the closest
// ranks (numpy's default), over successful requests only.
//
// Thread safety: pure functions.
#ifndef LLM_TOOLS_LLM_BENCH_REPORT_H_
#define LLM_TOOLS_LLM_BENCH_REPORT_H_

#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "tools/llm-bench/load_runner.h"

namespace llm::bench {

// q in [0, 1]; 0 for an empty input.
double Percentile(std::vector<double> values, double q);

nlohmann::json MakeReport(const LoadResult& result);
std::string FormatReport(const nlohmann::json& report);

}  // namespace llm::bench

#endif  // LLM_TOOLS_LLM_BENCH_REPORT_H_
