#include "kernels/reference/matmul_reference.h"

#include <cmath>
#include <vector>

#include "kernels/reference/quantize.h"

namespace llm::kernels::reference {

void MatMulReferenceWithScale(GgmlType type, const uint8_t* data, uint64_t row_stride,
                              int64_t rows, int64_t cols, const float* x, int n_tokens,
                              double* y, double* scale) {
  std::vector<double> w(cols);
  for (int64_t r = 0; r < rows; ++r) {
    DequantizeRow(type, data + r * row_stride, cols, w.data());
    for (int t = 0; t < n_tokens; ++t) {
      const float* xt = x + t * cols;
      double acc = 0.0, mag = 0.0;
      for (int64_t j = 0; j < cols; ++j) {
        const double p = w[j] * static_cast<double>(xt[j]);
        acc += p;
        mag += std::fabs(p);
      }
      y[t * rows + r] = acc;
      if (scale != nullptr) scale[t * rows + r] = mag;
    }
  }
}

void MatMulReference(GgmlType type, const uint8_t* data, uint64_t row_stride, int64_t rows,
                     int64_t cols, const float* x, int n_tokens, double* y) {
  MatMulReferenceWithScale(type, data, row_stride, rows, cols, x, n_tokens, y, nullptr);
}

}  // namespace llm::kernels::reference
