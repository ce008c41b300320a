// File: kernels/cpu/elementwise.h
//
// Row-wise kernels of the transformer block: RMSNorm (fused with the
// residual add), RoPE (normal and NeoX pairing), SwiGLU, softmax, ALiBi
// slopes. Each processes rows [0, n) of its arguments; callers parallelise by
// passing sub-ranges. SIMD with run-time dispatch.
#ifndef LLM_KERNELS_CPU_ELEMENTWISE_H_
#define LLM_KERNELS_CPU_ELEMENTWISE_H_

#include <cstdint>

#include "common/model_config.h"

namespace llm::kernels {

// out[t] = x[t] / sqrt(mean(x[t]²) + eps) * weight;  x, out: [n, d].
void RmsNorm(const float* x, const float* weight, int n, int d, float eps,
             float* out);

// x[t] += delta[t], then out[t] = RmsNorm(x[t]) (residual add fused).
void AddRmsNorm(float* x, const float* delta, const float* weight, int n,
                int d, float eps, float* out);

// Rotates the first rope_dim dims of each of n_heads heads of x[t] by
// position positions[t]: theta_i = freq_base^(-2i/rope_dim).
// x: [n, n_heads * head_dim].
void Rope(float* x, int n, int n_heads, int head_dim, int rope_dim,
          const int32_t* positions, float freq_base, RopeMode mode);

// out[i] = silu(gate[i]) * up[i], silu(z) = z / (1 + exp(-z)); n elements.
void SwiGlu(const float* gate, const float* up, int64_t n, float* out);

// In place, numerically stable (max subtracted), n elements.
void Softmax(float* x, int n);

// The ALiBi slope of each of n_head heads for max_bias (REFERENCE.md §4).
void AlibiSlopes(int n_head, float max_bias, float* slopes);

}  // namespace llm::kernels

#endif  // LLM_KERNELS_CPU_ELEMENTWISE_H_
