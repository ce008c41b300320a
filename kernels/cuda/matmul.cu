// Dequantising GEMV and the bf16 cuBLAS GEMM; see matmul.cuh.
#include "kernels/cuda/cublas_loader.h"
#include "kernels/cuda/matmul.cuh"

#include "kernels/cuda/cuda_common.cuh"

namespace llm::cuda {
namespace {

constexpr int kGemvWarps = 4;       // weight rows per block
constexpr int kGemvGroup = 8;       // tokens per pass over a weight row

// The 32 weights of group b of `row` into w[] (format known at compile time).
template <QuantFormat F>
__device__ __forceinline__ void DequantGroup(const uint8_t* row, int64_t b,
                                             float* w) {
  if constexpr (F == QuantFormat::kQ4_0 || F == QuantFormat::kQ4_1) {
    constexpr int kBytes = F == QuantFormat::kQ4_0 ? 18 : 20;
    const uint8_t* blk = row + b * kBytes;
    const float d = __half2float(*reinterpret_cast<const __half*>(blk));
    const float m = F == QuantFormat::kQ4_1
                        ? __half2float(*reinterpret_cast<const __half*>(blk + 2))
                        : -8.0f * d;
    const uint8_t* qs = blk + (kBytes - 16);
#pragma unroll
    for (int i = 0; i < 16; ++i) {
      const uint8_t q = qs[i];
      w[i] = (q & 15) * d + m;
      w[i + 16] = (q >> 4) * d + m;
    }
  } else if constexpr (F == QuantFormat::kQ8_0) {
    const uint8_t* blk = row + b * 34;
    const float d = __half2float(*reinterpret_cast<const __half*>(blk));
#pragma unroll
    for (int i = 0; i < 32; ++i) w[i] = static_cast<int8_t>(blk[2 + i]) * d;
  } else {
#pragma unroll
    for (int i = 0; i < 32; ++i) w[i] = DequantElement(F, row, b, i);
  }
}

// grid ceil(rows / kGemvWarps), block 32 * kGemvWarps: warp = weight row,
// lane = every 32nd group of 32 columns.
template <QuantFormat F>
__global__ void DequantGemvKernel(const uint8_t* w, int64_t row_bytes,
                                  int64_t rows, int64_t cols, const float* x,
                                  int n, float* y) {
  const int lane = threadIdx.x & 31;
  const int64_t r = int64_t{blockIdx.x} * kGemvWarps + (threadIdx.x >> 5);
  if (r >= rows) return;  // whole warp
  const uint8_t* row = w + r * row_bytes;
  const int64_t groups = cols / kQuantBlock;
  for (int t0 = 0; t0 < n; t0 += kGemvGroup) {
    float acc[kGemvGroup];
#pragma unroll
    for (int i = 0; i < kGemvGroup; ++i) acc[i] = 0.0f;
    for (int64_t b = lane; b < groups; b += 32) {
      float wv[kQuantBlock];
      DequantGroup<F>(row, b, wv);
#pragma unroll
      for (int i = 0; i < kGemvGroup; ++i) {
        if (t0 + i >= n) break;
        const float4* xv = reinterpret_cast<const float4*>(
            x + int64_t{t0 + i} * cols + b * kQuantBlock);
        float s = 0.0f;
#pragma unroll
        for (int j = 0; j < kQuantBlock / 4; ++j) {
          const float4 v = xv[j];
          s += wv[4 * j] * v.x + wv[4 * j + 1] * v.y + wv[4 * j + 2] * v.z +
               wv[4 * j + 3] * v.w;
        }
        acc[i] += s;
      }
    }
#pragma unroll
    for (int i = 0; i < kGemvGroup; ++i) {
      const float s = WarpSum(acc[i]);
      if (lane == 0 && t0 + i < n) y[int64_t{t0 + i} * rows + r] = s;
    }
  }
}

__global__ void DequantBf16Kernel(const uint8_t* w, QuantFormat format,
                                  int64_t row_bytes, int64_t cols,
                                  __nv_bfloat16* out) {
  const int64_t r = blockIdx.x;
  const uint8_t* row = w + r * row_bytes;
  for (int64_t e = threadIdx.x; e < cols; e += blockDim.x) {
    out[r * cols + e] = __float2bfloat16_rn(
        DequantElement(format, row, e / kQuantBlock, static_cast<int>(e % kQuantBlock)));
  }
}

}  // namespace

cudaError_t LaunchDequantGemv(const uint8_t* w, QuantFormat format,
                              int64_t row_bytes, int64_t rows, int64_t cols,
                              const float* x, int n, float* y,
                              cudaStream_t stream) {
  if (n == 0 || rows == 0) return cudaSuccess;
  if (cols % kQuantBlock != 0) return cudaErrorInvalidValue;
  const dim3 grid(static_cast<unsigned>((rows + kGemvWarps - 1) / kGemvWarps));
  const int threads = 32 * kGemvWarps;
  switch (format) {
    case QuantFormat::kQ4_0:
      DequantGemvKernel<QuantFormat::kQ4_0><<<grid, threads, 0, stream>>>(
          w, row_bytes, rows, cols, x, n, y);
      break;
    case QuantFormat::kQ4_1:
      DequantGemvKernel<QuantFormat::kQ4_1><<<grid, threads, 0, stream>>>(
          w, row_bytes, rows, cols, x, n, y);
      break;
    case QuantFormat::kQ8_0:
      DequantGemvKernel<QuantFormat::kQ8_0><<<grid, threads, 0, stream>>>(
          w, row_bytes, rows, cols, x, n, y);
      break;
    case QuantFormat::kF16:
      DequantGemvKernel<QuantFormat::kF16><<<grid, threads, 0, stream>>>(
          w, row_bytes, rows, cols, x, n, y);
      break;
    case QuantFormat::kF32:
      DequantGemvKernel<QuantFormat::kF32><<<grid, threads, 0, stream>>>(
          w, row_bytes, rows, cols, x, n, y);
      break;
  }
  return cudaGetLastError();
}

cudaError_t LaunchDequantizeToBf16(const uint8_t* w, QuantFormat format,
                                   int64_t row_bytes, int64_t rows,
                                   int64_t cols, uint16_t* out,
                                   cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  if (cols % kQuantBlock != 0) return cudaErrorInvalidValue;
  DequantBf16Kernel<<<static_cast<unsigned>(rows), 256, 0, stream>>>(
      w, format, row_bytes, cols, reinterpret_cast<__nv_bfloat16*>(out));
  return cudaGetLastError();
}

cublasStatus_t GemmBf16(cublasHandle_t handle, const uint16_t* w_bf16,
                        int64_t rows, int64_t cols, const uint16_t* x_bf16,
                        int n, float* y, cudaStream_t stream) {
  if (n == 0 || rows == 0) return CUBLAS_STATUS_SUCCESS;
  const CublasApi* api = Cublas();
  if (api == nullptr) return CUBLAS_STATUS_NOT_INITIALIZED;
  cublasStatus_t s = api->set_stream(handle, stream);
  if (s != CUBLAS_STATUS_SUCCESS) return s;
  const float alpha = 1.0f, beta = 0.0f;
  // Column-major view: Y^T [rows, n] = W^T' ... i.e. C(rows x n, ld rows) =
  // op(A)=Wᵀ-of-colmajor (A is W row-major = [cols x rows] col-major, ld cols)
  // times B = x row-major = [cols x n] col-major (ld cols).
  return api->gemm_ex(handle, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(rows), n,
                      static_cast<int>(cols), &alpha, w_bf16, CUDA_R_16BF,
                      static_cast<int>(cols), x_bf16, CUDA_R_16BF,
                      static_cast<int>(cols), &beta, y, CUDA_R_32F,
                      static_cast<int>(rows), CUBLAS_COMPUTE_32F,
                      CUBLAS_GEMM_DEFAULT);
}

}  // namespace llm::cuda
