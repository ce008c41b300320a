// File: common/ggml_types.h
//
// The ggml tensor element types a GGUF file may name, with their block
// geometry. A row of `n` elements of a block type occupies
// n / block_size * type_size bytes; `n % block_size` must be 0.
#ifndef LLM_COMMON_GGML_TYPES_H_
#define LLM_COMMON_GGML_TYPES_H_

#include <cstdint>
#include <optional>
#include <string_view>

#include "absl/status/statusor.h"

namespace llm {

enum class GgmlType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kBF16 = 30,
};

struct GgmlTypeInfo {
  GgmlType type;
  std::string_view name;  // "Q4_1"
  int block_size;         // elements per block (1 for float types)
  int type_size;          // bytes per block
};

// Info for a raw type id read from a file; nullopt for ids this project does
// not know (removed, IQ*, ternary, ...). Knowing a type does not mean every
// kernel supports it: see kernels/cpu/matmul.h.
std::optional<GgmlTypeInfo> GetGgmlTypeInfo(uint32_t raw_type);
const GgmlTypeInfo& GetGgmlTypeInfo(GgmlType type);
// "Q4_1" -> kQ4_1 (case-insensitive); nullopt when unknown.
std::optional<GgmlType> ParseGgmlType(std::string_view name);

// Bytes of one row of `n` elements; InvalidArgument when n is not a multiple
// of the block size or the size overflows.
absl::StatusOr<uint64_t> GgmlRowBytes(GgmlType type, int64_t n);

}  // namespace llm

#endif  // LLM_COMMON_GGML_TYPES_H_
