#include "common/thread_pool.h"

#include <atomic>
#include <vector>

#include "gtest/gtest.h"

namespace llm {
namespace {

TEST(ThreadPoolTest, RunCallsEveryThreadIndexExactlyOnce) {
  ThreadPool pool(4);
  for (int round = 0; round < 200; ++round) {
    std::vector<std::atomic<int>> hits(4);
    pool.Run([&](int thread, int n) {
      EXPECT_EQ(n, 4);
      hits[thread].fetch_add(1);
    });
    for (auto& h : hits) ASSERT_EQ(h.load(), 1);
  }
}

TEST(ThreadPoolTest, BarrierSeparatesPhases) {
  ThreadPool pool(3);
  std::vector<int> data(3, 0);
  std::vector<int> seen(3, -1);
  pool.Run([&](int thread, int n) {
    data[thread] = thread + 1;
    pool.Barrier();
    int sum = 0;
    for (int v : data) sum += v;
    seen[thread] = sum;
    pool.Barrier();
  });
  for (int s : seen) EXPECT_EQ(s, 6);
}

TEST(ThreadPoolTest, WorkersWakeAfterSleeping) {
  ThreadPool pool(2);
  std::atomic<int> count{0};
  pool.Run([&](int, int) { count.fetch_add(1); });
  // Long enough for the worker to leave its spin window and sleep.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  pool.Run([&](int, int) { count.fetch_add(1); });
  EXPECT_EQ(count.load(), 4);
}

TEST(ThreadPoolTest, SplitRangeCoversRangeWithAlignedChunks) {
  int64_t covered = 0;
  int64_t prev_end = 0;
  for (int t = 0; t < 3; ++t) {
    auto [b, e] = SplitRange(100, t, 3, 8);
    EXPECT_EQ(b, prev_end);
    if (e < 100) EXPECT_EQ(e % 8, 0);
    covered += e - b;
    prev_end = e;
  }
  EXPECT_EQ(covered, 100);
}

}  // namespace
}  // namespace llm
