#include "common/ggml_types.h"

#include <array>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"

namespace llm {
namespace {
constexpr std::array<GgmlTypeInfo, 15> kTypes = {{
    {GgmlType::kF32, "F32", 1, 4},
    {GgmlType::kF16, "F16", 1, 2},
    {GgmlType::kQ4_0, "Q4_0", 32, 18},
    {GgmlType::kQ4_1, "Q4_1", 32, 20},
    {GgmlType::kQ5_0, "Q5_0", 32, 22},
    {GgmlType::kQ5_1, "Q5_1", 32, 24},
    {GgmlType::kQ8_0, "Q8_0", 32, 34},
    {GgmlType::kQ8_1, "Q8_1", 32, 36},
    {GgmlType::kQ2_K, "Q2_K", 256, 84},
    {GgmlType::kQ3_K, "Q3_K", 256, 110},
    {GgmlType::kQ4_K, "Q4_K", 256, 144},
    {GgmlType::kQ5_K, "Q5_K", 256, 176},
    {GgmlType::kQ6_K, "Q6_K", 256, 210},
    {GgmlType::kQ8_K, "Q8_K", 256, 292},
    {GgmlType::kBF16, "BF16", 1, 2},
}};
}  // namespace

std::optional<GgmlTypeInfo> GetGgmlTypeInfo(uint32_t raw_type) {
  for (const auto& t : kTypes) {
    if (static_cast<uint32_t>(t.type) == raw_type) return t;
  }
  return std::nullopt;
}

const GgmlTypeInfo& GetGgmlTypeInfo(GgmlType type) {
  for (const auto& t : kTypes) {
    if (t.type == type) return t;
  }
  return kTypes[0];  // unreachable for valid enum values
}

std::optional<GgmlType> ParseGgmlType(std::string_view name) {
  const std::string upper = absl::AsciiStrToUpper(std::string(name));
  for (const auto& t : kTypes) {
    if (t.name == upper) return t.type;
  }
  return std::nullopt;
}

absl::StatusOr<uint64_t> GgmlRowBytes(GgmlType type, int64_t n) {
  const GgmlTypeInfo& info = GetGgmlTypeInfo(type);
  if (n < 0 || n % info.block_size != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "row of %d elements is not a multiple of the %s block size %d", n,
        info.name, info.block_size));
  }
  const uint64_t blocks = static_cast<uint64_t>(n) / info.block_size;
  if (blocks > std::numeric_limits<uint64_t>::max() / info.type_size) {
    return absl::InvalidArgumentError("row size overflows");
  }
  return blocks * info.type_size;
}

}  // namespace llm
