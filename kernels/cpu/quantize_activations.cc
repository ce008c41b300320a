// Scalar activation quantisers (Q8_0/Q8_1 and Q8_K) of the CPU matmul. The
// Q8 quantiser reproduces llama.cpp's x86 (AVX2) quantize_row_q8_0/q8_1
// exactly rather than its scalar reference: inverse scale 127/amax and
// round-half-to-even, because that is what llama.cpp runs on our machines.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/fp16.h"
#include "kernels/cpu/matmul_internal.h"

namespace llm::kernels::internal {
namespace {

// Round half to even for |v| < 2^22 without libm (baseline x86-64 has no
// roundss): adding 1.5 * 2^23 pushes the fraction out under the current
// (nearest-even) rounding mode. Same as ggml's nearest_int.
inline int RoundEven(float v) {
  float r = v + 12582912.f;
  int32_t bits;
  std::memcpy(&bits, &r, 4);
  return (bits & 0x007FFFFF) - 0x00400000;
}

}  // namespace

void QuantizeQ8Scalar(const float* x, int64_t cols, int t0, int t1, const Q8Acts& a) {
  const int64_t nb = a.nb;
  for (int t = t0; t < t1; ++t) {
    const float* xt = x + t * cols;
    int8_t* q = a.q + t * nb * 32;
    for (int64_t b = 0; b < nb; ++b) {
      const float* xb = xt + b * 32;
      float amax = 0.0f;
      for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(xb[j]));
      const float d = amax / 127.0f;
      const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
      int sum = 0;
      for (int j = 0; j < 32; ++j) {
        const int v = RoundEven(xb[j] * id);
        q[b * 32 + j] = static_cast<int8_t>(v);
        sum += v;
      }
      a.d[t * nb + b] = Fp16ToFloat(FloatToFp16(d));
      a.s[t * nb + b] = Fp16ToFloat(FloatToFp16(d * static_cast<float>(sum)));
      a.sum[t * nb + b] = sum;
    }
  }
}

void QuantizeQ8K(const float* x, int64_t cols, int t0, int t1, const Q8KActs& a) {
  const int64_t nb = a.nb;
  for (int t = t0; t < t1; ++t) {
    for (int64_t b = 0; b < nb; ++b) {
      const float* xb = x + t * cols + b * 256;
      int8_t* q = a.q + (t * nb + b) * 256;
      int32_t* bsums = a.bsums + (t * nb + b) * 16;
      float amax = 0.0f, max = 0.0f;
      for (int j = 0; j < 256; ++j) {
        const float ax = std::fabs(xb[j]);
        if (ax > amax) {
          amax = ax;
          max = xb[j];
        }
      }
      if (amax == 0.0f) {
        a.d[t * nb + b] = 0.0f;
        std::memset(q, 0, 256);
        std::memset(bsums, 0, 16 * sizeof(int32_t));
        continue;
      }
      const float iscale = -127.0f / max;
      for (int j = 0; j < 256; ++j) q[j] = static_cast<int8_t>(std::min(127, RoundEven(iscale * xb[j])));
      for (int j = 0; j < 16; ++j) {
        int s = 0;
        for (int i = 0; i < 16; ++i) s += q[j * 16 + i];
        bsums[j] = s;
      }
      a.d[t * nb + b] = 1.0f / iscale;
    }
  }
}

}  // namespace llm::kernels::internal
