// File: kernels/reference/elementwise_reference.h
//
// Float64 oracles for kernels/cpu/elementwise.h: the same formulas computed
// directly, with no SIMD, no fusion and exact RoPE angles
// (p * base^(-2i/rope_dim) in double).
//
// Thread safety: stateless pure functions.
#ifndef LLM_KERNELS_REFERENCE_ELEMENTWISE_REFERENCE_H_
#define LLM_KERNELS_REFERENCE_ELEMENTWISE_REFERENCE_H_

#include <cstdint>

#include "common/model_config.h"

namespace llm::kernels::reference {

// out[t] = x[t] / sqrt(mean(x[t]^2) + eps) * weight;  x, out: [n, d].
void RmsNorm(const double* x, const double* weight, int n, int d, double eps,
             double* out);

// Rotates the first rope_dim dims of each head of x[t] (in place) by
// positions[t]; kNormal pairs (2i, 2i+1), kNeox pairs (i, i + rope_dim/2).
void Rope(double* x, int n, int n_heads, int head_dim, int rope_dim,
          const int32_t* positions, double freq_base, RopeMode mode);

// out[i] = gate[i] / (1 + exp(-gate[i])) * up[i].
void SwiGlu(const double* gate, const double* up, int64_t n, double* out);

// In place softmax of n elements.
void Softmax(double* x, int n);

// REFERENCE.md §4 by its case definition (power of two or not).
void AlibiSlopes(int n_head, double max_bias, double* slopes);

}  // namespace llm::kernels::reference

#endif  // LLM_KERNELS_REFERENCE_ELEMENTWISE_REFERENCE_H_
