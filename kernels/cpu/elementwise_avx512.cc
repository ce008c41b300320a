// File: kernels/cpu/elementwise_avx512.cc
//
// AVX-512 row kernels (elementwise_internal.h). Tails use masked loads and
// stores, so every n is handled without a scalar loop.
#include <immintrin.h>

#include <cmath>

#include "kernels/cpu/elementwise_internal.h"
#include "kernels/cpu/simd_exp_avx512.h"

namespace llm::kernels::elementwise_internal {
namespace {

inline __mmask16 TailMask(int64_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF)
                 : static_cast<__mmask16>((1u << n) - 1);
}

}  // namespace

double SumSquaresAvx512(const float* x, int d) {
  __m512d a0 = _mm512_setzero_pd();
  __m512d a1 = _mm512_setzero_pd();
  for (int i = 0; i < d; i += 16) {
    const __m512 v = _mm512_maskz_loadu_ps(TailMask(d - i), x + i);
    const __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
    const __m512d hi = _mm512_cvtps_pd(
        _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    a0 = _mm512_fmadd_pd(lo, lo, a0);
    a1 = _mm512_fmadd_pd(hi, hi, a1);
  }
  return _mm512_reduce_add_pd(_mm512_add_pd(a0, a1));
}

void ScaleMulAvx512(const float* x, float scale, const float* w, int d,
                    float* out) {
  const __m512 s = _mm512_set1_ps(scale);
  for (int i = 0; i < d; i += 16) {
    const __mmask16 m = TailMask(d - i);
    const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), s);
    _mm512_mask_storeu_ps(out + i, m,
                          _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, w + i)));
  }
}

void AddInPlaceAvx512(float* x, const float* delta, int d) {
  for (int i = 0; i < d; i += 16) {
    const __mmask16 m = TailMask(d - i);
    _mm512_mask_storeu_ps(x + i, m,
                          _mm512_add_ps(_mm512_maskz_loadu_ps(m, x + i),
                                        _mm512_maskz_loadu_ps(m, delta + i)));
  }
}

void SwiGluAvx512(const float* gate, const float* up, int64_t n, float* out) {
  const __m512 one = _mm512_set1_ps(1.0f);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = TailMask(n - i);
    const __m512 g = _mm512_maskz_loadu_ps(m, gate + i);
    const __m512 e = Exp512(_mm512_sub_ps(_mm512_setzero_ps(), g));
    const __m512 silu = _mm512_div_ps(g, _mm512_add_ps(one, e));
    _mm512_mask_storeu_ps(out + i, m,
                          _mm512_mul_ps(silu, _mm512_maskz_loadu_ps(m, up + i)));
  }
}

void SoftmaxAvx512(float* x, int n) {
  __m512 vmax = _mm512_set1_ps(-INFINITY);
  for (int i = 0; i < n; i += 16) {
    vmax = _mm512_max_ps(
        vmax, _mm512_mask_loadu_ps(vmax, TailMask(n - i), x + i));
  }
  const __m512 mx = _mm512_set1_ps(_mm512_reduce_max_ps(vmax));
  // The sum in double, as llama.cpp: f32 sums of 49k terms drift.
  __m512d sum0 = _mm512_setzero_pd();
  __m512d sum1 = _mm512_setzero_pd();
  for (int i = 0; i < n; i += 16) {
    const __mmask16 m = TailMask(n - i);
    const __m512 e =
        _mm512_maskz_mov_ps(m, Exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), mx)));
    sum0 = _mm512_add_pd(sum0, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
    sum1 = _mm512_add_pd(sum1, _mm512_cvtps_pd(_mm256_castpd_ps(
                                   _mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
    _mm512_mask_storeu_ps(x + i, m, e);
  }
  const __m512 inv = _mm512_set1_ps(
      static_cast<float>(1.0 / _mm512_reduce_add_pd(_mm512_add_pd(sum0, sum1))));
  for (int i = 0; i < n; i += 16) {
    const __mmask16 m = TailMask(n - i);
    _mm512_mask_storeu_ps(x + i, m,
                          _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), inv));
  }
}

void RopeApplyAvx512(float* x, int n_heads, int head_dim, int rope_dim,
                     RopeMode mode, const float* ce, const float* se) {
  const int half = rope_dim / 2;
  for (int h = 0; h < n_heads; ++h) {
    float* xh = x + static_cast<int64_t>(h) * head_dim;
    if (mode == RopeMode::kNormal) {
      for (int j = 0; j < rope_dim; j += 16) {
        const __mmask16 m = TailMask(rope_dim - j);  // rope_dim is even
        const __m512 v = _mm512_maskz_loadu_ps(m, xh + j);
        const __m512 swapped = _mm512_permute_ps(v, 0xB1);  // pairs swapped
        const __m512 r = _mm512_fmadd_ps(
            swapped, _mm512_maskz_loadu_ps(m, se + j),
            _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, ce + j)));
        _mm512_mask_storeu_ps(xh + j, m, r);
      }
    } else {
      for (int i = 0; i < half; i += 16) {
        const __mmask16 m = TailMask(half - i);
        const __m512 a = _mm512_maskz_loadu_ps(m, xh + i);
        const __m512 b = _mm512_maskz_loadu_ps(m, xh + i + half);
        const __m512 ra = _mm512_fmadd_ps(
            b, _mm512_maskz_loadu_ps(m, se + i),
            _mm512_mul_ps(a, _mm512_maskz_loadu_ps(m, ce + i)));
        const __m512 rb = _mm512_fmadd_ps(
            a, _mm512_maskz_loadu_ps(m, se + i + half),
            _mm512_mul_ps(b, _mm512_maskz_loadu_ps(m, ce + i + half)));
        _mm512_mask_storeu_ps(xh + i, m, ra);
        _mm512_mask_storeu_ps(xh + i + half, m, rb);
      }
    }
  }
}

}  // namespace llm::kernels::elementwise_internal
