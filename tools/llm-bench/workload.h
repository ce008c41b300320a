// File: tools/llm-bench/workload.h
//
// The requests llm-bench sends: synthetic (random token-id prompts of a
// given length, so that input lengths are exact and no two prompts share a
// cached prefix; ignore_eos so that output lengths are exact) or read from a
// JSON-lines dataset ({"prompt": TEXT, "max_tokens": N}).
//
// Thread safety: plain data and pure functions.
#ifndef LLM_TOOLS_LLM_BENCH_WORKLOAD_H_
#define LLM_TOOLS_LLM_BENCH_WORKLOAD_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "llm/v1/inference.pb.h"

namespace llm::bench {

// An inclusive length range; "N" parses as N:N.
struct LengthRange {
  int min = 0;
  int max = 0;
};
absl::StatusOr<LengthRange> ParseLengthRange(const std::string& text);

struct WorkloadOptions {
  int num_requests = 100;
  LengthRange input_len{128, 128};
  LengthRange output_len{128, 128};
  std::string dataset;  // JSON lines; empty = synthetic
  uint64_t seed = 0;
  // Defaults: on for synthetic prompts, off for a dataset.
  bool ignore_eos = true;
  float temperature = 0.0f;
  // From GetModelInfo: ids are drawn from [first_id, vocab_size) minus these.
  int vocab_size = 0;
  std::vector<int32_t> excluded_ids;
  // Dataset requests without max_tokens get this.
  int default_max_tokens = 128;
};

struct BenchRequest {
  v1::GenerateRequest request;
  int input_tokens = 0;  // 0 when unknown (text prompt)
};

absl::StatusOr<std::vector<BenchRequest>> BuildWorkload(const WorkloadOptions& options);

}  // namespace llm::bench

#endif  // LLM_TOOLS_LLM_BENCH_WORKLOAD_H_
