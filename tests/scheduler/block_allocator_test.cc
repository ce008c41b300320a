#include "scheduler/block_allocator.h"

#include <random>

#include "gtest/gtest.h"

namespace llm {
namespace {

TEST(BlockAllocatorTest, LastReleaseReturnsBlockToFreeList) {
  BlockAllocator a(4);
  auto blocks = a.Allocate(1);
  ASSERT_TRUE(blocks.ok());
  const int32_t id = (*blocks)[0];
  a.AddRef(id);
  EXPECT_EQ(a.ref_count(id), 2);
  a.Release(id);
  EXPECT_EQ(a.num_free(), 3);
  a.Release(id);
  EXPECT_EQ(a.num_free(), 4);
  EXPECT_TRUE(a.CheckInvariants().ok());
}

TEST(BlockAllocatorTest, AllocateIsAllOrNothing) {
  BlockAllocator a(3);
  ASSERT_TRUE(a.Allocate(2).ok());
  auto more = a.Allocate(2);
  EXPECT_EQ(more.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(a.num_free(), 1);
  EXPECT_TRUE(a.CheckInvariants().ok());
}

TEST(BlockAllocatorTest, InvariantsHoldUnderRandomAllocateAndRelease) {
  BlockAllocator a(64);
  std::mt19937 rng(7);
  std::vector<int32_t> held;
  for (int i = 0; i < 5000; ++i) {
    if (held.empty() || rng() % 2) {
      auto b = a.Allocate(1 + rng() % 4);
      if (b.ok()) held.insert(held.end(), b->begin(), b->end());
    } else {
      const size_t k = rng() % held.size();
      a.Release(held[k]);
      held.erase(held.begin() + k);
    }
    ASSERT_EQ(a.num_used(), static_cast<int>(held.size()));
  }
  EXPECT_TRUE(a.CheckInvariants().ok());
  for (int32_t b : held) a.Release(b);
  EXPECT_EQ(a.num_free(), 64);
}

TEST(BlockAllocatorDeathTest, DoubleFreeAborts) {
  BlockAllocator a(2);
  auto b = a.Allocate(1);
  ASSERT_TRUE(b.ok());
  a.Release((*b)[0]);
  EXPECT_DEATH(a.Release((*b)[0]), "double free");
}

}  // namespace
}  // namespace llm

namespace llm {
namespace {

BlockHash H(uint64_t v) { return HashBlock(BlockHash{}, {static_cast<int32_t>(v)}, 0); }

TEST(BlockAllocatorPrefixCacheTest, ReleasedCachedBlockStaysFindableUntilEvicted) {
  BlockAllocator a(2);
  auto b = a.Allocate(1);
  ASSERT_TRUE(b.ok());
  a.Register((*b)[0], H(1));
  a.Release((*b)[0]);
  EXPECT_EQ(a.num_free(), 2);  // evictable counts as free
  auto hit = a.Lookup(H(1));
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(*hit, (*b)[0]);
  EXPECT_EQ(a.ref_count(*hit), 1);
  EXPECT_TRUE(a.CheckInvariants().ok());
}

TEST(BlockAllocatorPrefixCacheTest, AllocationEvictsLeastRecentlyUsedCachedBlock) {
  BlockAllocator a(2);
  auto b = a.Allocate(2);
  ASSERT_TRUE(b.ok());
  a.Register((*b)[0], H(1));
  a.Register((*b)[1], H(2));
  a.Release((*b)[1]);  // released first: least recently used
  a.Release((*b)[0]);
  auto fresh = a.Allocate(1);
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ((*fresh)[0], (*b)[1]);
  EXPECT_FALSE(a.Lookup(H(2)).has_value());
  EXPECT_TRUE(a.Lookup(H(1)).has_value());
  EXPECT_TRUE(a.CheckInvariants().ok());
}

TEST(BlockAllocatorPrefixCacheTest, DuplicateHashKeepsTheFirstBlock) {
  BlockAllocator a(2);
  auto b = a.Allocate(2);
  ASSERT_TRUE(b.ok());
  a.Register((*b)[0], H(5));
  a.Register((*b)[1], H(5));
  EXPECT_EQ(a.num_cached(), 1);
  auto hit = a.Lookup(H(5));
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(*hit, (*b)[0]);
}

TEST(BlockHashTest, ChainDependsOnEveryTokenAndTheParent) {
  const int32_t t1[] = {1, 2, 3};
  const int32_t t2[] = {1, 2, 4};
  const BlockHash a = HashBlock(BlockHash{}, t1, 0);
  EXPECT_FALSE(a == HashBlock(BlockHash{}, t2, 0));
  EXPECT_FALSE(HashBlock(a, t1, 0) == HashBlock(BlockHash{}, t1, 0));
  EXPECT_FALSE(a == HashBlock(BlockHash{}, t1, 7));  // salt separates caches
  EXPECT_TRUE(a == HashBlock(BlockHash{}, t1, 0));
}

}  // namespace
}  // namespace llm
