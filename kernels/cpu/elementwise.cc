// File: kernels/cpu/elementwise.cc
//
// Dispatch and scalar fallbacks of the row kernels (elementwise.h); SIMD
// versions live in elementwise_avx2.cc / elementwise_avx512.cc.
#include "kernels/cpu/elementwise.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/cpu_isa_select.h"
#include "kernels/cpu/elementwise_internal.h"

namespace llm::kernels {
namespace elementwise_internal {

double SumSquaresScalar(const float* x, int d) {
  double sum = 0.0;
  for (int i = 0; i < d; ++i) sum += static_cast<double>(x[i]) * x[i];
  return sum;
}

void ScaleMulScalar(const float* x, float scale, const float* w, int d,
                    float* out) {
  for (int i = 0; i < d; ++i) out[i] = (x[i] * scale) * w[i];
}

void AddInPlaceScalar(float* x, const float* delta, int d) {
  for (int i = 0; i < d; ++i) x[i] += delta[i];
}

void SwiGluScalar(const float* gate, const float* up, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
  }
}

void SoftmaxScalar(float* x, int n) {
  float mx = -INFINITY;
  for (int i = 0; i < n; ++i) mx = std::max(mx, x[i]);
  double sum = 0.0;  // double, as llama.cpp: f32 sums of 49k terms drift
  for (int i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int i = 0; i < n; ++i) x[i] *= inv;
}

void RopeTable(int32_t pos, int rope_dim, float freq_base, RopeMode mode,
               float* ce, float* se) {
  const int half = rope_dim / 2;
  const float theta_scale = powf(freq_base, -2.0f / static_cast<float>(rope_dim));
  float theta = static_cast<float>(pos);
  for (int i = 0; i < half; ++i) {
    const float c = cosf(theta);
    const float s = sinf(theta);
    if (mode == RopeMode::kNormal) {
      ce[2 * i] = c;
      ce[2 * i + 1] = c;
      se[2 * i] = -s;
      se[2 * i + 1] = s;
    } else {
      ce[i] = c;
      ce[i + half] = c;
      se[i] = -s;
      se[i + half] = s;
    }
    theta *= theta_scale;
  }
}

void RopeApplyScalar(float* x, int n_heads, int head_dim, int rope_dim,
                     RopeMode mode, const float* ce, const float* se) {
  const int half = rope_dim / 2;
  for (int h = 0; h < n_heads; ++h) {
    float* xh = x + static_cast<int64_t>(h) * head_dim;
    if (mode == RopeMode::kNormal) {
      for (int j = 0; j < rope_dim; j += 2) {
        const float a = xh[j];
        const float b = xh[j + 1];
        xh[j] = a * ce[j] + b * se[j];
        xh[j + 1] = b * ce[j + 1] + a * se[j + 1];
      }
    } else {
      for (int i = 0; i < half; ++i) {
        const float a = xh[i];
        const float b = xh[i + half];
        xh[i] = a * ce[i] + b * se[i];
        xh[i + half] = b * ce[i + half] + a * se[i + half];
      }
    }
  }
}

void RopeApply(float* x, int n_heads, int head_dim, int rope_dim,
               RopeMode mode, const float* ce, const float* se) {
  switch (CurrentElementwiseIsa()) {
    case AttentionIsa::kAvx512:
      return RopeApplyAvx512(x, n_heads, head_dim, rope_dim, mode, ce, se);
    case AttentionIsa::kAvx2:
      return RopeApplyAvx2(x, n_heads, head_dim, rope_dim, mode, ce, se);
    default:
      return RopeApplyScalar(x, n_heads, head_dim, rope_dim, mode, ce, se);
  }
}

}  // namespace elementwise_internal

namespace {

namespace ei = elementwise_internal;

struct RowKernels {
  double (*sum_squares)(const float*, int);
  void (*scale_mul)(const float*, float, const float*, int, float*);
  void (*add)(float*, const float*, int);
  void (*swiglu)(const float*, const float*, int64_t, float*);
  void (*softmax)(float*, int);
};

RowKernels Select() {
  switch (CurrentElementwiseIsa()) {
    case AttentionIsa::kAvx512:
      return {ei::SumSquaresAvx512, ei::ScaleMulAvx512, ei::AddInPlaceAvx512,
              ei::SwiGluAvx512, ei::SoftmaxAvx512};
    case AttentionIsa::kAvx2:
      return {ei::SumSquaresAvx2, ei::ScaleMulAvx2, ei::AddInPlaceAvx2,
              ei::SwiGluAvx2, ei::SoftmaxAvx2};
    default:
      return {ei::SumSquaresScalar, ei::ScaleMulScalar, ei::AddInPlaceScalar,
              ei::SwiGluScalar, ei::SoftmaxScalar};
  }
}

// llama.cpp's order: mean in double, scale = 1 / sqrtf(mean + eps) in f32.
float RmsScale(double sum_squares, int d, float eps) {
  const float mean = static_cast<float>(sum_squares / d);
  return 1.0f / sqrtf(mean + eps);
}

}  // namespace

void RmsNorm(const float* x, const float* weight, int n, int d, float eps,
             float* out) {
  const RowKernels k = Select();
  for (int t = 0; t < n; ++t) {
    const float* xt = x + static_cast<int64_t>(t) * d;
    k.scale_mul(xt, RmsScale(k.sum_squares(xt, d), d, eps), weight, d,
                out + static_cast<int64_t>(t) * d);
  }
}

void AddRmsNorm(float* x, const float* delta, const float* weight, int n,
                int d, float eps, float* out) {
  const RowKernels k = Select();
  for (int t = 0; t < n; ++t) {
    float* xt = x + static_cast<int64_t>(t) * d;
    k.add(xt, delta + static_cast<int64_t>(t) * d, d);
    k.scale_mul(xt, RmsScale(k.sum_squares(xt, d), d, eps), weight, d,
                out + static_cast<int64_t>(t) * d);
  }
}

void Rope(float* x, int n, int n_heads, int head_dim, int rope_dim,
          const int32_t* positions, float freq_base, RopeMode mode) {
  thread_local std::vector<float> table;
  table.resize(2 * static_cast<size_t>(rope_dim));
  float* ce = table.data();
  float* se = ce + rope_dim;
  const int64_t row = static_cast<int64_t>(n_heads) * head_dim;
  for (int t = 0; t < n; ++t) {
    ei::RopeTable(positions[t], rope_dim, freq_base, mode, ce, se);
    ei::RopeApply(x + t * row, n_heads, head_dim, rope_dim, mode, ce, se);
  }
}

void SwiGlu(const float* gate, const float* up, int64_t n, float* out) {
  Select().swiglu(gate, up, n, out);
}

void Softmax(float* x, int n) {
  if (n <= 0) return;
  Select().softmax(x, n);
}

void AlibiSlopes(int n_head, float max_bias, float* slopes) {
  // llama.cpp's closed form: n' = 2^floor(log2 n); the first n' heads use
  // m0^(h+1), the rest the odd powers of m1 = sqrt(m0).
  int n_pow2 = 1;
  while (n_pow2 * 2 <= n_head) n_pow2 *= 2;
  const float m0 = powf(2.0f, -max_bias / static_cast<float>(n_pow2));
  const float m1 = powf(2.0f, -(max_bias / 2.0f) / static_cast<float>(n_pow2));
  for (int h = 0; h < n_head; ++h) {
    slopes[h] = h < n_pow2 ? powf(m0, static_cast<float>(h + 1))
                           : powf(m1, static_cast<float>(2 * (h - n_pow2) + 1));
  }
}

}  // namespace llm::kernels
