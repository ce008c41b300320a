// File: kernels/cpu/attention_avx512.cc
//
// AVX-512 (F16C loads) inner step of PagedAttention; see attention_internal.h.
// Call only after the CPU check in cpu_isa_select.cc.
//
// Per 16 tokens of a row the 16 dot products are accumulated as 16 vectors
// and reduced together by a transpose-add tree (ReduceSixteen), which yields
// the scores as one vector for the masked exp, instead of 16 separate
// horizontal reductions. K and V are converted to f32 once per block (the
// prefill tile reuses them for up to 64 rows).
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/cpu/attention_internal.h"
#include "kernels/cpu/simd_exp_avx512.h"

namespace llm::kernels::attention_internal {
namespace {

// r[j] = sum of the 16 lanes of v[j], j = 0..15.
inline __m512 ReduceSixteen(const __m512* v) {
  __m512 w[8];
  for (int i = 0; i < 8; ++i) {
    // Per 128-bit lane L: [x0+x2, y0+y2, x1+x3, y1+y3].
    w[i] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]),
                         _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
  }
  __m512 u[4];
  for (int i = 0; i < 4; ++i) {
    // Per lane L: the lane-L partial sums of vectors 4i .. 4i+3.
    const __m512d a = _mm512_castps_pd(w[2 * i]);
    const __m512d b = _mm512_castps_pd(w[2 * i + 1]);
    u[i] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(a, b)),
                         _mm512_castpd_ps(_mm512_unpackhi_pd(a, b)));
  }
  const __m512 s01 = _mm512_add_ps(_mm512_shuffle_f32x4(u[0], u[1], 0x44),
                                   _mm512_shuffle_f32x4(u[0], u[1], 0xEE));
  const __m512 s23 = _mm512_add_ps(_mm512_shuffle_f32x4(u[2], u[3], 0x44),
                                   _mm512_shuffle_f32x4(u[2], u[3], 0xEE));
  return _mm512_add_ps(_mm512_shuffle_f32x4(s01, s23, 0x88),
                       _mm512_shuffle_f32x4(s01, s23, 0xDD));
}

template <int NV>  // head_dim / 16; 0 = run-time `nvec`
void AttendBlockImpl(const BlockTile& t, int nvec_rt) {
  const int nvec = NV > 0 ? NV : nvec_rt;
  const int hd = t.head_dim;
  const int nb = t.tokens;
  float* kf = t.scratch;
  float* vf = kf + static_cast<int64_t>(nb) * hd;
  float* s = vf + static_cast<int64_t>(nb) * hd;
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
  const __m512i iota =
      _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  const __m512 vscale = _mm512_set1_ps(t.scale);
  for (int r = 0; r < t.rows; ++r) {
    int visible = nb;
    if (t.mask) visible = std::clamp(t.row_pos[r] - t.kv_pos0 + 1, 0, nb);
    if (visible == 0) continue;
    const float* qr = t.q + static_cast<int64_t>(r) * hd;
    const float slope = t.row_slope != nullptr ? t.row_slope[r] : 0.0f;
    float block_max = neg_inf;
    for (int j0 = 0; j0 < visible; j0 += 16) {
      const int n = std::min(16, visible - j0);
      __m512 dots[16];
      for (int j = 0; j < 16; ++j) {
        if (j >= n) {
          dots[j] = _mm512_setzero_ps();
          continue;
        }
        const float* kj = kf + (j0 + j) * hd;
        __m512 a = _mm512_mul_ps(_mm512_loadu_ps(qr), _mm512_loadu_ps(kj));
        for (int c = 1; c < nvec; ++c) {
          a = _mm512_fmadd_ps(_mm512_loadu_ps(qr + 16 * c),
                              _mm512_loadu_ps(kj + 16 * c), a);
        }
        dots[j] = a;
      }
      __m512 sc = _mm512_mul_ps(ReduceSixteen(dots), vscale);
      if (slope != 0.0f) {
        // slope * (kv_pos - q_pos), the distance exact in f32.
        const __m512 dist = _mm512_cvtepi32_ps(_mm512_add_epi32(
            iota, _mm512_set1_epi32(t.kv_pos0 + j0 - t.row_pos[r])));
        sc = _mm512_add_ps(sc, _mm512_mul_ps(_mm512_set1_ps(slope), dist));
      }
      const __mmask16 mk = static_cast<__mmask16>((1u << n) - 1);
      block_max = std::max(block_max, _mm512_mask_reduce_max_ps(mk, sc));
      _mm512_mask_storeu_ps(s + j0, mk, sc);
    }
    const float m_old = t.m[r];
    const float m_new = std::max(m_old, block_max);
    const float correction = m_old == neg_inf  ? 0.0f
                             : m_old == m_new ? 1.0f
                                              : std::exp(m_old - m_new);
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
    if constexpr (NV > 0) {
      // Accumulators in registers across the block's tokens.
      __m512 a[NV];
      const __m512 vc = _mm512_set1_ps(correction);
      for (int c = 0; c < NV; ++c) {
        a[c] = _mm512_loadu_ps(accr + 16 * c);
        if (correction != 1.0f) a[c] = _mm512_mul_ps(a[c], vc);
      }
      for (int j = 0; j < visible; ++j) {
        const __m512 p = _mm512_set1_ps(s[j]);
        const float* vj = vf + j * hd;
        for (int c = 0; c < NV; ++c) {
          a[c] = _mm512_fmadd_ps(p, _mm512_loadu_ps(vj + 16 * c), a[c]);
        }
      }
      for (int c = 0; c < NV; ++c) _mm512_storeu_ps(accr + 16 * c, a[c]);
    } else {
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
}

// Few rows (GQA decode): K is converted straight from fp16 in the dot
// products and each V token is converted once for all rows, whose
// accumulators stay in registers; no f32 staging of the block. Same
// operation order per row as AttendBlockImpl, so the results are
// bit-identical to it. REQUIRES: t.rows == R, t.tokens <= 32.
template <int NV, int R>
void AttendBlockFewRows(const BlockTile& t) {
  constexpr int hd = NV * 16;
  const int nb = t.tokens;
  const float neg_inf = -std::numeric_limits<float>::infinity();
  const __m512i iota =
      _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  const __m512 vscale = _mm512_set1_ps(t.scale);
  alignas(64) float p[R][32];
  int visible[R];
  float correction[R];
  for (int r = 0; r < R; ++r) {
    visible[r] = nb;
    if (t.mask) visible[r] = std::clamp(t.row_pos[r] - t.kv_pos0 + 1, 0, nb);
    correction[r] = 1.0f;
    if (visible[r] == 0) continue;
    const float* qr = t.q + r * hd;
    __m512 q[NV];
    for (int c = 0; c < NV; ++c) q[c] = _mm512_loadu_ps(qr + 16 * c);
    const float slope = t.row_slope != nullptr ? t.row_slope[r] : 0.0f;
    float block_max = neg_inf;
    for (int j0 = 0; j0 < visible[r]; j0 += 16) {
      const int n = std::min(16, visible[r] - j0);
      __m512 dots[16];
      for (int j = 0; j < 16; ++j) {
        if (j >= n) {
          dots[j] = _mm512_setzero_ps();
          continue;
        }
        const uint16_t* kj = t.k + (j0 + j) * t.token_stride;
        __m512 a = _mm512_mul_ps(q[0], _mm512_cvtph_ps(_mm256_loadu_si256(
                                           reinterpret_cast<const __m256i*>(kj))));
        for (int c = 1; c < NV; ++c) {
          a = _mm512_fmadd_ps(q[c],
                              _mm512_cvtph_ps(_mm256_loadu_si256(
                                  reinterpret_cast<const __m256i*>(kj + 16 * c))),
                              a);
        }
        dots[j] = a;
      }
      __m512 sc = _mm512_mul_ps(ReduceSixteen(dots), vscale);
      if (slope != 0.0f) {
        const __m512 dist = _mm512_cvtepi32_ps(_mm512_add_epi32(
            iota, _mm512_set1_epi32(t.kv_pos0 + j0 - t.row_pos[r])));
        sc = _mm512_add_ps(sc, _mm512_mul_ps(_mm512_set1_ps(slope), dist));
      }
      const __mmask16 mk = static_cast<__mmask16>((1u << n) - 1);
      block_max = std::max(block_max, _mm512_mask_reduce_max_ps(mk, sc));
      _mm512_mask_storeu_ps(p[r] + j0, mk, sc);
    }
    const float m_old = t.m[r];
    const float m_new = std::max(m_old, block_max);
    correction[r] = m_old == neg_inf  ? 0.0f
                    : m_old == m_new ? 1.0f
                                     : std::exp(m_old - m_new);
    __m512 sum = _mm512_setzero_ps();
    const __m512 vmax = _mm512_set1_ps(m_new);
    for (int j = 0; j < visible[r]; j += 16) {
      const int n = std::min(16, visible[r] - j);
      const __mmask16 mk = static_cast<__mmask16>((1u << n) - 1);
      const __m512 e =
          Exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(mk, p[r] + j), vmax));
      sum = _mm512_add_ps(sum, _mm512_maskz_mov_ps(mk, e));
      _mm512_mask_storeu_ps(p[r] + j, mk, e);
    }
    t.l[r] = t.l[r] * correction[r] + _mm512_reduce_add_ps(sum);
    t.m[r] = m_new;
  }
  __m512 acc[R][NV];
  int max_visible = 0;
  for (int r = 0; r < R; ++r) {
    max_visible = std::max(max_visible, visible[r]);
    const __m512 vc = _mm512_set1_ps(correction[r]);
    for (int c = 0; c < NV; ++c) {
      acc[r][c] = _mm512_loadu_ps(t.acc + r * hd + 16 * c);
      if (visible[r] > 0 && correction[r] != 1.0f) {
        acc[r][c] = _mm512_mul_ps(acc[r][c], vc);
      }
    }
  }
  for (int j = 0; j < max_visible; ++j) {
    const uint16_t* vj = t.v + j * t.token_stride;
    __m512 v[NV];
    for (int c = 0; c < NV; ++c) {
      v[c] = _mm512_cvtph_ps(
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(vj + 16 * c)));
    }
    for (int r = 0; r < R; ++r) {
      if (j >= visible[r]) continue;
      const __m512 pr = _mm512_set1_ps(p[r][j]);
      for (int c = 0; c < NV; ++c) acc[r][c] = _mm512_fmadd_ps(pr, v[c], acc[r][c]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < NV; ++c) _mm512_storeu_ps(t.acc + r * hd + 16 * c, acc[r][c]);
  }
}

}  // namespace

void AttendBlockAvx512(const BlockTile& t) {
  if (t.tokens <= 32) {
    if (t.head_dim == 64) {
      switch (t.rows) {
        case 1: return AttendBlockFewRows<4, 1>(t);
        case 2: return AttendBlockFewRows<4, 2>(t);
        case 3: return AttendBlockFewRows<4, 3>(t);
        case 4: return AttendBlockFewRows<4, 4>(t);
        default: break;
      }
    } else if (t.head_dim == 128) {
      switch (t.rows) {
        case 1: return AttendBlockFewRows<8, 1>(t);
        case 2: return AttendBlockFewRows<8, 2>(t);
        default: break;
      }
    }
  }
  switch (t.head_dim) {
    case 64:
      return AttendBlockImpl<4>(t, 4);
    case 128:
      return AttendBlockImpl<8>(t, 8);
    default:
      return AttendBlockImpl<0>(t, t.head_dim / 16);
  }
}

}  // namespace llm::kernels::attention_internal
