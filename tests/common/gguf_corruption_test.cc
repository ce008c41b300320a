// Hostile-input tests for GgufFile (REFERENCE.md §1.1): every malformed file
// must give a clean InvalidArgument naming the problem, never a crash, an
// out-of-bounds read or a huge allocation. Run under LLM_SANITIZE=ON to have
// ASan/UBSan check the "never" part.
#include <cstring>
#include <limits>
#include <random>
#include <string>

#include "common/gguf.h"
#include "common/gguf_writer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace llm {
namespace {

using ::testing::HasSubstr;

// Hand-assembled GGUF bytes, so each test controls every field.
class Raw {
 public:
  Raw& U8(uint8_t v) { return Put(v); }
  Raw& U32(uint32_t v) { return Put(v); }
  Raw& U64(uint64_t v) { return Put(v); }
  Raw& Str(const std::string& s) {
    U64(s.size());
    bytes_ += s;
    return *this;
  }
  Raw& Header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    return U32(0x46554747).U32(version).U64(n_tensors).U64(n_kv);
  }
  Raw& KvU32(const std::string& key, uint32_t v) { return Str(key).U32(4).U32(v); }
  Raw& TensorInfo(const std::string& name, std::vector<uint64_t> ne, uint32_t type,
                  uint64_t offset) {
    Str(name).U32(static_cast<uint32_t>(ne.size()));
    for (uint64_t d : ne) U64(d);
    return U32(type).U64(offset);
  }
  Raw& PadTo(size_t align) {
    bytes_.resize((bytes_.size() + align - 1) / align * align, '\0');
    return *this;
  }
  Raw& Zeros(size_t n) {
    bytes_.append(n, '\0');
    return *this;
  }
  const std::string& bytes() const { return bytes_; }

 private:
  template <typename T>
  Raw& Put(T v) {
    char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    bytes_.append(b, sizeof(T));
    return *this;
  }
  std::string bytes_;
};

std::string ErrorOf(const std::string& bytes) {
  auto file = GgufFile::FromBytes(bytes);
  if (file.ok()) return "OK";
  EXPECT_TRUE(absl::IsInvalidArgument(file.status())) << file.status();
  return std::string(file.status().message());
}

// A small valid file with every structural feature: scalars, a string array,
// an int array, and two tensors.
std::string SmallValidFile() {
  GgufWriter w;
  w.AddString("general.architecture", "llama");
  w.AddUint32("llama.block_count", 2);
  w.AddFloat32("llama.rope.freq_base", 10000.0f);
  w.AddBool("tokenizer.ggml.add_bos_token", true);
  w.AddStringArray("tokenizer.ggml.tokens", {"a", "bc", "<s>"});
  w.AddInt32Array("tokenizer.ggml.token_type", std::vector<int32_t>{1, 1, 3});
  EXPECT_TRUE(w.AddTensor("norm", {4}, GgmlType::kF32, std::string(16, '\x01')).ok());
  EXPECT_TRUE(w.AddTensor("w", {32, 2}, GgmlType::kQ4_1, std::string(40, '\x02')).ok());
  return w.Serialize();
}

TEST(GgufCorruptionTest, SmallValidFileParses) {
  EXPECT_EQ(ErrorOf(SmallValidFile()), "OK");
}

TEST(GgufCorruptionTest, TruncationAtEveryOffsetFailsCleanly) {
  const std::string full = SmallValidFile();
  for (size_t n = 0; n < full.size(); ++n) {
    auto file = GgufFile::FromBytes(full.substr(0, n));
    EXPECT_TRUE(absl::IsInvalidArgument(file.status())) << "prefix " << n;
  }
}

TEST(GgufCorruptionTest, BadMagicIsRejected) {
  std::string b = SmallValidFile();
  b[0] = 'X';
  EXPECT_THAT(ErrorOf(b), HasSubstr("bad magic"));
}

TEST(GgufCorruptionTest, UnsupportedVersionsAreRejected) {
  EXPECT_THAT(ErrorOf(Raw().Header(0, 0, 1).bytes()), HasSubstr("version 1"));
  EXPECT_THAT(ErrorOf(Raw().Header(0, 0, 4).bytes()), HasSubstr("unsupported GGUF version 4"));
  EXPECT_THAT(ErrorOf(Raw().Header(0, 0, 0).bytes()), HasSubstr("unsupported GGUF version 0"));
}

TEST(GgufCorruptionTest, BigEndianFileIsRejectedWithClearMessage) {
  // A big-endian v3 file stores the version as 00 00 00 03.
  EXPECT_THAT(ErrorOf(Raw().Header(0, 0, 0x03000000).bytes()), HasSubstr("big-endian"));
}

TEST(GgufCorruptionTest, HugeCountsFailBeforeAllocating) {
  EXPECT_THAT(ErrorOf(Raw().Header(0, ~0ull).bytes()), HasSubstr("metadata count"));
  EXPECT_THAT(ErrorOf(Raw().Header(~0ull, 0).bytes()), HasSubstr("tensor count"));
  EXPECT_THAT(ErrorOf(Raw().Header(1ull << 40, 0).Zeros(64).bytes()), HasSubstr("tensor count"));
}

TEST(GgufCorruptionTest, HugeStringLengthsAreRejected) {
  EXPECT_THAT(ErrorOf(Raw().Header(0, 1).U64(~0ull).Zeros(16).bytes()),
              HasSubstr("exceeds the limit"));
  EXPECT_THAT(ErrorOf(Raw().Header(0, 1).U64(1000).Zeros(16).bytes()), HasSubstr("truncated"));
  // Scalar string value longer than the rest of the file.
  EXPECT_THAT(ErrorOf(Raw().Header(0, 1).Str("k").U32(8).U64(1ull << 62).bytes()),
              HasSubstr("string length 4611686018427387904"));
  // Array element string over the per-element cap.
  EXPECT_THAT(ErrorOf(Raw().Header(0, 1).Str("k").U32(9).U32(8).U64(1).U64(1 << 20)
                          .Zeros(1 << 20).bytes()),
              HasSubstr("exceeds the limit"));
}

TEST(GgufCorruptionTest, HugeArrayCountsAreRejected) {
  EXPECT_THAT(ErrorOf(Raw().Header(0, 1).Str("k").U32(9).U32(4).U64(~0ull / 2).bytes()),
              HasSubstr("array of"));
  EXPECT_THAT(ErrorOf(Raw().Header(0, 1).Str("k").U32(9).U32(8).U64(1ull << 61).Zeros(8).bytes()),
              HasSubstr("array of"));
  // count * 8 overflows uint64.
  EXPECT_THAT(ErrorOf(Raw().Header(0, 1).Str("k").U32(9).U32(10).U64((1ull << 61) + 1).bytes()),
              HasSubstr("array of"));
}

TEST(GgufCorruptionTest, NestedArraysAreRejected) {
  EXPECT_THAT(ErrorOf(Raw().Header(0, 1).Str("k").U32(9).U32(9).U64(1).U32(4).U64(1).U32(7)
                          .bytes()),
              HasSubstr("nested arrays"));
}

TEST(GgufCorruptionTest, DuplicateAndEmptyKeysAreRejected) {
  EXPECT_THAT(ErrorOf(Raw().Header(0, 2).KvU32("a.b", 1).KvU32("a.b", 2).bytes()),
              HasSubstr("duplicate metadata key 'a.b'"));
  EXPECT_THAT(ErrorOf(Raw().Header(0, 1).KvU32("", 1).bytes()), HasSubstr("empty key"));
}

TEST(GgufCorruptionTest, BadValueTypesAreRejected) {
  EXPECT_THAT(ErrorOf(Raw().Header(0, 1).Str("k").U32(13).U64(0).bytes()),
              HasSubstr("unknown value type id 13"));
  EXPECT_THAT(ErrorOf(Raw().Header(0, 1).Str("k").U32(7).U8(2).bytes()),
              HasSubstr("bool value 2"));
  EXPECT_THAT(ErrorOf(Raw().Header(0, 1).Str("k").U32(9).U32(77).U64(0).bytes()),
              HasSubstr("unknown value type id 77"));
}

TEST(GgufCorruptionTest, BadAlignmentIsRejected) {
  EXPECT_THAT(ErrorOf(Raw().Header(0, 1).KvU32("general.alignment", 0).bytes()),
              HasSubstr("power of two"));
  EXPECT_THAT(ErrorOf(Raw().Header(0, 1).KvU32("general.alignment", 48).bytes()),
              HasSubstr("power of two"));
  EXPECT_THAT(ErrorOf(Raw().Header(0, 1).KvU32("general.alignment", 1u << 30).bytes()),
              HasSubstr("power of two"));
  EXPECT_THAT(ErrorOf(Raw().Header(0, 1).Str("general.alignment").U32(10).U64(32).bytes()),
              HasSubstr("must be UINT32"));
}

// One tensor of 8 F32 (32 bytes) at `offset` with the given info fields.
std::string OneTensor(std::vector<uint64_t> ne, uint32_t type, uint64_t offset,
                      const std::string& name = "blk.0.attn_q.weight", size_t data = 32) {
  return Raw().Header(1, 0).TensorInfo(name, std::move(ne), type, offset).PadTo(32).Zeros(data)
      .bytes();
}

TEST(GgufCorruptionTest, ValidOneTensorFileParses) {
  EXPECT_EQ(ErrorOf(OneTensor({8}, 0, 0)), "OK");
}

TEST(GgufCorruptionTest, BadDimensionsAreRejected) {
  EXPECT_THAT(ErrorOf(OneTensor({}, 0, 0)), HasSubstr("n_dims 0"));
  EXPECT_THAT(ErrorOf(OneTensor({1, 1, 1, 1, 8}, 0, 0)), HasSubstr("n_dims 5"));
  EXPECT_THAT(ErrorOf(OneTensor({8, 0}, 0, 0)), HasSubstr("ne[1] = 0"));
  EXPECT_THAT(ErrorOf(OneTensor({~0ull}, 0, 0)), HasSubstr("ne[0]"));
}

TEST(GgufCorruptionTest, OverflowingElementProductsAreRejected) {
  EXPECT_THAT(ErrorOf(OneTensor({1ull << 32, 1ull << 32}, 0, 0)), HasSubstr("overflows"));
  EXPECT_THAT(ErrorOf(OneTensor({1ull << 62, 4}, 0, 0)), HasSubstr("overflows"));
  // Element count fits but bytes do not: 2^62 F32 elements = 2^64 bytes.
  EXPECT_THAT(ErrorOf(OneTensor({1ull << 31, 1ull << 31}, 0, 0)),
              HasSubstr("byte size overflows"));
  // Bytes fit in uint64 but not in the file: 2^60 F32 elements.
  EXPECT_THAT(ErrorOf(OneTensor({1ull << 30, 1ull << 30}, 0, 0)),
              HasSubstr("exceeds file size"));
}

TEST(GgufCorruptionTest, UnknownTensorTypeNamesIdAndTensor) {
  const std::string msg = ErrorOf(OneTensor({8}, 4, 0));
  EXPECT_THAT(msg, HasSubstr("type id 4"));
  EXPECT_THAT(msg, HasSubstr("blk.0.attn_q.weight"));
  EXPECT_THAT(ErrorOf(OneTensor({8}, 0xFFFFFFFFu, 0)), HasSubstr("type id 4294967295"));
}

TEST(GgufCorruptionTest, RowNotMultipleOfBlockIsRejected) {
  EXPECT_THAT(ErrorOf(OneTensor({16}, 3, 0)), HasSubstr("not a multiple of the Q4_1 block"));
}

TEST(GgufCorruptionTest, MisalignedOffsetIsRejected) {
  EXPECT_THAT(ErrorOf(OneTensor({8}, 0, 4, "t", 64)), HasSubstr("not a multiple of the alignment"));
}

TEST(GgufCorruptionTest, OutOfRangeOffsetsAreRejected) {
  const std::string msg = ErrorOf(OneTensor({8}, 0, 32));
  EXPECT_THAT(msg, HasSubstr("tensor 'blk.0.attn_q.weight': data range"));
  EXPECT_THAT(msg, HasSubstr("exceeds file size"));
  EXPECT_THAT(ErrorOf(OneTensor({8}, 0, ~0ull - 31)), HasSubstr("overflows"));
  EXPECT_THAT(ErrorOf(OneTensor({16}, 0, 0)), HasSubstr("exceeds file size"));
}

TEST(GgufCorruptionTest, BadTensorNamesAreRejected) {
  EXPECT_THAT(ErrorOf(OneTensor({8}, 0, 0, std::string(64, 'x'))), HasSubstr("exceeds the limit"));
  EXPECT_THAT(ErrorOf(OneTensor({8}, 0, 0, "")), HasSubstr("empty name"));
  const std::string dup = Raw().Header(2, 0).TensorInfo("t", {8}, 0, 0)
      .TensorInfo("t", {8}, 0, 32).PadTo(32).Zeros(64).bytes();
  EXPECT_THAT(ErrorOf(dup), HasSubstr("duplicate tensor name 't'"));
}

TEST(GgufCorruptionTest, OverlappingTensorsAreRejected) {
  const std::string b = Raw().Header(2, 0).TensorInfo("a", {16}, 0, 0)
      .TensorInfo("b", {8}, 0, 32).PadTo(32).Zeros(64).bytes();
  EXPECT_THAT(ErrorOf(b), HasSubstr("overlaps"));
}

// Deterministic mutation fuzzing: each mutated file must parse or fail with
// InvalidArgument; parsed files must satisfy the reader's invariants.
TEST(GgufCorruptionTest, RandomMutationsParseOrFailCleanly) {
  const std::string base = SmallValidFile();
  std::mt19937_64 rng(12345);
  const uint64_t kInteresting[] = {0, 1, 0x7F, 0xFF, 0xFFFF, 0xFFFFFFFFull, ~0ull, 1ull << 63,
                                   (1ull << 62) + 1, 64, 63, 256};
  int parsed = 0, failed = 0;
  for (int iter = 0; iter < 4000; ++iter) {
    std::string b = base;
    const int n_mut = 1 + static_cast<int>(rng() % 4);
    for (int m = 0; m < n_mut; ++m) {
      const size_t pos = rng() % b.size();
      switch (rng() % 4) {
        case 0: b[pos] = static_cast<char>(rng()); break;
        case 1: b[pos] ^= static_cast<char>(1u << (rng() % 8)); break;
        case 2: {  // overwrite with an interesting little-endian word
          const uint64_t v = kInteresting[rng() % std::size(kInteresting)];
          const size_t w = std::min<size_t>(size_t{1} << (rng() % 4), b.size() - pos);
          std::memcpy(&b[pos], &v, w);
          break;
        }
        case 3: b.resize(pos); break;
      }
      if (b.empty()) break;
    }
    auto file = GgufFile::FromBytes(b);
    if (!file.ok()) {
      ASSERT_TRUE(absl::IsInvalidArgument(file.status())) << iter << ": " << file.status();
      ++failed;
      continue;
    }
    ++parsed;
    const GgufFile& f = **file;
    for (const GgufTensor& t : f.tensors()) {
      ASSERT_LE(f.data_offset() + t.offset + t.nbytes, f.file_size()) << iter;
      ASSERT_GE(t.ne.size(), 1u);
      ASSERT_LE(t.ne.size(), 4u);
      ASSERT_EQ(t.nbytes, t.row_bytes() * static_cast<uint64_t>(t.rows())) << iter;
    }
  }
  // Both outcomes must occur, or the mutator is not exercising the parser.
  EXPECT_GT(parsed, 100);
  EXPECT_GT(failed, 1000);
}

}  // namespace
}  // namespace llm
