// Async scheduling (EngineOptions::async_scheduling): the engine plans and
// submits step N+1 before it applies step N. The fake worker channel runs a
// submitted plan only when it is awaited (WorkerChannel's default Submit /
// Await), so every plan here really is built before its predecessor's
// result exists, and the fake checks each plan against the state its
// predecessors left (known tokens, block tables, exclusive writes). Outputs
// must equal the synchronous engine's: the fake's tokens depend only on
// (sequence, output index), so any lost, duplicated or misplaced token
// shows.
#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "scheduler/engine.h"
#include "scheduler/worker_group_channel.h"
#include "tests/scheduler/fake_worker_channel.h"

namespace llm {
namespace {

using testing::FakeWorkerChannel;

// Counts the plans submitted and not yet awaited.
class ProbeChannel : public FakeWorkerChannel {
 public:
  using FakeWorkerChannel::FakeWorkerChannel;

  absl::Status Submit(const StepPlan& plan) override {
    if (on_submit) on_submit(plan);
    ++outstanding;
    max_outstanding = std::max(max_outstanding, outstanding);
    return WorkerChannel::Submit(plan);
  }
  absl::StatusOr<StepResult> Await() override {
    --outstanding;
    return WorkerChannel::Await();
  }

  int outstanding = 0;
  int max_outstanding = 0;
  std::function<void(const StepPlan&)> on_submit;
};

using Key = std::pair<std::string, int>;

struct Outcome {
  std::map<Key, std::vector<int32_t>> tokens;
  std::map<Key, FinishReason> finish;
  int64_t generated = 0;
  int64_t preemptions = 0;
  int64_t prefix_hits = 0;
};

UpdateCallback Collect(Outcome& o) {
  return [&o](const SequenceUpdate& u) {
    const Key key{u.request_id, u.sample_index};
    EXPECT_FALSE(o.finish.contains(key)) << "update after the finish of " << key.first;
    for (const SampledToken& t : u.new_tokens) o.tokens[key].push_back(t.token);
    if (u.finish_reason != FinishReason::kNone) o.finish[key] = u.finish_reason;
  };
}

GenerationRequest Request(const std::string& id, int prompt_len, int max_tokens,
                          int salt = 0) {
  GenerationRequest r;
  r.request_id = id;
  for (int i = 0; i < prompt_len; ++i) r.prompt_tokens.push_back(10 + (i + salt) % 50);
  r.params.temperature = 0.0f;
  r.max_tokens = max_tokens;
  return r;
}

std::unique_ptr<Engine> MakeEngine(FakeWorkerChannel& ch, EngineOptions opts,
                                   bool async) {
  opts.async_scheduling = async;
  auto e = Engine::Create(opts, ch);
  EXPECT_TRUE(e.ok()) << e.status();
  EXPECT_EQ((*e)->pipelined(), async);
  return std::move(*e);
}

void RunToCompletion(Engine& e, int max_steps = 100000) {
  for (int i = 0; i < max_steps && e.HasWork(); ++i) {
    ASSERT_TRUE(e.Step().ok());
    // Between Step() calls at most one step is in flight.
    ASSERT_LE(e.num_steps_in_flight(), 1);
  }
  ASSERT_FALSE(e.HasWork());
}

// Everything is returned: no block held, no sequence left on the worker.
void ExpectClean(const Engine& e, const FakeWorkerChannel& ch) {
  EXPECT_EQ(e.blocks().num_used(), 0);
  EXPECT_TRUE(e.blocks().CheckInvariants().ok()) << e.blocks().CheckInvariants();
  EXPECT_EQ(ch.num_live_sequences(), 0);
  EXPECT_EQ(e.num_steps_in_flight(), 0);
}

struct Workload {
  int num_blocks = 64;
  int block_size = 16;
  int context_length = 4096;
  EngineOptions options;
  std::vector<GenerationRequest> requests;
  // Token at (sequence, output index); unset: the fake's default.
  std::function<int32_t(SeqId, int)> next_token;
};

Outcome RunWorkload(const Workload& w, bool async) {
  FakeWorkerChannel ch(w.num_blocks, w.block_size, w.context_length);
  ch.next_token = w.next_token;
  auto e = MakeEngine(ch, w.options, async);
  Outcome o;
  for (const GenerationRequest& r : w.requests) {
    EXPECT_TRUE(e->Add(r, Collect(o)).ok()) << r.request_id;
  }
  RunToCompletion(*e);
  ExpectClean(*e, ch);
  o.generated = e->stats().generated_tokens;
  o.preemptions = e->stats().preemptions;
  o.prefix_hits = e->stats().prefix_cache_hit_tokens;
  return o;
}

void ExpectSameOutputs(const Outcome& sync, const Outcome& async) {
  EXPECT_EQ(async.tokens, sync.tokens);
  EXPECT_EQ(async.finish, sync.finish);
  EXPECT_EQ(async.generated, sync.generated);
}

// EOS (id 2) at output index (seq * 7) % 11 for odd sequences.
int32_t EosSometimes(SeqId id, int index) {
  if (id % 2 == 1 && index == static_cast<int>((id * 7) % 11)) return 2;
  return static_cast<int32_t>(3 + (id * 31 + index) % 500);
}

TEST(AsyncSchedulingTest, PlansTheNextStepBeforeThePreviousResultIsApplied) {
  ProbeChannel ch(64, 16);
  auto e = MakeEngine(ch, {}, /*async=*/true);
  int delivered = 0;
  std::vector<int> delivered_at_submit;
  ch.on_submit = [&](const StepPlan&) { delivered_at_submit.push_back(delivered); };
  GenerationRequest r = Request("a", 4, 5);
  ASSERT_TRUE(e->Add(r, [&](const SequenceUpdate& u) {
                delivered += static_cast<int>(u.new_tokens.size());
              }).ok());
  RunToCompletion(*e);
  // Timeline: plan 1 = prefill (4 tokens, samples token 0); plan 2 = the
  // decode of token 0, sent before token 0 has come back; ... plan 5 =
  // decode of token 3 (samples token 4, the last: nothing is planned after
  // it).
  EXPECT_EQ(ch.chunk_sizes, (std::vector<int>{4, 1, 1, 1, 1}));
  // (The last plan only tells the worker to drop the finished sequence.)
  EXPECT_EQ(delivered_at_submit, (std::vector<int>{0, 0, 1, 2, 3, 5}));
  EXPECT_EQ(ch.max_outstanding, 2);
  EXPECT_EQ(delivered, 5);
  for (const StepPlan& p : ch.plans) {
    for (const ScheduledChunk& c : p.chunks) EXPECT_TRUE(c.sample);
  }
  ExpectClean(*e, ch);
}

TEST(AsyncSchedulingTest, EosCostsOneDiscardedRowAndMaxTokensNone) {
  Workload w;
  w.options.eog_token_ids = {2};
  w.next_token = [](SeqId id, int index) { return id == 1 && index == 2 ? 2 : 7; };
  w.requests.push_back(Request("eos", 4, 10));  // seq 1: EOS as token 2
  w.requests.push_back(Request("len", 4, 3));   // seq 2: max_tokens 3
  FakeWorkerChannel ch(64, 16);
  ch.next_token = w.next_token;
  auto e = MakeEngine(ch, w.options, /*async=*/true);
  Outcome o;
  for (const GenerationRequest& r : w.requests) ASSERT_TRUE(e->Add(r, Collect(o)).ok());
  RunToCompletion(*e);
  ExpectClean(*e, ch);
  o.generated = e->stats().generated_tokens;
  EXPECT_EQ(o.tokens[Key("eos", 0)], (std::vector<int32_t>{7, 7, 2}));
  EXPECT_EQ(o.finish[Key("eos", 0)], FinishReason::kStop);
  EXPECT_EQ(o.tokens[Key("len", 0)].size(), 3u);
  std::map<SeqId, int> chunks;
  for (const StepPlan& p : ch.plans) {
    for (const ScheduledChunk& c : p.chunks) ++chunks[c.seq_id];
  }
  // The EOS was seen only after the step behind it had been sent: 3 + 1.
  EXPECT_EQ(chunks[1], 4);
  // The length limit is known ahead: exactly one chunk per token.
  EXPECT_EQ(chunks[2], 3);
  ExpectSameOutputs(RunWorkload(w, false), o);
}

TEST(AsyncSchedulingTest, MixedBatchMatchesSynchronous) {
  Workload w;
  w.options.eog_token_ids = {2};
  w.options.max_batched_tokens = 48;  // chunked prefills between decodes
  w.next_token = EosSometimes;
  const int prompts[] = {1, 5, 16, 17, 33, 64, 90, 7};
  const int max_tokens[] = {1, 12, 30, 2, 25, 9, 17, 40};
  for (int i = 0; i < 8; ++i) {
    GenerationRequest r = Request("r" + std::to_string(i), prompts[i], max_tokens[i], i);
    if (i == 6) r.ignore_eos = true;
    if (i == 7) r.stop_token_ids = {3 + static_cast<int32_t>((8 * 31 + 5) % 500)};
    w.requests.push_back(r);
  }
  const Outcome sync = RunWorkload(w, false);
  const Outcome async = RunWorkload(w, true);
  ExpectSameOutputs(sync, async);
  EXPECT_EQ(sync.finish.at(Key("r7", 0)), FinishReason::kStop);  // the stop id
  EXPECT_EQ(sync.tokens.at(Key("r7", 0)).size(), 6u);
}

TEST(AsyncSchedulingTest, ForkedSamplesMatchSynchronousAtEveryPromptAlignment) {
  // Sample 0's first decode is planned before its first token returns, so
  // it writes position num_prompt into the last prompt block before the
  // other samples fork from that block: prompts that end inside a block,
  // on its last slot and on a block boundary.
  for (int prompt : {40, 47, 48, 1}) {
    Workload w;
    w.options.enable_prefix_caching = prompt != 40;
    GenerationRequest r = Request("n4", prompt, 9);
    r.n = 4;
    w.requests.push_back(r);
    w.requests.push_back(Request("other", 20, 12, 3));
    const Outcome sync = RunWorkload(w, false);
    const Outcome async = RunWorkload(w, true);
    ExpectSameOutputs(sync, async);
    for (int i = 0; i < 4; ++i) {
      EXPECT_EQ(async.tokens.at(Key("n4", i)).size(), 9u) << "prompt " << prompt;
    }
  }
}

TEST(AsyncSchedulingTest, CancellingWithAStepInFlightDropsItsResult) {
  ProbeChannel ch(64, 16);
  auto e = MakeEngine(ch, {}, /*async=*/true);
  Outcome o;
  ASSERT_TRUE(e->Add(Request("a", 20, 50), Collect(o)).ok());
  ASSERT_TRUE(e->Add(Request("b", 20, 10, 1), Collect(o)).ok());
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(e->Step().ok());
  ASSERT_EQ(e->num_steps_in_flight(), 1);  // holds a decode of "a"
  const size_t before = o.tokens[Key("a", 0)].size();
  ASSERT_TRUE(e->Cancel("a").ok());
  EXPECT_EQ(o.finish[Key("a", 0)], FinishReason::kCancelled);
  RunToCompletion(*e);
  EXPECT_EQ(o.tokens[Key("a", 0)].size(), before);  // nothing after the cancel
  EXPECT_EQ(o.tokens[Key("b", 0)].size(), 10u);
  ExpectClean(*e, ch);
  // "b" is unaffected by the blocks "a" gave back while its step ran.
  Workload alone;
  alone.requests.push_back(Request("a", 20, 50));  // keeps seq ids aligned
  alone.requests.push_back(Request("b", 20, 10, 1));
  EXPECT_EQ(o.tokens[Key("b", 0)], RunWorkload(alone, false).tokens.at(Key("b", 0)));
}

TEST(AsyncSchedulingTest, CancellingASampleWithAStepInFlightKeepsItsSiblings) {
  FakeWorkerChannel ch(64, 16);
  auto e = MakeEngine(ch, {}, /*async=*/true);
  Outcome o;
  GenerationRequest r = Request("n3", 40, 20);
  r.n = 3;
  ASSERT_TRUE(e->Add(r, Collect(o)).ok());
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(e->Step().ok());
  ASSERT_TRUE(e->CancelSample("n3", 1).ok());
  RunToCompletion(*e);
  EXPECT_EQ(o.finish[Key("n3", 1)], FinishReason::kCancelled);
  EXPECT_EQ(o.tokens[Key("n3", 0)].size(), 20u);
  EXPECT_EQ(o.tokens[Key("n3", 2)].size(), 20u);
  ExpectClean(*e, ch);
}

TEST(AsyncSchedulingTest, PreemptionWithASampleInFlightLosesNothing) {
  // 6 blocks of 4 tokens for three sequences of 8 + 8 tokens: some are
  // preempted while their last sample is in flight; that sample must reach
  // `tokens` before the sequence is sent to the worker again.
  Workload w;
  w.num_blocks = 6;
  w.block_size = 4;
  w.options.admission_watermark = 0.0;
  for (const char* id : {"a", "b", "c"}) w.requests.push_back(Request(id, 8, 8));
  for (bool caching : {true, false}) {
    w.options.enable_prefix_caching = caching;
    FakeWorkerChannel ch(w.num_blocks, w.block_size);
    auto e = MakeEngine(ch, w.options, /*async=*/true);
    Outcome o;
    for (const GenerationRequest& r : w.requests) ASSERT_TRUE(e->Add(r, Collect(o)).ok());
    RunToCompletion(*e);
    ExpectClean(*e, ch);
    o.generated = e->stats().generated_tokens;
    EXPECT_GT(e->stats().preemptions, 0);
    // Some preemption hit a sequence whose sample was in flight: the plan
    // that dropped it follows a plan in which it sampled, and it resumed.
    bool in_flight_preemption = false;
    for (size_t k = 1; k < ch.plans.size(); ++k) {
      for (SeqId id : ch.plans[k].finished) {
        const bool sampled = std::any_of(
            ch.plans[k - 1].chunks.begin(), ch.plans[k - 1].chunks.end(),
            [id](const ScheduledChunk& c) { return c.seq_id == id && c.sample; });
        bool resumed = false;
        for (size_t j = k; j < ch.plans.size(); ++j) {
          for (const SequenceSpec& s : ch.plans[j].new_sequences) {
            if (s.seq_id == id && !s.output_tokens.empty()) resumed = true;
          }
        }
        in_flight_preemption = in_flight_preemption || (sampled && resumed);
      }
    }
    EXPECT_TRUE(in_flight_preemption);
    ExpectSameOutputs(RunWorkload(w, false), o);
  }
}

TEST(AsyncSchedulingTest, BlocksEnterThePrefixCacheOnlyWhenTheirStepReturned) {
  FakeWorkerChannel ch(64, 16);
  auto e = MakeEngine(ch, {}, /*async=*/true);
  Outcome o;
  ASSERT_TRUE(e->Add(Request("first", 50, 4), Collect(o)).ok());
  ASSERT_TRUE(e->Step().ok());  // first's prefill is submitted, not returned
  ASSERT_TRUE(e->Add(Request("early", 50, 4), Collect(o)).ok());
  ASSERT_TRUE(e->Step().ok());  // plans "early" before first's result
  RunToCompletion(*e);
  ASSERT_TRUE(e->Add(Request("late", 50, 4), Collect(o)).ok());
  RunToCompletion(*e);
  std::map<SeqId, int> computed_at_admission;
  for (const StepPlan& p : ch.plans) {
    for (const SequenceSpec& s : p.new_sequences) {
      computed_at_admission[s.seq_id] = s.num_computed_tokens;
    }
  }
  EXPECT_EQ(computed_at_admission[2], 0);   // nothing cached yet
  EXPECT_EQ(computed_at_admission[3], 48);  // the 3 full prompt blocks
  EXPECT_EQ(e->stats().prefix_cache_hit_tokens, 48);
  EXPECT_EQ(o.tokens[Key("late", 0)].size(), 4u);
  ExpectClean(*e, ch);
}

TEST(AsyncSchedulingTest, BlocksOfAFailedStepNeverEnterThePrefixCache) {
  FakeWorkerChannel ch(64, 16);
  EngineOptions opts;
  opts.max_batched_tokens = 32;
  auto e = MakeEngine(ch, opts, /*async=*/true);
  Outcome o;
  ASSERT_TRUE(e->Add(Request("a", 64, 4), Collect(o)).ok());
  ASSERT_TRUE(e->Step().ok());  // tokens [0, 32) submitted
  ASSERT_TRUE(e->Step().ok());  // [32, 64) submitted, [0, 32) applied
  ch.fail_next = true;          // [32, 64) fails
  EXPECT_EQ(e->Step().code(), absl::StatusCode::kUnavailable);
  ch.ResetSession();
  // Only the 2 blocks of the step that returned are cached, though the
  // failed step had been planned (num_computed 64) when they were hashed.
  int cached = -1;
  ASSERT_TRUE(e->Add(Request("b", 64, 4), [&](const SequenceUpdate& u) {
                cached = u.num_cached_tokens;
              }).ok());
  RunToCompletion(*e);
  EXPECT_EQ(cached, 32);
  ExpectClean(*e, ch);
}

TEST(AsyncSchedulingTest, AParentPreemptedBeforeItsFirstSampleReturnsForksLater) {
  // 5 blocks of 4. Step 1: "a" (8 tokens, 2 blocks) and sample 0 of "n3"
  // (12 tokens, 3 blocks) prefill. Step 2 is planned before their samples
  // return: "a" needs a third block, so the newest running sequence, the
  // parent of the two unforked samples, is preempted; its first sample
  // then returns to a parent without blocks, which must not fork yet.
  Workload w;
  w.num_blocks = 5;
  w.block_size = 4;
  w.options.admission_watermark = 0.0;
  w.requests.push_back(Request("a", 8, 4));
  GenerationRequest r = Request("n3", 12, 3, 7);
  r.n = 3;
  w.requests.push_back(r);
  FakeWorkerChannel ch(w.num_blocks, w.block_size);
  auto e = MakeEngine(ch, w.options, /*async=*/true);
  Outcome o;
  for (const GenerationRequest& req : w.requests) ASSERT_TRUE(e->Add(req, Collect(o)).ok());
  ASSERT_TRUE(e->Step().ok());
  ASSERT_TRUE(e->Step().ok());
  EXPECT_EQ(e->stats().preemptions, 1);
  EXPECT_EQ(e->num_waiting(), 1);  // the parent; its samples wait on it
  EXPECT_EQ(o.tokens[Key("n3", 0)].size(), 1u);  // its sample was kept
  RunToCompletion(*e);
  ExpectClean(*e, ch);
  o.generated = e->stats().generated_tokens;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(o.tokens[Key("n3", i)].size(), 3u) << i;
  ExpectSameOutputs(RunWorkload(w, false), o);
}

TEST(AsyncSchedulingTest, PrefixCacheHitsAcrossRequestsMatchSynchronous) {
  Workload w;
  w.options.max_batched_tokens = 32;
  // Three requests on one 60-token prefix, two of them extending it.
  GenerationRequest base = Request("base", 60, 6);
  w.requests.push_back(base);
  for (int i = 0; i < 2; ++i) {
    GenerationRequest r = base;
    r.request_id = "ext" + std::to_string(i);
    for (int k = 0; k < 20 + 9 * i; ++k) r.prompt_tokens.push_back(70 + k + i);
    w.requests.push_back(r);
  }
  const Outcome sync = RunWorkload(w, false);
  const Outcome async = RunWorkload(w, true);
  ExpectSameOutputs(sync, async);
}

TEST(AsyncSchedulingTest, StaticBatchingMatchesSynchronous) {
  Workload w;
  w.options.batching = BatchingMode::kStatic;
  w.options.max_num_seqs = 3;
  w.options.eog_token_ids = {2};
  w.next_token = EosSometimes;
  for (int i = 0; i < 7; ++i) {
    w.requests.push_back(Request("s" + std::to_string(i), 5 + 9 * i, 3 + 4 * i, i));
  }
  ExpectSameOutputs(RunWorkload(w, false), RunWorkload(w, true));
}

TEST(AsyncSchedulingTest, RandomWorkloadsMatchSynchronous) {
  for (uint32_t seed = 1; seed <= 40; ++seed) {
    std::mt19937 rng(seed);
    auto uniform = [&rng](int lo, int hi) {
      return std::uniform_int_distribution<int>(lo, hi)(rng);
    };
    Workload w;
    w.block_size = uniform(0, 1) == 0 ? 4 : 16;
    w.context_length = uniform(0, 3) == 0 ? 72 : 4096;
    w.options.max_batched_tokens = uniform(8, 128);
    w.options.max_num_seqs = uniform(1, 8);
    w.options.batching = uniform(0, 4) == 0 ? BatchingMode::kStatic : BatchingMode::kContinuous;
    w.options.enable_prefix_caching = uniform(0, 3) != 0;
    w.options.admission_watermark = 0.0;
    w.options.eog_token_ids = {2};
    const int eos_mod = uniform(5, 40);
    w.next_token = [eos_mod](SeqId id, int index) {
      const int32_t t = static_cast<int32_t>(3 + (id * 31 + index * 17) % 400);
      return (id * 13 + index) % eos_mod == 0 ? 2 : t;
    };
    int longest = 0;
    const int num_requests = uniform(1, 10);
    for (int i = 0; i < num_requests; ++i) {
      const int prompt = uniform(1, 60);
      GenerationRequest r = Request("q" + std::to_string(i), prompt,
                                    uniform(1, 30), uniform(0, 2) == 0 ? 0 : i);
      r.n = uniform(0, 4) == 0 ? uniform(2, 4) : 1;
      r.ignore_eos = uniform(0, 3) == 0;
      if (uniform(0, 3) == 0) r.stop_token_ids = {static_cast<int32_t>(uniform(3, 402))};
      longest = std::max(longest, prompt + r.max_tokens);
      w.requests.push_back(r);
    }
    // Tight: preemption, but any one sequence fits alone.
    w.num_blocks = (longest + w.block_size - 1) / w.block_size + uniform(1, 12);
    SCOPED_TRACE("seed " + std::to_string(seed));
    const Outcome sync = RunWorkload(w, false);
    const Outcome async = RunWorkload(w, true);
    ExpectSameOutputs(sync, async);
  }
}

TEST(AsyncSchedulingTest, WorkerFailureWithAStepInFlightFailsEverythingOnce) {
  FakeWorkerChannel ch(64, 16);
  auto e = MakeEngine(ch, {}, /*async=*/true);
  Outcome o;
  ASSERT_TRUE(e->Add(Request("a", 8, 20), Collect(o)).ok());
  GenerationRequest n2 = Request("n2", 30, 20, 4);
  n2.n = 2;
  ASSERT_TRUE(e->Add(n2, Collect(o)).ok());
  ASSERT_TRUE(e->Step().ok());
  ASSERT_TRUE(e->Step().ok());
  ASSERT_EQ(e->num_steps_in_flight(), 1);
  ch.fail_next = true;  // the step awaited next fails
  EXPECT_EQ(e->Step().code(), absl::StatusCode::kUnavailable);
  for (const Key& k : {Key("a", 0), Key("n2", 0), Key("n2", 1)}) {
    EXPECT_EQ(o.finish[k], FinishReason::kError) << k.first << k.second;
  }
  EXPECT_FALSE(e->HasWork());
  EXPECT_EQ(e->num_steps_in_flight(), 0);
  EXPECT_EQ(e->blocks().num_used(), 0);
  EXPECT_TRUE(e->blocks().CheckInvariants().ok());
  // The channel holds no stale step: a new request runs normally.
  ch.ResetSession();
  ASSERT_TRUE(e->Add(Request("after", 8, 5, 2), Collect(o)).ok());
  RunToCompletion(*e);
  EXPECT_EQ(o.tokens[Key("after", 0)].size(), 5u);
  ExpectClean(*e, ch);
}

// A plan the worker rejects (the session stays up) fails the requests in
// flight, and the next plan tells the worker to drop their state, which it
// would otherwise keep until the session ended.
TEST(AsyncSchedulingTest, RejectedPlanFailsRequestsAndTheWorkerDropsTheirState) {
  for (bool async : {false, true}) {
    SCOPED_TRACE(async ? "async" : "synchronous");
    FakeWorkerChannel ch(64, 16);
    auto e = MakeEngine(ch, {}, async);
    Outcome o;
    ASSERT_TRUE(e->Add(Request("a", 8, 20), Collect(o)).ok());
    ASSERT_TRUE(e->Add(Request("b", 40, 20), Collect(o)).ok());
    ASSERT_TRUE(e->Step().ok());
    ASSERT_TRUE(e->Step().ok());
    ASSERT_GT(ch.num_live_sequences(), 0);
    ch.fail_next = true;
    ch.fail_code = absl::StatusCode::kInvalidArgument;
    absl::Status failed = absl::OkStatus();
    for (int i = 0; i < 3 && failed.ok(); ++i) failed = e->Step();
    EXPECT_EQ(failed.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(o.finish[Key("a", 0)], FinishReason::kError);
    EXPECT_EQ(o.finish[Key("b", 0)], FinishReason::kError);
    EXPECT_EQ(e->blocks().num_used(), 0);
    // Same session: the next request's plans carry the failed ids first.
    ASSERT_TRUE(e->Add(Request("after", 8, 5, 2), Collect(o)).ok());
    RunToCompletion(*e);
    EXPECT_EQ(o.tokens[Key("after", 0)].size(), 5u);
    ExpectClean(*e, ch);
  }
}

TEST(AsyncSchedulingTest, TensorParallelGroupMatchesSynchronousAndChecksEveryRank) {
  // Two fake ranks behind a WorkerGroupChannel: Submit hands each plan to
  // both, Await collects both results of the oldest.
  auto run = [](bool async, bool disagree) {
    std::vector<std::unique_ptr<WorkerChannel>> ranks;
    std::vector<FakeWorkerChannel*> fakes;
    for (int r = 0; r < 2; ++r) {
      auto fake = std::make_unique<FakeWorkerChannel>(64, 16);
      fakes.push_back(fake.get());
      ranks.push_back(std::move(fake));
    }
    if (disagree) {
      fakes[1]->next_token = [](SeqId id, int index) { return index == 3 ? 9 : 7; };
      fakes[0]->next_token = [](SeqId, int) { return 7; };
    }
    WorkerGroupChannel group(std::move(ranks));
    EngineOptions opts;
    opts.async_scheduling = async;
    auto e = Engine::Create(opts, group);
    EXPECT_TRUE(e.ok());
    Outcome o;
    GenerationRequest n2 = Request("n2", 30, 9);
    n2.n = 2;
    EXPECT_TRUE((*e)->Add(n2, Collect(o)).ok());
    EXPECT_TRUE((*e)->Add(Request("b", 7, 5, 1), Collect(o)).ok());
    absl::Status last;
    for (int i = 0; i < 1000 && (*e)->HasWork() && last.ok(); ++i) last = (*e)->Step();
    EXPECT_EQ((*e)->blocks().num_used(), 0);
    if (!disagree) {
      EXPECT_TRUE(last.ok()) << last;
      for (FakeWorkerChannel* f : fakes) EXPECT_EQ(f->num_live_sequences(), 0);
      EXPECT_EQ(fakes[0]->plans.size(), fakes[1]->plans.size());
    } else {
      EXPECT_EQ(last.code(), absl::StatusCode::kInternal) << last;
    }
    return o;
  };
  const Outcome sync = run(false, false);
  ExpectSameOutputs(sync, run(true, false));
  EXPECT_EQ(sync.tokens.at(Key("n2", 1)).size(), 9u);
  const Outcome failed = run(true, true);
  EXPECT_EQ(failed.finish.at(Key("b", 0)), FinishReason::kError);
}

TEST(AsyncSchedulingTest, SpeculativeDecodingKeepsStepsSynchronous) {
  FakeWorkerChannel ch(64, 16);
  EngineOptions opts;
  opts.async_scheduling = true;
  opts.speculative.source = DraftSource::kNgram;
  opts.speculative.num_speculative_tokens = 3;
  auto e = Engine::Create(opts, ch);
  ASSERT_TRUE(e.ok());
  EXPECT_FALSE((*e)->pipelined());
  Outcome o;
  ASSERT_TRUE((*e)->Add(Request("a", 30, 12), Collect(o)).ok());
  for (int i = 0; i < 1000 && (*e)->HasWork(); ++i) {
    ASSERT_TRUE((*e)->Step().ok());
    EXPECT_EQ((*e)->num_steps_in_flight(), 0);
  }
  EXPECT_EQ(o.tokens[Key("a", 0)].size(), 12u);
}

}  // namespace
}  // namespace llm
