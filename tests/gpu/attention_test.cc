// GPU paged attention (kernels/cuda/attention.cuh) against the float64
// reference on random inputs: decode with split partitions, tiled prefill,
// ragged batches, scattered block tables, GQA ratios, head sizes, ALiBi.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "tests/gpu/gpu_test_util.h"

#if !LLM_HAVE_CUDA
TEST(CudaAttentionTest, SkipsWithoutCuda) {
  GTEST_SKIP() << "no CUDA device: this build has no CUDA (LLM_CUDA=OFF or no toolkit)";
}
#else

#include "common/fp16.h"
#include "kernels/cuda/attention.cuh"
#include "kernels/cuda/attention_tc.cuh"
#include "kernels/cuda/paged_index.cuh"
#include "kernels/reference/attention_reference.h"
#include "kernels/reference/elementwise_reference.h"

namespace llm {
namespace {

using gputest::AllClose;
using gputest::DeviceArray;

struct SeqShape {
  int num_queries;
  int context_len;
};

struct Case {
  int n_head;
  int n_kv_heads;
  int head_dim;
  int block_size;
  bool alibi;
  std::vector<SeqShape> seqs;
};

// kPrefillTc: the tensor-core prefill (attention_tc.cuh), bf16 operands.
enum class Path { kDecode, kPrefill, kPrefillTc };

// Fills a paged cache with random fp16 K/V at scattered physical blocks,
// runs the chosen kernel for the whole batch and compares every row with
// reference::Attention over the same (fp16-rounded) keys and values.
// Tolerance rtol = atol = 1e-3 (STYLE.md, fp16 data with fp32 accumulation);
// the only differences from the float64 reference are fp32 rounding in dots,
// exp and sums.
void RunCase(const Case& c, Path path, uint32_t seed) {
  const int hd = c.head_dim;
  std::mt19937 rng(seed);
  int total_blocks = 0;
  for (const SeqShape& s : c.seqs) total_blocks += cuda::CeilDiv(s.context_len, c.block_size);
  const int num_blocks = total_blocks + 7;  // spare blocks stay unread
  std::vector<int32_t> perm(num_blocks);
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), rng);

  const int64_t cache_elems = int64_t{num_blocks} * c.block_size * c.n_kv_heads * hd;
  std::vector<float> kf = gputest::RandomFloats(cache_elems, seed + 1);
  std::vector<float> vf = gputest::RandomFloats(cache_elems, seed + 2);
  std::vector<uint16_t> kh(cache_elems), vh(cache_elems);
  for (int64_t i = 0; i < cache_elems; ++i) {
    kh[i] = FloatToFp16(kf[i]);
    vh[i] = FloatToFp16(vf[i]);
  }

  std::vector<int32_t> tables;
  std::vector<int> table_offset;
  int rows = 0, next_block = 0;
  for (const SeqShape& s : c.seqs) {
    table_offset.push_back(static_cast<int>(tables.size()));
    for (int b = 0; b < cuda::CeilDiv(s.context_len, c.block_size); ++b) {
      tables.push_back(perm[next_block++]);
    }
    rows += s.num_queries;
  }
  const std::vector<float> q = gputest::RandomFloats(int64_t{rows} * c.n_head * hd, seed + 3);

  std::vector<float> slopes(c.n_head, 0.0f);
  if (c.alibi) {
    std::vector<double> s(c.n_head);
    kernels::reference::AlibiSlopes(c.n_head, 8.0, s.data());
    for (int h = 0; h < c.n_head; ++h) slopes[h] = static_cast<float>(s[h]);
  }

  DeviceArray<uint16_t> dk(kh), dv(vh);
  DeviceArray<int32_t> dtables(tables);
  DeviceArray<float> dq(q), dslopes(slopes);
  DeviceArray<float> dout(q.size());
  dout.Poison();

  cuda::DeviceAttentionParams p;
  p.n_head = c.n_head;
  p.n_kv_heads = c.n_kv_heads;
  p.head_dim = hd;
  p.scale = 1.0f / std::sqrt(static_cast<float>(hd));
  p.alibi_slopes = c.alibi ? dslopes.get() : nullptr;
  cuda::DeviceKvLayer kv{dk.get(), dv.get(), c.block_size, c.n_kv_heads, hd};

  int query_start = 0;
  if (path == Path::kDecode) {
    std::vector<cuda::DecodeRow> drows;
    int max_keys = 0;
    for (size_t i = 0; i < c.seqs.size(); ++i) {
      for (int j = 0; j < c.seqs[i].num_queries; ++j) {
        cuda::DecodeRow r;
        r.row = query_start + j;
        r.position = cuda::QueryPosition(c.seqs[i].context_len, c.seqs[i].num_queries, j);
        r.table_offset = table_offset[i];
        drows.push_back(r);
        max_keys = std::max(max_keys, r.position + 1);
      }
      query_start += c.seqs[i].num_queries;
    }
    DeviceArray<cuda::DecodeRow> ddrows(drows);
    DeviceArray<float> ws(std::max<int64_t>(
        1, cuda::DecodeWorkspaceFloats(static_cast<int>(drows.size()), c.n_head, hd, max_keys)));
    ws.Poison();
    ASSERT_EQ(cuda::LaunchPagedDecodeAttention(p, kv, ddrows.get(),
                                               static_cast<int>(drows.size()), max_keys,
                                               dtables.get(), dq.get(), ws.get(),
                                               dout.get(), nullptr),
              cudaSuccess);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  } else {
    std::vector<cuda::PrefillTile> tiles;
    for (size_t i = 0; i < c.seqs.size(); ++i) {
      for (int t = 0; t < cuda::NumPrefillTiles(c.seqs[i].num_queries); ++t) {
        cuda::PrefillTile tile;
        tile.query_start = query_start;
        tile.num_queries = c.seqs[i].num_queries;
        tile.context_len = c.seqs[i].context_len;
        tile.q_begin = t * cuda::kPrefillTileQ;
        tile.table_offset = table_offset[i];
        tiles.push_back(tile);
      }
      query_start += c.seqs[i].num_queries;
    }
    DeviceArray<cuda::PrefillTile> dtiles(tiles);
    const auto launch = path == Path::kPrefillTc ? cuda::LaunchPagedPrefillAttentionTc
                                                 : cuda::LaunchPagedPrefillAttention;
    ASSERT_EQ(launch(p, kv, dtiles.get(), static_cast<int>(tiles.size()), dtables.get(),
                     dq.get(), dout.get(), nullptr),
              cudaSuccess);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  }
  const std::vector<float> got = dout.Download();

  // Reference: gather each sequence's K/V contiguously (as fp16-rounded
  // floats) and run the float64 oracle.
  std::vector<double> want(q.size());
  query_start = 0;
  for (size_t i = 0; i < c.seqs.size(); ++i) {
    const SeqShape& s = c.seqs[i];
    const int kvd = c.n_kv_heads * hd;
    std::vector<float> kc(int64_t{s.context_len} * kvd), vc(kc.size());
    for (int pos = 0; pos < s.context_len; ++pos) {
      const int64_t slot = cuda::PagedSlot(tables.data() + table_offset[i], pos, c.block_size);
      for (int e = 0; e < kvd; ++e) {
        kc[int64_t{pos} * kvd + e] = Fp16ToFloat(kh[slot * kvd + e]);
        vc[int64_t{pos} * kvd + e] = Fp16ToFloat(vh[slot * kvd + e]);
      }
    }
    kernels::reference::Attention(q.data() + int64_t{query_start} * c.n_head * hd,
                                  kc.data(), vc.data(), s.num_queries, s.context_len,
                                  c.n_head, c.n_kv_heads, hd, 1.0 / std::sqrt(double(hd)),
                                  c.alibi ? slopes.data() : nullptr,
                                  want.data() + int64_t{query_start} * c.n_head * hd);
    query_start += s.num_queries;
  }
  // bf16 Q, K, P and V (8-bit mantissa, 2^-9 relative rounding each) on the
  // tensor-core path: a few 1e-3 of O's scale; 2e-2 leaves a margin.
  const double tol = path == Path::kPrefillTc ? 2e-2 : 1e-3;
  EXPECT_TRUE(AllClose(got, want, tol, tol));
}

class CudaAttentionTest : public ::testing::Test {
 protected:
  void SetUp() override { LLM_REQUIRE_CUDA_DEVICE(); }
};

TEST_F(CudaAttentionTest, DecodeMatchesReferenceAcrossPartitionBoundaries) {
  // Contexts around kDecodePartitionSize (512): 1, 511, 512, 513 and three
  // partitions; block size 16 with a ragged last block.
  Case c{8, 8, 128, 16, false, {{1, 1}, {1, 37}, {1, 511}, {1, 512}, {1, 513}, {1, 1300}}};
  RunCase(c, Path::kDecode, 11);
}

TEST_F(CudaAttentionTest, DecodeMatchesReferenceWithGqaAndHeadDim64) {
  // SmolLM2's shape: 9 query heads over 3 KV heads, head_dim 64.
  Case c{9, 3, 64, 16, false, {{1, 100}, {1, 2100}, {1, 17}}};
  RunCase(c, Path::kDecode, 12);
}

TEST_F(CudaAttentionTest, DecodeHandlesSeveralRowsPerSequenceAndOddHeadDim) {
  // Speculative-style rows (3 queries) and head_dim 96, block size 7.
  Case c{4, 1, 96, 7, false, {{3, 40}, {2, 600}}};
  RunCase(c, Path::kDecode, 13);
}

TEST_F(CudaAttentionTest, DecodeAppliesAlibi) {
  Case c{6, 6, 64, 16, true, {{1, 90}, {1, 700}}};
  RunCase(c, Path::kDecode, 14);
}

TEST_F(CudaAttentionTest, PrefillMatchesReferenceOnRaggedCausalBatch) {
  // Chunks not multiples of the 16-row / 32-key tiles; one chunked prefill
  // (20 queries at the end of a 100-token context).
  Case c{8, 2, 128, 16, false, {{37, 37}, {20, 100}, {5, 5}, {64, 64}}};
  RunCase(c, Path::kPrefill, 21);
}

TEST_F(CudaAttentionTest, PrefillMatchesReferenceWithHeadDim64AndGqa3) {
  Case c{9, 3, 64, 16, false, {{45, 45}, {17, 300}}};
  RunCase(c, Path::kPrefill, 22);
}

TEST_F(CudaAttentionTest, PrefillAppliesAlibiWithOddBlockSize) {
  Case c{5, 5, 64, 5, true, {{33, 33}, {70, 81}}};
  RunCase(c, Path::kPrefill, 23);
}

TEST_F(CudaAttentionTest, TensorCorePrefillMatchesReferenceOnRaggedCausalBatch) {
  Case c{8, 2, 128, 16, false, {{37, 37}, {20, 100}, {5, 5}, {64, 64}}};
  RunCase(c, Path::kPrefillTc, 31);
}

TEST_F(CudaAttentionTest, TensorCorePrefillMatchesReferenceWithHeadDim64AndAlibi) {
  Case c{9, 3, 64, 16, false, {{45, 45}, {17, 300}}};
  RunCase(c, Path::kPrefillTc, 32);
  Case a{5, 5, 64, 5, true, {{33, 33}, {70, 81}}};
  RunCase(a, Path::kPrefillTc, 33);
}

}  // namespace
}  // namespace llm

#endif  // LLM_HAVE_CUDA
