// End-to-end tests of the llm-make-model binary: the files it writes must
// load, validate as llama models and carry the requested shapes and types.
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common/gguf.h"
#include "common/model_config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/reference/quantize.h"

namespace llm {
namespace {

using ::testing::ElementsAre;

constexpr char kBinary[] = LLM_BINARY_DIR "/bin/llm-make-model";
constexpr char kModelPath[] = LLM_SOURCE_DIR "/models/SmolLM2-135M-Instruct.Q4_1.gguf";
constexpr char kTinyShape[] =
    " --d-model 64 --n-layer 2 --n-head 4 --n-head-kv 2 --n-ff 128 --n-vocab 300";

// Runs the tool with `args`; returns its exit status (-1 if it did not exit).
int RunTool(const std::string& args) {
  const std::string cmd = std::string(kBinary) + " " + args + " >/dev/null 2>&1";
  const int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

std::string TempPath(const std::string& name) { return ::testing::TempDir() + "/" + name; }

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool Exists(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f != nullptr) std::fclose(f);
  return f != nullptr;
}

class MakeModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!Exists(kBinary)) GTEST_SKIP() << "build llm-make-model first: " << kBinary;
  }
};

TEST_F(MakeModelTest, TinyModelHasRequestedShapeAndValidates) {
  const std::string out = TempPath("mm_tiny.gguf");
  ASSERT_EQ(RunTool("--out " + out + kTinyShape + " --type Q4_1 --embedding-type Q8_0"), 0);
  auto file = GgufFile::Open(out);
  ASSERT_TRUE(file.ok()) << file.status();
  auto c = ModelConfigFromGguf(**file);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->d_model, 64);
  EXPECT_EQ(c->n_layer, 2);
  EXPECT_EQ(c->n_head, 4);
  EXPECT_EQ(c->n_head_kv, 2);
  EXPECT_EQ(c->n_ff, 128);
  EXPECT_EQ(c->n_vocab, 300);
  EXPECT_EQ(c->context_length, 8192);
  EXPECT_EQ(c->position, PositionEncoding::kRope);
  EXPECT_FLOAT_EQ(c->rope_freq_base, 100000.0f);
  EXPECT_TRUE(c->tied_embeddings);
  EXPECT_TRUE(ValidateLlamaTensors(**file, *c).ok());
  EXPECT_EQ((*file)->tensors().size(), 2u + 9u * 2u);
  EXPECT_EQ((*file)->FindTensor("token_embd.weight")->type, GgmlType::kQ8_0);
  EXPECT_EQ((*file)->FindTensor("blk.1.ffn_down.weight")->type, GgmlType::kQ4_1);
  EXPECT_THAT((*file)->FindTensor("blk.1.ffn_down.weight")->ne, ElementsAre(128, 64));

  // Norm weights are near 1; matrix weights small and not all equal.
  const GgufTensor* norm = (*file)->FindTensor("blk.0.attn_norm.weight");
  std::vector<double> v(64);
  kernels::reference::DequantizeRow(norm->type, norm->data, 64, v.data());
  for (double x : v) {
    EXPECT_GE(x, 0.95);
    EXPECT_LE(x, 1.05);
  }
  const GgufTensor* wq = (*file)->FindTensor("blk.0.attn_q.weight");
  kernels::reference::DequantizeRow(wq->type, wq->data, 64, v.data());
  double sum_abs = 0;
  for (double x : v) {
    EXPECT_LE(std::fabs(x), 0.2);  // range sqrt(3)/2/sqrt(64) = 0.108, plus Q4_1 error
    sum_abs += std::fabs(x);
  }
  EXPECT_GT(sum_abs, 0.5);
}

TEST_F(MakeModelTest, BuiltInVocabularyIsByteLevel) {
  const std::string out = TempPath("mm_vocab.gguf");
  ASSERT_EQ(RunTool("--out " + out + kTinyShape), 0);
  auto file = GgufFile::Open(out);
  ASSERT_TRUE(file.ok()) << file.status();
  auto tokens = (*file)->GetStringArray("tokenizer.ggml.tokens");
  ASSERT_TRUE(tokens.ok());
  ASSERT_EQ(tokens->size(), 300u);
  EXPECT_EQ((*tokens)[1], "<|im_start|>");
  EXPECT_EQ((*tokens)[3 + 'A'], "A");
  EXPECT_EQ((*tokens)[3 + ' '], "\xC4\xA0");  // U+0120 'Ġ'
  EXPECT_EQ((*tokens)[3 + '\n'], "\xC4\x8A");  // U+010A 'Ċ'
  EXPECT_EQ((*tokens)[299], "<|unused_299|>");
  EXPECT_EQ(*(*file)->GetInt("tokenizer.ggml.eos_token_id"), 2);
  EXPECT_EQ((*file)->GetIntArray("tokenizer.ggml.token_type")->size(), 300u);
}

TEST_F(MakeModelTest, AlibiModelSelectsAlibi) {
  const std::string out = TempPath("mm_alibi.gguf");
  ASSERT_EQ(RunTool("--out " + out + kTinyShape + " --position alibi --type F16"), 0);
  auto file = GgufFile::Open(out);
  ASSERT_TRUE(file.ok()) << file.status();
  auto c = ModelConfigFromGguf(**file);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->position, PositionEncoding::kAlibi);
  EXPECT_EQ((*file)->FindTensor("blk.0.attn_k.weight")->type, GgmlType::kF16);
}

TEST_F(MakeModelTest, SameSeedGivesIdenticalFileOtherSeedDiffers) {
  const std::string a = TempPath("mm_seed_a.gguf"), b = TempPath("mm_seed_b.gguf");
  const std::string c = TempPath("mm_seed_c.gguf");
  ASSERT_EQ(RunTool("--out " + a + kTinyShape + " --seed 5"), 0);
  ASSERT_EQ(RunTool("--out " + b + kTinyShape + " --seed 5"), 0);
  ASSERT_EQ(RunTool("--out " + c + kTinyShape + " --seed 6"), 0);
  EXPECT_EQ(ReadAll(a), ReadAll(b));
  EXPECT_NE(ReadAll(a), ReadAll(c));
}

TEST_F(MakeModelTest, RequantizeChangesMatrixTypesOnly) {
  const std::string src = TempPath("mm_src.gguf"), dst = TempPath("mm_q8.gguf");
  ASSERT_EQ(RunTool("--out " + src + kTinyShape + " --type Q4_1"), 0);
  ASSERT_EQ(RunTool("--from " + src + " --out " + dst + " --type Q8_0"), 0);
  auto s = GgufFile::Open(src);
  auto d = GgufFile::Open(dst);
  ASSERT_TRUE(s.ok() && d.ok());
  EXPECT_EQ((*d)->metadata().size(), (*s)->metadata().size());
  EXPECT_EQ(*(*d)->GetInt("general.file_type"), 7);  // MOSTLY_Q8_0
  EXPECT_EQ((*d)->FindTensor("blk.0.ffn_up.weight")->type, GgmlType::kQ8_0);
  EXPECT_EQ((*d)->FindTensor("blk.0.ffn_norm.weight")->type, GgmlType::kF32);
  EXPECT_EQ((*d)->FindTensor("token_embd.weight")->type, GgmlType::kQ8_0);  // kept
  // Values survive: Q8_0 of the Q4_1 values differs by at most amax/254 per
  // block (half a Q8 step) plus fp16 scale rounding.
  const GgufTensor* a = (*s)->FindTensor("blk.1.attn_v.weight");
  const GgufTensor* b = (*d)->FindTensor("blk.1.attn_v.weight");
  std::vector<double> va(a->num_elements()), vb(b->num_elements());
  kernels::reference::DequantizeRow(a->type, a->data, a->num_elements(), va.data());
  kernels::reference::DequantizeRow(b->type, b->data, b->num_elements(), vb.data());
  for (size_t i = 0; i < va.size(); ++i) ASSERT_NEAR(va[i], vb[i], 0.2 / 254 + 1e-4) << i;
}

TEST_F(MakeModelTest, TokenizerFromCopiesRealVocabulary) {
  if (!Exists(kModelPath)) GTEST_SKIP() << "model not present at " << kModelPath;
  const std::string out = TempPath("mm_tok.gguf");
  ASSERT_EQ(RunTool("--out " + out +
                    " --d-model 64 --n-layer 1 --n-head 4 --n-head-kv 4 --n-ff 64"
                    " --tokenizer-from " + kModelPath),
            0);
  auto file = GgufFile::Open(out);
  auto real = GgufFile::Open(kModelPath);
  ASSERT_TRUE(file.ok() && real.ok());
  auto c = ModelConfigFromGguf(**file);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->n_vocab, 49152);
  EXPECT_EQ(*(*file)->GetString("tokenizer.ggml.pre"), "smollm");
  EXPECT_EQ((*file)->GetStringArray("tokenizer.ggml.merges")->size(), 48900u);
  EXPECT_EQ((*(*file)->GetStringArray("tokenizer.ggml.tokens"))[1000],
            (*(*real)->GetStringArray("tokenizer.ggml.tokens"))[1000]);
  EXPECT_EQ(*(*file)->GetString("tokenizer.chat_template"),
            *(*real)->GetString("tokenizer.chat_template"));
}

TEST_F(MakeModelTest, BadArgumentsExitNonZero) {
  const std::string out = TempPath("mm_bad.gguf");
  EXPECT_NE(RunTool(""), 0);                                           // --out missing
  EXPECT_NE(RunTool("--out " + out + " --d-model 64 --n-head 3"), 0);  // 64 % 3
  EXPECT_NE(RunTool("--out " + out + " --type Q9_9"), 0);
  EXPECT_NE(RunTool("--out " + out + " --position sinusoid"), 0);
  EXPECT_NE(RunTool("--out " + out + " --n-vocab 10"), 0);  // too small for byte vocab
  EXPECT_NE(RunTool("--out " + out + kTinyShape + " --type Q4_K"), 0);  // 64 % 256
  EXPECT_NE(RunTool("--from /nonexistent.gguf --out " + out), 0);
  EXPECT_EQ(RunTool("--help"), 0);
}

}  // namespace
}  // namespace llm
