// Tests for GgufFile (reader) and GgufWriter on the real model and on
// written files. Corrupt inputs are in gguf_corruption_test.cc.
#include "common/gguf.h"

#include <cstdio>
#include <random>
#include <string>

#include "common/gguf_writer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace llm {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kModelPath[] = LLM_SOURCE_DIR "/models/SmolLM2-135M-Instruct.Q4_1.gguf";

std::unique_ptr<GgufFile> OpenModelOrNull() {
  std::FILE* f = std::fopen(kModelPath, "rb");
  if (f == nullptr) return nullptr;
  std::fclose(f);
  auto file = GgufFile::Open(kModelPath);
  EXPECT_TRUE(file.ok()) << file.status();
  return file.ok() ? std::move(*file) : nullptr;
}

#define SKIP_WITHOUT_MODEL(file)                                                  \
  if ((file) == nullptr) GTEST_SKIP() << "model not present at " << kModelPath

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng() & 0xFF);
  return s;
}

TEST(GgufRealModelTest, HeaderCountsMatchFile) {
  auto file = OpenModelOrNull();
  SKIP_WITHOUT_MODEL(file);
  EXPECT_EQ(file->version(), 3u);
  EXPECT_EQ(file->alignment(), 32u);
  EXPECT_EQ(file->tensors().size(), 272u);
  EXPECT_EQ(file->metadata().size(), 33u);
  EXPECT_EQ(file->data_offset(), 1785664u);  // gguf-py GGUFReader's data offset
  EXPECT_EQ(file->file_size(), 98362432u);
}

TEST(GgufRealModelTest, MetadataMatchesReference) {
  auto file = OpenModelOrNull();
  SKIP_WITHOUT_MODEL(file);
  EXPECT_EQ(*file->GetString("general.architecture"), "llama");
  EXPECT_EQ(*file->GetInt("general.file_type"), 3);
  EXPECT_EQ(*file->GetInt("general.quantization_version"), 2);
  EXPECT_EQ(*file->GetInt("llama.context_length"), 8192);
  EXPECT_EQ(*file->GetInt("llama.embedding_length"), 576);
  EXPECT_EQ(*file->GetInt("llama.block_count"), 30);
  EXPECT_EQ(*file->GetInt("llama.feed_forward_length"), 1536);
  EXPECT_EQ(*file->GetInt("llama.attention.head_count"), 9);
  EXPECT_EQ(*file->GetInt("llama.attention.head_count_kv"), 3);
  EXPECT_EQ(*file->GetInt("llama.rope.dimension_count"), 64);
  EXPECT_EQ(*file->GetInt("llama.vocab_size"), 49152);
  EXPECT_DOUBLE_EQ(*file->GetFloat("llama.rope.freq_base"), 100000.0);
  EXPECT_DOUBLE_EQ(*file->GetFloat("llama.attention.layer_norm_rms_epsilon"),
                   static_cast<double>(1e-5f));  // stored as FLOAT32
  EXPECT_EQ(*file->GetString("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(*file->GetString("tokenizer.ggml.pre"), "smollm");
  EXPECT_EQ(*file->GetInt("tokenizer.ggml.bos_token_id"), 1);
  EXPECT_EQ(*file->GetInt("tokenizer.ggml.eos_token_id"), 2);
  EXPECT_FALSE(*file->GetBool("tokenizer.ggml.add_bos_token"));
  auto tokens = file->GetStringArray("tokenizer.ggml.tokens");
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_EQ(tokens->size(), 49152u);
  EXPECT_EQ((*tokens)[1], "<|im_start|>");
  EXPECT_EQ(file->GetStringArray("tokenizer.ggml.merges")->size(), 48900u);
  EXPECT_EQ(file->GetIntArray("tokenizer.ggml.token_type")->size(), 49152u);
  EXPECT_THAT(*file->GetString("tokenizer.chat_template"), HasSubstr("<|im_start|>"));
}

TEST(GgufRealModelTest, TokenEmbeddingIsQ8_0WithExpectedShape) {
  auto file = OpenModelOrNull();
  SKIP_WITHOUT_MODEL(file);
  const GgufTensor* t = file->FindTensor("token_embd.weight");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->type, GgmlType::kQ8_0);
  EXPECT_THAT(t->ne, ElementsAre(576, 49152));
  EXPECT_EQ(t->nbytes, 30081024u);
  EXPECT_EQ(t->rows(), 49152);
  EXPECT_EQ(t->row_bytes(), 612u);  // 18 blocks x 34 bytes
  EXPECT_EQ(t->num_elements(), 576 * 49152);
  EXPECT_EQ(t->offset, 0u);
  const GgufTensor* q = file->FindTensor("blk.0.attn_q.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->type, GgmlType::kQ4_1);
  EXPECT_EQ(q->nbytes, 207360u);
  const GgufTensor* norm = file->FindTensor("output_norm.weight");
  ASSERT_NE(norm, nullptr);
  EXPECT_EQ(norm->type, GgmlType::kF32);
  EXPECT_THAT(norm->ne, ElementsAre(576));
  EXPECT_EQ(file->FindTensor("output.weight"), nullptr);  // tied embeddings
}

TEST(GgufRealModelTest, TensorDataSumsToReferenceTotal) {
  auto file = OpenModelOrNull();
  SKIP_WITHOUT_MODEL(file);
  uint64_t total = 0;
  for (const GgufTensor& t : file->tensors()) total += t.nbytes;
  EXPECT_EQ(total, 96576768u);  // REFERENCE.md §3
  EXPECT_EQ(file->data_offset() + total, file->file_size());
}

TEST(GgufFileTest, MissingFileIsNotFound) {
  auto file = GgufFile::Open("/nonexistent/dir/model.gguf");
  EXPECT_TRUE(absl::IsNotFound(file.status())) << file.status();
}

TEST(GgufFileTest, DirectoryIsInvalidArgument) {
  auto file = GgufFile::Open("/tmp");
  EXPECT_TRUE(absl::IsInvalidArgument(file.status())) << file.status();
}

TEST(GgufWriterTest, RoundTripsEveryValueType) {
  GgufWriter w;
  w.AddUint8("t.u8", 250);
  w.AddInt8("t.i8", -100);
  w.AddUint16("t.u16", 65000);
  w.AddInt16("t.i16", -32000);
  w.AddUint32("t.u32", 4000000000u);
  w.AddInt32("t.i32", -2000000000);
  w.AddUint64("t.u64", 1ull << 60);
  w.AddInt64("t.i64", -(1ll << 60));
  w.AddFloat32("t.f32", 1.5f);
  w.AddFloat64("t.f64", 1e-300);
  w.AddBool("t.bool", true);
  w.AddString("t.str", "héllo");
  w.AddStringArray("t.astr", {"a", "", "ccc"});
  w.AddInt32Array("t.ai32", std::vector<int32_t>{1, -2, 3});
  w.AddFloat32Array("t.af32", std::vector<float>{0.25f, -8.0f});
  w.AddBoolArray("t.abool", {true, false, true});
  w.AddIntArray("t.au8", GgufValueType::kUint8, std::vector<int64_t>{0, 255});
  w.AddIntArray("t.ai64", GgufValueType::kInt64, std::vector<int64_t>{-5, 1ll << 40});
  auto file = GgufFile::FromBytes(w.Serialize());
  ASSERT_TRUE(file.ok()) << file.status();
  const GgufFile& f = **file;
  EXPECT_EQ(f.metadata().size(), 18u);
  EXPECT_EQ(f.metadata()[0].first, "t.u8");  // file order kept
  EXPECT_EQ(*f.GetInt("t.u8"), 250);
  EXPECT_EQ(*f.GetInt("t.i8"), -100);
  EXPECT_EQ(*f.GetInt("t.u16"), 65000);
  EXPECT_EQ(*f.GetInt("t.i16"), -32000);
  EXPECT_EQ(*f.GetInt("t.u32"), 4000000000ll);
  EXPECT_EQ(*f.GetInt("t.i32"), -2000000000);
  EXPECT_EQ(*f.GetInt("t.u64"), 1ll << 60);
  EXPECT_EQ(*f.GetInt("t.i64"), -(1ll << 60));
  EXPECT_EQ(f.Find("t.u32")->type, GgufValueType::kUint32);
  EXPECT_DOUBLE_EQ(*f.GetFloat("t.f32"), 1.5);
  EXPECT_DOUBLE_EQ(*f.GetFloat("t.f64"), 1e-300);
  EXPECT_TRUE(*f.GetBool("t.bool"));
  EXPECT_EQ(*f.GetString("t.str"), "héllo");
  EXPECT_THAT(*f.GetStringArray("t.astr"), ElementsAre("a", "", "ccc"));
  EXPECT_THAT(*f.GetIntArray("t.ai32"), ElementsAre(1, -2, 3));
  EXPECT_THAT(*f.GetFloatArray("t.af32"), ElementsAre(0.25, -8.0));
  EXPECT_THAT(f.Find("t.abool")->bools, ElementsAre(true, false, true));
  EXPECT_THAT(*f.GetIntArray("t.au8"), ElementsAre(0, 255));
  EXPECT_THAT(*f.GetIntArray("t.ai64"), ElementsAre(-5, 1ll << 40));
  EXPECT_EQ(f.Find("t.ai64")->array_size, 2u);
}

TEST(GgufWriterTest, RoundTripsTensorsOfSeveralTypes) {
  GgufWriter w;
  w.AddString("general.architecture", "test");
  struct Spec { const char* name; std::vector<int64_t> ne; GgmlType type; size_t bytes; };
  const Spec specs[] = {
      {"f32", {3, 5}, GgmlType::kF32, 60},      {"f16", {7}, GgmlType::kF16, 14},
      {"q41", {64, 3}, GgmlType::kQ4_1, 120},   {"q80", {32, 2, 2}, GgmlType::kQ8_0, 136},
      {"q4k", {256, 1}, GgmlType::kQ4_K, 144},  {"q6k", {512}, GgmlType::kQ6_K, 420},
      {"bf16", {1, 1, 1, 3}, GgmlType::kBF16, 6},
  };
  uint32_t seed = 1;
  for (const Spec& s : specs) {
    ASSERT_TRUE(w.AddTensor(s.name, s.ne, s.type, RandomBytes(s.bytes, seed++)).ok()) << s.name;
  }
  auto file = GgufFile::FromBytes(w.Serialize());
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_EQ((*file)->tensors().size(), 7u);
  seed = 1;
  for (const Spec& s : specs) {
    const GgufTensor* t = (*file)->FindTensor(s.name);
    ASSERT_NE(t, nullptr) << s.name;
    EXPECT_EQ(t->type, s.type) << s.name;
    EXPECT_EQ(t->ne, s.ne) << s.name;
    EXPECT_EQ(t->nbytes, s.bytes) << s.name;
    EXPECT_EQ(t->offset % 32, 0u) << s.name;
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(t->data), t->nbytes),
              RandomBytes(s.bytes, seed++)) << s.name;
  }
  EXPECT_EQ((*file)->FindTensor("q41")->rows(), 3);
  EXPECT_EQ((*file)->FindTensor("q41")->row_bytes(), 40u);
}

TEST(GgufWriterTest, RejectsTensorWithWrongByteCount) {
  GgufWriter w;
  absl::Status s = w.AddTensor("x", {32, 2}, GgmlType::kQ4_0, std::string(35, '\0'));
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_THAT(std::string(s.message()), HasSubstr("needs 36 bytes, got 35"));
  EXPECT_FALSE(w.AddTensor("y", {31}, GgmlType::kQ4_0, std::string(18, '\0')).ok());
  EXPECT_FALSE(w.AddTensor(std::string(64, 'n'), {1}, GgmlType::kF32, std::string(4, '\0')).ok());
}

TEST(GgufWriterTest, CustomAlignmentIsHonouredByWriterAndReader) {
  GgufWriter w;
  w.AddUint32("general.alignment", 256);
  ASSERT_TRUE(w.AddTensor("a", {3}, GgmlType::kF32, RandomBytes(12, 1)).ok());
  ASSERT_TRUE(w.AddTensor("b", {5}, GgmlType::kF32, RandomBytes(20, 2)).ok());
  auto file = GgufFile::FromBytes(w.Serialize());
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->alignment(), 256u);
  EXPECT_EQ((*file)->data_offset() % 256, 0u);
  EXPECT_EQ((*file)->FindTensor("b")->offset, 256u);
}

TEST(GgufWriterTest, SettingAKeyTwiceReplacesItInPlace) {
  GgufWriter w;
  w.AddUint32("a", 1);
  w.AddString("b", "x");
  w.AddUint32("a", 7);
  auto file = GgufFile::FromBytes(w.Serialize());
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_EQ((*file)->metadata().size(), 2u);
  EXPECT_EQ((*file)->metadata()[0].first, "a");
  EXPECT_EQ(*(*file)->GetInt("a"), 7);
}

TEST(GgufWriterTest, WriteFileThenOpenMapsSameBytes) {
  GgufWriter w;
  w.AddString("general.architecture", "test");
  ASSERT_TRUE(w.AddTensor("t", {32, 4}, GgmlType::kQ8_0, RandomBytes(136, 9)).ok());
  const std::string path = ::testing::TempDir() + "/gguf_writer_test.gguf";
  ASSERT_TRUE(w.WriteFile(path).ok());
  auto file = GgufFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  const GgufTensor* t = (*file)->FindTensor("t");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(t->data), t->nbytes), RandomBytes(136, 9));
  EXPECT_EQ((*file)->file_size(), w.Serialize().size());
  std::remove(path.c_str());
}

TEST(GgufFileTest, ParsesVersion2File) {
  GgufWriter w;
  w.set_version(2);
  w.AddUint32("llama.block_count", 4);
  ASSERT_TRUE(w.AddTensor("t", {2}, GgmlType::kF32, RandomBytes(8, 3)).ok());
  auto file = GgufFile::FromBytes(w.Serialize());
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->version(), 2u);
  EXPECT_EQ(*(*file)->GetInt("llama.block_count"), 4);
  EXPECT_EQ((*file)->tensors().size(), 1u);
}

TEST(GgufFileTest, TypedAccessorsReportMissingAndMismatchedKeys) {
  GgufWriter w;
  w.AddString("s", "text");
  w.AddUint64("big", ~0ull);
  w.AddFloat32("f", 2.5f);
  w.AddUint32("n", 12);
  w.AddIntArray("bigs", GgufValueType::kUint64, std::vector<int64_t>{-1});
  auto file = GgufFile::FromBytes(w.Serialize());
  ASSERT_TRUE(file.ok()) << file.status();
  const GgufFile& f = **file;
  EXPECT_TRUE(absl::IsNotFound(f.GetInt("absent").status()));
  absl::Status s = f.GetInt("s").status();
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_THAT(std::string(s.message()), HasSubstr("'s'"));
  EXPECT_TRUE(absl::IsInvalidArgument(f.GetInt("big").status()));    // > INT64_MAX
  EXPECT_TRUE(absl::IsInvalidArgument(f.GetIntArray("bigs").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(f.GetInt("f").status()));      // float is not an int
  EXPECT_DOUBLE_EQ(*f.GetFloat("n"), 12.0);                          // ints widen to float
  EXPECT_TRUE(absl::IsInvalidArgument(f.GetStringArray("s").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(f.GetBool("n").status()));
  EXPECT_EQ(*f.GetIntOr("absent", 42), 42);
  EXPECT_EQ(*f.GetIntOr("n", 42), 12);
  EXPECT_DOUBLE_EQ(*f.GetFloatOr("absent", 0.5), 0.5);
  EXPECT_TRUE(*f.GetBoolOr("absent", true));
  EXPECT_FALSE(f.GetIntOr("s", 1).ok());  // type errors still fail
}

}  // namespace
}  // namespace llm
