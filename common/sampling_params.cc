// File: common/sampling_params.cc
#include "common/sampling_params.h"

#include <cmath>

#include "absl/strings/str_format.h"

namespace llm {
namespace {

// The closed range [lo, hi]; NaN fails every comparison and is rejected.
bool InClosed(float v, float lo, float hi) { return v >= lo && v <= hi; }

absl::Status OutOfRange(const char* field, const char* range, double got) {
  return absl::InvalidArgumentError(
      absl::StrFormat("%s must be in %s, got %g", field, range, got));
}

}  // namespace

absl::Status SamplingParams::Validate() const {
  if (!InClosed(temperature, 0.0f, 100.0f)) {
    return OutOfRange("temperature", "[0, 100]", temperature);
  }
  if (top_k < -1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("top_k must be >= -1 (<= 0 disables), got %d", top_k));
  }
  if (!(top_p > 0.0f && top_p <= 1.0f)) {
    return OutOfRange("top_p", "(0, 1]", top_p);
  }
  if (!InClosed(min_p, 0.0f, 1.0f)) {
    return OutOfRange("min_p", "[0, 1]", min_p);
  }
  if (!(repetition_penalty > 0.0f && repetition_penalty <= 10.0f)) {
    return OutOfRange("repetition_penalty", "(0, 10]", repetition_penalty);
  }
  if (!InClosed(presence_penalty, -2.0f, 2.0f)) {
    return OutOfRange("presence_penalty", "[-2, 2]", presence_penalty);
  }
  if (!InClosed(frequency_penalty, -2.0f, 2.0f)) {
    return OutOfRange("frequency_penalty", "[-2, 2]", frequency_penalty);
  }
  if (logprobs < 0 || logprobs > 20) {
    return absl::InvalidArgumentError(
        absl::StrFormat("logprobs must be in [0, 20], got %d", logprobs));
  }
  return absl::OkStatus();
}

}  // namespace llm
