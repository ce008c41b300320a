// DequantizeRow: one weight row to f32 (embedding lookup), computed from the
// stored fields with the same float operations as ggml's dequantize_row_*.
#include <cstring>

#include "common/fp16.h"
#include "kernels/cpu/matmul.h"

namespace llm::kernels {
namespace {

inline uint16_t LoadU16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

inline float F16At(const uint8_t* p) { return Fp16ToFloat(LoadU16(p)); }

}  // namespace

void DequantizeRow(const WeightMatrix& w, int64_t row, float* out) {
  const uint8_t* r = w.data + row * w.row_stride;
  const int64_t n = w.cols;
  switch (w.type) {
    case GgmlType::kF32:
      std::memcpy(out, r, n * sizeof(float));
      return;
    case GgmlType::kF16:
      for (int64_t i = 0; i < n; ++i) out[i] = F16At(r + 2 * i);
      return;
    case GgmlType::kBF16:
      for (int64_t i = 0; i < n; ++i) out[i] = Bf16ToFloat(LoadU16(r + 2 * i));
      return;
    case GgmlType::kQ4_0:
      for (int64_t b = 0; b < n / 32; ++b, r += 18, out += 32) {
        const float d = F16At(r);
        for (int i = 0; i < 16; ++i) {
          out[i] = static_cast<float>((r[2 + i] & 0xF) - 8) * d;
          out[i + 16] = static_cast<float>((r[2 + i] >> 4) - 8) * d;
        }
      }
      return;
    case GgmlType::kQ4_1:
      for (int64_t b = 0; b < n / 32; ++b, r += 20, out += 32) {
        const float d = F16At(r), m = F16At(r + 2);
        for (int i = 0; i < 16; ++i) {
          out[i] = static_cast<float>(r[4 + i] & 0xF) * d + m;
          out[i + 16] = static_cast<float>(r[4 + i] >> 4) * d + m;
        }
      }
      return;
    case GgmlType::kQ8_0:
      for (int64_t b = 0; b < n / 32; ++b, r += 34, out += 32) {
        const float d = F16At(r);
        for (int i = 0; i < 32; ++i) out[i] = static_cast<float>(static_cast<int8_t>(r[2 + i])) * d;
      }
      return;
    case GgmlType::kQ4_K:
      for (int64_t b = 0; b < n / 256; ++b, r += 144, out += 256) {
        const float d = F16At(r), dmin = F16At(r + 2);
        const uint8_t* scales = r + 4;
        for (int s = 0; s < 8; ++s) {
          int sc, mn;
          if (s < 4) {
            sc = scales[s] & 63;
            mn = scales[s + 4] & 63;
          } else {
            sc = (scales[s + 4] & 0xF) | ((scales[s - 4] >> 6) << 4);
            mn = (scales[s + 4] >> 4) | ((scales[s] >> 6) << 4);
          }
          const float d1 = d * static_cast<float>(sc), m1 = dmin * static_cast<float>(mn);
          const uint8_t* src = r + 16 + (s / 2) * 32;
          const int shift = (s & 1) * 4;
          for (int l = 0; l < 32; ++l) {
            out[s * 32 + l] = d1 * static_cast<float>((src[l] >> shift) & 0xF) - m1;
          }
        }
      }
      return;
    case GgmlType::kQ6_K:
      for (int64_t b = 0; b < n / 256; ++b, r += 210, out += 256) {
        const float d = F16At(r + 208);
        const int8_t* sc = reinterpret_cast<const int8_t*>(r + 192);
        for (int h = 0; h < 2; ++h) {
          const uint8_t* ql = r + 64 * h;
          const uint8_t* qh = r + 128 + 32 * h;
          float* o = out + 128 * h;
          const int8_t* s = sc + 8 * h;
          for (int l = 0; l < 32; ++l) {
            const int is = l / 16;
            const int q1 = ((ql[l] & 15) | ((qh[l] & 3) << 4)) - 32;
            const int q2 = ((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32;
            const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            o[l] = d * static_cast<float>(s[is]) * static_cast<float>(q1);
            o[l + 32] = d * static_cast<float>(s[is + 2]) * static_cast<float>(q2);
            o[l + 64] = d * static_cast<float>(s[is + 4]) * static_cast<float>(q3);
            o[l + 96] = d * static_cast<float>(s[is + 6]) * static_cast<float>(q4);
          }
        }
      }
      return;
    default:
      return;  // REQUIRES: MatMulSupports(w.type)
  }
}

}  // namespace llm::kernels
