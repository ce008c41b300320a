// File: kernels/reference/elementwise_reference.cc
#include "kernels/reference/elementwise_reference.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace llm::kernels::reference {

void RmsNorm(const double* x, const double* weight, int n, int d, double eps,
             double* out) {
  for (int t = 0; t < n; ++t) {
    const double* xt = x + static_cast<int64_t>(t) * d;
    double ss = 0.0;
    for (int i = 0; i < d; ++i) ss += xt[i] * xt[i];
    const double inv = 1.0 / std::sqrt(ss / d + eps);
    for (int i = 0; i < d; ++i) out[static_cast<int64_t>(t) * d + i] = xt[i] * inv * weight[i];
  }
}

void Rope(double* x, int n, int n_heads, int head_dim, int rope_dim,
          const int32_t* positions, double freq_base, RopeMode mode) {
  const int half = rope_dim / 2;
  for (int t = 0; t < n; ++t) {
    for (int h = 0; h < n_heads; ++h) {
      double* xh = x + (static_cast<int64_t>(t) * n_heads + h) * head_dim;
      for (int i = 0; i < half; ++i) {
        const double theta = std::pow(freq_base, -2.0 * i / rope_dim);
        const double phi = positions[t] * theta;
        const double c = std::cos(phi);
        const double s = std::sin(phi);
        const int ia = mode == RopeMode::kNormal ? 2 * i : i;
        const int ib = mode == RopeMode::kNormal ? 2 * i + 1 : i + half;
        const double a = xh[ia];
        const double b = xh[ib];
        xh[ia] = a * c - b * s;
        xh[ib] = a * s + b * c;
      }
    }
  }
}

void SwiGlu(const double* gate, const double* up, int64_t n, double* out) {
  for (int64_t i = 0; i < n; ++i) {
    out[i] = gate[i] / (1.0 + std::exp(-gate[i])) * up[i];
  }
}

void Softmax(double* x, int n) {
  double mx = -std::numeric_limits<double>::infinity();
  for (int i = 0; i < n; ++i) mx = std::max(mx, x[i]);
  double sum = 0.0;
  for (int i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  for (int i = 0; i < n; ++i) x[i] /= sum;
}

void AlibiSlopes(int n_head, double max_bias, double* slopes) {
  int n_pow2 = 1;
  while (n_pow2 * 2 <= n_head) n_pow2 *= 2;
  // First n' heads: the geometric sequence for n' heads, 2^(-max_bias*h/n'),
  // h = 1..n'. The rest: odd terms of the sequence for 2n' heads,
  // 2^(-max_bias*(2k-1)/(2n')), k = 1..n-n'.
  for (int h = 1; h <= std::min(n_head, n_pow2); ++h) {
    slopes[h - 1] = std::pow(2.0, -max_bias * h / n_pow2);
  }
  for (int k = 1; k <= n_head - n_pow2; ++k) {
    slopes[n_pow2 + k - 1] = std::pow(2.0, -max_bias * (2 * k - 1) / (2.0 * n_pow2));
  }
}

}  // namespace llm::kernels::reference
