// Portable (baseline x86-64) matmul kernels: one dot product per output
// element, reading the ggml block layout directly. These define the
// integer sums the SIMD paths must reproduce exactly, and run everywhere.
#include <cstring>

#include "common/fp16.h"
#include "kernels/cpu/matmul_internal.h"

namespace llm::kernels::internal {
namespace {

inline uint16_t LoadU16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

inline float F16At(const uint8_t* p) { return Fp16ToFloat(LoadU16(p)); }

// Q4_K sub-block scale and min (REFERENCE.md §2).
inline void Q4KScaleMin(const uint8_t* scales, int b, int* sc, int* mn) {
  if (b < 4) {
    *sc = scales[b] & 63;
    *mn = scales[b + 4] & 63;
  } else {
    *sc = (scales[b + 4] & 0xF) | ((scales[b - 4] >> 6) << 4);
    *mn = (scales[b + 4] >> 4) | ((scales[b] >> 6) << 4);
  }
}

float DotF32(const float* w, const float* x, int64_t n) {
  float acc = 0.0f;
  for (int64_t i = 0; i < n; ++i) acc += w[i] * x[i];
  return acc;
}

float DotQ4_0(const uint8_t* w, const Q8Acts& a, int t) {
  float acc = 0.0f;
  const int8_t* q = a.q + t * a.nb * 32;
  for (int64_t b = 0; b < a.nb; ++b, w += 18, q += 32) {
    int isum = 0;
    for (int i = 0; i < 16; ++i) {
      isum += ((w[2 + i] & 0xF) - 8) * q[i];
      isum += ((w[2 + i] >> 4) - 8) * q[i + 16];
    }
    acc += F16At(w) * a.d[t * a.nb + b] * static_cast<float>(isum);
  }
  return acc;
}

float DotQ4_1(const uint8_t* w, const Q8Acts& a, int t) {
  float acc = 0.0f, accm = 0.0f;  // min terms summed apart, as llama.cpp
  const int8_t* q = a.q + t * a.nb * 32;
  for (int64_t b = 0; b < a.nb; ++b, w += 20, q += 32) {
    int isum = 0;
    for (int i = 0; i < 16; ++i) {
      isum += (w[4 + i] & 0xF) * q[i];
      isum += (w[4 + i] >> 4) * q[i + 16];
    }
    acc += F16At(w) * a.d[t * a.nb + b] * static_cast<float>(isum);
    accm += F16At(w + 2) * a.s[t * a.nb + b];
  }
  return acc + accm;
}

float DotQ8_0(const uint8_t* w, const Q8Acts& a, int t) {
  float acc = 0.0f;
  const int8_t* q = a.q + t * a.nb * 32;
  for (int64_t b = 0; b < a.nb; ++b, w += 34, q += 32) {
    int isum = 0;
    for (int i = 0; i < 32; ++i) isum += static_cast<int8_t>(w[2 + i]) * q[i];
    acc += F16At(w) * a.d[t * a.nb + b] * static_cast<float>(isum);
  }
  return acc;
}

float DotQ4_K(const uint8_t* w, const Q8KActs& a, int t) {
  float acc = 0.0f;
  for (int64_t b = 0; b < a.nb; ++b, w += 144) {
    const int8_t* q = a.q + (t * a.nb + b) * 256;
    const int32_t* bsums = a.bsums + (t * a.nb + b) * 16;
    const uint8_t* qs = w + 16;
    int sum_q = 0, sum_m = 0;
    for (int s = 0; s < 8; ++s) {
      int sc, mn;
      Q4KScaleMin(w + 4, s, &sc, &mn);
      const uint8_t* src = qs + (s / 2) * 32;
      const int shift = (s & 1) * 4;
      int isum = 0;
      for (int l = 0; l < 32; ++l) isum += ((src[l] >> shift) & 0xF) * q[s * 32 + l];
      sum_q += sc * isum;
      sum_m += mn * (bsums[2 * s] + bsums[2 * s + 1]);
    }
    const float da = a.d[t * a.nb + b];
    acc += F16At(w) * da * static_cast<float>(sum_q);
    acc -= F16At(w + 2) * da * static_cast<float>(sum_m);
  }
  return acc;
}

// The 256 6-bit values of a Q6_K block, minus 32, in element order.
void UnpackQ6K(const uint8_t* w, int8_t* out) {
  for (int h = 0; h < 2; ++h) {
    const uint8_t* ql = w + 64 * h;
    const uint8_t* qh = w + 128 + 32 * h;
    int8_t* o = out + 128 * h;
    for (int l = 0; l < 32; ++l) {
      o[l] = static_cast<int8_t>(((ql[l] & 15) | ((qh[l] & 3) << 4)) - 32);
      o[l + 32] = static_cast<int8_t>(((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32);
      o[l + 64] = static_cast<int8_t>(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
      o[l + 96] = static_cast<int8_t>(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
    }
  }
}

float DotQ6_K(const uint8_t* w, const Q8KActs& a, int t) {
  float acc = 0.0f;
  int8_t vals[256];
  for (int64_t b = 0; b < a.nb; ++b, w += 210) {
    const int8_t* q = a.q + (t * a.nb + b) * 256;
    const int8_t* scales = reinterpret_cast<const int8_t*>(w + 192);
    UnpackQ6K(w, vals);
    int sum = 0;
    for (int s = 0; s < 16; ++s) {
      int isum = 0;
      for (int l = 0; l < 16; ++l) isum += vals[s * 16 + l] * q[s * 16 + l];
      sum += scales[s] * isum;
    }
    acc += F16At(w + 208) * a.d[t * a.nb + b] * static_cast<float>(sum);
  }
  return acc;
}

}  // namespace

float DotRowScalar(const WeightMatrix& w, int64_t row, const Acts& acts, int t) {
  const uint8_t* r = w.data + row * w.row_stride;
  const float* x = acts.x + t * acts.cols;
  switch (w.type) {
    case GgmlType::kF32:
      return DotF32(reinterpret_cast<const float*>(r), x, w.cols);
    case GgmlType::kF16: {
      float acc = 0.0f;
      for (int64_t i = 0; i < w.cols; ++i) acc += F16At(r + 2 * i) * x[i];
      return acc;
    }
    case GgmlType::kBF16: {
      float acc = 0.0f;
      for (int64_t i = 0; i < w.cols; ++i) acc += Bf16ToFloat(LoadU16(r + 2 * i)) * x[i];
      return acc;
    }
    case GgmlType::kQ4_0:
      return DotQ4_0(r, acts.q8, t);
    case GgmlType::kQ4_1:
      return DotQ4_1(r, acts.q8, t);
    case GgmlType::kQ8_0:
      return DotQ8_0(r, acts.q8, t);
    case GgmlType::kQ4_K:
      return DotQ4_K(r, acts.q8k, t);
    case GgmlType::kQ6_K:
      return DotQ6_K(r, acts.q8k, t);
    default:
      return 0.0f;  // unreachable: MatMulSupports() is checked by callers
  }
}

void ComputeRowsScalar(const RowsTask& task, const Acts& acts) {
  for (int64_t r = task.r0; r < task.r1; ++r) {
    for (int t = 0; t < acts.n_tokens; ++t) {
      task.y[t * task.ldy + r] = DotRowScalar(*task.w, r, acts, t);
    }
  }
}

}  // namespace llm::kernels::internal
