#include "scheduler/ngram_proposer.h"

#include <algorithm>

namespace llm {

std::vector<int32_t> ProposeNgramDraft(absl::Span<const int32_t> tokens, int k,
                                       int min_n, int max_n) {
  std::vector<int32_t> out;
  const int len = static_cast<int>(tokens.size());
  if (k <= 0 || min_n < 1) return out;
  for (int n = std::min(max_n, len - 1); n >= min_n; --n) {
    const int32_t* suffix = tokens.data() + len - n;
    // Latest first: recent context predicts the continuation best. Start
    // positions i < len - n, so the match is not the suffix itself.
    for (int i = len - n - 1; i >= 0; --i) {
      if (!std::equal(suffix, suffix + n, tokens.data() + i)) continue;
      const int from = i + n;
      const int take = std::min(k, len - from);
      out.assign(tokens.begin() + from, tokens.begin() + from + take);
      return out;
    }
  }
  return out;
}

}  // namespace llm
