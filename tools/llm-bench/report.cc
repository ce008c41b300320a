#include "tools/llm-bench/report.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "absl/strings/str_format.h"

namespace llm::bench {
namespace {

nlohmann::json Summary(const std::vector<double>& seconds) {
  const double mean =
      seconds.empty() ? 0 : std::accumulate(seconds.begin(), seconds.end(), 0.0) / seconds.size();
  return {{"p50", Percentile(seconds, 0.50) * 1e3},
          {"p90", Percentile(seconds, 0.90) * 1e3},
          {"p99", Percentile(seconds, 0.99) * 1e3},
          {"mean", mean * 1e3}};
}

}  // namespace

double Percentile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const double pos = q * (values.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, values.size() - 1);
  return values[lo] + (values[hi] - values[lo]) * (pos - lo);
}

nlohmann::json MakeReport(const LoadResult& result) {
  std::vector<double> ttft, itl, e2e;
  long input_tokens = 0, output_tokens = 0, cached_tokens = 0;
  int completed = 0, errors = 0;
  std::map<std::string, int> error_counts;
  std::string first_error;
  for (const RequestTiming& t : result.requests) {
    if (!t.ok) {
      ++errors;
      const std::string code = t.error.substr(0, t.error.find(':'));
      ++error_counts[code];
      if (first_error.empty()) first_error = t.error;
      continue;
    }
    ++completed;
    input_tokens += t.input_tokens;
    output_tokens += t.output_tokens;
    cached_tokens += t.cached_tokens;
    if (t.output_tokens > 0) ttft.push_back(t.ttft_s);
    itl.insert(itl.end(), t.itl_s.begin(), t.itl_s.end());
    e2e.push_back(t.e2e_s);
  }
  const double d = result.duration_s > 0 ? result.duration_s : 1e-9;
  nlohmann::json j = {
      {"requests_per_s", completed / d},
      {"output_tokens_per_s", output_tokens / d},
      {"input_tokens_per_s", input_tokens / d},
      {"ttft_ms", Summary(ttft)},
      {"itl_ms", Summary(itl)},
      {"e2e_ms", Summary(e2e)},
      {"duration_s", result.duration_s},
      {"num_requests", result.requests.size()},
      {"completed", completed},
      {"errors", errors},
      {"error_codes", error_counts},
      {"total_input_tokens", input_tokens},
      {"total_output_tokens", output_tokens},
      {"total_cached_tokens", cached_tokens},
  };
  if (!first_error.empty()) j["first_error"] = first_error;
  return j;
}

std::string FormatReport(const nlohmann::json& r) {
  std::string s;
  s += absl::StrFormat("requests:            %d completed, %d errors in %.2f s\n",
                       r["completed"].get<int>(), r["errors"].get<int>(),
                       r["duration_s"].get<double>());
  if (r.contains("first_error")) {
    s += absl::StrFormat("first error:         %s\n", r["first_error"].get<std::string>());
  }
  s += absl::StrFormat("throughput:          %.2f requests/s, %.1f output tokens/s\n",
                       r["requests_per_s"].get<double>(),
                       r["output_tokens_per_s"].get<double>());
  s += absl::StrFormat("tokens:              %d in (%d cached), %d out\n",
                       r["total_input_tokens"].get<long>(), r["total_cached_tokens"].get<long>(),
                       r["total_output_tokens"].get<long>());
  for (const char* key : {"ttft_ms", "itl_ms", "e2e_ms"}) {
    const nlohmann::json& m = r[key];
    s += absl::StrFormat("%-20s p50 %9.2f  p90 %9.2f  p99 %9.2f  mean %9.2f\n",
                         std::string(key) + ":", m["p50"].get<double>(), m["p90"].get<double>(),
                         m["p99"].get<double>(), m["mean"].get<double>());
  }
  return s;
}

}  // namespace llm::bench
