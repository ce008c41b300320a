// File: common/vocab_metadata.cc

#include "common/vocab_metadata.h"

#include <algorithm>
#include <array>

#include "absl/strings/str_cat.h"

namespace llm {
namespace {

constexpr const char* kTokens = "tokenizer.ggml.tokens";
constexpr const char* kTypes = "tokenizer.ggml.token_type";
constexpr const char* kScores = "tokenizer.ggml.scores";

bool IsSpecialType(TokenType t) {
  return t == TokenType::kControl || t == TokenType::kUserDefined || t == TokenType::kUnknown;
}

// Reads an optional token id key into *id. Absent: *id unchanged.
absl::Status ReadId(const GgufFile& file, const char* key, int32_t vocab_size, int32_t* id) {
  if (!file.Has(key)) return absl::OkStatus();
  absl::StatusOr<int64_t> v = file.GetInt(key);
  if (!v.ok()) return absl::InvalidArgumentError(v.status().message());
  if (*v < 0 || *v >= vocab_size) {
    return absl::InvalidArgumentError(
        absl::StrCat(key, " = ", *v, " is outside the vocabulary of ", vocab_size, " tokens"));
  }
  *id = static_cast<int32_t>(*v);
  return absl::OkStatus();
}

// Lowest id whose text is one of `names` (llama.cpp takes the first hit in
// unordered_map order; any hit gives the same EOG set for real vocabularies).
int32_t FindFirst(const VocabMetadata& v, std::initializer_list<std::string_view> names) {
  int32_t best = -1;
  for (std::string_view n : names) {
    const int32_t id = v.Find(n);
    if (id >= 0 && (best < 0 || id < best)) best = id;
  }
  return best;
}

// llama.cpp's text-based EOT/FIM detection and EOG set (llama-vocab.cpp,
// "auto-detect special tokens by text"). Detected tokens that are not
// control-type are forced to control, which also makes them special.
void DetectEndOfGeneration(const GgufFile& file, VocabMetadata& v) {
  const int32_t n = static_cast<int32_t>(v.texts.size());
  const auto force_control = [&](int32_t id) {
    if (id >= 0 && v.types[id] != TokenType::kControl) v.types[id] = TokenType::kControl;
  };
  int32_t fim_pad = -1, fim_rep = -1, fim_sep = -1;
  // Explicit ids win over text detection; bad ones were rejected earlier.
  (void)ReadId(file, "tokenizer.ggml.eot_token_id", n, &v.eot);
  (void)ReadId(file, "tokenizer.ggml.eom_token_id", n, &v.eom);
  (void)ReadId(file, "tokenizer.ggml.fim_pad_token_id", n, &fim_pad);
  (void)ReadId(file, "tokenizer.ggml.fim_rep_token_id", n, &fim_rep);
  (void)ReadId(file, "tokenizer.ggml.fim_sep_token_id", n, &fim_sep);
  if (v.eot < 0) {
    v.eot = FindFirst(v, {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
                          "<|endoftext|>", "<|end_of_text|>", "<EOT>", "_<EOT>",
                          "<\xEF\xBD\x9C" "end\xE2\x96\x81" "of\xE2\x96\x81" "sentence\xEF\xBD\x9C>",
                          "<end_of_utterance>"});
    force_control(v.eot);
  }
  if (v.eom < 0) {
    v.eom = FindFirst(v, {"<|eom_id|>"});
    force_control(v.eom);
  }
  if (fim_pad < 0) {
    fim_pad = FindFirst(v, {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>"});
    force_control(fim_pad);
  }
  if (fim_rep < 0) {
    fim_rep = FindFirst(v, {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"});
    force_control(fim_rep);
  }
  if (fim_sep < 0) {
    fim_sep = FindFirst(v, {"<|file_sep|>"});
    force_control(fim_sep);
  }
  v.is_eog.assign(n, false);
  for (int32_t id : {fim_pad, fim_rep, fim_sep, v.eos, v.eot, v.eom}) {
    if (id >= 0) v.is_eog[id] = true;
  }
  for (std::string_view name : {"<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>",
                                "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>", "_<EOT>",
                                "<|end_of_text|>", "<end_of_utterance>"}) {
    const int32_t id = v.Find(name);
    if (id >= 0) {
      v.is_eog[id] = true;
      force_control(id);
    }
  }
  // gpt-oss: "<|end|>" is not EOG when "<|return|>" and "<|call|>" are.
  const int32_t end = v.Find("<|end|>");
  if (end >= 0 && v.is_eog[end] && v.Find("<|return|>") >= 0 && v.Find("<|call|>") >= 0) {
    v.is_eog[end] = false;
    v.types[end] = TokenType::kUserDefined;
  }
  for (std::string_view name : {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"}) {
    const int32_t id = v.Find(name);
    if (id >= 0) v.types[id] = TokenType::kUserDefined;
  }
  for (int32_t id = 0; id < n; ++id) {
    if (v.is_eog[id]) v.eog_ids.push_back(id);
  }
}

}  // namespace

absl::StatusOr<VocabMetadata> LoadVocabMetadata(const GgufFile& file,
                                                const VocabDefaults& defaults) {
  VocabMetadata v;
  absl::StatusOr<absl::Span<const std::string>> tokens = file.GetStringArray(kTokens);
  if (!tokens.ok()) return absl::InvalidArgumentError(tokens.status().message());
  if (tokens->empty()) return absl::InvalidArgumentError(absl::StrCat(kTokens, " is empty"));
  if (tokens->size() > static_cast<size_t>(INT32_MAX)) {
    return absl::InvalidArgumentError(absl::StrCat(kTokens, " is too long"));
  }
  const int32_t n = static_cast<int32_t>(tokens->size());

  absl::Span<const int64_t> types;
  if (file.Has(kTypes)) {
    absl::StatusOr<absl::Span<const int64_t>> t = file.GetIntArray(kTypes);
    if (!t.ok()) return absl::InvalidArgumentError(t.status().message());
    if (t->size() != tokens->size()) {
      return absl::InvalidArgumentError(absl::StrCat(kTypes, " has ", t->size(), " entries but ",
                                                     kTokens, " has ", n));
    }
    types = *t;
  }
  v.scores.assign(tokens->size(), 0.0f);
  if (file.Has(kScores)) {
    absl::StatusOr<absl::Span<const double>> s = file.GetFloatArray(kScores);
    if (!s.ok()) return absl::InvalidArgumentError(s.status().message());
    if (s->size() != tokens->size()) {
      return absl::InvalidArgumentError(absl::StrCat(kScores, " has ", s->size(), " entries but ",
                                                     kTokens, " has ", n));
    }
    for (size_t i = 0; i < s->size(); ++i) v.scores[i] = static_cast<float>((*s)[i]);
  }

  v.texts.reserve(n);
  v.types.reserve(n);
  v.text_to_id.reserve(n);
  for (int32_t i = 0; i < n; ++i) {
    std::string text = (*tokens)[i];
    if (text.empty()) text = absl::StrCat("[EMPTY_", i, "]");
    v.text_to_id[text] = i;  // later duplicates win, as llama.cpp's token_to_id[word] = i
    v.texts.push_back(std::move(text));
    const int64_t t = types.empty() ? 1 : types[i];
    v.types.push_back(t >= 0 && t <= 6 ? static_cast<TokenType>(t) : TokenType::kUndefined);
  }

  // llama.cpp's defaults may name ids beyond a tiny vocabulary; drop those.
  const auto in_range = [n](int32_t id) { return id >= 0 && id < n ? id : -1; };
  v.bos = in_range(defaults.bos);
  v.eos = in_range(defaults.eos);
  v.unk = in_range(defaults.unk);
  for (auto [key, id] : std::array<std::pair<const char*, int32_t*>, 3>{
           {{"tokenizer.ggml.bos_token_id", &v.bos},
            {"tokenizer.ggml.eos_token_id", &v.eos},
            {"tokenizer.ggml.unknown_token_id", &v.unk}}}) {
    if (absl::Status s = ReadId(file, key, n, id); !s.ok()) return s;
  }
  for (const char* key : {"tokenizer.ggml.seperator_token_id", "tokenizer.ggml.padding_token_id",
                          "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id",
                          "tokenizer.ggml.fim_pre_token_id", "tokenizer.ggml.fim_suf_token_id",
                          "tokenizer.ggml.fim_mid_token_id", "tokenizer.ggml.fim_pad_token_id",
                          "tokenizer.ggml.fim_rep_token_id", "tokenizer.ggml.fim_sep_token_id"}) {
    int32_t unused = -1;
    if (absl::Status s = ReadId(file, key, n, &unused); !s.ok()) return s;
  }
  absl::StatusOr<bool> add_bos = file.GetBoolOr("tokenizer.ggml.add_bos_token", defaults.add_bos);
  if (!add_bos.ok()) return absl::InvalidArgumentError(add_bos.status().message());
  absl::StatusOr<bool> add_eos = file.GetBoolOr("tokenizer.ggml.add_eos_token", defaults.add_eos);
  if (!add_eos.ok()) return absl::InvalidArgumentError(add_eos.status().message());
  v.add_bos = *add_bos;
  v.add_eos = *add_eos;
  if ((v.add_bos && v.bos < 0) || (v.add_eos && v.eos < 0)) {
    return absl::InvalidArgumentError("add_bos_token/add_eos_token set but the token id is missing");
  }
  if (file.Has("tokenizer.chat_template")) {
    absl::StatusOr<std::string> t = file.GetString("tokenizer.chat_template");
    if (!t.ok()) return absl::InvalidArgumentError(t.status().message());
    v.chat_template = *std::move(t);
  }

  DetectEndOfGeneration(file, v);

  for (int32_t id = 0; id < n; ++id) {
    if (IsSpecialType(v.types[id])) v.special_ids.push_back(id);
  }
  std::stable_sort(v.special_ids.begin(), v.special_ids.end(), [&](int32_t a, int32_t b) {
    return v.texts[a].size() > v.texts[b].size();
  });
  return v;
}

std::vector<TextFragment> VocabMetadata::SplitSpecial(std::string_view text,
                                                      bool parse_special) const {
  std::vector<TextFragment> frags;
  if (!text.empty()) frags.push_back({-1, text});
  std::vector<TextFragment> next;
  for (int32_t id : special_ids) {
    const TokenType t = types[id];
    if (!parse_special && (t == TokenType::kControl || t == TokenType::kUnknown)) continue;
    const std::string& tok = texts[id];
    next.clear();
    bool changed = false;
    for (const TextFragment& f : frags) {
      if (f.token >= 0) {
        next.push_back(f);
        continue;
      }
      std::string_view rest = f.text;
      for (size_t pos; (pos = rest.find(tok)) != std::string_view::npos;) {
        if (pos > 0) next.push_back({-1, rest.substr(0, pos)});
        next.push_back({id, {}});
        rest.remove_prefix(pos + tok.size());
        changed = true;
      }
      if (!rest.empty()) next.push_back({-1, rest});
    }
    if (changed) frags.swap(next);
  }
  return frags;
}

}  // namespace llm
