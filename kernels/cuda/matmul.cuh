// File: kernels/cuda/matmul.cuh
//
// Matrix products y = x · Wᵀ on the GPU for ggml-quantised weights
// (W: [rows, cols], row r at w + r * row_bytes; x: [n, cols] f32;
// y: [n, rows] f32):
// - a fused dequantising GEMV for small batches (decode): one warp per
//   weight row, Q4_0/Q4_1/Q8_0/F16/F32 weights dequantised in registers,
//   fp32 activations, fp32 accumulation in a fixed order, so a row's result
//   never depends on n (batch invariance);
// - for large batches, W dequantised once to bf16 at load
//   (LaunchDequantizeToBf16) and cuBLAS GEMM on bf16 x (LaunchF32ToBf16 in
//   elementwise.cuh) with fp32 accumulation and output.
//
// All pointers are device memory. Thread safety: stateless; the cuBLAS
// handle must not be used concurrently from two threads.
#ifndef LLM_KERNELS_CUDA_MATMUL_CUH_
#define LLM_KERNELS_CUDA_MATMUL_CUH_

#include <cstdint>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "kernels/cuda/paged_index.cuh"

namespace llm::cuda {

// Batches up to this many rows take the GEMV when a bf16 copy exists.
constexpr int kGemvMaxTokens = 8;

// y[n, rows] = x[n, cols] · dequant(W)ᵀ.  REQUIRES: cols % 32 == 0.
cudaError_t LaunchDequantGemv(const uint8_t* w, QuantFormat format,
                              int64_t row_bytes, int64_t rows, int64_t cols,
                              const float* x, int n, float* y,
                              cudaStream_t stream);

// out[rows, cols] bf16 = dequant(W).  REQUIRES: cols % 32 == 0.
cudaError_t LaunchDequantizeToBf16(const uint8_t* w, QuantFormat format,
                                   int64_t row_bytes, int64_t rows,
                                   int64_t cols, uint16_t* out,
                                   cudaStream_t stream);

// y[n, rows] f32 = x_bf16[n, cols] · w_bf16[rows, cols]ᵀ (cuBLAS, fp32
// accumulation). Runs on `stream` (set on the handle).
cublasStatus_t GemmBf16(cublasHandle_t handle, const uint16_t* w_bf16,
                        int64_t rows, int64_t cols, const uint16_t* x_bf16,
                        int n, float* y, cudaStream_t stream);

}  // namespace llm::cuda

#endif  // LLM_KERNELS_CUDA_MATMUL_CUH_
