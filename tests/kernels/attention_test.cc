// Tests of kernels/cpu/attention.h against the float64 reference
// (kernels/reference/attention_reference.h).
//
// Tolerance: K/V are stored as fp16, and the reference is fed exactly those
// fp16 values (gathered back from the cache), so the only differences left
// are f32 rounding in the kernel (dot products of <= 128 terms, the
// polynomial exp, online-softmax rescaling, the split-KV merge): observed
// NMSE ~1e-14 (max abs error ~1e-7). kMaxNmse = 1e-10 leaves 10^4 headroom
// for that and still fails on a single fp16 rounding of scores or
// probabilities anywhere in the path (relative ~5e-4, NMSE ~1e-7), on any
// wrong or missing key, and on NaN (poisoned output buffers).
#include "kernels/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "common/fp16.h"
#include "common/thread_pool.h"
#include "gtest/gtest.h"
#include "kernels/cpu/cpu_isa_select.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/reference/attention_reference.h"

namespace llm::kernels {
namespace {

constexpr double kMaxNmse = 1e-10;

struct SeqSpec {
  int num_queries;
  int context_len;
};

struct Shape {
  int n_head;
  int n_kv_heads;
  int head_dim;
  int block_size;
  bool alibi;
};

std::string Describe(const Shape& s) {
  return "heads=" + std::to_string(s.n_head) + "/" + std::to_string(s.n_kv_heads) +
         " d=" + std::to_string(s.head_dim) + " B=" + std::to_string(s.block_size) +
         (s.alibi ? " alibi" : "");
}

// Uniform in [-1, 1], never exactly zero (a zero hides unwritten values).
float RandomNonZero(std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (;;) {
    const float x = dist(rng);
    if (x != 0.0f) return x;
  }
}

// A layer's paged cache filled with random fp16, the sequences' block tables
// drawn from a shuffled set of physical blocks (plus spare blocks that no
// table references), and random queries.
class PagedCase {
 public:
  PagedCase(const Shape& shape, std::vector<SeqSpec> specs, uint32_t seed)
      : shape_(shape), specs_(std::move(specs)) {
    std::mt19937 rng(seed);
    int blocks = 4;  // spares
    for (const SeqSpec& s : specs_) {
      blocks += (s.context_len + shape.block_size - 1) / shape.block_size;
    }
    std::vector<int32_t> ids(blocks);
    std::iota(ids.begin(), ids.end(), 0);
    std::shuffle(ids.begin(), ids.end(), rng);
    const int64_t pool_elems = static_cast<int64_t>(blocks) * shape.block_size *
                               shape.n_kv_heads * shape.head_dim;
    k_.resize(pool_elems);
    v_.resize(pool_elems);
    for (auto& x : k_) x = FloatToFp16(RandomNonZero(rng));
    for (auto& x : v_) x = FloatToFp16(RandomNonZero(rng));
    cache_.k = k_.data();
    cache_.v = v_.data();
    cache_.num_blocks = blocks;
    cache_.block_size = shape.block_size;
    cache_.n_kv_heads = shape.n_kv_heads;
    cache_.head_dim = shape.head_dim;
    int next_block = 0;
    int rows = 0;
    tables_.resize(specs_.size());
    for (size_t i = 0; i < specs_.size(); ++i) {
      const int n = (specs_[i].context_len + shape.block_size - 1) / shape.block_size;
      tables_[i].assign(ids.begin() + next_block, ids.begin() + next_block + n);
      next_block += n;
      AttentionSequence seq;
      seq.query_start = rows;
      seq.num_queries = specs_[i].num_queries;
      seq.context_len = specs_[i].context_len;
      seq.block_table = tables_[i].data();
      seqs_.push_back(seq);
      rows += specs_[i].num_queries;
    }
    rows_ = rows;
    q_.resize(static_cast<size_t>(rows) * row_width());
    for (auto& x : q_) x = RandomNonZero(rng);
    if (shape.alibi) {
      slopes_.resize(shape.n_head);
      AlibiSlopes(shape.n_head, 8.0f, slopes_.data());
    }
    params_.n_head = shape.n_head;
    params_.n_kv_heads = shape.n_kv_heads;
    params_.head_dim = shape.head_dim;
    params_.scale = 1.0f / std::sqrt(static_cast<float>(shape.head_dim));
    params_.alibi_slopes = shape.alibi ? slopes_.data() : nullptr;
  }

  int64_t row_width() const {
    return static_cast<int64_t>(shape_.n_head) * shape_.head_dim;
  }
  const std::vector<AttentionSequence>& seqs() const { return seqs_; }
  const std::vector<float>& q() const { return q_; }

  // Output rows, NaN-poisoned before the call so unwritten rows show.
  std::vector<float> Run(int threads) const {
    ThreadPool pool(threads);
    std::vector<float> out(q_.size(), std::nanf(""));
    PagedAttention(pool, params_, cache_, seqs_, q_.data(), out.data());
    return out;
  }

  // Sequence i run on its own (rows rebased to 0, q copied), NaN-poisoned.
  std::vector<float> RunOne(size_t i, int threads) const {
    ThreadPool pool(threads);
    AttentionSequence seq = seqs_[i];
    const float* q = q_.data() + seq.query_start * row_width();
    std::vector<float> q_alone(q, q + seq.num_queries * row_width());
    seq.query_start = 0;
    std::vector<float> out(q_alone.size(), std::nanf(""));
    PagedAttention(pool, params_, cache_, absl::MakeConstSpan(&seq, 1),
                   q_alone.data(), out.data());
    return out;
  }

  // An arbitrary sequence over this case's cache and q rows; the output has
  // the full case's rows, NaN where the sequence writes nothing.
  std::vector<float> RunSequence(const AttentionSequence& seq, int threads) const {
    ThreadPool pool(threads);
    std::vector<float> out(q_.size(), std::nanf(""));
    PagedAttention(pool, params_, cache_, absl::MakeConstSpan(&seq, 1),
                   q_.data(), out.data());
    return out;
  }

  // Reference rows of sequence i (computed once).
  const std::vector<double>& Reference(size_t i) const {
    if (refs_.empty()) refs_.resize(specs_.size());
    if (refs_[i].empty()) refs_[i] = ComputeReference(i);
    return refs_[i];
  }

  std::vector<double> ComputeReference(size_t i) const {
    const SeqSpec& s = specs_[i];
    const int64_t kv_row = static_cast<int64_t>(shape_.n_kv_heads) * shape_.head_dim;
    std::vector<float> k(s.context_len * kv_row), v(s.context_len * kv_row);
    for (int t = 0; t < s.context_len; ++t) {
      const int64_t slot =
          static_cast<int64_t>(tables_[i][t / shape_.block_size]) * shape_.block_size +
          t % shape_.block_size;
      for (int64_t e = 0; e < kv_row; ++e) {
        k[t * kv_row + e] = Fp16ToFloat(k_[slot * kv_row + e]);
        v[t * kv_row + e] = Fp16ToFloat(v_[slot * kv_row + e]);
      }
    }
    std::vector<double> out(static_cast<size_t>(s.num_queries) * row_width());
    reference::Attention(q_.data() + seqs_[i].query_start * row_width(), k.data(),
                         v.data(), s.num_queries, s.context_len, shape_.n_head,
                         shape_.n_kv_heads, shape_.head_dim, params_.scale,
                         params_.alibi_slopes, out.data());
    return out;
  }

  // Checks every sequence's rows of `out` against the reference.
  void ExpectMatchesReference(const std::vector<float>& out,
                              const std::string& what) const {
    for (size_t i = 0; i < specs_.size(); ++i) {
      const std::vector<double>& ref = Reference(i);
      const float* got = out.data() + seqs_[i].query_start * row_width();
      double err = 0.0, norm = 0.0, worst = 0.0;
      int64_t bad = 0;
      for (size_t e = 0; e < ref.size(); ++e) {
        if (!std::isfinite(got[e])) ++bad;
        const double d = got[e] - ref[e];
        err += d * d;
        norm += ref[e] * ref[e];
        worst = std::max(worst, std::abs(d));
      }
      EXPECT_EQ(bad, 0) << what << " seq " << i << ": non-finite outputs";
      EXPECT_LE(err / norm, kMaxNmse)
          << what << " seq " << i << " (queries " << specs_[i].num_queries
          << ", context " << specs_[i].context_len << ") max abs err " << worst;
    }
  }

 private:
  Shape shape_;
  std::vector<SeqSpec> specs_;
  std::vector<uint16_t> k_, v_;
  PagedKvCache cache_;
  std::vector<std::vector<int32_t>> tables_;
  std::vector<AttentionSequence> seqs_;
  std::vector<float> q_;
  std::vector<float> slopes_;
  AttentionParams params_;
  int rows_ = 0;
  mutable std::vector<std::vector<double>> refs_;
};

const AttentionIsa kIsas[] = {AttentionIsa::kScalar, AttentionIsa::kAvx2,
                              AttentionIsa::kAvx512};

std::string IsaName(AttentionIsa isa) {
  switch (isa) {
    case AttentionIsa::kScalar: return "scalar";
    case AttentionIsa::kAvx2: return "avx2";
    case AttentionIsa::kAvx512: return "avx512";
    default: return "auto";
  }
}

class PagedAttentionTest : public ::testing::Test {
 protected:
  void TearDown() override { SetAttentionIsaForTesting(AttentionIsa::kAuto); }

  // Every ISA the CPU runs, 1, 2 and 3 threads: each matches the reference,
  // and the thread counts agree bit for bit.
  void CheckAllIsas(const PagedCase& c, const std::string& what) {
    for (AttentionIsa isa : kIsas) {
      if (!SetAttentionIsaForTesting(isa)) continue;
      const std::string name = what + " [" + IsaName(isa) + "]";
      const std::vector<float> one = c.Run(1);
      const std::vector<float> two = c.Run(2);
      const std::vector<float> three = c.Run(3);
      c.ExpectMatchesReference(one, name);
      EXPECT_EQ(std::memcmp(one.data(), two.data(), one.size() * sizeof(float)), 0)
          << name << ": 1 and 2 threads differ";
      EXPECT_EQ(std::memcmp(one.data(), three.data(), one.size() * sizeof(float)), 0)
          << name << ": 1 and 3 threads differ";
    }
  }
};

const int kDecodeContexts[] = {1, 15, 16, 17, 54, 97, 300, 512, 513, 1000, 1537};

TEST_F(PagedAttentionTest, DecodeBatchMatchesReference) {
  for (int bs : {1, 8, 16, 32}) {
    for (int group : {1, 3, 4}) {
      for (int hd : {64, 128}) {
        for (bool alibi : {false, true}) {
          const Shape shape{2 * group, 2, hd, bs, alibi};
          std::vector<SeqSpec> specs;
          for (int ctx : kDecodeContexts) specs.push_back({1, ctx});
          PagedCase c(shape, specs, 1000 + bs * 7 + group * 3 + hd + alibi);
          CheckAllIsas(c, "decode " + Describe(shape));
        }
      }
    }
  }
}

TEST_F(PagedAttentionTest, PrefillWithPriorContextMatchesReference) {
  const std::vector<SeqSpec> specs = {
      {2, 2}, {15, 15}, {17, 17}, {54, 54}, {97, 97},  // fresh prompts
      {16, 300}, {5, 1030}, {130, 130}, {40, 217},    // chunks after context
  };
  for (int bs : {1, 8, 16, 32}) {
    for (int group : {1, 3, 4}) {
      for (int hd : {64, 128}) {
        const Shape shape{2 * group, 2, hd, bs, group == 3};
        PagedCase c(shape, specs, 2000 + bs + group * 5 + hd);
        CheckAllIsas(c, "prefill " + Describe(shape));
      }
    }
  }
}

TEST_F(PagedAttentionTest, NineHeadAlibiAndGqa8MatchReference) {
  // 9 heads: ALiBi slopes of a non-power-of-two head count; GQA 3 (SmolLM2).
  const std::vector<SeqSpec> specs = {{33, 33}, {1, 700}, {7, 90}, {1, 1}};
  PagedCase nine(Shape{9, 3, 64, 16, true}, specs, 77);
  CheckAllIsas(nine, "9 heads alibi");
  PagedCase gqa8(Shape{8, 1, 128, 16, false}, specs, 78);
  CheckAllIsas(gqa8, "gqa 8");
}

TEST_F(PagedAttentionTest, MixedPrefillAndDecodeBatchMatchesReference) {
  std::vector<SeqSpec> specs = {{64, 64}, {12, 200}};
  for (int i = 0; i < 24; ++i) specs.push_back({1, 1 + (i * 97) % 1300});
  specs.push_back({31, 600});
  PagedCase c(Shape{9, 3, 64, 16, false}, specs, 5);
  CheckAllIsas(c, "mixed batch");
}

// A sequence's rows must not depend on the batch around it: same q, same KV
// values, alone or in a mixed batch, give bit-identical outputs.
TEST_F(PagedAttentionTest, SequenceOutputIsBatchInvariant) {
  const Shape shape{9, 3, 64, 16, false};
  for (AttentionIsa isa : kIsas) {
    if (!SetAttentionIsaForTesting(isa)) continue;
    for (SeqSpec target : {SeqSpec{1, 1500}, SeqSpec{1, 37}, SeqSpec{45, 300}}) {
      const std::vector<SeqSpec> batch = {{20, 20}, {1, 900}, target, {1, 3},
                                          {70, 700}};
      PagedCase c(shape, batch, 9);
      const std::vector<float> full = c.Run(2);
      const std::vector<float> alone = c.RunOne(2, 1);
      const float* in_batch = full.data() + c.seqs()[2].query_start * c.row_width();
      EXPECT_EQ(std::memcmp(in_batch, alone.data(), alone.size() * sizeof(float)), 0)
          << IsaName(isa) << " queries " << target.num_queries << " context "
          << target.context_len;
    }
  }
}

// Within one decode chunk (context <= 512) the last row of a prefill and a
// decode of the same query see the same blocks in the same order, so the
// tiled path (many rows) and the decode path (few rows, a separate AVX-512
// kernel) must agree bit for bit.
TEST_F(PagedAttentionTest, DecodeEqualsLastPrefillRowBitwise) {
  for (AttentionIsa isa : kIsas) {
    if (!SetAttentionIsaForTesting(isa)) continue;
    for (int group : {1, 3}) {
      const Shape shape{3 * group, 3, 64, 16, group == 3};
      PagedCase prefill(shape, {{100, 300}}, 21);
      const std::vector<float> all = prefill.Run(2);
      // The same case as a one-query sequence over the same blocks.
      AttentionSequence last = prefill.seqs()[0];
      last.query_start = 99;
      last.num_queries = 1;
      const std::vector<float> decode = prefill.RunSequence(last, 2);
      const float* want = all.data() + 99 * prefill.row_width();
      EXPECT_EQ(std::memcmp(want, decode.data() + 99 * prefill.row_width(),
                            prefill.row_width() * sizeof(float)),
                0)
          << IsaName(isa) << " group " << group;
    }
  }
}

PagedKvCache MakeCache(std::vector<uint16_t>& k, std::vector<uint16_t>& v,
                       int blocks, int block_size, int n_kv, int hd) {
  k.assign(static_cast<size_t>(blocks) * block_size * n_kv * hd, 0xBEEF);
  v.assign(k.size(), 0xBEEF);
  PagedKvCache cache;
  cache.k = k.data();
  cache.v = v.data();
  cache.num_blocks = blocks;
  cache.block_size = block_size;
  cache.n_kv_heads = n_kv;
  cache.head_dim = hd;
  return cache;
}

class KvCacheWriteTest : public ::testing::Test {
 protected:
  void TearDown() override { SetAttentionIsaForTesting(AttentionIsa::kAuto); }
};

TEST_F(KvCacheWriteTest, WritesRoundedFp16ToSlotsAndSkipsPadding) {
  for (AttentionIsa isa : kIsas) {
    if (!SetAttentionIsaForTesting(isa)) continue;
    std::vector<uint16_t> kc, vc;
    const PagedKvCache cache = MakeCache(kc, vc, 4, 8, 3, 64);
    const int row = 3 * 64;
    std::mt19937 rng(3);
    std::vector<float> k(4 * row), v(4 * row);
    for (auto& x : k) x = RandomNonZero(rng) * 100.0f;
    for (auto& x : v) x = RandomNonZero(rng);
    const int64_t slots[] = {3 * 8 + 5, 0, -1, 1 * 8 + 7};
    WriteKvCache(cache, k.data(), v.data(), 4, slots);
    for (int t = 0; t < 4; ++t) {
      if (slots[t] < 0) continue;
      for (int e = 0; e < row; ++e) {
        ASSERT_EQ(kc[slots[t] * row + e], FloatToFp16(k[t * row + e]))
            << IsaName(isa) << " token " << t << " elem " << e;
        ASSERT_EQ(vc[slots[t] * row + e], FloatToFp16(v[t * row + e]));
      }
    }
    // Everything else, including the padding token's would-be slot, is
    // untouched.
    int64_t written = 0;
    for (uint16_t x : kc) written += x != 0xBEEF;
    EXPECT_EQ(written, 3 * row) << IsaName(isa);
  }
}

TEST_F(KvCacheWriteTest, CopyKvBlockCopiesWholeBlockOnly) {
  std::vector<uint16_t> kc, vc;
  const PagedKvCache cache = MakeCache(kc, vc, 3, 16, 2, 64);
  const int64_t block = 16 * 2 * 64;
  for (int64_t i = 0; i < block; ++i) {
    kc[block + i] = static_cast<uint16_t>(i);
    vc[block + i] = static_cast<uint16_t>(i * 3);
  }
  CopyKvBlock(cache, 1, 2);
  for (int64_t i = 0; i < block; ++i) {
    ASSERT_EQ(kc[2 * block + i], static_cast<uint16_t>(i));
    ASSERT_EQ(vc[2 * block + i], static_cast<uint16_t>(i * 3));
    ASSERT_EQ(kc[i], 0xBEEF);
  }
}

TEST_F(KvCacheWriteTest, RopeAndWriteEqualsRopeThenWrite) {
  for (RopeMode mode : {RopeMode::kNormal, RopeMode::kNeox}) {
    std::vector<uint16_t> k1, v1, k2, v2;
    const PagedKvCache fused = MakeCache(k1, v1, 4, 16, 3, 64);
    const PagedKvCache plain = MakeCache(k2, v2, 4, 16, 3, 64);
    std::mt19937 rng(4);
    const int n = 5;
    std::vector<float> q(n * 9 * 64), k(n * 3 * 64), v(n * 3 * 64);
    for (auto& x : q) x = RandomNonZero(rng);
    for (auto& x : k) x = RandomNonZero(rng);
    for (auto& x : v) x = RandomNonZero(rng);
    const int32_t positions[] = {0, 1, 17, 300, 8191};
    const int64_t slots[] = {5, 6, 40, 63, 0};
    std::vector<float> q_fused = q;
    const std::vector<float> k_before = k;
    RopeAndWriteKvCache(fused, q_fused.data(), 9, k.data(), v.data(), n,
                        positions, slots, 64, 100000.0f, mode);
    EXPECT_EQ(k, k_before) << "k must not be modified";
    Rope(q.data(), n, 9, 64, 64, positions, 100000.0f, mode);
    std::vector<float> k_rot = k;
    Rope(k_rot.data(), n, 3, 64, 64, positions, 100000.0f, mode);
    WriteKvCache(plain, k_rot.data(), v.data(), n, slots);
    EXPECT_EQ(q_fused, q);
    EXPECT_EQ(k1, k2);
    EXPECT_EQ(v1, v2);
  }
}

}  // namespace
}  // namespace llm::kernels
