// File: common/sampling_params.h
//
// SamplingParams: how one request turns logits into tokens. Validated once
// at the edge (scheduler frontend, CLI); the sampler trusts it. Order of
// application (vLLM/OpenAI): penalties -> temperature -> top-k -> top-p ->
// min-p -> sample.
#ifndef LLM_COMMON_SAMPLING_PARAMS_H_
#define LLM_COMMON_SAMPLING_PARAMS_H_

#include <cstdint>
#include <optional>

#include "absl/status/status.h"

namespace llm {

struct SamplingParams {
  // 0 means greedy (argmax, ties to the lowest id). Range [0, 100].
  float temperature = 1.0f;
  // Keep the k most likely tokens; <= 0 or >= vocab disables. Range >= -1.
  int top_k = 0;
  // Smallest set with cumulative probability >= top_p; (0, 1], 1 disables.
  float top_p = 1.0f;
  // Drop tokens with prob < min_p * max prob; [0, 1], 0 disables.
  float min_p = 0.0f;
  // HF/vLLM repetition penalty over prompt and output tokens; (0, 10].
  float repetition_penalty = 1.0f;
  // OpenAI-style penalties over generated tokens; [-2, 2].
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  // Same seed, same prompt, same params => same tokens, whatever the batch.
  // Unset: the engine draws one per request.
  std::optional<uint64_t> seed;
  // Number of top alternatives to return with each token's logprob; [0, 20].
  int logprobs = 0;

  bool greedy() const { return temperature == 0.0f; }
  // InvalidArgument naming the first bad field ("temperature must be ...").
  absl::Status Validate() const;
};

}  // namespace llm

#endif  // LLM_COMMON_SAMPLING_PARAMS_H_
