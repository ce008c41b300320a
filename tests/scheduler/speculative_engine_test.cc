// Speculative decoding in the scheduler, against the fake worker: drafts
// never change the output, rejected positions never leak blocks, budgets
// and per-request switches are honoured.
#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "scheduler/engine.h"
#include "scheduler/ngram_proposer.h"
#include "tests/scheduler/fake_worker_channel.h"

namespace llm {
namespace {

using testing::FakeWorkerChannel;

using Outputs = std::map<std::string, std::vector<int32_t>>;

struct RunResult {
  Outputs tokens;
  std::map<std::string, int> proposed, accepted;
  EngineStats stats;
  int steps = 0;
};

// A target whose output cycles through a 7-token pattern that the prompt
// also contains, so prompt lookup finds long matches.
int32_t Periodic(SeqId id, int index) {
  return static_cast<int32_t>(20 + (index + id) % 7);
}

GenerationRequest Req(const std::string& id, int prompt_len, int max_tokens,
                      std::optional<int> k = std::nullopt) {
  GenerationRequest r;
  r.request_id = id;
  for (int i = 0; i < prompt_len; ++i) r.prompt_tokens.push_back(20 + i % 7);
  r.params.temperature = 0.0f;
  r.max_tokens = max_tokens;
  r.num_speculative_tokens = k;
  return r;
}

RunResult Generate(FakeWorkerChannel& ch, EngineOptions opts,
             const std::vector<GenerationRequest>& reqs) {
  RunResult run;
  auto e = Engine::Create(opts, ch);
  EXPECT_TRUE(e.ok()) << e.status();
  for (const GenerationRequest& r : reqs) {
    const std::string id = r.request_id;
    EXPECT_TRUE((*e)->Add(r, [&run, id](const SequenceUpdate& u) {
                       for (const auto& t : u.new_tokens) run.tokens[id].push_back(t.token);
                       run.proposed[id] += u.num_proposed_draft_tokens;
                       run.accepted[id] += u.num_accepted_draft_tokens;
                     }).ok());
  }
  for (int i = 0; i < 100000 && (*e)->HasWork(); ++i) {
    EXPECT_TRUE((*e)->Step().ok());
    EXPECT_TRUE((*e)->blocks().CheckInvariants().ok());
    ++run.steps;
  }
  EXPECT_FALSE((*e)->HasWork());
  EXPECT_EQ((*e)->blocks().num_used(), 0);
  run.stats = (*e)->stats();
  return run;
}

EngineOptions Spec(DraftSource source, int k) {
  EngineOptions o;
  o.speculative.source = source;
  o.speculative.num_speculative_tokens = k;
  return o;
}

TEST(NgramProposerTest, ProposesTokensAfterLatestLongestMatch) {
  //                     0  1  2  3  4  5  6  7  8  9
  const std::vector<int32_t> t = {1, 2, 3, 9, 1, 2, 3, 8, 5, 1, 2, 3};
  // "1 2 3" last occurred at 4..6, followed by 8 5 1.
  EXPECT_EQ(ProposeNgramDraft(t, 3, 1, 3), (std::vector<int32_t>{8, 5, 1}));
  EXPECT_EQ(ProposeNgramDraft(t, 10, 1, 3), (std::vector<int32_t>{8, 5, 1, 2, 3}));
  EXPECT_TRUE(ProposeNgramDraft({4, 5, 6}, 3, 1, 3).empty());
  EXPECT_TRUE(ProposeNgramDraft(t, 0, 1, 3).empty());
  // Falls back to a shorter n: "7" matches only as a 1-gram.
  EXPECT_EQ(ProposeNgramDraft({7, 4, 1, 7}, 2, 1, 3), (std::vector<int32_t>{4, 1}));
}

TEST(SpeculativeEngineTest, NgramDraftsLeaveOutputUnchangedAndSaveSteps) {
  for (int k : {1, 3, 5}) {
    FakeWorkerChannel plain_ch(64, 4), spec_ch(64, 4);
    plain_ch.next_token = spec_ch.next_token = Periodic;
    std::vector<GenerationRequest> reqs = {Req("a", 30, 40), Req("b", 9, 25)};
    const RunResult plain = Generate(plain_ch, EngineOptions{}, reqs);
    const RunResult spec = Generate(spec_ch, Spec(DraftSource::kNgram, k), reqs);
    EXPECT_EQ(spec.tokens, plain.tokens) << "k=" << k;
    EXPECT_EQ(spec.tokens.at("a").size(), 40u);
    EXPECT_GT(spec.stats.spec_ngram_proposed_tokens, 0) << k;
    EXPECT_GT(spec.stats.spec_accepted_tokens, 0) << k;
    EXPECT_EQ(spec.stats.spec_accepted_tokens, spec_ch.accepted);
    EXPECT_EQ(spec.stats.spec_proposed_tokens, spec_ch.proposed);
    EXPECT_EQ(spec.proposed.at("a") + spec.proposed.at("b"), spec_ch.proposed);
    EXPECT_EQ(spec.stats.generated_tokens, plain.stats.generated_tokens);
    if (k > 1) EXPECT_LT(spec.steps, plain.steps) << k;
  }
}

TEST(SpeculativeEngineTest, ManyRejectionsUnderBlockPressureLeakNothing) {
  // 12 blocks of 4 tokens for four sequences of 10 + 30: preemptions and
  // rejections (the draft is wrong at every third index) interleave.
  for (int k : {1, 3, 5}) {
    FakeWorkerChannel plain_ch(12, 4), spec_ch(12, 4);
    spec_ch.draft_token = [](SeqId id, int index) {
      const int32_t right = static_cast<int32_t>(3 + (id * 31 + index) % 500);
      return index % 3 == 1 ? right + 1 : right;
    };
    EngineOptions plain_opts;
    plain_opts.admission_watermark = 0.0;
    EngineOptions spec_opts = Spec(DraftSource::kDraftModel, k);
    spec_opts.admission_watermark = 0.0;
    std::vector<GenerationRequest> reqs;
    for (const char* id : {"a", "b", "c", "d"}) reqs.push_back(Req(id, 10, 30));
    const RunResult plain = Generate(plain_ch, plain_opts, reqs);
    const RunResult spec = Generate(spec_ch, spec_opts, reqs);
    EXPECT_EQ(spec.tokens, plain.tokens) << "k=" << k;
    EXPECT_GT(spec.stats.preemptions, 0) << k;
    EXPECT_GT(spec.stats.spec_draft_model_proposed_tokens,
              spec.stats.spec_draft_model_accepted_tokens) << k;
    EXPECT_GT(spec.stats.spec_draft_model_accepted_tokens, 0) << k;
  }
}

TEST(SpeculativeEngineTest, RequestCanTurnSpeculationOffOrChooseK) {
  FakeWorkerChannel ch(64, 4);
  ch.next_token = Periodic;
  const RunResult run = Generate(ch, Spec(DraftSource::kNgram, 3),
                           {Req("off", 20, 20, 0), Req("k1", 20, 20, 1)});
  EXPECT_EQ(run.proposed.at("off"), 0);
  EXPECT_GT(run.proposed.at("k1"), 0);
  for (int k : ch.spec_sizes) EXPECT_LE(k, 1);
  EXPECT_EQ(run.tokens.at("off").size(), 20u);
}

TEST(SpeculativeEngineTest, RequestKIsCappedAtTheDeploymentMax) {
  FakeWorkerChannel ch(64, 4);
  ch.next_token = Periodic;
  EngineOptions opts = Spec(DraftSource::kNgram, 2);
  opts.speculative.max_num_speculative_tokens = 3;
  const RunResult run = Generate(ch, opts, {Req("greedy", 30, 30, 10)});
  EXPECT_GT(run.proposed.at("greedy"), 0);
  int largest = 0;
  for (int k : ch.spec_sizes) largest = std::max(largest, k);
  EXPECT_EQ(largest, 3);
}

TEST(SpeculativeEngineTest, LargeBatchesDoNotSpeculate) {
  FakeWorkerChannel plain_ch(64, 4), ch(64, 4);
  plain_ch.next_token = ch.next_token = Periodic;
  EngineOptions opts = Spec(DraftSource::kNgram, 3);
  opts.speculative.disable_by_batch_size = 2;
  const std::vector<GenerationRequest> reqs = {Req("long", 20, 30), Req("b", 20, 6),
                                               Req("c", 20, 6)};
  const RunResult run = Generate(ch, opts, reqs);
  EXPECT_EQ(run.tokens, Generate(plain_ch, EngineOptions{}, reqs).tokens);
  // While three sequences run, no chunk carries drafts; once two finished,
  // the last one speculates.
  bool saw_three = false;
  for (const StepPlan& p : ch.plans) {
    if (p.chunks.size() < 3) continue;
    saw_three = true;
    for (const ScheduledChunk& c : p.chunks) EXPECT_EQ(c.num_speculative_tokens, 0);
  }
  EXPECT_TRUE(saw_three);
  EXPECT_GT(run.proposed.at("long"), 0);
  EXPECT_EQ(run.proposed.at("b"), 0);
}

TEST(SpeculativeEngineTest, DraftModelSourceNeedsAWorkerWithADraftModel) {
  FakeWorkerChannel ch(64, 4);
  ch.has_draft_model = false;
  absl::StatusOr<std::unique_ptr<Engine>> e =
      Engine::Create(Spec(DraftSource::kDraftModel, 3), ch);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(e.status().message().find("draft model"), std::string::npos);
  // n-gram lookup needs nothing from the worker.
  EXPECT_TRUE(Engine::Create(Spec(DraftSource::kNgram, 3), ch).ok());
}

TEST(SpeculativeEngineTest, DefaultKAboveTheMaxIsInvalid) {
  FakeWorkerChannel ch(64, 4);
  EngineOptions opts = Spec(DraftSource::kNgram, 5);
  opts.speculative.max_num_speculative_tokens = 4;
  EXPECT_EQ(Engine::Create(opts, ch).status().code(), absl::StatusCode::kInvalidArgument);
  opts.speculative.max_num_speculative_tokens = kMaxSpeculativeTokens + 1;
  opts.speculative.num_speculative_tokens = 1;
  EXPECT_EQ(Engine::Create(opts, ch).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SpeculativeEngineTest, DraftsNeverReachPastMaxTokensOrTheContext) {
  FakeWorkerChannel ch(64, 4, /*context_length=*/40);
  ch.next_token = Periodic;
  const RunResult run = Generate(ch, Spec(DraftSource::kNgram, 5),
                           {Req("short", 10, 4), Req("long", 30, 100)});
  EXPECT_EQ(run.tokens.at("short").size(), 4u);
  // The context of 40 ends "long" after 10 tokens, as without drafts.
  EXPECT_EQ(run.tokens.at("long").size(), 10u);
  // Never a draft that could not be emitted: <= 3 for "short" (4 - 1).
  EXPECT_EQ(run.accepted.at("short") + 1 <= 4, true);
}

TEST(SpeculativeEngineTest, TokenBudgetCountsDraftPositions) {
  FakeWorkerChannel ch(64, 4);
  ch.next_token = Periodic;
  EngineOptions opts = Spec(DraftSource::kDraftModel, 5);
  opts.max_batched_tokens = 8;
  Generate(ch, opts, {Req("a", 4, 20), Req("b", 4, 20), Req("c", 4, 20)});
  for (const StepPlan& p : ch.plans) {
    int total = 0;
    for (const ScheduledChunk& c : p.chunks) total += c.num_tokens + c.num_speculative_tokens;
    EXPECT_LE(total, 8);
  }
}

TEST(SpeculativeEngineTest, AdaptiveKShrinksAfterRejections) {
  FakeWorkerChannel ch(64, 4);
  ch.draft_token = [](SeqId, int) { return 1; };  // always wrong
  EngineOptions opts = Spec(DraftSource::kDraftModel, 5);
  opts.speculative.adaptive = true;
  const RunResult run = Generate(ch, opts, {Req("a", 8, 12)});
  EXPECT_EQ(run.accepted.at("a"), 0);
  ASSERT_GE(ch.spec_sizes.size(), 3u);
  EXPECT_EQ(ch.spec_sizes[1], 5);  // first decode step: full K
  EXPECT_EQ(ch.spec_sizes[2], 1);  // then accepted + 1 = 1
}

}  // namespace
}  // namespace llm
