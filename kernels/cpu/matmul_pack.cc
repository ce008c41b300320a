// Load-time repacking of Q4_0/Q4_1/Q8_0 weights into the 16-row groups of
// matmul_internal.h. Baseline code: it runs once per matrix (and is the
// reference the on-the-fly AVX-512 packer is tested against).
#include <cstdlib>
#include <cstring>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "kernels/cpu/matmul_internal.h"

namespace llm::kernels {
namespace internal {
namespace {

// Byte offsets of the fields inside one ggml block.
struct BlockFields {
  int block_bytes;
  int qs_offset;
  int m_offset;  // -1: no min
};

BlockFields FieldsOf(GgmlType type) {
  switch (type) {
    case GgmlType::kQ4_0:
      return {18, 2, -1};
    case GgmlType::kQ4_1:
      return {20, 4, 2};
    default:  // kQ8_0
      return {34, 2, -1};
  }
}

}  // namespace

bool HasPackedKernel(GgmlType type) {
  return type == GgmlType::kQ4_0 || type == GgmlType::kQ4_1 || type == GgmlType::kQ8_0;
}

int QsBytesPerGroupBlock(GgmlType type) { return type == GgmlType::kQ8_0 ? 512 : 256; }

uint64_t PackedGroupBytes(GgmlType type, int64_t nb) {
  const uint64_t scales = type == GgmlType::kQ4_1 ? 64 : 32;
  return static_cast<uint64_t>(nb) * (QsBytesPerGroupBlock(type) + scales);
}

void PackGroup(const WeightMatrix& w, int64_t r0, uint8_t* dst) {
  const int64_t nb = w.cols / 32;
  const BlockFields f = FieldsOf(w.type);
  const int qsb = QsBytesPerGroupBlock(w.type);
  const int chunks = qsb / 64;  // 4-byte chunks per row per block
  const uint8_t flip = w.type == GgmlType::kQ8_0 ? 0x80 : 0x00;
  uint8_t* qs = dst;
  uint8_t* d = dst + nb * qsb;
  uint8_t* m = d + nb * 32;
  std::memset(dst, 0, PackedGroupBytes(w.type, nb));
  for (int j = 0; j < kGroupRows && r0 + j < w.rows; ++j) {
    const uint8_t* row = w.data + (r0 + j) * w.row_stride;
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* blk = row + b * f.block_bytes;
      for (int k = 0; k < chunks; ++k) {
        for (int i = 0; i < 4; ++i) {
          qs[b * qsb + k * 64 + j * 4 + i] = blk[f.qs_offset + 4 * k + i] ^ flip;
        }
      }
      std::memcpy(d + b * 32 + j * 2, blk, 2);
      if (f.m_offset >= 0) std::memcpy(m + b * 32 + j * 2, blk + f.m_offset, 2);
    }
  }
}

}  // namespace internal

PackedWeightMatrix PackForCpu(const WeightMatrix& w) {
  PackedWeightMatrix p;
  p.source = w;
  if (!internal::HasPackedKernel(w.type) || !MatMulIsaAvailable(MatMulIsa::kAvx512) ||
      w.cols % 32 != 0 || w.rows == 0) {
    return p;
  }
  const int64_t groups = (w.rows + internal::kGroupRows - 1) / internal::kGroupRows;
  // Rounded up to a cache line so every group's qs vectors are aligned.
  p.group_stride = (internal::PackedGroupBytes(w.type, w.cols / 32) + 63) / 64 * 64;
  // 2 MiB-aligned and, on Linux, backed by transparent huge pages: decode
  // streams every weight once per token, and with 4 KiB pages the hardware
  // prefetchers stop at each page boundary and the TLB misses every 4 KiB.
  constexpr size_t kHuge = size_t{2} << 20;
  const size_t bytes = (static_cast<size_t>(groups) * p.group_stride + kHuge - 1) / kHuge * kHuge;
  uint8_t* buf = static_cast<uint8_t*>(std::aligned_alloc(kHuge, bytes));
  if (buf == nullptr) return p;  // no packed copy: the unpacked path still works
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  madvise(buf, bytes, MADV_HUGEPAGE);
#endif
  for (int64_t g = 0; g < groups; ++g) {
    internal::PackGroup(w, g * internal::kGroupRows, buf + g * p.group_stride);
  }
  p.packed = std::shared_ptr<const uint8_t>(buf, [](const uint8_t* q) { std::free(const_cast<uint8_t*>(q)); });
  return p;
}

}  // namespace llm::kernels
