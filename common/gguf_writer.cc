// File: common/gguf_writer.cc
#include "common/gguf_writer.h"

#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace llm {
namespace {

template <typename T>
void Put(std::string& out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));  // host is little-endian (x86-64)
  out.append(b, sizeof(T));
}

void PutString(std::string& out, const std::string& s) {
  Put<uint64_t>(out, s.size());
  out.append(s);
}

void PutInt(std::string& out, GgufValueType t, int64_t v) {
  switch (t) {
    case GgufValueType::kUint8: Put<uint8_t>(out, static_cast<uint8_t>(v)); break;
    case GgufValueType::kInt8: Put<int8_t>(out, static_cast<int8_t>(v)); break;
    case GgufValueType::kUint16: Put<uint16_t>(out, static_cast<uint16_t>(v)); break;
    case GgufValueType::kInt16: Put<int16_t>(out, static_cast<int16_t>(v)); break;
    case GgufValueType::kUint32: Put<uint32_t>(out, static_cast<uint32_t>(v)); break;
    case GgufValueType::kInt32: Put<int32_t>(out, static_cast<int32_t>(v)); break;
    case GgufValueType::kUint64: Put<uint64_t>(out, static_cast<uint64_t>(v)); break;
    case GgufValueType::kInt64: Put<int64_t>(out, v); break;
    default: break;
  }
}

int64_t ScalarAsInt(const GgufValue& v) {
  if (std::holds_alternative<int64_t>(v.scalar)) return std::get<int64_t>(v.scalar);
  if (std::holds_alternative<uint64_t>(v.scalar)) {
    return static_cast<int64_t>(std::get<uint64_t>(v.scalar));
  }
  return 0;
}

void PutValue(std::string& out, const GgufValue& v) {
  Put<uint32_t>(out, static_cast<uint32_t>(v.type));
  switch (v.type) {
    case GgufValueType::kFloat32: Put<float>(out, static_cast<float>(std::get<double>(v.scalar))); break;
    case GgufValueType::kFloat64: Put<double>(out, std::get<double>(v.scalar)); break;
    case GgufValueType::kBool: Put<uint8_t>(out, std::get<bool>(v.scalar) ? 1 : 0); break;
    case GgufValueType::kString: PutString(out, std::get<std::string>(v.scalar)); break;
    case GgufValueType::kArray: {
      Put<uint32_t>(out, static_cast<uint32_t>(v.array_type));
      switch (v.array_type) {
        case GgufValueType::kString:
          Put<uint64_t>(out, v.strings.size());
          for (const std::string& s : v.strings) PutString(out, s);
          break;
        case GgufValueType::kBool:
          Put<uint64_t>(out, v.bools.size());
          for (bool b : v.bools) Put<uint8_t>(out, b ? 1 : 0);
          break;
        case GgufValueType::kFloat32:
          Put<uint64_t>(out, v.floats.size());
          for (double f : v.floats) Put<float>(out, static_cast<float>(f));
          break;
        case GgufValueType::kFloat64:
          Put<uint64_t>(out, v.floats.size());
          for (double f : v.floats) Put<double>(out, f);
          break;
        default:
          Put<uint64_t>(out, v.ints.size());
          for (int64_t i : v.ints) PutInt(out, v.array_type, i);
          break;
      }
      break;
    }
    default: PutInt(out, v.type, ScalarAsInt(v)); break;
  }
}

GgufValue Scalar(GgufValueType t, std::variant<int64_t, uint64_t, double, bool, std::string> s) {
  GgufValue v;
  v.type = t;
  v.scalar = std::move(s);
  return v;
}

GgufValue Array(GgufValueType elem) {
  GgufValue v;
  v.type = GgufValueType::kArray;
  v.array_type = elem;
  return v;
}

uint64_t AlignUp(uint64_t x, uint64_t a) { return x + (a - x % a) % a; }

}  // namespace

void GgufWriter::Set(const std::string& key, GgufValue v) {
  if (auto it = index_.find(key); it != index_.end()) {
    kv_[it->second].second = std::move(v);
    return;
  }
  index_.emplace(key, kv_.size());
  kv_.emplace_back(key, std::move(v));
}

void GgufWriter::AddUint8(const std::string& k, uint8_t v) { Set(k, Scalar(GgufValueType::kUint8, uint64_t{v})); }
void GgufWriter::AddInt8(const std::string& k, int8_t v) { Set(k, Scalar(GgufValueType::kInt8, int64_t{v})); }
void GgufWriter::AddUint16(const std::string& k, uint16_t v) { Set(k, Scalar(GgufValueType::kUint16, uint64_t{v})); }
void GgufWriter::AddInt16(const std::string& k, int16_t v) { Set(k, Scalar(GgufValueType::kInt16, int64_t{v})); }
void GgufWriter::AddUint32(const std::string& k, uint32_t v) { Set(k, Scalar(GgufValueType::kUint32, uint64_t{v})); }
void GgufWriter::AddInt32(const std::string& k, int32_t v) { Set(k, Scalar(GgufValueType::kInt32, int64_t{v})); }
void GgufWriter::AddUint64(const std::string& k, uint64_t v) { Set(k, Scalar(GgufValueType::kUint64, v)); }
void GgufWriter::AddInt64(const std::string& k, int64_t v) { Set(k, Scalar(GgufValueType::kInt64, v)); }
void GgufWriter::AddFloat32(const std::string& k, float v) { Set(k, Scalar(GgufValueType::kFloat32, double{v})); }
void GgufWriter::AddFloat64(const std::string& k, double v) { Set(k, Scalar(GgufValueType::kFloat64, v)); }
void GgufWriter::AddBool(const std::string& k, bool v) { Set(k, Scalar(GgufValueType::kBool, v)); }
void GgufWriter::AddString(const std::string& k, std::string v) {
  Set(k, Scalar(GgufValueType::kString, std::move(v)));
}

void GgufWriter::AddStringArray(const std::string& key, std::vector<std::string> v) {
  GgufValue a = Array(GgufValueType::kString);
  a.array_size = v.size();
  a.strings = std::move(v);
  Set(key, std::move(a));
}

void GgufWriter::AddInt32Array(const std::string& key, absl::Span<const int32_t> v) {
  GgufValue a = Array(GgufValueType::kInt32);
  a.ints.assign(v.begin(), v.end());
  a.array_size = v.size();
  Set(key, std::move(a));
}

void GgufWriter::AddFloat32Array(const std::string& key, absl::Span<const float> v) {
  GgufValue a = Array(GgufValueType::kFloat32);
  a.floats.assign(v.begin(), v.end());
  a.array_size = v.size();
  Set(key, std::move(a));
}

void GgufWriter::AddBoolArray(const std::string& key, const std::vector<bool>& v) {
  GgufValue a = Array(GgufValueType::kBool);
  a.bools = v;
  a.array_size = v.size();
  Set(key, std::move(a));
}

void GgufWriter::AddIntArray(const std::string& key, GgufValueType elem_type,
                             absl::Span<const int64_t> v) {
  GgufValue a = Array(elem_type);
  a.ints.assign(v.begin(), v.end());
  a.array_size = v.size();
  Set(key, std::move(a));
}

void GgufWriter::AddValue(const std::string& key, GgufValue v) { Set(key, std::move(v)); }

absl::Status GgufWriter::AddTensor(const std::string& name, std::vector<int64_t> ne,
                                   GgmlType type, std::string bytes) {
  if (name.empty() || name.size() >= 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor name '", name, "' must be 1..63 bytes"));
  }
  if (tensor_index_.contains(name)) {
    return absl::InvalidArgumentError(absl::StrCat("duplicate tensor '", name, "'"));
  }
  if (ne.empty() || ne.size() > 4) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "' needs 1..4 dims"));
  }
  int64_t rows = 1;
  for (size_t i = 0; i < ne.size(); ++i) {
    if (ne[i] < 1) {
      return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "' has ne < 1"));
    }
    if (i > 0 && __builtin_mul_overflow(rows, ne[i], &rows)) {
      return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "' size overflows"));
    }
  }
  absl::StatusOr<uint64_t> row_bytes = GgmlRowBytes(type, ne[0]);
  if (!row_bytes.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", name, "': ", row_bytes.status().message()));
  }
  uint64_t want = 0;
  if (__builtin_mul_overflow(*row_bytes, static_cast<uint64_t>(rows), &want) ||
      want != bytes.size()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "tensor '%s' [%s] %s needs %d bytes, got %d", name, absl::StrJoin(ne, ", "),
        GetGgmlTypeInfo(type).name, want, bytes.size()));
  }
  tensor_index_.emplace(name, tensors_.size());
  tensors_.push_back(Tensor{name, std::move(ne), type, std::move(bytes)});
  return absl::OkStatus();
}

uint64_t GgufWriter::Alignment() const {
  if (auto it = index_.find("general.alignment"); it != index_.end()) {
    const GgufValue& v = kv_[it->second].second;
    if (v.type == GgufValueType::kUint32) {
      const uint64_t a = std::get<uint64_t>(v.scalar);
      if (a != 0 && (a & (a - 1)) == 0) return a;
    }
  }
  return 32;
}

std::string GgufWriter::SerializeHeader(std::vector<uint64_t>* offsets) const {
  const uint64_t align = Alignment();
  std::string out;
  Put<uint32_t>(out, 0x46554747);  // "GGUF"
  Put<uint32_t>(out, version_);
  Put<uint64_t>(out, tensors_.size());
  Put<uint64_t>(out, kv_.size());
  for (const auto& [key, value] : kv_) {
    PutString(out, key);
    PutValue(out, value);
  }
  uint64_t offset = 0;
  offsets->clear();
  for (const Tensor& t : tensors_) {
    PutString(out, t.name);
    Put<uint32_t>(out, static_cast<uint32_t>(t.ne.size()));
    for (int64_t d : t.ne) Put<uint64_t>(out, static_cast<uint64_t>(d));
    Put<uint32_t>(out, static_cast<uint32_t>(t.type));
    Put<uint64_t>(out, offset);
    offsets->push_back(offset);
    offset = AlignUp(offset + t.bytes.size(), align);
  }
  out.resize(AlignUp(out.size(), align), '\0');
  return out;
}

std::string GgufWriter::Serialize() const {
  std::vector<uint64_t> offsets;
  std::string out = SerializeHeader(&offsets);
  const uint64_t data_start = out.size();
  for (size_t i = 0; i < tensors_.size(); ++i) {
    out.resize(data_start + offsets[i], '\0');
    out.append(tensors_[i].bytes);
  }
  return out;
}

absl::Status GgufWriter::WriteFile(const std::string& path) const {
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) return absl::InternalError(absl::StrCat("cannot create ", tmp));
  std::vector<uint64_t> offsets;
  const std::string header = SerializeHeader(&offsets);
  bool ok = std::fwrite(header.data(), 1, header.size(), f) == header.size();
  uint64_t written = 0;  // bytes of the data section so far
  const std::string zeros(Alignment(), '\0');
  for (size_t i = 0; ok && i < tensors_.size(); ++i) {
    const uint64_t pad = offsets[i] - written;
    ok = std::fwrite(zeros.data(), 1, pad, f) == pad &&
         std::fwrite(tensors_[i].bytes.data(), 1, tensors_[i].bytes.size(), f) ==
             tensors_[i].bytes.size();
    written = offsets[i] + tensors_[i].bytes.size();
  }
  ok = std::fclose(f) == 0 && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return absl::InternalError(absl::StrCat("cannot write ", path));
  }
  return absl::OkStatus();
}

}  // namespace llm
