// File: common/tokenizer.h
//
// Tokenizer: the vocabulary of a GGUF file (`tokenizer.ggml.*`) and the
// encoder it names: GPT-2 byte-level BPE ("gpt2") with the file's
// pre-tokenizer ("smollm", "llama-bpe", "gpt2", ...), and SentencePiece-style
// BPE ("llama") where supported. Ids equal llama.cpp's for the same file
// (tests/fixtures/tokenizer_golden.jsonl).
//
// Thread safety: immutable after construction; Encode/Decode are const and
// safe from any thread.
#ifndef LLM_COMMON_TOKENIZER_H_
#define LLM_COMMON_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/gguf.h"

namespace llm {

enum class TokenType : int32_t {
  kUndefined = 0, kNormal = 1, kUnknown = 2, kControl = 3,
  kUserDefined = 4, kUnused = 5, kByte = 6,
};

class Tokenizer {
 public:
  // InvalidArgument when the metadata is missing, inconsistent (array
  // lengths differ, special ids >= vocab) or names an unsupported model.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromGguf(const GgufFile& file);
  virtual ~Tokenizer() = default;

  // Text -> ids. parse_special: match control/user-defined token texts
  // (e.g. "<|im_start|>") as single ids; false treats them as plain text.
  // add_special: prepend BOS / append EOS exactly as llama.cpp does for
  // this file (tokenizer.ggml.add_bos_token / add_eos_token; none for SmolLM2).
  virtual std::vector<int32_t> Encode(std::string_view text, bool add_special,
                                      bool parse_special) const = 0;

  // The bytes a token stands for (byte-level decoded); control tokens
  // render as "" unless render_special. May be a partial UTF-8 sequence.
  virtual std::string TokenBytes(int32_t id, bool render_special = false) const = 0;
  // Concatenated TokenBytes; may contain invalid UTF-8 (see
  // IncrementalDetokenizer for streaming).
  std::string Decode(absl::Span<const int32_t> ids, bool render_special = false) const;

  virtual int vocab_size() const = 0;
  virtual TokenType token_type(int32_t id) const = 0;
  virtual const std::string& token_text(int32_t id) const = 0;  // raw vocab string
  virtual int32_t bos_id() const = 0;   // -1 when none
  virtual int32_t eos_id() const = 0;
  // End-of-generation ids (eos, eot, <|im_end|>, <|endoftext|> ...), as
  // llama.cpp's llama_vocab_is_eog decides for this file.
  virtual bool IsEndOfGeneration(int32_t id) const = 0;
  virtual const std::vector<int32_t>& end_of_generation_ids() const = 0;
  // tokenizer.chat_template, "" when absent.
  virtual const std::string& chat_template() const = 0;
};

}  // namespace llm

#endif  // LLM_COMMON_TOKENIZER_H_
