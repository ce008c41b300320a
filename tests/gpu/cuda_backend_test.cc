// CPU vs CUDA: the same random-weight model (tools/llm-make-model) through
// LlamaModel on CpuBackend and CudaBackend, compared on logits and greedy
// tokens over a prefill (GEMM path, tiled prefill attention) and decode
// steps (GEMV path, split-context decode attention), with scattered blocks.
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/gpu/gpu_test_util.h"

#if !LLM_HAVE_CUDA
TEST(CudaBackendTest, SkipsWithoutCuda) {
  GTEST_SKIP() << "no CUDA device: this build has no CUDA (LLM_CUDA=OFF or no toolkit)";
}
#else

#include "common/gguf.h"
#include "worker/cpu_backend.h"
#include "worker/cuda_backend.h"
#include "worker/llama_model.h"

namespace llm {
namespace {

constexpr char kMakeModel[] = LLM_BINARY_DIR "/bin/llm-make-model";

struct Loaded {
  std::unique_ptr<Backend> backend;
  std::unique_ptr<LlamaModel> model;
};

class CudaBackendTest : public ::testing::Test {
 protected:
  void SetUp() override { LLM_REQUIRE_CUDA_DEVICE(); }

  // Writes a random model with `shape` flags; empty path on failure.
  std::string MakeModel(const std::string& name, const std::string& shape) {
    const std::string path = ::testing::TempDir() + "/" + name + ".gguf";
    const std::string cmd =
        std::string(kMakeModel) + " --out " + path + " " + shape + " >/dev/null 2>&1";
    const int rc = std::system(cmd.c_str());
    if (!WIFEXITED(rc) || WEXITSTATUS(rc) != 0) return "";
    return path;
  }

  static Loaded Load(const GgufFile& file, std::unique_ptr<Backend> backend,
                     int num_blocks) {
    Loaded l;
    l.backend = std::move(backend);
    auto model = LlamaModel::Load(file, *l.backend);
    EXPECT_TRUE(model.ok()) << model.status();
    if (!model.ok()) return l;
    l.model = std::move(*model);
    const ModelConfig& c = l.model->config();
    KvCacheShape shape;
    shape.n_layer = c.n_layer;
    shape.n_kv_heads = c.n_head_kv;
    shape.head_dim = c.head_dim;
    shape.block_size = 16;
    shape.num_blocks = num_blocks;
    EXPECT_TRUE(l.backend->AllocateKvCache(shape).ok());
    return l;
  }

  // Runs a prompt of `prompt_len` random tokens as one prefill, then
  // `decode_steps` decodes teacher-forced with the CPU's greedy token, on
  // both backends; compares every step's logits and argmax.
  void CompareBackends(const std::string& model_path, int prompt_len, int decode_steps) {
    auto file = GgufFile::Open(model_path);
    ASSERT_TRUE(file.ok()) << file.status();
    constexpr int kBlocks = 64;
    Loaded cpu = Load(**file, std::make_unique<CpuBackend>(2), kBlocks);
    auto cuda_backend = CudaBackend::Create({});
    ASSERT_TRUE(cuda_backend.ok()) << cuda_backend.status();
    Loaded gpu = Load(**file, std::move(*cuda_backend), kBlocks);
    ASSERT_NE(cpu.model, nullptr);
    ASSERT_NE(gpu.model, nullptr);
    const ModelConfig& c = cpu.model->config();

    // A scattered block table: the sequence's blocks in shuffled order.
    std::vector<int32_t> table(kBlocks);
    std::iota(table.begin(), table.end(), 0);
    std::mt19937 rng(5);
    std::shuffle(table.begin(), table.end(), rng);
    std::uniform_int_distribution<int> tok(0, c.n_vocab - 1);

    std::vector<int32_t> tokens(prompt_len);
    for (int32_t& t : tokens) t = tok(rng);
    int computed = 0;
    for (int step = 0; step <= decode_steps; ++step) {
      ForwardBatch batch;
      const int n = step == 0 ? prompt_len : 1;
      for (int i = 0; i < n; ++i) {
        const int pos = computed + i;
        batch.tokens.push_back(tokens[pos]);
        batch.positions.push_back(pos);
        batch.slots.push_back(int64_t{table[pos / 16]} * 16 + pos % 16);
      }
      BatchSequence s;
      s.query_start = 0;
      s.num_queries = n;
      s.context_len = computed + n;
      s.block_table = absl::MakeConstSpan(table.data(), cuda::CeilDiv(s.context_len, 16));
      batch.seqs.push_back(s);
      batch.logit_rows.push_back(n - 1);
      std::vector<float> lc(c.n_vocab), lg(c.n_vocab, NAN);
      ASSERT_TRUE(cpu.model->Forward(batch, lc.data()).ok());
      const absl::Status gs = gpu.model->Forward(batch, lg.data());
      ASSERT_TRUE(gs.ok()) << gs;
      computed += n;

      // The CPU quantises activations to 8 bits per 32 values (llama.cpp's
      // Q8_1 path) and the GPU does not (fp32 GEMV, bf16 GEMM for the
      // prefill): logits differ by a few 1e-2 of their range, not more.
      float range = 0.0f, max_diff = 0.0f;
      for (int v = 0; v < c.n_vocab; ++v) {
        range = std::max(range, std::abs(lc[v]));
        max_diff = std::max(max_diff, std::abs(lc[v] - lg[v]));
      }
      const float tol = 0.03f * (range + 1.0f);
      EXPECT_LE(max_diff, tol) << "step " << step;

      const int top_cpu = std::max_element(lc.begin(), lc.end()) - lc.begin();
      const int top_gpu = std::max_element(lg.begin(), lg.end()) - lg.begin();
      std::vector<float> sorted = lc;
      std::nth_element(sorted.begin(), sorted.begin() + 1, sorted.end(), std::greater<>());
      // Greedy tokens must agree wherever the CPU's top-2 margin exceeds
      // what the numerics can move.
      if (sorted[0] - sorted[1] > 2 * tol) {
        EXPECT_EQ(top_gpu, top_cpu) << "step " << step;
      }
      tokens.push_back(top_cpu);
    }
  }
};

// Ragged mixed batches: step 1 = A's 30-token prompt (prefill kernel) with
// B's 3-token prompt (decode kernel, 3 rows) and C's 1-token prompt; step 2
// = A decodes 1, B continues with a 12-token chunk (prefill kernel at an
// offset), C decodes 1. Sequences use interleaved physical blocks.
TEST_F(CudaBackendTest, MatchesCpuOnMixedPrefillAndDecodeBatches) {
  const std::string path = MakeModel(
      "cuda_mixed", "--d-model 256 --n-layer 2 --n-head 4 --n-head-kv 2 --n-ff 512 "
                    "--n-vocab 600 --type Q4_1 --embedding-type Q8_0");
  if (path.empty()) GTEST_SKIP() << "build llm-make-model first: " << kMakeModel;
  auto file = GgufFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  Loaded cpu = Load(**file, std::make_unique<CpuBackend>(2), 16);
  auto cuda_backend = CudaBackend::Create({});
  ASSERT_TRUE(cuda_backend.ok()) << cuda_backend.status();
  Loaded gpu = Load(**file, std::move(*cuda_backend), 16);
  ASSERT_NE(cpu.model, nullptr);
  ASSERT_NE(gpu.model, nullptr);
  const int vocab = cpu.model->config().n_vocab;
  const std::vector<std::vector<int32_t>> tables = {{9, 2, 14}, {5, 11}, {0}};
  std::mt19937 rng(9);
  std::uniform_int_distribution<int> tok(0, vocab - 1);
  // (sequence, tokens already computed, tokens this step) per step.
  struct Chunk {
    int seq, computed, n;
  };
  const std::vector<std::vector<Chunk>> steps = {{{0, 0, 30}, {1, 0, 3}, {2, 0, 1}},
                                                 {{0, 30, 1}, {1, 3, 12}, {2, 1, 1}}};
  for (size_t step = 0; step < steps.size(); ++step) {
    ForwardBatch batch;
    for (const Chunk& ch : steps[step]) {
      BatchSequence s;
      s.query_start = batch.num_tokens();
      s.num_queries = ch.n;
      s.context_len = ch.computed + ch.n;
      s.block_table = absl::MakeConstSpan(tables[ch.seq]);
      for (int i = 0; i < ch.n; ++i) {
        const int pos = ch.computed + i;
        batch.tokens.push_back(tok(rng));
        batch.positions.push_back(pos);
        batch.slots.push_back(int64_t{tables[ch.seq][pos / 16]} * 16 + pos % 16);
      }
      batch.seqs.push_back(s);
      batch.logit_rows.push_back(batch.num_tokens() - 1);
    }
    const size_t m = batch.logit_rows.size();
    std::vector<float> lc(m * vocab), lg(m * vocab, NAN);
    ASSERT_TRUE(cpu.model->Forward(batch, lc.data()).ok());
    const absl::Status gs = gpu.model->Forward(batch, lg.data());
    ASSERT_TRUE(gs.ok()) << gs;
    for (size_t r = 0; r < m; ++r) {
      float range = 0.0f, max_diff = 0.0f;
      for (int v = 0; v < vocab; ++v) {
        range = std::max(range, std::abs(lc[r * vocab + v]));
        max_diff = std::max(max_diff, std::abs(lc[r * vocab + v] - lg[r * vocab + v]));
      }
      // Same bound and reason as CompareBackends.
      EXPECT_LE(max_diff, 0.03f * (range + 1.0f)) << "step " << step << " row " << r;
    }
  }
}

TEST_F(CudaBackendTest, MatchesCpuOnQ4_1ModelWithHeadDim64) {
  const std::string path = MakeModel(
      "cuda_q41", "--d-model 256 --n-layer 2 --n-head 4 --n-head-kv 2 --n-ff 512 "
                  "--n-vocab 1000 --type Q4_1 --embedding-type Q8_0");
  if (path.empty()) GTEST_SKIP() << "build llm-make-model first: " << kMakeModel;
  CompareBackends(path, 40, 6);
}

TEST_F(CudaBackendTest, MatchesCpuOnQ8_0ModelWithHeadDim128AndGqa4) {
  const std::string path = MakeModel(
      "cuda_q80", "--d-model 512 --n-layer 2 --n-head 4 --n-head-kv 1 --n-ff 1024 "
                  "--n-vocab 700 --type Q8_0 --embedding-type Q8_0");
  if (path.empty()) GTEST_SKIP() << "build llm-make-model first: " << kMakeModel;
  CompareBackends(path, 100, 4);
}

TEST_F(CudaBackendTest, MatchesCpuOnAlibiModelWithLongPrompt) {
  // 600 tokens: the decode steps split into two partitions.
  const std::string path = MakeModel(
      "cuda_alibi", "--d-model 256 --n-layer 1 --n-head 4 --n-head-kv 4 --n-ff 512 "
                    "--n-vocab 500 --type Q4_0 --embedding-type Q8_0 --position alibi "
                    "--context-length 2048");
  if (path.empty()) GTEST_SKIP() << "build llm-make-model first: " << kMakeModel;
  CompareBackends(path, 600, 3);
}

}  // namespace
}  // namespace llm

#endif  // LLM_HAVE_CUDA
