// File: kernels/reference/attention_reference.cc
#include "kernels/reference/attention_reference.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace llm::kernels::reference {

void Attention(const float* q, const float* k, const float* v,
               int num_queries, int context_len, int n_head, int n_kv_heads,
               int head_dim, double scale, const float* alibi_slopes,
               double* out) {
  const int group = n_head / n_kv_heads;
  const int64_t kv_row = static_cast<int64_t>(n_kv_heads) * head_dim;
  const int64_t q_row = static_cast<int64_t>(n_head) * head_dim;
  std::vector<double> scores(std::max(context_len, 1));
  for (int i = 0; i < num_queries; ++i) {
    const int pos = context_len - num_queries + i;
    for (int h = 0; h < n_head; ++h) {
      const int kvh = h / group;
      const float* qh = q + i * q_row + static_cast<int64_t>(h) * head_dim;
      double* o = out + i * q_row + static_cast<int64_t>(h) * head_dim;
      std::fill(o, o + head_dim, 0.0);
      const int visible = std::min(pos + 1, context_len);
      if (visible <= 0) continue;
      double mx = -std::numeric_limits<double>::infinity();
      for (int j = 0; j < visible; ++j) {
        const float* kj = k + j * kv_row + static_cast<int64_t>(kvh) * head_dim;
        double dot = 0.0;
        for (int d = 0; d < head_dim; ++d) {
          dot += static_cast<double>(qh[d]) * static_cast<double>(kj[d]);
        }
        double s = dot * scale;
        if (alibi_slopes != nullptr) {
          s += static_cast<double>(alibi_slopes[h]) * (j - pos);
        }
        scores[j] = s;
        mx = std::max(mx, s);
      }
      double sum = 0.0;
      for (int j = 0; j < visible; ++j) {
        scores[j] = std::exp(scores[j] - mx);
        sum += scores[j];
      }
      for (int j = 0; j < visible; ++j) {
        const float* vj = v + j * kv_row + static_cast<int64_t>(kvh) * head_dim;
        const double p = scores[j] / sum;
        for (int d = 0; d < head_dim; ++d) o[d] += p * static_cast<double>(vj[d]);
      }
    }
  }
}

}  // namespace llm::kernels::reference
