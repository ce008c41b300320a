// Tests for common/incremental_detokenizer.h with a fake tokenizer whose
// tokens are arbitrary byte strings, so characters split across tokens.
// Expected replacements follow Python's bytes.decode("utf-8", "replace")
// (Unicode "maximal subpart" substitution); the literals were checked there.
#include "common/incremental_detokenizer.h"

#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace llm {
namespace {

constexpr char kFffd[] = "\xEF\xBF\xBD";

// Token i stands for the bytes tokens[i]; nothing else is used.
class FakeTokenizer : public Tokenizer {
 public:
  explicit FakeTokenizer(std::vector<std::string> tokens) : tokens_(std::move(tokens)) {}
  std::vector<int32_t> Encode(std::string_view, bool, bool) const override { return {}; }
  std::string TokenBytes(int32_t id, bool) const override { return tokens_.at(id); }
  int vocab_size() const override { return static_cast<int>(tokens_.size()); }
  TokenType token_type(int32_t) const override { return TokenType::kNormal; }
  const std::string& token_text(int32_t id) const override { return tokens_.at(id); }
  int32_t bos_id() const override { return -1; }
  int32_t eos_id() const override { return -1; }
  bool IsEndOfGeneration(int32_t) const override { return false; }
  const std::vector<int32_t>& end_of_generation_ids() const override { return eog_; }
  const std::string& chat_template() const override { return template_; }

 private:
  std::vector<std::string> tokens_;
  std::vector<int32_t> eog_;
  std::string template_;
};

// Strict, independently written check: decodes each sequence to a code
// point and rejects overlongs, surrogates, > U+10FFFF and truncation.
bool IsValidUtf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto b0 = static_cast<uint8_t>(s[i]);
    int len;
    uint32_t cp;
    if (b0 < 0x80) { len = 1; cp = b0; }
    else if ((b0 & 0xE0) == 0xC0) { len = 2; cp = b0 & 0x1F; }
    else if ((b0 & 0xF0) == 0xE0) { len = 3; cp = b0 & 0x0F; }
    else if ((b0 & 0xF8) == 0xF0) { len = 4; cp = b0 & 0x07; }
    else return false;
    if (i + len > s.size()) return false;
    for (int k = 1; k < len; ++k) {
      const auto b = static_cast<uint8_t>(s[i + k]);
      if ((b & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

// Streams `ids` through a detokenizer; checks every piece is valid UTF-8.
std::string Stream(const Tokenizer& tok, const std::vector<int32_t>& ids) {
  IncrementalDetokenizer detok(tok);
  std::string out;
  for (int32_t id : ids) {
    const std::string piece = detok.Append(id);
    EXPECT_TRUE(IsValidUtf8(piece)) << "after id " << id;
    out += piece;
  }
  const std::string tail = detok.Flush();
  EXPECT_TRUE(IsValidUtf8(tail));
  return out + tail;
}

// One token per byte of `text`.
std::vector<std::string> ByteTokens(const std::string& text) {
  std::vector<std::string> t;
  for (char c : text) t.push_back(std::string(1, c));
  return t;
}

std::vector<int32_t> Iota(size_t n) {
  std::vector<int32_t> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = static_cast<int32_t>(i);
  return ids;
}

const std::string kMixed = "h\xC3\xA9llo \xE4\xB8\x96\xE7\x95\x8C \xF0\x9F\x98\x80!";  // héllo 世界 😀!

TEST(IncrementalDetokenizerTest, ByteSplitCharactersStreamToTheFullText) {
  const FakeTokenizer tok(ByteTokens(kMixed));
  EXPECT_EQ(Stream(tok, Iota(kMixed.size())), kMixed);
}

TEST(IncrementalDetokenizerTest, HoldsBackAPartialCharacterUntilItCompletes) {
  const FakeTokenizer tok({"a\xF0\x9F", "\x98", "\x80z", "\xE4", "\xB8\x96"});
  IncrementalDetokenizer detok(tok);
  EXPECT_EQ(detok.Append(0), "a");
  EXPECT_EQ(detok.Append(1), "");
  EXPECT_EQ(detok.Append(2), "\xF0\x9F\x98\x80z");
  EXPECT_EQ(detok.Append(3), "");
  EXPECT_EQ(detok.Append(4), "\xE4\xB8\x96");
  EXPECT_EQ(detok.Flush(), "");
}

TEST(IncrementalDetokenizerTest, RandomSplitsOfValidTextMatchFullDecode) {
  std::string text;
  for (int i = 0; i < 20; ++i) text += kMixed + "\xD0\x96\xE2\x82\xAC";  // Ж €
  std::mt19937 rng(5);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<std::string> tokens;
    for (size_t i = 0; i < text.size();) {
      const size_t len = std::min<size_t>(text.size() - i, 1 + rng() % 5);
      tokens.push_back(text.substr(i, len));
      i += len;
    }
    const FakeTokenizer tok(tokens);
    EXPECT_EQ(Stream(tok, Iota(tokens.size())), text) << trial;
  }
}

TEST(IncrementalDetokenizerTest, ImpossibleBytesBecomeReplacementImmediately) {
  const FakeTokenizer tok({"\xFF", "\x80", "\xC0", "\xE4", "a"});
  IncrementalDetokenizer detok(tok);
  EXPECT_EQ(detok.Append(0), kFffd);  // never a lead byte
  EXPECT_EQ(detok.Append(1), kFffd);  // stray continuation
  EXPECT_EQ(detok.Append(2), kFffd);  // overlong lead
  EXPECT_EQ(detok.Append(3), "");     // valid lead: wait
  EXPECT_EQ(detok.Append(4), std::string(kFffd) + "a");  // broken by ASCII
}

TEST(IncrementalDetokenizerTest, IllFormedSequencesMatchPythonReplace) {
  struct Case {
    std::string bytes, expected;
  };
  const std::string r = kFffd;
  const std::vector<Case> cases = {
      {"\xED\xA0\x80", r + r + r},           // surrogate
      {"\xC0\xAF", r + r},                   // overlong '/'
      {"\xF4\x90\x80\x80", r + r + r + r},   // above U+10FFFF
      {"\xF0\x9F\x98\xF0\x9F\x98\x80", r + "\xF0\x9F\x98\x80"},
      {"a\xE0\x80" "b", "a" + r + r + "b"},  // overlong 3-byte
  };
  for (const Case& c : cases) {
    // Whole, then byte by byte: the same text either way.
    EXPECT_EQ(Stream(FakeTokenizer({c.bytes}), {0}), c.expected);
    EXPECT_EQ(Stream(FakeTokenizer(ByteTokens(c.bytes)), Iota(c.bytes.size())), c.expected);
  }
}

TEST(IncrementalDetokenizerTest, FlushReplacesAnIncompleteTailAndResets) {
  const FakeTokenizer tok({"x\xE4\xB8", "y", "\xF0\x9F\x98"});
  IncrementalDetokenizer detok(tok);
  EXPECT_EQ(detok.Append(0), "x");
  EXPECT_EQ(detok.Flush(), kFffd);
  EXPECT_EQ(detok.Append(1), "y");  // nothing left over from before
  EXPECT_EQ(detok.Append(2), "");
  EXPECT_EQ(detok.Flush(), kFffd);
  EXPECT_EQ(detok.Flush(), "");
}

TEST(IncrementalDetokenizerTest, RandomBytesStreamLikeOneShotAndStayValid) {
  // Any byte soup: streaming in random pieces equals decoding it as one
  // token, and every emitted piece is valid UTF-8 (checked in Stream).
  std::mt19937 rng(11);
  const std::string alphabet =
      "a\x80\x8F\x9F\xA0\xBF\xC2\xC3\xDF\xE0\xE4\xED\xEF\xF0\xF4\xF5\xFF";
  for (int trial = 0; trial < 300; ++trial) {
    std::string bytes;
    const int n = 1 + static_cast<int>(rng() % 40);
    for (int i = 0; i < n; ++i) bytes += alphabet[rng() % alphabet.size()];
    std::vector<std::string> tokens;
    for (size_t i = 0; i < bytes.size();) {
      const size_t len = std::min<size_t>(bytes.size() - i, 1 + rng() % 4);
      tokens.push_back(bytes.substr(i, len));
      i += len;
    }
    const std::string whole = Stream(FakeTokenizer({bytes}), {0});
    EXPECT_EQ(Stream(FakeTokenizer(tokens), Iota(tokens.size())), whole) << trial;
  }
}

TEST(IncrementalDetokenizerTest, ControlTokensRenderAsNothing) {
  // TokenBytes(id) is asked with render_special = false; a fake honouring it:
  class SpecialTokenizer : public FakeTokenizer {
   public:
    SpecialTokenizer() : FakeTokenizer({"<|im_end|>", "ok"}) {}
    std::string TokenBytes(int32_t id, bool render_special) const override {
      return id == 0 && !render_special ? "" : FakeTokenizer::TokenBytes(id, render_special);
    }
  };
  const SpecialTokenizer tok;
  EXPECT_EQ(Stream(tok, {1, 0}), "ok");
}

}  // namespace
}  // namespace llm
