// Tests for the reference quantizers/dequantizers (kernels/reference/
// quantize.h): bit equality with ggml's own quantizers on a golden row,
// round-trip error bounds on random rows, and hand-built blocks that pin the
// element order.
#include "kernels/reference/quantize.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "common/fp16.h"
#include "common/gguf.h"
#include "gtest/gtest.h"

namespace llm::kernels::reference {
namespace {

constexpr char kGolden[] = LLM_SOURCE_DIR "/tests/fixtures/quantize_golden.gguf";

const GgmlType kAllTypes[] = {GgmlType::kF32,  GgmlType::kF16,  GgmlType::kBF16,
                              GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ5_0,
                              GgmlType::kQ5_1, GgmlType::kQ8_0, GgmlType::kQ8_1,
                              GgmlType::kQ4_K, GgmlType::kQ6_K};

std::vector<uint8_t> Quantize(GgmlType type, const std::vector<float>& x) {
  std::vector<uint8_t> q(*GgmlRowBytes(type, static_cast<int64_t>(x.size())));
  EXPECT_TRUE(QuantizeRow(type, x.data(), static_cast<int64_t>(x.size()), q.data()).ok());
  return q;
}

std::vector<double> Dequantize(GgmlType type, const std::vector<uint8_t>& q, size_t n) {
  std::vector<double> out(n);
  DequantizeRow(type, q.data(), static_cast<int64_t>(n), out.data());
  return out;
}

// ggml's quantizers (libggml-base of llama-cpp-python 0.3.36) applied to a
// fixed row; see tests/fixtures/gen_quantize_golden.py.
TEST(QuantizeTest, MatchesGgmlQuantizerBitForBit) {
  auto file = GgufFile::Open(kGolden);
  ASSERT_TRUE(file.ok()) << file.status();
  const GgufTensor* xt = (*file)->FindTensor("x");
  ASSERT_NE(xt, nullptr);
  std::vector<float> x(static_cast<size_t>(xt->num_elements()));
  std::memcpy(x.data(), xt->data, xt->nbytes);
  int checked = 0;
  for (const GgufTensor& t : (*file)->tensors()) {
    if (t.name == "x") continue;
    const std::vector<uint8_t> mine = Quantize(t.type, x);
    ASSERT_EQ(mine.size(), t.nbytes) << t.name;
    EXPECT_EQ(std::memcmp(mine.data(), t.data, t.nbytes), 0) << t.name;
    ++checked;
  }
  EXPECT_EQ(checked, 9);
  auto q81 = (*file)->GetIntArray("golden.q8_1");
  ASSERT_TRUE(q81.ok()) << q81.status();
  const std::vector<uint8_t> mine = Quantize(GgmlType::kQ8_1, x);
  ASSERT_EQ(mine.size(), q81->size());
  for (size_t i = 0; i < mine.size(); ++i) ASSERT_EQ(mine[i], (*q81)[i]) << "Q8_1 byte " << i;
}

// Largest error a correct quantizer may make on one block, from the format:
// half a quantization step, plus the fp16 rounding of the stored scale/min
// (relative 2^-11, or absolute 2^-25 once the scale is an fp16 subnormal,
// times the largest code), plus slack for float32 maths.
double BlockBound(GgmlType type, const float* x, int n) {
  double amax = 0, mn = x[0], mx = x[0];
  for (int i = 0; i < n; ++i) {
    amax = std::max(amax, std::fabs(double{x[i]}));
    mn = std::min(mn, double{x[i]});
    mx = std::max(mx, double{x[i]});
  }
  const double fp16 = std::ldexp(1.0, -11);
  const double sub = std::ldexp(1.0, -25);
  switch (type) {
    case GgmlType::kF32: return 0;
    case GgmlType::kF16: return amax * fp16;
    case GgmlType::kBF16: return amax * std::ldexp(1.0, -8);
    // Symmetric types map -max onto +8 (+16) clamped to 7 (15): a full step.
    case GgmlType::kQ4_0: return amax / 8 * (1 + 16 * fp16) + 8 * sub;
    case GgmlType::kQ5_0: return amax / 16 * (1 + 32 * fp16) + 16 * sub;
    case GgmlType::kQ4_1: return (mx - mn) / 15 * (0.5 + 16 * fp16) + amax * fp16 + 17 * sub;
    case GgmlType::kQ5_1: return (mx - mn) / 31 * (0.5 + 32 * fp16) + amax * fp16 + 33 * sub;
    case GgmlType::kQ8_0:
    case GgmlType::kQ8_1: return amax / 127 * (0.5 + 128 * fp16) + 128 * sub;
    // K-quants: 6-bit sub-block scales add a further quantization of the
    // scale itself, so only a step-sized bound holds per element. Q4_K's
    // offset is never positive (min is clamped to <= 0), so the step covers
    // [min(mn, 0), max(mx, 0)].
    case GgmlType::kQ4_K: return (std::max(mx, 0.0) - std::min(mn, 0.0)) / 15 * 1.6 + 64 * 16 * sub;
    case GgmlType::kQ6_K: return amax / 32 * 1.6 + 128 * 32 * sub;
    default: return 0;
  }
}

TEST(QuantizeTest, RoundTripErrorStaysWithinFormatBound) {
  std::mt19937 rng(7);
  for (GgmlType type : kAllTypes) {
    const GgmlTypeInfo& info = GetGgmlTypeInfo(type);
    const int block = info.block_size == 1 ? 32 : info.block_size;
    for (int n_blocks : {1, 3, 8}) {
      for (double scale : {1.0, 1e-3, 50.0}) {
        std::uniform_real_distribution<float> u(-scale, scale);
        std::vector<float> x(static_cast<size_t>(block * n_blocks));
        for (float& v : x) v = u(rng);
        if (n_blocks == 3) {  // all-positive rows: min > 0 paths
          for (float& v : x) v = std::fabs(v) + static_cast<float>(scale);
        }
        const std::vector<double> y = Dequantize(type, Quantize(type, x), x.size());
        double sq = 0, sq_ref = 0;
        for (int b = 0; b < n_blocks; ++b) {
          const float* xb = x.data() + b * block;
          const double bound = BlockBound(type, xb, block);
          for (int i = 0; i < block; ++i) {
            const double err = std::fabs(y[b * block + i] - xb[i]);
            ASSERT_LE(err, bound) << info.name << " n=" << x.size() << " scale=" << scale
                                  << " i=" << b * block + i;
            sq += err * err;
            sq_ref += double{xb[i]} * xb[i];
          }
        }
        // Typical relative RMS error for uniform inputs (measured: Q4 ~0.08,
        // Q5 ~0.04, Q6_K ~0.02, Q8 ~0.005); 1.5x headroom.
        const double rel = std::sqrt(sq / sq_ref);
        const double rel_bound = type == GgmlType::kQ4_0 || type == GgmlType::kQ4_1 ||
                                         type == GgmlType::kQ4_K ? 0.12
                                 : type == GgmlType::kQ5_0 || type == GgmlType::kQ5_1 ? 0.06
                                 : type == GgmlType::kQ6_K ? 0.03
                                 : 0.01;
        EXPECT_LE(rel, rel_bound) << info.name << " n=" << x.size() << " scale=" << scale;
      }
    }
  }
}

TEST(QuantizeTest, Q4_1LowNibbleIsElementIHighNibbleIsElementIPlus16) {
  // d = 1, m = 0.5, qs[i] = i | (15 - i) << 4.
  std::vector<uint8_t> blk(20);
  const uint16_t d = FloatToFp16(1.0f), m = FloatToFp16(0.5f);
  std::memcpy(&blk[0], &d, 2);
  std::memcpy(&blk[2], &m, 2);
  for (int i = 0; i < 16; ++i) blk[4 + i] = static_cast<uint8_t>(i | ((15 - i) << 4));
  const std::vector<double> y = Dequantize(GgmlType::kQ4_1, blk, 32);
  for (int i = 0; i < 16; ++i) {
    EXPECT_EQ(y[i], i + 0.5) << i;
    EXPECT_EQ(y[i + 16], 15 - i + 0.5) << i;
  }
  // The quantizer encodes those values back into exactly that block.
  std::vector<float> x(32);
  for (int i = 0; i < 32; ++i) x[i] = static_cast<float>(y[i]);
  const std::vector<uint8_t> q = Quantize(GgmlType::kQ4_1, x);
  EXPECT_EQ(q, blk);
}

TEST(QuantizeTest, Q5_0HighBitComesFromQhBitJ) {
  // d = 1, all low nibbles 0, qh has only bit 20 set: element 20 = 16 - 16 = 0,
  // every other element = 0 - 16.
  std::vector<uint8_t> blk(22, 0);
  const uint16_t d = FloatToFp16(1.0f);
  std::memcpy(&blk[0], &d, 2);
  const uint32_t qh = 1u << 20;
  std::memcpy(&blk[2], &qh, 4);
  const std::vector<double> y = Dequantize(GgmlType::kQ5_0, blk, 32);
  for (int i = 0; i < 32; ++i) EXPECT_EQ(y[i], i == 20 ? 0.0 : -16.0) << i;
}

TEST(QuantizeTest, Q6_KElementOrderFollowsReference) {
  // d = 1, scales all 1; ql[l] = 1 for l == 3 only, qh = 0: element 3 is
  // 1 - 32; ql[3] high nibble would be element 67.
  std::vector<uint8_t> blk(210, 0);
  for (int i = 0; i < 16; ++i) blk[192 + i] = 1;
  const uint16_t d = FloatToFp16(1.0f);
  std::memcpy(&blk[208], &d, 2);
  blk[3] = 0x21;     // element 3: 1, element 67: 2
  blk[128 + 5] = 0xC0;  // qh[5] bits 6-7: element 101 (l = 5, fourth quarter) = 48
  const std::vector<double> y = Dequantize(GgmlType::kQ6_K, blk, 256);
  EXPECT_EQ(y[3], 1 - 32.0);
  EXPECT_EQ(y[67], 2 - 32.0);
  EXPECT_EQ(y[101], 48 - 32.0);
  EXPECT_EQ(y[0], -32.0);
  EXPECT_EQ(y[255], -32.0);
}

TEST(QuantizeTest, FloatDequantizeEqualsRoundedDouble) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-2, 2);
  for (GgmlType type : kAllTypes) {
    std::vector<float> x(512);
    for (float& v : x) v = u(rng);
    const std::vector<uint8_t> q = Quantize(type, x);
    const std::vector<double> yd = Dequantize(type, q, x.size());
    std::vector<float> yf(x.size());
    DequantizeRowF32(type, q.data(), static_cast<int64_t>(x.size()), yf.data());
    for (size_t i = 0; i < x.size(); ++i) {
      ASSERT_EQ(yf[i], static_cast<float>(yd[i])) << GetGgmlTypeInfo(type).name << " " << i;
    }
  }
}

TEST(QuantizeTest, AllZeroBlocksRoundTripToZero) {
  for (GgmlType type : kAllTypes) {
    const std::vector<float> x(256, 0.0f);
    const std::vector<double> y = Dequantize(type, Quantize(type, x), x.size());
    for (double v : y) ASSERT_EQ(v, 0.0) << GetGgmlTypeInfo(type).name;
  }
}

TEST(QuantizeTest, RejectsUnsupportedTypeAndRaggedLength) {
  std::vector<float> x(256, 1.0f);
  std::vector<uint8_t> q(1024);
  EXPECT_TRUE(absl::IsInvalidArgument(QuantizeRow(GgmlType::kQ2_K, x.data(), 256, q.data())));
  EXPECT_TRUE(absl::IsInvalidArgument(QuantizeRow(GgmlType::kQ4_1, x.data(), 33, q.data())));
  EXPECT_TRUE(absl::IsInvalidArgument(QuantizeRow(GgmlType::kQ4_K, x.data(), 128, q.data())));
  EXPECT_TRUE(QuantizeRow(GgmlType::kF16, x.data(), 7, q.data()).ok());  // no blocks for floats
  EXPECT_FALSE(QuantizeSupports(GgmlType::kQ8_K));
  EXPECT_TRUE(QuantizeSupports(GgmlType::kQ6_K));
}

}  // namespace
}  // namespace llm::kernels::reference
