// File: common/vocab_tokenizer.h
//
// VocabTokenizer: the part of a Tokenizer that is only the vocabulary
// (common/vocab_metadata.h) and each token's decoded bytes: lookups, special
// and end-of-generation ids, chat template, TokenBytes. The encoders
// (BpeTokenizer, SpmTokenizer) derive from it and add Encode.
//
// Thread safety: immutable after the subclass's Create(); const methods are
// safe from any thread.
#ifndef LLM_COMMON_VOCAB_TOKENIZER_H_
#define LLM_COMMON_VOCAB_TOKENIZER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "common/tokenizer.h"
#include "common/vocab_metadata.h"

namespace llm {

class VocabTokenizer : public Tokenizer {
 public:
  std::string TokenBytes(int32_t id, bool render_special = false) const override {
    if (id < 0 || id >= vocab_size()) return "";
    const TokenType t = vocab_.types[id];
    if (!render_special && (t == TokenType::kControl || t == TokenType::kUnknown)) return "";
    return pieces_[id];
  }
  int vocab_size() const override { return static_cast<int>(vocab_.texts.size()); }
  TokenType token_type(int32_t id) const override {
    return id >= 0 && id < vocab_size() ? vocab_.types[id] : TokenType::kUndefined;
  }
  const std::string& token_text(int32_t id) const override {
    static const std::string* const kEmpty = new std::string;
    return id >= 0 && id < vocab_size() ? vocab_.texts[id] : *kEmpty;
  }
  int32_t bos_id() const override { return vocab_.bos; }
  int32_t eos_id() const override { return vocab_.eos; }
  bool IsEndOfGeneration(int32_t id) const override {
    return id >= 0 && id < vocab_size() && vocab_.is_eog[id];
  }
  const std::vector<int32_t>& end_of_generation_ids() const override { return vocab_.eog_ids; }
  const std::string& chat_template() const override { return vocab_.chat_template; }

 protected:
  VocabMetadata vocab_;
  std::vector<std::string> pieces_;  // TokenBytes(id, true) for every id
};

}  // namespace llm

#endif  // LLM_COMMON_VOCAB_TOKENIZER_H_
