// File: common/pre_tokenizer.cc
//
// Every splitter works on code points and refines a list of fragment
// lengths: a fragment is never merged with its neighbours, only cut further
// (llama.cpp's bpe_offsets). The GPT-2 and llama3 scanners transcribe
// llama.cpp's unicode_regex_split_custom_gpt2/_llama3, including their
// quirks (e.g. "out of range" flags of 0 past the fragment end).

#include "common/pre_tokenizer.h"

#include <cstdint>
#include <functional>

#include "absl/strings/str_cat.h"
#include "common/unicode.h"

namespace llm {
namespace {

using Lengths = std::vector<size_t>;  // fragment lengths in code points
constexpr uint32_t kOutOfRange = 0xFFFFFFFF;

// View of one fragment [begin, end) of the code points: positions outside
// read as kOutOfRange with empty flags, as in llama.cpp.
class Fragment {
 public:
  Fragment(const std::vector<uint32_t>& cpts, const std::vector<CodepointFlags>& flags,
           size_t begin, size_t end)
      : cpts_(cpts), flags_(flags), begin_(begin), end_(end) {}
  uint32_t cpt(size_t pos) const { return pos >= begin_ && pos < end_ ? cpts_[pos] : kOutOfRange; }
  CodepointFlags flags(size_t pos) const {
    return pos >= begin_ && pos < end_ ? flags_[pos] : CodepointFlags{};
  }

 private:
  const std::vector<uint32_t>& cpts_;
  const std::vector<CodepointFlags>& flags_;
  size_t begin_, end_;
};

// Collects token lengths: Add(end) closes the token that started at the
// previous end (llama.cpp's _add_token); empty tokens are dropped.
class TokenSink {
 public:
  TokenSink(Lengths* out, size_t start) : out_(out), prev_end_(start) {}
  size_t Add(size_t end) {
    const size_t len = end - prev_end_;
    if (len > 0) out_->push_back(len);
    prev_end_ = end;
    return len;
  }

 private:
  Lengths* out_;
  size_t prev_end_;
};

bool IsContractionTail(uint32_t c) { return c == 's' || c == 't' || c == 'm' || c == 'd'; }
bool IsContractionPair(uint32_t a, uint32_t b) {
  return (a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l');
}
uint32_t AsciiLower(uint32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

Lengths SplitGpt2(const std::vector<uint32_t>& cpts, const std::vector<CodepointFlags>& flags,
                  const Lengths& in) {
  Lengths out;
  out.reserve(in.size());
  size_t start = 0;
  for (size_t len : in) {
    const size_t ini = start, end = start + len;
    start = end;
    const Fragment f(cpts, flags, ini, end);
    TokenSink sink(&out, ini);
    for (size_t pos = ini; pos < end;) {
      const uint32_t cpt = f.cpt(pos);
      const CodepointFlags fl = f.flags(pos);
      // 's|'t|'re|'ve|'m|'ll|'d (case-sensitive)
      if (cpt == '\'' && pos + 1 < end) {
        const uint32_t next = f.cpt(pos + 1);
        if (IsContractionTail(next)) {
          pos += sink.Add(pos + 2);
          continue;
        }
        if (pos + 2 < end && IsContractionPair(next, f.cpt(pos + 2))) {
          pos += sink.Add(pos + 3);
          continue;
        }
      }
      CodepointFlags fl2 = cpt == ' ' ? f.flags(pos + 1) : fl;
      if (fl2.is_letter()) {  // ' ?\p{L}+'
        pos += cpt == ' ';
        while (fl2.is_letter()) fl2 = f.flags(++pos);
        sink.Add(pos);
        continue;
      }
      if (fl2.is_number()) {  // ' ?\p{N}+'
        pos += cpt == ' ';
        while (fl2.is_number()) fl2 = f.flags(++pos);
        sink.Add(pos);
        continue;
      }
      const auto is_other = [](CodepointFlags c) {
        return !(c.is_whitespace() || c.is_letter() || c.is_number()) && c.any();
      };
      if (is_other(fl2)) {  // ' ?[^\s\p{L}\p{N}]+'
        pos += cpt == ' ';
        while (is_other(fl2)) fl2 = f.flags(++pos);
        sink.Add(pos);
        continue;
      }
      size_t num_ws = 0;
      while (f.flags(pos + num_ws).is_whitespace()) ++num_ws;
      if (num_ws > 1 && f.cpt(pos + num_ws) != kOutOfRange) {  // '\s+(?!\S)'
        pos += num_ws - 1;
        sink.Add(pos);
        continue;
      }
      if (num_ws > 0) {  // '\s+'
        pos += num_ws;
        sink.Add(pos);
        continue;
      }
      sink.Add(++pos);  // no match
    }
  }
  return out;
}

Lengths SplitLlama3(const std::vector<uint32_t>& cpts, const std::vector<CodepointFlags>& flags,
                    const Lengths& in) {
  Lengths out;
  out.reserve(in.size());
  size_t start = 0;
  for (size_t len : in) {
    const size_t ini = start, end = start + len;
    start = end;
    const Fragment f(cpts, flags, ini, end);
    TokenSink sink(&out, ini);
    for (size_t pos = ini; pos < end;) {
      const uint32_t cpt = f.cpt(pos);
      const CodepointFlags fl = f.flags(pos);
      // (?i:'s|'t|'re|'ve|'m|'ll|'d): no non-ASCII code point lowercases
      // to one of these letters, so ASCII folding is exact.
      if (cpt == '\'' && pos + 1 < end) {
        const uint32_t next = AsciiLower(f.cpt(pos + 1));
        if (IsContractionTail(next)) {
          pos += sink.Add(pos + 2);
          continue;
        }
        if (pos + 2 < end && IsContractionPair(next, AsciiLower(f.cpt(pos + 2)))) {
          pos += sink.Add(pos + 3);
          continue;
        }
      }
      // [^\r\n\p{L}\p{N}]?\p{L}+
      if (!(cpt == '\r' || cpt == '\n' || fl.is_number())) {
        if (fl.is_letter() || f.flags(pos + 1).is_letter()) {
          ++pos;
          while (f.flags(pos).is_letter()) ++pos;
          sink.Add(pos);
          continue;
        }
      }
      // \p{N}{1,3}
      if (fl.is_number()) {
        size_t ini_run = pos;
        while (f.flags(pos).is_number()) {
          if (++pos - ini_run >= 3) {
            sink.Add(pos);
            ini_run = pos;
          }
        }
        sink.Add(pos);
        continue;
      }
      // ' ?[^\s\p{L}\p{N}]+[\r\n]*' (llama.cpp tests `fl`, not `fl2`, for
      // "defined"; kept for parity)
      CodepointFlags fl2 = cpt == ' ' ? f.flags(pos + 1) : fl;
      const auto is_other = [](CodepointFlags c) {
        return !(c.is_whitespace() || c.is_letter() || c.is_number());
      };
      if (is_other(fl2) && fl.any()) {
        pos += cpt == ' ';
        while (is_other(fl2) && fl2.any()) fl2 = f.flags(++pos);
        uint32_t c2 = f.cpt(pos);
        while (c2 == '\r' || c2 == '\n') c2 = f.cpt(++pos);
        sink.Add(pos);
        continue;
      }
      size_t num_ws = 0;
      size_t last_end_rn = 0;
      while (f.flags(pos + num_ws).is_whitespace()) {
        const uint32_t c2 = f.cpt(pos + num_ws);
        if (c2 == '\r' || c2 == '\n') last_end_rn = pos + num_ws + 1;
        ++num_ws;
      }
      if (last_end_rn > 0) {  // \s*[\r\n]+
        pos = last_end_rn;
        sink.Add(pos);
        continue;
      }
      if (num_ws > 1 && f.cpt(pos + num_ws) != kOutOfRange) {  // \s+(?!\S)
        pos += num_ws - 1;
        sink.Add(pos);
        continue;
      }
      if (num_ws > 0) {  // \s+
        pos += num_ws;
        sink.Add(pos);
        continue;
      }
      sink.Add(++pos);
    }
  }
  return out;
}

// Leftmost-first, non-overlapping matches of a pattern, keeping the text
// between matches as fragments (llama.cpp's unicode_regex_split_stl).
// `match(pos, end)` returns the match length at pos (0: none).
Lengths SplitMatches(const Lengths& in,
                     const std::function<size_t(size_t pos, size_t end)>& match) {
  Lengths out;
  out.reserve(in.size());
  size_t start = 0;
  for (size_t len : in) {
    const size_t end = start + len;
    size_t prev = start;
    for (size_t pos = start; pos < end;) {
      const size_t m = match(pos, end);
      if (m == 0) {
        ++pos;
        continue;
      }
      if (pos > prev) out.push_back(pos - prev);
      out.push_back(m);
      pos += m;
      prev = pos;
    }
    if (end > prev) out.push_back(end - prev);
    start = end;
  }
  return out;
}

}  // namespace

absl::StatusOr<PreTokenizerKind> PreTokenizerKindFromName(std::string_view name) {
  if (name.empty() || name == "default") return PreTokenizerKind::kDefault;
  if (name == "gpt-2" || name == "gpt2") return PreTokenizerKind::kGpt2;
  if (name == "smollm" || name == "starcoder" || name == "refact" || name == "command-r") {
    return PreTokenizerKind::kSmollm;
  }
  if (name == "llama3" || name == "llama-v3" || name == "llama-bpe") {
    return PreTokenizerKind::kLlama3;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("tokenizer.ggml.pre: unsupported pre-tokenizer '", std::string(name), "'"));
}

std::vector<std::string> PreTokenize(PreTokenizerKind kind, std::string_view text) {
  const std::vector<uint32_t> cpts = Utf8ToCodepoints(text);
  if (cpts.empty()) return {};
  std::vector<CodepointFlags> flags(cpts.size());
  for (size_t i = 0; i < cpts.size(); ++i) flags[i] = GetCodepointFlags(cpts[i]);

  Lengths lengths = {cpts.size()};
  const auto is_ascii_digit = [&](size_t i) { return cpts[i] >= '0' && cpts[i] <= '9'; };
  switch (kind) {
    case PreTokenizerKind::kGpt2:
      lengths = SplitGpt2(cpts, flags, lengths);
      break;
    case PreTokenizerKind::kSmollm:
      lengths = SplitMatches(lengths, [&](size_t pos, size_t) -> size_t {
        return flags[pos].is_number() ? 1 : 0;
      });
      lengths = SplitGpt2(cpts, flags, lengths);
      break;
    case PreTokenizerKind::kLlama3:
      lengths = SplitLlama3(cpts, flags, lengths);
      break;
    case PreTokenizerKind::kDefault: {
      // [\p{P}\$\+<=>\^~\|]+ : llama.cpp's ASCII \p{P} set is every ASCII
      // punctuation except '`', plus the listed symbols.
      const auto is_punct = [&](size_t i) {
        const uint32_t c = cpts[i];
        if (c < 0x80) {
          return c != '`' && (flags[i].is_punctuation() || c == '$' || c == '+' || c == '<' ||
                              c == '=' || c == '>' || c == '^' || c == '~' || c == '|');
        }
        return flags[i].is_punctuation() && !flags[i].is_whitespace();
      };
      lengths = SplitMatches(lengths, [&](size_t pos, size_t end) -> size_t {
        size_t n = 0;
        while (pos + n < end && is_punct(pos + n)) ++n;
        return n;
      });
      lengths = SplitGpt2(cpts, flags, lengths);
      lengths = SplitMatches(lengths, [&](size_t pos, size_t end) -> size_t {
        size_t n = 0;
        while (pos + n < end && flags[pos + n].is_number()) ++n;
        return n;
      });
      lengths = SplitMatches(lengths, [&](size_t pos, size_t end) -> size_t {
        return pos + 3 <= end && is_ascii_digit(pos) && is_ascii_digit(pos + 1) &&
                       is_ascii_digit(pos + 2)
                   ? 3
                   : 0;
      });
      break;
    }
  }

  std::vector<std::string> pieces;
  pieces.reserve(lengths.size());
  size_t pos = 0;
  for (size_t len : lengths) {
    std::string piece;
    for (size_t i = pos; i < pos + len; ++i) AppendUtf8(cpts[i], &piece);
    pieces.push_back(std::move(piece));
    pos += len;
  }
  return pieces;
}

}  // namespace llm
