// The speculative sampling rule (worker/speculative_sampling.h) on small
// fixed distributions: the dense distribution equals what Sample() draws
// from, and "accept with min(1, p/q), else resample norm(max(0, p - q))"
// turns draws of q into draws of p, which two broken rules do not.
// Deterministic: every uniform comes from Philox with fixed seeds.
#include "worker/speculative_sampling.h"

#include <cmath>
#include <functional>
#include <vector>

#include "gtest/gtest.h"
#include "worker/sampler.h"

namespace llm {
namespace {

constexpr int kDraws = 20000;
// Chi-square critical value for 7 degrees of freedom at p = 0.001.
constexpr double kChiSquare7 = 24.32;

// Pearson chi-square of `counts` against `probs` over the ids with
// probs > 0; counts where probs == 0 make it infinite.
double ChiSquare(const std::vector<int>& counts, const std::vector<float>& probs, int n) {
  double chi = 0.0;
  for (size_t i = 0; i < probs.size(); ++i) {
    const double expected = probs[i] * static_cast<double>(n);
    if (expected == 0.0) {
      if (counts[i] > 0) return INFINITY;
      continue;
    }
    chi += (counts[i] - expected) * (counts[i] - expected) / expected;
  }
  return chi;
}

// p: the target; q: a draft that overweights ids p dislikes and misses one
// id p likes entirely (q = 0), so both acceptance and residual matter.
const std::vector<float> kP = {0.30f, 0.05f, 0.15f, 0.10f, 0.20f, 0.02f, 0.08f, 0.10f};
const std::vector<float> kQ = {0.10f, 0.25f, 0.15f, 0.00f, 0.30f, 0.10f, 0.05f, 0.05f};

// Emitted-token histogram of kDraws verifications of drafts x ~ q, with
// `rule(x, u_accept, u_resample)` deciding the emitted token.
std::vector<int> Emitted(const std::function<int32_t(int32_t, double, double)>& rule) {
  std::vector<int> counts(kP.size(), 0);
  for (uint64_t seed = 1; seed <= kDraws; ++seed) {
    const int32_t x = SampleFromWeights(kQ, DraftUniform(seed, 3, 0));
    ++counts[rule(x, AcceptUniform(seed, 3, 0), PhiloxUniform(seed, 3, 0))];
  }
  return counts;
}

TEST(SpeculativeSamplingTest, RejectionRuleTurnsDraftSamplesIntoTargetSamples) {
  std::vector<float> residual(kP.size());
  int accepted = 0;
  const std::vector<int> counts = Emitted([&](int32_t x, double ua, double ur) {
    const DraftVerdict v = VerifyDraft(kP, kQ, x, ua, ur, absl::MakeSpan(residual));
    accepted += v.accepted;
    return v.token;
  });
  EXPECT_LT(ChiSquare(counts, kP, kDraws), kChiSquare7);
  // Acceptance probability is sum_x min(p(x), q(x)) = 0.62.
  EXPECT_NEAR(static_cast<double>(accepted) / kDraws, 0.62, 0.02);
}

TEST(SpeculativeSamplingTest, BrokenAcceptanceRulesFailTheSameThreshold) {
  // "Always accept" emits q.
  const double always = ChiSquare(
      Emitted([](int32_t x, double, double) { return x; }), kP, kDraws);
  // Accepting with min(1, p/q) but resampling from p (no residual).
  const double no_residual = ChiSquare(
      Emitted([&](int32_t x, double ua, double ur) {
        if (ua * kQ[x] < kP[x]) return x;
        return SampleFromWeights(kP, ur);
      }),
      kP, kDraws);
  // The ratio upside down: accept with min(1, q/p).
  std::vector<float> residual(kP.size());
  const double inverted = ChiSquare(
      Emitted([&](int32_t x, double ua, double ur) {
        if (ua * kP[x] < kQ[x]) return x;
        return VerifyDraft(kP, kQ, x, 1.0, ur, absl::MakeSpan(residual)).token;
      }),
      kP, kDraws);
  EXPECT_GT(always, 10 * kChiSquare7);
  EXPECT_GT(no_residual, 10 * kChiSquare7);
  EXPECT_GT(inverted, 10 * kChiSquare7);
}

TEST(SpeculativeSamplingTest, OneHotRuleIsExactForAnyDraftButAcceptsLess) {
  // The rule for deterministic drafts, applied to sampled ones: accept with
  // p(x), else sample p without x. P(y) = q(y) p(y) + p(y) (1 - q(y)) = p(y),
  // so it is exact too, but it accepts with probability sum q p (0.136
  // here) instead of sum min(p, q) (0.62): why sampled drafts use min(1, p/q).
  std::vector<float> without(kP.size());
  int accepted = 0;
  const std::vector<int> counts = Emitted([&](int32_t x, double ua, double ur) {
    if (ua < kP[x]) {
      ++accepted;
      return x;
    }
    without = kP;
    without[x] = 0.0f;
    return SampleFromWeights(without, ur);
  });
  EXPECT_LT(ChiSquare(counts, kP, kDraws), kChiSquare7);
  EXPECT_NEAR(static_cast<double>(accepted) / kDraws, 0.136, 0.01);
}

TEST(SpeculativeSamplingTest, EqualDistributionsNeverReject) {
  std::vector<float> residual(kP.size());
  for (uint64_t seed = 1; seed <= 2000; ++seed) {
    const int32_t x = SampleFromWeights(kP, DraftUniform(seed, 0, 0));
    const DraftVerdict v = VerifyDraft(kP, kP, x, AcceptUniform(seed, 0, 0),
                                       PhiloxUniform(seed, 0, 0), absl::MakeSpan(residual));
    ASSERT_TRUE(v.accepted) << seed;
    EXPECT_EQ(v.token, x);
  }
}

TEST(SpeculativeSamplingTest, StreamsAreDistinctFromThePlainSampler) {
  for (uint64_t step : {0u, 1u, 17u}) {
    const double plain = PhiloxUniform(42, step, 1);
    EXPECT_NE(DraftUniform(42, step, 1), plain);
    EXPECT_NE(AcceptUniform(42, step, 1), plain);
    EXPECT_NE(DraftUniform(42, step, 1), AcceptUniform(42, step, 1));
    // Reproducible.
    EXPECT_EQ(DraftUniform(42, step, 1), DraftUniform(42, step, 1));
  }
}

std::vector<float> Logits() {
  return {2.0f, 1.5f, 1.4f, 0.3f, -0.2f, 1.0f, -1.0f, 0.9f,
          0.1f, 0.8f, -3.0f, 0.0f, 1.2f, -0.5f, 0.6f, 1.45f};
}

// Sample() with kDraws seeds against SamplingDistribution's probabilities.
void ExpectDistributionMatchesSampler(const SamplingParams& params) {
  const std::vector<float> logits = Logits();
  const std::vector<int32_t> prompt = {1, 2, 3};
  const std::vector<int32_t> output = {2, 2, 5};
  SamplingContext ctx;
  ctx.prompt_tokens = prompt;
  ctx.generated_tokens = output;
  std::vector<float> probs(logits.size());
  SamplingDistribution(logits, params, ctx, absl::MakeSpan(probs));
  double total = 0.0;
  int support = 0;
  for (float p : probs) {
    total += p;
    support += p > 0.0f;
  }
  EXPECT_NEAR(total, 1.0, 1e-5);
  std::vector<int> counts(logits.size(), 0);
  for (uint64_t seed = 1; seed <= kDraws; ++seed) {
    std::vector<float> scratch = logits;
    ctx.seed = seed;
    ++counts[Sample(absl::MakeSpan(scratch), params, ctx).token];
  }
  // Critical value at p = 0.001 for up to 15 degrees of freedom (37.7);
  // a support mismatch is infinite.
  EXPECT_LT(ChiSquare(counts, probs, kDraws), 37.7) << "support " << support;
}

TEST(SpeculativeSamplingTest, DenseDistributionIsWhatTheSamplerDrawsFrom) {
  SamplingParams plain;
  plain.temperature = 0.8f;
  ExpectDistributionMatchesSampler(plain);
  SamplingParams top_k = plain;
  top_k.top_k = 5;
  ExpectDistributionMatchesSampler(top_k);
  SamplingParams top_p = plain;
  top_p.top_p = 0.7f;
  ExpectDistributionMatchesSampler(top_p);
  SamplingParams all = plain;
  all.top_k = 10;
  all.top_p = 0.9f;
  all.min_p = 0.2f;
  all.temperature = 1.3f;
  ExpectDistributionMatchesSampler(all);
  SamplingParams penalties = plain;
  penalties.repetition_penalty = 1.3f;
  penalties.presence_penalty = 0.5f;
  penalties.frequency_penalty = 0.4f;
  ExpectDistributionMatchesSampler(penalties);
}

TEST(SpeculativeSamplingTest, LogprobsAreTheSamplersLogprobs) {
  const std::vector<float> logits = Logits();
  SamplingParams params;
  params.temperature = 0.9f;
  params.logprobs = 3;
  SamplingContext ctx;
  ctx.seed = 5;
  std::vector<float> scratch = logits;
  const SampledToken want = Sample(absl::MakeSpan(scratch), params, ctx);
  SampledToken got;
  got.token = want.token;
  FillLogprobs(logits, params.logprobs, got);
  EXPECT_NEAR(got.logprob, want.logprob, 1e-5);
  ASSERT_EQ(got.top.size(), want.top.size());
  for (size_t i = 0; i < got.top.size(); ++i) {
    EXPECT_EQ(got.top[i].token, want.top[i].token);
    EXPECT_NEAR(got.top[i].logprob, want.top[i].logprob, 1e-5);
  }
}

}  // namespace
}  // namespace llm
