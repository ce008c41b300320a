// File: common/gguf_writer.h
//
// GgufWriter builds a GGUF v3 (little-endian) file: metadata in insertion
// order, then tensor infos, then tensor data, each tensor aligned to
// `general.alignment` (UINT32, when set) or 32. Used by llm-make-model and by
// tests that need small, exactly-known files. Setting an existing key again
// replaces its value in place (position kept).
//
// Thread safety: thread-compatible (no internal locking).
//
// Example:
//   GgufWriter w;
//   w.AddString("general.architecture", "llama");
//   w.AddUint32("llama.block_count", 2);
//   RETURN_IF_ERROR(w.AddTensor("output_norm.weight", {64}, GgmlType::kF32, bytes));
//   RETURN_IF_ERROR(w.WriteFile("/tmp/x.gguf"));
#ifndef LLM_COMMON_GGUF_WRITER_H_
#define LLM_COMMON_GGUF_WRITER_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/types/span.h"
#include "common/ggml_types.h"
#include "common/gguf.h"

namespace llm {

class GgufWriter {
 public:
  GgufWriter() = default;

  // Scalars.
  void AddUint8(const std::string& key, uint8_t v);
  void AddInt8(const std::string& key, int8_t v);
  void AddUint16(const std::string& key, uint16_t v);
  void AddInt16(const std::string& key, int16_t v);
  void AddUint32(const std::string& key, uint32_t v);
  void AddInt32(const std::string& key, int32_t v);
  void AddUint64(const std::string& key, uint64_t v);
  void AddInt64(const std::string& key, int64_t v);
  void AddFloat32(const std::string& key, float v);
  void AddFloat64(const std::string& key, double v);
  void AddBool(const std::string& key, bool v);
  void AddString(const std::string& key, std::string v);
  // Arrays.
  void AddStringArray(const std::string& key, std::vector<std::string> v);
  void AddInt32Array(const std::string& key, absl::Span<const int32_t> v);
  void AddFloat32Array(const std::string& key, absl::Span<const float> v);
  void AddBoolArray(const std::string& key, const std::vector<bool>& v);
  // Any integer element type (values are truncated to its width).
  void AddIntArray(const std::string& key, GgufValueType elem_type,
                   absl::Span<const int64_t> v);
  // A value exactly as read by GgufFile (to copy metadata between files).
  void AddValue(const std::string& key, GgufValue v);
  bool HasKey(const std::string& key) const { return index_.contains(key); }

  // `bytes` must be exactly the size implied by `ne` and `type`; names must
  // be unique and shorter than 64 bytes. InvalidArgument otherwise.
  absl::Status AddTensor(const std::string& name, std::vector<int64_t> ne, GgmlType type,
                         std::string bytes);

  // File version written in the header (2 or 3; the encodings are equal).
  void set_version(uint32_t version) { version_ = version; }

  // The whole file image.
  std::string Serialize() const;
  // Writes the file (via a temporary + rename, so a reader never sees a
  // partial file). Internal on I/O errors.
  absl::Status WriteFile(const std::string& path) const;

 private:
  struct Tensor {
    std::string name;
    std::vector<int64_t> ne;
    GgmlType type;
    std::string bytes;
    uint64_t offset = 0;  // filled by Layout()
  };
  void Set(const std::string& key, GgufValue v);
  uint64_t Alignment() const;
  // Header + metadata + tensor infos + padding, with tensor offsets assigned.
  std::string SerializeHeader(std::vector<uint64_t>* offsets) const;

  uint32_t version_ = 3;
  std::vector<std::pair<std::string, GgufValue>> kv_;
  absl::flat_hash_map<std::string, size_t> index_;
  std::vector<Tensor> tensors_;
  absl::flat_hash_map<std::string, size_t> tensor_index_;
};

}  // namespace llm

#endif  // LLM_COMMON_GGUF_WRITER_H_
