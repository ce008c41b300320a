#include "scheduler/engine.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
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

// The latest plan that admitted a sequence (later plans may only carry
// finished ids: the engine flushes them before reporting no work).
const StepPlan& LastAdmission(const FakeWorkerChannel& ch) {
  for (auto it = ch.plans.rbegin(); it != ch.plans.rend(); ++it) {
    if (!it->new_sequences.empty()) return *it;
  }
  return ch.plans.front();
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
  opts.enable_prefix_caching = false;  // pure recompute
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

TEST(EngineTest, CancelSampleEndsOneSampleAndFreesOnlyItsBlocks) {
  FakeWorkerChannel ch(64, 16);
  auto e = MakeEngine(ch);
  Collected c;
  GenerationRequest r = Request("n2", 40, 30);
  r.n = 2;
  ASSERT_TRUE(e->Add(r, Collect(c)).ok());
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(e->Step().ok());  // prefill, fork, decode
  const int used_both = e->blocks().num_used();
  ASSERT_TRUE(e->CancelSample("n2", 1).ok());
  EXPECT_EQ(c.finish[Key("n2", 1)], FinishReason::kCancelled);
  EXPECT_LT(e->blocks().num_used(), used_both);  // sample 1's own blocks
  EXPECT_GT(e->blocks().num_used(), 0);          // sample 0 still holds its
  EXPECT_EQ(e->CancelSample("n2", 1).code(), absl::StatusCode::kNotFound);
  RunToCompletion(*e);
  EXPECT_EQ(c.tokens[Key("n2", 0)].size(), 30u);
  EXPECT_EQ(c.finish[Key("n2", 0)], FinishReason::kLength);
  EXPECT_EQ(e->blocks().num_used(), 0);
  EXPECT_TRUE(e->blocks().CheckInvariants().ok());
  EXPECT_EQ(ch.num_live_sequences(), 0);
}

TEST(EngineTest, CancelSampleRefusesAParentWhoseSiblingsAwaitTheFork) {
  FakeWorkerChannel ch(64, 16);
  auto e = MakeEngine(ch);
  Collected c;
  GenerationRequest r = Request("n3", 40, 5);
  r.n = 3;
  ASSERT_TRUE(e->Add(r, Collect(c)).ok());
  EXPECT_EQ(e->CancelSample("n3", 0).code(), absl::StatusCode::kFailedPrecondition);
  RunToCompletion(*e);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(c.tokens[Key("n3", i)].size(), 5u) << i;
}

TEST(EngineTest, TokenUpdatesCarryWhenTheSequenceWasFirstScheduled) {
  FakeWorkerChannel ch(64, 16);
  EngineOptions opts;
  opts.max_batched_tokens = 16;  // the 40-token prompt takes 3 steps
  auto e = MakeEngine(ch, opts);
  absl::Time first_scheduled = absl::InfinitePast();
  const absl::Time before = absl::Now();
  ASSERT_TRUE(e->Add(Request("q", 40, 1), [&](const SequenceUpdate& u) {
                 if (!u.new_tokens.empty()) first_scheduled = u.first_scheduled;
               }).ok());
  ASSERT_TRUE(e->Step().ok());  // the first of three prefill chunks
  const absl::Time after_first_step = absl::Now();
  absl::SleepFor(absl::Milliseconds(5));
  RunToCompletion(*e);  // the token comes two steps later
  ASSERT_NE(first_scheduled, absl::InfinitePast());
  EXPECT_GE(first_scheduled, before);
  EXPECT_LE(first_scheduled, after_first_step);
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

TEST(EngineTest, ParallelSamplesShareThePromptBlocksAndCopyOnWrite) {
  FakeWorkerChannel ch(64, 16);
  EngineOptions opts;
  opts.enable_prefix_caching = false;  // sharing must not depend on it
  auto e = MakeEngine(ch, opts);
  Collected c;
  GenerationRequest r = Request("n3", 40, 4);  // 3 blocks, the last partial
  r.n = 3;
  r.params.seed = 42;
  ASSERT_TRUE(e->Add(r, Collect(c)).ok());
  // Step 1: only sample 0 prefills the 40 prompt tokens.
  ASSERT_TRUE(e->Step().ok());
  ASSERT_EQ(ch.plans[0].new_sequences.size(), 1u);
  EXPECT_EQ(ch.plans[0].chunks[0].num_tokens, 40);
  // Step 2: samples 1 and 2 fork: they recompute only the last prompt token,
  // each into a copy of the shared last block.
  ASSERT_TRUE(e->Step().ok());
  const StepPlan& fork = ch.plans[1];
  ASSERT_EQ(fork.new_sequences.size(), 2u);
  for (const SequenceSpec& spec : fork.new_sequences) {
    EXPECT_EQ(spec.num_computed_tokens, 39);
    EXPECT_EQ(spec.seed, 42u);
    EXPECT_EQ(spec.block_table[0], ch.plans[0].new_sequences[0].block_table[0]);
  }
  EXPECT_GE(fork.block_copies.size(), 2u);
  // 3 samples of 40 + 4 tokens each would need 9 blocks unshared.
  EXPECT_LT(e->blocks().num_used(), 9);
  RunToCompletion(*e);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(c.tokens[Key("n3", i)].size(), 4u);
  EXPECT_EQ(e->blocks().num_used(), 0);
  EXPECT_TRUE(e->blocks().CheckInvariants().ok());
}

TEST(EngineTest, SharedPrefixHitsThePrefixCache) {
  FakeWorkerChannel ch(64, 16);
  auto e = MakeEngine(ch);
  Collected c;
  ASSERT_TRUE(e->Add(Request("first", 50, 2), Collect(c)).ok());
  RunToCompletion(*e);
  // Same 50-token prompt: the 3 full blocks (48 tokens) are cached.
  int cached = -1;
  ASSERT_TRUE(e->Add(Request("second", 50, 2), [&](const SequenceUpdate& u) {
                cached = u.num_cached_tokens;
              }).ok());
  RunToCompletion(*e);
  EXPECT_EQ(cached, 48);
  EXPECT_EQ(e->stats().prefix_cache_hit_tokens, 48);
  const StepPlan& admit = LastAdmission(ch);
  ASSERT_EQ(admit.new_sequences.size(), 1u);
  EXPECT_EQ(admit.new_sequences[0].num_computed_tokens, 48);
  EXPECT_EQ(admit.chunks[0].num_tokens, 2);
  EXPECT_TRUE(e->blocks().CheckInvariants().ok());
}

TEST(EngineTest, PromptOfWholeBlocksStillRecomputesItsLastToken) {
  FakeWorkerChannel ch(64, 16);
  auto e = MakeEngine(ch);
  Collected c;
  ASSERT_TRUE(e->Add(Request("a", 32, 1), Collect(c)).ok());
  RunToCompletion(*e);
  ASSERT_TRUE(e->Add(Request("b", 32, 1), Collect(c)).ok());
  RunToCompletion(*e);
  // Only the first block may hit; the second holds the last prompt token.
  const StepPlan& admit = LastAdmission(ch);
  ASSERT_EQ(admit.new_sequences.size(), 1u);
  EXPECT_EQ(admit.new_sequences[0].num_computed_tokens, 16);
  EXPECT_EQ(admit.chunks[0].num_tokens, 16);
}

TEST(EngineTest, CachedBlocksAreEvictedWhenThePoolIsNeeded) {
  FakeWorkerChannel ch(/*num_blocks=*/4, /*block_size=*/4);
  EngineOptions opts;
  opts.admission_watermark = 0.0;
  auto e = MakeEngine(ch, opts);
  Collected c;
  ASSERT_TRUE(e->Add(Request("a", 12, 1), Collect(c)).ok());
  RunToCompletion(*e);
  EXPECT_EQ(e->blocks().num_free(), 4);  // cached but evictable
  GenerationRequest other = Request("b", 12, 4);
  other.prompt_tokens.assign(12, 99);  // different prefix: must evict
  ASSERT_TRUE(e->Add(other, Collect(c)).ok());
  RunToCompletion(*e);
  EXPECT_EQ(c.tokens[Key("b", 0)].size(), 4u);
  EXPECT_TRUE(e->blocks().CheckInvariants().ok());
}

TEST(EngineTest, CancellingParallelSamplesBeforeTheForkFreesEverything) {
  FakeWorkerChannel ch(64, 16);
  auto e = MakeEngine(ch);
  Collected c;
  GenerationRequest r = Request("n4", 40, 8);
  r.n = 4;
  ASSERT_TRUE(e->Add(r, Collect(c)).ok());
  ASSERT_TRUE(e->Cancel("n4").ok());
  for (int i = 0; i < 4; ++i) EXPECT_EQ(c.finish[Key("n4", i)], FinishReason::kCancelled);
  EXPECT_FALSE(e->HasWork());
  EXPECT_EQ(e->blocks().num_used(), 0);
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
