// File: common/gguf_accessors.cc
//
// GgufFile lookups and typed metadata accessors (the parser is gguf.cc).
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/gguf.h"
#include "common/gguf_internal.h"

namespace llm {

using gguf_internal::AbslView;
using gguf_internal::IsFloat;
using gguf_internal::IsInteger;
using gguf_internal::ValueTypeName;

const GgufValue* GgufFile::Find(std::string_view key) const {
  auto it = metadata_index_.find(AbslView(key));
  return it == metadata_index_.end() ? nullptr : &metadata_[it->second].second;
}

const GgufTensor* GgufFile::FindTensor(std::string_view name) const {
  auto it = tensor_index_.find(AbslView(name));
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

namespace {
absl::Status Missing(std::string_view key) {
  return absl::NotFoundError(absl::StrCat("metadata key '", AbslView(key), "' not found"));
}
absl::Status WrongType(std::string_view key, const GgufValue& v, std::string_view want) {
  std::string have(ValueTypeName(v.type));
  if (v.type == GgufValueType::kArray) absl::StrAppend(&have, " of ", AbslView(ValueTypeName(v.array_type)));
  return absl::InvalidArgumentError(
      absl::StrFormat("metadata key '%s' has type %s, expected %s", key, have, want));
}
}  // namespace

absl::StatusOr<int64_t> GgufFile::GetInt(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return Missing(key);
  if (!IsInteger(v->type)) return WrongType(key, *v, "an integer");
  if (std::holds_alternative<int64_t>(v->scalar)) return std::get<int64_t>(v->scalar);
  const uint64_t u = std::get<uint64_t>(v->scalar);
  if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return absl::InvalidArgumentError(
        absl::StrFormat("metadata key '%s' value %d does not fit in int64", key, u));
  }
  return static_cast<int64_t>(u);
}

absl::StatusOr<double> GgufFile::GetFloat(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return Missing(key);
  if (IsFloat(v->type)) return std::get<double>(v->scalar);
  if (IsInteger(v->type)) {
    if (std::holds_alternative<int64_t>(v->scalar)) {
      return static_cast<double>(std::get<int64_t>(v->scalar));
    }
    return static_cast<double>(std::get<uint64_t>(v->scalar));
  }
  return WrongType(key, *v, "a number");
}

absl::StatusOr<bool> GgufFile::GetBool(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return Missing(key);
  if (v->type != GgufValueType::kBool) return WrongType(key, *v, "BOOL");
  return std::get<bool>(v->scalar);
}

absl::StatusOr<std::string> GgufFile::GetString(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return Missing(key);
  if (v->type != GgufValueType::kString) return WrongType(key, *v, "STRING");
  return std::get<std::string>(v->scalar);
}

absl::StatusOr<absl::Span<const std::string>> GgufFile::GetStringArray(
    std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return Missing(key);
  if (v->type != GgufValueType::kArray || v->array_type != GgufValueType::kString) {
    return WrongType(key, *v, "ARRAY of STRING");
  }
  return absl::MakeConstSpan(v->strings);
}

absl::StatusOr<absl::Span<const int64_t>> GgufFile::GetIntArray(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return Missing(key);
  if (v->type != GgufValueType::kArray || !IsInteger(v->array_type)) {
    return WrongType(key, *v, "ARRAY of integers");
  }
  if (v->array_type == GgufValueType::kUint64) {
    for (int64_t x : v->ints) {
      if (x < 0) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "metadata key '%s' holds a UINT64 element that does not fit in int64", key));
      }
    }
  }
  return absl::MakeConstSpan(v->ints);
}

absl::StatusOr<absl::Span<const double>> GgufFile::GetFloatArray(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return Missing(key);
  if (v->type != GgufValueType::kArray || !IsFloat(v->array_type)) {
    return WrongType(key, *v, "ARRAY of FLOAT32/FLOAT64");
  }
  return absl::MakeConstSpan(v->floats);
}

absl::StatusOr<int64_t> GgufFile::GetIntOr(std::string_view key, int64_t def) const {
  return Has(key) ? GetInt(key) : absl::StatusOr<int64_t>(def);
}
absl::StatusOr<double> GgufFile::GetFloatOr(std::string_view key, double def) const {
  return Has(key) ? GetFloat(key) : absl::StatusOr<double>(def);
}
absl::StatusOr<bool> GgufFile::GetBoolOr(std::string_view key, bool def) const {
  return Has(key) ? GetBool(key) : absl::StatusOr<bool>(def);
}

}  // namespace llm
