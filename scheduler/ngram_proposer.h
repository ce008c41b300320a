// File: scheduler/ngram_proposer.h
//
// Prompt-lookup drafts (Saxena 2023; vLLM's "[ngram]" speculator): find the
// latest earlier occurrence of the sequence's last n tokens in its own
// prompt + output (n from max_n down to min_n) and propose the tokens that
// followed it. No model: input-grounded tasks (summarise, rewrite, extract,
// code edits) copy long spans, and those are found here.
//
// Thread safety: stateless functions.
#ifndef LLM_SCHEDULER_NGRAM_PROPOSER_H_
#define LLM_SCHEDULER_NGRAM_PROPOSER_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"

namespace llm {

// Up to `k` tokens that followed the latest earlier match of the last n
// tokens of `tokens` (largest n in [min_n, max_n] that matches); empty when
// nothing matches or k <= 0. The match must end before the last token, so
// at least one token follows it.
std::vector<int32_t> ProposeNgramDraft(absl::Span<const int32_t> tokens, int k,
                                       int min_n, int max_n);

}  // namespace llm

#endif  // LLM_SCHEDULER_NGRAM_PROPOSER_H_
