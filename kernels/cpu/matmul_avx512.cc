// AVX-512 VNNI kernels for Q4_0/Q4_1/Q8_0 on the 16-row packed layout
// (matmul_internal.h). One 32-bit lane per output row: for each block,
// vpdpbusd multiplies 4 weight bytes of 16 rows by a broadcast 4-byte chunk
// of one token's activations, so 8 instructions give the exact integer dots
// of 16 rows with that token, with no horizontal reductions. A tile of up to
// 8 tokens reuses each unpacked weight vector. Unpacked matrices are packed
// one group at a time into L1-resident scratch (in-register transpose).
//
// Per output element the operations are, for b = 0..nb-1:
//   acc = fma(float(isum_b), fp16(dw_b) * da_b, acc)  [Q4_1: accm = fma(mw_b, s_b, accm)]
// and y = acc [+ accm],
// independent of the token tile, the thread and packed-vs-unpacked input.
// Only called after a run-time AVX-512 VNNI check (matmul.cc).
#include <immintrin.h>

// GCC 12 flags _mm512_undefined_ps() inside _mm512_cvtph_ps as maybe
// uninitialised; a header false positive.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <algorithm>
#include <cstring>

#include "kernels/cpu/matmul_internal.h"

namespace llm::kernels::internal {
namespace {

constexpr int kMaxTile = 8;

// 4 activation bytes as one int32 (may_alias: the buffer is int8_t). GCC 12
// does not fold this broadcast into vpdpbusd's {1to16} operand; an inline-asm
// version that did was measured no faster (vpdpbusd throughput bound).
typedef int32_t AliasedI32 __attribute__((may_alias, aligned(1)));
inline __m512i Bcst32(const int8_t* p) {
  return _mm512_set1_epi32(*reinterpret_cast<const AliasedI32*>(p));
}

template <GgmlType kType, int T>
void GroupTile(const uint8_t* grp, const Q8Acts& a, int t0, float* y, int64_t ldy,
               __mmask16 store_mask) {
  constexpr int kQsb = kType == GgmlType::kQ8_0 ? 512 : 256;
  constexpr bool kQ4_1 = kType == GgmlType::kQ4_1;
  // Small tiles split each token's integer sum into two vpdpbusd chains to
  // hide their latency; big tiles have enough independent chains and need
  // the registers. Integer sums are exact, so this changes no result.
  constexpr bool kSplit = T < 4;
  const int64_t nb = a.nb;
  const uint8_t* qs = grp;
  const __m256i* dptr = reinterpret_cast<const __m256i*>(grp + nb * kQsb);
  const __m256i* mptr = dptr + nb;
  const __m512i low = _mm512_set1_epi8(0x0F);
  // acc: Σ_b float(isum_b)·(dw_b·da_b); accm: Σ_b mw_b·s_b (Q4_1), kept
  // apart and added last as llama.cpp does, which also halves the fp chain.
  __m512 acc[T], accm[T];
  for (int t = 0; t < T; ++t) acc[t] = accm[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    __m512i s0[T], s1[T];
    const int8_t* aq[T];
    for (int t = 0; t < T; ++t) {
      const int64_t i = (t0 + t) * nb + b;
      aq[t] = a.q + i * 32;
      if constexpr (kSplit) s1[t] = _mm512_setzero_si512();
      if constexpr (kQ4_1) {
        s0[t] = _mm512_setzero_si512();
      } else if constexpr (kType == GgmlType::kQ4_0) {
        s0[t] = _mm512_set1_epi32(-8 * a.sum[i]);  // Σ(q-8)a = Σqa - 8Σa
      } else {
        s0[t] = _mm512_set1_epi32(-128 * a.sum[i]);  // weights stored as q+128
      }
    }
    const uint8_t* qb = qs + b * kQsb;
    for (int k = 0; k < 4; ++k) {
      __m512i w0, w1;
      if constexpr (kType == GgmlType::kQ8_0) {
        w0 = _mm512_load_si512(qb + 64 * k);
        w1 = _mm512_load_si512(qb + 64 * (k + 4));
      } else {
        const __m512i p = _mm512_load_si512(qb + 64 * k);
        w0 = _mm512_and_si512(p, low);
        w1 = _mm512_and_si512(_mm512_srli_epi16(p, 4), low);
      }
      for (int t = 0; t < T; ++t) {
        s0[t] = _mm512_dpbusd_epi32(s0[t], w0, Bcst32(aq[t] + 4 * k));
        if constexpr (kSplit) {
          s1[t] = _mm512_dpbusd_epi32(s1[t], w1, Bcst32(aq[t] + 16 + 4 * k));
        } else {
          s0[t] = _mm512_dpbusd_epi32(s0[t], w1, Bcst32(aq[t] + 16 + 4 * k));
        }
      }
    }
    const __m512 dw = _mm512_cvtph_ps(_mm256_load_si256(dptr + b));
    __m512 mw;
    if constexpr (kQ4_1) mw = _mm512_cvtph_ps(_mm256_load_si256(mptr + b));
    for (int t = 0; t < T; ++t) {
      const int64_t i = (t0 + t) * nb + b;
      const __m512i isum = kSplit ? _mm512_add_epi32(s0[t], s1[t]) : s0[t];
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(dw, _mm512_set1_ps(a.d[i])), acc[t]);
      if constexpr (kQ4_1) accm[t] = _mm512_fmadd_ps(mw, _mm512_set1_ps(a.s[i]), accm[t]);
    }
  }
  for (int t = 0; t < T; ++t) {
    const __m512 r = kQ4_1 ? _mm512_add_ps(acc[t], accm[t]) : acc[t];
    _mm512_mask_storeu_ps(y + (t0 + t) * ldy, store_mask, r);
  }
}

template <GgmlType kType>
void GroupTokens(const uint8_t* grp, const Q8Acts& a, int t, int n_tokens, float* y, int64_t ldy,
                 __mmask16 mask) {
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

void PackedRows(const RowsTask& task, const Acts& acts) {
  const WeightMatrix& w = *task.w;
  const int64_t nb = w.cols / 32;
  static thread_local ScratchBuffer group_scratch;  // one packed group
  uint8_t* scratch = task.packed == nullptr ? group_scratch.Get(PackedGroupBytes(w.type, nb)) : nullptr;
  static thread_local ScratchBuffer rows_scratch;  // raw rows of one group
  const bool small_t = acts.n_tokens <= 4;
  uint8_t* rows_copy = task.packed == nullptr && small_t ? rows_scratch.Get(kGroupRows * w.row_stride) : nullptr;
  // When this thread's rows fit in L2, tokens go in chunks whose
  // activations (~16 KiB) stay in L1 while every group passes over them;
  // otherwise (LM head) one pass, so the weights stream from memory once.
  // Unpacked groups are re-packed per chunk, so their chunks are >= 32
  // tokens (packing then costs a few % of the chunk's compute).
  const int64_t groups = (task.r1 - task.r0 + kGroupRows - 1) / kGroupRows;
  int chunk = acts.n_tokens;
  if (groups * PackedGroupBytes(w.type, nb) <= (768 << 10)) {
    const int64_t min_chunk = task.packed != nullptr ? kMaxTile : 32;
    chunk = static_cast<int>(std::max<int64_t>(min_chunk, 16384 / w.cols / kMaxTile * kMaxTile));
  }
  for (int t0 = 0; t0 < acts.n_tokens; t0 += chunk) {
    const int t1 = std::min(acts.n_tokens, t0 + chunk);
    for (int64_t r = task.r0; r < task.r1; r += kGroupRows) {
      const uint8_t* grp;
      if (task.packed != nullptr) {
        grp = task.packed + (r / kGroupRows) * task.group_stride;
        // Next group into L2 (+3-5% on memory-bound decode).
        if (r + kGroupRows < task.r1) {
          for (uint64_t o = 0; o < task.group_stride; o += 64) {
            _mm_prefetch(reinterpret_cast<const char*>(grp + task.group_stride + o), _MM_HINT_T1);
          }
        }
      } else {
        // A full group's 16 rows are one contiguous range: copying it to L1
        // first reads memory as one sequential stream (which the hardware
        // prefetchers follow) instead of 16 strided ones, ~1.8x faster on
        // DRAM-resident matrices at decode; the transpose then hits L1.
        if (r + kGroupRows <= task.r1 && small_t) {
          const size_t len = kGroupRows * w.row_stride;
          std::memcpy(rows_copy, w.data + r * w.row_stride, len);
          const WeightMatrix local{w.type, kGroupRows, w.cols, rows_copy, w.row_stride};
          PackGroupAvx512(local, 0, scratch);
        } else {
          PackGroupAvx512(w, r, scratch);
        }
        grp = scratch;
      }
      const int64_t n = std::min<int64_t>(kGroupRows, task.r1 - r);
      const __mmask16 mask = static_cast<__mmask16>((1u << n) - 1);
      float* y = task.y + r;
      switch (w.type) {
        case GgmlType::kQ4_0:
          GroupTokens<GgmlType::kQ4_0>(grp, acts.q8, t0, t1, y, task.ldy, mask);
          break;
        case GgmlType::kQ4_1:
          GroupTokens<GgmlType::kQ4_1>(grp, acts.q8, t0, t1, y, task.ldy, mask);
          break;
        default:
          GroupTokens<GgmlType::kQ8_0>(grp, acts.q8, t0, t1, y, task.ldy, mask);
      }
    }
  }
}

// 16 bytes at each of 16 row pointers -> 4 vectors, vector k lane j = dword
// k of row j: two vpermt2d per 8 rows pick dword k of 8 rows, then 128-bit
// shuffles join the row halves.
inline void Transpose16x4(const uint8_t* p, uint64_t stride, __m512i out[4]) {
  __m512i z[4];
  for (int i = 0; i < 4; ++i) {
    const uint8_t* r = p + 4 * i * stride;
    __m512i v = _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(r)));
    v = _mm512_inserti32x4(v, _mm_loadu_si128(reinterpret_cast<const __m128i*>(r + stride)), 1);
    v = _mm512_inserti32x4(v, _mm_loadu_si128(reinterpret_cast<const __m128i*>(r + 2 * stride)), 2);
    z[i] = _mm512_inserti32x4(v, _mm_loadu_si128(reinterpret_cast<const __m128i*>(r + 3 * stride)), 3);
  }
  const __m512i idx01 = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 1, 5, 9, 13, 17, 21, 25, 29);
  const __m512i idx23 = _mm512_setr_epi32(2, 6, 10, 14, 18, 22, 26, 30, 3, 7, 11, 15, 19, 23, 27, 31);
  const __m512i a = _mm512_permutex2var_epi32(z[0], idx01, z[1]);  // k=0,1 of rows 0-7
  const __m512i b = _mm512_permutex2var_epi32(z[0], idx23, z[1]);  // k=2,3 of rows 0-7
  const __m512i c = _mm512_permutex2var_epi32(z[2], idx01, z[3]);  // k=0,1 of rows 8-15
  const __m512i d = _mm512_permutex2var_epi32(z[2], idx23, z[3]);
  out[0] = _mm512_shuffle_i64x2(a, c, _MM_SHUFFLE(1, 0, 1, 0));
  out[1] = _mm512_shuffle_i64x2(a, c, _MM_SHUFFLE(3, 2, 3, 2));
  out[2] = _mm512_shuffle_i64x2(b, d, _MM_SHUFFLE(1, 0, 1, 0));
  out[3] = _mm512_shuffle_i64x2(b, d, _MM_SHUFFLE(3, 2, 3, 2));
}

// Dword 0 at each of 16 row pointers, as one vector (lane j = row j).
inline __m512i Column0Of16(const uint8_t* p, uint64_t stride) {
  __m512i z[4];
  for (int i = 0; i < 4; ++i) {
    const uint8_t* r = p + 4 * i * stride;
    __m128i v = _mm_cvtsi32_si128(*reinterpret_cast<const AliasedI32*>(r));
    v = _mm_insert_epi32(v, *reinterpret_cast<const AliasedI32*>(r + stride), 1);
    v = _mm_insert_epi32(v, *reinterpret_cast<const AliasedI32*>(r + 2 * stride), 2);
    v = _mm_insert_epi32(v, *reinterpret_cast<const AliasedI32*>(r + 3 * stride), 3);
    z[i] = _mm512_castsi128_si512(v);
  }
  const __m512i lo = _mm512_inserti32x4(z[0], _mm512_castsi512_si128(z[1]), 1);
  const __m512i hi = _mm512_inserti32x4(z[2], _mm512_castsi512_si128(z[3]), 1);
  return _mm512_inserti64x4(lo, _mm512_castsi512_si256(hi), 1);
}

}  // namespace

void PackGroupAvx512(const WeightMatrix& w, int64_t r0, uint8_t* dst) {
  const int64_t nb = w.cols / 32;
  // A partial last group would read past the matrix: the scalar packer
  // writes the same bytes.
  if (w.rows - r0 < kGroupRows) return PackGroup(w, r0, dst);
  int block_bytes, qs_offset;
  switch (w.type) {
    case GgmlType::kQ4_0: block_bytes = 18, qs_offset = 2; break;
    case GgmlType::kQ4_1: block_bytes = 20, qs_offset = 4; break;
    default: block_bytes = 34, qs_offset = 2; break;
  }
  const int qsb = QsBytesPerGroupBlock(w.type);
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  uint8_t* qs = dst;
  uint8_t* d = dst + nb * qsb;
  uint8_t* m = d + nb * 32;
  const uint8_t* base = w.data + r0 * w.row_stride;
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = base + b * block_bytes;
    __m512i v[4];
    for (int half = 0; half < qsb / 256; ++half) {
      Transpose16x4(blk + qs_offset + 16 * half, w.row_stride, v);
      for (int k = 0; k < 4; ++k) {
        if (w.type == GgmlType::kQ8_0) v[k] = _mm512_xor_si512(v[k], flip);
        _mm512_store_si512(qs + b * qsb + 64 * (4 * half + k), v[k]);
      }
    }
    // d (and m) of 16 rows: dword 0 of each block (cheaper than a gather).
    const __m512i dm = Column0Of16(blk, w.row_stride);
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
