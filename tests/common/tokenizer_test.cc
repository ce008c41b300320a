// Tokenizer tests: ids identical to llama.cpp's on the golden corpus
// (tests/fixtures/tokenizer_golden*.jsonl, made by
// scripts/golden/make_tokenizer_goldens.py), decode bytes, special tokens,
// end-of-generation ids, and refusal of bad metadata.
#include "common/tokenizer.h"

#include <atomic>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "common/bpe_tokenizer.h"
#include "common/gguf.h"
#include "common/gguf_writer.h"
#include "common/unicode.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace llm {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::Not;

constexpr char kModel[] = LLM_SOURCE_DIR "/models/SmolLM2-135M-Instruct.Q4_1.gguf";
constexpr char kFixtures[] = LLM_SOURCE_DIR "/tests/fixtures/";

std::vector<nlohmann::json> ReadJsonLines(const std::string& name) {
  std::vector<nlohmann::json> out;
  std::ifstream in(std::string(kFixtures) + name);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  }
  return out;
}

std::string B64(const nlohmann::json& j) {
  std::string out;
  EXPECT_TRUE(absl::Base64Unescape(j.get<std::string>(), &out));
  return out;
}

std::string Printable(const std::string& s) { return absl::CHexEscape(s.substr(0, 80)); }

class SmolTokenizerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<GgufFile>> f = GgufFile::Open(kModel);
    if (!f.ok()) return;
    file_ = f->release();
    absl::StatusOr<std::unique_ptr<Tokenizer>> t = Tokenizer::FromGguf(*file_);
    ASSERT_TRUE(t.ok()) << t.status();
    tok_ = t->release();
    for (int id = 0; id < tok_->vocab_size(); ++id) {
      const std::string b = tok_->TokenBytes(id);
      if (b.size() == 1) has_byte_token_[static_cast<uint8_t>(b[0])] = true;
    }
  }
  // SmolLM2 has no token for some bytes (e.g. 0x06, 0x16, 0xF1, 0xF2):
  // llama.cpp drops them when encoding, so only texts made of bytes that
  // have a single-byte token survive a round trip.
  static bool Representable(const std::string& s) {
    for (char c : s) {
      if (!has_byte_token_[static_cast<uint8_t>(c)]) return false;
    }
    return true;
  }
  void SetUp() override {
    if (file_ == nullptr) GTEST_SKIP() << "model not found: " << kModel;
  }
  static const GgufFile* file_;
  static const Tokenizer* tok_;
  static bool has_byte_token_[256];
};
bool SmolTokenizerTest::has_byte_token_[256] = {};
const GgufFile* SmolTokenizerTest::file_ = nullptr;
const Tokenizer* SmolTokenizerTest::tok_ = nullptr;

TEST_F(SmolTokenizerTest, GoldenIdsEqualLlamaCpp) {
  const std::vector<nlohmann::json> golden = ReadJsonLines("tokenizer_golden.jsonl");
  ASSERT_GE(golden.size(), 300u);
  int mismatches = 0, special_false = 0;
  for (const nlohmann::json& g : golden) {
    const std::string text = B64(g["b64"]);
    const bool special = g["special"].get<bool>();
    special_false += !special;
    const std::vector<int32_t> want = g["ids"].get<std::vector<int32_t>>();
    const std::vector<int32_t> got = tok_->Encode(text, /*add_special=*/false, special);
    if (got != want && ++mismatches <= 10) {
      ADD_FAILURE() << "text \"" << Printable(text) << "\" special=" << special << "\n  want "
                    << testing::PrintToString(want) << "\n  got  " << testing::PrintToString(got);
    }
  }
  EXPECT_EQ(mismatches, 0);
  EXPECT_GE(special_false, 100);
  std::cout << "[golden] " << golden.size() - mismatches << "/" << golden.size()
            << " encodings identical to llama.cpp (" << special_false
            << " with parse_special=false)\n";
}

// The same vocabulary under other pre-tokenizer names (llama.cpp's own
// behaviour for them, recorded on vocab-only copies of the model).
TEST_F(SmolTokenizerTest, OtherPreTokenizersEqualLlamaCpp) {
  std::map<std::string, std::vector<nlohmann::json>> by_pre;
  for (nlohmann::json& g : ReadJsonLines("tokenizer_golden_pre.jsonl")) {
    by_pre[g["pre"].get<std::string>()].push_back(std::move(g));
  }
  ASSERT_EQ(by_pre.size(), 3u);
  for (const auto& [pre, golden] : by_pre) {
    GgufWriter w;
    for (const auto& [key, value] : file_->metadata()) w.AddValue(key, value);
    w.AddString("tokenizer.ggml.pre", pre);
    absl::StatusOr<std::unique_ptr<GgufFile>> f = GgufFile::FromBytes(w.Serialize());
    ASSERT_TRUE(f.ok()) << f.status();
    absl::StatusOr<std::unique_ptr<Tokenizer>> t = Tokenizer::FromGguf(**f);
    ASSERT_TRUE(t.ok()) << t.status();
    int mismatches = 0;
    for (const nlohmann::json& g : golden) {
      const std::string text = B64(g["b64"]);
      const std::vector<int32_t> want = g["ids"].get<std::vector<int32_t>>();
      const std::vector<int32_t> got = (*t)->Encode(text, false, g["special"].get<bool>());
      if (got != want && ++mismatches <= 5) {
        ADD_FAILURE() << "pre=" << pre << " text \"" << Printable(text) << "\"\n  want "
                      << testing::PrintToString(want) << "\n  got  "
                      << testing::PrintToString(got);
      }
    }
    EXPECT_EQ(mismatches, 0) << "pre=" << pre;
    std::cout << "[golden] pre=" << pre << ": " << golden.size() - mismatches << "/"
              << golden.size() << " identical\n";
  }
}

TEST_F(SmolTokenizerTest, TokenBytesEqualLlamaCppPieces) {
  const std::vector<nlohmann::json> golden = ReadJsonLines("tokenizer_decode_golden.jsonl");
  ASSERT_GE(golden.size(), 1000u);
  for (const nlohmann::json& g : golden) {
    const int32_t id = g["id"].get<int32_t>();
    EXPECT_EQ(tok_->TokenBytes(id, false), B64(g["b64"])) << "id " << id;
    EXPECT_EQ(tok_->TokenBytes(id, true), B64(g["b64_special"])) << "id " << id;
  }
}

TEST_F(SmolTokenizerTest, DecodeInvertsEncodeForValidUtf8) {
  int checked = 0;
  for (const nlohmann::json& g : ReadJsonLines("tokenizer_golden.jsonl")) {
    if (!g.contains("text") || !g["special"].get<bool>()) continue;
    const std::string text = g["text"].get<std::string>();
    if (!Representable(text)) continue;
    // Specials parsed off: every byte of the text is ordinary text.
    EXPECT_EQ(tok_->Decode(tok_->Encode(text, false, false)), text) << Printable(text);
    ++checked;
  }
  EXPECT_GE(checked, 300);
}

TEST_F(SmolTokenizerTest, SpecialTokensMatchOnlyWhenParsed) {
  EXPECT_THAT(tok_->Encode("<|im_start|>user\nHi<|im_end|>", false, true),
              ElementsAre(1, 4093, 198, 26843, 2));  // llama.cpp's ids
  const std::vector<int32_t> plain = tok_->Encode("<|im_start|>", false, false);
  EXPECT_GT(plain.size(), 1u);
  EXPECT_THAT(plain, Not(Contains(1)));
  EXPECT_EQ(tok_->Decode(plain), "<|im_start|>");
  // Control tokens render empty unless asked.
  EXPECT_EQ(tok_->Decode({1, 4093, 2}), "user");
  EXPECT_EQ(tok_->Decode({1, 4093, 2}, /*render_special=*/true), "<|im_start|>user<|im_end|>");
}

TEST_F(SmolTokenizerTest, AddSpecialAddsNothingForSmolLm2) {
  EXPECT_EQ(tok_->Encode("Hello", /*add_special=*/true, true),
            tok_->Encode("Hello", /*add_special=*/false, true));
  EXPECT_EQ(tok_->bos_id(), 1);
  EXPECT_EQ(tok_->eos_id(), 2);
}

TEST_F(SmolTokenizerTest, EndOfGenerationIdsEqualLlamaCpp) {
  std::ifstream in(std::string(kFixtures) + "tokenizer_golden.meta.json");
  const nlohmann::json meta = nlohmann::json::parse(in);
  EXPECT_EQ(tok_->end_of_generation_ids(), meta["eog_ids"].get<std::vector<int32_t>>());
  EXPECT_THAT(tok_->end_of_generation_ids(), ElementsAre(0, 2, 4));
  for (int id = 0; id <= 16; ++id) {
    EXPECT_EQ(tok_->IsEndOfGeneration(id), meta["is_eog_0_16"][std::to_string(id)].get<bool>())
        << id;
  }
  EXPECT_FALSE(tok_->IsEndOfGeneration(-1));
  EXPECT_FALSE(tok_->IsEndOfGeneration(tok_->vocab_size()));
}

TEST_F(SmolTokenizerTest, RandomBytesEncodeToValidIdsAndValidUtf8RoundTrips) {
  std::mt19937 rng(42);
  // Byte soup: any input is accepted and yields in-range ids.
  for (int i = 0; i < 300; ++i) {
    std::string s(rng() % 64, '\0');
    for (char& c : s) c = static_cast<char>(rng() & 0xFF);
    for (int32_t id : tok_->Encode(s, true, true)) {
      ASSERT_GE(id, 0);
      ASSERT_LT(id, tok_->vocab_size());
    }
  }
  // Random code points (valid UTF-8, no surrogates): decode inverts encode
  // when every byte has a single-byte token (see Representable).
  for (int i = 0; i < 300; ++i) {
    std::string s;
    for (int n = rng() % 24; n > 0; --n) {
      uint32_t cpt = rng() % 4 == 0 ? rng() % 0x80 : rng() % 0x10FFFF;
      if (cpt >= 0xD800 && cpt <= 0xDFFF) cpt = 'x';
      std::string c;
      AppendUtf8(cpt, &c);
      s += Representable(c) ? c : "x";
    }
    EXPECT_EQ(tok_->Decode(tok_->Encode(s, false, false)), s) << Printable(s);
  }
}

TEST_F(SmolTokenizerTest, ConcurrentEncodesAgreeWithSerialOnes) {
  const std::vector<nlohmann::json> golden = ReadJsonLines("tokenizer_golden.jsonl");
  std::vector<std::string> texts;
  for (const nlohmann::json& g : golden) texts.push_back(B64(g["b64"]));
  std::vector<std::vector<int32_t>> want;
  for (const std::string& t : texts) want.push_back(tok_->Encode(t, false, true));
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int th = 0; th < 4; ++th) {
    threads.emplace_back([&, th] {
      for (size_t i = 0; i < texts.size(); ++i) {
        const size_t k = (i * 7 + th * 13) % texts.size();
        if (tok_->Encode(texts[k], false, true) != want[k]) ++mismatches;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST_F(SmolTokenizerTest, VocabularyAccessorsDescribeTheFile) {
  EXPECT_EQ(tok_->vocab_size(), 49152);
  EXPECT_EQ(tok_->token_text(1), "<|im_start|>");
  EXPECT_EQ(tok_->token_type(1), TokenType::kControl);
  EXPECT_EQ(tok_->token_type(17), TokenType::kNormal);
  EXPECT_EQ(tok_->token_text(-5), "");
  EXPECT_EQ(tok_->TokenBytes(49152), "");
  EXPECT_NE(tok_->chat_template().find("<|im_start|>"), std::string::npos);
}

// ---- Hand-made vocabularies (no model file needed) ----

// A tiny byte-level vocabulary: all 256 byte symbols, then merge results.
struct TinyVocab {
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  std::vector<std::string> merges;
};

TinyVocab MakeTinyVocab() {
  TinyVocab v;
  v.tokens = {"<|endoftext|>", "<|im_end|>", "<user>"};
  v.types = {3, 3, 4};
  for (int b = 0; b < 256; ++b) {
    // ByteToUnicode via the tokenizer's own alphabet is what we test
    // elsewhere; here spell the printable ASCII ones, which map to themselves.
    if (b >= 0x21 && b <= 0x7E) {
      v.tokens.push_back(std::string(1, static_cast<char>(b)));
      v.types.push_back(1);
    }
  }
  for (const char* t : {"ab", "bc", "abc", "\xC4\xA0" "a"}) {  // "Ġa"
    v.tokens.push_back(t);
    v.types.push_back(1);
  }
  v.tokens.push_back("\xC4\xA0");  // "Ġ" (space)
  v.types.push_back(1);
  v.merges = {"a b", "b c", "ab c", "\xC4\xA0 a"};
  return v;
}

std::string Serialize(const TinyVocab& v, const std::string& model = "gpt2") {
  GgufWriter w;
  w.AddString("general.architecture", "llama");
  w.AddString("tokenizer.ggml.model", model);
  w.AddString("tokenizer.ggml.pre", "smollm");
  w.AddStringArray("tokenizer.ggml.tokens", v.tokens);
  w.AddInt32Array("tokenizer.ggml.token_type", v.types);
  w.AddStringArray("tokenizer.ggml.merges", v.merges);
  w.AddUint32("tokenizer.ggml.eos_token_id", 1);
  w.AddUint32("tokenizer.ggml.bos_token_id", 0);
  return w.Serialize();
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Load(const std::string& bytes) {
  absl::StatusOr<std::unique_ptr<GgufFile>> f = GgufFile::FromBytes(bytes);
  if (!f.ok()) return f.status();
  // The tokenizer copies what it needs; the file may go away afterwards.
  return Tokenizer::FromGguf(**f);
}

int32_t IdOf(const TinyVocab& v, const std::string& text) {
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    if (v.tokens[i] == text) return static_cast<int32_t>(i);
  }
  return -1;
}

TEST(TinyTokenizerTest, MergesApplyByRankLowestFirst) {
  const TinyVocab v = MakeTinyVocab();
  absl::StatusOr<std::unique_ptr<Tokenizer>> t = Load(Serialize(v));
  ASSERT_TRUE(t.ok()) << t.status();
  // "abc": rank 0 "a b" first, then "ab c" -> one token.
  EXPECT_THAT((*t)->Encode("abc", false, true), ElementsAre(IdOf(v, "abc")));
  // "bcab": "a b" (rank 0) before "b c" (rank 1): bc, ab.
  EXPECT_THAT((*t)->Encode("bcab", false, true), ElementsAre(IdOf(v, "bc"), IdOf(v, "ab")));
  EXPECT_THAT((*t)->Encode(" a", false, true), ElementsAre(IdOf(v, "\xC4\xA0" "a")));
}

TEST(TinyTokenizerTest, EqualRankTiesGoToTheLeftmostPair) {
  TinyVocab v = MakeTinyVocab();
  // "aa" merges with itself: in "aaa" the leftmost pair merges first.
  v.tokens.push_back("aa");
  v.types.push_back(1);
  v.merges.insert(v.merges.begin(), "a a");
  absl::StatusOr<std::unique_ptr<Tokenizer>> t = Load(Serialize(v));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT((*t)->Encode("aaa", false, true), ElementsAre(IdOf(v, "aa"), IdOf(v, "a")));
}

TEST(TinyTokenizerTest, SymbolsMissingFromVocabFallBackToSingleByteTokens) {
  const TinyVocab v = MakeTinyVocab();
  absl::StatusOr<std::unique_ptr<Tokenizer>> t = Load(Serialize(v));
  ASSERT_TRUE(t.ok()) << t.status();
  // 'é' is byte-encoded to two code points none of which is a token, and
  // neither are their single UTF-8 bytes: llama.cpp drops them.
  EXPECT_THAT((*t)->Encode("a\xC3\xA9", false, true), ElementsAre(IdOf(v, "a")));
}

TEST(TinyTokenizerTest, UserDefinedTokensMatchEvenWithoutParseSpecial) {
  const TinyVocab v = MakeTinyVocab();
  absl::StatusOr<std::unique_ptr<Tokenizer>> t = Load(Serialize(v));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT((*t)->Encode("a<user>", false, false), ElementsAre(IdOf(v, "a"), 2));
  EXPECT_THAT((*t)->Encode("<|im_end|>", false, true), ElementsAre(1));
  EXPECT_THAT((*t)->Encode("<|im_end|>", false, false), Not(Contains(1)));
  // Text-detected EOG: <|endoftext|> and <|im_end|> (also eos).
  EXPECT_THAT((*t)->end_of_generation_ids(), ElementsAre(0, 1));
}

TEST(TinyTokenizerTest, MismatchedTokenTypeLengthIsInvalidArgument) {
  TinyVocab v = MakeTinyVocab();
  v.types.pop_back();
  EXPECT_EQ(Load(Serialize(v)).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TinyTokenizerTest, SpecialIdOutsideVocabularyIsInvalidArgument) {
  const TinyVocab v = MakeTinyVocab();
  GgufWriter w;
  absl::StatusOr<std::unique_ptr<GgufFile>> f = GgufFile::FromBytes(Serialize(v));
  ASSERT_TRUE(f.ok());
  for (const auto& [key, value] : (*f)->metadata()) w.AddValue(key, value);
  w.AddUint32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(v.tokens.size()));
  absl::StatusOr<std::unique_ptr<Tokenizer>> t = Load(w.Serialize());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(t.status().message()), testing::HasSubstr("eos_token_id"));
}

TEST(TinyTokenizerTest, MissingTokensOrMergesIsInvalidArgument) {
  GgufWriter w;
  w.AddString("tokenizer.ggml.model", "gpt2");
  EXPECT_EQ(Load(w.Serialize()).status().code(), absl::StatusCode::kInvalidArgument);
  w.AddStringArray("tokenizer.ggml.tokens", {"a", "b"});
  // No merges.
  EXPECT_EQ(Load(w.Serialize()).status().code(), absl::StatusCode::kInvalidArgument);
  w.AddStringArray("tokenizer.ggml.merges", {"a b"});
  EXPECT_TRUE(Load(w.Serialize()).ok());
  w.AddStringArray("tokenizer.ggml.tokens", {});
  EXPECT_EQ(Load(w.Serialize()).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TinyTokenizerTest, MismatchedScoreLengthIsInvalidArgument) {
  const TinyVocab v = MakeTinyVocab();
  GgufWriter w;
  absl::StatusOr<std::unique_ptr<GgufFile>> f = GgufFile::FromBytes(Serialize(v, "llama"));
  ASSERT_TRUE(f.ok());
  for (const auto& [key, value] : (*f)->metadata()) w.AddValue(key, value);
  EXPECT_TRUE(Load(w.Serialize()).ok());
  w.AddFloat32Array("tokenizer.ggml.scores", std::vector<float>(v.tokens.size() + 1, 0.0f));
  absl::StatusOr<std::unique_ptr<Tokenizer>> t = Load(w.Serialize());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(t.status().message()), testing::HasSubstr("scores"));
}

TEST(TinyTokenizerTest, WrongTypesAndUnsupportedModelsAreInvalidArgument) {
  const TinyVocab v = MakeTinyVocab();
  EXPECT_EQ(Load(Serialize(v, "t5")).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Load(Serialize(v, "bert")).status().code(), absl::StatusCode::kInvalidArgument);
  GgufWriter w;
  w.AddString("tokenizer.ggml.model", "gpt2");
  w.AddInt32Array("tokenizer.ggml.tokens", {1, 2});  // not strings
  w.AddStringArray("tokenizer.ggml.merges", {});
  EXPECT_EQ(Load(w.Serialize()).status().code(), absl::StatusCode::kInvalidArgument);
  GgufWriter w2;
  w2.AddString("tokenizer.ggml.model", "gpt2");
  w2.AddString("tokenizer.ggml.pre", "no-such-pre");
  w2.AddStringArray("tokenizer.ggml.tokens", {"a"});
  w2.AddStringArray("tokenizer.ggml.merges", {});
  EXPECT_EQ(Load(w2.Serialize()).status().code(), absl::StatusCode::kInvalidArgument);
}

// The SentencePiece-style copy of the SmolLM2 vocabulary that
// scripts/golden/make_tokenizer_goldens.py (spm_vocab_copy) gave llama.cpp:
// "Ġ" -> "▁", score -id, 256 <0xXX> byte tokens appended; merges, pre,
// add_space_prefix and add_bos_token dropped.
std::string SpmVocabFromModel(const GgufFile& model) {
  GgufWriter w;
  std::vector<std::string> texts;
  std::vector<int32_t> types;
  for (const auto& [key, value] : model.metadata()) {
    if (key == "tokenizer.ggml.tokens") {
      texts = value.strings;
    } else if (key == "tokenizer.ggml.token_type") {
      types.assign(value.ints.begin(), value.ints.end());
    } else if (key != "tokenizer.ggml.merges" && key != "tokenizer.ggml.pre" &&
               key != "tokenizer.ggml.model" && key != "tokenizer.ggml.add_space_prefix" &&
               key != "tokenizer.ggml.add_bos_token") {
      w.AddValue(key, value);
    }
  }
  std::vector<float> scores;
  for (size_t i = 0; i < texts.size(); ++i) {
    texts[i] = absl::StrReplaceAll(texts[i], {{"\xC4\xA0", "\xE2\x96\x81"}});
    scores.push_back(-static_cast<float>(i));
  }
  for (int b = 0; b < 256; ++b) {
    texts.push_back(absl::StrFormat("<0x%02X>", b));
    types.push_back(6);
    scores.push_back(0.0f);
  }
  w.AddString("tokenizer.ggml.model", "llama");
  w.AddStringArray("tokenizer.ggml.tokens", texts);
  w.AddInt32Array("tokenizer.ggml.token_type", types);
  w.AddFloat32Array("tokenizer.ggml.scores", scores);
  return w.Serialize();
}

TEST_F(SmolTokenizerTest, SentencePieceGoldenIdsEqualLlamaCpp) {
  absl::StatusOr<std::unique_ptr<GgufFile>> f = GgufFile::FromBytes(SpmVocabFromModel(*file_));
  ASSERT_TRUE(f.ok()) << f.status();
  absl::StatusOr<std::unique_ptr<Tokenizer>> spm = Tokenizer::FromGguf(**f);
  ASSERT_TRUE(spm.ok()) << spm.status();
  const std::vector<nlohmann::json> golden = ReadJsonLines("tokenizer_golden_spm.jsonl");
  ASSERT_GE(golden.size(), 300u);
  int mismatches = 0;
  for (const nlohmann::json& g : golden) {
    const std::string text = B64(g["b64"]);
    const bool special = g["special"].get<bool>();
    for (bool add_special : {false, true}) {
      const std::vector<int32_t> want =
          g[add_special ? "ids_add_special" : "ids"].get<std::vector<int32_t>>();
      const std::vector<int32_t> got = (*spm)->Encode(text, add_special, special);
      if (got != want && ++mismatches <= 10) {
        ADD_FAILURE() << "spm text \"" << Printable(text) << "\" special=" << special
                      << " add_special=" << add_special << "\n  want "
                      << testing::PrintToString(want) << "\n  got  "
                      << testing::PrintToString(got);
      }
    }
  }
  EXPECT_EQ(mismatches, 0);
  std::cout << "[golden] spm: " << 2 * golden.size() - mismatches << "/" << 2 * golden.size()
            << " identical\n";
  // Byte tokens decode to their byte; "▁" to a space.
  EXPECT_EQ((*spm)->TokenBytes((*spm)->vocab_size() - 256 + 0x41), "A");
  EXPECT_EQ((*spm)->Decode((*spm)->Encode("Hello world", false, true)), " Hello world");
  EXPECT_EQ((*spm)->bos_id(), 1);
}

}  // namespace
}  // namespace llm
