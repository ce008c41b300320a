// File: kernels/cpu/elementwise_avx2.cc
//
// AVX2 + FMA row kernels (elementwise_internal.h); tails fall back to the
// scalar kernels' formulas element by element.
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "kernels/cpu/elementwise_internal.h"
#include "kernels/cpu/simd_exp_avx2.h"

namespace llm::kernels::elementwise_internal {

double SumSquaresAvx2(const float* x, int d) {
  __m256d a0 = _mm256_setzero_pd();
  __m256d a1 = _mm256_setzero_pd();
  int i = 0;
  for (; i + 8 <= d; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
    const __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
    a0 = _mm256_fmadd_pd(lo, lo, a0);
    a1 = _mm256_fmadd_pd(hi, hi, a1);
  }
  alignas(32) double lanes[4];
  _mm256_store_pd(lanes, _mm256_add_pd(a0, a1));
  double sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
  for (; i < d; ++i) sum += static_cast<double>(x[i]) * x[i];
  return sum;
}

void ScaleMulAvx2(const float* x, float scale, const float* w, int d,
                  float* out) {
  const __m256 s = _mm256_set1_ps(scale);
  int i = 0;
  for (; i + 8 <= d; i += 8) {
    const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i), s);
    _mm256_storeu_ps(out + i, _mm256_mul_ps(v, _mm256_loadu_ps(w + i)));
  }
  for (; i < d; ++i) out[i] = (x[i] * scale) * w[i];
}

void AddInPlaceAvx2(float* x, const float* delta, int d) {
  int i = 0;
  for (; i + 8 <= d; i += 8) {
    _mm256_storeu_ps(x + i, _mm256_add_ps(_mm256_loadu_ps(x + i),
                                          _mm256_loadu_ps(delta + i)));
  }
  for (; i < d; ++i) x[i] += delta[i];
}

void SwiGluAvx2(const float* gate, const float* up, int64_t n, float* out) {
  const __m256 one = _mm256_set1_ps(1.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    const __m256 e = Exp256(_mm256_sub_ps(_mm256_setzero_ps(), g));
    const __m256 silu = _mm256_div_ps(g, _mm256_add_ps(one, e));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(silu, _mm256_loadu_ps(up + i)));
  }
  for (; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void SoftmaxAvx2(float* x, int n) {
  __m256 vmax = _mm256_set1_ps(-INFINITY);
  int i = 0;
  for (; i + 8 <= n; i += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(x + i));
  float mx = HorizontalMax256(vmax);
  for (; i < n; ++i) mx = std::max(mx, x[i]);
  const __m256 vm = _mm256_set1_ps(mx);
  // The sum in double, as llama.cpp: f32 sums of 49k terms drift.
  __m256d sum0 = _mm256_setzero_pd();
  __m256d sum1 = _mm256_setzero_pd();
  i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 e = Exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
    sum0 = _mm256_add_pd(sum0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
    sum1 = _mm256_add_pd(sum1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    _mm256_storeu_ps(x + i, e);
  }
  alignas(32) double lanes[4];
  _mm256_store_pd(lanes, _mm256_add_pd(sum0, sum1));
  double total = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
  for (; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    total += x[i];
  }
  const float inv = static_cast<float>(1.0 / total);
  const __m256 vinv = _mm256_set1_ps(inv);
  i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), vinv));
  }
  for (; i < n; ++i) x[i] *= inv;
}

void RopeApplyAvx2(float* x, int n_heads, int head_dim, int rope_dim,
                   RopeMode mode, const float* ce, const float* se) {
  const int half = rope_dim / 2;
  for (int h = 0; h < n_heads; ++h) {
    float* xh = x + static_cast<int64_t>(h) * head_dim;
    if (mode == RopeMode::kNormal) {
      int j = 0;
      for (; j + 8 <= rope_dim; j += 8) {
        const __m256 v = _mm256_loadu_ps(xh + j);
        const __m256 swapped = _mm256_permute_ps(v, 0xB1);
        _mm256_storeu_ps(
            xh + j, _mm256_fmadd_ps(swapped, _mm256_loadu_ps(se + j),
                                    _mm256_mul_ps(v, _mm256_loadu_ps(ce + j))));
      }
      for (; j < rope_dim; j += 2) {
        const float a = xh[j];
        const float b = xh[j + 1];
        xh[j] = a * ce[j] + b * se[j];
        xh[j + 1] = b * ce[j + 1] + a * se[j + 1];
      }
    } else {
      int i = 0;
      for (; i + 8 <= half; i += 8) {
        const __m256 a = _mm256_loadu_ps(xh + i);
        const __m256 b = _mm256_loadu_ps(xh + i + half);
        _mm256_storeu_ps(xh + i, _mm256_fmadd_ps(b, _mm256_loadu_ps(se + i),
                                                 _mm256_mul_ps(a, _mm256_loadu_ps(ce + i))));
        _mm256_storeu_ps(
            xh + i + half,
            _mm256_fmadd_ps(a, _mm256_loadu_ps(se + i + half),
                            _mm256_mul_ps(b, _mm256_loadu_ps(ce + i + half))));
      }
      for (; i < half; ++i) {
        const float a = xh[i];
        const float b = xh[i + half];
        xh[i] = a * ce[i] + b * se[i];
        xh[i + half] = b * ce[i + half] + a * se[i + half];
      }
    }
  }
}

}  // namespace llm::kernels::elementwise_internal
