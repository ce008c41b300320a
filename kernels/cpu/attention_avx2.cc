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

namespace {

// r[j] = sum of the 8 lanes of v[j], j = 0..7.
inline __m256 ReduceEight(const __m256* v) {
  const __m256 t0 = _mm256_hadd_ps(_mm256_hadd_ps(v[0], v[1]),
                                   _mm256_hadd_ps(v[2], v[3]));
  const __m256 t1 = _mm256_hadd_ps(_mm256_hadd_ps(v[4], v[5]),
                                   _mm256_hadd_ps(v[6], v[7]));
  return _mm256_add_ps(_mm256_permute2f128_ps(t0, t1, 0x20),
                       _mm256_permute2f128_ps(t0, t1, 0x31));
}

}  // namespace

// Scores 8 tokens at a time: 8 dot-product vectors reduced together
// (ReduceEight) into one vector of scores for the exp.
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
  const __m256 vscale = _mm256_set1_ps(t.scale);
  const __m256i iota = _mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0);
  for (int r = 0; r < t.rows; ++r) {
    int visible = nb;
    if (t.mask) visible = std::clamp(t.row_pos[r] - t.kv_pos0 + 1, 0, nb);
    if (visible == 0) continue;
    const float* qr = t.q + static_cast<int64_t>(r) * hd;
    const float slope = t.row_slope != nullptr ? t.row_slope[r] : 0.0f;
    // Scores, padded to a multiple of 8 with -inf (exp gives exactly 0).
    __m256 vmax8 = _mm256_set1_ps(neg_inf);
    for (int j0 = 0; j0 < visible; j0 += 8) {
      const int n = std::min(8, visible - j0);
      __m256 dots[8];
      for (int j = 0; j < 8; ++j) {
        if (j >= n) {
          dots[j] = _mm256_setzero_ps();
          continue;
        }
        const float* kj = kf + (j0 + j) * hd;
        __m256 a = _mm256_mul_ps(_mm256_loadu_ps(qr), _mm256_loadu_ps(kj));
        for (int c = 1; c < nvec; ++c) {
          a = _mm256_fmadd_ps(_mm256_loadu_ps(qr + 8 * c),
                              _mm256_loadu_ps(kj + 8 * c), a);
        }
        dots[j] = a;
      }
      __m256 sc = _mm256_mul_ps(ReduceEight(dots), vscale);
      if (slope != 0.0f) {
        const __m256 dist = _mm256_cvtepi32_ps(_mm256_add_epi32(
            iota, _mm256_set1_epi32(t.kv_pos0 + j0 - t.row_pos[r])));
        sc = _mm256_add_ps(sc, _mm256_mul_ps(_mm256_set1_ps(slope), dist));
      }
      const __m256 valid = _mm256_castsi256_ps(
          _mm256_cmpgt_epi32(_mm256_set1_epi32(n), iota));
      sc = _mm256_blendv_ps(_mm256_set1_ps(neg_inf), sc, valid);
      vmax8 = _mm256_max_ps(vmax8, sc);
      _mm256_storeu_ps(s + j0, sc);
    }
    const float m_old = t.m[r];
    const float m_new = std::max(m_old, HorizontalMax256(vmax8));
    const float correction = m_old == neg_inf  ? 0.0f
                             : m_old == m_new ? 1.0f
                                              : std::exp(m_old - m_new);
    const __m256 vmax = _mm256_set1_ps(m_new);
    __m256 sum = _mm256_setzero_ps();
    for (int j = 0; j < visible; j += 8) {
      const __m256 p = Exp256(_mm256_sub_ps(_mm256_loadu_ps(s + j), vmax));
      sum = _mm256_add_ps(sum, p);
      _mm256_storeu_ps(s + j, p);
    }
    t.l[r] = t.l[r] * correction + HorizontalSum256(sum);
    t.m[r] = m_new;
    float* accr = t.acc + static_cast<int64_t>(r) * hd;
    const __m256 vc = _mm256_set1_ps(correction);
    // Four output vectors at a time stay in registers across the tokens.
    int c = 0;
    for (; c + 4 <= nvec; c += 4) {
      __m256 a[4];
      for (int i = 0; i < 4; ++i) {
        a[i] = _mm256_loadu_ps(accr + 8 * (c + i));
        if (correction != 1.0f) a[i] = _mm256_mul_ps(a[i], vc);
      }
      for (int j = 0; j < visible; ++j) {
        const __m256 p = _mm256_set1_ps(s[j]);
        const float* vj = vf + j * hd + 8 * c;
        for (int i = 0; i < 4; ++i) {
          a[i] = _mm256_fmadd_ps(p, _mm256_loadu_ps(vj + 8 * i), a[i]);
        }
      }
      for (int i = 0; i < 4; ++i) _mm256_storeu_ps(accr + 8 * (c + i), a[i]);
    }
    for (; c < nvec; ++c) {
      __m256 a = _mm256_loadu_ps(accr + 8 * c);
      if (correction != 1.0f) a = _mm256_mul_ps(a, vc);
      for (int j = 0; j < visible; ++j) {
        a = _mm256_fmadd_ps(_mm256_set1_ps(s[j]),
                            _mm256_loadu_ps(vf + j * hd + 8 * c), a);
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
