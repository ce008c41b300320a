// File: common/gguf_internal.h
//
// Internal to common/gguf*.cc: GGUF value-type helpers shared by the parser
// and the typed accessors. Not part of the public API.
#ifndef LLM_COMMON_GGUF_INTERNAL_H_
#define LLM_COMMON_GGUF_INTERNAL_H_

#include <cstdint>
#include <string_view>

#include "absl/strings/string_view.h"
#include "common/gguf.h"

namespace llm::gguf_internal {

// This Abseil build has its own string_view (ABSL_OPTION_USE_STD_STRING_VIEW
// is 0), so std::string_view must be converted explicitly.
inline absl::string_view AbslView(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

inline std::string_view ValueTypeName(GgufValueType t) {
  switch (t) {
    case GgufValueType::kUint8: return "UINT8";
    case GgufValueType::kInt8: return "INT8";
    case GgufValueType::kUint16: return "UINT16";
    case GgufValueType::kInt16: return "INT16";
    case GgufValueType::kUint32: return "UINT32";
    case GgufValueType::kInt32: return "INT32";
    case GgufValueType::kFloat32: return "FLOAT32";
    case GgufValueType::kBool: return "BOOL";
    case GgufValueType::kString: return "STRING";
    case GgufValueType::kArray: return "ARRAY";
    case GgufValueType::kUint64: return "UINT64";
    case GgufValueType::kInt64: return "INT64";
    case GgufValueType::kFloat64: return "FLOAT64";
  }
  return "UNKNOWN";
}

// Encoded size of one scalar element; 0 for strings/arrays (variable).
inline uint64_t FixedSize(GgufValueType t) {
  switch (t) {
    case GgufValueType::kUint8: case GgufValueType::kInt8: case GgufValueType::kBool: return 1;
    case GgufValueType::kUint16: case GgufValueType::kInt16: return 2;
    case GgufValueType::kUint32: case GgufValueType::kInt32: case GgufValueType::kFloat32: return 4;
    case GgufValueType::kUint64: case GgufValueType::kInt64: case GgufValueType::kFloat64: return 8;
    default: return 0;
  }
}

inline bool IsInteger(GgufValueType t) {
  return FixedSize(t) != 0 && t != GgufValueType::kBool && t != GgufValueType::kFloat32 &&
         t != GgufValueType::kFloat64;
}
inline bool IsFloat(GgufValueType t) {
  return t == GgufValueType::kFloat32 || t == GgufValueType::kFloat64;
}

}  // namespace llm::gguf_internal

#endif  // LLM_COMMON_GGUF_INTERNAL_H_
