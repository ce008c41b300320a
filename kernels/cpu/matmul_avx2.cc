// AVX2/FMA/F16C matmul kernels (no VNNI): the activation quantiser used by
// every SIMD path (a transcription of llama.cpp's x86 quantize_row_q8_1, so
// the bytes match it and the scalar quantiser exactly), per-row
// Q4_0/Q4_1/Q8_0 dots over tiles of 4 tokens (the weight block is decoded
// once per tile). Float weights: matmul_float_avx2.cc.
// Only called after a run-time AVX2 check (matmul.cc).
#include <immintrin.h>

#include <cstring>

#include "kernels/cpu/avx2_helpers.h"
#include "kernels/cpu/matmul_internal.h"

namespace llm::kernels::internal {
namespace {

inline int HsumEpi32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(s);
}

// 16 bytes of packed nibbles -> 32 bytes: low nibbles, then high nibbles.
inline __m256i Nibbles(const uint8_t* qs) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m256i both = _mm256_insertf128_si256(_mm256_castsi128_si256(v), _mm_srli_epi16(v, 4), 1);
  return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

// Sum over 32 lanes of u8 w times s8 a, as 8 int32 partial sums. Exact
// while |w| * 127 * 2 fits int16 (w <= 128).
inline __m256i DotU8S8(__m256i w, __m256i a) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(w, a), _mm256_set1_epi16(1));
}

// Signed-by-signed via the sign trick (|w| unsigned, a takes w's sign).
inline __m256i DotS8S8(__m256i w, __m256i a) {
  return DotU8S8(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
}

template <int T>
void QuantRowTile(const RowsTask& task, const Acts& acts, int64_t r, int t0) {
  const WeightMatrix& w = *task.w;
  const Q8Acts& a = acts.q8;
  const uint8_t* blk = w.data + r * w.row_stride;
  __m256 acc[T];
  float summs[T];
  for (int t = 0; t < T; ++t) {
    acc[t] = _mm256_setzero_ps();
    summs[t] = 0.0f;
  }
  for (int64_t b = 0; b < a.nb; ++b) {
    __m256i wv;
    float dw, mw = 0.0f;
    switch (w.type) {
      case GgmlType::kQ4_0:
        dw = F16At(blk);
        wv = _mm256_sub_epi8(Nibbles(blk + 2), _mm256_set1_epi8(8));
        blk += 18;
        break;
      case GgmlType::kQ4_1:
        dw = F16At(blk);
        mw = F16At(blk + 2);
        wv = Nibbles(blk + 4);
        blk += 20;
        break;
      default:  // kQ8_0
        dw = F16At(blk);
        wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2));
        blk += 34;
        break;
    }
    for (int t = 0; t < T; ++t) {
      const int64_t i = (t0 + t) * a.nb + b;
      const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.q + i * 32));
      const __m256i p = w.type == GgmlType::kQ4_1 ? DotU8S8(wv, av) : DotS8S8(wv, av);
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(dw * a.d[i]), acc[t]);
      summs[t] += mw * a.s[i];
    }
  }
  for (int t = 0; t < T; ++t) task.y[(t0 + t) * task.ldy + r] = HsumPs(acc[t]) + summs[t];
}

void QuantRows(const RowsTask& task, const Acts& acts) {
  const int n = acts.n_tokens;
  for (int64_t r = task.r0; r < task.r1; ++r) {
    int t = 0;
    for (; t + 4 <= n; t += 4) QuantRowTile<4>(task, acts, r, t);
    for (; t < n; ++t) QuantRowTile<1>(task, acts, r, t);
  }
}

}  // namespace

void QuantizeQ8Avx2(const float* x, int64_t cols, int t0, int t1, const Q8Acts& a) {
  const int64_t nb = a.nb;
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (int t = t0; t < t1; ++t) {
    for (int64_t b = 0; b < nb; ++b) {
      const float* xb = x + t * cols + b * 32;
      __m256 v0 = _mm256_loadu_ps(xb), v1 = _mm256_loadu_ps(xb + 8);
      __m256 v2 = _mm256_loadu_ps(xb + 16), v3 = _mm256_loadu_ps(xb + 24);
      __m256 mx = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1)),
                                _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
      __m128 m4 = _mm_max_ps(_mm256_extractf128_ps(mx, 1), _mm256_castps256_ps128(mx));
      m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
      m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
      const float amax = _mm_cvtss_f32(m4);
      const float d = amax / 127.0f;
      const __m256 mul = _mm256_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
      constexpr int kRound = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
      const __m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v0, mul), kRound));
      const __m256i i1 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v1, mul), kRound));
      const __m256i i2 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v2, mul), kRound));
      const __m256i i3 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v3, mul), kRound));
      const int sum = HsumEpi32(_mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3)));
      // packs work per 128-bit lane; the permute restores element order.
      const __m256i p16a = _mm256_packs_epi32(i0, i1), p16b = _mm256_packs_epi32(i2, i3);
      const __m256i p8 = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(p16a, p16b),
                                                     _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(a.q + (t * nb + b) * 32), p8);
      const int64_t i = t * nb + b;
      a.d[i] = _cvtsh_ss(_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT));
      a.s[i] = _cvtsh_ss(_cvtss_sh(d * static_cast<float>(sum), _MM_FROUND_TO_NEAREST_INT));
      a.sum[i] = sum;
    }
  }
}

void ComputeRowsAvx2(const RowsTask& task, const Acts& acts) {
  switch (task.w->type) {
    case GgmlType::kQ4_0:
    case GgmlType::kQ4_1:
    case GgmlType::kQ8_0:
      return QuantRows(task, acts);
    case GgmlType::kF32:
    case GgmlType::kF16:
    case GgmlType::kBF16:
      return FloatRowsAvx2(task, acts);
    default:
      return ComputeRowsScalar(task, acts);
  }
}

}  // namespace llm::kernels::internal
