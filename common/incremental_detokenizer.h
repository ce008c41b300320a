// File: common/incremental_detokenizer.h
//
// IncrementalDetokenizer: turns a stream of token ids into a stream of text
// that is always valid UTF-8. A token may end in the middle of a character;
// its trailing bytes are held back (at most 3) until the character completes.
// Flush() ends the stream, replacing an incomplete tail by U+FFFD.
//
// Thread safety: thread-compatible (one per sequence).
#ifndef LLM_COMMON_INCREMENTAL_DETOKENIZER_H_
#define LLM_COMMON_INCREMENTAL_DETOKENIZER_H_

#include <cstdint>
#include <string>

#include "common/tokenizer.h"

namespace llm {

class IncrementalDetokenizer {
 public:
  // REQUIRES: tokenizer outlives this object.
  explicit IncrementalDetokenizer(const Tokenizer& tokenizer) : tokenizer_(tokenizer) {}

  // The newly completed text after appending `id` (may be empty).
  std::string Append(int32_t id);
  // Whatever is held back, invalid bytes as U+FFFD; resets the state.
  std::string Flush();

 private:
  const Tokenizer& tokenizer_;
  std::string pending_;  // bytes of an incomplete UTF-8 character
};

}  // namespace llm

#endif  // LLM_COMMON_INCREMENTAL_DETOKENIZER_H_
