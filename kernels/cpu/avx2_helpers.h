// File: kernels/cpu/avx2_helpers.h
//
// Small AVX2/F16C helpers shared by the *_avx2.cc / *_avx512.cc matmul
// files. Include only from files compiled with AVX2+F16C enabled (see
// kernels/CMakeLists.txt); everything here is inline.
#ifndef LLM_KERNELS_CPU_AVX2_HELPERS_H_
#define LLM_KERNELS_CPU_AVX2_HELPERS_H_

#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace llm::kernels::internal {

// Sum of the 8 lanes, in a fixed order (results must not depend on the
// caller: batch invariance).
inline float HsumPs(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline float F16At(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

}  // namespace llm::kernels::internal

#endif  // LLM_KERNELS_CPU_AVX2_HELPERS_H_
