// File: kernels/reference/quantize_k.h
//
// Internal to kernels/reference: one-block K-quant (256 elements) encoders
// and decoders behind quantize.h. Layouts in REFERENCE.md §2.
//
// Thread safety: stateless pure functions.
#ifndef LLM_KERNELS_REFERENCE_QUANTIZE_K_H_
#define LLM_KERNELS_REFERENCE_QUANTIZE_K_H_

#include <cstdint>

namespace llm::kernels::reference {

// Q4_K: d dmin scales[12] qs[128] (144 bytes).
void QuantizeBlockQ4K(const float* x, uint8_t* y);
void DequantizeBlockQ4K(const uint8_t* y, double* out);
// Q6_K: ql[128] qh[64] scales[16] d (210 bytes).
void QuantizeBlockQ6K(const float* x, uint8_t* y);
void DequantizeBlockQ6K(const uint8_t* y, double* out);

}  // namespace llm::kernels::reference

#endif  // LLM_KERNELS_REFERENCE_QUANTIZE_K_H_
