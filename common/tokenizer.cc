// File: common/tokenizer.cc
//
// Tokenizer::FromGguf picks the implementation named by
// tokenizer.ggml.model; Decode is shared by all of them.

#include "common/tokenizer.h"

#include "absl/strings/str_cat.h"
#include "common/bpe_tokenizer.h"

namespace llm {

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromGguf(const GgufFile& file) {
  absl::StatusOr<std::string> model = file.GetString("tokenizer.ggml.model");
  if (!model.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tokenizer.ggml.model: ", model.status().message()));
  }
  if (*model == "gpt2") {
    absl::StatusOr<std::unique_ptr<BpeTokenizer>> bpe = BpeTokenizer::Create(file);
    if (!bpe.ok()) return bpe.status();
    return std::unique_ptr<Tokenizer>(*std::move(bpe));
  }
  // "llama" (SentencePiece-style BPE), "bert", "t5", "rwkv", ... are not
  // implemented yet.
  return absl::InvalidArgumentError(
      absl::StrCat("tokenizer.ggml.model '", *model, "' is not supported (only 'gpt2')"));
}

std::string Tokenizer::Decode(absl::Span<const int32_t> ids, bool render_special) const {
  std::string out;
  for (int32_t id : ids) out += TokenBytes(id, render_special);
  return out;
}

}  // namespace llm
