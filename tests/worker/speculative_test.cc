// Speculative decoding end to end (scheduler + model runner + real or tiny
// model): greedy output identical token for token with and without drafts
// (n-gram and draft model, K in {1, 3, 5}, alone and next to
// non-speculating requests), and sampled output distributed as without
// drafts on a tiny random model.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "scheduler/engine.h"
#include "tests/tools/run_binary.h"
#include "worker/in_process_channel.h"
#include "worker/local_worker.h"

namespace llm {
namespace {

std::string RealModel() {
  return std::string(LLM_SOURCE_DIR) + "/models/SmolLM2-135M-Instruct.Q4_1.gguf";
}

bool Exists(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f != nullptr) std::fclose(f);
  return f != nullptr;
}

struct Job {
  std::vector<int32_t> prompt;
  std::optional<int> k;  // per-request speculation override
  SamplingParams params;
  int n = 1;
  int max_tokens = 24;
};

struct Outcome {
  std::vector<std::vector<int32_t>> tokens;  // job-major, sample-minor
  EngineStats stats;
};

Outcome RunJobs(LocalWorker& worker, const std::vector<Job>& jobs,
                SpeculativeOptions spec) {
  InProcessWorkerChannel channel(worker);
  EngineOptions options;
  options.speculative = spec;
  options.max_batched_tokens = 256;  // chunked prefill next to verification
  auto engine = Engine::Create(options, channel);
  EXPECT_TRUE(engine.ok()) << engine.status();
  Outcome out;
  std::vector<int> base;
  for (const Job& j : jobs) {
    base.push_back(static_cast<int>(out.tokens.size()));
    out.tokens.resize(out.tokens.size() + j.n);
  }
  for (size_t i = 0; i < jobs.size(); ++i) {
    GenerationRequest r;
    r.request_id = "r" + std::to_string(i);
    r.prompt_tokens = jobs[i].prompt;
    r.params = jobs[i].params;
    r.n = jobs[i].n;
    r.max_tokens = jobs[i].max_tokens;
    r.ignore_eos = true;
    r.num_speculative_tokens = jobs[i].k;
    const int b = base[i];
    EXPECT_TRUE((*engine)->Add(r, [&out, b](const SequenceUpdate& u) {
                             for (const auto& t : u.new_tokens) {
                               out.tokens[b + u.sample_index].push_back(t.token);
                             }
                           }).ok());
  }
  while ((*engine)->HasWork()) {
    absl::Status s = (*engine)->Step();
    EXPECT_TRUE(s.ok()) << s;
    if (!s.ok()) break;
  }
  EXPECT_EQ((*engine)->blocks().num_used(), 0);
  // One more step sends the last finished ids, so the worker can serve the
  // next engine.
  EXPECT_TRUE((*engine)->Step().ok());
  out.stats = (*engine)->stats();
  return out;
}

// 32 prompts: repetitive, input-grounded and random ids, so n-gram drafts
// are sometimes right and often wrong.
std::vector<std::vector<int32_t>> Prompts(int vocab) {
  std::vector<std::vector<int32_t>> out;
  uint32_t x = 99u;
  for (int p = 0; p < 32; ++p) {
    std::vector<int32_t> ids;
    const int period = 3 + p % 9;
    const int len = 12 + (p * 7) % 40;
    for (int i = 0; i < len; ++i) {
      x = x * 1664525u + 1013904223u;
      if (p % 4 == 3) {
        ids.push_back(200 + static_cast<int32_t>((x >> 8) % (vocab - 200)));
      } else {
        ids.push_back(300 + static_cast<int32_t>((i % period) * 37 + p) % (vocab - 300));
      }
    }
    out.push_back(ids);
  }
  return out;
}

SamplingParams GreedyParams() {
  SamplingParams p;
  p.temperature = 0.0f;
  return p;
}

void ExpectGreedyUnchanged(LocalWorker& worker, DraftSource source, int min_accepted,
                           const std::vector<size_t>& alone_prompts) {
  const auto prompts = Prompts(worker.config().n_vocab);
  std::vector<Job> plain;
  for (const auto& p : prompts) plain.push_back({p, std::nullopt, GreedyParams()});
  const Outcome want = RunJobs(worker, plain, SpeculativeOptions{});
  for (int k : {1, 3, 5}) {
    SpeculativeOptions spec;
    spec.source = source;
    spec.num_speculative_tokens = k;
    // Inside a batch: odd prompts do not speculate.
    std::vector<Job> mixed = plain;
    for (size_t i = 1; i < mixed.size(); i += 2) mixed[i].k = 0;
    const Outcome got = RunJobs(worker, mixed, spec);
    for (size_t i = 0; i < prompts.size(); ++i) {
      EXPECT_EQ(got.tokens[i], want.tokens[i]) << "k=" << k << " prompt " << i;
    }
    EXPECT_GE(got.stats.spec_accepted_tokens, min_accepted) << "k=" << k;
    EXPECT_GT(got.stats.spec_proposed_tokens, got.stats.spec_accepted_tokens) << "k=" << k;
    // Alone.
    for (size_t i : alone_prompts) {
      const Outcome alone = RunJobs(worker, {plain[i]}, spec);
      EXPECT_EQ(alone.tokens[0], want.tokens[i]) << "k=" << k << " alone " << i;
    }
  }
}

std::unique_ptr<LocalWorker> Worker(const std::string& model, const std::string& draft) {
  WorkerOptions o;
  o.model_path = model;
  o.draft_model_path = draft;
  o.threads = 2;
  o.backend = "cpu";
  o.kv_cache_bytes = int64_t{64} << 20;
  auto w = LocalWorker::Create(o);
  EXPECT_TRUE(w.ok()) << w.status();
  return w.ok() ? std::move(*w) : nullptr;
}

// A model file made by llm-make-model in the test's temp dir, or "" (skip).
std::string MakeModel(const std::string& name, const std::string& args) {
  const std::string tool = testing::BinaryPath("llm-make-model");
  if (!Exists(tool)) return "";
  const std::string path = ::testing::TempDir() + "/" + name;
  const testing::CommandResult r =
      testing::RunCommand(tool + " --out " + path + " " + args);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return r.exit_code == 0 ? path : "";
}

TEST(SpeculativeTest, GreedyUnchangedWithNgramDrafts) {
  if (!Exists(RealModel())) GTEST_SKIP() << "no " << RealModel();
  auto worker = Worker(RealModel(), "");
  ASSERT_NE(worker, nullptr);
  ExpectGreedyUnchanged(*worker, DraftSource::kNgram, 10, {0, 5, 10});
}

TEST(SpeculativeTest, GreedyUnchangedWithAMostlyWrongDraftModel) {
  if (!Exists(RealModel())) GTEST_SKIP() << "no " << RealModel();
  // A random 2-layer draft with the real vocabulary: nearly every draft is
  // rejected, which exercises rollback of both KV caches.
  const std::string draft = MakeModel(
      "random_draft.gguf", "--tokenizer-from " + RealModel() +
                               " --d-model 64 --n-layer 2 --n-head 2 --n-head-kv 1 "
                               "--n-ff 128 --type q8_0 --context-length 8192");
  if (draft.empty()) GTEST_SKIP() << "llm-make-model not built";
  auto worker = Worker(RealModel(), draft);
  ASSERT_NE(worker, nullptr);
  ExpectGreedyUnchanged(*worker, DraftSource::kDraftModel, 0, {7});
}

TEST(SpeculativeTest, GreedyUnchangedWithTheModelAsItsOwnDraft) {
  if (!Exists(RealModel())) GTEST_SKIP() << "no " << RealModel();
  // Same file as draft: every draft is the target's argmax, so all K are
  // accepted every step.
  auto worker = Worker(RealModel(), RealModel());
  ASSERT_NE(worker, nullptr);
  const auto prompts = Prompts(worker->config().n_vocab);
  std::vector<Job> jobs;
  for (int i = 0; i < 6; ++i) jobs.push_back({prompts[i], std::nullopt, GreedyParams()});
  const Outcome want = RunJobs(*worker, jobs, SpeculativeOptions{});
  SpeculativeOptions spec;
  spec.source = DraftSource::kDraftModel;
  spec.num_speculative_tokens = 3;
  const Outcome got = RunJobs(*worker, jobs, spec);
  EXPECT_EQ(got.tokens, want.tokens);
  EXPECT_EQ(got.stats.spec_accepted_tokens, got.stats.spec_proposed_tokens);
  EXPECT_GT(got.stats.spec_accepted_tokens, 6 * 15);
}

TEST(SpeculativeTest, SampledOutputWithNgramDraftsIsTheSameSeedForSeed) {
  if (!Exists(RealModel())) GTEST_SKIP() << "no " << RealModel();
  // One-hot drafts are verified against the plain sampler's own draw at
  // each position, so a seed gives the very same tokens with or without them.
  auto worker = Worker(RealModel(), "");
  ASSERT_NE(worker, nullptr);
  const auto prompts = Prompts(worker->config().n_vocab);
  SamplingParams p;
  p.temperature = 0.6f;
  p.top_k = 20;
  p.repetition_penalty = 1.05f;
  std::vector<Job> jobs;
  for (int i = 0; i < 6; ++i) {
    p.seed = 100 + i;
    jobs.push_back({prompts[i], std::nullopt, p, 2, 20});
  }
  const Outcome want = RunJobs(*worker, jobs, SpeculativeOptions{});
  SpeculativeOptions spec;
  spec.source = DraftSource::kNgram;
  spec.num_speculative_tokens = 3;
  const Outcome got = RunJobs(*worker, jobs, spec);
  EXPECT_EQ(got.tokens, want.tokens);
  EXPECT_GT(got.stats.spec_accepted_tokens, 0);
}

TEST(SpeculativeTest, SampledDraftsOfTheModelItselfAreAllAccepted) {
  if (!Exists(RealModel())) GTEST_SKIP() << "no " << RealModel();
  // Same file as draft, sampling: q equals p, so min(1, p/q) = 1 at every
  // draft; a rule that compared the draft with an independent target
  // sample would reject most of them at temperature 1.
  auto worker = Worker(RealModel(), RealModel());
  ASSERT_NE(worker, nullptr);
  const auto prompts = Prompts(worker->config().n_vocab);
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_p = 0.95f;
  p.seed = 11;
  std::vector<Job> jobs;
  for (int i = 0; i < 3; ++i) jobs.push_back({prompts[i], std::nullopt, p, 1, 16});
  SpeculativeOptions spec;
  spec.source = DraftSource::kDraftModel;
  spec.num_speculative_tokens = 3;
  const Outcome got = RunJobs(*worker, jobs, spec);
  EXPECT_GT(got.stats.spec_proposed_tokens, 3 * 6);
  EXPECT_EQ(got.stats.spec_accepted_tokens, got.stats.spec_proposed_tokens);
  // Reproducible per seed.
  EXPECT_EQ(RunJobs(*worker, jobs, spec).tokens, got.tokens);
}

TEST(SpeculativeTest, GreedyUnchangedWithASelfDraftOfTheFirstLayers) {
  if (!Exists(RealModel())) GTEST_SKIP() << "no " << RealModel();
  WorkerOptions o;
  o.model_path = RealModel();
  o.self_draft_layers = 12;
  o.threads = 2;
  o.backend = "cpu";
  o.kv_cache_bytes = int64_t{64} << 20;
  auto worker = LocalWorker::Create(o);
  ASSERT_TRUE(worker.ok()) << worker.status();
  const auto prompts = Prompts((*worker)->config().n_vocab);
  std::vector<Job> jobs;
  for (int i = 0; i < 8; ++i) jobs.push_back({prompts[i], std::nullopt, GreedyParams()});
  jobs[1].k = 0;  // one request does not speculate
  const Outcome want = RunJobs(**worker, jobs, SpeculativeOptions{});
  SpeculativeOptions spec;
  spec.source = DraftSource::kDraftModel;
  spec.num_speculative_tokens = 3;
  const Outcome got = RunJobs(**worker, jobs, spec);
  EXPECT_EQ(got.tokens, want.tokens);
  EXPECT_GT(got.stats.spec_proposed_tokens, 0);
}

// Histogram of the token at output index `at` over all samples.
std::map<int32_t, int> Histogram(const Outcome& o, size_t at) {
  std::map<int32_t, int> h;
  for (const auto& t : o.tokens) {
    if (t.size() > at) ++h[t[at]];
  }
  return h;
}

double TotalVariation(const std::map<int32_t, int>& a, const std::map<int32_t, int>& b,
                      int n) {
  std::map<int32_t, double> diff;
  for (const auto& [t, c] : a) diff[t] += c;
  for (const auto& [t, c] : b) diff[t] -= c;
  double tv = 0.0;
  for (const auto& [t, d] : diff) tv += std::abs(d);
  return 0.5 * tv / n;
}

TEST(SpeculativeTest, SampledTokensFollowTheTargetDistribution) {
  const std::string target = MakeModel(
      "tiny_target.gguf",
      "--n-vocab 300 --d-model 64 --n-layer 2 --n-head 4 --n-head-kv 2 --n-ff 128 "
      "--type f32 --context-length 512 --seed 7");
  if (target.empty()) GTEST_SKIP() << "llm-make-model not built";
  // Two draft models, both sampling their proposals from their own q:
  // another random model (q far from p: ~6% accepted, nearly every token
  // comes from the residual), and the target requantised to Q4_0 (q close
  // to p: ~83% accepted).
  const std::string far = MakeModel(
      "tiny_far_draft.gguf",
      "--n-vocab 300 --d-model 64 --n-layer 2 --n-head 4 --n-head-kv 2 --n-ff 128 "
      "--type f32 --context-length 512 --seed 8");
  const std::string close = MakeModel("tiny_close_draft.gguf", "--from " + target + " --type q4_0");
  auto far_worker = Worker(target, far);
  auto close_worker = Worker(target, close);
  ASSERT_NE(far_worker, nullptr);
  ASSERT_NE(close_worker, nullptr);
  // A repetitive prompt, so n-gram drafts exist at every step.
  std::vector<int32_t> prompt;
  for (int i = 0; i < 24; ++i) prompt.push_back(260 + i % 4);
  SamplingParams p;
  p.temperature = 0.7f;
  p.top_k = 40;
  // 100 seeds x 50 samples (each sample its own Philox counter).
  constexpr int kSeeds = 100, kN = 50, kTokens = 4;
  auto jobs = [&](uint64_t seed0) {
    std::vector<Job> out;
    for (int s = 0; s < kSeeds; ++s) {
      SamplingParams ps = p;
      ps.seed = seed0 + s;
      out.push_back({prompt, std::nullopt, ps, kN, kTokens});
    }
    return out;
  };
  // Disjoint seeds: the comparison is statistical, not seed-for-seed.
  const Outcome plain = RunJobs(*far_worker, jobs(1000000), SpeculativeOptions{});
  struct Case {
    const char* name;
    LocalWorker* worker;
    DraftSource source;
  };
  for (const Case& c : {Case{"ngram", far_worker.get(), DraftSource::kNgram},
                        Case{"far draft", far_worker.get(), DraftSource::kDraftModel},
                        Case{"close draft", close_worker.get(), DraftSource::kDraftModel}}) {
    SpeculativeOptions spec;
    spec.source = c.source;
    spec.num_speculative_tokens = 3;
    const Outcome got = RunJobs(*c.worker, jobs(0), spec);
    // Both outcomes of the acceptance test occur.
    EXPECT_GT(got.stats.spec_accepted_tokens, 0) << c.name;
    EXPECT_GT(got.stats.spec_proposed_tokens, got.stats.spec_accepted_tokens) << c.name;
    std::printf("%s: acceptance %.3f\n", c.name,
                static_cast<double>(got.stats.spec_accepted_tokens) /
                    std::max<int64_t>(1, got.stats.spec_proposed_tokens));
    // Index 0 comes from prefill (no draft); 1..3 follow verifications.
    for (size_t at = 1; at < kTokens; ++at) {
      const double tv = TotalVariation(Histogram(plain, at), Histogram(got, at),
                                       kSeeds * kN);
      // 5000 samples per side: sampling noise keeps TV at 0.055-0.10 for
      // these distributions. Measured with broken rules (2026-11-25):
      // "always accept" gives TV 0.87 with the far draft (0.11-0.13 with
      // the close one). Resampling p instead of the residual moves TV only
      // to ~0.10 here, below what 5000 samples resolve: that bug, and
      // others, are caught by tests/worker/speculative_sampling_test.cc,
      // which checks the rule itself against exact distributions.
      std::printf("TV index %zu %s: %.4f\n", at, c.name, tv);
      EXPECT_LT(tv, 0.12) << "index " << at << " " << c.name;
    }
  }
}

// ScheduledChunk::draft_catch_up: the draft computes the prompt during
// prefill. With the model as its own draft every proposal must still be
// accepted afterwards, which fails if the catch-up wrote the wrong KV (the
// first verification would then run the draft on garbage).
TEST(SpeculativeTest, DraftCatchUpDuringPrefillKeepsTheDraftExact) {
  if (!Exists(RealModel())) GTEST_SKIP() << "no " << RealModel();
  auto worker = Worker(RealModel(), RealModel());
  ASSERT_NE(worker, nullptr);
  const int bs = worker->kv_shape().block_size;
  const std::vector<int32_t> prompt = Prompts(worker->config().n_vocab)[5];
  const int n = static_cast<int>(prompt.size());
  ASSERT_GE(n, 4);
  for (bool catch_up : {true, false}) {
    SCOPED_TRACE(catch_up ? "catch-up during prefill" : "lazy catch-up");
    const SeqId id = catch_up ? 1 : 2;
    std::vector<int32_t> table;
    for (int b = 0; b * bs < n + 8; ++b) table.push_back(b);
    StepPlan first;
    first.step_id = 1;
    SequenceSpec spec;
    spec.seq_id = id;
    spec.prompt_tokens = prompt;
    spec.block_table = table;
    first.new_sequences.push_back(spec);
    // The prompt in two chunks; the second samples the first token.
    ScheduledChunk a;
    a.seq_id = id;
    a.num_tokens = n / 2;
    a.draft_catch_up = catch_up;
    first.chunks.push_back(a);
    ASSERT_TRUE(worker->Execute(first).ok());
    StepPlan second;
    second.step_id = 2;
    ScheduledChunk b = a;
    b.num_tokens = n - n / 2;
    b.sample = true;
    second.chunks.push_back(b);
    ASSERT_TRUE(worker->Execute(second).ok());
    StepPlan verify;
    verify.step_id = 3;
    ScheduledChunk c;
    c.seq_id = id;
    c.num_tokens = 1;
    c.sample = true;
    c.num_speculative_tokens = 3;
    verify.chunks.push_back(c);
    absl::StatusOr<StepResult> r = worker->Execute(verify);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->results.size(), 1u);
    EXPECT_EQ(r->results[0].num_proposed, 3);
    EXPECT_EQ(r->results[0].num_accepted, 3);
    StepPlan done;
    done.step_id = 4;
    done.finished = {id};
    ASSERT_TRUE(worker->Execute(done).ok());
  }
}

TEST(SpeculativeTest, WorkerRejectsMalformedSpeculativeChunks) {
  const std::string path = MakeModel(
      "tiny_plain.gguf",
      "--n-vocab 300 --d-model 64 --n-layer 1 --n-head 4 --n-head-kv 2 --n-ff 128 "
      "--type f32 --context-length 64 --seed 3");
  if (path.empty()) GTEST_SKIP() << "llm-make-model not built";
  auto worker = Worker(path, "");  // no draft model
  ASSERT_NE(worker, nullptr);
  const int bs = worker->kv_shape().block_size;
  StepPlan plan;
  plan.step_id = 1;
  SequenceSpec spec;
  spec.seq_id = 1;
  spec.prompt_tokens = {5, 6, 7, 8};
  spec.block_table = {0};
  plan.new_sequences.push_back(spec);
  ScheduledChunk chunk;
  chunk.seq_id = 1;
  chunk.num_tokens = 4;
  chunk.sample = true;
  auto with = [&](auto edit) {
    StepPlan p = plan;
    edit(p.chunks.emplace_back(chunk));
    return worker->Execute(p).status();
  };
  // Draft-model speculation on a worker without a draft model.
  EXPECT_EQ(with([](ScheduledChunk& c) { c.num_speculative_tokens = 2; }).code(),
            absl::StatusCode::kInvalidArgument);
  // Draft count differs from K.
  EXPECT_EQ(with([](ScheduledChunk& c) {
              c.num_speculative_tokens = 2;
              c.draft_tokens = {9};
            }).code(),
            absl::StatusCode::kInvalidArgument);
  // Draft token outside the vocabulary.
  EXPECT_EQ(with([](ScheduledChunk& c) {
              c.num_speculative_tokens = 1;
              c.draft_tokens = {300};
            }).code(),
            absl::StatusCode::kInvalidArgument);
  // Speculation on a chunk that does not sample.
  EXPECT_EQ(with([](ScheduledChunk& c) {
              c.num_tokens = 3;
              c.sample = false;
              c.num_speculative_tokens = 1;
              c.draft_tokens = {9};
            }).code(),
            absl::StatusCode::kInvalidArgument);
  // The block table must hold the draft positions too.
  EXPECT_EQ(with([&](ScheduledChunk& c) {
              c.num_speculative_tokens = bs;
              c.draft_tokens.assign(bs, 9);
            }).code(),
            absl::StatusCode::kInvalidArgument);
  // A well-formed one: K = 2 n-gram drafts, 1..3 tokens back.
  StepPlan ok = plan;
  ScheduledChunk& c = ok.chunks.emplace_back(chunk);
  c.num_speculative_tokens = 2;
  c.draft_tokens = {9, 10};
  absl::StatusOr<StepResult> r = worker->Execute(ok);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->results.size(), 1u);
  EXPECT_EQ(r->results[0].num_proposed, 2);
  EXPECT_EQ(r->results[0].tokens.size(),
            static_cast<size_t>(r->results[0].num_accepted) + 1);
}

}  // namespace
}  // namespace llm
