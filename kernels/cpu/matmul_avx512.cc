// AVX-512 VNNI kernels for Q4_0/Q4_1/Q8_0 on the 16-row packed layout
// (matmul_internal.h). One 32-bit lane per output row: for each block,
// vpdpbusd multiplies 4 weight bytes of 16 rows by a broadcast 4-byte chunk
// of one token's activations, so 8 instructions give the exact integer dots
// of 16 rows with that token, with no horizontal reductions. A tile of up to
// 8 tokens reuses each unpacked weight vector. Unpacked matrices are packed
// one group at a time into L1-resident scratch with gathers.
//
// Per output element the operations are, for b = 0..nb-1:
//   acc = fma(float(isum_b), fp16(dw_b) * da_b, acc)   [+ fma(mw_b, s_b, acc)]
// independent of the token tile, the thread and packed-vs-unpacked input.
// Only called after a run-time AVX-512 VNNI check (matmul.cc).
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <new>

#include "kernels/cpu/matmul_internal.h"

namespace llm::kernels::internal {
namespace {

constexpr int kMaxTile = 8;

inline __m512i Bcst32(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

template <GgmlType kType, int T>
void GroupTile(const uint8_t* grp, const Q8Acts& a, int t0, float* y, int64_t ldy,
               __mmask16 store_mask) {
  constexpr int kQsb = kType == GgmlType::kQ8_0 ? 512 : 256;
  const int64_t nb = a.nb;
  const uint8_t* qs = grp;
  const __m256i* dptr = reinterpret_cast<const __m256i*>(grp + nb * kQsb);
  const __m256i* mptr = dptr + nb;
  const __m512i low = _mm512_set1_epi8(0x0F);
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    // Two independent integer chains per token halve the vpdpbusd latency
    // chain; integer sums are exact, so the split changes nothing.
    __m512i s0[T], s1[T];
    const int8_t* aq[T];
    for (int t = 0; t < T; ++t) {
      const int64_t i = (t0 + t) * nb + b;
      aq[t] = a.q + i * 32;
      s1[t] = _mm512_setzero_si512();
      if constexpr (kType == GgmlType::kQ4_1) {
        s0[t] = _mm512_setzero_si512();
      } else if constexpr (kType == GgmlType::kQ4_0) {
        s0[t] = _mm512_set1_epi32(-8 * a.sum[i]);  // Σ(q-8)a = Σqa - 8Σa
      } else {
        s0[t] = _mm512_set1_epi32(-128 * a.sum[i]);  // weights stored as q+128
      }
    }
    const uint8_t* qb = qs + b * kQsb;
    if constexpr (kType == GgmlType::kQ8_0) {
      for (int k = 0; k < 4; ++k) {
        const __m512i w0 = _mm512_load_si512(qb + 64 * k);
        const __m512i w1 = _mm512_load_si512(qb + 64 * (k + 4));
        for (int t = 0; t < T; ++t) {
          s0[t] = _mm512_dpbusd_epi32(s0[t], w0, Bcst32(aq[t] + 4 * k));
          s1[t] = _mm512_dpbusd_epi32(s1[t], w1, Bcst32(aq[t] + 16 + 4 * k));
        }
      }
    } else {
      for (int k = 0; k < 4; ++k) {
        const __m512i p = _mm512_load_si512(qb + 64 * k);
        const __m512i lo = _mm512_and_si512(p, low);
        const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(p, 4), low);
        for (int t = 0; t < T; ++t) {
          s0[t] = _mm512_dpbusd_epi32(s0[t], lo, Bcst32(aq[t] + 4 * k));
          s1[t] = _mm512_dpbusd_epi32(s1[t], hi, Bcst32(aq[t] + 16 + 4 * k));
        }
      }
    }
    const __m512 dw = _mm512_cvtph_ps(_mm256_load_si256(dptr + b));
    __m512 mw;
    if constexpr (kType == GgmlType::kQ4_1) mw = _mm512_cvtph_ps(_mm256_load_si256(mptr + b));
    for (int t = 0; t < T; ++t) {
      const int64_t i = (t0 + t) * nb + b;
      const __m512 isum = _mm512_cvtepi32_ps(_mm512_add_epi32(s0[t], s1[t]));
      acc[t] = _mm512_fmadd_ps(isum, _mm512_mul_ps(dw, _mm512_set1_ps(a.d[i])), acc[t]);
      if constexpr (kType == GgmlType::kQ4_1) {
        acc[t] = _mm512_fmadd_ps(mw, _mm512_set1_ps(a.s[i]), acc[t]);
      }
    }
  }
  for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(y + (t0 + t) * ldy, store_mask, acc[t]);
}

template <GgmlType kType>
void GroupAllTokens(const uint8_t* grp, const Q8Acts& a, int n_tokens, float* y, int64_t ldy,
                    __mmask16 mask) {
  int t = 0;
  for (; t + kMaxTile <= n_tokens; t += kMaxTile) GroupTile<kType, kMaxTile>(grp, a, t, y, ldy, mask);
  switch (n_tokens - t) {
    case 1: return GroupTile<kType, 1>(grp, a, t, y, ldy, mask);
    case 2: return GroupTile<kType, 2>(grp, a, t, y, ldy, mask);
    case 3: return GroupTile<kType, 3>(grp, a, t, y, ldy, mask);
    case 4: return GroupTile<kType, 4>(grp, a, t, y, ldy, mask);
    case 5: return GroupTile<kType, 5>(grp, a, t, y, ldy, mask);
    case 6: return GroupTile<kType, 6>(grp, a, t, y, ldy, mask);
    case 7: return GroupTile<kType, 7>(grp, a, t, y, ldy, mask);
    default: return;
  }
}

// Grow-only aligned buffer for one packed group.
uint8_t* GroupScratch(size_t bytes) {
  static thread_local uint8_t* buf = nullptr;
  static thread_local size_t cap = 0;
  if (bytes > cap) {
    if (buf != nullptr) ::operator delete(buf, std::align_val_t{64});
    cap = bytes;
    buf = static_cast<uint8_t*>(::operator new(cap, std::align_val_t{64}));
  }
  return buf;
}

void PackedRows(const RowsTask& task, const Acts& acts) {
  const WeightMatrix& w = *task.w;
  const int64_t nb = w.cols / 32;
  uint8_t* scratch = task.packed == nullptr ? GroupScratch(PackedGroupBytes(w.type, nb)) : nullptr;
  for (int64_t r = task.r0; r < task.r1; r += kGroupRows) {
    const uint8_t* grp;
    if (task.packed != nullptr) {
      grp = task.packed + (r / kGroupRows) * task.group_stride;
    } else {
      PackGroupAvx512(w, r, scratch);
      grp = scratch;
    }
    const int64_t n = std::min<int64_t>(kGroupRows, task.r1 - r);
    const __mmask16 mask = static_cast<__mmask16>((1u << n) - 1);
    float* y = task.y + r;
    switch (w.type) {
      case GgmlType::kQ4_0:
        GroupAllTokens<GgmlType::kQ4_0>(grp, acts.q8, acts.n_tokens, y, task.ldy, mask);
        break;
      case GgmlType::kQ4_1:
        GroupAllTokens<GgmlType::kQ4_1>(grp, acts.q8, acts.n_tokens, y, task.ldy, mask);
        break;
      default:
        GroupAllTokens<GgmlType::kQ8_0>(grp, acts.q8, acts.n_tokens, y, task.ldy, mask);
    }
  }
}

}  // namespace

void PackGroupAvx512(const WeightMatrix& w, int64_t r0, uint8_t* dst) {
  const int64_t nb = w.cols / 32;
  const int64_t n = std::min<int64_t>(kGroupRows, w.rows - r0);
  if (w.row_stride * kGroupRows > 0x7FFFFFFFu) return PackGroup(w, r0, dst);
  int block_bytes, qs_offset;
  switch (w.type) {
    case GgmlType::kQ4_0: block_bytes = 18, qs_offset = 2; break;
    case GgmlType::kQ4_1: block_bytes = 20, qs_offset = 4; break;
    default: block_bytes = 34, qs_offset = 2; break;
  }
  const int qsb = QsBytesPerGroupBlock(w.type);
  const __mmask16 valid = static_cast<__mmask16>((1u << n) - 1);
  const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                         _mm512_set1_epi32(static_cast<int>(w.row_stride)));
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  const __m512i zero = _mm512_setzero_si512();
  uint8_t* qs = dst;
  uint8_t* d = dst + nb * qsb;
  uint8_t* m = d + nb * 32;
  const uint8_t* base = w.data + r0 * w.row_stride;
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = base + b * block_bytes;
    for (int k = 0; k < qsb / 64; ++k) {
      __m512i v = _mm512_mask_i32gather_epi32(zero, valid, idx, blk + qs_offset + 4 * k, 1);
      if (w.type == GgmlType::kQ8_0) v = _mm512_mask_xor_epi32(v, valid, v, flip);
      _mm512_store_si512(qs + b * qsb + 64 * k, v);
    }
    const __m512i dm = _mm512_mask_i32gather_epi32(zero, valid, idx, blk, 1);
    _mm256_store_si256(reinterpret_cast<__m256i*>(d + b * 32), _mm512_cvtepi32_epi16(dm));
    if (w.type == GgmlType::kQ4_1) {
      _mm256_store_si256(reinterpret_cast<__m256i*>(m + b * 32),
                         _mm512_cvtepi32_epi16(_mm512_srli_epi32(dm, 16)));
    }
  }
}

void ComputeRowsAvx512(const RowsTask& task, const Acts& acts) {
  switch (task.w->type) {
    case GgmlType::kQ4_0:
    case GgmlType::kQ4_1:
    case GgmlType::kQ8_0:
      return PackedRows(task, acts);
    case GgmlType::kF32:
    case GgmlType::kF16:
    case GgmlType::kBF16:
      return FloatRowsAvx2(task, acts);
    default:
      return ComputeRowsScalar(task, acts);
  }
}

}  // namespace llm::kernels::internal
