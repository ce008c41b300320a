// ModelRunner's device-sampling path (Backend::SampleRows), with the device
// emulated on the host: steps whose sampled rows are all greedy without
// penalties or logprobs take token ids from the backend instead of reading
// logits back, and produce the tokens the host sampler produces; any other
// step (temperature, penalties, logprobs) samples on the host. The CUDA
// kernel behind it (kernels/cuda/sampling.cuh) is tested on a GPU only
// (tests/gpu/sampling_test.cc).
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/gguf.h"
#include "gtest/gtest.h"
#include "tests/worker/delegating_backend.h"
#include "worker/cpu_backend.h"
#include "worker/decode_buckets.h"
#include "worker/llama_model.h"
#include "worker/model_runner.h"

namespace llm {
namespace {

constexpr char kMakeModel[] = LLM_BINARY_DIR "/bin/llm-make-model";

// A CPU backend that claims device sampling and does it on the host: argmax
// with the lowest id on ties (what the CUDA kernel does at temperature 0).
// With `pad`, pure-decode steps are also padded to the CUDA backend's
// graph buckets (LlamaModel::PadDecode), as on a GPU.
class HostSampledBackend final : public testing::DelegatingBackend {
 public:
  explicit HostSampledBackend(bool pad = false) : DelegatingBackend(cpu_), pad_(pad) {}
  bool CanSampleOnDevice() const override { return true; }
  int DecodeBucket(int n) const override { return pad_ ? DecodeBatchBucket(n) : n; }
  absl::Status SampleRows(const float* logits, int rows, int vocab,
                          absl::Span<const RowSampling> params,
                          int32_t* tokens) override {
    ++calls_;
    rows_ += rows;
    std::vector<float> host(static_cast<size_t>(rows) * vocab);
    if (absl::Status s = cpu_.ReadActivations(logits, host.size(), host.data()); !s.ok()) {
      return s;
    }
    for (int r = 0; r < rows; ++r) {
      EXPECT_LE(params[r].temperature, 0.0f);
      const float* x = host.data() + static_cast<size_t>(r) * vocab;
      tokens[r] = static_cast<int32_t>(std::max_element(x, x + vocab) - x);
    }
    return absl::OkStatus();
  }
  int calls() const { return calls_; }
  int rows() const { return rows_; }

 private:
  CpuBackend cpu_{1};
  const bool pad_;
  int calls_ = 0;
  int rows_ = 0;
};

std::string MakeModel() {
  const std::string path = ::testing::TempDir() + "/device_sampling.gguf";
  const std::string cmd = std::string(kMakeModel) + " --out " + path +
                          " --d-model 128 --n-layer 2 --n-head 4 --n-head-kv 2 --n-ff 256"
                          " --n-vocab 300 --type Q8_0 --embedding-type Q8_0"
                          " --context-length 256 >/dev/null 2>&1";
  const int rc = std::system(cmd.c_str());
  if (!WIFEXITED(rc) || WEXITSTATUS(rc) != 0) return "";
  return path;
}

struct Runner {
  std::unique_ptr<LlamaModel> model;
  std::unique_ptr<ModelRunner> runner;
};

Runner Load(const GgufFile& file, Backend& backend) {
  Runner r;
  auto model = LlamaModel::Load(file, backend);
  EXPECT_TRUE(model.ok()) << model.status();
  if (!model.ok()) return r;
  KvCacheShape shape;
  shape.n_layer = (*model)->config().n_layer;
  shape.n_kv_heads = (*model)->config().n_head_kv;
  shape.head_dim = (*model)->config().head_dim;
  shape.block_size = 16;
  shape.num_blocks = 16;
  EXPECT_TRUE(backend.AllocateKvCache(shape).ok());
  r.model = std::move(*model);
  r.runner = std::make_unique<ModelRunner>(*r.model);
  return r;
}

// Three sequences (prompts of 7, 12 and 17 tokens) with `params`,
// prefilled together, then 5 decode steps; returns every sampled token.
std::vector<std::vector<SampledToken>> RunSteps(ModelRunner& runner, const SamplingParams& params) {
  StepPlan plan;
  plan.step_id = 1;
  for (int s = 0; s < 3; ++s) {
    SequenceSpec spec;
    spec.seq_id = 10 + s;
    for (int i = 0; i < 7 + 5 * s; ++i) spec.prompt_tokens.push_back(3 + 17 * i + s);
    spec.params = params;
    spec.seed = 99 + s;
    spec.block_table = {2 * s, 2 * s + 1};
    plan.new_sequences.push_back(spec);
    ScheduledChunk c;
    c.seq_id = spec.seq_id;
    c.num_tokens = static_cast<int32_t>(spec.prompt_tokens.size());
    c.sample = true;
    plan.chunks.push_back(c);
  }
  std::vector<std::vector<SampledToken>> out(3);
  for (int step = 0; step < 6; ++step) {
    auto result = runner.Execute(plan);
    EXPECT_TRUE(result.ok()) << result.status();
    if (!result.ok()) return out;
    EXPECT_EQ(result->results.size(), 3u);
    for (size_t s = 0; s < result->results.size(); ++s) {
      for (const SampledToken& t : result->results[s].tokens) out[s].push_back(t);
    }
    plan = StepPlan{};
    plan.step_id = step + 2;
    for (int s = 0; s < 3; ++s) {
      ScheduledChunk c;
      c.seq_id = 10 + s;
      c.num_tokens = 1;
      c.sample = true;
      plan.chunks.push_back(c);
    }
  }
  return out;
}

class DeviceSamplingRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = MakeModel();
    if (path_.empty()) GTEST_SKIP() << "build llm-make-model first: " << kMakeModel;
    auto file = GgufFile::Open(path_);
    ASSERT_TRUE(file.ok()) << file.status();
    file_ = std::move(*file);
  }

  std::string path_;
  std::unique_ptr<GgufFile> file_;
};

TEST_F(DeviceSamplingRunnerTest, GreedyStepsSampleOnTheDeviceWithTheHostsTokens) {
  CpuBackend host_backend(1);
  HostSampledBackend device_backend(/*pad=*/true);
  Runner host = Load(*file_, host_backend);
  Runner device = Load(*file_, device_backend);
  ASSERT_NE(host.runner, nullptr);
  ASSERT_NE(device.runner, nullptr);
  SamplingParams greedy;
  greedy.temperature = 0.0f;
  const auto want = RunSteps(*host.runner, greedy);
  const auto got = RunSteps(*device.runner, greedy);
  EXPECT_EQ(device_backend.calls(), 6);  // every step
  // The prefill samples 3 rows; each decode step 3 rows padded to 4.
  EXPECT_EQ(device_backend.rows(), 3 + 5 * 4);
  ASSERT_EQ(got.size(), want.size());
  for (size_t s = 0; s < want.size(); ++s) {
    ASSERT_EQ(got[s].size(), 6u);
    for (size_t i = 0; i < want[s].size(); ++i) {
      EXPECT_EQ(got[s][i].token, want[s][i].token) << s << " " << i;
      EXPECT_EQ(got[s][i].logprob, 0.0f);  // as the host's greedy fast path
    }
  }
}

TEST_F(DeviceSamplingRunnerTest, StepsNeedingTheHostSamplerReadLogitsBack) {
  SamplingParams temperature;
  temperature.temperature = 0.8f;
  temperature.top_k = 40;
  SamplingParams penalised;
  penalised.temperature = 0.0f;
  penalised.repetition_penalty = 1.3f;
  SamplingParams logprobs;
  logprobs.temperature = 0.0f;
  logprobs.logprobs = 2;
  for (const SamplingParams& p : {temperature, penalised, logprobs}) {
    CpuBackend host_backend(1);
    HostSampledBackend device_backend;
    Runner host = Load(*file_, host_backend);
    Runner device = Load(*file_, device_backend);
    ASSERT_NE(device.runner, nullptr);
    const auto want = RunSteps(*host.runner, p);
    const auto got = RunSteps(*device.runner, p);
    EXPECT_EQ(device_backend.calls(), 0);
    for (size_t s = 0; s < want.size(); ++s) {
      ASSERT_EQ(got[s].size(), want[s].size());
      for (size_t i = 0; i < want[s].size(); ++i) {
        EXPECT_EQ(got[s][i].token, want[s][i].token);
        EXPECT_EQ(got[s][i].logprob, want[s][i].logprob);
        EXPECT_EQ(got[s][i].top.size(), want[s][i].top.size());
      }
    }
  }
}

// Decode steps padded to the graph buckets (3 rows -> 4) and sampled on
// the host from the logits (logprobs requested): the real rows' logits, so
// tokens, logprobs and alternatives, are the unpadded ones, and the padding
// rows wrote no KV (later steps would differ).
TEST_F(DeviceSamplingRunnerTest, PaddedDecodeStepsKeepLogitsAndKv) {
  SamplingParams p;
  p.temperature = 0.0f;
  p.logprobs = 3;
  CpuBackend host_backend(1);
  HostSampledBackend padded_backend(/*pad=*/true);
  Runner host = Load(*file_, host_backend);
  Runner padded = Load(*file_, padded_backend);
  ASSERT_NE(padded.runner, nullptr);
  const auto want = RunSteps(*host.runner, p);
  const auto got = RunSteps(*padded.runner, p);
  EXPECT_EQ(padded_backend.calls(), 0);
  for (size_t s = 0; s < want.size(); ++s) {
    ASSERT_EQ(got[s].size(), 6u);
    for (size_t i = 0; i < want[s].size(); ++i) {
      EXPECT_EQ(got[s][i].token, want[s][i].token) << s << " " << i;
      EXPECT_NEAR(got[s][i].logprob, want[s][i].logprob, 1e-5) << s << " " << i;
      ASSERT_EQ(got[s][i].top.size(), 3u);
      for (size_t k = 0; k < 3; ++k) {
        EXPECT_EQ(got[s][i].top[k].token, want[s][i].top[k].token);
      }
    }
  }
}

TEST(DecodeBucketsTest, BatchAndKeyBuckets) {
  EXPECT_EQ(DecodeBatchBucket(1), 1);
  EXPECT_EQ(DecodeBatchBucket(3), 4);
  EXPECT_EQ(DecodeBatchBucket(8), 8);
  EXPECT_EQ(DecodeBatchBucket(9), 16);  // the GEMV/GEMM boundary (8) is kept
  EXPECT_EQ(DecodeBatchBucket(200), 256);
  EXPECT_EQ(DecodeBatchBucket(257), 257);  // not captured
  EXPECT_EQ(DecodeKeyBucket(1), 512);
  EXPECT_EQ(DecodeKeyBucket(512), 512);
  EXPECT_EQ(DecodeKeyBucket(513), 1024);
  EXPECT_EQ(DecodeKeyBucket(5000), 8192);
}

}  // namespace
}  // namespace llm
