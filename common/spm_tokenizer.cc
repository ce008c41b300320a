// File: common/spm_tokenizer.cc

#include "common/spm_tokenizer.h"

#include <cstdlib>
#include <queue>

#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"

namespace llm {
namespace {

constexpr char kSpace[] = "\xE2\x96\x81";  // U+2581 "▁"

int Utf8Length(uint8_t lead) {
  static constexpr int kLengths[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLengths[lead >> 4];
}

struct Symbol {
  int prev;
  int next;
  size_t offset;
  size_t n;
};

struct Bigram {
  int left;
  int right;
  float score;
  size_t size;
};

// Pops the highest score first; ties go to the leftmost pair.
struct BigramBefore {
  bool operator()(const Bigram& l, const Bigram& r) const {
    return l.score < r.score || (l.score == r.score && l.left > r.left);
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<SpmTokenizer>> SpmTokenizer::Create(const GgufFile& file) {
  std::unique_ptr<SpmTokenizer> tok(new SpmTokenizer);
  // llama.cpp's "llama" defaults: unk 0, bos 1, eos 2, BOS added.
  VocabDefaults defaults;
  defaults.unk = 0;
  defaults.bos = 1;
  defaults.eos = 2;
  defaults.add_bos = true;
  absl::StatusOr<VocabMetadata> vocab = LoadVocabMetadata(file, defaults);
  if (!vocab.ok()) return vocab.status();
  tok->vocab_ = *std::move(vocab);
  absl::StatusOr<bool> prefix = file.GetBoolOr("tokenizer.ggml.add_space_prefix", true);
  if (!prefix.ok()) return absl::InvalidArgumentError(prefix.status().message());
  tok->add_space_prefix_ = *prefix;

  for (int b = 0; b < 256; ++b) {
    int32_t id = tok->vocab_.Find(absl::StrFormat("<0x%02X>", b));
    if (id < 0) id = tok->vocab_.Find(std::string(1, static_cast<char>(b)));
    tok->byte_token_[b] = id;
  }
  tok->pieces_.reserve(tok->vocab_.texts.size());
  for (size_t id = 0; id < tok->vocab_.texts.size(); ++id) {
    const TokenType t = tok->vocab_.types[id];
    const std::string& text = tok->vocab_.texts[id];
    if (t == TokenType::kControl || t == TokenType::kUnknown || t == TokenType::kUserDefined) {
      tok->pieces_.push_back(text);
    } else if (t == TokenType::kNormal) {
      tok->pieces_.push_back(absl::StrReplaceAll(text, {{kSpace, " "}}));
    } else if (t == TokenType::kByte) {
      // llama.cpp's token_to_byte: the hex digits of "<0xXX>".
      const long b = text.size() >= 5 ? std::strtol(text.substr(3, 2).c_str(), nullptr, 16) : 0;
      tok->pieces_.push_back(std::string(1, static_cast<char>(b)));
    } else {
      tok->pieces_.emplace_back();
    }
  }
  return tok;
}

std::vector<int32_t> SpmTokenizer::Encode(std::string_view text, bool add_special,
                                          bool parse_special) const {
  std::vector<int32_t> out;
  bool prev_special = true;  // the first fragment gets the space prefix too
  if (add_special && vocab_.add_bos) out.push_back(vocab_.bos);
  for (const TextFragment& frag : vocab_.SplitSpecial(text, parse_special)) {
    if (frag.token >= 0) {
      out.push_back(frag.token);
      prev_special = true;
      continue;
    }
    std::string raw;
    if (add_space_prefix_ && prev_special) raw = " ";
    raw.append(frag.text.data(), frag.text.size());
    EncodeFragment(absl::StrReplaceAll(raw, {{" ", kSpace}}), &out);
    prev_special = false;
  }
  if (add_special && vocab_.add_eos) out.push_back(vocab_.eos);
  return out;
}

void SpmTokenizer::EncodeFragment(const std::string& text, std::vector<int32_t>* out) const {
  if (text.empty()) return;
  std::vector<Symbol> syms;
  for (size_t off = 0; off < text.size();) {
    const size_t n = std::min(text.size() - off,
                              static_cast<size_t>(Utf8Length(static_cast<uint8_t>(text[off]))));
    const int idx = static_cast<int>(syms.size());
    syms.push_back({idx - 1, off + n == text.size() ? -1 : idx + 1, off, n});
    off += n;
  }
  std::priority_queue<Bigram, std::vector<Bigram>, BigramBefore> queue;
  const auto add_bigram = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    std::string merged = text.substr(syms[left].offset, syms[left].n + syms[right].n);
    const int32_t id = vocab_.Find(merged);
    if (id < 0) return;
    queue.push({left, right, vocab_.scores[id], merged.size()});
  };
  for (int i = 1; i < static_cast<int>(syms.size()); ++i) add_bigram(i - 1, i);
  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& l = syms[b.left];
    Symbol& r = syms[b.right];
    if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;
    l.n += r.n;
    r.n = 0;
    l.next = r.next;
    if (r.next >= 0) syms[r.next].prev = b.left;
    add_bigram(l.prev, b.left);
    add_bigram(b.left, l.next);
  }
  // Every merge forms a token, so a symbol that is not a token is one
  // unmerged character: llama.cpp's resegment() then emits its bytes (its
  // rev_merge branch cannot be reached).
  for (int i = 0; i != -1; i = syms[i].next) {
    const std::string_view piece = std::string_view(text).substr(syms[i].offset, syms[i].n);
    const int32_t id = vocab_.Find(piece);
    if (id >= 0) {
      out->push_back(id);
      continue;
    }
    for (char c : piece) {
      // llama.cpp aborts when a byte has no token; we emit unk instead (or
      // nothing when there is no unk).
      const int32_t bt = byte_token_[static_cast<uint8_t>(c)];
      if (bt >= 0) {
        out->push_back(bt);
      } else if (vocab_.unk >= 0) {
        out->push_back(vocab_.unk);
      }
    }
  }
}

}  // namespace llm
