// File: common/bpe_tokenizer.h
//
// BpeTokenizer: GPT-2 byte-level BPE (`tokenizer.ggml.model` = "gpt2") as
// llama.cpp runs it (llm_tokenizer_bpe_session): special tokens are split
// out first, each raw fragment is pre-tokenized (common/pre_tokenizer.h),
// each piece is byte-encoded into the GPT-2 alphabet and merged by rank with
// a priority queue over a linked symbol list (ties: leftmost pair). A final
// symbol missing from the vocabulary falls back to the tokens of its single
// bytes, skipping bytes that have none (as llama.cpp does).
//
// Invariants: every merge rank and vocabulary lookup table is built once in
// Create(); Encode allocates only per call.
//
// Thread safety: immutable after Create(); all methods are const and safe
// from any thread (the piece cache is internally locked).
#ifndef LLM_COMMON_BPE_TOKENIZER_H_
#define LLM_COMMON_BPE_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/gguf.h"
#include "common/pre_tokenizer.h"
#include "common/vocab_metadata.h"
#include "common/vocab_tokenizer.h"

namespace llm {

class BpeTokenizer final : public VocabTokenizer {
 public:
  // REQUIRES: tokenizer.ggml.model is "gpt2". InvalidArgument when merges are
  // missing or the pre-tokenizer is unsupported.
  static absl::StatusOr<std::unique_ptr<BpeTokenizer>> Create(const GgufFile& file);

  std::vector<int32_t> Encode(std::string_view text, bool add_special,
                              bool parse_special) const override;

  PreTokenizerKind pre_tokenizer() const { return pre_; }

 private:
  BpeTokenizer() = default;
  // Appends the ids of one pre-token piece (UTF-8, not yet byte-encoded).
  void EncodePiece(std::string_view piece, std::vector<int32_t>* out) const;
  void MergeEncoded(const std::string& word, std::vector<int32_t>* out) const;
  int32_t MergeRank(std::string_view left, std::string_view right, std::string* scratch) const;

  PreTokenizerKind pre_ = PreTokenizerKind::kDefault;
  bool ignore_merges_ = false;  // llama3: a piece that is a whole token is kept
  // "left right" -> rank (index in tokenizer.ggml.merges; first one wins).
  absl::flat_hash_map<std::string, int32_t> merge_rank_;

  // Pre-token piece -> ids. Bounded: cleared when it reaches kMaxCacheEntries.
  static constexpr size_t kMaxCacheEntries = 1 << 16;
  mutable absl::Mutex cache_mu_;
  mutable absl::flat_hash_map<std::string, std::vector<int32_t>> cache_
      ABSL_GUARDED_BY(cache_mu_);
};

}  // namespace llm

#endif  // LLM_COMMON_BPE_TOKENIZER_H_
