// File: common/gguf.h
//
// GgufFile: a read-only view of a GGUF (v2/v3, little-endian) model file.
// The file is hostile input: every count, length, offset and size is bounds-
// and overflow-checked while parsing (REFERENCE.md §1.1), so a truncated or
// malicious file yields an InvalidArgument/DataLoss status, never a crash or
// an out-of-bounds read. Tensor data is mmapped read-only, never copied.
//
// Thread safety: immutable after Open(); safe to share across threads.
//
// Example:
//   ASSIGN_OR_RETURN(auto file, GgufFile::Open("models/x.gguf"));
//   ASSIGN_OR_RETURN(int64_t layers, file->GetInt("llama.block_count"));
//   const GgufTensor* t = file->FindTensor("token_embd.weight");
#ifndef LLM_COMMON_GGUF_H_
#define LLM_COMMON_GGUF_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/ggml_types.h"

namespace llm {

enum class GgufValueType : uint32_t {
  kUint8 = 0, kInt8 = 1, kUint16 = 2, kInt16 = 3, kUint32 = 4, kInt32 = 5,
  kFloat32 = 6, kBool = 7, kString = 8, kArray = 9, kUint64 = 10,
  kInt64 = 11, kFloat64 = 12,
};

// One metadata value. Scalars are widened on read (integers to int64/uint64
// kept apart by type, floats to double); arrays keep their element type and
// decoded elements (strings as std::string). Nested arrays are rejected.
struct GgufValue {
  GgufValueType type = GgufValueType::kUint8;
  GgufValueType array_type = GgufValueType::kUint8;  // when type == kArray
  std::variant<int64_t, uint64_t, double, bool, std::string> scalar;
  // Array payload, exactly one is filled depending on array_type.
  std::vector<int64_t> ints;      // all signed/unsigned integer element types
  std::vector<double> floats;     // float32/float64 elements
  std::vector<std::string> strings;
  std::vector<bool> bools;
  uint64_t array_size = 0;
};

struct GgufTensor {
  std::string name;
  std::vector<int64_t> ne;  // [n_dims], ne[0] innermost (contiguous)
  GgmlType type = GgmlType::kF32;
  uint64_t offset = 0;   // relative to the data section
  uint64_t nbytes = 0;
  const uint8_t* data = nullptr;  // into the mapping, nbytes long

  int64_t num_elements() const;
  // Rows of a 2-D (or flattened higher-D) tensor: product of ne[1..].
  int64_t rows() const;
  uint64_t row_bytes() const;  // nbytes / rows()
};

class GgufFile {
 public:
  // Maps `path` read-only and parses it. NotFound when the file is missing,
  // InvalidArgument (with the offending field) when malformed.
  static absl::StatusOr<std::unique_ptr<GgufFile>> Open(const std::string& path);
  // Parses an in-memory image (copied); for tests and fuzzing.
  static absl::StatusOr<std::unique_ptr<GgufFile>> FromBytes(std::string_view bytes);

  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // start of tensor data
  uint64_t file_size() const { return size_; }

  // Metadata in file order.
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }
  const GgufValue* Find(std::string_view key) const;
  bool Has(std::string_view key) const { return Find(key) != nullptr; }

  // Typed accessors: NotFound when absent, InvalidArgument (naming the key)
  // when the stored type does not fit. Integers of any width are accepted and
  // range-checked for GetInt; GetFloat accepts float32/float64 (and ints).
  absl::StatusOr<int64_t> GetInt(std::string_view key) const;
  absl::StatusOr<double> GetFloat(std::string_view key) const;
  absl::StatusOr<bool> GetBool(std::string_view key) const;
  absl::StatusOr<std::string> GetString(std::string_view key) const;
  absl::StatusOr<absl::Span<const std::string>> GetStringArray(std::string_view key) const;
  absl::StatusOr<absl::Span<const int64_t>> GetIntArray(std::string_view key) const;
  absl::StatusOr<absl::Span<const double>> GetFloatArray(std::string_view key) const;
  // Convenience with defaults when the key is absent (type errors still fail).
  absl::StatusOr<int64_t> GetIntOr(std::string_view key, int64_t def) const;
  absl::StatusOr<double> GetFloatOr(std::string_view key, double def) const;
  absl::StatusOr<bool> GetBoolOr(std::string_view key, bool def) const;

  const std::vector<GgufTensor>& tensors() const { return tensors_; }
  const GgufTensor* FindTensor(std::string_view name) const;

 private:
  GgufFile() = default;
  absl::Status Parse();

  // Either a mmapped file or an owned buffer.
  const uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  void* mapping_ = nullptr;
  std::string owned_;

  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  absl::flat_hash_map<std::string, size_t> metadata_index_;
  std::vector<GgufTensor> tensors_;
  absl::flat_hash_map<std::string, size_t> tensor_index_;
};

}  // namespace llm

#endif  // LLM_COMMON_GGUF_H_
