// File: common/vocab_metadata.h
//
// VocabMetadata: the model-independent part of a GGUF vocabulary
// (`tokenizer.ggml.*`): token texts and types, special ids, the end-of-
// generation set, and the special-token splitter that runs before any
// pre-tokenizer. Shared by every Tokenizer implementation so they decide
// these things exactly as llama.cpp's llama_vocab::impl::load does.
//
// Thread safety: immutable after LoadVocabMetadata; const methods are safe
// from any thread.
#ifndef LLM_COMMON_VOCAB_METADATA_H_
#define LLM_COMMON_VOCAB_METADATA_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/gguf.h"
#include "common/tokenizer.h"

namespace llm {

// One piece of input after special-token splitting: either raw text (to be
// pre-tokenized) or a matched special token.
struct TextFragment {
  int32_t token = -1;     // >= 0: a special token; -1: raw text
  std::string_view text;  // raw text (a view into the input)
};

struct VocabMetadata {
  std::vector<std::string> texts;  // "[EMPTY_<i>]" for empty strings, as llama.cpp
  std::vector<TokenType> types;    // after llama.cpp's control-looking overrides
  std::vector<float> scores;       // tokenizer.ggml.scores, 0 when absent
  // Text -> id; for duplicate texts the highest id wins (llama.cpp).
  absl::flat_hash_map<std::string, int32_t> text_to_id;

  int32_t bos = -1, eos = -1, eot = -1, eom = -1, unk = -1;
  bool add_bos = false, add_eos = false;
  std::vector<int32_t> eog_ids;  // ascending
  std::vector<bool> is_eog;      // [vocab size]
  // Control, user-defined and unknown token ids, longest text first (ties by
  // id), the order llama.cpp matches them in.
  std::vector<int32_t> special_ids;
  std::string chat_template;

  int32_t Find(std::string_view text) const {
    // This Abseil's string hash takes absl::string_view, not std::string_view.
    auto it = text_to_id.find(absl::string_view(text.data(), text.size()));
    return it == text_to_id.end() ? -1 : it->second;
  }

  // Splits `text` at special-token texts, longest token first, each token's
  // occurrences left to right. parse_special == false skips control and
  // unknown tokens but still matches user-defined ones (llama.cpp's
  // tokenizer_st_partition).
  std::vector<TextFragment> SplitSpecial(std::string_view text, bool parse_special) const;
};

// Model-specific defaults llama.cpp applies before reading the metadata.
struct VocabDefaults {
  int32_t bos = -1;
  int32_t eos = -1;
  int32_t unk = -1;
  bool add_bos = false;
  bool add_eos = false;
};

// Reads tokens, token types and scores (both optional), special
// ids and add_bos/add_eos flags. InvalidArgument when arrays disagree in
// length, the token list is missing/empty, or a special id is outside the
// vocabulary (llama.cpp only warns on the latter; we refuse the file). Type
// values outside 0..6 read as kUndefined, as in llama.cpp.
absl::StatusOr<VocabMetadata> LoadVocabMetadata(const GgufFile& file,
                                                const VocabDefaults& defaults);

}  // namespace llm

#endif  // LLM_COMMON_VOCAB_METADATA_H_
