// File: kernels/cpu/attention_avx2.cc
//
// AVX2 + FMA + F16C inner step of PagedAttention (attention_internal.h) and
// the fp16 store used by WriteKvCache. Call only after the CPU check.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/fp16.h"
#include "kernels/cpu/attention_internal.h"
#include "kernels/cpu/simd_exp_avx2.h"

namespace llm::kernels::attention_internal {

void AttendBlockAvx2(const BlockTile& t) {
  const int hd = t.head_dim;
  const int nb = t.tokens;
  const int nvec = hd / 8;
  float* kf = t.scratch;
  float* vf = kf + static_cast<int64_t>(nb) * hd;
  float* s = vf + static_cast<int64_t>(nb) * hd;
  for (int j = 0; j < nb; ++j) {
    const uint16_t* kj = t.k + j * t.token_stride;
    const uint16_t* vj = t.v + j * t.token_stride;
    for (int c = 0; c < nvec; ++c) {
      _mm256_storeu_ps(kf + j * hd + 8 * c,
                       _mm256_cvtph_ps(_mm_loadu_si128(
                           reinterpret_cast<const __m128i*>(kj + 8 * c))));
      _mm256_storeu_ps(vf + j * hd + 8 * c,
                       _mm256_cvtph_ps(_mm_loadu_si128(
                           reinterpret_cast<const __m128i*>(vj + 8 * c))));
    }
  }
  const float neg_inf = -std::numeric_limits<float>::infinity();
  for (int r = 0; r < t.rows; ++r) {
    int visible = nb;
    if (t.mask) visible = std::clamp(t.row_pos[r] - t.kv_pos0 + 1, 0, nb);
    if (visible == 0) continue;
    const float* qr = t.q + static_cast<int64_t>(r) * hd;
    const float slope = t.row_slope != nullptr ? t.row_slope[r] : 0.0f;
    float block_max = neg_inf;
    for (int j = 0; j < visible; ++j) {
      const float* kj = kf + j * hd;
      __m256 a0 = _mm256_setzero_ps();
      __m256 a1 = _mm256_setzero_ps();
      for (int c = 0; c < nvec; c += 2) {  // nvec is even (hd % 16 == 0)
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(qr + 8 * c),
                             _mm256_loadu_ps(kj + 8 * c), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(qr + 8 * c + 8),
                             _mm256_loadu_ps(kj + 8 * c + 8), a1);
      }
      float score = HorizontalSum256(_mm256_add_ps(a0, a1)) * t.scale;
      if (slope != 0.0f) {
        score += slope * static_cast<float>(t.kv_pos0 + j - t.row_pos[r]);
      }
      s[j] = score;
      block_max = std::max(block_max, score);
    }
    const float m_old = t.m[r];
    const float m_new = std::max(m_old, block_max);
    const float correction = m_old == neg_inf ? 0.0f : std::exp(m_old - m_new);
    const __m256 vmax = _mm256_set1_ps(m_new);
    __m256 sum = _mm256_setzero_ps();
    int j = 0;
    for (; j + 8 <= visible; j += 8) {
      const __m256 p = Exp256(_mm256_sub_ps(_mm256_loadu_ps(s + j), vmax));
      sum = _mm256_add_ps(sum, p);
      _mm256_storeu_ps(s + j, p);
    }
    float tail = 0.0f;
    if (j < visible) {
      alignas(32) float buf[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      const int n = visible - j;
      for (int i = 0; i < 8; ++i) buf[i] = i < n ? s[j + i] : m_new - 1000.0f;
      const __m256 p = Exp256(_mm256_sub_ps(_mm256_load_ps(buf), vmax));
      _mm256_store_ps(buf, p);
      for (int i = 0; i < n; ++i) {
        s[j + i] = buf[i];
        tail += buf[i];
      }
    }
    t.l[r] = t.l[r] * correction + (HorizontalSum256(sum) + tail);
    t.m[r] = m_new;
    float* accr = t.acc + static_cast<int64_t>(r) * hd;
    const __m256 vc = _mm256_set1_ps(correction);
    for (int c = 0; c < nvec; ++c) {
      __m256 a = _mm256_loadu_ps(accr + 8 * c);
      if (correction != 1.0f) a = _mm256_mul_ps(a, vc);
      for (int jj = 0; jj < visible; ++jj) {
        a = _mm256_fmadd_ps(_mm256_set1_ps(s[jj]),
                            _mm256_loadu_ps(vf + jj * hd + 8 * c), a);
      }
      _mm256_storeu_ps(accr + 8 * c, a);
    }
  }
}

void FloatToFp16Avx2(const float* src, int64_t n, uint16_t* dst) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(src + i),
                                     _MM_FROUND_TO_NEAREST_INT));
  }
  for (; i < n; ++i) dst[i] = FloatToFp16(src[i]);
}

}  // namespace llm::kernels::attention_internal
