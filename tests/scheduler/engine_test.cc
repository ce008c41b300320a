#include "scheduler/engine.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/scheduler/fake_worker_channel.h"

namespace llm {
namespace {

using testing::FakeWorkerChannel;

struct Collected {
  std::map<std::pair<std::string, int>, std::vector<int32_t>> tokens;
  std::map<std::pair<std::string, int>, FinishReason> finish;
};

std::pair<std::string, int> Key(const std::string& id, int sample) {
  return {id, sample};
}

UpdateCallback Collect(Collected& c) {
  return [&c](const SequenceUpdate& u) {
    auto key = std::make_pair(u.request_id, u.sample_index);
    for (const auto& t : u.new_tokens) c.tokens[key].push_back(t.token);
    if (u.finish_reason != FinishReason::kNone) c.finish[key] = u.finish_reason;
  };
}

GenerationRequest Request(const std::string& id, int prompt_len, int max_tokens) {
  GenerationRequest r;
  r.request_id = id;
  for (int i = 0; i < prompt_len; ++i) r.prompt_tokens.push_back(10 + i % 50);
  r.params.temperature = 0.0f;
  r.max_tokens = max_tokens;
  return r;
}

std::unique_ptr<Engine> MakeEngine(FakeWorkerChannel& ch, EngineOptions opts = {}) {
  auto e = Engine::Create(opts, ch);
  EXPECT_TRUE(e.ok()) << e.status();
  return std::move(*e);
}

void RunToCompletion(Engine& e, int max_steps = 10000) {
  for (int i = 0; i < max_steps && e.HasWork(); ++i) {
    ASSERT_TRUE(e.Step().ok());
  }
  ASSERT_FALSE(e.HasWork());
}

TEST(EngineTest, ChunkedPrefillSplitsLongPromptByTokenBudget) {
  FakeWorkerChannel ch(/*num_blocks=*/64, /*block_size=*/16);
  EngineOptions opts;
  opts.max_batched_tokens = 32;
  auto e = MakeEngine(ch, opts);
  Collected c;
  ASSERT_TRUE(e->Add(Request("a", 100, 3), Collect(c)).ok());
  RunToCompletion(*e);
  // Timeline: 32, 32, 32, 4 (+ first token), then two decodes.
  EXPECT_EQ(ch.chunk_sizes, (std::vector<int>{32, 32, 32, 4, 1, 1}));
  EXPECT_EQ(c.tokens[Key("a", 0)].size(), 3u);
  EXPECT_EQ(c.finish[Key("a", 0)], FinishReason::kLength);
  EXPECT_EQ(e->blocks().num_used(), 0);
}

TEST(EngineTest, RunningDecodesComeBeforeNewPrefills) {
  FakeWorkerChannel ch(64, 16);
  EngineOptions opts;
  opts.max_batched_tokens = 8;
  auto e = MakeEngine(ch, opts);
  Collected c;
  ASSERT_TRUE(e->Add(Request("a", 4, 5), Collect(c)).ok());
  ASSERT_TRUE(e->Step().ok());  // a: prefill 4 -> token 1
  ASSERT_TRUE(e->Add(Request("b", 20, 2), Collect(c)).ok());
  ASSERT_TRUE(e->Step().ok());  // a: decode 1, b: prefill 7 of 20
  const StepPlan& p = ch.plans.back();
  ASSERT_EQ(p.chunks.size(), 2u);
  EXPECT_EQ(p.chunks[0].num_tokens, 1);  // the running decode first
  EXPECT_EQ(p.chunks[1].num_tokens, 7);  // the budget's remainder
  RunToCompletion(*e);
  EXPECT_EQ(c.tokens[Key("b", 0)].size(), 2u);
}

TEST(EngineTest, PreemptsNewestWhenBlocksRunOutAndLosesNothing) {
  // 6 blocks of 4 tokens = 24 slots; three sequences of 8 prompt + 8 output
  // need 48, so some must be preempted and recomputed.
  FakeWorkerChannel ch(/*num_blocks=*/6, /*block_size=*/4);
  EngineOptions opts;
  opts.admission_watermark = 0.0;
  auto e = MakeEngine(ch, opts);
  Collected c;
  for (const char* id : {"a", "b", "c"}) {
    ASSERT_TRUE(e->Add(Request(id, 8, 8), Collect(c)).ok());
  }
  RunToCompletion(*e);
  EXPECT_GT(e->stats().preemptions, 0);
  for (const char* id : {"a", "b", "c"}) {
    EXPECT_EQ(c.tokens[Key(id, 0)].size(), 8u) << id;
    EXPECT_EQ(c.finish[Key(id, 0)], FinishReason::kLength) << id;
  }
  EXPECT_EQ(e->blocks().num_used(), 0);
  EXPECT_TRUE(e->blocks().CheckInvariants().ok());
}

TEST(EngineTest, PreemptedSequenceResumesWithItsOutputTokens) {
  FakeWorkerChannel ch(6, 4);
  EngineOptions opts;
  opts.admission_watermark = 0.0;
  auto e = MakeEngine(ch, opts);
  Collected c;
  for (const char* id : {"a", "b", "c"}) {
    ASSERT_TRUE(e->Add(Request(id, 8, 8), Collect(c)).ok());
  }
  RunToCompletion(*e);
  bool resumed = false;
  for (const StepPlan& p : ch.plans) {
    for (const SequenceSpec& s : p.new_sequences) {
      if (!s.output_tokens.empty()) {
        resumed = true;
        EXPECT_EQ(s.prompt_tokens.size(), 8u);
        EXPECT_EQ(s.num_computed_tokens, 0);
      }
    }
  }
  EXPECT_TRUE(resumed);
}

TEST(EngineTest, EndOfGenerationStopsUnlessIgnoreEos) {
  FakeWorkerChannel ch(64, 16);
  ch.next_token = [](SeqId, int index) { return index == 2 ? 2 : 7; };
  EngineOptions opts;
  opts.eog_token_ids = {2};
  auto e = MakeEngine(ch, opts);
  Collected c;
  ASSERT_TRUE(e->Add(Request("stop", 4, 10), Collect(c)).ok());
  GenerationRequest ignore = Request("ignore", 4, 10);
  ignore.ignore_eos = true;
  ASSERT_TRUE(e->Add(ignore, Collect(c)).ok());
  RunToCompletion(*e);
  EXPECT_EQ(c.tokens[Key("stop", 0)], (std::vector<int32_t>{7, 7, 2}));
  EXPECT_EQ(c.finish[Key("stop", 0)], FinishReason::kStop);
  EXPECT_EQ(c.tokens[Key("ignore", 0)].size(), 10u);
  EXPECT_EQ(c.finish[Key("ignore", 0)], FinishReason::kLength);
}

TEST(EngineTest, CancelFreesBlocksWithinOneStep) {
  FakeWorkerChannel ch(64, 16);
  auto e = MakeEngine(ch);
  Collected c;
  ASSERT_TRUE(e->Add(Request("a", 40, 100), Collect(c)).ok());
  ASSERT_TRUE(e->Step().ok());
  EXPECT_GT(e->blocks().num_used(), 0);
  ASSERT_TRUE(e->Cancel("a").ok());
  EXPECT_EQ(e->blocks().num_used(), 0);
  EXPECT_EQ(c.finish[Key("a", 0)], FinishReason::kCancelled);
  ASSERT_TRUE(e->Step().ok());  // tells the worker to drop it
  EXPECT_EQ(ch.num_live_sequences(), 0);
  EXPECT_EQ(e->Cancel("a").code(), absl::StatusCode::kNotFound);
}

TEST(EngineTest, StaticBatchingAdmitsNextBatchOnlyWhenAllFinished) {
  FakeWorkerChannel ch(64, 16);
  EngineOptions opts;
  opts.batching = BatchingMode::kStatic;
  opts.max_num_seqs = 2;
  auto e = MakeEngine(ch, opts);
  Collected c;
  ASSERT_TRUE(e->Add(Request("short", 4, 1), Collect(c)).ok());
  ASSERT_TRUE(e->Add(Request("long", 4, 5), Collect(c)).ok());
  ASSERT_TRUE(e->Add(Request("late", 4, 1), Collect(c)).ok());
  ASSERT_TRUE(e->Step().ok());
  // "short" finished after one token, but "late" must wait for "long".
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(e->Step().ok());
    EXPECT_EQ(e->num_waiting(), 1);
  }
  RunToCompletion(*e);
  EXPECT_EQ(c.tokens[Key("late", 0)].size(), 1u);
}

TEST(EngineTest, ContinuousBatchingAdmitsAsSoonAsASlotFrees) {
  FakeWorkerChannel ch(64, 16);
  EngineOptions opts;
  opts.max_num_seqs = 2;
  auto e = MakeEngine(ch, opts);
  Collected c;
  ASSERT_TRUE(e->Add(Request("short", 4, 1), Collect(c)).ok());
  ASSERT_TRUE(e->Add(Request("long", 4, 5), Collect(c)).ok());
  ASSERT_TRUE(e->Add(Request("late", 4, 1), Collect(c)).ok());
  ASSERT_TRUE(e->Step().ok());
  ASSERT_TRUE(e->Step().ok());
  EXPECT_EQ(e->num_waiting(), 0);
  RunToCompletion(*e);
}

TEST(EngineTest, RejectsPromptThatCannotFitTheContext) {
  FakeWorkerChannel ch(64, 16, /*context_length=*/32);
  auto e = MakeEngine(ch);
  Collected c;
  absl::Status s = e->Add(Request("big", 32, 1), Collect(c));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("context length"), std::string::npos);
  EXPECT_EQ(e->Add(Request("empty", 0, 1), Collect(c)).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(EngineTest, ContextLimitEndsGenerationWithLength) {
  FakeWorkerChannel ch(64, 16, /*context_length=*/10);
  auto e = MakeEngine(ch);
  Collected c;
  ASSERT_TRUE(e->Add(Request("a", 6, 100), Collect(c)).ok());
  RunToCompletion(*e);
  EXPECT_EQ(c.tokens[Key("a", 0)].size(), 4u);
  EXPECT_EQ(c.finish[Key("a", 0)], FinishReason::kLength);
}

TEST(EngineTest, ParallelSamplesAreSeparateSequencesWithDistinctIndices) {
  FakeWorkerChannel ch(64, 16);
  auto e = MakeEngine(ch);
  Collected c;
  GenerationRequest r = Request("n3", 5, 2);
  r.n = 3;
  r.params.seed = 42;
  ASSERT_TRUE(e->Add(r, Collect(c)).ok());
  RunToCompletion(*e);
  ASSERT_EQ(ch.plans[0].new_sequences.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(ch.plans[0].new_sequences[i].sample_index, static_cast<uint32_t>(i));
    EXPECT_EQ(ch.plans[0].new_sequences[i].seed, 42u);
    EXPECT_EQ(c.tokens[Key("n3", i)].size(), 2u);
  }
}

TEST(EngineTest, WorkerFailureFailsRequestsAndFreesBlocks) {
  FakeWorkerChannel ch(64, 16);
  auto e = MakeEngine(ch);
  Collected c;
  ASSERT_TRUE(e->Add(Request("a", 8, 5), Collect(c)).ok());
  ASSERT_TRUE(e->Step().ok());
  ch.fail_next = true;
  EXPECT_EQ(e->Step().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(c.finish[Key("a", 0)], FinishReason::kError);
  EXPECT_EQ(e->blocks().num_used(), 0);
  EXPECT_FALSE(e->HasWork());
}

}  // namespace
}  // namespace llm
