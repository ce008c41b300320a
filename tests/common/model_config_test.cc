// Tests for ModelConfigFromGguf and ValidateLlamaTensors on the real model
// and on small written files.
#include "common/model_config.h"

#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/gguf_writer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace llm {
namespace {

using ::testing::HasSubstr;

constexpr char kModelPath[] = LLM_SOURCE_DIR "/models/SmolLM2-135M-Instruct.Q4_1.gguf";

// A tiny llama: d=64, 4 heads (2 kv), 2 layers, ff=96, vocab 8.
struct Tiny {
  int d = 64, n_head = 4, n_head_kv = 2, n_layer = 2, n_ff = 96, n_vocab = 8;
  GgmlType matrix_type = GgmlType::kQ8_0;
  GgmlType norm_type = GgmlType::kF32;
  bool output = false;
};

std::string Zeros(GgmlType type, std::vector<int64_t> ne) {
  int64_t rows = 1;
  for (size_t i = 1; i < ne.size(); ++i) rows *= ne[i];
  return std::string(*GgmlRowBytes(type, ne[0]) * rows, '\0');
}

void AddTensor(GgufWriter& w, const std::string& name, GgmlType type, std::vector<int64_t> ne) {
  ASSERT_TRUE(w.AddTensor(name, ne, type, Zeros(type, ne)).ok()) << name;
}

GgufWriter TinyWriter(const Tiny& t) {
  GgufWriter w;
  w.AddString("general.architecture", "llama");
  w.AddString("general.name", "tiny");
  w.AddUint32("llama.embedding_length", t.d);
  w.AddUint32("llama.block_count", t.n_layer);
  w.AddUint32("llama.feed_forward_length", t.n_ff);
  w.AddUint32("llama.attention.head_count", t.n_head);
  w.AddUint32("llama.attention.head_count_kv", t.n_head_kv);
  w.AddUint32("llama.context_length", 256);
  w.AddFloat32("llama.attention.layer_norm_rms_epsilon", 1e-6f);
  w.AddUint32("llama.vocab_size", t.n_vocab);
  const int64_t hd = t.d / t.n_head, q = hd * t.n_head, kv = hd * t.n_head_kv;
  AddTensor(w, "token_embd.weight", t.matrix_type, {t.d, t.n_vocab});
  AddTensor(w, "output_norm.weight", t.norm_type, {t.d});
  if (t.output) AddTensor(w, "output.weight", t.matrix_type, {t.d, t.n_vocab});
  for (int l = 0; l < t.n_layer; ++l) {
    const std::string b = absl::StrCat("blk.", l, ".");
    AddTensor(w, b + "attn_norm.weight", t.norm_type, {t.d});
    AddTensor(w, b + "attn_q.weight", t.matrix_type, {t.d, q});
    AddTensor(w, b + "attn_k.weight", t.matrix_type, {t.d, kv});
    AddTensor(w, b + "attn_v.weight", t.matrix_type, {t.d, kv});
    AddTensor(w, b + "attn_output.weight", t.matrix_type, {q, t.d});
    AddTensor(w, b + "ffn_norm.weight", t.norm_type, {t.d});
    AddTensor(w, b + "ffn_gate.weight", t.matrix_type, {t.d, t.n_ff});
    AddTensor(w, b + "ffn_up.weight", t.matrix_type, {t.d, t.n_ff});
    AddTensor(w, b + "ffn_down.weight", t.matrix_type, {t.n_ff, t.d});
  }
  return w;
}

std::unique_ptr<GgufFile> Parse(const GgufWriter& w) {
  auto f = GgufFile::FromBytes(w.Serialize());
  EXPECT_TRUE(f.ok()) << f.status();
  return f.ok() ? std::move(*f) : nullptr;
}

std::string ConfigError(const GgufWriter& w) {
  auto f = Parse(w);
  if (f == nullptr) return "parse failed";
  auto c = ModelConfigFromGguf(*f);
  return c.ok() ? "OK" : std::string(c.status().message());
}

TEST(ModelConfigTest, RealModelMatchesReference) {
  std::FILE* fp = std::fopen(kModelPath, "rb");
  if (fp == nullptr) GTEST_SKIP() << "model not present at " << kModelPath;
  std::fclose(fp);
  auto file = GgufFile::Open(kModelPath);
  ASSERT_TRUE(file.ok()) << file.status();
  auto c = ModelConfigFromGguf(**file);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->architecture, "llama");
  EXPECT_EQ(c->n_vocab, 49152);
  EXPECT_EQ(c->d_model, 576);
  EXPECT_EQ(c->n_layer, 30);
  EXPECT_EQ(c->n_head, 9);
  EXPECT_EQ(c->n_head_kv, 3);
  EXPECT_EQ(c->head_dim, 64);
  EXPECT_EQ(c->n_ff, 1536);
  EXPECT_EQ(c->context_length, 8192);
  EXPECT_FLOAT_EQ(c->rms_eps, 1e-5f);
  EXPECT_EQ(c->position, PositionEncoding::kRope);
  EXPECT_EQ(c->rope_mode, RopeMode::kNormal);  // llama GGUF: normal pairs
  EXPECT_EQ(c->rope_dim, 64);
  EXPECT_FLOAT_EQ(c->rope_freq_base, 100000.0f);
  EXPECT_TRUE(c->tied_embeddings);
  EXPECT_EQ(c->gqa_group(), 3);
  EXPECT_EQ(c->kv_dim(), 192);
  EXPECT_TRUE(ValidateLlamaTensors(**file, *c).ok());
}

TEST(ModelConfigTest, TinyModelReadsEveryField) {
  auto f = Parse(TinyWriter(Tiny{}));
  ASSERT_NE(f, nullptr);
  auto c = ModelConfigFromGguf(*f);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->name, "tiny");
  EXPECT_EQ(c->d_model, 64);
  EXPECT_EQ(c->head_dim, 16);
  EXPECT_EQ(c->n_head_kv, 2);
  EXPECT_EQ(c->n_vocab, 8);
  EXPECT_FLOAT_EQ(c->rms_eps, 1e-6f);
  EXPECT_EQ(c->rope_dim, 16);                  // default: full head
  EXPECT_FLOAT_EQ(c->rope_freq_base, 10000.0f);  // default when absent
  EXPECT_TRUE(ValidateLlamaTensors(*f, *c).ok());
}

TEST(ModelConfigTest, HeadCountKvDefaultsToHeadCount) {
  GgufWriter w = TinyWriter(Tiny{.n_head_kv = 4});
  auto f = Parse(w);
  ASSERT_NE(f, nullptr);
  // Rebuild without the key: the writer has no delete, so copy all but it.
  GgufWriter w2;
  for (const auto& [k, v] : f->metadata()) {
    if (k != "llama.attention.head_count_kv") w2.AddValue(k, v);
  }
  auto f2 = Parse(w2);
  auto c = ModelConfigFromGguf(*f2);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->n_head_kv, 4);
}

TEST(ModelConfigTest, VocabFallsBackToTokenList) {
  auto f = Parse(TinyWriter(Tiny{}));
  GgufWriter w;
  for (const auto& [k, v] : f->metadata()) {
    if (k != "llama.vocab_size") w.AddValue(k, v);
  }
  w.AddStringArray("tokenizer.ggml.tokens", {"a", "b", "c", "d", "e"});
  auto c = ModelConfigFromGguf(*Parse(w));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->n_vocab, 5);
}

TEST(ModelConfigTest, NeoxArchitecturesUseNeoxRope) {
  GgufWriter w;
  w.AddString("general.architecture", "qwen2");
  w.AddUint32("qwen2.embedding_length", 64);
  w.AddUint32("qwen2.block_count", 1);
  w.AddUint32("qwen2.feed_forward_length", 128);
  w.AddUint32("qwen2.attention.head_count", 4);
  w.AddUint32("qwen2.context_length", 128);
  w.AddUint32("qwen2.vocab_size", 10);
  w.AddFloat32("qwen2.rope.freq_base", 1e6f);
  auto c = ModelConfigFromGguf(*Parse(w));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->rope_mode, RopeMode::kNeox);
  EXPECT_FLOAT_EQ(c->rope_freq_base, 1e6f);
}

TEST(ModelConfigTest, PositiveMaxAlibiBiasSelectsAlibi) {
  GgufWriter w = TinyWriter(Tiny{});
  w.AddFloat32("llama.attention.max_alibi_bias", 8.0f);
  auto c = ModelConfigFromGguf(*Parse(w));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->position, PositionEncoding::kAlibi);
  EXPECT_FLOAT_EQ(c->alibi_max_bias, 8.0f);
  EXPECT_EQ(c->rope_dim, 0);
  GgufWriter w0 = TinyWriter(Tiny{});
  w0.AddFloat32("llama.attention.max_alibi_bias", 0.0f);
  EXPECT_EQ(ModelConfigFromGguf(*Parse(w0))->position, PositionEncoding::kRope);
}

TEST(ModelConfigTest, InconsistentHyperParametersAreRejected) {
  GgufWriter w = TinyWriter(Tiny{});
  w.AddUint32("llama.attention.head_count", 5);
  EXPECT_THAT(ConfigError(w), HasSubstr("not divisible by head_count 5"));
  w = TinyWriter(Tiny{});
  w.AddUint32("llama.attention.head_count_kv", 3);
  EXPECT_THAT(ConfigError(w), HasSubstr("not divisible by head_count_kv 3"));
  w = TinyWriter(Tiny{});
  w.AddUint32("llama.block_count", 100000);
  EXPECT_THAT(ConfigError(w), HasSubstr("llama.block_count = 100000 is outside"));
  w = TinyWriter(Tiny{});
  w.AddUint32("llama.embedding_length", 0);
  EXPECT_THAT(ConfigError(w), HasSubstr("llama.embedding_length = 0"));
  w = TinyWriter(Tiny{});
  w.AddString("llama.feed_forward_length", "big");
  EXPECT_THAT(ConfigError(w), HasSubstr("llama.feed_forward_length"));
  w = TinyWriter(Tiny{});
  w.AddFloat32("llama.attention.layer_norm_rms_epsilon", -1.0f);
  EXPECT_THAT(ConfigError(w), HasSubstr("layer_norm_rms_epsilon"));
  w = TinyWriter(Tiny{});
  w.AddUint32("llama.rope.dimension_count", 32);  // > head_dim 16
  EXPECT_THAT(ConfigError(w), HasSubstr("rope.dimension_count"));
}

TEST(ModelConfigTest, MissingRequiredKeyIsNamed) {
  GgufWriter w;
  w.AddString("general.architecture", "llama");
  EXPECT_THAT(ConfigError(w), HasSubstr("'llama.embedding_length' is missing"));
  EXPECT_THAT(ConfigError(GgufWriter()), HasSubstr("general.architecture"));
}

TEST(ValidateLlamaTensorsTest, UntiedOutputIsDetectedAndChecked) {
  auto f = Parse(TinyWriter(Tiny{.output = true}));
  auto c = ModelConfigFromGguf(*f);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->tied_embeddings);
  EXPECT_TRUE(ValidateLlamaTensors(*f, *c).ok());
}

TEST(ValidateLlamaTensorsTest, WrongShapeNamesTensor) {
  auto f = Parse(TinyWriter(Tiny{}));
  auto c = ModelConfigFromGguf(*f);
  ASSERT_TRUE(c.ok());
  ModelConfig wrong = *c;
  wrong.n_ff = 128;
  absl::Status s = ValidateLlamaTensors(*f, wrong);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("tensor 'blk.0.ffn_gate.weight' has shape [64, 96], expected [64, 128]"));
  wrong = *c;
  wrong.n_layer = 3;
  EXPECT_THAT(std::string(ValidateLlamaTensors(*f, wrong).message()),
              HasSubstr("'blk.2.attn_norm.weight' is missing"));
}

TEST(ValidateLlamaTensorsTest, UnsupportedTypesAreNamed) {
  auto f = Parse(TinyWriter(Tiny{.matrix_type = GgmlType::kQ5_0}));
  auto c = ModelConfigFromGguf(*f);
  ASSERT_TRUE(c.ok());
  EXPECT_THAT(std::string(ValidateLlamaTensors(*f, *c).message()),
              HasSubstr("tensor 'token_embd.weight' has type Q5_0"));
  f = Parse(TinyWriter(Tiny{.norm_type = GgmlType::kF16}));
  EXPECT_THAT(std::string(ValidateLlamaTensors(*f, *c).message()),
              HasSubstr("'output_norm.weight' has type F16, norms must be F32"));
}

TEST(ValidateLlamaTensorsTest, AcceptsEverySupportedMatrixType) {
  for (GgmlType t : {GgmlType::kF32, GgmlType::kF16, GgmlType::kBF16, GgmlType::kQ4_0,
                     GgmlType::kQ4_1, GgmlType::kQ8_0}) {
    auto f = Parse(TinyWriter(Tiny{.matrix_type = t}));
    auto c = ModelConfigFromGguf(*f);
    ASSERT_TRUE(c.ok());
    EXPECT_TRUE(ValidateLlamaTensors(*f, *c).ok()) << GetGgmlTypeInfo(t).name;
  }
  // K-quants need 256-wide rows.
  for (GgmlType t : {GgmlType::kQ4_K, GgmlType::kQ6_K}) {
    auto f = Parse(TinyWriter(Tiny{.d = 256, .n_ff = 512, .matrix_type = t}));
    auto c = ModelConfigFromGguf(*f);
    ASSERT_TRUE(c.ok());
    EXPECT_TRUE(ValidateLlamaTensors(*f, *c).ok()) << GetGgmlTypeInfo(t).name;
  }
}

}  // namespace
}  // namespace llm
