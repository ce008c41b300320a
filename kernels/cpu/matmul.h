// File: kernels/cpu/matmul.h
//
// Quantised matrix products on the CPU: y = x · Wᵀ with W kept in its ggml
// block format (never dequantised to memory). Activations are quantised on
// the fly per 32-element block as llama.cpp does (Q8_1 for Q4_0/Q4_1/Q5_x,
// Q8_0 for Q8_0, Q8_K for K-quants; F32/F16/BF16 weights take f32 x), so the
// results track llama.cpp's numerics. SIMD is chosen at run time (AVX-512
// VNNI, AVX2, scalar); work is split over output rows across the pool.
//
// Thread safety: stateless; each call uses its own scratch.
#ifndef LLM_KERNELS_CPU_MATMUL_H_
#define LLM_KERNELS_CPU_MATMUL_H_

#include <cstdint>

#include "absl/types/span.h"
#include "common/ggml_types.h"
#include "common/thread_pool.h"

namespace llm::kernels {

// `rows` rows of `cols` elements of `type`; row r starts at
// data + r * row_stride (bytes). Points into the mmapped GGUF.
struct WeightMatrix {
  GgmlType type = GgmlType::kF32;
  int64_t rows = 0;
  int64_t cols = 0;
  const uint8_t* data = nullptr;
  uint64_t row_stride = 0;
};

// Whether MatMul/DequantizeRow handle this weight type.
bool MatMulSupports(GgmlType type);

// y: [n_tokens, w.rows] (row stride w.rows), x: [n_tokens, w.cols], f32.
void MatMul(ThreadPool& pool, const WeightMatrix& w, const float* x,
            int n_tokens, float* y);

// Several weight matrices with the same `cols` applied to the same x (Q/K/V,
// gate/up): x is quantised once and all rows of all matrices are split over
// the pool in one parallel region. ys[i]: [n_tokens, ws[i].rows].
void MatMulShared(ThreadPool& pool, absl::Span<const WeightMatrix> ws,
                  const float* x, int n_tokens, absl::Span<float* const> ys);

// out[0..w.cols) = row `row` of w, dequantised (embedding lookup).
void DequantizeRow(const WeightMatrix& w, int64_t row, float* out);

}  // namespace llm::kernels

#endif  // LLM_KERNELS_CPU_MATMUL_H_
