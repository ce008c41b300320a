// Tests for worker/sampler.h (Sample, PhiloxUniform).
#include "worker/sampler.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace llm {
namespace {

using ::testing::ElementsAre;

std::vector<float> RandomLogits(int vocab, uint32_t seed, float scale = 4.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> x(vocab);
  for (float& v : x) v = dist(rng);
  return x;
}

// Logits whose softmax is exactly `probs` (up to float rounding).
std::vector<float> LogitsFromProbs(const std::vector<double>& probs) {
  std::vector<float> x;
  for (double p : probs) x.push_back(static_cast<float>(std::log(p)));
  return x;
}

SampledToken SampleCopy(std::vector<float> logits, const SamplingParams& p,
                        const SamplingContext& ctx) {
  return Sample(absl::MakeSpan(logits), p, ctx);
}

SamplingParams Greedy() {
  SamplingParams p;
  p.temperature = 0.0f;
  return p;
}

SamplingContext Ctx(uint64_t seed, uint64_t step = 0, uint64_t index = 0) {
  SamplingContext c;
  c.seed = seed;
  c.step = step;
  c.sample_index = index;
  return c;
}

std::vector<double> LogSoftmax64(const std::vector<float>& x, double temperature = 1.0) {
  double m = -INFINITY;
  for (float v : x) m = std::max(m, v / temperature);
  double s = 0.0;
  for (float v : x) s += std::exp(v / temperature - m);
  std::vector<double> out;
  for (float v : x) out.push_back(v / temperature - m - std::log(s));
  return out;
}

// Plain float64 reference of the documented chain (no penalties): full sort,
// temperature -> top-k -> top-p -> min-p -> inverse CDF in id order.
int32_t ReferenceSample(const std::vector<float>& x, const SamplingParams& p, double u) {
  const int n = static_cast<int>(x.size());
  std::vector<double> l(n);
  for (int i = 0; i < n; ++i) l[i] = static_cast<double>(x[i]) / p.temperature;
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return x[a] > x[b]; });
  int keep = (p.top_k > 0 && p.top_k < n) ? p.top_k : n;
  const double m = l[order[0]];
  double z = 0.0;
  for (int i = 0; i < keep; ++i) z += std::exp(l[order[i]] - m);
  if (p.top_p < 1.0f) {
    double cum = 0.0;
    for (int i = 0; i < keep; ++i) {
      cum += std::exp(l[order[i]] - m) / z;
      if (cum >= p.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  std::vector<int> kept;
  for (int i = 0; i < keep; ++i) {
    if (std::exp(l[order[i]] - m) >= p.min_p) kept.push_back(order[i]);
  }
  std::sort(kept.begin(), kept.end());
  double total = 0.0;
  for (int t : kept) total += std::exp(l[t] - m);
  double cum = 0.0;
  for (int t : kept) {
    cum += std::exp(l[t] - m);
    if (cum > u * total) return t;
  }
  return kept.back();
}

// ------------------------------------------------------------------ Philox

// Random123's kat_vectors for philox4x32-10; PhiloxUniform maps words 0 and 1
// of the block for counter (lo.lo, lo.hi, hi.lo, hi.hi), key (seed.lo,
// seed.hi) to (w0 << 21 | w1 >> 11) / 2^53.
double ExpectedUniform(uint32_t w0, uint32_t w1) {
  return static_cast<double>((static_cast<uint64_t>(w0) << 21) | (w1 >> 11)) * 0x1.0p-53;
}

TEST(PhiloxUniformTest, MatchesRandom123KnownAnswers) {
  EXPECT_EQ(PhiloxUniform(0, 0, 0), ExpectedUniform(0x6627e8d5, 0xe169c58d));
  EXPECT_EQ(PhiloxUniform(~0ull, ~0ull, ~0ull), ExpectedUniform(0x408f276d, 0x41c83b0e));
  // ctr = 243f6a88 85a308d3 13198a2e 03707344, key = a4093822 299f31d0.
  EXPECT_EQ(PhiloxUniform(0x299f31d0a4093822ull, 0x0370734413198a2eull, 0x85a308d3243f6a88ull),
            ExpectedUniform(0xd16cfe09, 0x94fdcceb));
}

TEST(PhiloxUniformTest, IsUniformOnUnitInterval) {
  // 100k draws into 20 bins: chi-square with 19 dof; 43.8 is the 0.999 quantile.
  constexpr int kDraws = 100000, kBins = 20;
  std::vector<int> bins(kBins, 0);
  double sum = 0.0;
  for (int i = 0; i < kDraws; ++i) {
    const double u = PhiloxUniform(1234, i / 7, i % 7);
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
    ++bins[static_cast<int>(u * kBins)];
  }
  double chi2 = 0.0;
  const double expected = static_cast<double>(kDraws) / kBins;
  for (int b : bins) chi2 += (b - expected) * (b - expected) / expected;
  EXPECT_LT(chi2, 43.8);
  EXPECT_NEAR(sum / kDraws, 0.5, 0.005);  // sd of the mean is 0.0009
}

TEST(PhiloxUniformTest, EveryArgumentChangesTheDraw) {
  const double base = PhiloxUniform(7, 3, 5);
  EXPECT_NE(base, PhiloxUniform(8, 3, 5));
  EXPECT_NE(base, PhiloxUniform(7, 4, 5));
  EXPECT_NE(base, PhiloxUniform(7, 3, 6));
  EXPECT_NE(base, PhiloxUniform(7 | (1ull << 40), 3, 5));  // high seed bits count
  EXPECT_EQ(base, PhiloxUniform(7, 3, 5));
}

// ------------------------------------------------------------------ greedy

TEST(SamplerTest, GreedyTieGoesToLowestId) {
  std::vector<float> x = {0.5f, 2.0f, -1.0f, 2.0f, 2.0f};
  EXPECT_EQ(SampleCopy(x, Greedy(), Ctx(1)).token, 1);
  // Ties far apart in a large vocabulary (different scan blocks).
  std::vector<float> big = RandomLogits(49152, 2);
  big[40000] = big[301] = big[30000] = 10.0f;
  EXPECT_EQ(SampleCopy(big, Greedy(), Ctx(1)).token, 301);
  big[7] = 10.0f;
  EXPECT_EQ(SampleCopy(big, Greedy(), Ctx(1)).token, 7);
}

TEST(SamplerTest, GreedyReportsRawLogSoftmaxWhenLogprobsRequested) {
  const std::vector<float> x = RandomLogits(49152, 3);
  const auto ref = LogSoftmax64(x);
  SamplingParams p = Greedy();
  p.logprobs = 1;
  const SampledToken t = SampleCopy(x, p, Ctx(1));
  const int32_t argmax = static_cast<int32_t>(std::max_element(x.begin(), x.end()) - x.begin());
  EXPECT_EQ(t.token, argmax);
  // float exp terms summed in double: ~1e-6 relative error in the normaliser.
  EXPECT_NEAR(t.logprob, ref[argmax], 1e-5);
  ASSERT_EQ(t.top.size(), 1u);
  EXPECT_EQ(t.top[0].token, argmax);
}

TEST(SamplerTest, PlainGreedyReturnsArgmaxWithoutLogprob) {
  const std::vector<float> x = RandomLogits(49152, 4);
  const SampledToken t = SampleCopy(x, Greedy(), Ctx(1));
  const int32_t argmax = static_cast<int32_t>(std::max_element(x.begin(), x.end()) - x.begin());
  EXPECT_EQ(t.token, argmax);
  EXPECT_EQ(t.logprob, 0.0f);
  EXPECT_TRUE(t.top.empty());
}

TEST(SamplerTest, TopKOneEqualsGreedy) {
  SamplingParams p;
  p.top_k = 1;
  p.temperature = 1.5f;
  for (uint32_t s = 0; s < 50; ++s) {
    const std::vector<float> x = RandomLogits(1000, s);
    EXPECT_EQ(SampleCopy(x, p, Ctx(s, s)).token, SampleCopy(x, Greedy(), Ctx(s)).token);
  }
}

// ------------------------------------------------------------------ filters

// Counts the sampled ids over `n` steps.
std::vector<int> Histogram(const std::vector<float>& x, const SamplingParams& p, int n,
                           uint64_t seed = 99) {
  std::vector<int> h(x.size(), 0);
  for (int i = 0; i < n; ++i) ++h[SampleCopy(x, p, Ctx(seed, i)).token];
  return h;
}

TEST(SamplerTest, TopPKeepsTheSmallestPrefixReachingP) {
  // Sorted probs 0.5, 0.3, 0.15, 0.05 placed at ids 2, 0, 3, 1.
  const std::vector<float> x = LogitsFromProbs({0.3, 0.05, 0.5, 0.15});
  SamplingParams p;
  p.top_p = 0.75f;  // 0.5 < 0.75 <= 0.8: keeps ids 2 and 0
  std::vector<int> h = Histogram(x, p, 4000);
  EXPECT_EQ(h[1], 0);
  EXPECT_EQ(h[3], 0);
  EXPECT_NEAR(h[2] / 4000.0, 0.5 / 0.8, 0.03);  // renormalised; sd ~0.008
  p.top_p = 0.4f;  // the top token alone already reaches p
  h = Histogram(x, p, 200);
  EXPECT_EQ(h[2], 200);
}

TEST(SamplerTest, TopPOverLargeVocabularyKeepsOnlyTheNucleus) {
  // 49152 ids: the growing-prefix selection has to go past its first chunk.
  std::vector<float> x = RandomLogits(49152, 5, 1.0f);
  SamplingParams p;
  p.top_p = 0.3f;
  std::vector<int> order(x.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return x[a] > x[b]; });
  const auto lp = LogSoftmax64(x);
  double cum = 0.0;
  size_t nucleus = 0;
  while (cum < 0.3) cum += std::exp(lp[order[nucleus++]]);
  ASSERT_GT(nucleus, 64u);
  std::vector<char> in_nucleus(x.size(), 0);
  for (size_t i = 0; i < nucleus; ++i) in_nucleus[order[i]] = 1;
  for (int step = 0; step < 300; ++step) {
    EXPECT_TRUE(in_nucleus[SampleCopy(x, p, Ctx(4, step)).token]) << step;
  }
}

TEST(SamplerTest, MinPDropsTokensBelowFractionOfMax) {
  const std::vector<float> x = LogitsFromProbs({0.5, 0.3, 0.15, 0.05});
  SamplingParams p;
  p.min_p = 0.25f;  // threshold 0.125: keeps 0, 1, 2
  const std::vector<int> h = Histogram(x, p, 4000);
  EXPECT_EQ(h[3], 0);
  EXPECT_GT(h[2], 0);
  EXPECT_NEAR(h[0] / 4000.0, 0.5 / 0.95, 0.03);
}

TEST(SamplerTest, MatchesFloat64ReferenceChain) {
  struct Config { float t; int k; float top_p; float min_p; };
  const Config configs[] = {{1.0f, 0, 1.0f, 0.0f},   {0.7f, 40, 1.0f, 0.0f},
                            {1.3f, 0, 0.9f, 0.0f},   {0.8f, 50, 0.8f, 0.05f},
                            {1.0f, 0, 1.0f, 0.1f},   {0.5f, 0, 0.95f, 0.02f},
                            {2.0f, 3000, 0.97f, 0.0f}, {1.0f, 0, 0.9f, 0.0f},
                            {1.0f, 0, 0.6f, 0.01f}};
  for (const Config& c : configs) {
    SamplingParams p;
    p.temperature = c.t;
    p.top_k = c.k;
    p.top_p = c.top_p;
    p.min_p = c.min_p;
    for (int trial = 0; trial < 40; ++trial) {
      const std::vector<float> x = RandomLogits(trial % 2 ? 49152 : 777, 1000 + trial);
      const SamplingContext ctx = Ctx(trial, 11, 2);
      const double u = PhiloxUniform(ctx.seed, ctx.step, ctx.sample_index);
      EXPECT_EQ(SampleCopy(x, p, ctx).token, ReferenceSample(x, p, u))
          << "t=" << c.t << " k=" << c.k << " p=" << c.top_p << " min_p=" << c.min_p
          << " trial=" << trial;
    }
  }
}

TEST(SamplerTest, MaskedLogitsAreNeverSampled) {
  // -inf marks banned ids (grammar, logit bias); every filter path must skip
  // them and the reported logprob must stay finite.
  std::vector<float> x = RandomLogits(4099, 21, 1.0f);
  for (size_t i = 0; i < x.size(); i += 2) x[i] = -INFINITY;
  const float top_ps[] = {1.0f, 0.99f};
  const int top_ks[] = {0, 3000};
  for (float top_p : top_ps) {
    for (int top_k : top_ks) {
      SamplingParams p;
      p.top_p = top_p;
      p.top_k = top_k;
      p.temperature = 2.0f;
      for (int step = 0; step < 200; ++step) {
        const SampledToken t = SampleCopy(x, p, Ctx(6, step));
        ASSERT_EQ(t.token % 2, 1) << "top_p=" << top_p << " top_k=" << top_k;
        ASSERT_TRUE(std::isfinite(t.logprob));
      }
    }
  }
}

// ------------------------------------------------------------------ penalties

TEST(SamplerTest, RepetitionPenaltyDividesPositiveLogits) {
  SamplingParams p = Greedy();
  p.repetition_penalty = 2.0f;
  const std::vector<int32_t> prompt = {0};
  SamplingContext ctx = Ctx(1);
  ctx.prompt_tokens = prompt;
  EXPECT_EQ(SampleCopy({2.0f, 1.5f}, p, ctx).token, 1);  // 2.0 / 2 = 1.0 < 1.5
  EXPECT_EQ(SampleCopy({2.0f, 0.9f}, p, ctx).token, 0);  // 1.0 > 0.9
}

TEST(SamplerTest, RepetitionPenaltyMultipliesNegativeLogits) {
  SamplingParams p = Greedy();
  p.repetition_penalty = 1.2f;
  const std::vector<int32_t> generated = {0};
  SamplingContext ctx = Ctx(1);
  ctx.generated_tokens = generated;
  EXPECT_EQ(SampleCopy({-1.0f, -1.1f}, p, ctx).token, 1);  // -1.2 < -1.1
  EXPECT_EQ(SampleCopy({-1.0f, -1.3f}, p, ctx).token, 0);  // -1.2 > -1.3
}

TEST(SamplerTest, RepetitionPenaltyAppliesOncePerDistinctToken) {
  SamplingParams p = Greedy();
  p.repetition_penalty = 1.5f;
  const std::vector<int32_t> prompt = {0, 0, 0};
  const std::vector<int32_t> generated = {0, 0};
  SamplingContext ctx = Ctx(1);
  ctx.prompt_tokens = prompt;
  ctx.generated_tokens = generated;
  // Once: 2.0 / 1.5 = 1.33 > 1.1. Twice would give 0.89.
  EXPECT_EQ(SampleCopy({2.0f, 1.1f}, p, ctx).token, 0);
}

TEST(SamplerTest, FrequencyPenaltyScalesWithCount) {
  SamplingParams p = Greedy();
  p.frequency_penalty = 0.2f;
  SamplingContext ctx = Ctx(1);
  const std::vector<int32_t> three = {0, 1, 0, 0};
  ctx.generated_tokens = three;
  // Token 0: 3.0 - 0.6 = 2.4; token 1: 2.7 - 0.2 = 2.5.
  EXPECT_EQ(SampleCopy({3.0f, 2.7f}, p, ctx).token, 1);
  const std::vector<int32_t> two = {0, 1, 0};
  ctx.generated_tokens = two;
  EXPECT_EQ(SampleCopy({3.0f, 2.7f}, p, ctx).token, 0);  // 2.6 > 2.5
}

TEST(SamplerTest, PresencePenaltyCountsOnlyGeneratedTokens) {
  SamplingParams p = Greedy();
  p.presence_penalty = 0.6f;
  const std::vector<int32_t> seen = {0, 0, 0};
  SamplingContext ctx = Ctx(1);
  ctx.prompt_tokens = seen;
  EXPECT_EQ(SampleCopy({3.0f, 2.5f}, p, ctx).token, 0);  // prompt: no effect
  ctx.prompt_tokens = {};
  ctx.generated_tokens = seen;
  EXPECT_EQ(SampleCopy({3.0f, 2.5f}, p, ctx).token, 1);  // 3.0 - 0.6, once
}

TEST(SamplerTest, NegativePresencePenaltyEncouragesRepeats) {
  SamplingParams p = Greedy();
  p.presence_penalty = -1.0f;
  const std::vector<int32_t> generated = {2};
  SamplingContext ctx = Ctx(1);
  ctx.generated_tokens = generated;
  EXPECT_EQ(SampleCopy({1.0f, 0.0f, 0.5f}, p, ctx).token, 2);
}

TEST(SamplerTest, PenaltiesDoNotLeakIntoTheNextCall) {
  SamplingParams p = Greedy();
  p.frequency_penalty = 2.0f;
  p.repetition_penalty = 3.0f;
  const std::vector<int32_t> generated = {0, 0, 0};
  SamplingContext ctx = Ctx(1);
  ctx.generated_tokens = generated;
  EXPECT_EQ(SampleCopy({3.0f, 2.5f}, p, ctx).token, 1);
  p.repetition_penalty = 1.0f;
  p.frequency_penalty = 0.0f;
  EXPECT_EQ(SampleCopy({3.0f, 2.5f}, p, Ctx(1)).token, 0);
  p.presence_penalty = 0.1f;  // counts must have been reset
  EXPECT_EQ(SampleCopy({3.0f, 2.95f}, p, ctx).token, 1);
}

// ------------------------------------------------------------------ randomness

TEST(SamplerTest, SameSeedStepAndIndexGiveTheSameToken) {
  const std::vector<float> x = RandomLogits(5000, 8, 1.0f);
  SamplingParams p;
  p.top_p = 0.9f;
  const int32_t first = SampleCopy(x, p, Ctx(42, 7, 1)).token;
  // Unrelated calls in between (other sizes, params, threads' scratch state).
  SamplingParams other;
  other.top_k = 5;
  other.min_p = 0.1f;
  SampleCopy(RandomLogits(49152, 1), other, Ctx(3, 2, 1));
  SampleCopy(RandomLogits(17, 2), Greedy(), Ctx(3));
  EXPECT_EQ(SampleCopy(x, p, Ctx(42, 7, 1)).token, first);
}

TEST(SamplerTest, ConcurrentCallsMatchSequentialOnes) {
  // Scratch is per thread: threads sampling different vocabularies and
  // parameters at once get exactly the sequential results.
  SamplingParams p;
  p.top_p = 0.9f;
  p.frequency_penalty = 0.3f;
  const std::vector<int32_t> generated = {1, 2, 3, 2};
  auto run = [&](int thread) {
    std::vector<int32_t> out;
    const std::vector<float> x = RandomLogits(thread % 2 ? 49152 : 1000, thread);
    for (int step = 0; step < 100; ++step) {
      SamplingContext ctx = Ctx(thread, step);
      ctx.generated_tokens = generated;
      out.push_back(SampleCopy(x, p, ctx).token);
    }
    return out;
  };
  std::vector<std::vector<int32_t>> sequential, parallel(4);
  for (int t = 0; t < 4; ++t) sequential.push_back(run(t));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back([&, t] { parallel[t] = run(t); });
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(parallel, sequential);
}

TEST(SamplerTest, DifferentSeedsGiveDifferentSequences) {
  const std::vector<float> x = RandomLogits(1000, 9, 1.0f);
  SamplingParams p;
  std::vector<int32_t> a, b, c;
  for (int step = 0; step < 20; ++step) {
    a.push_back(SampleCopy(x, p, Ctx(1, step)).token);
    b.push_back(SampleCopy(x, p, Ctx(2, step)).token);
    c.push_back(SampleCopy(x, p, Ctx(1, step, 1)).token);  // parallel sample
  }
  EXPECT_NE(a, b);
  EXPECT_NE(a, c);
}

// Chi-square goodness of fit of 20k samples against softmax(x / T).
double ChiSquare(const std::vector<float>& x, float temperature, int n) {
  SamplingParams p;
  p.temperature = temperature;
  const std::vector<int> h = Histogram(x, p, n, 2024);
  const auto lp = LogSoftmax64(x, temperature);
  double chi2 = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double e = n * std::exp(lp[i]);
    chi2 += (h[i] - e) * (h[i] - e) / e;
  }
  return chi2;
}

TEST(SamplerTest, EmpiricalDistributionMatchesSoftmax) {
  // 16 ids, logits in [-1.5, 1.5] so every expected count is > 100; 15 dof,
  // 37.7 is the 0.999 quantile. Deterministic seeds: no flakiness.
  const std::vector<float> x = RandomLogits(16, 10, 1.5f);
  EXPECT_LT(ChiSquare(x, 1.0f, 20000), 37.7);
  EXPECT_LT(ChiSquare(x, 0.8f, 20000), 37.7);
}

// ------------------------------------------------------------------ logprobs

TEST(SamplerTest, LogprobsAreRawLogSoftmaxWhateverThePenaltiesAndTemperature) {
  const std::vector<float> x = RandomLogits(3000, 12);
  const auto ref = LogSoftmax64(x);
  SamplingParams p;
  p.temperature = 0.6f;
  p.repetition_penalty = 1.3f;
  p.frequency_penalty = 0.5f;
  p.presence_penalty = 0.5f;
  p.logprobs = 5;
  std::vector<int32_t> generated;
  for (int i = 0; i < 200; ++i) generated.push_back(i * 13 % 3000);
  SamplingContext ctx = Ctx(77, 3);
  ctx.generated_tokens = generated;
  for (int step = 0; step < 30; ++step) {
    ctx.step = step;
    const SampledToken t = SampleCopy(x, p, ctx);
    // float exp terms, double sums: 1e-5 absolute is ample.
    EXPECT_NEAR(t.logprob, ref[t.token], 1e-5);
    std::vector<int> order(x.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return x[a] > x[b]; });
    ASSERT_EQ(t.top.size(), 5u);
    for (int i = 0; i < 5; ++i) {
      EXPECT_EQ(t.top[i].token, order[i]);
      EXPECT_NEAR(t.top[i].logprob, ref[order[i]], 1e-5);
    }
  }
}

TEST(SamplerTest, TopLogprobsBreakTiesByLowerId) {
  SamplingParams p = Greedy();
  p.logprobs = 3;
  const SampledToken t = SampleCopy({1.0f, 2.0f, 0.0f, 2.0f, 2.0f}, p, Ctx(0));
  std::vector<int32_t> ids;
  for (const TokenLogprob& l : t.top) ids.push_back(l.token);
  EXPECT_THAT(ids, ElementsAre(1, 3, 4));
  EXPECT_FLOAT_EQ(t.top[0].logprob, t.top[2].logprob);
}

}  // namespace
}  // namespace llm
