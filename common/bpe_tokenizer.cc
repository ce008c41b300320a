// File: common/bpe_tokenizer.cc

#include "common/bpe_tokenizer.h"

#include <queue>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/unicode.h"

namespace llm {
namespace {

int Utf8Length(uint8_t lead) {
  static constexpr int kLengths[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLengths[lead >> 4];
}

// One symbol of a word being merged: bytes [offset, offset + n) of the
// encoded word, linked to its live neighbours. n == 0 once merged away.
struct Symbol {
  int prev;
  int next;
  size_t offset;
  size_t n;
};

struct Bigram {
  int left;
  int right;
  int32_t rank;
  size_t size;  // bytes of left + right when queued (stale check)
};

// Pops the lowest rank first; ties go to the leftmost pair.
struct BigramAfter {
  bool operator()(const Bigram& l, const Bigram& r) const {
    return l.rank > r.rank || (l.rank == r.rank && l.left > r.left);
  }
};

// llama.cpp's llama_decode_text: GPT-2 alphabet back to bytes; code points
// outside the alphabet keep llama.cpp's "[UNK_BYTE_0x..]" rendering.
std::string DecodeGpt2Text(const std::string& text) {
  std::string out;
  for (uint32_t cpt : Utf8ToCodepoints(text)) {
    const int b = UnicodeToByte(cpt);
    if (b >= 0) {
      out.push_back(static_cast<char>(b));
      continue;
    }
    std::string utf8;
    AppendUtf8(cpt, &utf8);
    absl::StrAppend(&out, "[UNK_BYTE_0x");
    for (char c : utf8) absl::StrAppendFormat(&out, "%02x", static_cast<uint8_t>(c));
    absl::StrAppend(&out, text, "]");
  }
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<BpeTokenizer>> BpeTokenizer::Create(const GgufFile& file) {
  std::unique_ptr<BpeTokenizer> tok(new BpeTokenizer);
  std::string pre_name;
  if (file.Has("tokenizer.ggml.pre")) {
    absl::StatusOr<std::string> p = file.GetString("tokenizer.ggml.pre");
    if (!p.ok()) return absl::InvalidArgumentError(p.status().message());
    pre_name = *std::move(p);
  }
  absl::StatusOr<PreTokenizerKind> pre = PreTokenizerKindFromName(pre_name);
  if (!pre.ok()) return pre.status();
  tok->pre_ = *pre;
  // llama.cpp's "gpt2" defaults: bos = eos = 11; llama3 adds BOS and keeps
  // pieces that are whole tokens unmerged.
  VocabDefaults defaults;
  defaults.bos = 11;
  defaults.eos = 11;
  if (tok->pre_ == PreTokenizerKind::kLlama3) {
    tok->ignore_merges_ = true;
    defaults.add_bos = true;
  }
  absl::StatusOr<VocabMetadata> vocab = LoadVocabMetadata(file, defaults);
  if (!vocab.ok()) return vocab.status();
  tok->vocab_ = *std::move(vocab);

  absl::StatusOr<absl::Span<const std::string>> merges =
      file.GetStringArray("tokenizer.ggml.merges");
  if (!merges.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("gpt2 tokenizer needs tokenizer.ggml.merges: ", merges.status().message()));
  }
  tok->merge_rank_.reserve(merges->size());
  for (size_t i = 0; i < merges->size(); ++i) {
    const std::string& m = (*merges)[i];
    // llama.cpp splits at the first space at index >= 1; a merge without one
    // becomes ("", "") and can never match, so it is dropped.
    const size_t sp = m.find(' ', 1);
    if (sp == std::string::npos) continue;
    tok->merge_rank_.emplace(m, static_cast<int32_t>(i));
  }

  // Byte-decoded pieces, as llama.cpp's token_to_piece cache (special=true).
  tok->pieces_.reserve(tok->vocab_.texts.size());
  for (size_t id = 0; id < tok->vocab_.texts.size(); ++id) {
    const TokenType t = tok->vocab_.types[id];
    const std::string& text = tok->vocab_.texts[id];
    if (t == TokenType::kControl || t == TokenType::kUnknown || t == TokenType::kUserDefined) {
      tok->pieces_.push_back(text);
    } else if (t == TokenType::kNormal) {
      tok->pieces_.push_back(DecodeGpt2Text(text));
    } else {
      tok->pieces_.emplace_back();  // unused/byte/undefined render nothing for BPE
    }
  }
  return tok;
}

std::vector<int32_t> BpeTokenizer::Encode(std::string_view text, bool add_special,
                                          bool parse_special) const {
  std::vector<int32_t> out;
  if (add_special && vocab_.add_bos) out.push_back(vocab_.bos);
  for (const TextFragment& frag : vocab_.SplitSpecial(text, parse_special)) {
    if (frag.token >= 0) {
      out.push_back(frag.token);
      continue;
    }
    for (const std::string& piece : PreTokenize(pre_, frag.text)) EncodePiece(piece, &out);
  }
  if (add_special && vocab_.add_eos) out.push_back(vocab_.eos);
  return out;
}

void BpeTokenizer::EncodePiece(std::string_view piece, std::vector<int32_t>* out) const {
  {
    absl::MutexLock lock(&cache_mu_);
    auto it = cache_.find(absl::string_view(piece.data(), piece.size()));
    if (it != cache_.end()) {
      out->insert(out->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::string word;
  word.reserve(piece.size() * 2);
  for (char c : piece) word += ByteToUnicode(static_cast<uint8_t>(c));
  std::vector<int32_t> ids;
  MergeEncoded(word, &ids);
  out->insert(out->end(), ids.begin(), ids.end());
  absl::MutexLock lock(&cache_mu_);
  if (cache_.size() >= kMaxCacheEntries) cache_.clear();
  cache_.emplace(std::string(piece), std::move(ids));
}

int32_t BpeTokenizer::MergeRank(std::string_view left, std::string_view right,
                                std::string* scratch) const {
  scratch->assign(left);
  scratch->push_back(' ');
  scratch->append(right);
  auto it = merge_rank_.find(*scratch);
  return it == merge_rank_.end() ? -1 : it->second;
}

void BpeTokenizer::MergeEncoded(const std::string& word, std::vector<int32_t>* out) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    const int32_t id = vocab_.Find(word);
    if (id >= 0) {
      out->push_back(id);
      return;
    }
  }
  std::vector<Symbol> syms;
  for (size_t off = 0; off < word.size();) {
    const size_t n = std::min(word.size() - off,
                              static_cast<size_t>(Utf8Length(static_cast<uint8_t>(word[off]))));
    const int idx = static_cast<int>(syms.size());
    syms.push_back({idx - 1, off + n == word.size() ? -1 : idx + 1, off, n});
    off += n;
  }
  std::string scratch;
  const auto text = [&](const Symbol& s) { return std::string_view(word).substr(s.offset, s.n); };
  std::priority_queue<Bigram, std::vector<Bigram>, BigramAfter> queue;
  const auto add_bigram = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const int32_t rank = MergeRank(text(syms[left]), text(syms[right]), &scratch);
    if (rank < 0) return;
    queue.push({left, right, rank, syms[left].n + syms[right].n});
  };
  for (int i = 1; i < static_cast<int>(syms.size()); ++i) add_bigram(i - 1, i);

  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& l = syms[b.left];
    Symbol& r = syms[b.right];
    // Stale: one side was merged away or grew since the pair was queued.
    if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;
    l.n += r.n;
    r.n = 0;
    l.next = r.next;
    if (r.next >= 0) syms[r.next].prev = b.left;
    add_bigram(l.prev, b.left);
    add_bigram(b.left, l.next);
  }

  for (int i = 0; i != -1; i = syms[i].next) {
    const std::string_view s = text(syms[i]);
    const int32_t id = vocab_.Find(s);
    if (id >= 0) {
      out->push_back(id);
      continue;
    }
    for (char c : s) {
      const int32_t byte_id = vocab_.Find(std::string_view(&c, 1));
      if (byte_id >= 0) out->push_back(byte_id);
    }
  }
}

}  // namespace llm
