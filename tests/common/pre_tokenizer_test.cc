// Pre-tokenizer and Unicode helper tests: REFERENCE.md §5 examples and the
// regex branches of llama.cpp's hand-written matchers.
#include "common/pre_tokenizer.h"

#include <string>
#include <vector>

#include "common/unicode.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace llm {
namespace {

using ::testing::ElementsAre;

std::vector<std::string> Smol(std::string_view s) { return PreTokenize(PreTokenizerKind::kSmollm, s); }

TEST(PreTokenizerTest, SmollmSplitsDigitsAndKeepsSpaceBeforeWord) {
  EXPECT_THAT(Smol("Hello world! 123"), ElementsAre("Hello", " world", "!", " ", "1", "2", "3"));
}

TEST(PreTokenizerTest, WhitespaceRunLeavesLastSpaceToNextWord) {
  EXPECT_THAT(Smol("a   b"), ElementsAre("a", "  ", " b"));
}

TEST(PreTokenizerTest, TrailingWhitespaceRunStaysWhole) {
  EXPECT_THAT(Smol("x   "), ElementsAre("x", "   "));
  // A newline before a word is not a space: it stays a piece of its own.
  EXPECT_THAT(Smol("x\n\n\ny"), ElementsAre("x", "\n\n", "\n", "y"));
}

TEST(PreTokenizerTest, ContractionsAreCaseSensitiveForGpt2) {
  EXPECT_THAT(Smol("it's"), ElementsAre("it", "'s"));
  EXPECT_THAT(Smol("IT'S"), ElementsAre("IT", "'", "S"));
  EXPECT_THAT(Smol("we'll"), ElementsAre("we", "'ll"));
}

TEST(PreTokenizerTest, Llama3ContractionsIgnoreCaseAndDigitsGroupByThree) {
  EXPECT_THAT(PreTokenize(PreTokenizerKind::kLlama3, "IT'S 1234567"),
              ElementsAre("IT", "'S", " ", "123", "456", "7"));
}

TEST(PreTokenizerTest, Gpt2KeepsDigitRunsTogether) {
  EXPECT_THAT(PreTokenize(PreTokenizerKind::kGpt2, "abc 12345!"),
              ElementsAre("abc", " 12345", "!"));
}

TEST(PreTokenizerTest, DefaultSplitsPunctuationRunsAndDigitTriples) {
  EXPECT_THAT(PreTokenize(PreTokenizerKind::kDefault, "a+=b 12345"),
              ElementsAre("a", "+=", "b", " ", "123", "45"));
}

TEST(PreTokenizerTest, NonAsciiLettersNumbersAndWhitespaceUseUnicodeTables) {
  // U+3000 is White_Space; U+0661..U+0663 are Arabic-Indic digits (Nd).
  EXPECT_THAT(Smol("日本\u3000語"), ElementsAre("日本", "\u3000", "語"));
  EXPECT_THAT(Smol("\u0661\u0662"), ElementsAre("\u0661", "\u0662"));
  EXPECT_THAT(Smol("café!"), ElementsAre("café", "!"));
}

TEST(PreTokenizerTest, InvalidUtf8BecomesReplacementCharacterPerByte) {
  EXPECT_THAT(Smol("\xff\xfe" "ab"), ElementsAre("\xEF\xBF\xBD\xEF\xBF\xBD", "ab"));
}

TEST(PreTokenizerTest, EmptyTextHasNoPieces) { EXPECT_TRUE(Smol("").empty()); }

TEST(PreTokenizerTest, UnknownNameIsInvalidArgument) {
  EXPECT_EQ(PreTokenizerKindFromName("no-such-pre").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*PreTokenizerKindFromName("smollm"), PreTokenizerKind::kSmollm);
  EXPECT_EQ(*PreTokenizerKindFromName(""), PreTokenizerKind::kDefault);
}

TEST(UnicodeTest, FlagsMatchGeneralCategories) {
  EXPECT_TRUE(GetCodepointFlags('a').is_letter());
  EXPECT_TRUE(GetCodepointFlags(0x65E5).is_letter());   // 日
  EXPECT_TRUE(GetCodepointFlags('7').is_number());
  EXPECT_TRUE(GetCodepointFlags(0x00BD).is_number());   // ½ (No)
  EXPECT_TRUE(GetCodepointFlags(0x00A0).is_whitespace());
  EXPECT_TRUE(GetCodepointFlags(0x0085).is_whitespace());
  EXPECT_FALSE(GetCodepointFlags(0x001C).is_whitespace());  // isspace() says yes; \s says no
  EXPECT_FALSE(GetCodepointFlags(0x200B).is_whitespace());  // ZWSP is Cf
  EXPECT_TRUE(GetCodepointFlags('!').is_punctuation());
  EXPECT_EQ(GetCodepointFlags(0x0378).bits, CodepointFlags::kUndefined);  // unassigned
}

TEST(UnicodeTest, LenientDecodingFollowsLlamaCpp) {
  EXPECT_THAT(Utf8ToCodepoints("\xC0\x80"), ElementsAre(0u));           // overlong kept
  EXPECT_THAT(Utf8ToCodepoints("\xED\xA0\x80"), ElementsAre(0xD800u));  // surrogate kept
  EXPECT_THAT(Utf8ToCodepoints("\xE2\x82("), ElementsAre(0xFFFDu, 0xFFFDu, uint32_t{'('}));
  EXPECT_THAT(Utf8ToCodepoints("\xF4\x90\x80\x80"),  // > U+10FFFF: our deviation
              ElementsAre(0xFFFDu, 0xFFFDu, 0xFFFDu, 0xFFFDu));
}

TEST(UnicodeTest, ByteAlphabetRoundTrips) {
  EXPECT_EQ(ByteToUnicode(' '), "\xC4\xA0");   // Ġ
  EXPECT_EQ(ByteToUnicode('\n'), "\xC4\x8A");  // Ċ
  EXPECT_EQ(ByteToUnicode('A'), "A");
  EXPECT_EQ(UnicodeToByte(0x143), 0xAD);
  EXPECT_EQ(UnicodeToByte(0x121), 0x7F);
  for (int b = 0; b < 256; ++b) {
    const std::vector<uint32_t> c = Utf8ToCodepoints(ByteToUnicode(static_cast<uint8_t>(b)));
    ASSERT_EQ(c.size(), 1u);
    EXPECT_EQ(UnicodeToByte(c[0]), b);
  }
  EXPECT_EQ(UnicodeToByte(0x3042), -1);
}

}  // namespace
}  // namespace llm
