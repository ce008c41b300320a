// File: common/tokenizer.cc
//
// Tokenizer::FromGguf picks the implementation named by
// tokenizer.ggml.model; Decode is shared by all of them.

#include "common/tokenizer.h"

#include "absl/strings/str_cat.h"
#include "common/bpe_tokenizer.h"
#include "common/spm_tokenizer.h"

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
  if (*model == "llama") {
    absl::StatusOr<std::unique_ptr<SpmTokenizer>> spm = SpmTokenizer::Create(file);
    if (!spm.ok()) return spm.status();
    return std::unique_ptr<Tokenizer>(*std::move(spm));
  }
  // "bert" (WPM), "t5" (UGM), "rwkv", "plamo2" are not implemented.
  return absl::InvalidArgumentError(absl::StrCat(
      "tokenizer.ggml.model '", *model, "' is not supported (only 'gpt2' and 'llama')"));
}

std::string Tokenizer::Decode(absl::Span<const int32_t> ids, bool render_special) const {
  std::string out;
  for (int32_t id : ids) out += TokenBytes(id, render_special);
  return out;
}

}  // namespace llm
