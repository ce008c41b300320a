// Tensor-parallel sharding arithmetic (worker/tensor_parallel.h): head, KV
// head and FFN ranges per rank, the slices each weight role takes, byte
// copies of quantised slices, that sharded products add up to the whole
// product, placement from StatefulSet pod names, and the refusals (a size
// that does not divide the KV heads, a CPU backend asked to shard).
#include "worker/tensor_parallel.h"

#include <cstring>
#include <random>
#include <vector>

#include "common/ggml_types.h"
#include "gtest/gtest.h"
#include "worker/backend_factory.h"
#include "worker/local_worker.h"

#if LLM_HAVE_CUDA
#include "worker/cuda_backend.h"
#endif

namespace llm {
namespace {

// SmolLM2-135M's shape: 9 query heads, 3 KV heads, head dim 64, FFN 1536.
ModelConfig Smol() {
  ModelConfig c;
  c.n_vocab = 49152;
  c.d_model = 576;
  c.n_layer = 30;
  c.n_head = 9;
  c.n_head_kv = 3;
  c.head_dim = 64;
  c.n_ff = 1536;
  c.rope_dim = 64;
  return c;
}

GgufTensor F32Tensor(int64_t rows, int64_t cols, std::vector<float>& storage) {
  storage.resize(rows * cols);
  for (size_t i = 0; i < storage.size(); ++i) storage[i] = static_cast<float>(i);
  GgufTensor t;
  t.name = "w";
  t.type = GgmlType::kF32;
  t.ne = {cols, rows};
  t.nbytes = storage.size() * sizeof(float);
  t.data = reinterpret_cast<const uint8_t*>(storage.data());
  return t;
}

TEST(TensorParallelTest, EachRankGetsItsHeadsKvHeadsAndFfnUnits) {
  auto l = PlanShards(Smol(), 1, 3);
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_EQ(l->head_begin, 3);
  EXPECT_EQ(l->n_head, 3);
  EXPECT_EQ(l->kv_head_begin, 1);
  EXPECT_EQ(l->n_head_kv, 1);
  EXPECT_EQ(l->ff_begin, 512);
  EXPECT_EQ(l->n_ff, 512);
  const ModelConfig local = LocalConfig(Smol(), *l);
  EXPECT_EQ(local.n_head, 3);
  EXPECT_EQ(local.n_head_kv, 1);
  EXPECT_EQ(local.n_ff, 512);
  EXPECT_EQ(local.d_model, 576);
  EXPECT_EQ(local.n_vocab, 49152);
  EXPECT_EQ(local.gqa_group(), Smol().gqa_group());
  EXPECT_EQ(AlibiHeadOffset(*l), 3);
}

TEST(TensorParallelTest, LocalQueryHeadsUseLocalKvHeadsUnderGqa) {
  ModelConfig c = Smol();
  c.n_head = 32;
  c.n_head_kv = 8;
  for (int size : {1, 2, 4, 8}) {
    for (int rank = 0; rank < size; ++rank) {
      auto l = PlanShards(c, rank, size);
      ASSERT_TRUE(l.ok()) << l.status();
      const ModelConfig local = LocalConfig(c, *l);
      for (int i = 0; i < l->n_head; ++i) {
        const int global_kv = (l->head_begin + i) / c.gqa_group();
        const int local_kv = i / local.gqa_group();
        EXPECT_EQ(global_kv, l->kv_head_begin + local_kv) << size << " " << rank << " " << i;
        EXPECT_LT(local_kv, l->n_head_kv);
      }
    }
  }
}

TEST(TensorParallelTest, SizeThatDoesNotDivideKvHeadsIsRefused) {
  auto l = PlanShards(Smol(), 0, 2);  // 3 KV heads
  ASSERT_EQ(l.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(l.status().message().find("3 KV heads"), std::string::npos) << l.status();
  ModelConfig c = Smol();
  c.n_ff = 1000;
  EXPECT_EQ(PlanShards(c, 0, 3).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TensorParallelTest, RankAndSizeAreValidated) {
  EXPECT_TRUE(ValidateTensorParallel(0, 1).ok());
  EXPECT_TRUE(ValidateTensorParallel(3, 4).ok());
  EXPECT_FALSE(ValidateTensorParallel(4, 4).ok());
  EXPECT_FALSE(ValidateTensorParallel(-1, 4).ok());
  EXPECT_FALSE(ValidateTensorParallel(0, 0).ok());
  EXPECT_FALSE(ValidateTensorParallel(0, kMaxTensorParallelSize + 1).ok());
}

TEST(TensorParallelTest, SlicesFollowTheWeightRole) {
  const ModelConfig c = Smol();
  auto l = PlanShards(c, 2, 3);
  ASSERT_TRUE(l.ok());
  // attn_q [576, 576]: rows of heads 6..8.
  EXPECT_EQ(SliceFor(WeightRole::kQ, c, *l, 576, 576), (MatrixSlice{384, 192, 0, 576}));
  // attn_k / attn_v [192, 576]: rows of KV head 2.
  EXPECT_EQ(SliceFor(WeightRole::kK, c, *l, 192, 576), (MatrixSlice{128, 64, 0, 576}));
  EXPECT_EQ(SliceFor(WeightRole::kV, c, *l, 192, 576), (MatrixSlice{128, 64, 0, 576}));
  // ffn_gate / ffn_up [1536, 576]: rows 1024..1535.
  EXPECT_EQ(SliceFor(WeightRole::kGate, c, *l, 1536, 576), (MatrixSlice{1024, 512, 0, 576}));
  EXPECT_EQ(SliceFor(WeightRole::kUp, c, *l, 1536, 576), (MatrixSlice{1024, 512, 0, 576}));
  // attn_output [576, 576]: input columns of heads 6..8; ffn_down [576, 1536].
  EXPECT_EQ(SliceFor(WeightRole::kAttnOutput, c, *l, 576, 576),
            (MatrixSlice{0, 576, 384, 192}));
  EXPECT_EQ(SliceFor(WeightRole::kDown, c, *l, 576, 1536), (MatrixSlice{0, 576, 1024, 512}));
  EXPECT_EQ(SliceFor(WeightRole::kReplicated, c, *l, 49152, 576),
            (MatrixSlice{0, 49152, 0, 576}));
}

TEST(TensorParallelTest, SlicesOfAllRanksTileTheMatrixOnce) {
  const ModelConfig c = Smol();
  for (WeightRole role : {WeightRole::kQ, WeightRole::kAttnOutput, WeightRole::kDown}) {
    const int64_t rows = role == WeightRole::kQ ? 576 : 576;
    const int64_t cols = role == WeightRole::kDown ? 1536 : 576;
    std::vector<int> covered(rows * cols, 0);
    for (int r = 0; r < 3; ++r) {
      auto l = PlanShards(c, r, 3);
      ASSERT_TRUE(l.ok());
      const MatrixSlice s = SliceFor(role, c, *l, rows, cols);
      for (int64_t i = s.row_begin; i < s.row_begin + s.rows; ++i) {
        for (int64_t j = s.col_begin; j < s.col_begin + s.cols; ++j) ++covered[i * cols + j];
      }
    }
    for (int v : covered) ASSERT_EQ(v, 1);
  }
}

TEST(TensorParallelTest, CopySliceOfF32TakesTheRectangle) {
  std::vector<float> storage;
  const GgufTensor t = F32Tensor(4, 8, storage);
  const MatrixSlice s{1, 2, 3, 4};
  ASSERT_TRUE(CheckSlice(t, s).ok());
  const std::vector<uint8_t> bytes = CopySlice(t, s);
  ASSERT_EQ(bytes.size(), 2u * 4 * sizeof(float));
  std::vector<float> got(8);
  std::memcpy(got.data(), bytes.data(), bytes.size());
  EXPECT_EQ(got, (std::vector<float>{11, 12, 13, 14, 19, 20, 21, 22}));
  const GgufTensor view = SliceView(t, s, bytes);
  EXPECT_EQ(view.ne, (std::vector<int64_t>{4, 2}));
  EXPECT_EQ(view.rows(), 2);
  EXPECT_EQ(view.row_bytes(), 16u);
}

TEST(TensorParallelTest, CopySliceOfQ8_0KeepsWholeBlocks) {
  // 2 rows x 96 columns of Q8_0: 3 blocks of 34 bytes per row.
  const GgmlTypeInfo& q8 = GetGgmlTypeInfo(GgmlType::kQ8_0);
  ASSERT_EQ(q8.block_size, 32);
  std::vector<uint8_t> data(2 * 3 * q8.type_size);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i);
  GgufTensor t;
  t.name = "blk.0.ffn_down.weight";
  t.type = GgmlType::kQ8_0;
  t.ne = {96, 2};
  t.nbytes = data.size();
  t.data = data.data();
  const MatrixSlice s{0, 2, 32, 64};
  ASSERT_TRUE(CheckSlice(t, s).ok());
  const std::vector<uint8_t> bytes = CopySlice(t, s);
  ASSERT_EQ(bytes.size(), 2u * 2 * q8.type_size);
  for (int r = 0; r < 2; ++r) {
    for (int b = 0; b < 2 * q8.type_size; ++b) {
      ASSERT_EQ(bytes[r * 2 * q8.type_size + b], data[r * 3 * q8.type_size + q8.type_size + b]);
    }
  }
  // A slice that cuts a 32-element block is refused, naming the tensor.
  const absl::Status cut = CheckSlice(t, MatrixSlice{0, 2, 16, 48});
  EXPECT_EQ(cut.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(cut.message().find("ffn_down"), std::string::npos) << cut;
  EXPECT_FALSE(CheckSlice(t, MatrixSlice{0, 3, 0, 96}).ok());  // outside
}

// Megatron's identity: column-parallel slices concatenate to the whole
// product, row-parallel partial products add up to it.
TEST(TensorParallelTest, ShardedProductsAddUpToTheWholeProduct) {
  ModelConfig c = Smol();
  c.n_head = 4;
  c.n_head_kv = 2;
  c.head_dim = 8;
  c.d_model = 32;
  c.n_ff = 64;
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> w_storage;
  GgufTensor down = F32Tensor(c.d_model, c.n_ff, w_storage);
  for (float& v : w_storage) v = u(rng);
  std::vector<float> x(c.n_ff);
  for (float& v : x) v = u(rng);
  std::vector<double> whole(c.d_model, 0), sum(c.d_model, 0);
  for (int i = 0; i < c.d_model; ++i) {
    for (int j = 0; j < c.n_ff; ++j) whole[i] += double{w_storage[i * c.n_ff + j]} * x[j];
  }
  for (int r = 0; r < 2; ++r) {
    auto l = PlanShards(c, r, 2);
    ASSERT_TRUE(l.ok());
    const MatrixSlice s = SliceFor(WeightRole::kDown, c, *l, c.d_model, c.n_ff);
    const std::vector<uint8_t> bytes = CopySlice(down, s);
    const float* w = reinterpret_cast<const float*>(bytes.data());
    for (int i = 0; i < c.d_model; ++i) {
      for (int j = 0; j < s.cols; ++j) sum[i] += double{w[i * s.cols + j]} * x[s.col_begin + j];
    }
  }
  for (int i = 0; i < c.d_model; ++i) EXPECT_NEAR(sum[i], whole[i], 1e-9) << i;
}

TEST(TensorParallelTest, StatefulSetOrdinalIsTheTrailingNumber) {
  EXPECT_EQ(*StatefulSetOrdinal("llm-llm-cluster-worker-0"), 0);
  EXPECT_EQ(*StatefulSetOrdinal("llm-llm-cluster-worker-13"), 13);
  EXPECT_FALSE(StatefulSetOrdinal("worker").ok());
  EXPECT_FALSE(StatefulSetOrdinal("worker7").ok());
  EXPECT_FALSE(StatefulSetOrdinal("").ok());
  EXPECT_FALSE(StatefulSetOrdinal("-").ok());
}

TEST(TensorParallelTest, PlacementFromPodNameFindsRankAndRoot) {
  const std::string root = "w-{root_ordinal}.w-headless.ns.svc.cluster.local:50061";
  auto p = ResolveTpPlacement(-1, 2, root, "w-5");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->rank, 1);
  EXPECT_EQ(p->root, "w-4.w-headless.ns.svc.cluster.local:50061");
  p = ResolveTpPlacement(-1, 4, root, "w-7");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->rank, 3);
  EXPECT_EQ(p->root, "w-4.w-headless.ns.svc.cluster.local:50061");
  p = ResolveTpPlacement(-1, 2, root, "w-4");  // rank 0 needs no root
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->rank, 0);
  EXPECT_EQ(p->root, "");
  p = ResolveTpPlacement(2, 3, "10.0.0.1:50061", "laptop");  // explicit
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->rank, 2);
  EXPECT_EQ(p->root, "10.0.0.1:50061");
  p = ResolveTpPlacement(-1, 1, "", "anything");  // no group
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->rank, 0);
}

TEST(TensorParallelTest, PlacementRefusesMissingRootOrOrdinal) {
  EXPECT_EQ(ResolveTpPlacement(1, 2, "", "w-1").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ResolveTpPlacement(-1, 2, "r:1", "laptop").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ResolveTpPlacement(5, 2, "r:1", "w-5").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(TensorParallelTest, CpuBackendCannotBeATensorParallelRank) {
  BackendChoice choice;
  choice.backend = "cpu";
  choice.cpu_threads = 1;
  choice.tp_rank = 0;
  choice.tp_size = 2;
  auto b = CreateBackend(choice);
  ASSERT_EQ(b.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(b.status().message().find("CUDA"), std::string::npos) << b.status();
}

TEST(TensorParallelTest, AutoWithoutDeviceDoesNotFallBackForAGroup) {
#if LLM_HAVE_CUDA
  if (CudaDeviceCount().ok()) GTEST_SKIP() << "a CUDA device is present";
#endif
  BackendChoice choice;
  choice.backend = "auto";
  choice.cpu_threads = 1;
  choice.tp_rank = 1;
  choice.tp_size = 2;
  auto b = CreateBackend(choice);
  ASSERT_EQ(b.status().code(), absl::StatusCode::kFailedPrecondition) << b.status();
  EXPECT_NE(b.status().message().find("--tp-size 2"), std::string::npos) << b.status();
}

TEST(TensorParallelTest, WorkerOptionsRefuseBadRanksAndDraftModels) {
  WorkerOptions o;
  o.model_path = "m.gguf";
  o.tp_size = 2;
  o.tp_rank = 2;
  EXPECT_EQ(o.Validate().code(), absl::StatusCode::kInvalidArgument);
  o.tp_rank = 1;
  EXPECT_TRUE(o.Validate().ok());
  o.draft_model_path = "d.gguf";
  EXPECT_EQ(o.Validate().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TensorParallelTest, BackendsOutsideAGroupHaveNoIdAndJoinTrivially) {
  BackendChoice choice;
  choice.backend = "cpu";
  choice.cpu_threads = 1;
  auto b = CreateBackend(choice);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ((*b)->tp_size(), 1);
  EXPECT_EQ(NewTensorParallelId(**b).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(JoinTensorParallel(**b, "").ok());
}

}  // namespace
}  // namespace llm
