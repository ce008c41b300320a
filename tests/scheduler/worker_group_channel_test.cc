// WorkerGroupChannel: every rank of a tensor-parallel group receives every
// plan; the group reports rank 0's result, the smallest pool, and any
// rank's failure.
#include "scheduler/worker_group_channel.h"

#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "tests/scheduler/fake_worker_channel.h"

namespace llm {
namespace {

using testing::FakeWorkerChannel;

StepPlan Prefill(uint64_t step) {
  StepPlan plan;
  plan.step_id = step;
  SequenceSpec s;
  s.seq_id = 1;
  s.prompt_tokens = {3, 4, 5};
  s.params.temperature = 0;
  s.block_table = {0};
  plan.new_sequences.push_back(s);
  ScheduledChunk c;
  c.seq_id = 1;
  c.num_tokens = 3;
  c.sample = true;
  plan.chunks.push_back(c);
  return plan;
}

struct Group {
  std::vector<FakeWorkerChannel*> ranks;  // owned by channel
  std::unique_ptr<WorkerGroupChannel> channel;
};

Group MakeGroup(std::vector<int> blocks, int block_size = 16) {
  Group g;
  std::vector<std::unique_ptr<WorkerChannel>> ranks;
  for (int b : blocks) {
    auto fake = std::make_unique<FakeWorkerChannel>(b, block_size);
    g.ranks.push_back(fake.get());
    ranks.push_back(std::move(fake));
  }
  g.channel = std::make_unique<WorkerGroupChannel>(std::move(ranks));
  return g;
}

TEST(WorkerGroupChannelTest, DescribeReportsTheSmallestPool) {
  Group g = MakeGroup({64, 48, 80});
  absl::StatusOr<WorkerDescription> d = g.channel->Describe();
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->num_kv_blocks, 48);
  EXPECT_EQ(d->block_size, 16);
  EXPECT_EQ(d->backend, "fake x3 ranks");
}

TEST(WorkerGroupChannelTest, RanksThatDisagreeOnBlockSizeAreRefused) {
  std::vector<std::unique_ptr<WorkerChannel>> ranks;
  ranks.push_back(std::make_unique<FakeWorkerChannel>(64, 16));
  ranks.push_back(std::make_unique<FakeWorkerChannel>(64, 32));
  WorkerGroupChannel channel(std::move(ranks));
  EXPECT_EQ(channel.Describe().status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(WorkerGroupChannelTest, EveryRankGetsEveryPlanAndRankZeroAnswers) {
  Group g = MakeGroup({64, 64});
  absl::StatusOr<StepResult> r = g.channel->Execute(Prefill(5));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->step_id, 5u);
  ASSERT_EQ(r->results.size(), 1u);
  EXPECT_EQ(r->results[0].tokens.size(), 1u);
  for (FakeWorkerChannel* rank : g.ranks) {
    ASSERT_EQ(rank->plans.size(), 1u);
    EXPECT_EQ(rank->plans[0].step_id, 5u);
  }
}

TEST(WorkerGroupChannelTest, OneFailingRankFailsTheStep) {
  Group g = MakeGroup({64, 64});
  g.ranks[1]->fail_next = true;
  absl::StatusOr<StepResult> r = g.channel->Execute(Prefill(1));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace llm
