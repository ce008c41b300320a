// File: kernels/reference/quantize.h
//
// Reference (scalar, obviously-correct) conversions between f32 and the ggml
// block formats of REFERENCE.md §2. Quantizers follow ggml's scalar
// reference quantizers (quantize_row_*_ref in ggml-quants.c): same rounding,
// same scale selection, so files written here match what llama.cpp writes
// up to float rounding in scale search. Dequantizers are exact: each element
// is computed from the stored fields in double precision (fp16 scales are
// converted exactly), so kernels can be compared against them.
//
// Supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q4_K, Q6_K.
//
// Thread safety: stateless pure functions.
#ifndef LLM_KERNELS_REFERENCE_QUANTIZE_H_
#define LLM_KERNELS_REFERENCE_QUANTIZE_H_

#include <cstdint>

#include "absl/status/status.h"
#include "common/ggml_types.h"

namespace llm::kernels::reference {

// Whether QuantizeRow/DequantizeRow handle `type`.
bool QuantizeSupports(GgmlType type);

// out[0..n) = the n elements stored at src (n / block_size blocks).
// REQUIRES: QuantizeSupports(type), n % block_size(type) == 0.
void DequantizeRow(GgmlType type, const uint8_t* src, int64_t n, double* out);
// Same, in float (each element rounded once from the double result).
void DequantizeRowF32(GgmlType type, const uint8_t* src, int64_t n, float* out);

// Encodes src[0..n) into dst (GgmlRowBytes(type, n) bytes).
// InvalidArgument when the type is unsupported or n is not a multiple of
// the block size.
absl::Status QuantizeRow(GgmlType type, const float* src, int64_t n, uint8_t* dst);

}  // namespace llm::kernels::reference

#endif  // LLM_KERNELS_REFERENCE_QUANTIZE_H_
