// File: common/pre_tokenizer.h
//
// Pre-tokenization for byte-level BPE: splits text into the pieces that BPE
// merges never cross, exactly as llama.cpp does for a `tokenizer.ggml.pre`
// name (its hand-written matchers in src/unicode.cpp and, for the simple
// regexes it runs through std::regex, equivalent hand-written scanners; no
// std::regex here).
//
// Invalid UTF-8 is decoded leniently (common/unicode.h), so an invalid byte
// comes back as U+FFFD in the pieces, as in llama.cpp.
//
// Thread safety: stateless functions; thread-safe.
//
// Example:
//   PreTokenize(PreTokenizerKind::kSmollm, "Hello world! 123")
//     -> {"Hello", " world", "!", " ", "1", "2", "3"}
#ifndef LLM_COMMON_PRE_TOKENIZER_H_
#define LLM_COMMON_PRE_TOKENIZER_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace llm {

enum class PreTokenizerKind {
  // llama.cpp "default": [\p{P}\$\+<=>\^~\|]+ , GPT-2, \p{N}+ , [0-9]{3}.
  kDefault,
  // "gpt-2"/"gpt2": 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+|
  //                 ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  kGpt2,
  // "smollm" (also starcoder, refact, command-r): every \p{N} alone, then GPT-2.
  kSmollm,
  // "llama-bpe"/"llama3": (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|
  //   \p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
  kLlama3,
};

// InvalidArgument for names llama.cpp's BPE pre-tokenizers we do not support.
// An empty name means "default", as in llama.cpp.
absl::StatusOr<PreTokenizerKind> PreTokenizerKindFromName(std::string_view name);

// Splits `text` into pieces (UTF-8, not yet byte-encoded). Concatenating the
// pieces gives `text` with each invalid UTF-8 byte replaced by U+FFFD.
std::vector<std::string> PreTokenize(PreTokenizerKind kind, std::string_view text);

}  // namespace llm

#endif  // LLM_COMMON_PRE_TOKENIZER_H_
