// GPU fused element-wise kernels (kernels/cuda/elementwise.cuh) against the
// float64 references on random inputs, with poisoned outputs.
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "tests/gpu/gpu_test_util.h"

#if !LLM_HAVE_CUDA
TEST(CudaElementwiseTest, SkipsWithoutCuda) {
  GTEST_SKIP() << "no CUDA device: this build has no CUDA (LLM_CUDA=OFF or no toolkit)";
}
#else

#include "common/fp16.h"
#include "common/ggml_types.h"
#include "kernels/cuda/elementwise.cuh"
#include "kernels/reference/elementwise_reference.h"
#include "kernels/reference/quantize.h"

namespace llm {
namespace {

using gputest::AllClose;
using gputest::DeviceArray;
using gputest::RandomFloats;

class CudaElementwiseTest : public ::testing::Test {
 protected:
  void SetUp() override { LLM_REQUIRE_CUDA_DEVICE(); }
};

std::vector<double> ToDouble(const std::vector<float>& v) {
  return std::vector<double>(v.begin(), v.end());
}

// fp32 throughout; the reference is float64. A row's sum of squares over
// up to 4000 terms in fp32 is accurate to ~1e-6 relative: 1e-5 leaves room.
TEST_F(CudaElementwiseTest, RmsNormMatchesReferenceOnRaggedWidths) {
  for (int d : {576, 1000, 4096, 33}) {
    const int n = 7;
    const auto x = RandomFloats(int64_t{n} * d, d);
    const auto w = RandomFloats(d, d + 1, 0.5f, 1.5f);
    DeviceArray<float> dx(x), dw(w), dout(x.size());
    dout.Poison();
    ASSERT_EQ(cuda::LaunchRmsNorm(dx.get(), dw.get(), n, d, 1e-5f, dout.get(), nullptr),
              cudaSuccess);
    std::vector<double> want(x.size());
    kernels::reference::RmsNorm(ToDouble(x).data(), ToDouble(w).data(), n, d, 1e-5,
                                want.data());
    EXPECT_TRUE(AllClose(dout.Download(), want, 1e-5, 1e-6)) << "d=" << d;
  }
}

TEST_F(CudaElementwiseTest, AddRmsNormUpdatesResidualAndNormalises) {
  const int n = 5, d = 576;
  const auto x = RandomFloats(n * d, 1), delta = RandomFloats(n * d, 2);
  const auto w = RandomFloats(d, 3, 0.5f, 1.5f);
  DeviceArray<float> dx(x), ddelta(delta), dw(w), dout(x.size());
  dout.Poison();
  ASSERT_EQ(cuda::LaunchAddRmsNorm(dx.get(), ddelta.get(), dw.get(), n, d, 1e-5f,
                                   dout.get(), nullptr),
            cudaSuccess);
  std::vector<double> sum(x.size()), want(x.size());
  for (size_t i = 0; i < x.size(); ++i) sum[i] = double{x[i]} + delta[i];
  kernels::reference::RmsNorm(sum.data(), ToDouble(w).data(), n, d, 1e-5, want.data());
  // The residual sum is one fp32 add: exact to 1 ulp.
  EXPECT_TRUE(AllClose(dx.Download(), sum, 1e-6, 1e-7));
  EXPECT_TRUE(AllClose(dout.Download(), want, 1e-5, 1e-6));
}

// RoPE angles are computed in double on the device; q and k are fp32 (1e-5),
// the cache holds fp16 of the rotated k (compare after fp16 rounding of the
// reference: 1e-3, the fp16 step at |x| < 2 is <= 2^-10).
void CheckRopeAndWrite(RopeMode mode, int rope_dim, int head_dim) {
  const int n = 6, n_head = 4, n_kv = 2, block_size = 16, num_blocks = 4;
  const auto q = RandomFloats(n * n_head * head_dim, 40 + rope_dim);
  const auto k = RandomFloats(n * n_kv * head_dim, 41 + rope_dim);
  const auto v = RandomFloats(n * n_kv * head_dim, 42 + rope_dim);
  const std::vector<int32_t> positions = {0, 1, 7, 100, 2047, 5000};
  const std::vector<int64_t> slots = {3, 17, -1, 40, 63, 0};  // -1: padding
  const int64_t cache_elems = int64_t{num_blocks} * block_size * n_kv * head_dim;
  DeviceArray<float> dq(q), dk(k), dv(v);
  DeviceArray<int32_t> dpos(positions);
  DeviceArray<int64_t> dslots(slots);
  DeviceArray<uint16_t> kc(cache_elems), vc(cache_elems);
  ASSERT_EQ(cudaMemset(kc.get(), 0, cache_elems * 2), cudaSuccess);
  ASSERT_EQ(cudaMemset(vc.get(), 0, cache_elems * 2), cudaSuccess);
  cuda::DeviceKvWrite cache{kc.get(), vc.get(), n_kv, head_dim};
  ASSERT_EQ(cuda::LaunchRopeAndWriteKv(cache, dq.get(), n_head, dk.get(), dv.get(), n,
                                       dpos.get(), dslots.get(), rope_dim, 10000.0f,
                                       mode == RopeMode::kNeox, nullptr),
            cudaSuccess);
  std::vector<double> wq = ToDouble(q), wk = ToDouble(k);
  kernels::reference::Rope(wq.data(), n, n_head, head_dim, rope_dim, positions.data(),
                           10000.0, mode);
  kernels::reference::Rope(wk.data(), n, n_kv, head_dim, rope_dim, positions.data(),
                           10000.0, mode);
  EXPECT_TRUE(AllClose(dq.Download(), wq, 1e-5, 1e-5));
  EXPECT_TRUE(AllClose(dk.Download(), wk, 1e-5, 1e-5));
  const auto kh = kc.Download(), vh = vc.Download();
  std::vector<float> got_k, got_v;
  std::vector<double> want_k, want_v;
  for (int t = 0; t < n; ++t) {
    if (slots[t] < 0) continue;
    for (int e = 0; e < n_kv * head_dim; ++e) {
      got_k.push_back(Fp16ToFloat(kh[slots[t] * n_kv * head_dim + e]));
      got_v.push_back(Fp16ToFloat(vh[slots[t] * n_kv * head_dim + e]));
      want_k.push_back(wk[t * n_kv * head_dim + e]);
      want_v.push_back(v[t * n_kv * head_dim + e]);
    }
  }
  EXPECT_TRUE(AllClose(got_k, want_k, 1e-3, 1e-3));
  EXPECT_TRUE(AllClose(got_v, want_v, 1e-3, 1e-3));
  // The padding token's would-be slot (none) and untouched slots stay zero.
  EXPECT_EQ(kh[1 * n_kv * head_dim], 0);
}

TEST_F(CudaElementwiseTest, RopeNormalRotatesAndWritesCacheSlots) {
  CheckRopeAndWrite(RopeMode::kNormal, 64, 64);
}
TEST_F(CudaElementwiseTest, RopeNeoxRotatesAndWritesCacheSlots) {
  CheckRopeAndWrite(RopeMode::kNeox, 128, 128);
}
TEST_F(CudaElementwiseTest, RopePartialDimsLeavesTailUnrotated) {
  CheckRopeAndWrite(RopeMode::kNeox, 32, 64);
  CheckRopeAndWrite(RopeMode::kNormal, 32, 64);
}

TEST_F(CudaElementwiseTest, SwiGluMatchesReference) {
  const int64_t n = 100003;  // not a multiple of the block
  const auto g = RandomFloats(n, 5, -6.0f, 6.0f), u = RandomFloats(n, 6);
  DeviceArray<float> dg(g), du(u), dout(n);
  dout.Poison();
  ASSERT_EQ(cuda::LaunchSwiGlu(dg.get(), du.get(), n, dout.get(), nullptr), cudaSuccess);
  std::vector<double> want(n);
  kernels::reference::SwiGlu(ToDouble(g).data(), ToDouble(u).data(), n, want.data());
  EXPECT_TRUE(AllClose(dout.Download(), want, 1e-5, 1e-6));
}

// Embedding rows are dequantised exactly (fp16 scale times small integer,
// one fp32 rounding): compare to the exact reference at 1e-6.
TEST_F(CudaElementwiseTest, EmbedDequantisesQ8_0Q4_0Q4_1Rows) {
  const int64_t cols = 576, rows = 50;
  const std::vector<int32_t> tokens = {0, 49, 7, 7, 23};
  struct T {
    GgmlType type;
    cuda::QuantFormat format;
  };
  for (const T t : {T{GgmlType::kQ8_0, cuda::QuantFormat::kQ8_0},
                    T{GgmlType::kQ4_0, cuda::QuantFormat::kQ4_0},
                    T{GgmlType::kQ4_1, cuda::QuantFormat::kQ4_1}}) {
    const int64_t row_bytes = cuda::QuantRowBytes(t.format, cols);
    std::vector<uint8_t> w(rows * row_bytes);
    const auto src = RandomFloats(rows * cols, 9);
    for (int64_t r = 0; r < rows; ++r) {
      ASSERT_TRUE(kernels::reference::QuantizeRow(t.type, src.data() + r * cols, cols,
                                                  w.data() + r * row_bytes)
                      .ok());
    }
    DeviceArray<uint8_t> dw(w);
    DeviceArray<int32_t> dtok(tokens);
    DeviceArray<float> dx(tokens.size() * cols);
    dx.Poison();
    ASSERT_EQ(cuda::LaunchEmbed(dw.get(), t.format, row_bytes, cols, dtok.get(),
                                static_cast<int>(tokens.size()), dx.get(), nullptr),
              cudaSuccess);
    std::vector<double> want(tokens.size() * cols);
    for (size_t i = 0; i < tokens.size(); ++i) {
      kernels::reference::DequantizeRow(t.type, w.data() + tokens[i] * row_bytes, cols,
                                        want.data() + i * cols);
    }
    EXPECT_TRUE(AllClose(dx.Download(), want, 1e-6, 1e-7))
        << GetGgmlTypeInfo(t.type).name;
  }
}

TEST_F(CudaElementwiseTest, GatherRowsCopiesRequestedRows) {
  const int d = 33;
  const auto x = RandomFloats(10 * d, 12);
  const std::vector<int32_t> rows = {9, 0, 4};
  DeviceArray<float> dx(x), dout(rows.size() * d);
  DeviceArray<int32_t> drows(rows);
  dout.Poison();
  ASSERT_EQ(cuda::LaunchGatherRows(dx.get(), d, drows.get(), 3, dout.get(), nullptr),
            cudaSuccess);
  std::vector<float> want;
  for (int r : rows) want.insert(want.end(), x.begin() + r * d, x.begin() + (r + 1) * d);
  EXPECT_EQ(dout.Download(), want);
}

TEST_F(CudaElementwiseTest, CopyBlocksCopiesEveryCacheAndLeavesOthers) {
  const int64_t block_elems = 16 * 3 * 64;  // block_size 16, 3 KV heads, hd 64
  const int num_blocks = 6, num_caches = 4;
  std::vector<uint16_t> init(num_blocks * block_elems);
  for (size_t i = 0; i < init.size(); ++i) init[i] = static_cast<uint16_t>(i * 2654435761u >> 7);
  std::vector<std::unique_ptr<DeviceArray<uint16_t>>> caches;
  std::vector<uint16_t*> bases;
  for (int c = 0; c < num_caches; ++c) {
    std::vector<uint16_t> v = init;
    for (auto& e : v) e ^= static_cast<uint16_t>(c * 0x1111);
    caches.push_back(std::make_unique<DeviceArray<uint16_t>>(v));
    bases.push_back(caches.back()->get());
  }
  DeviceArray<uint16_t*> dbases(bases);
  const std::vector<int32_t> pairs = {1, 4, 2, 5};
  DeviceArray<int32_t> dpairs(pairs);
  ASSERT_EQ(cuda::LaunchCopyBlocks(dbases.get(), num_caches, dpairs.get(), 2, block_elems,
                                   nullptr),
            cudaSuccess);
  for (int c = 0; c < num_caches; ++c) {
    const auto got = caches[c]->Download();
    for (int b = 0; b < num_blocks; ++b) {
      const int src = b == 4 ? 1 : b == 5 ? 2 : b;
      for (int64_t e = 0; e < block_elems; e += 97) {
        ASSERT_EQ(got[b * block_elems + e],
                  static_cast<uint16_t>(init[src * block_elems + e] ^ (c * 0x1111)))
            << "cache " << c << " block " << b;
      }
    }
  }
}

TEST_F(CudaElementwiseTest, F32ToBf16RoundsToNearestEven) {
  const auto x = RandomFloats(1001, 13, -100.0f, 100.0f);
  DeviceArray<float> dx(x);
  DeviceArray<uint16_t> dout(x.size());
  ASSERT_EQ(cuda::LaunchF32ToBf16(dx.get(), x.size(), dout.get(), nullptr), cudaSuccess);
  std::vector<uint16_t> want(x.size());
  for (size_t i = 0; i < x.size(); ++i) want[i] = FloatToBf16(x[i]);
  EXPECT_EQ(dout.Download(), want);
}

}  // namespace
}  // namespace llm

#endif  // LLM_HAVE_CUDA
