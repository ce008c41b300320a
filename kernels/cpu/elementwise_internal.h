// File: kernels/cpu/elementwise_internal.h
//
// Per-ISA row kernels behind elementwise.h (and the fused RoPE + KV write in
// attention.cc). Each *Row function handles one row; elementwise.cc loops
// over rows and dispatches. Not part of the public API.
//
// Thread safety: pure functions of their arguments.
#ifndef LLM_KERNELS_CPU_ELEMENTWISE_INTERNAL_H_
#define LLM_KERNELS_CPU_ELEMENTWISE_INTERNAL_H_

#include <cstdint>

#include "common/model_config.h"

namespace llm::kernels::elementwise_internal {

// Sum of squares of x[0, d) accumulated in double (as llama.cpp's rms_norm).
double SumSquaresScalar(const float* x, int d);
double SumSquaresAvx2(const float* x, int d);
double SumSquaresAvx512(const float* x, int d);

// out = (x * scale) * w, two roundings in llama.cpp's order.
void ScaleMulScalar(const float* x, float scale, const float* w, int d, float* out);
void ScaleMulAvx2(const float* x, float scale, const float* w, int d, float* out);
void ScaleMulAvx512(const float* x, float scale, const float* w, int d, float* out);

// x += delta.
void AddInPlaceScalar(float* x, const float* delta, int d);
void AddInPlaceAvx2(float* x, const float* delta, int d);
void AddInPlaceAvx512(float* x, const float* delta, int d);

void SwiGluScalar(const float* gate, const float* up, int64_t n, float* out);
void SwiGluAvx2(const float* gate, const float* up, int64_t n, float* out);
void SwiGluAvx512(const float* gate, const float* up, int64_t n, float* out);

void SoftmaxScalar(float* x, int n);
void SoftmaxAvx2(float* x, int n);
void SoftmaxAvx512(float* x, int n);

// Rotation table of one position, expanded to rope_dim entries so that every
// ISA applies   x'[j] = x[j] * ce[j] + x[partner(j)] * se[j]
// with partner(j) = j ^ 1 (kNormal) or j ± rope_dim / 2 (kNeox).
// Angles follow llama.cpp's ggml_rope exactly: theta = p, then per pair
// cos/sin(theta) in f32 and theta *= powf(base, -2 / rope_dim).
void RopeTable(int32_t pos, int rope_dim, float freq_base, RopeMode mode,
               float* ce, float* se);

// Applies a RopeTable to the first rope_dim dims of n_heads heads of x.
void RopeApplyScalar(float* x, int n_heads, int head_dim, int rope_dim,
                     RopeMode mode, const float* ce, const float* se);
void RopeApplyAvx2(float* x, int n_heads, int head_dim, int rope_dim,
                   RopeMode mode, const float* ce, const float* se);
void RopeApplyAvx512(float* x, int n_heads, int head_dim, int rope_dim,
                     RopeMode mode, const float* ce, const float* se);

// Dispatching versions (current ISA).
void RopeApply(float* x, int n_heads, int head_dim, int rope_dim,
               RopeMode mode, const float* ce, const float* se);

}  // namespace llm::kernels::elementwise_internal

#endif  // LLM_KERNELS_CPU_ELEMENTWISE_INTERNAL_H_
