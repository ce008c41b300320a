// Tests of kernels/cpu/matmul: every weight type on every ISA this machine
// has, against the float64 reference on random (never zero) data, with
// ragged token and row counts; exactness of the SIMD activation quantiser
// and integer sums against the scalar path; batch, thread-count and packing
// invariance (bitwise).
#include "kernels/cpu/matmul.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "common/fp16.h"
#include "common/gguf.h"
#include "gtest/gtest.h"
#include "kernels/cpu/matmul_internal.h"
#include "kernels/reference/matmul_reference.h"
#include "kernels/reference/quantize.h"

namespace llm::kernels {
namespace {

// Owns a random weight matrix in ggml layout (rows padded by `pad` bytes to
// exercise row_stride != row bytes).
struct TestMatrix {
  std::vector<uint8_t> bytes;
  WeightMatrix w;
};

std::vector<float> RandomFloats(int64_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& f : v) {
    do {
      f = dist(rng);
    } while (f == 0.0f);
  }
  return v;
}

TestMatrix MakeMatrix(GgmlType type, int64_t rows, int64_t cols, uint32_t seed, int pad = 8) {
  TestMatrix m;
  const uint64_t row_bytes = GgmlRowBytes(type, cols).value();
  const uint64_t stride = row_bytes + pad;
  m.bytes.assign(stride * rows, 0xAB);
  // Rows get different magnitudes so per-block scales differ.
  std::vector<float> vals = RandomFloats(rows * cols, seed);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < cols; ++j) vals[r * cols + j] *= 0.5f + (r % 5) * 0.25f;
    EXPECT_TRUE(reference::QuantizeRow(type, &vals[r * cols], cols, &m.bytes[r * stride]).ok());
  }
  m.w = WeightMatrix{type, rows, cols, m.bytes.data(), stride};
  return m;
}

std::vector<MatMulIsa> AvailableIsas() {
  std::vector<MatMulIsa> isas = {MatMulIsa::kScalar};
  if (MatMulIsaAvailable(MatMulIsa::kAvx2)) isas.push_back(MatMulIsa::kAvx2);
  if (MatMulIsaAvailable(MatMulIsa::kAvx512)) isas.push_back(MatMulIsa::kAvx512);
  return isas;
}

const char* IsaName(MatMulIsa isa) {
  switch (isa) {
    case MatMulIsa::kScalar: return "scalar";
    case MatMulIsa::kAvx2: return "avx2";
    case MatMulIsa::kAvx512: return "avx512";
    default: return "auto";
  }
}

// Restores automatic ISA selection when a test ends.
class MatMulTest : public ::testing::Test {
 protected:
  void TearDown() override { SetMatMulIsaForTesting(MatMulIsa::kAuto); }
};

bool IsQuantised(GgmlType t) {
  return t != GgmlType::kF32 && t != GgmlType::kF16 && t != GgmlType::kBF16;
}

// Worst-case |kernel - exact| for one output, from how x is quantised:
// per block d = amax/127, each x_j is replaced by q_j·fp16(d) with
// |x_j - q_j·d| <= d/2 and |q_j·(d - fp16(d))| <= 127·d·2^-11, so
// |Σ w_j x_j - Σ w_j x̂_j| <= Σ_b 0.57·d_b·Σ_{j∈b}|w_j|. Q4_1 adds the fp16
// rounding of s = d·Σq times its min, |m_b|·32·amax_b·2^-11. f32
// accumulation adds ~cols·eps·Σ|w_j x_j|, covered by 1e-5·Σ|w_j x_j|.
// Any layout or pairing bug is O(||w||·||x||) and far outside this.
double QuantisationErrorBound(GgmlType type, const WeightMatrix& w, int64_t row, const float* x,
                              double sum_abs_wx) {
  const int64_t cols = w.cols;
  std::vector<float> wrow(cols);
  DequantizeRow(w, row, wrow.data());
  const int block = (type == GgmlType::kQ4_K || type == GgmlType::kQ6_K) ? 256 : 32;
  double bound = 1e-5 * sum_abs_wx;
  for (int64_t b = 0; b < cols; b += block) {
    double amax = 0, wabs = 0;
    for (int j = 0; j < block; ++j) {
      amax = std::max(amax, std::fabs(double(x[b + j])));
      wabs += std::fabs(double(wrow[b + j]));
    }
    bound += 0.57 * amax / 127.0 * wabs;
    if (type == GgmlType::kQ4_1) {
      const uint8_t* blk = w.data + row * w.row_stride + (b / 32) * 20;
      uint16_t mh;
      std::memcpy(&mh, blk + 2, 2);
      bound += std::fabs(double(Fp16ToFloat(mh))) * 32 * amax * std::ldexp(1.0, -11);
    }
  }
  return bound;
}

TEST_F(MatMulTest, EveryTypeAndIsaMatchesFloat64Reference) {
  const GgmlType types[] = {GgmlType::kF32,  GgmlType::kF16,  GgmlType::kBF16, GgmlType::kQ4_0,
                            GgmlType::kQ4_1, GgmlType::kQ8_0, GgmlType::kQ4_K, GgmlType::kQ6_K};
  const int token_counts[] = {1, 3, 7, 16, 33};
  ThreadPool pool(2);
  for (GgmlType type : types) {
    // 37 rows: not a multiple of the 16-row group; K-quants need 256 cols.
    for (int64_t cols : {int64_t{512}, int64_t{96}}) {
      if (cols % GetGgmlTypeInfo(type).block_size != 0) continue;
      const int64_t rows = 37;
      TestMatrix m = MakeMatrix(type, rows, cols, 7 + static_cast<uint32_t>(type));
      PackedWeightMatrix packed = PackForCpu(m.w);
      for (int n : token_counts) {
        std::vector<float> x = RandomFloats(n * cols, 100 + n);
        std::vector<double> ref(n * rows), mag(n * rows);
        reference::MatMulReferenceWithScale(type, m.w.data, m.w.row_stride, rows, cols, x.data(), n,
                                            ref.data(), mag.data());
        for (MatMulIsa isa : AvailableIsas()) {
          SetMatMulIsaForTesting(isa);
          for (bool use_packed : {false, true}) {
            std::vector<float> y(n * rows, NAN);
            if (use_packed) {
              MatMul(pool, packed, x.data(), n, y.data());
            } else {
              MatMul(pool, m.w, x.data(), n, y.data());
            }
            for (int t = 0; t < n; ++t) {
              for (int64_t r = 0; r < rows; ++r) {
                const double got = y[t * rows + r], want = ref[t * rows + r];
                // Quantised types: the rigorous activation-quantisation
                // bound above. Float types: only f32 accumulation over <= 512
                // terms (<= 3e-5 of Σ|w·x| worst case, far less in practice).
                const double tol = IsQuantised(type)
                                       ? QuantisationErrorBound(type, m.w, r, &x[t * cols], mag[t * rows + r])
                                       : 1e-5 * mag[t * rows + r];
                ASSERT_NEAR(got, want, tol)
                    << GetGgmlTypeInfo(type).name << " " << IsaName(isa) << " packed=" << use_packed
                    << " cols=" << cols << " n=" << n << " t=" << t << " r=" << r;
              }
            }
          }
        }
      }
    }
  }
}

TEST_F(MatMulTest, SimdQuantiserMatchesScalarBytes) {
  if (!MatMulIsaAvailable(MatMulIsa::kAvx2)) GTEST_SKIP() << "no AVX2";
  const int64_t cols = 576;
  const int n = 5;
  std::vector<float> x = RandomFloats(n * cols, 3, -4.0f, 4.0f);
  // Token 4, block 0: amax 127 makes the inverse scale 1.0, so k + 0.5
  // values are exact ties; x86 llama.cpp rounds them to even.
  for (int j = 0; j < 32; ++j) x[4 * cols + j] = (j - 16) + 0.5f;
  x[4 * cols + 31] = 127.0f;
  internal::Q8Acts a[2];
  std::vector<int8_t> q[2];
  std::vector<float> d[2], s[2];
  std::vector<int32_t> sum[2];
  for (int i = 0; i < 2; ++i) {
    q[i].resize(n * cols), d[i].resize(n * cols / 32), s[i].resize(n * cols / 32), sum[i].resize(n * cols / 32);
    a[i] = internal::Q8Acts{cols / 32, q[i].data(), d[i].data(), s[i].data(), sum[i].data()};
  }
  internal::QuantizeQ8Scalar(x.data(), cols, 0, n, a[0]);
  internal::QuantizeQ8Avx2(x.data(), cols, 0, n, a[1]);
  EXPECT_EQ(q[0], q[1]);
  EXPECT_EQ(d[0], d[1]);
  EXPECT_EQ(s[0], s[1]);
  EXPECT_EQ(sum[0], sum[1]);
  // Ties to even: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -0.5 -> 0, -1.5 -> -2.
  EXPECT_EQ(q[0][4 * cols + 16], 0);
  EXPECT_EQ(q[0][4 * cols + 17], 2);
  EXPECT_EQ(q[0][4 * cols + 18], 2);
  EXPECT_EQ(q[0][4 * cols + 15], 0);
  EXPECT_EQ(q[0][4 * cols + 14], -2);
  EXPECT_EQ(q[0][4 * cols + 31], 127);
}

TEST_F(MatMulTest, SimdPathsMatchScalarOnQuantisedActivations) {
  // Integer block sums are exact on every path; only the f32 combination of
  // the per-block terms differs (fma vs mul+add, lane order), so the paths
  // agree to a few ulp of Σ|w·x|. With 64 columns a single integer
  // difference of 1 in any block would move the result by ~1/(127·64·0.5)
  // = 2.5e-4 of Σ|w·x|: 1e-5 separates the two cases.
  const GgmlType types[] = {GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ8_0};
  ThreadPool pool(1);
  const int64_t rows = 21, cols = 64;
  const int n = 9;
  for (GgmlType type : types) {
    TestMatrix m = MakeMatrix(type, rows, cols, 11);
    std::vector<float> x = RandomFloats(n * cols, 12);
    std::vector<double> ref(n * rows), mag(n * rows);
    reference::MatMulReferenceWithScale(type, m.w.data, m.w.row_stride, rows, cols, x.data(), n,
                                        ref.data(), mag.data());
    SetMatMulIsaForTesting(MatMulIsa::kScalar);
    std::vector<float> want(n * rows);
    MatMul(pool, m.w, x.data(), n, want.data());
    for (MatMulIsa isa : AvailableIsas()) {
      SetMatMulIsaForTesting(isa);
      std::vector<float> got(n * rows);
      MatMul(pool, m.w, x.data(), n, got.data());
      for (int i = 0; i < n * rows; ++i) {
        ASSERT_NEAR(got[i], want[i], 1e-5 * mag[i]) << GetGgmlTypeInfo(type).name << " " << IsaName(isa) << " i=" << i;
      }
    }
  }
}

TEST_F(MatMulTest, ResultsAreIndependentOfBatchThreadsAndPacking) {
  const GgmlType types[] = {GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ8_0, GgmlType::kF16,
                            GgmlType::kF32,  GgmlType::kQ4_K};
  ThreadPool pool1(1), pool2(2);
  const int64_t rows = 53, cols = 256;
  const int n = 19;
  for (GgmlType type : types) {
    TestMatrix m = MakeMatrix(type, rows, cols, 21);
    PackedWeightMatrix packed = PackForCpu(m.w);
    std::vector<float> x = RandomFloats(n * cols, 22);
    for (MatMulIsa isa : AvailableIsas()) {
      SetMatMulIsaForTesting(isa);
      std::vector<float> batch(n * rows), batch2(n * rows), batch_packed(n * rows);
      MatMul(pool2, m.w, x.data(), n, batch.data());
      MatMul(pool1, m.w, x.data(), n, batch2.data());
      MatMul(pool2, packed, x.data(), n, batch_packed.data());
      EXPECT_EQ(0, std::memcmp(batch.data(), batch2.data(), batch.size() * 4))
          << GetGgmlTypeInfo(type).name << " " << IsaName(isa) << ": 1 vs 2 threads";
      EXPECT_EQ(0, std::memcmp(batch.data(), batch_packed.data(), batch.size() * 4))
          << GetGgmlTypeInfo(type).name << " " << IsaName(isa) << ": packed vs unpacked";
      for (int t = 0; t < n; ++t) {
        std::vector<float> single(rows);
        MatMul(pool2, m.w, x.data() + t * cols, 1, single.data());
        EXPECT_EQ(0, std::memcmp(single.data(), batch.data() + t * rows, rows * 4))
            << GetGgmlTypeInfo(type).name << " " << IsaName(isa) << " token " << t;
      }
    }
  }
}

// The float kernel tiles tokens (up to 6 per weight load) and has an
// 8-column and a scalar tail: every token count and column count must give
// each token exactly its single-token result (speculative verification
// relies on it) and stay close to float64.
TEST_F(MatMulTest, FloatTypesAreBatchInvariantWithColumnTails) {
  const GgmlType types[] = {GgmlType::kF32, GgmlType::kF16, GgmlType::kBF16};
  ThreadPool pool(2);
  const int64_t rows = 21;
  for (GgmlType type : types) {
    for (int64_t cols : {int64_t{200}, int64_t{203}, int64_t{16}, int64_t{5}}) {
      TestMatrix m = MakeMatrix(type, rows, cols, 31 + static_cast<uint32_t>(cols));
      for (int n : {2, 5, 6, 7, 13, 61, 130}) {
        std::vector<float> x = RandomFloats(n * cols, 40 + n);
        std::vector<double> ref(n * rows), mag(n * rows);
        reference::MatMulReferenceWithScale(type, m.w.data, m.w.row_stride, rows, cols, x.data(), n,
                                            ref.data(), mag.data());
        for (MatMulIsa isa : AvailableIsas()) {
          SetMatMulIsaForTesting(isa);
          std::vector<float> batch(n * rows);
          MatMul(pool, m.w, x.data(), n, batch.data());
          for (int t = 0; t < n; ++t) {
            std::vector<float> single(rows);
            MatMul(pool, m.w, x.data() + t * cols, 1, single.data());
            ASSERT_EQ(0, std::memcmp(single.data(), batch.data() + t * rows, rows * 4))
                << GetGgmlTypeInfo(type).name << " " << IsaName(isa) << " cols " << cols << " n "
                << n << " token " << t;
          }
          for (int64_t i = 0; i < n * rows; ++i) {
            ASSERT_NEAR(batch[i], ref[i], 1e-5 * mag[i] + 1e-6)
                << GetGgmlTypeInfo(type).name << " " << IsaName(isa) << " cols " << cols;
          }
        }
      }
    }
  }
}

TEST_F(MatMulTest, SharedMatchesSeparateCalls) {
  ThreadPool pool(2);
  const int64_t cols = 576;
  const int n = 7;
  TestMatrix q = MakeMatrix(GgmlType::kQ4_1, 576, cols, 31);
  TestMatrix k = MakeMatrix(GgmlType::kQ4_1, 192, cols, 32);
  TestMatrix v = MakeMatrix(GgmlType::kQ8_0, 40, cols, 33);
  std::vector<float> x = RandomFloats(n * cols, 34);
  const WeightMatrix ws[] = {q.w, k.w, v.w};
  const PackedWeightMatrix ps[] = {PackForCpu(q.w), PackForCpu(k.w), PackForCpu(v.w)};
  for (MatMulIsa isa : AvailableIsas()) {
    SetMatMulIsaForTesting(isa);
    std::vector<float> y[3], z[3], p[3];
    for (int i = 0; i < 3; ++i) {
      y[i].resize(n * ws[i].rows);
      z[i].resize(n * ws[i].rows);
      p[i].resize(n * ws[i].rows);
      MatMul(pool, ws[i], x.data(), n, y[i].data());
    }
    float* zs[] = {z[0].data(), z[1].data(), z[2].data()};
    float* pz[] = {p[0].data(), p[1].data(), p[2].data()};
    MatMulShared(pool, ws, x.data(), n, zs);
    MatMulShared(pool, ps, x.data(), n, pz);
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(y[i], z[i]) << IsaName(isa) << " matrix " << i;
      EXPECT_EQ(y[i], p[i]) << IsaName(isa) << " packed matrix " << i;
    }
  }
}

TEST_F(MatMulTest, SimdPackerMatchesScalarPacker) {
  if (!MatMulIsaAvailable(MatMulIsa::kAvx512)) GTEST_SKIP() << "no AVX-512";
  for (GgmlType type : {GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ8_0}) {
    TestMatrix m = MakeMatrix(type, 23, 96, 41, /*pad=*/3);
    const uint64_t bytes = internal::PackedGroupBytes(type, 3);
    for (int64_t r0 : {int64_t{0}, int64_t{16}}) {  // full group, then 7 rows
      alignas(64) uint8_t a[2048], b[2048];
      std::memset(a, 1, sizeof(a));
      std::memset(b, 2, sizeof(b));
      internal::PackGroup(m.w, r0, a);
      internal::PackGroupAvx512(m.w, r0, b);
      EXPECT_EQ(0, std::memcmp(a, b, bytes)) << GetGgmlTypeInfo(type).name << " r0=" << r0;
    }
  }
}

TEST_F(MatMulTest, DequantizeRowIsExact) {
  // Every supported format's elements are exactly representable in f32 up
  // to one final rounding (fp16 scale x small integer fits 24 bits), so the
  // f32 result must equal the exact double value rounded once.
  const GgmlType types[] = {GgmlType::kF32,  GgmlType::kF16,  GgmlType::kBF16, GgmlType::kQ4_0,
                            GgmlType::kQ4_1, GgmlType::kQ8_0, GgmlType::kQ4_K, GgmlType::kQ6_K};
  for (GgmlType type : types) {
    TestMatrix m = MakeMatrix(type, 3, 512, 51);
    for (int64_t r = 0; r < 3; ++r) {
      std::vector<float> got(512);
      std::vector<double> want(512);
      DequantizeRow(m.w, r, got.data());
      reference::DequantizeRow(type, m.w.data + r * m.w.row_stride, 512, want.data());
      for (int j = 0; j < 512; ++j) {
        ASSERT_EQ(got[j], static_cast<float>(want[j])) << GetGgmlTypeInfo(type).name << " r=" << r << " j=" << j;
      }
    }
  }
}

TEST_F(MatMulTest, RealModelMatricesMatchFloat64Reference) {
  const std::string path = LLM_SOURCE_DIR "/models/SmolLM2-135M-Instruct.Q4_1.gguf";
  auto file = GgufFile::Open(path);
  if (!file.ok()) GTEST_SKIP() << "model not available: " << file.status();
  ThreadPool pool(2);
  const int n = 5;
  // The tied LM head (Q8_0), a Q4_1 projection and the 1536-wide down
  // projection; real scales include tiny and subnormal fp16 values.
  for (const char* name : {"token_embd.weight", "blk.0.attn_q.weight", "blk.3.ffn_down.weight"}) {
    const GgufTensor* t = (*file)->FindTensor(name);
    ASSERT_NE(t, nullptr) << name;
    const WeightMatrix w{t->type, t->rows(), t->ne[0], t->data, t->row_bytes()};
    const int64_t rows = std::min<int64_t>(w.rows, 4096), cols = w.cols;
    const WeightMatrix sub{w.type, rows, cols, w.data, w.row_stride};
    std::mt19937 rng(5);
    std::normal_distribution<float> dist(0.0f, 1.0f);  // RMS-normed inputs
    std::vector<float> x(n * cols);
    for (auto& v : x) v = dist(rng);
    std::vector<double> ref(n * rows), mag(n * rows);
    reference::MatMulReferenceWithScale(w.type, w.data, w.row_stride, rows, cols, x.data(), n, ref.data(),
                                        mag.data());
    const PackedWeightMatrix packed = PackForCpu(sub);
    for (MatMulIsa isa : AvailableIsas()) {
      SetMatMulIsaForTesting(isa);
      std::vector<float> y(n * rows), yp(n * rows);
      MatMul(pool, sub, x.data(), n, y.data());
      MatMul(pool, packed, x.data(), n, yp.data());
      EXPECT_EQ(y, yp) << name << " " << IsaName(isa);
      for (int tk = 0; tk < n; ++tk) {
        for (int64_t r = 0; r < rows; ++r) {
          // Same rigorous activation-quantisation bound as above.
          ASSERT_NEAR(y[tk * rows + r], ref[tk * rows + r],
                      QuantisationErrorBound(w.type, sub, r, &x[tk * cols], mag[tk * rows + r]))
              << name << " " << IsaName(isa) << " t=" << tk << " r=" << r;
        }
      }
    }
  }
}

TEST_F(MatMulTest, SupportsExactlyTheImplementedTypes) {
  EXPECT_TRUE(MatMulSupports(GgmlType::kQ4_1));
  EXPECT_TRUE(MatMulSupports(GgmlType::kQ8_0));
  EXPECT_TRUE(MatMulSupports(GgmlType::kQ6_K));
  EXPECT_FALSE(MatMulSupports(GgmlType::kQ5_0));
  EXPECT_FALSE(MatMulSupports(GgmlType::kQ2_K));
}

}  // namespace
}  // namespace llm::kernels
