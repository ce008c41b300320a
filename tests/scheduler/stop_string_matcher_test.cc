// StopStringMatcher: stop strings are found across piece boundaries and
// never leak; text that merely starts like a stop string is released as
// soon as it cannot match.
#include "scheduler/stop_string_matcher.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace llm {
namespace {

// Feeds pieces and returns everything released, Flush included.
std::string Feed(StopStringMatcher& m, const std::vector<std::string>& pieces) {
  std::string out;
  for (const std::string& p : pieces) out += m.Append(p);
  return out + m.Flush();
}

TEST(StopStringMatcherTest, NoStopsPassesTextThrough) {
  StopStringMatcher m({});
  EXPECT_EQ(m.Append("Hello"), "Hello");
  EXPECT_EQ(m.Append(" world"), " world");
  EXPECT_FALSE(m.stopped());
}

TEST(StopStringMatcherTest, StopInsideOnePieceCutsBeforeIt) {
  StopStringMatcher m({"END"});
  EXPECT_EQ(m.Append("abcENDdef"), "abc");
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(m.Append("more"), "");
  EXPECT_EQ(m.Flush(), "");
}

TEST(StopStringMatcherTest, StopSplitAcrossPiecesNeverLeaks) {
  StopStringMatcher m({"</s>"});
  EXPECT_EQ(m.Append("x <"), "x ");  // "<" could start the stop string
  EXPECT_EQ(m.Append("/"), "");
  EXPECT_EQ(m.Append("s> tail"), "");
  EXPECT_TRUE(m.stopped());
}

TEST(StopStringMatcherTest, HeldBackTextIsReleasedWhenItStopsMatching) {
  StopStringMatcher m({"abc"});
  EXPECT_EQ(m.Append("xab"), "x");
  EXPECT_EQ(m.Append("d"), "abd");
  EXPECT_FALSE(m.stopped());
}

TEST(StopStringMatcherTest, FlushReleasesAPartialMatchAtTheEnd) {
  StopStringMatcher m({"STOP"});
  EXPECT_EQ(Feed(m, {"one ST"}), "one ST");
  EXPECT_FALSE(m.stopped());
}

TEST(StopStringMatcherTest, EarliestOfSeveralStopsWins) {
  StopStringMatcher m({"world", "lo"});
  EXPECT_EQ(m.Append("hello world"), "hel");
  EXPECT_TRUE(m.stopped());
}

TEST(StopStringMatcherTest, OverlappingPrefixKeepsTheLongestCandidate) {
  // "aab": after "aa" both "a" and "aa" are prefixes; the longer one must be
  // held back or "aab" split as "a|ab" would leak one "a".
  StopStringMatcher m({"aab"});
  EXPECT_EQ(m.Append("xaa"), "x");
  EXPECT_EQ(m.Append("b"), "");
  EXPECT_TRUE(m.stopped());
}

TEST(StopStringMatcherTest, MultibyteStopStringMatchesOnWholeCharacters) {
  StopStringMatcher m({"\xC3\xA9t\xC3\xA9"});  // "été"
  EXPECT_EQ(m.Append("l'\xC3\xA9"), "l'");
  EXPECT_EQ(m.Append("t\xC3\xA9 chaud"), "");
  EXPECT_TRUE(m.stopped());
}

TEST(StopStringMatcherTest, TokenByTokenEqualsWholeText) {
  const std::string text = "The answer is 42.\nQuestion: why?";
  for (const std::string stop : {"\nQuestion:", "42", "why?", "nope"}) {
    StopStringMatcher whole({stop});
    const std::string expected = Feed(whole, {text});
    StopStringMatcher pieces({stop});
    std::vector<std::string> chars;
    for (char c : text) chars.push_back(std::string(1, c));
    EXPECT_EQ(Feed(pieces, chars), expected) << stop;
    const size_t at = text.find(stop);
    EXPECT_EQ(expected, at == std::string::npos ? text : text.substr(0, at)) << stop;
  }
}

}  // namespace
}  // namespace llm
