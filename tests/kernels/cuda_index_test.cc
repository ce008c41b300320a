// Host tests of kernels/cuda/paged_index.cuh: the index and tile arithmetic
// the CUDA kernels run, compiled here with the host compiler (no GPU needed).
#include "kernels/cuda/paged_index.cuh"

#include <cmath>
#include <vector>

#include "common/fp16.h"
#include "common/ggml_types.h"
#include "gtest/gtest.h"
#include "kernels/reference/elementwise_reference.h"
#include "kernels/reference/quantize.h"

namespace llm::cuda {
namespace {

TEST(CudaIndexTest, PagedSlotFollowsTheBlockTable) {
  const int32_t table[] = {7, 2, 9};
  EXPECT_EQ(PagedSlot(table, 0, 16), 7 * 16);
  EXPECT_EQ(PagedSlot(table, 15, 16), 7 * 16 + 15);
  EXPECT_EQ(PagedSlot(table, 16, 16), 2 * 16);
  EXPECT_EQ(PagedSlot(table, 40, 16), 9 * 16 + 8);
  EXPECT_EQ(PagedSlot(table, 6, 5), 2 * 5 + 1);  // block size not a power of 2
}

TEST(CudaIndexTest, KvElementIndexIsNhdLayout) {
  // [slot][kv_head][dim] with 3 heads of 64.
  EXPECT_EQ(KvElementIndex(0, 0, 0, 3, 64), 0);
  EXPECT_EQ(KvElementIndex(0, 2, 5, 3, 64), 2 * 64 + 5);
  EXPECT_EQ(KvElementIndex(10, 1, 63, 3, 64), (10 * 3 + 1) * 64 + 63);
  // 64-bit: a slot beyond 2^31 / (heads * dim) does not overflow.
  EXPECT_EQ(KvElementIndex(int64_t{1} << 26, 0, 0, 8, 128), (int64_t{1} << 26) * 1024);
}

TEST(CudaIndexTest, QueryPositionsEndAtTheContext) {
  // A chunk of 20 queries ending a 100-token context: positions 80..99.
  EXPECT_EQ(QueryPosition(100, 20, 0), 80);
  EXPECT_EQ(QueryPosition(100, 20, 19), 99);
  EXPECT_EQ(QueryPosition(1, 1, 0), 0);
}

TEST(CudaIndexTest, KvHeadOfGroupsQueryHeads) {
  // SmolLM2: 9 query heads over 3 KV heads.
  std::vector<int> got;
  for (int h = 0; h < 9; ++h) got.push_back(KvHeadOf(h, 9, 3));
  EXPECT_EQ(got, (std::vector<int>{0, 0, 0, 1, 1, 1, 2, 2, 2}));
  EXPECT_EQ(KvHeadOf(5, 8, 8), 5);
  EXPECT_EQ(KvHeadOf(31, 32, 8), 7);
}

TEST(CudaIndexTest, DecodePartitionsCoverKeysExactlyOnce) {
  for (int keys : {1, 2, 511, 512, 513, 1024, 1025, 3000}) {
    const int parts = NumDecodePartitions(keys);
    EXPECT_EQ(parts, (keys + kDecodePartitionSize - 1) / kDecodePartitionSize) << keys;
    int covered = 0, prev_end = 0;
    for (int p = 0; p < parts; ++p) {
      int b, e;
      DecodePartitionRange(p, keys, &b, &e);
      EXPECT_EQ(b, prev_end) << keys;
      EXPECT_GT(e, b) << keys;
      covered += e - b;
      prev_end = e;
    }
    EXPECT_EQ(covered, keys);
    int b, e;
    DecodePartitionRange(parts, keys, &b, &e);  // past the end: empty
    EXPECT_EQ(e, b);
  }
}

TEST(CudaIndexTest, PrefillTilesAndCausalKeyEnd) {
  EXPECT_EQ(NumPrefillTiles(1), 1);
  EXPECT_EQ(NumPrefillTiles(16), 1);
  EXPECT_EQ(NumPrefillTiles(17), 2);
  EXPECT_EQ(NumPrefillTiles(37), 3);
  // 37-token prompt: tile 2 holds queries 32..36, sees keys [0, 37).
  EXPECT_EQ(PrefillKeyEnd(37, 37, 32), 37);
  // tile 0 of the same prompt: its last row (15) sees keys [0, 16).
  EXPECT_EQ(PrefillKeyEnd(37, 37, 0), 16);
  // Chunked: 20 queries at the end of 100: tile 0's last row sits at 95.
  EXPECT_EQ(PrefillKeyEnd(100, 20, 0), 96);
  EXPECT_TRUE(KeyVisible(95, 95));
  EXPECT_FALSE(KeyVisible(96, 95));
}

TEST(CudaIndexTest, AlibiSlopeMatchesReference) {
  for (int n : {1, 4, 6, 8, 12, 32}) {
    std::vector<double> want(n);
    kernels::reference::AlibiSlopes(n, 8.0, want.data());
    for (int h = 0; h < n; ++h) {
      EXPECT_NEAR(AlibiSlope(h, n, 8.0f), want[h], 1e-6 * want[h]) << n << " " << h;
    }
  }
}

TEST(CudaIndexTest, MergeLseEqualsSoftmaxOverTheUnion) {
  // Two partitions of scores; merged (m, l, o) must equal one pass.
  const std::vector<float> s = {0.5f, -1.0f, 2.0f, 0.25f, 3.0f};
  const std::vector<float> v = {1.0f, 2.0f, 3.0f, 4.0f, 5.0f};
  double num = 0, den = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    num += std::exp(double{s[i]}) * v[i];
    den += std::exp(double{s[i]});
  }
  float m = 0, l = 0, o = 0;
  for (auto [b, e] : {std::pair{0, 2}, std::pair{2, 5}}) {
    float pm = -INFINITY, pl = 0, po = 0;
    for (int i = b; i < e; ++i) pm = std::max(pm, s[i]);
    for (int i = b; i < e; ++i) {
      pl += std::exp(s[i] - pm);
      po += std::exp(s[i] - pm) * v[i];
    }
    const LseFactors f = MergeLse(&m, &l, pm, pl);
    o = o * f.scale_old + po * f.scale_new;
  }
  EXPECT_NEAR(o / l, num / den, 1e-6);
  // An empty partition changes nothing.
  const float m0 = m, l0 = l;
  const LseFactors f = MergeLse(&m, &l, 0.0f, 0.0f);
  EXPECT_EQ(f.scale_old, 1.0f);
  EXPECT_EQ(f.scale_new, 0.0f);
  EXPECT_EQ(m, m0);
  EXPECT_EQ(l, l0);
}

TEST(CudaIndexTest, HalfBitsToFloatMatchesFp16Decoder) {
  // Every fp16 bit pattern, including subnormals, infinities and NaNs.
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float got = HalfBitsToFloat(static_cast<uint16_t>(h));
    const float want = Fp16ToFloat(static_cast<uint16_t>(h));
    if (std::isnan(want)) {
      ASSERT_TRUE(std::isnan(got)) << h;
    } else {
      ASSERT_EQ(got, want) << h;
    }
  }
}

TEST(CudaIndexTest, DequantElementMatchesReferenceDequantizer) {
  struct T {
    GgmlType type;
    QuantFormat format;
  };
  const int64_t cols = 96;
  std::vector<float> src(cols);
  for (int64_t i = 0; i < cols; ++i) src[i] = std::sin(0.37 * i) * (1 + i % 7);
  for (const T t : {T{GgmlType::kQ4_0, QuantFormat::kQ4_0}, T{GgmlType::kQ4_1, QuantFormat::kQ4_1},
                    T{GgmlType::kQ8_0, QuantFormat::kQ8_0}, T{GgmlType::kF16, QuantFormat::kF16},
                    T{GgmlType::kF32, QuantFormat::kF32}}) {
    const int64_t bytes = QuantRowBytes(t.format, cols);
    ASSERT_EQ(bytes, static_cast<int64_t>(*GgmlRowBytes(t.type, cols)));
    std::vector<uint8_t> row(bytes);
    ASSERT_TRUE(kernels::reference::QuantizeRow(t.type, src.data(), cols, row.data()).ok());
    std::vector<double> want(cols);
    kernels::reference::DequantizeRow(t.type, row.data(), cols, want.data());
    for (int64_t e = 0; e < cols; ++e) {
      // One fp32 rounding of d*q(+m) versus the exact double value.
      EXPECT_NEAR(DequantElement(t.format, row.data(), e / 32, e % 32), want[e],
                  1e-6 * std::abs(want[e]) + 1e-7)
          << GetGgmlTypeInfo(t.type).name << " element " << e;
    }
  }
}

TEST(CudaIndexTest, RopePairDimsNormalAndNeox) {
  int d0, d1;
  RopePairDims(3, 64, /*neox=*/false, &d0, &d1);
  EXPECT_EQ(d0, 6);
  EXPECT_EQ(d1, 7);
  RopePairDims(3, 64, /*neox=*/true, &d0, &d1);
  EXPECT_EQ(d0, 3);
  EXPECT_EQ(d1, 35);
  // rope_dim 32 of 64: pair 20 is past the rotated dims, passes (40, 41).
  RopePairDims(20, 32, /*neox=*/true, &d0, &d1);
  EXPECT_EQ(d0, 40);
  EXPECT_EQ(d1, 41);
}

}  // namespace
}  // namespace llm::cuda
