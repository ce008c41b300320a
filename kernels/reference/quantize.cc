// File: kernels/reference/quantize.cc
//
// Simple block formats (32-element blocks) and float types. The K-quants
// live in quantize_k.cc. Quantizers mirror ggml's quantize_row_*_ref,
// including their float32 arithmetic, so the bytes match llama.cpp's.
#include "kernels/reference/quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_format.h"
#include "common/fp16.h"
#include "kernels/reference/quantize_k.h"

namespace llm::kernels::reference {
namespace {

constexpr int kQk = 32;

uint16_t LoadU16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
void StoreU16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }
double Half(const uint8_t* p) { return Fp16ToFloat(LoadU16(p)); }

// Scale = the signed value of largest magnitude (ggml keeps its sign so the
// extreme maps exactly onto -8 / -16).
void SignedAbsMax(const float* x, float* amax, float* max) {
  *amax = 0.0f;
  *max = 0.0f;
  for (int j = 0; j < kQk; ++j) {
    if (*amax < std::fabs(x[j])) {
      *amax = std::fabs(x[j]);
      *max = x[j];
    }
  }
}

void MinMax(const float* x, float* min, float* max) {
  *min = x[0];
  *max = x[0];
  for (int j = 1; j < kQk; ++j) {
    *min = std::min(*min, x[j]);
    *max = std::max(*max, x[j]);
  }
}

void QuantizeQ4_0(const float* x, uint8_t* y) {  // d qs[16]
  float amax, max;
  SignedAbsMax(x, &amax, &max);
  const float d = max / -8.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  StoreU16(y, FloatToFp16(d));
  for (int j = 0; j < 16; ++j) {
    const int q0 = std::min(15, static_cast<int>(static_cast<int8_t>(x[j] * id + 8.5f)));
    const int q1 = std::min(15, static_cast<int>(static_cast<int8_t>(x[j + 16] * id + 8.5f)));
    y[2 + j] = static_cast<uint8_t>(q0 | (q1 << 4));
  }
}

void QuantizeQ4_1(const float* x, uint8_t* y) {  // d m qs[16]
  float min, max;
  MinMax(x, &min, &max);
  const float d = (max - min) / 15.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  StoreU16(y, FloatToFp16(d));
  StoreU16(y + 2, FloatToFp16(min));
  for (int j = 0; j < 16; ++j) {
    const int q0 = std::min(15, static_cast<int>(static_cast<int8_t>((x[j] - min) * id + 0.5f)));
    const int q1 =
        std::min(15, static_cast<int>(static_cast<int8_t>((x[j + 16] - min) * id + 0.5f)));
    y[4 + j] = static_cast<uint8_t>(q0 | (q1 << 4));
  }
}

void QuantizeQ5_0(const float* x, uint8_t* y) {  // d qh[4] qs[16]
  float amax, max;
  SignedAbsMax(x, &amax, &max);
  const float d = max / -16.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  StoreU16(y, FloatToFp16(d));
  uint32_t qh = 0;
  for (int j = 0; j < 16; ++j) {
    const int q0 = std::min(31, static_cast<int>(static_cast<int8_t>(x[j] * id + 16.5f)));
    const int q1 = std::min(31, static_cast<int>(static_cast<int8_t>(x[j + 16] * id + 16.5f)));
    y[6 + j] = static_cast<uint8_t>((q0 & 0xF) | ((q1 & 0xF) << 4));
    qh |= static_cast<uint32_t>((q0 & 0x10) >> 4) << j;
    qh |= static_cast<uint32_t>((q1 & 0x10) >> 4) << (j + 16);
  }
  std::memcpy(y + 2, &qh, 4);
}

void QuantizeQ5_1(const float* x, uint8_t* y) {  // d m qh[4] qs[16]
  float min, max;
  MinMax(x, &min, &max);
  const float d = (max - min) / 31.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  StoreU16(y, FloatToFp16(d));
  StoreU16(y + 2, FloatToFp16(min));
  uint32_t qh = 0;
  for (int j = 0; j < 16; ++j) {
    const int q0 = static_cast<uint8_t>((x[j] - min) * id + 0.5f);
    const int q1 = static_cast<uint8_t>((x[j + 16] - min) * id + 0.5f);
    y[8 + j] = static_cast<uint8_t>((q0 & 0xF) | ((q1 & 0xF) << 4));
    qh |= static_cast<uint32_t>((q0 & 0x10) >> 4) << j;
    qh |= static_cast<uint32_t>((q1 & 0x10) >> 4) << (j + 16);
  }
  std::memcpy(y + 4, &qh, 4);
}

// Q8_0 (d qs[32]) and Q8_1 (d s qs[32]): round half away from zero (roundf),
// as the scalar reference does.
void QuantizeQ8(const float* x, uint8_t* y, bool with_sum) {
  float amax = 0.0f;
  for (int j = 0; j < kQk; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  StoreU16(y, FloatToFp16(d));
  uint8_t* qs = y + (with_sum ? 4 : 2);
  int sum = 0;
  for (int j = 0; j < kQk; ++j) {
    const int q = static_cast<int>(std::round(x[j] * id));
    qs[j] = static_cast<uint8_t>(static_cast<int8_t>(q));
    sum += q;
  }
  if (with_sum) StoreU16(y + 2, FloatToFp16(static_cast<float>(sum) * d));
}

void DequantizeBlock(GgmlType type, const uint8_t* b, double* out) {
  switch (type) {
    case GgmlType::kQ4_0: {
      const double d = Half(b);
      for (int i = 0; i < 16; ++i) {
        out[i] = ((b[2 + i] & 0xF) - 8) * d;
        out[i + 16] = ((b[2 + i] >> 4) - 8) * d;
      }
      break;
    }
    case GgmlType::kQ4_1: {
      const double d = Half(b), m = Half(b + 2);
      for (int i = 0; i < 16; ++i) {
        out[i] = (b[4 + i] & 0xF) * d + m;
        out[i + 16] = (b[4 + i] >> 4) * d + m;
      }
      break;
    }
    case GgmlType::kQ5_0: {
      const double d = Half(b);
      uint32_t qh;
      std::memcpy(&qh, b + 2, 4);
      for (int i = 0; i < 16; ++i) {
        const int h0 = ((qh >> i) & 1) << 4, h1 = ((qh >> (i + 16)) & 1) << 4;
        out[i] = (((b[6 + i] & 0xF) | h0) - 16) * d;
        out[i + 16] = (((b[6 + i] >> 4) | h1) - 16) * d;
      }
      break;
    }
    case GgmlType::kQ5_1: {
      const double d = Half(b), m = Half(b + 2);
      uint32_t qh;
      std::memcpy(&qh, b + 4, 4);
      for (int i = 0; i < 16; ++i) {
        const int h0 = ((qh >> i) & 1) << 4, h1 = ((qh >> (i + 16)) & 1) << 4;
        out[i] = ((b[8 + i] & 0xF) | h0) * d + m;
        out[i + 16] = ((b[8 + i] >> 4) | h1) * d + m;
      }
      break;
    }
    case GgmlType::kQ8_0:
    case GgmlType::kQ8_1: {
      const double d = Half(b);
      const uint8_t* qs = b + (type == GgmlType::kQ8_1 ? 4 : 2);
      for (int i = 0; i < kQk; ++i) out[i] = static_cast<int8_t>(qs[i]) * d;
      break;
    }
    case GgmlType::kQ4_K: DequantizeBlockQ4K(b, out); break;
    case GgmlType::kQ6_K: DequantizeBlockQ6K(b, out); break;
    default: break;
  }
}

}  // namespace

bool QuantizeSupports(GgmlType type) {
  switch (type) {
    case GgmlType::kF32: case GgmlType::kF16: case GgmlType::kBF16: case GgmlType::kQ4_0:
    case GgmlType::kQ4_1: case GgmlType::kQ5_0: case GgmlType::kQ5_1: case GgmlType::kQ8_0:
    case GgmlType::kQ8_1: case GgmlType::kQ4_K: case GgmlType::kQ6_K:
      return true;
    default:
      return false;
  }
}

void DequantizeRow(GgmlType type, const uint8_t* src, int64_t n, double* out) {
  switch (type) {
    case GgmlType::kF32:
      for (int64_t i = 0; i < n; ++i) {
        float f;
        std::memcpy(&f, src + 4 * i, 4);
        out[i] = f;
      }
      return;
    case GgmlType::kF16:
      for (int64_t i = 0; i < n; ++i) out[i] = Fp16ToFloat(LoadU16(src + 2 * i));
      return;
    case GgmlType::kBF16:
      for (int64_t i = 0; i < n; ++i) out[i] = Bf16ToFloat(LoadU16(src + 2 * i));
      return;
    default: break;
  }
  const GgmlTypeInfo& info = GetGgmlTypeInfo(type);
  for (int64_t b = 0; b < n / info.block_size; ++b) {
    DequantizeBlock(type, src + b * info.type_size, out + b * info.block_size);
  }
}

void DequantizeRowF32(GgmlType type, const uint8_t* src, int64_t n, float* out) {
  const GgmlTypeInfo& info = GetGgmlTypeInfo(type);
  double block[256];
  if (info.block_size == 1) {
    for (int64_t i = 0; i < n; i += 256) {
      const int64_t m = std::min<int64_t>(256, n - i);
      DequantizeRow(type, src + i * info.type_size, m, block);
      for (int64_t j = 0; j < m; ++j) out[i + j] = static_cast<float>(block[j]);
    }
    return;
  }
  for (int64_t b = 0; b < n / info.block_size; ++b) {
    DequantizeBlock(type, src + b * info.type_size, block);
    for (int j = 0; j < info.block_size; ++j) {
      out[b * info.block_size + j] = static_cast<float>(block[j]);
    }
  }
}

absl::Status QuantizeRow(GgmlType type, const float* src, int64_t n, uint8_t* dst) {
  const GgmlTypeInfo& info = GetGgmlTypeInfo(type);
  if (!QuantizeSupports(type)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("QuantizeRow: type %s is not supported", info.name));
  }
  if (n < 0 || n % info.block_size != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "QuantizeRow: %d elements is not a multiple of the %s block size %d", n, info.name,
        info.block_size));
  }
  const int64_t blocks = n / info.block_size;
  for (int64_t b = 0; b < blocks; ++b) {
    const float* x = src + b * info.block_size;
    uint8_t* y = dst + b * info.type_size;
    switch (type) {
      case GgmlType::kF32: std::memcpy(y, x, 4); break;
      case GgmlType::kF16: StoreU16(y, FloatToFp16(*x)); break;
      case GgmlType::kBF16: StoreU16(y, FloatToBf16(*x)); break;
      case GgmlType::kQ4_0: QuantizeQ4_0(x, y); break;
      case GgmlType::kQ4_1: QuantizeQ4_1(x, y); break;
      case GgmlType::kQ5_0: QuantizeQ5_0(x, y); break;
      case GgmlType::kQ5_1: QuantizeQ5_1(x, y); break;
      case GgmlType::kQ8_0: QuantizeQ8(x, y, false); break;
      case GgmlType::kQ8_1: QuantizeQ8(x, y, true); break;
      case GgmlType::kQ4_K: QuantizeBlockQ4K(x, y); break;
      case GgmlType::kQ6_K: QuantizeBlockQ6K(x, y); break;
      default: break;
    }
  }
  return absl::OkStatus();
}

}  // namespace llm::kernels::reference
