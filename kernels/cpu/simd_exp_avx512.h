// File: kernels/cpu/simd_exp_avx512.h
//
// Vector expf for AVX-512 translation units only (*_avx512.cc). Cephes-style:
// range reduction by ln2 in two parts and a degree-6 polynomial, ~2 ulp over
// the normal range; inputs below -87.3 (including -inf) give exactly 0,
// inputs above 88.37 saturate at ~2.4e38. NaN is not preserved (the
// kernels never feed NaN by construction).
//
// Internal linkage on purpose: the same inline names compiled with different
// -m flags in several TUs must never be merged by the linker.
#ifndef LLM_KERNELS_CPU_SIMD_EXP_AVX512_H_
#define LLM_KERNELS_CPU_SIMD_EXP_AVX512_H_

#include <immintrin.h>

namespace llm::kernels {
namespace {

inline __m512 Exp512(__m512 x) {
  const __m512 lo = _mm512_set1_ps(-87.3365478515625f);
  const __mmask16 underflow = _mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ);
  x = _mm512_min_ps(_mm512_max_ps(x, lo), _mm512_set1_ps(88.3762626647949f));
  const __m512 fx = _mm512_roundscale_ps(
      _mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
      _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  x = _mm512_fnmadd_ps(fx, _mm512_set1_ps(0.693359375f), x);
  x = _mm512_fnmadd_ps(fx, _mm512_set1_ps(-2.12194440e-4f), x);
  __m512 y = _mm512_set1_ps(1.9875691500e-4f);
  y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(1.3981999507e-3f));
  y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(8.3334519073e-3f));
  y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(4.1665795894e-2f));
  y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(1.6666665459e-1f));
  y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(5.0000001201e-1f));
  y = _mm512_fmadd_ps(y, _mm512_mul_ps(x, x), _mm512_add_ps(x, _mm512_set1_ps(1.0f)));
  const __m512i e = _mm512_slli_epi32(
      _mm512_add_epi32(_mm512_cvtps_epi32(fx), _mm512_set1_epi32(127)), 23);
  y = _mm512_mul_ps(y, _mm512_castsi512_ps(e));
  return _mm512_maskz_mov_ps(static_cast<__mmask16>(~underflow), y);
}

}  // namespace
}  // namespace llm::kernels

#endif  // LLM_KERNELS_CPU_SIMD_EXP_AVX512_H_
