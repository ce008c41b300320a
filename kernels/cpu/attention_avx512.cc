// File: kernels/cpu/attention_avx512.cc
//
// AVX-512 (F16C loads) inner step of PagedAttention; see attention_internal.h.
// Call only after the CPU check in cpu_isa_select.cc.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/cpu/attention_internal.h"
#include "kernels/cpu/simd_exp_avx512.h"

namespace llm::kernels::attention_internal {

void AttendBlockAvx512(const BlockTile& t) {
  const int hd = t.head_dim;
  const int nb = t.tokens;
  const int nvec = hd / 16;
  float* kf = t.scratch;
  float* vf = kf + static_cast<int64_t>(nb) * hd;
  float* s = vf + static_cast<int64_t>(nb) * hd;
  // The block's K and V to f32 once; every row of the tile reuses them.
  for (int j = 0; j < nb; ++j) {
    const uint16_t* kj = t.k + j * t.token_stride;
    const uint16_t* vj = t.v + j * t.token_stride;
    for (int c = 0; c < nvec; ++c) {
      _mm512_storeu_ps(kf + j * hd + 16 * c,
                       _mm512_cvtph_ps(_mm256_loadu_si256(
                           reinterpret_cast<const __m256i*>(kj + 16 * c))));
      _mm512_storeu_ps(vf + j * hd + 16 * c,
                       _mm512_cvtph_ps(_mm256_loadu_si256(
                           reinterpret_cast<const __m256i*>(vj + 16 * c))));
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
      __m512 a0 = _mm512_mul_ps(_mm512_loadu_ps(qr), _mm512_loadu_ps(kj));
      __m512 a1 = _mm512_setzero_ps();
      int c = 1;
      for (; c + 1 < nvec; c += 2) {
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(qr + 16 * c),
                             _mm512_loadu_ps(kj + 16 * c), a1);
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(qr + 16 * (c + 1)),
                             _mm512_loadu_ps(kj + 16 * (c + 1)), a0);
      }
      if (c < nvec) {
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(qr + 16 * c),
                             _mm512_loadu_ps(kj + 16 * c), a1);
      }
      float score = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1)) * t.scale;
      if (slope != 0.0f) {
        score += slope * static_cast<float>(t.kv_pos0 + j - t.row_pos[r]);
      }
      s[j] = score;
      block_max = std::max(block_max, score);
    }
    const float m_old = t.m[r];
    const float m_new = std::max(m_old, block_max);
    const float correction = m_old == neg_inf ? 0.0f : std::exp(m_old - m_new);
    __m512 sum = _mm512_setzero_ps();
    const __m512 vmax = _mm512_set1_ps(m_new);
    for (int j = 0; j < visible; j += 16) {
      const int n = std::min(16, visible - j);
      const __mmask16 mk = static_cast<__mmask16>((1u << n) - 1);
      const __m512 p =
          Exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(mk, s + j), vmax));
      sum = _mm512_add_ps(sum, _mm512_maskz_mov_ps(mk, p));
      _mm512_mask_storeu_ps(s + j, mk, p);
    }
    t.l[r] = t.l[r] * correction + _mm512_reduce_add_ps(sum);
    t.m[r] = m_new;
    float* accr = t.acc + static_cast<int64_t>(r) * hd;
    const __m512 vc = _mm512_set1_ps(correction);
    for (int c = 0; c < nvec; ++c) {
      __m512 a = _mm512_loadu_ps(accr + 16 * c);
      if (correction != 1.0f) a = _mm512_mul_ps(a, vc);
      for (int j = 0; j < visible; ++j) {
        a = _mm512_fmadd_ps(_mm512_set1_ps(s[j]),
                            _mm512_loadu_ps(vf + j * hd + 16 * c), a);
      }
      _mm512_storeu_ps(accr + 16 * c, a);
    }
  }
}

}  // namespace llm::kernels::attention_internal
