// The CUDA backend's step-level paths, on a GPU: decode steps replayed from
// CUDA graphs against the same steps run eagerly, greedy sampling on the
// device against the host sampler, and (with two GPUs and NCCL) a
// tensor-parallel group of two ranks against one GPU. Without a device
// every test skips saying so. Written without a GPU: never run yet.
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/gpu/gpu_test_util.h"

#if !LLM_HAVE_CUDA
TEST(CudaRunnerTest, SkipsWithoutCuda) {
  GTEST_SKIP() << "no CUDA device: this build has no CUDA (LLM_CUDA=OFF or no toolkit)";
}
#else

#include "common/gguf.h"
#include "worker/cuda_backend.h"
#include "worker/llama_model.h"
#include "worker/model_runner.h"

namespace llm {
namespace {

constexpr char kMakeModel[] = LLM_BINARY_DIR "/bin/llm-make-model";

std::string MakeModel(const std::string& name, const std::string& shape) {
  const std::string path = ::testing::TempDir() + "/" + name + ".gguf";
  const std::string cmd =
      std::string(kMakeModel) + " --out " + path + " " + shape + " >/dev/null 2>&1";
  const int rc = std::system(cmd.c_str());
  if (!WIFEXITED(rc) || WEXITSTATUS(rc) != 0) return "";
  return path;
}

constexpr char kShape[] =
    "--d-model 256 --n-layer 2 --n-head 4 --n-head-kv 2 --n-ff 512 --n-vocab 600 "
    "--type Q4_1 --embedding-type Q8_0 --context-length 1024";

struct Loaded {
  std::unique_ptr<CudaBackend> backend;
  std::unique_ptr<LlamaModel> model;
};

Loaded Load(const GgufFile& file, const CudaBackend::Options& options) {
  Loaded l;
  auto backend = CudaBackend::Create(options);
  EXPECT_TRUE(backend.ok()) << backend.status();
  if (!backend.ok()) return l;
  l.backend = std::move(*backend);
  auto model = LlamaModel::Load(file, *l.backend);
  EXPECT_TRUE(model.ok()) << model.status();
  if (!model.ok()) return l;
  l.model = std::move(*model);
  KvCacheShape shape;
  shape.n_layer = l.model->config().n_layer;
  shape.n_kv_heads = l.model->local_config().n_head_kv;
  shape.head_dim = l.model->config().head_dim;
  shape.block_size = 16;
  shape.num_blocks = 32;
  EXPECT_TRUE(l.backend->AllocateKvCache(shape).ok());
  return l;
}

// Step `step` of three sequences: step 0 prefills prompts of 5, 9 and 13
// tokens, later steps decode one token each (teacher-forced, token ids
// from the step number); sequence s owns blocks [4s, 4s + 4).
ForwardBatch Step(int step, std::vector<int32_t>& tables) {
  tables.clear();
  for (int b = 0; b < 12; ++b) tables.push_back(b);
  ForwardBatch batch;
  for (int s = 0; s < 3; ++s) {
    const int prompt = 5 + 4 * s;
    const int begin = step == 0 ? 0 : prompt + step - 1;
    const int n = step == 0 ? prompt : 1;
    BatchSequence seq;
    seq.query_start = batch.num_tokens();
    seq.num_queries = n;
    seq.context_len = begin + n;
    seq.block_table = absl::MakeConstSpan(tables.data() + 4 * s, 4);
    for (int i = 0; i < n; ++i) {
      const int pos = begin + i;
      batch.tokens.push_back((pos * 37 + s * 11) % 600);
      batch.positions.push_back(pos);
      batch.slots.push_back(int64_t{4 * s + pos / 16} * 16 + pos % 16);
    }
    batch.seqs.push_back(seq);
    batch.logit_rows.push_back(batch.num_tokens() - 1);
  }
  return batch;
}

class CudaRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    LLM_REQUIRE_CUDA_DEVICE();
    path_ = MakeModel("cuda_runner", kShape);
    if (path_.empty()) GTEST_SKIP() << "build llm-make-model first: " << kMakeModel;
    auto file = GgufFile::Open(path_);
    ASSERT_TRUE(file.ok()) << file.status();
    file_ = std::move(*file);
  }
  std::string path_;
  std::unique_ptr<GgufFile> file_;
};

// Steps 1.. are pure decode of 3 rows (padded to 4): step 1 runs eagerly,
// step 2 is captured, steps 3.. replay. Logits must match a backend with
// graphs off (the GEMV and decode attention are batch-invariant).
TEST_F(CudaRunnerTest, ReplayedDecodeGraphsMatchEagerSteps) {
  CudaBackend::Options eager_options;
  eager_options.cuda_graphs = false;
  Loaded eager = Load(*file_, eager_options);
  Loaded graphs = Load(*file_, CudaBackend::Options{});
  ASSERT_NE(eager.model, nullptr);
  ASSERT_NE(graphs.model, nullptr);
  EXPECT_EQ(graphs.backend->DecodeBucket(3), 4);
  const int vocab = eager.model->config().n_vocab;
  std::vector<int32_t> tables;
  for (int step = 0; step < 8; ++step) {
    const ForwardBatch batch = Step(step, tables);
    std::vector<float> want(3 * vocab), got(3 * vocab, NAN);
    ASSERT_TRUE(eager.model->Forward(batch, want.data()).ok());
    const absl::Status s = graphs.model->Forward(batch, got.data());
    ASSERT_TRUE(s.ok()) << "step " << step << ": " << s;
    float range = 0.0f, diff = 0.0f;
    for (size_t i = 0; i < want.size(); ++i) {
      range = std::max(range, std::abs(want[i]));
      diff = std::max(diff, std::abs(want[i] - got[i]));
    }
    EXPECT_LE(diff, 1e-5f * (range + 1.0f)) << "step " << step;
  }
}

// Greedy requests: ModelRunner samples on the device and must produce the
// host sampler's tokens.
TEST_F(CudaRunnerTest, DeviceGreedySamplingGivesTheHostSamplersTokens) {
  CudaBackend::Options host_options;
  host_options.device_sampling = false;
  Loaded host = Load(*file_, host_options);
  Loaded device = Load(*file_, CudaBackend::Options{});
  ASSERT_NE(host.model, nullptr);
  ASSERT_NE(device.model, nullptr);
  ModelRunner host_runner(*host.model);
  ModelRunner device_runner(*device.model);
  StepPlan plan;
  for (int s = 0; s < 3; ++s) {
    SequenceSpec spec;
    spec.seq_id = s + 1;
    for (int i = 0; i < 6 + 3 * s; ++i) spec.prompt_tokens.push_back((i * 13 + s) % 600);
    spec.params.temperature = 0.0f;
    spec.block_table = {4 * s, 4 * s + 1, 4 * s + 2};
    plan.new_sequences.push_back(spec);
    plan.chunks.push_back({});
    plan.chunks.back().seq_id = spec.seq_id;
    plan.chunks.back().num_tokens = static_cast<int32_t>(spec.prompt_tokens.size());
    plan.chunks.back().sample = true;
  }
  for (int step = 0; step < 10; ++step) {
    auto want = host_runner.Execute(plan);
    auto got = device_runner.Execute(plan);
    ASSERT_TRUE(want.ok()) << want.status();
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(got->results.size(), want->results.size());
    for (size_t i = 0; i < want->results.size(); ++i) {
      EXPECT_EQ(got->results[i].tokens[0].token, want->results[i].tokens[0].token)
          << "step " << step << " seq " << i;
    }
    plan = StepPlan{};
    for (int s = 0; s < 3; ++s) {
      plan.chunks.push_back({});
      plan.chunks.back().seq_id = s + 1;
      plan.chunks.back().num_tokens = 1;
      plan.chunks.back().sample = true;
    }
  }
}

// Two ranks on two GPUs (NCCL) against one GPU: same logits within the
// reduction-order noise, identical on both ranks.
TEST_F(CudaRunnerTest, TwoTensorParallelRanksMatchOneGpu) {
  auto count = CudaDeviceCount();
  if (!count.ok() || *count < 2) GTEST_SKIP() << "needs 2 CUDA devices for NCCL";
  auto id = CudaBackend::NewTensorParallelId();
  if (!id.ok()) GTEST_SKIP() << "no NCCL: " << id.status();
  Loaded single = Load(*file_, CudaBackend::Options{});
  Loaded ranks[2];
  for (int r = 0; r < 2; ++r) {
    CudaBackend::Options o;
    o.device = r;
    o.tp_rank = r;
    o.tp_size = 2;
    ranks[r] = Load(*file_, o);
    ASSERT_NE(ranks[r].model, nullptr);
    EXPECT_EQ(ranks[r].model->local_config().n_head, 2);
  }
  absl::Status joined[2];
  {
    std::thread t0([&] { joined[0] = ranks[0].backend->JoinTensorParallel(*id); });
    std::thread t1([&] { joined[1] = ranks[1].backend->JoinTensorParallel(*id); });
    t0.join();
    t1.join();
  }
  ASSERT_TRUE(joined[0].ok()) << joined[0];
  ASSERT_TRUE(joined[1].ok()) << joined[1];
  const int vocab = single.model->config().n_vocab;
  std::vector<int32_t> tables;
  for (int step = 0; step < 4; ++step) {
    const ForwardBatch batch = Step(step, tables);
    std::vector<float> want(3 * vocab);
    ASSERT_TRUE(single.model->Forward(batch, want.data()).ok());
    std::vector<float> got[2] = {std::vector<float>(3 * vocab), std::vector<float>(3 * vocab)};
    absl::Status s[2];
    std::thread t0([&] { s[0] = ranks[0].model->Forward(batch, got[0].data()); });
    std::thread t1([&] { s[1] = ranks[1].model->Forward(batch, got[1].data()); });
    t0.join();
    t1.join();
    ASSERT_TRUE(s[0].ok()) << s[0];
    ASSERT_TRUE(s[1].ok()) << s[1];
    EXPECT_EQ(got[0], got[1]) << "ranks disagree at step " << step;
    float range = 0.0f, diff = 0.0f;
    for (size_t i = 0; i < want.size(); ++i) {
      range = std::max(range, std::abs(want[i]));
      diff = std::max(diff, std::abs(want[i] - got[0][i]));
    }
    EXPECT_LE(diff, 1e-3f * (range + 1.0f)) << "step " << step;
  }
}

}  // namespace
}  // namespace llm

#endif  // LLM_HAVE_CUDA
