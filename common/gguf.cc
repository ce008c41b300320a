// File: common/gguf.cc
//
// Hardened GGUF parser (REFERENCE.md §1.1). Every read goes through Cursor,
// which checks the remaining byte count first; every count read from the file
// is bounded by what the remaining bytes could possibly hold *before* any
// allocation, so a 40-byte file claiming 2^63 keys fails fast instead of
// reserving memory. Sizes are computed with overflow-checked arithmetic.
#include "common/gguf.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/gguf_internal.h"

namespace llm {
namespace {

using gguf_internal::FixedSize;
using gguf_internal::IsFloat;
using gguf_internal::IsInteger;
using gguf_internal::ValueTypeName;

constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" little-endian
constexpr uint64_t kMaxKeyLen = 65535;
constexpr uint64_t kMaxTensorNameLen = 63;  // ggml's GGML_MAX_NAME is 64 incl. NUL
// Element strings of arrays (token texts, merges). Real vocabularies stay far
// below this; the cap bounds the damage of a hostile length.
constexpr uint64_t kMaxArrayStringLen = 65535;
constexpr uint64_t kMaxAlignment = uint64_t{1} << 20;
constexpr uint32_t kMaxDims = 4;
// Smallest possible encodings, used to bound counts before reserving.
constexpr uint64_t kMinKvBytes = 8 + 1 + 4 + 1;           // len, 1-byte key, type, u8
constexpr uint64_t kMinTensorInfoBytes = 8 + 1 + 4 + 8 + 4 + 8;  // name, n_dims, ne, type, offset


absl::Status Invalid(std::string msg) {
  return absl::InvalidArgumentError(std::move(msg));
}

// Bounded little-endian reader over [base, base + size).
class Cursor {
 public:
  Cursor(const uint8_t* base, uint64_t size) : base_(base), size_(size) {}

  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }

  absl::Status Need(uint64_t n, std::string_view what) const {
    if (n > remaining()) {
      return Invalid(absl::StrFormat(
          "truncated file: %s needs %d bytes at offset %d but only %d remain",
          what, n, pos_, remaining()));
    }
    return absl::OkStatus();
  }

  template <typename T>
  absl::Status Read(T* out, std::string_view what) {
    if (auto s = Need(sizeof(T), what); !s.ok()) return s;
    std::memcpy(out, base_ + pos_, sizeof(T));  // host is little-endian (x86-64)
    pos_ += sizeof(T);
    return absl::OkStatus();
  }

  // gguf_string: u64 length + bytes. `cap` bounds the length independently
  // of the file size.
  absl::Status ReadString(std::string* out, uint64_t cap, std::string_view what) {
    uint64_t len = 0;
    if (auto s = Read(&len, what); !s.ok()) return s;
    if (len > cap) {
      return Invalid(absl::StrFormat("%s: string length %d exceeds the limit %d",
                                     what, len, cap));
    }
    if (auto s = Need(len, what); !s.ok()) return s;
    out->assign(reinterpret_cast<const char*>(base_ + pos_), len);
    pos_ += len;
    return absl::OkStatus();
  }

 private:
  const uint8_t* base_;
  uint64_t size_;
  uint64_t pos_ = 0;
};

bool CheckedMul(uint64_t a, uint64_t b, uint64_t* out) {
  return !__builtin_mul_overflow(a, b, out);
}
bool CheckedAdd(uint64_t a, uint64_t b, uint64_t* out) {
  return !__builtin_add_overflow(a, b, out);
}

absl::Status ReadValueType(Cursor& c, GgufValueType* out, const std::string& key) {
  uint32_t raw = 0;
  if (auto s = c.Read(&raw, "value type of key '" + key + "'"); !s.ok()) return s;
  if (raw > static_cast<uint32_t>(GgufValueType::kFloat64)) {
    return Invalid(absl::StrFormat("key '%s': unknown value type id %d", key, raw));
  }
  *out = static_cast<GgufValueType>(raw);
  return absl::OkStatus();
}

// Reads one fixed-size scalar into the widened representation. Signed
// integers widen to int64, unsigned to uint64, floats to double.
absl::Status ReadFixed(Cursor& c, GgufValueType t, const std::string& key,
                       std::variant<int64_t, uint64_t, double, bool, std::string>* out) {
  const std::string what = "value of key '" + key + "'";
  switch (t) {
    case GgufValueType::kUint8: { uint8_t v; if (auto s = c.Read(&v, what); !s.ok()) return s; *out = uint64_t{v}; break; }
    case GgufValueType::kInt8: { int8_t v; if (auto s = c.Read(&v, what); !s.ok()) return s; *out = int64_t{v}; break; }
    case GgufValueType::kUint16: { uint16_t v; if (auto s = c.Read(&v, what); !s.ok()) return s; *out = uint64_t{v}; break; }
    case GgufValueType::kInt16: { int16_t v; if (auto s = c.Read(&v, what); !s.ok()) return s; *out = int64_t{v}; break; }
    case GgufValueType::kUint32: { uint32_t v; if (auto s = c.Read(&v, what); !s.ok()) return s; *out = uint64_t{v}; break; }
    case GgufValueType::kInt32: { int32_t v; if (auto s = c.Read(&v, what); !s.ok()) return s; *out = int64_t{v}; break; }
    case GgufValueType::kUint64: { uint64_t v; if (auto s = c.Read(&v, what); !s.ok()) return s; *out = v; break; }
    case GgufValueType::kInt64: { int64_t v; if (auto s = c.Read(&v, what); !s.ok()) return s; *out = v; break; }
    case GgufValueType::kFloat32: { float v; if (auto s = c.Read(&v, what); !s.ok()) return s; *out = double{v}; break; }
    case GgufValueType::kFloat64: { double v; if (auto s = c.Read(&v, what); !s.ok()) return s; *out = v; break; }
    case GgufValueType::kBool: {
      uint8_t v;
      if (auto s = c.Read(&v, what); !s.ok()) return s;
      if (v > 1) return Invalid(absl::StrFormat("key '%s': bool value %d is not 0 or 1", key, v));
      *out = v == 1;
      break;
    }
    default:
      return Invalid(absl::StrFormat("key '%s': type %s is not a fixed-size scalar", key,
                                     ValueTypeName(t)));
  }
  return absl::OkStatus();
}

absl::Status ReadArray(Cursor& c, const std::string& key, GgufValue* v) {
  if (auto s = ReadValueType(c, &v->array_type, key); !s.ok()) return s;
  if (v->array_type == GgufValueType::kArray) {
    return Invalid(absl::StrFormat("key '%s': nested arrays are not supported", key));
  }
  uint64_t count = 0;
  if (auto s = c.Read(&count, "array length of key '" + key + "'"); !s.ok()) return s;
  // Minimum encoded bytes per element: a string is at least its u64 length.
  const uint64_t elem = v->array_type == GgufValueType::kString ? 8 : FixedSize(v->array_type);
  uint64_t need = 0;
  if (!CheckedMul(count, elem, &need) || need > c.remaining()) {
    return Invalid(absl::StrFormat(
        "key '%s': array of %d %s elements needs more than the %d bytes remaining", key,
        count, ValueTypeName(v->array_type), c.remaining()));
  }
  v->array_size = count;
  const std::string what = "array element of key '" + key + "'";
  if (v->array_type == GgufValueType::kString) {
    v->strings.resize(count);
    for (uint64_t i = 0; i < count; ++i) {
      if (auto s = c.ReadString(&v->strings[i], kMaxArrayStringLen, what); !s.ok()) return s;
    }
  } else if (v->array_type == GgufValueType::kBool) {
    v->bools.reserve(count);
    for (uint64_t i = 0; i < count; ++i) {
      std::variant<int64_t, uint64_t, double, bool, std::string> x;
      if (auto s = ReadFixed(c, v->array_type, key, &x); !s.ok()) return s;
      v->bools.push_back(std::get<bool>(x));
    }
  } else if (IsFloat(v->array_type)) {
    v->floats.reserve(count);
    for (uint64_t i = 0; i < count; ++i) {
      std::variant<int64_t, uint64_t, double, bool, std::string> x;
      if (auto s = ReadFixed(c, v->array_type, key, &x); !s.ok()) return s;
      v->floats.push_back(std::get<double>(x));
    }
  } else {
    v->ints.reserve(count);
    for (uint64_t i = 0; i < count; ++i) {
      std::variant<int64_t, uint64_t, double, bool, std::string> x;
      if (auto s = ReadFixed(c, v->array_type, key, &x); !s.ok()) return s;
      // UINT64 elements above INT64_MAX wrap here; GetIntArray rejects them.
      v->ints.push_back(std::holds_alternative<int64_t>(x)
                            ? std::get<int64_t>(x)
                            : static_cast<int64_t>(std::get<uint64_t>(x)));
    }
  }
  return absl::OkStatus();
}

absl::Status ReadValue(Cursor& c, const std::string& key, GgufValue* v) {
  if (auto s = ReadValueType(c, &v->type, key); !s.ok()) return s;
  if (v->type == GgufValueType::kArray) return ReadArray(c, key, v);
  if (v->type == GgufValueType::kString) {
    std::string str;
    // Scalar strings (chat templates) are bounded only by the file.
    if (auto s = c.ReadString(&str, c.remaining(), "string value of key '" + key + "'");
        !s.ok()) {
      return s;
    }
    v->scalar = std::move(str);
    return absl::OkStatus();
  }
  return ReadFixed(c, v->type, key, &v->scalar);
}

}  // namespace

int64_t GgufTensor::num_elements() const {
  int64_t n = 1;
  for (int64_t d : ne) n *= d;  // overflow excluded by the parser
  return n;
}

int64_t GgufTensor::rows() const {
  int64_t r = 1;
  for (size_t i = 1; i < ne.size(); ++i) r *= ne[i];
  return r;
}

uint64_t GgufTensor::row_bytes() const {
  const int64_t r = rows();
  return r > 0 ? nbytes / static_cast<uint64_t>(r) : 0;
}

absl::StatusOr<std::unique_ptr<GgufFile>> GgufFile::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return absl::NotFoundError(absl::StrCat("GGUF file not found: ", path));
    return absl::InvalidArgumentError(
        absl::StrCat("cannot open GGUF file ", path, ": ", std::strerror(err)));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat(path, " is not a regular file"));
  }
  std::unique_ptr<GgufFile> file(new GgufFile());
  file->size_ = static_cast<uint64_t>(st.st_size);
  if (file->size_ > 0) {
    void* m = ::mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      return absl::InvalidArgumentError(
          absl::StrCat("cannot mmap ", path, ": ", std::strerror(err)));
    }
    file->mapping_ = m;
    file->base_ = static_cast<const uint8_t*>(m);
  }
  ::close(fd);  // the mapping keeps the file alive
  if (auto s = file->Parse(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", s.message()));
  }
  return file;
}

absl::StatusOr<std::unique_ptr<GgufFile>> GgufFile::FromBytes(std::string_view bytes) {
  std::unique_ptr<GgufFile> file(new GgufFile());
  file->owned_.assign(bytes.data(), bytes.size());
  file->base_ = reinterpret_cast<const uint8_t*>(file->owned_.data());
  file->size_ = file->owned_.size();
  if (auto s = file->Parse(); !s.ok()) return s;
  return file;
}

GgufFile::~GgufFile() {
  if (mapping_ != nullptr) ::munmap(mapping_, size_);
}

absl::Status GgufFile::Parse() {
  Cursor c(base_, size_);
  uint32_t magic = 0;
  if (auto s = c.Read(&magic, "magic"); !s.ok()) return s;
  if (magic != kGgufMagic) {
    return Invalid(absl::StrFormat("bad magic 0x%08x: not a GGUF file", magic));
  }
  if (auto s = c.Read(&version_, "version"); !s.ok()) return s;
  if ((version_ & 0xFFFF) == 0 && version_ != 0) {
    return Invalid(absl::StrFormat(
        "version field 0x%08x looks byte-swapped: big-endian GGUF files are not supported",
        version_));
  }
  if (version_ == 1) return Invalid("GGUF version 1 is obsolete and not supported");
  if (version_ != 2 && version_ != 3) {
    return Invalid(absl::StrFormat("unsupported GGUF version %d (expected 2 or 3)", version_));
  }
  uint64_t n_tensors = 0, n_kv = 0;
  if (auto s = c.Read(&n_tensors, "tensor count"); !s.ok()) return s;
  if (auto s = c.Read(&n_kv, "metadata count"); !s.ok()) return s;
  if (n_kv > c.remaining() / kMinKvBytes) {
    return Invalid(absl::StrFormat(
        "metadata count %d cannot fit in the %d bytes remaining", n_kv, c.remaining()));
  }
  if (n_tensors > c.remaining() / kMinTensorInfoBytes) {
    return Invalid(absl::StrFormat(
        "tensor count %d cannot fit in the %d bytes remaining", n_tensors, c.remaining()));
  }

  metadata_.reserve(n_kv);
  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key;
    if (auto s = c.ReadString(&key, kMaxKeyLen, absl::StrCat("key of metadata entry ", i));
        !s.ok()) {
      return s;
    }
    if (key.empty()) return Invalid(absl::StrFormat("metadata entry %d has an empty key", i));
    if (metadata_index_.contains(key)) {
      return Invalid(absl::StrFormat("duplicate metadata key '%s'", key));
    }
    GgufValue value;
    if (auto s = ReadValue(c, key, &value); !s.ok()) return s;
    metadata_index_.emplace(key, metadata_.size());
    metadata_.emplace_back(std::move(key), std::move(value));
  }

  if (const GgufValue* a = Find("general.alignment"); a != nullptr) {
    if (a->type != GgufValueType::kUint32) {
      return Invalid(absl::StrFormat("general.alignment must be UINT32, found %s",
                                     ValueTypeName(a->type)));
    }
    const uint64_t align = std::get<uint64_t>(a->scalar);
    if (align == 0 || (align & (align - 1)) != 0 || align > kMaxAlignment) {
      return Invalid(absl::StrFormat(
          "general.alignment %d is not a power of two in [1, %d]", align, kMaxAlignment));
    }
    alignment_ = align;
  }

  if (n_tensors > c.remaining() / kMinTensorInfoBytes) {
    return Invalid(absl::StrFormat(
        "tensor count %d cannot fit in the %d bytes remaining", n_tensors, c.remaining()));
  }
  tensors_.reserve(n_tensors);
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensor t;
    if (auto s = c.ReadString(&t.name, kMaxTensorNameLen, absl::StrCat("name of tensor ", i));
        !s.ok()) {
      return s;
    }
    if (t.name.empty()) return Invalid(absl::StrFormat("tensor %d has an empty name", i));
    if (tensor_index_.contains(t.name)) {
      return Invalid(absl::StrFormat("duplicate tensor name '%s'", t.name));
    }
    const std::string what = absl::StrCat("tensor '", t.name, "'");
    uint32_t n_dims = 0;
    if (auto s = c.Read(&n_dims, what + " n_dims"); !s.ok()) return s;
    if (n_dims < 1 || n_dims > kMaxDims) {
      return Invalid(absl::StrFormat("%s: n_dims %d outside [1, %d]", what, n_dims, kMaxDims));
    }
    uint64_t elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t ne = 0;
      if (auto s = c.Read(&ne, what + " ne"); !s.ok()) return s;
      if (ne < 1 || ne > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return Invalid(absl::StrFormat("%s: ne[%d] = %d is out of range", what, d, ne));
      }
      if (!CheckedMul(elements, ne, &elements) ||
          elements > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return Invalid(absl::StrFormat("%s: element count overflows", what));
      }
      t.ne.push_back(static_cast<int64_t>(ne));
    }
    uint32_t raw_type = 0;
    if (auto s = c.Read(&raw_type, what + " type"); !s.ok()) return s;
    const std::optional<GgmlTypeInfo> info = GetGgmlTypeInfo(raw_type);
    if (!info) {
      return Invalid(absl::StrFormat("%s: unknown or unsupported ggml type id %d", what,
                                     raw_type));
    }
    t.type = info->type;
    if (t.ne[0] % info->block_size != 0) {
      return Invalid(absl::StrFormat("%s: ne[0] = %d is not a multiple of the %s block size %d",
                                     what, t.ne[0], info->name, info->block_size));
    }
    // elements / block * type_size; the division is exact since ne[0] % block == 0.
    if (!CheckedMul(elements / info->block_size, static_cast<uint64_t>(info->type_size),
                    &t.nbytes)) {
      return Invalid(absl::StrFormat("%s: byte size overflows", what));
    }
    if (auto s = c.Read(&t.offset, what + " offset"); !s.ok()) return s;
    if (t.offset % alignment_ != 0) {
      return Invalid(absl::StrFormat("%s: offset %d is not a multiple of the alignment %d",
                                     what, t.offset, alignment_));
    }
    tensor_index_.emplace(t.name, tensors_.size());
    tensors_.push_back(std::move(t));
  }

  // Data section starts at the next alignment boundary after the infos.
  const uint64_t end = c.pos();
  const uint64_t pad = (alignment_ - end % alignment_) % alignment_;
  data_offset_ = end + pad;  // end <= size_ so this cannot overflow
  if (!tensors_.empty() && data_offset_ > size_) {
    return Invalid(absl::StrFormat("data section start %d exceeds file size %d", data_offset_,
                                   size_));
  }
  std::vector<std::pair<uint64_t, size_t>> ranges;  // (begin, tensor index)
  ranges.reserve(tensors_.size());
  for (size_t i = 0; i < tensors_.size(); ++i) {
    GgufTensor& t = tensors_[i];
    uint64_t begin = 0, stop = 0;
    if (!CheckedAdd(data_offset_, t.offset, &begin) || !CheckedAdd(begin, t.nbytes, &stop)) {
      return Invalid(absl::StrFormat("tensor '%s': data range (offset %d, %d bytes) overflows",
                                     t.name, t.offset, t.nbytes));
    }
    if (stop > size_) {
      return Invalid(absl::StrFormat("tensor '%s': data range [%d, %d) exceeds file size %d",
                                     t.name, begin, stop, size_));
    }
    t.data = base_ + begin;
    ranges.emplace_back(begin, i);
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i) {
    const GgufTensor& prev = tensors_[ranges[i - 1].second];
    if (ranges[i - 1].first + prev.nbytes > ranges[i].first) {
      return Invalid(absl::StrFormat("tensor '%s' overlaps tensor '%s'",
                                     tensors_[ranges[i].second].name, prev.name));
    }
  }
  return absl::OkStatus();
}

}  // namespace llm
