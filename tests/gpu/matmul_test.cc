// GPU matrix products (kernels/cuda/matmul.cuh) against the float64
// reference: the dequantising GEMV for Q4_0/Q4_1/Q8_0/F16 weights and the
// bf16 cuBLAS GEMM on weights dequantised at load.
#include <cmath>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/gpu/gpu_test_util.h"

#if !LLM_HAVE_CUDA
TEST(CudaMatMulTest, SkipsWithoutCuda) {
  GTEST_SKIP() << "no CUDA device: this build has no CUDA (LLM_CUDA=OFF or no toolkit)";
}
#else

#include "common/fp16.h"
#include "common/ggml_types.h"
#include "kernels/cuda/cublas_loader.h"
#include "kernels/cuda/elementwise.cuh"
#include "kernels/cuda/matmul.cuh"
#include "kernels/reference/matmul_reference.h"
#include "kernels/reference/quantize.h"

namespace llm {
namespace {

using gputest::DeviceArray;
using gputest::RandomFloats;

struct Weights {
  GgmlType type;
  cuda::QuantFormat format;
  int64_t rows, cols, row_bytes;
  std::vector<uint8_t> data;
};

Weights MakeWeights(GgmlType type, cuda::QuantFormat format, int64_t rows,
                    int64_t cols, uint32_t seed) {
  Weights w{type, format, rows, cols, cuda::QuantRowBytes(format, cols), {}};
  w.data.resize(rows * w.row_bytes);
  const auto src = RandomFloats(rows * cols, seed);
  for (int64_t r = 0; r < rows; ++r) {
    EXPECT_TRUE(kernels::reference::QuantizeRow(type, src.data() + r * cols, cols,
                                                w.data.data() + r * w.row_bytes)
                    .ok());
  }
  return w;
}

// |got - want| <= rel * scale + 1e-6 where scale = sum |w_j x_j| (the size
// a dot product's rounding error is proportional to).
::testing::AssertionResult WithinScaledError(const std::vector<float>& got,
                                             const std::vector<double>& want,
                                             const std::vector<double>& scale,
                                             double rel) {
  int bad = 0;
  std::string msg;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!(std::abs(got[i] - want[i]) <= rel * scale[i] + 1e-6)) {
      if (++bad <= 5) {
        msg += " [" + std::to_string(i) + "] got " + std::to_string(got[i]) + " want " +
               std::to_string(want[i]) + ";";
      }
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << bad << " mismatches:" << msg;
}

class CudaMatMulTest : public ::testing::Test {
 protected:
  void SetUp() override { LLM_REQUIRE_CUDA_DEVICE(); }
};

// The GEMV dequantises exactly and accumulates in fp32 over <= 2048 terms:
// error <= ~cols * 2^-24 * scale; 1e-5 * scale bounds it with margin.
TEST_F(CudaMatMulTest, DequantGemvMatchesReferenceForEachFormat) {
  struct T {
    GgmlType type;
    cuda::QuantFormat format;
  };
  for (const T t : {T{GgmlType::kQ4_0, cuda::QuantFormat::kQ4_0},
                    T{GgmlType::kQ4_1, cuda::QuantFormat::kQ4_1},
                    T{GgmlType::kQ8_0, cuda::QuantFormat::kQ8_0},
                    T{GgmlType::kF16, cuda::QuantFormat::kF16}}) {
    for (int n : {1, 3, 8, 11}) {  // 11: two passes of 8 tokens
      const int64_t rows = 193, cols = 576;  // rows not a multiple of 4 warps
      const Weights w = MakeWeights(t.type, t.format, rows, cols, 100 + n);
      const auto x = RandomFloats(n * cols, 200 + n);
      DeviceArray<uint8_t> dw(w.data);
      DeviceArray<float> dx(x), dy(n * rows);
      dy.Poison();
      ASSERT_EQ(cuda::LaunchDequantGemv(dw.get(), t.format, w.row_bytes, rows, cols,
                                        dx.get(), n, dy.get(), nullptr),
                cudaSuccess);
      std::vector<double> want(n * rows), scale(n * rows);
      kernels::reference::MatMulReferenceWithScale(t.type, w.data.data(), w.row_bytes,
                                                   rows, cols, x.data(), n,
                                                   want.data(), scale.data());
      EXPECT_TRUE(WithinScaledError(dy.Download(), want, scale, 1e-5))
          << GetGgmlTypeInfo(t.type).name << " n=" << n;
    }
  }
}

// Rows of the GEMV do not depend on the batch: token 0 alone and token 0 in
// a batch of 7 give the same bits (fixed reduction order).
TEST_F(CudaMatMulTest, DequantGemvIsBatchInvariant) {
  const int64_t rows = 64, cols = 1024;
  const Weights w = MakeWeights(GgmlType::kQ4_1, cuda::QuantFormat::kQ4_1, rows, cols, 7);
  const auto x = RandomFloats(7 * cols, 8);
  DeviceArray<uint8_t> dw(w.data);
  DeviceArray<float> dx(x), y1(rows), y7(7 * rows);
  ASSERT_EQ(cuda::LaunchDequantGemv(dw.get(), w.format, w.row_bytes, rows, cols, dx.get(),
                                    1, y1.get(), nullptr),
            cudaSuccess);
  ASSERT_EQ(cuda::LaunchDequantGemv(dw.get(), w.format, w.row_bytes, rows, cols, dx.get(),
                                    7, y7.get(), nullptr),
            cudaSuccess);
  const auto a = y1.Download(), b = y7.Download();
  EXPECT_EQ(a, std::vector<float>(b.begin(), b.begin() + rows));
}

// bf16 GEMM: x and W are rounded to bf16 (relative 2^-9 each), products and
// sums in fp32: |error| <= ~2^-8 * scale; 5e-3 * scale allows for it.
TEST_F(CudaMatMulTest, Bf16GemmMatchesReferenceOnRaggedShapes) {
  std::string cublas_error;
  const cuda::CublasApi* cublas = cuda::Cublas(&cublas_error);
  if (cublas == nullptr) GTEST_SKIP() << cublas_error;
  cublasHandle_t handle;
  ASSERT_EQ(cublas->create(&handle), CUBLAS_STATUS_SUCCESS);
  for (int n : {9, 64, 77}) {
    const int64_t rows = 200, cols = 1536;
    const Weights w = MakeWeights(GgmlType::kQ4_1, cuda::QuantFormat::kQ4_1, rows, cols, n);
    const auto x = RandomFloats(n * cols, 300 + n);
    DeviceArray<uint8_t> dw(w.data);
    DeviceArray<uint16_t> wb(rows * cols), xb(n * cols);
    DeviceArray<float> dx(x), dy(n * rows);
    dy.Poison();
    ASSERT_EQ(cuda::LaunchDequantizeToBf16(dw.get(), w.format, w.row_bytes, rows, cols,
                                           wb.get(), nullptr),
              cudaSuccess);
    ASSERT_EQ(cuda::LaunchF32ToBf16(dx.get(), n * cols, xb.get(), nullptr), cudaSuccess);
    ASSERT_EQ(cuda::GemmBf16(handle, wb.get(), rows, cols, xb.get(), n, dy.get(), nullptr),
              CUBLAS_STATUS_SUCCESS);
    std::vector<double> want(n * rows), scale(n * rows);
    kernels::reference::MatMulReferenceWithScale(GgmlType::kQ4_1, w.data.data(),
                                                 w.row_bytes, rows, cols, x.data(), n,
                                                 want.data(), scale.data());
    EXPECT_TRUE(WithinScaledError(dy.Download(), want, scale, 5e-3)) << "n=" << n;
  }
  cublas->destroy(handle);
}

// Dequantise-to-bf16 equals the exact dequantisation rounded to bf16 (one
// float rounding before the bf16 one: within one bf16 step, 2^-8 relative).
TEST_F(CudaMatMulTest, DequantizeToBf16MatchesReference) {
  const int64_t rows = 9, cols = 4096;
  const Weights w = MakeWeights(GgmlType::kQ8_0, cuda::QuantFormat::kQ8_0, rows, cols, 5);
  DeviceArray<uint8_t> dw(w.data);
  DeviceArray<uint16_t> out(rows * cols);
  out.Poison();
  ASSERT_EQ(cuda::LaunchDequantizeToBf16(dw.get(), w.format, w.row_bytes, rows, cols,
                                         out.get(), nullptr),
            cudaSuccess);
  const auto got = out.Download();
  std::vector<double> want(cols);
  std::vector<float> got_f, want_f;
  for (int64_t r = 0; r < rows; ++r) {
    kernels::reference::DequantizeRow(w.type, w.data.data() + r * w.row_bytes, cols,
                                      want.data());
    for (int64_t c = 0; c < cols; ++c) {
      got_f.push_back(Bf16ToFloat(got[r * cols + c]));
      want_f.push_back(static_cast<float>(want[c]));
    }
  }
  EXPECT_TRUE(gputest::AllClose(got_f, want_f, 1.0 / 256, 1e-7));
}

}  // namespace
}  // namespace llm

#endif  // LLM_HAVE_CUDA
