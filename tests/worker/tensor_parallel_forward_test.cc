// The tensor-parallel forward pass on the CPU: LlamaModel on T emulated
// ranks (each a CpuBackend holding its shard, all-reducing through an
// in-process hub on T threads) against the same model on one backend. This
// runs the sharding of worker/tensor_parallel.h and the all-reduce
// placement of LlamaModel::Forward for real; only NCCL is replaced (the
// CUDA backend's ncclAllReduce has never run here: no GPU).
#include <sys/wait.h>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <memory>
#include <mutex>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/gguf.h"
#include "gtest/gtest.h"
#include "tests/worker/delegating_backend.h"
#include "worker/cpu_backend.h"
#include "worker/llama_model.h"
#include "worker/tensor_parallel.h"

namespace llm {
namespace {

constexpr char kMakeModel[] = LLM_BINARY_DIR "/bin/llm-make-model";

// Sums buffers across `size` threads (rank order, in double), like an
// all-reduce: every rank gets the same bits.
class AllReduceHub {
 public:
  explicit AllReduceHub(int size) : size_(size), buffers_(size) {}

  void Sum(int rank, float* x, int64_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    buffers_[rank] = x;
    const uint64_t generation = generation_;
    if (++arrived_ < size_) {
      cv_.wait(lock, [&] { return generation_ != generation; });
      return;
    }
    std::vector<double> acc(n, 0.0);
    for (int r = 0; r < size_; ++r) {
      for (int64_t i = 0; i < n; ++i) acc[i] += buffers_[r][i];
    }
    for (int r = 0; r < size_; ++r) {
      for (int64_t i = 0; i < n; ++i) buffers_[r][i] = static_cast<float>(acc[i]);
    }
    arrived_ = 0;
    ++generation_;
    cv_.notify_all();
  }

 private:
  const int size_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<float*> buffers_;
  int arrived_ = 0;
  uint64_t generation_ = 0;
};

// One emulated rank: a CpuBackend that holds shards and all-reduces
// through the hub.
class EmulatedRank final : public testing::DelegatingBackend {
 public:
  EmulatedRank(int rank, int size, AllReduceHub& hub)
      : DelegatingBackend(cpu_), rank_(rank), size_(size), hub_(hub) {}

  int tp_rank() const override { return rank_; }
  int tp_size() const override { return size_; }
  absl::StatusOr<WeightId> UploadMatrixSlice(const GgufTensor& tensor,
                                             const MatrixSlice& slice) override {
    ++slices_;
    // The CPU backend may keep pointers into the bytes: keep them alive.
    shards_.push_back(CopySlice(tensor, slice));
    return cpu_.UploadMatrix(SliceView(tensor, slice, shards_.back()));
  }
  void AllReduceSum(float* x, int64_t floats) override {
    ++all_reduces_;
    hub_.Sum(rank_, x, floats);
  }

  int slices() const { return slices_; }
  int all_reduces() const { return all_reduces_; }

 private:
  CpuBackend cpu_{1};  // constructed before use: the base only stores a reference
  const int rank_, size_;
  AllReduceHub& hub_;
  std::deque<std::vector<uint8_t>> shards_;
  int slices_ = 0;
  int all_reduces_ = 0;
};

std::string MakeModel(const std::string& name, const std::string& shape) {
  const std::string path = ::testing::TempDir() + "/" + name + ".gguf";
  const std::string cmd =
      std::string(kMakeModel) + " --out " + path + " " + shape + " >/dev/null 2>&1";
  const int rc = std::system(cmd.c_str());
  if (!WIFEXITED(rc) || WEXITSTATUS(rc) != 0) return "";
  return path;
}

KvCacheShape Shape(const ModelConfig& local, int blocks) {
  KvCacheShape s;
  s.n_layer = local.n_layer;
  s.n_kv_heads = local.n_head_kv;
  s.head_dim = local.head_dim;
  s.block_size = 16;
  s.num_blocks = blocks;
  return s;
}

// A prompt of 20 tokens as one prefill (scattered blocks), then 3 decode
// steps; the sharded group's logits must match the unsharded model's and be
// bitwise equal across ranks (they sample from them independently).
void CompareGroupWithSingleBackend(const std::string& path, int tp_size) {
  auto file = GgufFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  constexpr int kBlocks = 8;
  CpuBackend single_backend(1);
  auto single = LlamaModel::Load(**file, single_backend);
  ASSERT_TRUE(single.ok()) << single.status();
  ASSERT_TRUE(single_backend.AllocateKvCache(Shape((*single)->config(), kBlocks)).ok());
  const ModelConfig& c = (*single)->config();

  AllReduceHub hub(tp_size);
  std::vector<std::unique_ptr<EmulatedRank>> ranks;
  std::vector<std::unique_ptr<LlamaModel>> models;
  for (int r = 0; r < tp_size; ++r) {
    ranks.push_back(std::make_unique<EmulatedRank>(r, tp_size, hub));
    auto m = LlamaModel::Load(**file, *ranks.back());
    ASSERT_TRUE(m.ok()) << m.status();
    // 7 sharded matrices per layer; each rank caches its KV heads only.
    EXPECT_EQ(ranks.back()->slices(), 7 * c.n_layer);
    EXPECT_EQ((*m)->local_config().n_head, c.n_head / tp_size);
    EXPECT_EQ((*m)->local_config().n_head_kv, c.n_head_kv / tp_size);
    ASSERT_TRUE(ranks.back()->AllocateKvCache(Shape((*m)->local_config(), kBlocks)).ok());
    models.push_back(std::move(*m));
  }

  std::vector<int32_t> table = {5, 2, 7, 0, 3};
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> tok(0, c.n_vocab - 1);
  std::vector<int32_t> tokens(23);
  for (int32_t& t : tokens) t = tok(rng);
  int computed = 0;
  for (int step = 0; step < 4; ++step) {
    ForwardBatch batch;
    const int n = step == 0 ? 20 : 1;
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
    s.block_table = absl::MakeConstSpan(table.data(), (s.context_len + 15) / 16);
    batch.seqs.push_back(s);
    batch.logit_rows.push_back(n - 1);
    computed += n;

    std::vector<float> want(c.n_vocab);
    ASSERT_TRUE((*single)->Forward(batch, want.data()).ok());
    std::vector<std::vector<float>> got(tp_size, std::vector<float>(c.n_vocab, -1e30f));
    std::vector<absl::Status> status(tp_size);
    std::vector<std::thread> threads;
    for (int r = 0; r < tp_size; ++r) {
      threads.emplace_back([&, r] { status[r] = models[r]->Forward(batch, got[r].data()); });
    }
    for (std::thread& t : threads) t.join();
    for (int r = 0; r < tp_size; ++r) ASSERT_TRUE(status[r].ok()) << r << ": " << status[r];
    for (int r = 1; r < tp_size; ++r) {
      ASSERT_EQ(got[r], got[0]) << "rank " << r << " computed other logits, step " << step;
    }
    const auto [lo, hi] = std::minmax_element(want.begin(), want.end());
    const float tol = 1e-3f * (*hi - *lo);
    for (int v = 0; v < c.n_vocab; ++v) {
      ASSERT_NEAR(got[0][v], want[v], tol) << "token " << v << ", step " << step;
    }
    EXPECT_EQ(std::max_element(got[0].begin(), got[0].end()) - got[0].begin(),
              std::max_element(want.begin(), want.end()) - want.begin())
        << "step " << step;
  }
  // Two all-reduces per layer per step (after attn_output and ffn_down).
  for (const auto& rank : ranks) EXPECT_EQ(rank->all_reduces(), 2 * c.n_layer * 4);
}

TEST(TensorParallelForwardTest, TwoRanksMatchOneBackendWithGqa) {
  const std::string path = MakeModel(
      "tp2", "--d-model 128 --n-layer 2 --n-head 4 --n-head-kv 2 --n-ff 256 "
             "--n-vocab 300 --type Q8_0 --embedding-type Q8_0 --context-length 256");
  if (path.empty()) GTEST_SKIP() << "build llm-make-model first: " << kMakeModel;
  CompareGroupWithSingleBackend(path, 2);
}

TEST(TensorParallelForwardTest, FourRanksOfOneKvHeadEachMatchOneBackend) {
  const std::string path = MakeModel(
      "tp4", "--d-model 256 --n-layer 2 --n-head 8 --n-head-kv 4 --n-ff 512 "
             "--n-vocab 300 --type Q4_1 --embedding-type Q8_0 --context-length 256");
  if (path.empty()) GTEST_SKIP() << "build llm-make-model first: " << kMakeModel;
  CompareGroupWithSingleBackend(path, 4);
}

TEST(TensorParallelForwardTest, ShardWidthThatCutsAQuantBlockIsRefusedAtLoad) {
  // n_ff 96 over 2 ranks = 48 columns of ffn_down: not whole Q8_0 blocks.
  const std::string path = MakeModel(
      "tp_cut", "--d-model 64 --n-layer 1 --n-head 2 --n-head-kv 2 --n-ff 96 "
                "--n-vocab 300 --type Q8_0 --embedding-type Q8_0 --context-length 64");
  if (path.empty()) GTEST_SKIP() << "build llm-make-model first: " << kMakeModel;
  auto file = GgufFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  AllReduceHub hub(2);
  EmulatedRank rank(0, 2, hub);
  auto m = LlamaModel::Load(**file, rank);
  ASSERT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(m.status().message().find("ffn_down"), std::string::npos) << m.status();
}

}  // namespace
}  // namespace llm
