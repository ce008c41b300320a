// Device sampling (kernels/cuda/sampling.cuh): greedy equals argmax, the
// filters keep exactly the tokens a float64 sort-based reference keeps, the
// empirical distribution matches the filtered softmax, and with no filter
// the token equals the host inverse CDF drawn with the same Philox uniform.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "gtest/gtest.h"
#include "tests/gpu/gpu_test_util.h"

#if !LLM_HAVE_CUDA
TEST(CudaSamplingTest, SkipsWithoutCuda) {
  GTEST_SKIP() << "no CUDA device: this build has no CUDA (LLM_CUDA=OFF or no toolkit)";
}
#else

#include "kernels/cuda/philox.cuh"
#include "kernels/cuda/sampling.cuh"

namespace llm {
namespace {

using gputest::DeviceArray;
using gputest::RandomFloats;

class CudaSamplingTest : public ::testing::Test {
 protected:
  void SetUp() override { LLM_REQUIRE_CUDA_DEVICE(); }
};

std::vector<int32_t> SampleOnDevice(const std::vector<float>& logits, int vocab,
                         const std::vector<cuda::DeviceSamplingParams>& params) {
  DeviceArray<float> dl(logits);
  DeviceArray<cuda::DeviceSamplingParams> dp(params);
  DeviceArray<int32_t> dt(params.size());
  dt.Poison();
  EXPECT_EQ(cuda::LaunchSample(dl.get(), static_cast<int>(params.size()), vocab, dp.get(),
                               dt.get(), nullptr),
            cudaSuccess);
  return dt.Download();
}

// Float64 reference probabilities after top-k -> top-p -> min-p.
std::vector<double> FilteredProbs(const float* x, int vocab, const cuda::DeviceSamplingParams& p) {
  const double mx = *std::max_element(x, x + vocab);
  std::vector<double> w(vocab);
  for (int i = 0; i < vocab; ++i) w[i] = std::exp((x[i] - mx) / p.temperature);
  std::vector<int> order(vocab);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return w[a] > w[b]; });
  int kept = vocab;
  if (p.top_k > 0 && p.top_k < vocab) kept = p.top_k;
  if (p.top_p < 1.0f) {
    double z = 0, run = 0;
    for (int i = 0; i < kept; ++i) z += w[order[i]];
    int n = 0;
    while (n < kept && run < p.top_p * z) run += w[order[n++]];
    kept = std::max(n, 1);
  }
  std::vector<double> prob(vocab, 0.0);
  double s = 0;
  for (int i = 0; i < kept; ++i) {
    if (w[order[i]] >= p.min_p) {
      prob[order[i]] = w[order[i]];
      s += w[order[i]];
    }
  }
  for (double& q : prob) q /= s;
  return prob;
}

TEST_F(CudaSamplingTest, GreedyIsArgmaxWithLowestIdOnTies) {
  const int vocab = 50000, rows = 4;
  auto logits = RandomFloats(rows * vocab, 1, -5.0f, 5.0f);
  logits[0 * vocab + 777] = 9.0f;
  logits[1 * vocab + 5] = 9.0f;
  logits[1 * vocab + 40000] = 9.0f;  // tie: id 5 wins
  logits[2 * vocab + vocab - 1] = 9.0f;
  logits[3 * vocab + 0] = 9.0f;
  std::vector<cuda::DeviceSamplingParams> params(rows);
  EXPECT_EQ(SampleOnDevice(logits, vocab, params), (std::vector<int32_t>{777, 5, vocab - 1, 0}));
}

TEST_F(CudaSamplingTest, FiltersNeverEmitDroppedTokensAndMatchDistribution) {
  // 12 logits, 6000 draws per configuration: each kept token's frequency
  // within 5 standard deviations (+1e-3) of its filtered probability;
  // dropped tokens never drawn.
  const int vocab = 12, draws = 6000;
  const std::vector<float> row = {1.0f, 0.2f, 2.5f, -1.0f, 0.9f, 3.0f,
                                  0.0f, 1.7f, -2.0f, 2.4f, 0.5f, 1.1f};
  struct Config {
    float t;
    int k;
    float top_p, min_p;
  };
  for (const Config c : {Config{1.0f, 0, 1.0f, 0.0f}, Config{0.7f, 5, 1.0f, 0.0f},
                         Config{1.0f, 0, 0.8f, 0.0f}, Config{1.3f, 0, 1.0f, 0.1f},
                         Config{1.0f, 6, 0.9f, 0.05f}}) {
    std::vector<float> logits;
    std::vector<cuda::DeviceSamplingParams> params(draws);
    for (int i = 0; i < draws; ++i) {
      logits.insert(logits.end(), row.begin(), row.end());
      params[i] = {c.t, c.k, c.top_p, c.min_p, 42, static_cast<uint64_t>(i), 0};
    }
    const auto tokens = SampleOnDevice(logits, vocab, params);
    const auto prob = FilteredProbs(row.data(), vocab, params[0]);
    std::vector<int> hist(vocab, 0);
    for (int32_t t : tokens) {
      ASSERT_GE(t, 0);
      ASSERT_LT(t, vocab);
      ++hist[t];
    }
    for (int v = 0; v < vocab; ++v) {
      if (prob[v] == 0.0) {
        EXPECT_EQ(hist[v], 0) << "dropped token " << v << " drawn, k=" << c.k;
        continue;
      }
      const double f = double(hist[v]) / draws;
      const double sd = std::sqrt(prob[v] * (1 - prob[v]) / draws);
      EXPECT_NEAR(f, prob[v], 5 * sd + 1e-3) << "token " << v << " k=" << c.k
                                             << " p=" << c.top_p << " min_p=" << c.min_p;
    }
  }
}

TEST_F(CudaSamplingTest, UnfilteredDrawEqualsHostInverseCdfWithSameUniform) {
  const int vocab = 32000, rows = 300;
  const auto logits = RandomFloats(int64_t{rows} * vocab, 3, -4.0f, 4.0f);
  std::vector<cuda::DeviceSamplingParams> params(rows);
  for (int r = 0; r < rows; ++r) params[r] = {1.0f, 0, 1.0f, 0.0f, 7, uint64_t(r), 1};
  const auto got = SampleOnDevice(logits, vocab, params);
  int compared = 0;
  for (int r = 0; r < rows; ++r) {
    const float* x = logits.data() + int64_t{r} * vocab;
    const double mx = *std::max_element(x, x + vocab);
    std::vector<double> cdf(vocab);
    double run = 0;
    for (int i = 0; i < vocab; ++i) cdf[i] = run += std::exp(x[i] - mx);
    const double target = cuda::PhiloxUniform53(7, r, 1) * run;
    const int want = std::upper_bound(cdf.begin(), cdf.end(), target) - cdf.begin();
    // fp32 sums on the device: skip draws within 1e-4 of a CDF step.
    const double lo = want > 0 ? cdf[want - 1] : 0.0;
    if (target - lo < 1e-4 * run || cdf[want] - target < 1e-4 * run) continue;
    ++compared;
    EXPECT_EQ(got[r], want) << "row " << r;
  }
  EXPECT_GT(compared, rows * 9 / 10);
}

}  // namespace
}  // namespace llm

#endif  // LLM_HAVE_CUDA
