// AVX2/FMA/F16C kernel for float weights (F32, F16, BF16), shared by the
// AVX2 and AVX-512 paths (matmul.cc): y[t][r] = Σ_i w[r][i] · x[t][i].
//
// A row of weights is loaded once per tile of up to 6 tokens and
// multiplied into each token's accumulators (12 accumulators, 2 weight and
// 2 activation registers: AVX2's 16), and the row 4 rows ahead is
// prefetched. Together these make a step of K+1 rows (speculative
// verification, small decode batches) cost little more than a one-row step
// on a DRAM-bound model: per-token dots re-read each row from L1 K+1 times,
// and the extra compute per row left the single-thread stream short of
// bandwidth (measured on SmolLM2-sized F32 matrices, one thread: 5 rows
// 2.3x -> 1.15x the time of 1 row; bench numbers in docs/perf/speculative.md).
//
// Per output element the operations are always those of one dot product:
// two 8-lane accumulators over alternating 8-column chunks of the 16-column
// main loop, a trailing 8-column chunk into the first, HsumPs(acc0 + acc1),
// then the scalar tail. Tiles only change which dots share a load, never
// that order, so results are bit-identical for any number of tokens, any
// tile and any thread split (batch invariance: a verification row equals
// the plain decode of the same token).
// Only called after a run-time AVX2 check (matmul.cc).
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/cpu/avx2_helpers.h"
#include "kernels/cpu/matmul_internal.h"

namespace llm::kernels::internal {
namespace {

// x[i] as 8 floats for the three float weight types.
template <GgmlType kType>
inline __m256 Load8(const uint8_t* row, int64_t i) {
  if constexpr (kType == GgmlType::kF32) {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + i);
  } else if constexpr (kType == GgmlType::kF16) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * i)));
  } else {
    const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * i)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
  }
}

template <GgmlType kType>
inline float WeightAt(const uint8_t* row, int64_t i) {
  if constexpr (kType == GgmlType::kF32) {
    return reinterpret_cast<const float*>(row)[i];
  } else if constexpr (kType == GgmlType::kF16) {
    return F16At(row + 2 * i);
  } else {
    const uint32_t bits = static_cast<uint32_t>(row[2 * i] | row[2 * i + 1] << 8) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }
}

// Rows far enough ahead that their lines arrive before the tile reaches
// them, near enough to stay in L1 (4 rows of 576-1536 floats).
constexpr int kPrefetchRows = 4;
// Tokens per register tile.
constexpr int kMaxTile = 6;

// Row r × tokens [t0, t0 + T).
template <GgmlType kType, int T>
void FloatTile(const WeightMatrix& w, int64_t r, const Acts& acts, int t0, float* y, int64_t ldy) {
  const int64_t n = w.cols;
  const uint8_t* row = w.data + r * w.row_stride;
  const char* ahead = reinterpret_cast<const char*>(row + kPrefetchRows * w.row_stride);
  const float* x[T];
  for (int t = 0; t < T; ++t) x[t] = acts.x + (t0 + t) * acts.cols;
  __m256 acc0[T], acc1[T];
  for (int t = 0; t < T; ++t) acc0[t] = acc1[t] = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 16 <= n; k += 16) {
    // 16 columns are one line of F32 (half a line of F16/BF16: the second
    // prefetch of a line is nearly free). Past the matrix end a prefetch is
    // a harmless hint.
    _mm_prefetch(ahead + k * sizeof(float), _MM_HINT_T0);
    const __m256 wa = Load8<kType>(row, k);
    const __m256 wb = Load8<kType>(row, k + 8);
    for (int t = 0; t < T; ++t) {
      acc0[t] = _mm256_fmadd_ps(wa, _mm256_loadu_ps(x[t] + k), acc0[t]);
      acc1[t] = _mm256_fmadd_ps(wb, _mm256_loadu_ps(x[t] + k + 8), acc1[t]);
    }
  }
  if (k + 8 <= n) {
    const __m256 wa = Load8<kType>(row, k);
    for (int t = 0; t < T; ++t) acc0[t] = _mm256_fmadd_ps(wa, _mm256_loadu_ps(x[t] + k), acc0[t]);
    k += 8;
  }
  for (int t = 0; t < T; ++t) {
    float s = HsumPs(_mm256_add_ps(acc0[t], acc1[t]));
    for (int64_t j = k; j < n; ++j) s += WeightAt<kType>(row, j) * x[t][j];
    y[(t0 + t) * ldy + r] = s;
  }
}

// Row r × tokens [t0, t1): full tiles, then one tile of the remainder. The
// row stays in L1 across the tiles.
template <GgmlType kType>
void RowTiles(const WeightMatrix& w, int64_t r, const Acts& acts, int t0, int t1, float* y,
              int64_t ldy) {
  int t = t0;
  for (; t + kMaxTile <= t1; t += kMaxTile) FloatTile<kType, kMaxTile>(w, r, acts, t, y, ldy);
  switch (t1 - t) {
    case 5: return FloatTile<kType, 5>(w, r, acts, t, y, ldy);
    case 4: return FloatTile<kType, 4>(w, r, acts, t, y, ldy);
    case 3: return FloatTile<kType, 3>(w, r, acts, t, y, ldy);
    case 2: return FloatTile<kType, 2>(w, r, acts, t, y, ldy);
    case 1: return FloatTile<kType, 1>(w, r, acts, t, y, ldy);
    default: return;
  }
}

// Tokens go in chunks whose activations stay in L2 while the rows stream
// past them (prefill); a decode step or a verification is one chunk, so the
// weights are read from memory once.
constexpr int kTokenChunk = 60;

template <GgmlType kType>
void FloatRowsT(const RowsTask& task, const Acts& acts) {
  for (int t0 = 0; t0 < acts.n_tokens; t0 += kTokenChunk) {
    const int t1 = std::min(acts.n_tokens, t0 + kTokenChunk);
    for (int64_t r = task.r0; r < task.r1; ++r) RowTiles<kType>(*task.w, r, acts, t0, t1, task.y, task.ldy);
  }
}

}  // namespace

void FloatRowsAvx2(const RowsTask& task, const Acts& acts) {
  switch (task.w->type) {
    case GgmlType::kF32:
      return FloatRowsT<GgmlType::kF32>(task, acts);
    case GgmlType::kF16:
      return FloatRowsT<GgmlType::kF16>(task, acts);
    default:
      return FloatRowsT<GgmlType::kBF16>(task, acts);
  }
}

}  // namespace llm::kernels::internal
