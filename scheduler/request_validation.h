// File: scheduler/request_validation.h
//
// Turns public API requests (llm.v1) into what the engine runs: validates
// every field (InvalidArgument whose message starts with the field's name,
// e.g. "sampling.top_p must be in (0, 1]; got 1.5"), renders chat messages
// with the model's chat template, tokenizes, and checks that the prompt and
// max_tokens fit the context.
//
// Thread safety: stateless functions over immutable inputs.
#ifndef LLM_SCHEDULER_REQUEST_VALIDATION_H_
#define LLM_SCHEDULER_REQUEST_VALIDATION_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/chat_template.h"
#include "common/tokenizer.h"
#include "llm/v1/inference.pb.h"
#include "scheduler/request.h"

namespace llm {

// What validation needs to know about the served model.
struct ModelFacts {
  const Tokenizer* tokenizer = nullptr;
  std::optional<ChatTemplateFamily> chat_family;  // none: chat unsupported
  int context_length = 0;
  int vocab_size = 0;
};

// Limits of the public API.
inline constexpr int kMaxSamples = 16;
inline constexpr int kMaxStopStrings = 16;
inline constexpr int kDefaultMaxTokens = 256;
inline constexpr size_t kMaxRequestIdBytes = 256;

struct PreparedGenerate {
  GenerationRequest request;       // request_id left empty
  std::vector<std::string> stop;   // stop strings
};

absl::StatusOr<PreparedGenerate> PrepareGenerate(const v1::GenerateRequest& request,
                                                 const ModelFacts& model);

// The ids Generate would run for this input (no context check).
absl::StatusOr<std::vector<int32_t>> PrepareTokenize(const v1::TokenizeRequest& request,
                                                     const ModelFacts& model);

}  // namespace llm

#endif  // LLM_SCHEDULER_REQUEST_VALIDATION_H_
