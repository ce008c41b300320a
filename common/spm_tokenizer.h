// File: common/spm_tokenizer.h
//
// SpmTokenizer: SentencePiece-style BPE (`tokenizer.ggml.model` = "llama")
// as llama.cpp runs it (llm_tokenizer_spm_session): after special-token
// splitting, each raw fragment gets a leading space when it starts the text
// or follows a special token (tokenizer.ggml.add_space_prefix, default on),
// spaces become U+2581 "▁", and adjacent symbols merge greedily by the score
// of the token they form (ties: leftmost). A final symbol that is not a
// token (always a single character) becomes <0xXX> byte tokens.
//
// Thread safety: immutable after Create(); all methods are const and safe
// from any thread.
#ifndef LLM_COMMON_SPM_TOKENIZER_H_
#define LLM_COMMON_SPM_TOKENIZER_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/gguf.h"
#include "common/vocab_metadata.h"
#include "common/vocab_tokenizer.h"

namespace llm {

class SpmTokenizer final : public VocabTokenizer {
 public:
  // REQUIRES: tokenizer.ggml.model is "llama".
  static absl::StatusOr<std::unique_ptr<SpmTokenizer>> Create(const GgufFile& file);

  std::vector<int32_t> Encode(std::string_view text, bool add_special,
                              bool parse_special) const override;

 private:
  SpmTokenizer() = default;
  // Appends the ids of one escaped fragment ("▁" for spaces).
  void EncodeFragment(const std::string& text, std::vector<int32_t>* out) const;

  bool add_space_prefix_ = true;
  std::array<int32_t, 256> byte_token_;  // <0xXX> (or the raw byte) token, -1 if none
};

}  // namespace llm

#endif  // LLM_COMMON_SPM_TOKENIZER_H_
