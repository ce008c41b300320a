// File: kernels/reference/matmul_reference.h
//
// Float64 reference for the CPU matmul: y = x · Wᵀ with W exactly
// dequantised (reference/quantize.h) and x taken as given (no activation
// quantisation), accumulated in double. The yardstick the kernels' tests
// measure error against.
//
// Thread safety: stateless pure function.
#ifndef LLM_KERNELS_REFERENCE_MATMUL_REFERENCE_H_
#define LLM_KERNELS_REFERENCE_MATMUL_REFERENCE_H_

#include <cstdint>

#include "common/ggml_types.h"

namespace llm::kernels::reference {

// W: `rows` rows of `cols` elements of `type`, row r at data + r * row_stride.
// x: [n_tokens, cols]; y: [n_tokens, rows].
// REQUIRES: QuantizeSupports(type) (reference/quantize.h).
void MatMulReference(GgmlType type, const uint8_t* data, uint64_t row_stride, int64_t rows,
                     int64_t cols, const float* x, int n_tokens, double* y);

// Same, also returning per output the sum of |w_j * x_j| (the scale the
// float error of a dot product is proportional to). scale: [n_tokens, rows].
void MatMulReferenceWithScale(GgmlType type, const uint8_t* data, uint64_t row_stride,
                              int64_t rows, int64_t cols, const float* x, int n_tokens,
                              double* y, double* scale);

}  // namespace llm::kernels::reference

#endif  // LLM_KERNELS_REFERENCE_MATMUL_REFERENCE_H_
