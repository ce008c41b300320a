// File: kernels/cuda/elementwise.cuh
//
// Fused row-wise and element-wise kernels of the LLaMA forward pass on the
// GPU: residual add + RMSNorm, RoPE (normal / NeoX) fused with the fp16 KV
// cache write through a slot mapping, SwiGLU, embedding gather (dequantising
// Q4_0/Q4_1/Q8_0/F16/F32 rows), row gather, KV block copy (copy-on-write)
// and f32 -> bf16 conversion (GEMM activations). Reductions run in fp32 in
// a fixed order per row, independent of the batch.
//
// All pointers are device memory; launchers enqueue on `stream` and return
// the launch error.
//
// Thread safety: stateless.
#ifndef LLM_KERNELS_CUDA_ELEMENTWISE_CUH_
#define LLM_KERNELS_CUDA_ELEMENTWISE_CUH_

#include <cstdint>

#include <cuda_runtime_api.h>

#include "kernels/cuda/paged_index.cuh"

namespace llm::cuda {

// out[t] = x[t] / sqrt(mean(x[t]^2) + eps) * w;  x, out: [n, d], w: [d].
cudaError_t LaunchRmsNorm(const float* x, const float* w, int n, int d,
                          float eps, float* out, cudaStream_t stream);

// x += delta (in place), then out = rmsnorm(x) * w.  x, delta, out: [n, d].
cudaError_t LaunchAddRmsNorm(float* x, const float* delta, const float* w,
                             int n, int d, float eps, float* out,
                             cudaStream_t stream);

struct DeviceKvWrite {
  uint16_t* k = nullptr;  // this layer's fp16 K cache
  uint16_t* v = nullptr;
  int n_kv_heads = 0;
  int head_dim = 0;
};

// RoPE of q ([n, n_head, head_dim], in place) and k ([n, n_kv_heads,
// head_dim], in place) by positions[n], then k and v written as fp16 to
// slots[t] (slot < 0: padding, skipped). rope_dim == 0: no rotation (ALiBi /
// NoPE), only the cache write. Angles p * base^(-2i/rope_dim) in double.
cudaError_t LaunchRopeAndWriteKv(const DeviceKvWrite& cache, float* q,
                                 int n_head, float* k, const float* v, int n,
                                 const int32_t* positions, const int64_t* slots,
                                 int rope_dim, float freq_base, bool neox,
                                 cudaStream_t stream);

// out[i] = gate[i] / (1 + exp(-gate[i])) * up[i], n elements (out may be gate).
cudaError_t LaunchSwiGlu(const float* gate, const float* up, int64_t n,
                         float* out, cudaStream_t stream);

// x[t] = dequantised row tokens[t] of a [rows, cols] matrix stored in
// `format` with row stride `row_bytes`.  tokens: [n]; x: [n, cols].
// REQUIRES: cols % 32 == 0.
cudaError_t LaunchEmbed(const uint8_t* weights, QuantFormat format,
                        int64_t row_bytes, int64_t cols, const int32_t* tokens,
                        int n, float* x, cudaStream_t stream);

// out[i] = x[rows[i]], d floats each.  rows: [m]; out: [m, d].
cudaError_t LaunchGatherRows(const float* x, int d, const int32_t* rows, int m,
                             float* out, cudaStream_t stream);

// For each pair (src[i], dst[i]) copies `block_elems` fp16 values from block
// src to block dst in each of `num_caches` caches (K and V of every layer;
// caches[c] is the base of cache c).  pairs: [num_pairs * 2] (src, dst).
cudaError_t LaunchCopyBlocks(uint16_t* const* caches, int num_caches,
                             const int32_t* pairs, int num_pairs,
                             int64_t block_elems, cudaStream_t stream);

// out = bf16(x) (round to nearest even), n elements.
cudaError_t LaunchF32ToBf16(const float* x, int64_t n, uint16_t* out,
                            cudaStream_t stream);

}  // namespace llm::cuda

#endif  // LLM_KERNELS_CUDA_ELEMENTWISE_CUH_
