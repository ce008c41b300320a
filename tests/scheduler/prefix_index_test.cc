// PrefixIndex: the router's memory of which prompt blocks a group was given.
#include "scheduler/prefix_index.h"

#include <vector>

#include "gtest/gtest.h"

namespace llm {
namespace {

std::vector<int32_t> Tokens(int n, int offset = 0) {
  std::vector<int32_t> t;
  for (int i = 0; i < n; ++i) t.push_back(100 + (i * 7 + offset) % 900);
  return t;
}

TEST(PromptBlockHashesTest, HashesOnlyFullBlocksUpToTheLimit) {
  EXPECT_EQ(PromptBlockHashes(Tokens(47), 16, 0, 64).size(), 2u);
  EXPECT_EQ(PromptBlockHashes(Tokens(48), 16, 0, 64).size(), 3u);
  EXPECT_EQ(PromptBlockHashes(Tokens(480), 16, 0, 4).size(), 4u);
  EXPECT_TRUE(PromptBlockHashes(Tokens(15), 16, 0, 64).empty());
}

TEST(PromptBlockHashesTest, ChainedHashesDependOnEveryEarlierToken) {
  std::vector<int32_t> a = Tokens(64);
  std::vector<int32_t> b = a;
  b[3] += 1;  // first block differs: every later hash differs too
  const std::vector<BlockHash> ha = PromptBlockHashes(a, 16, 0, 64);
  const std::vector<BlockHash> hb = PromptBlockHashes(b, 16, 0, 64);
  for (size_t i = 0; i < ha.size(); ++i) EXPECT_FALSE(ha[i] == hb[i]) << i;
  // Another salt (another model) never matches.
  EXPECT_FALSE(PromptBlockHashes(a, 16, 1, 64)[0] == ha[0]);
}

TEST(PrefixIndexTest, MatchLengthCountsTheLeadingRecordedBlocks) {
  PrefixIndex index;
  const std::vector<int32_t> system = Tokens(64);  // 4 blocks shared
  std::vector<int32_t> first = system, second = system;
  const std::vector<int32_t> tail1 = Tokens(32, 1), tail2 = Tokens(32, 2);
  first.insert(first.end(), tail1.begin(), tail1.end());
  second.insert(second.end(), tail2.begin(), tail2.end());
  index.Record(PromptBlockHashes(first, 16, 0, 64));
  EXPECT_EQ(index.MatchLength(PromptBlockHashes(first, 16, 0, 64)), 6);
  EXPECT_EQ(index.MatchLength(PromptBlockHashes(second, 16, 0, 64)), 4);
  EXPECT_EQ(index.MatchLength(PromptBlockHashes(Tokens(64, 5), 16, 0, 64)), 0);
}

TEST(PrefixIndexTest, ForgetsTheOldestEntriesBeyondItsCapacity) {
  PrefixIndex index(/*capacity=*/4);
  const std::vector<BlockHash> a = PromptBlockHashes(Tokens(64, 1), 16, 0, 64);
  const std::vector<BlockHash> b = PromptBlockHashes(Tokens(64, 2), 16, 0, 64);
  index.Record(a);
  index.Record(b);
  EXPECT_EQ(index.size(), 4u);
  EXPECT_EQ(index.MatchLength(a), 0);
  EXPECT_EQ(index.MatchLength(b), 4);
  index.Clear();
  EXPECT_EQ(index.MatchLength(b), 0);
}

}  // namespace
}  // namespace llm
