// Tests of kernels/cpu/elementwise.h against the float64 references
// (kernels/reference/elementwise_reference.h), for every ISA the CPU runs.
//
// Tolerances (f32 kernels vs float64, inputs uniform in [-1, 1], never 0):
// RmsNorm / SwiGlu / Softmax round a handful of times per element (the
// polynomial exp is ~2 ulp), so each element must be within 1e-6 relative
// (~8 ulp) of the reference. RoPE: see the RoPE tests.
#include "kernels/cpu/elementwise.h"

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/cpu_isa_select.h"
#include "kernels/reference/elementwise_reference.h"

namespace llm::kernels {
namespace {

constexpr double kRelTol = 1e-6;

float RandomNonZero(std::mt19937& rng, float range = 1.0f) {
  std::uniform_real_distribution<float> dist(-range, range);
  for (;;) {
    const float x = dist(rng);
    if (x != 0.0f) return x;
  }
}

std::vector<float> RandomVector(std::mt19937& rng, int64_t n, float range = 1.0f) {
  std::vector<float> v(n);
  for (auto& x : v) x = RandomNonZero(rng, range);
  return v;
}

std::vector<double> ToDouble(const std::vector<float>& v) {
  return std::vector<double>(v.begin(), v.end());
}

const AttentionIsa kIsas[] = {AttentionIsa::kScalar, AttentionIsa::kAvx2,
                              AttentionIsa::kAvx512};

std::string IsaName(AttentionIsa isa) {
  switch (isa) {
    case AttentionIsa::kScalar: return "scalar";
    case AttentionIsa::kAvx2: return "avx2";
    case AttentionIsa::kAvx512: return "avx512";
    default: return "auto";
  }
}

// |got - want| <= rel * max(|want|, floor) for every element, no NaN.
void ExpectClose(const std::vector<float>& got, const std::vector<double>& want,
                 double rel, double floor, const std::string& what) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_TRUE(std::isfinite(got[i])) << what << " index " << i;
    ASSERT_LE(std::abs(got[i] - want[i]), rel * std::max(std::abs(want[i]), floor))
        << what << " index " << i << " got " << got[i] << " want " << want[i];
  }
}

class ElementwiseTest : public ::testing::Test {
 protected:
  void TearDown() override { SetElementwiseIsaForTesting(AttentionIsa::kAuto); }
};

TEST_F(ElementwiseTest, RmsNormMatchesReference) {
  std::mt19937 rng(1);
  for (AttentionIsa isa : kIsas) {
    if (!SetElementwiseIsaForTesting(isa)) continue;
    for (int d : {1, 7, 16, 17, 64, 576, 1000}) {
      const int n = 3;
      const std::vector<float> x = RandomVector(rng, n * d);
      const std::vector<float> w = RandomVector(rng, d);
      std::vector<float> out(n * d, std::nanf(""));
      RmsNorm(x.data(), w.data(), n, d, 1e-5f, out.data());
      std::vector<double> ref(n * d);
      reference::RmsNorm(ToDouble(x).data(), ToDouble(w).data(), n, d,
                         static_cast<double>(1e-5f), ref.data());
      ExpectClose(out, ref, kRelTol, 0.0, IsaName(isa) + " d=" + std::to_string(d));
    }
  }
}

TEST_F(ElementwiseTest, AddRmsNormAddsResidualThenNormalises) {
  std::mt19937 rng(2);
  for (AttentionIsa isa : kIsas) {
    if (!SetElementwiseIsaForTesting(isa)) continue;
    for (int d : {9, 576}) {
      const int n = 2;
      std::vector<float> x = RandomVector(rng, n * d);
      const std::vector<float> delta = RandomVector(rng, n * d);
      const std::vector<float> w = RandomVector(rng, d);
      std::vector<float> sum(n * d);
      for (int i = 0; i < n * d; ++i) sum[i] = x[i] + delta[i];
      std::vector<float> out(n * d, std::nanf(""));
      AddRmsNorm(x.data(), delta.data(), w.data(), n, d, 1e-5f, out.data());
      EXPECT_EQ(x, sum) << "the residual is the f32 sum, exactly";
      std::vector<double> ref(n * d);
      reference::RmsNorm(ToDouble(sum).data(), ToDouble(w).data(), n, d,
                         static_cast<double>(1e-5f), ref.data());
      ExpectClose(out, ref, kRelTol, 0.0, IsaName(isa) + " d=" + std::to_string(d));
    }
  }
}

TEST_F(ElementwiseTest, SwiGluMatchesReference) {
  std::mt19937 rng(3);
  for (AttentionIsa isa : kIsas) {
    if (!SetElementwiseIsaForTesting(isa)) continue;
    for (int64_t n : {1, 7, 8, 15, 16, 17, 1536, 1537}) {
      // Gates up to ±30 reach the saturated ends of silu.
      const std::vector<float> gate = RandomVector(rng, n, 30.0f);
      const std::vector<float> up = RandomVector(rng, n);
      std::vector<float> out(n, std::nanf(""));
      SwiGlu(gate.data(), up.data(), n, out.data());
      std::vector<double> ref(n);
      reference::SwiGlu(ToDouble(gate).data(), ToDouble(up).data(), n, ref.data());
      // Floor 1e-30: silu(-30) ~ -3e-12 is tiny but still compared.
      ExpectClose(out, ref, kRelTol, 1e-30, IsaName(isa) + " n=" + std::to_string(n));
    }
  }
}

TEST_F(ElementwiseTest, SoftmaxMatchesReferenceAndZeroesMinusInfinity) {
  std::mt19937 rng(4);
  for (AttentionIsa isa : kIsas) {
    if (!SetElementwiseIsaForTesting(isa)) continue;
    for (int n : {1, 5, 16, 17, 100, 49152}) {
      std::vector<float> x = RandomVector(rng, n, 10.0f);
      if (n > 3) x[2] = -INFINITY;
      std::vector<double> ref = ToDouble(x);
      reference::Softmax(ref.data(), n);
      Softmax(x.data(), n);
      if (n > 3) EXPECT_EQ(x[2], 0.0f) << IsaName(isa);
      // x - max of f32 inputs up to 20 apart rounds by up to 1e-6 absolute,
      // which exp turns into 1e-6 relative; plus ~2 ulp of exp and the
      // normalisation: 3e-6 relative per element.
      ExpectClose(x, ref, 3e-6, 0.0, IsaName(isa) + " n=" + std::to_string(n));
    }
  }
}

// Slopes for n = 8 and max_bias 8 are exactly 2^-1 .. 2^-8 (REFERENCE.md
// §4); 9 heads append the first odd term of the 16-head sequence, 2^-0.5.
TEST_F(ElementwiseTest, AlibiSlopesFollowClosedFormIncludingNonPowerOfTwo) {
  float slopes[9];
  AlibiSlopes(8, 8.0f, slopes);
  for (int h = 0; h < 8; ++h) EXPECT_EQ(slopes[h], std::ldexp(1.0f, -(h + 1)));
  AlibiSlopes(9, 8.0f, slopes);
  EXPECT_FLOAT_EQ(slopes[8], std::sqrt(0.5f));
  for (int n : {1, 2, 3, 4, 5, 9, 12, 16, 24, 32, 48, 80}) {
    std::vector<float> got(n);
    std::vector<double> want(n);
    AlibiSlopes(n, 8.0f, got.data());
    reference::AlibiSlopes(n, 8.0, want.data());
    ExpectClose(got, want, 1e-6, 0.0, "n_head=" + std::to_string(n));
  }
}

// RoPE pairing, modes and partial rotation at small positions. The angle
// drift of llama.cpp's recurrence (next test) bounds the error by
// 2e-6 + p * 4e-7, i.e. <= 2.7e-5 here; a wrong pair or mode is O(1).
TEST_F(ElementwiseTest, RopeMatchesReferenceAtSmallPositions) {
  std::mt19937 rng(5);
  const int32_t positions[] = {0, 1, 2, 7, 31, 63};
  const int n = 6;
  for (AttentionIsa isa : kIsas) {
    if (!SetElementwiseIsaForTesting(isa)) continue;
    for (RopeMode mode : {RopeMode::kNormal, RopeMode::kNeox}) {
      for (auto [head_dim, rope_dim] : {std::pair{64, 64}, {128, 128}, {64, 32}, {80, 48}}) {
        const int heads = 3;
        std::vector<float> x = RandomVector(rng, n * heads * head_dim);
        std::vector<double> ref = ToDouble(x);
        reference::Rope(ref.data(), n, heads, head_dim, rope_dim, positions, 10000.0, mode);
        const std::vector<float> before = x;
        Rope(x.data(), n, heads, head_dim, rope_dim, positions, 10000.0f, mode);
        const std::string what = IsaName(isa) + (mode == RopeMode::kNormal ? " normal" : " neox") +
                                 " d=" + std::to_string(head_dim) + "/" + std::to_string(rope_dim);
        for (size_t i = 0; i < x.size(); ++i) {
          if (static_cast<int>(i % head_dim) >= rope_dim) {
            ASSERT_EQ(x[i], before[i]) << what << ": dims past rope_dim must stay";
          } else {
            const int p = positions[i / (heads * head_dim)];
            ASSERT_NEAR(x[i], ref[i], 2e-6 + p * 4e-7) << what << " index " << i;
          }
        }
      }
    }
  }
}

// RoPE at large positions. The angles follow llama.cpp exactly (theta = p,
// then theta *= powf(base, -2/d) per pair, in f32) so that logits match it;
// that recurrence drifts from the exact angle by up to ~2i ulp of p*theta_i,
// i.e. |dphi| <= p * max_i(theta_i * 2i) * 2^-24 ~ p * 2e-7 for these bases.
// Against the exact float64 rotation each element is then within
// 2 * p * 2e-7 + 2e-6; against a replica of llama.cpp's recurrence it stays
// within 2e-6 at every position.
TEST_F(ElementwiseTest, RopeFollowsLlamaCppAngleRecurrenceAtLargePositions) {
  std::mt19937 rng(6);
  const int32_t positions[] = {100, 1000, 2047, 4095, 8191};
  const int n = 5, heads = 2, d = 64;
  for (AttentionIsa isa : kIsas) {
    if (!SetElementwiseIsaForTesting(isa)) continue;
    for (RopeMode mode : {RopeMode::kNormal, RopeMode::kNeox}) {
      for (float base : {10000.0f, 100000.0f}) {
        std::vector<float> x = RandomVector(rng, n * heads * d);
        std::vector<double> exact = ToDouble(x);
        reference::Rope(exact.data(), n, heads, d, d, positions, base, mode);
        // llama.cpp's angles, rotation in double.
        std::vector<double> llama = ToDouble(x);
        const float theta_scale = powf(base, -2.0f / d);
        for (int t = 0; t < n; ++t) {
          float theta = static_cast<float>(positions[t]);
          for (int i = 0; i < d / 2; ++i) {
            const double c = cosf(theta), s = sinf(theta);
            for (int h = 0; h < heads; ++h) {
              double* xh = llama.data() + (t * heads + h) * d;
              const int ia = mode == RopeMode::kNormal ? 2 * i : i;
              const int ib = mode == RopeMode::kNormal ? 2 * i + 1 : i + d / 2;
              const double a = xh[ia], b = xh[ib];
              xh[ia] = a * c - b * s;
              xh[ib] = a * s + b * c;
            }
            theta *= theta_scale;
          }
        }
        Rope(x.data(), n, heads, d, d, positions, base, mode);
        for (size_t i = 0; i < x.size(); ++i) {
          const int p = positions[i / (heads * d)];
          ASSERT_NEAR(x[i], llama[i], 2e-6) << IsaName(isa) << " index " << i;
          ASSERT_NEAR(x[i], exact[i], 2e-6 + p * 4e-7) << IsaName(isa) << " index " << i;
        }
      }
    }
  }
}

}  // namespace
}  // namespace llm::kernels
