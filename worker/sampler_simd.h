// File: worker/sampler_simd.h
//
// Vocabulary-wide loops of the sampler, written with GCC/Clang vector
// extensions for baseline x86-64 (SSE2, 4 lanes) so they vectorise without
// -ffast-math and without ISA-specific files. Internal to worker/sampler.cc
// (and worker/speculative_sampling.cc, which builds the same weights).
//
// Thread safety: pure functions.
#ifndef LLM_WORKER_SAMPLER_SIMD_H_
#define LLM_WORKER_SAMPLER_SIMD_H_

#include <cstdint>
#include <cstring>
#include <limits>

namespace llm::sampler_internal {

using V4f = float __attribute__((vector_size(16)));
using V4i = int32_t __attribute__((vector_size(16)));

// Elements per partial sum. Four float lanes each add 64 terms in (0, 1]
// before the block total moves to double: worst-case relative error
// 64 * 2^-24 ~ 4e-6, far below what a logprob or a CDF walk notices.
inline constexpr int kBlock = 256;

inline V4f Splat(float v) { return V4f{v, v, v, v}; }

inline V4f Load(const float* p) {
  V4f v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// `n` (< 4) floats followed by -inf, whose exp is exactly 0.
inline V4f LoadTail(const float* p, int n) {
  const float inf = std::numeric_limits<float>::infinity();
  V4f v = Splat(-inf);
  for (int i = 0; i < n; ++i) v[i] = p[i];
  return v;
}

// exp(x) for x <= 88 with < 1e-7 relative error (Cephes expf polynomial,
// round-to-nearest range reduction); x below -87.3 (including -inf) gives
// exactly 0. The sampler only exponentiates x - max <= 0. No clamping: lanes
// that would underflow compute garbage that the final select discards.
inline V4f Exp(V4f x) {
  const V4i underflow = x < Splat(-87.3f);
  const V4f magic = Splat(12582912.0f);  // 1.5 * 2^23: float add rounds to int
  const V4f t = x * Splat(1.44269504088896341f) + magic;
  const V4f n = t - magic;
  const V4f r = x - n * Splat(0.693359375f) - n * Splat(-2.12194440e-4f);
  V4f p = Splat(1.9875691500e-4f);
  p = p * r + Splat(1.3981999507e-3f);
  p = p * r + Splat(8.3334519073e-3f);
  p = p * r + Splat(4.1665795894e-2f);
  p = p * r + Splat(1.6666665459e-1f);
  p = p * r + Splat(5.0000001201e-1f);
  const V4f y = p * r * r + r + Splat(1.0f);
  const V4i bits = (__builtin_convertvector(n, V4i) + 127) << 23;
  V4f scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  const V4f result = y * scale;
  return underflow ? Splat(0.0f) : result;
}

inline float Exp(float x) { return Exp(Splat(x))[0]; }

// Returns sum_i w_i with w_i = exp((x_i - shift) * scale), zeroed when below
// `floor`. When `out` is set, stores w there ([n]); when `block_sums` is set,
// stores each kBlock-element partial sum there ([ceil(n / kBlock)]).
// REQUIRES: (x_i - shift) * scale <= 88.
template <bool kFloor>
double SumExpImpl(const float* x, int n, float shift, float scale, float floor, float* out,
                  float* block_sums) {
  const V4f vs = Splat(shift), vk = Splat(scale), vf = Splat(floor), zero = Splat(0.0f);
  double total = 0.0;
  for (int b = 0; b < n; b += kBlock) {
    const int end = b + kBlock < n ? b + kBlock : n;
    V4f acc = zero;
    int i = b;
    for (; i + 4 <= end; i += 4) {
      V4f w = Exp((Load(x + i) - vs) * vk);
      if constexpr (kFloor) w = w < vf ? zero : w;
      if (out != nullptr) std::memcpy(out + i, &w, sizeof(w));
      acc += w;
    }
    if (i < end) {
      V4f w = Exp((LoadTail(x + i, end - i) - vs) * vk);
      if constexpr (kFloor) w = w < vf ? zero : w;
      if (out != nullptr) {
        for (int j = 0; j < end - i; ++j) out[i + j] = w[j];
      }
      acc += w;
    }
    const float block = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    if (block_sums != nullptr) block_sums[b / kBlock] = block;
    total += block;
  }
  return total;
}

inline double SumExp(const float* x, int n, float shift, float scale, float floor, float* out,
                     float* block_sums) {
  return floor > 0.0f ? SumExpImpl<true>(x, n, shift, scale, floor, out, block_sums)
                      : SumExpImpl<false>(x, n, shift, scale, floor, out, block_sums);
}

// Index of the first maximum of x[0, n) (lowest id on ties); n >= 1. A
// vectorised max, then a scan for its first occurrence.
inline int32_t ArgMax(const float* x, int n) {
  float best = x[0];
  int i = 0;
  if (n >= 4) {
    V4f m = Load(x);
    for (i = 4; i + 4 <= n; i += 4) {
      const V4f v = Load(x + i);
      m = v > m ? v : m;
    }
    best = m[0] > m[1] ? m[0] : m[1];
    const float m23 = m[2] > m[3] ? m[2] : m[3];
    best = best > m23 ? best : m23;
  }
  for (; i < n; ++i) best = x[i] > best ? x[i] : best;
  for (int j = 0; j < n; ++j) {
    if (x[j] == best) return j;
  }
  return 0;  // all NaN
}

// Maximum of x[b, end) (end - b >= 1).
inline float BlockMax(const float* x, int b, int end) {
  float best = x[b];
  int i = b;
  if (end - b >= 4) {
    V4f m = Load(x + b);
    for (i = b + 4; i + 4 <= end; i += 4) {
      const V4f v = Load(x + i);
      m = v > m ? v : m;
    }
    const float m01 = m[0] > m[1] ? m[0] : m[1];
    const float m23 = m[2] > m[3] ? m[2] : m[3];
    best = m01 > m23 ? m01 : m23;
  }
  for (; i < end; ++i) best = x[i] > best ? x[i] : best;
  return best;
}

struct MaxAndSumExp {
  int32_t argmax = 0;   // first maximum
  float max = 0.0f;
  double sum = 0.0;     // sum of exp(x - max)
};

// ArgMax and SumExp(x, n, max, 1, 0) in one pass over memory: each block's
// max comes first, then its exps while it is still in L1; the running sum is
// rescaled whenever the maximum grows (rarely after the first blocks).
inline MaxAndSumExp ArgMaxAndSumExp(const float* x, int n) {
  MaxAndSumExp r;
  r.max = x[0];
  int best_block = 0;
  for (int b = 0; b < n; b += kBlock) {
    const int end = b + kBlock < n ? b + kBlock : n;
    const float m = BlockMax(x, b, end);
    if (m > r.max) {
      r.sum *= static_cast<double>(Exp(r.max - m));
      r.max = m;
      best_block = b;
    }
    r.sum += SumExp(x + b, end - b, r.max, 1.0f, 0.0f, nullptr, nullptr);
  }
  const int end = best_block + kBlock < n ? best_block + kBlock : n;
  for (int i = best_block; i < end; ++i) {
    if (x[i] == r.max) {
      r.argmax = i;
      break;
    }
  }
  return r;
}

}  // namespace llm::sampler_internal

#endif  // LLM_WORKER_SAMPLER_SIMD_H_
