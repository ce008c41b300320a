#include "tools/llm-bench/workload.h"

#include <algorithm>
#include <fstream>
#include <random>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"

namespace llm::bench {
namespace {

// Control tokens of byte-level BPE vocabularies sit at the low ids
// (SmolLM2: 0..16); skipping the first few keeps prompts plain text.
constexpr int kFirstId = 32;

}  // namespace

absl::StatusOr<LengthRange> ParseLengthRange(const std::string& text) {
  std::vector<std::string> parts = absl::StrSplit(text, ':');
  LengthRange r;
  if (parts.size() == 1 && absl::SimpleAtoi(parts[0], &r.min)) {
    r.max = r.min;
  } else if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &r.min) ||
             !absl::SimpleAtoi(parts[1], &r.max)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("length '%s' is not N or MIN:MAX", text));
  }
  if (r.min < 1 || r.max < r.min) {
    return absl::InvalidArgumentError(
        absl::StrFormat("length '%s' needs 1 <= MIN <= MAX", text));
  }
  return r;
}

absl::StatusOr<std::vector<BenchRequest>> BuildWorkload(const WorkloadOptions& o) {
  std::mt19937_64 rng(o.seed);
  std::vector<BenchRequest> out;
  if (!o.dataset.empty()) {
    std::ifstream in(o.dataset);
    if (!in) return absl::NotFoundError("cannot open --dataset " + o.dataset);
    std::vector<BenchRequest> rows;
    int line_no = 0;
    for (std::string line; std::getline(in, line);) {
      ++line_no;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (j.is_discarded() || !j.is_object() || !j.contains("prompt") ||
          !j["prompt"].is_string()) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s:%d: expected {\"prompt\": TEXT, \"max_tokens\": N}", o.dataset, line_no));
      }
      BenchRequest r;
      r.request.set_text(j["prompt"].get<std::string>());
      r.request.set_max_tokens(j.contains("max_tokens") && j["max_tokens"].is_number_integer()
                                   ? j["max_tokens"].get<int>()
                                   : o.default_max_tokens);
      rows.push_back(std::move(r));
    }
    if (rows.empty()) return absl::InvalidArgumentError("--dataset has no prompts");
    // Cycle through the dataset until num_requests.
    for (int i = 0; i < o.num_requests; ++i) out.push_back(rows[i % rows.size()]);
  } else {
    if (o.vocab_size <= kFirstId) {
      return absl::FailedPreconditionError("vocab_size unknown: cannot make prompts");
    }
    std::uniform_int_distribution<int32_t> token(kFirstId, o.vocab_size - 1);
    for (int i = 0; i < o.num_requests; ++i) {
      BenchRequest r;
      const int in_len =
          std::uniform_int_distribution<int>(o.input_len.min, o.input_len.max)(rng);
      const int out_len =
          std::uniform_int_distribution<int>(o.output_len.min, o.output_len.max)(rng);
      v1::TokenIds* ids = r.request.mutable_token_ids();
      while (ids->ids_size() < in_len) {
        const int32_t id = token(rng);
        if (std::find(o.excluded_ids.begin(), o.excluded_ids.end(), id) !=
            o.excluded_ids.end()) {
          continue;
        }
        ids->add_ids(id);
      }
      r.request.set_max_tokens(out_len);
      r.input_tokens = in_len;
      out.push_back(std::move(r));
    }
  }
  for (size_t i = 0; i < out.size(); ++i) {
    v1::GenerateRequest& req = out[i].request;
    req.set_request_id(absl::StrFormat("bench-%d", i));
    req.set_ignore_eos(o.ignore_eos);
    req.mutable_sampling()->set_temperature(o.temperature);
    req.mutable_sampling()->set_seed(o.seed + i);
  }
  return out;
}

}  // namespace llm::bench
