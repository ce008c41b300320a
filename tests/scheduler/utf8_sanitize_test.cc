// SanitizeUtf8 keeps well-formed UTF-8 byte for byte and replaces each
// ill-formed byte by U+FFFD, so proto3 string fields always parse.
#include "scheduler/utf8_sanitize.h"

#include <string>

#include "gtest/gtest.h"

namespace llm {
namespace {

constexpr char kReplacement[] = "\xEF\xBF\xBD";

TEST(SanitizeUtf8Test, WellFormedTextIsUnchanged) {
  const std::string text = "ascii \xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80";
  EXPECT_EQ(SanitizeUtf8(text), text);
}

TEST(SanitizeUtf8Test, TruncatedSequenceBecomesReplacementPerByte) {
  EXPECT_EQ(SanitizeUtf8("a\xE2\x82"), std::string("a") + kReplacement + kReplacement);
}

TEST(SanitizeUtf8Test, OverlongsSurrogatesAndHighValuesAreRejected) {
  EXPECT_EQ(SanitizeUtf8("\xC0\x80"), std::string(kReplacement) + kReplacement);
  EXPECT_EQ(SanitizeUtf8("\xED\xA0\x80"),
            std::string(kReplacement) + kReplacement + kReplacement);
  EXPECT_EQ(SanitizeUtf8("\xF4\x90\x80\x80"),
            std::string(kReplacement) + kReplacement + kReplacement + kReplacement);
}

TEST(SanitizeUtf8Test, LoneContinuationByteIsReplacedAndTextResumes) {
  EXPECT_EQ(SanitizeUtf8("x\x80y"), std::string("x") + kReplacement + "y");
}

}  // namespace
}  // namespace llm
