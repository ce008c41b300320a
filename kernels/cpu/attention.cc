// File: kernels/cpu/attention.cc
//
// PagedAttention scheduling: every (sequence, KV head, query tile | KV chunk)
// becomes one work item; all items of a call run in one parallel region,
// handed out largest first through an atomic counter. Each item is computed
// start to finish by one thread with a fixed block order, and decode chunks
// are a function of the context length only, so a row's result is
// bit-identical whatever the batch around it or the thread count. Decode
// sequences longer than one chunk merge their chunks after a barrier.
#include "kernels/cpu/attention.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "common/fp16.h"
#include "kernels/cpu/attention_internal.h"
#include "kernels/cpu/cpu_isa_select.h"
#include "kernels/cpu/elementwise_internal.h"

namespace llm::kernels {
namespace attention_internal {

void AttendBlockScalar(const BlockTile& t) {
  const int hd = t.head_dim;
  const int nb = t.tokens;
  float* kf = t.scratch;
  float* vf = kf + static_cast<int64_t>(nb) * hd;
  float* s = vf + static_cast<int64_t>(nb) * hd;
  for (int j = 0; j < nb; ++j) {
    for (int d = 0; d < hd; ++d) {
      kf[j * hd + d] = Fp16ToFloat(t.k[j * t.token_stride + d]);
      vf[j * hd + d] = Fp16ToFloat(t.v[j * t.token_stride + d]);
    }
  }
  const float neg_inf = -std::numeric_limits<float>::infinity();
  for (int r = 0; r < t.rows; ++r) {
    int visible = nb;
    if (t.mask) visible = std::clamp(t.row_pos[r] - t.kv_pos0 + 1, 0, nb);
    if (visible == 0) continue;
    const float* qr = t.q + static_cast<int64_t>(r) * hd;
    const float slope = t.row_slope != nullptr ? t.row_slope[r] : 0.0f;
    float block_max = neg_inf;
    for (int j = 0; j < visible; ++j) {
      float dot = 0.0f;
      for (int d = 0; d < hd; ++d) dot += qr[d] * kf[j * hd + d];
      float score = dot * t.scale;
      if (slope != 0.0f) {
        score += slope * static_cast<float>(t.kv_pos0 + j - t.row_pos[r]);
      }
      s[j] = score;
      block_max = std::max(block_max, score);
    }
    const float m_old = t.m[r];
    const float m_new = std::max(m_old, block_max);
    const float correction = m_old == neg_inf  ? 0.0f
                             : m_old == m_new ? 1.0f
                                              : std::exp(m_old - m_new);
    float sum = 0.0f;
    for (int j = 0; j < visible; ++j) {
      s[j] = std::exp(s[j] - m_new);
      sum += s[j];
    }
    t.l[r] = t.l[r] * correction + sum;
    t.m[r] = m_new;
    float* accr = t.acc + static_cast<int64_t>(r) * hd;
    if (correction != 1.0f) {
      for (int d = 0; d < hd; ++d) accr[d] *= correction;
    }
    for (int j = 0; j < visible; ++j) {
      for (int d = 0; d < hd; ++d) accr[d] += s[j] * vf[j * hd + d];
    }
  }
}

}  // namespace attention_internal

namespace {

using attention_internal::BlockTile;
using AttendFn = void (*)(const BlockTile&);

// Decode context per split: fixed, so the split (and the result) depends on
// the context length only. vLLM's v2 paged decode uses 512 too.
constexpr int kDecodeChunkTokens = 512;
// Query rows per prefill tile, counted in (query, head) rows.
constexpr int kPrefillTileRows = 64;

AttendFn SelectAttend() {
  switch (CurrentAttentionIsa()) {
    case AttentionIsa::kAvx512:
      return attention_internal::AttendBlockAvx512;
    case AttentionIsa::kAvx2:
      return attention_internal::AttendBlockAvx2;
    default:
      return attention_internal::AttendBlockScalar;
  }
}

int DecodeChunkBlocks(int block_size) {
  return std::max(1, kDecodeChunkTokens / block_size);
}

struct WorkItem {
  int32_t seq = 0;
  int32_t kv_head = 0;
  int32_t index = 0;        // query tile (prefill) or KV chunk (decode)
  bool decode = false;
  int64_t cost = 0;         // rows x tokens, for largest-first ordering
  int64_t partial = -1;     // float offset of this chunk's (m, l, acc)
};

struct MergeGroup {
  int32_t seq = 0;
  int32_t kv_head = 0;
  int32_t chunks = 0;
  int64_t partial = 0;      // float offset of chunk 0
};

struct CallContext {
  const AttentionParams* params;
  const PagedKvCache* cache;
  absl::Span<const AttentionSequence> seqs;
  const float* q;
  float* out;
  AttendFn attend;
  int group;                // query heads per KV head
  int tile_queries;         // queries per prefill tile
  float* partials;
};

// Floats of one chunk's partial state: per row m, l, acc[head_dim].
int64_t PartialRowFloats(int head_dim) { return head_dim + 2; }

void WriteRows(const CallContext& ctx, const AttentionSequence& seq, int kvh,
               int q_begin, int rows, const float* acc, const float* l) {
  const int hd = ctx.params->head_dim;
  const int n_head = ctx.params->n_head;
  for (int r = 0; r < rows; ++r) {
    const int i = q_begin + r / ctx.group;
    const int head = kvh * ctx.group + r % ctx.group;
    float* o = ctx.out + (static_cast<int64_t>(seq.query_start) + i) * n_head * hd +
               static_cast<int64_t>(head) * hd;
    const float* a = acc + static_cast<int64_t>(r) * hd;
    if (l[r] > 0.0f) {
      for (int d = 0; d < hd; ++d) o[d] = a[d] / l[r];
    } else {  // no visible key (only for malformed sequences): o = 0
      for (int d = 0; d < hd; ++d) o[d] = 0.0f;
    }
  }
}

void RunItem(const CallContext& ctx, const WorkItem& w,
             std::vector<float>& scratch, std::vector<int32_t>& positions) {
  const AttentionParams& p = *ctx.params;
  const PagedKvCache& cache = *ctx.cache;
  const AttentionSequence& seq = ctx.seqs[w.seq];
  const int hd = p.head_dim;
  const int bs = cache.block_size;
  const int g = ctx.group;
  const int context = seq.context_len;
  const int base = context - seq.num_queries;  // position of query 0

  int q_begin, q_end, block_begin, block_end;
  if (w.decode) {
    q_begin = 0;
    q_end = 1;
    const int chunk = DecodeChunkBlocks(bs);
    const int total = (context + bs - 1) / bs;
    block_begin = w.index * chunk;
    block_end = std::min(total, block_begin + chunk);
  } else {
    q_begin = w.index * ctx.tile_queries;
    q_end = std::min(seq.num_queries, q_begin + ctx.tile_queries);
    block_begin = 0;
    block_end = (base + q_end - 1) / bs + 1;
  }
  const int rows = (q_end - q_begin) * g;
  const int64_t tile_floats =
      attention_internal::BlockTileScratchFloats(bs, hd);
  const int64_t need = 2 * static_cast<int64_t>(rows) * hd + 3 * rows + tile_floats;
  if (static_cast<int64_t>(scratch.size()) < need) scratch.resize(need);
  if (static_cast<int>(positions.size()) < rows) positions.resize(rows);
  float* qbuf = scratch.data();
  float* acc = qbuf + static_cast<int64_t>(rows) * hd;
  float* m = acc + static_cast<int64_t>(rows) * hd;
  float* l = m + rows;
  float* slopes = l + rows;
  float* tile_scratch = slopes + rows;

  const int64_t q_row_stride = static_cast<int64_t>(p.n_head) * hd;
  for (int r = 0; r < rows; ++r) {
    const int i = q_begin + r / g;
    const int head = w.kv_head * g + r % g;
    std::memcpy(qbuf + static_cast<int64_t>(r) * hd,
                ctx.q + (seq.query_start + i) * q_row_stride +
                    static_cast<int64_t>(head) * hd,
                sizeof(float) * hd);
    positions[r] = base + i;
    slopes[r] = p.alibi_slopes != nullptr ? p.alibi_slopes[head] : 0.0f;
    m[r] = -std::numeric_limits<float>::infinity();
    l[r] = 0.0f;
  }
  std::memset(acc, 0, sizeof(float) * rows * hd);

  BlockTile t;
  t.q = qbuf;
  t.rows = rows;
  t.head_dim = hd;
  t.token_stride = static_cast<int64_t>(cache.n_kv_heads) * hd;
  t.row_pos = positions.data();
  t.row_slope = p.alibi_slopes != nullptr ? slopes : nullptr;
  t.scale = p.scale;
  t.m = m;
  t.l = l;
  t.acc = acc;
  t.scratch = tile_scratch;
  const int first_pos = base + q_begin;
  for (int b = block_begin; b < block_end; ++b) {
    const int kv_pos0 = b * bs;
    const int tokens = std::min(bs, context - kv_pos0);
    const int64_t offset =
        (static_cast<int64_t>(seq.block_table[b]) * bs * cache.n_kv_heads +
         w.kv_head) * hd;
    t.k = cache.k + offset;
    t.v = cache.v + offset;
    t.tokens = tokens;
    t.kv_pos0 = kv_pos0;
    t.mask = kv_pos0 + tokens - 1 > first_pos;  // only diagonal tiles
    ctx.attend(t);
  }

  if (w.partial < 0) {
    WriteRows(ctx, seq, w.kv_head, q_begin, rows, acc, l);
    return;
  }
  float* dst = ctx.partials + w.partial;
  for (int r = 0; r < rows; ++r) {
    float* pr = dst + r * PartialRowFloats(hd);
    pr[0] = m[r];
    pr[1] = l[r];
    std::memcpy(pr + 2, acc + static_cast<int64_t>(r) * hd, sizeof(float) * hd);
  }
}

// Exact split-KV merge in chunk order: with M = max m_i,
// o = sum_i acc_i e^(m_i - M) / sum_i l_i e^(m_i - M), the log-sum-exp merge
// of the chunks' (o_i = acc_i / l_i, lse_i = m_i + log l_i) without the
// per-chunk divisions.
void MergeChunks(const CallContext& ctx, const MergeGroup& mg,
                 std::vector<float>& scratch) {
  const int hd = ctx.params->head_dim;
  const int g = ctx.group;
  const int64_t row_floats = PartialRowFloats(hd);
  const int64_t chunk_floats = row_floats * g;
  if (static_cast<int64_t>(scratch.size()) < (hd + 1) * g) {
    scratch.resize((hd + 1) * g);
  }
  float* acc = scratch.data();
  float* l = acc + static_cast<int64_t>(g) * hd;
  for (int r = 0; r < g; ++r) {
    const float* base = ctx.partials + mg.partial + r * row_floats;
    float mx = -std::numeric_limits<float>::infinity();
    for (int c = 0; c < mg.chunks; ++c) {
      mx = std::max(mx, base[c * chunk_floats]);
    }
    float* a = acc + static_cast<int64_t>(r) * hd;
    std::fill(a, a + hd, 0.0f);
    float sum = 0.0f;
    for (int c = 0; c < mg.chunks; ++c) {
      const float* pc = base + c * chunk_floats;
      if (!(pc[1] > 0.0f)) continue;
      const float w = std::exp(pc[0] - mx);
      sum += pc[1] * w;
      for (int d = 0; d < hd; ++d) a[d] += pc[2 + d] * w;
    }
    l[r] = sum;
  }
  WriteRows(ctx, ctx.seqs[mg.seq], mg.kv_head, 0, g, acc, l);
}

}  // namespace

void PagedAttention(ThreadPool& pool, const AttentionParams& params,
                    const PagedKvCache& cache,
                    absl::Span<const AttentionSequence> seqs, const float* q,
                    float* out) {
  const int g = params.n_head / params.n_kv_heads;
  const int hd = params.head_dim;
  const int bs = cache.block_size;
  std::vector<WorkItem> items;
  std::vector<MergeGroup> merges;
  int64_t partial_floats = 0;
  const int tile_queries = std::max(1, kPrefillTileRows / g);
  for (int s = 0; s < static_cast<int>(seqs.size()); ++s) {
    const AttentionSequence& seq = seqs[s];
    if (seq.num_queries <= 0) continue;
    if (seq.num_queries == 1) {
      const int blocks = (seq.context_len + bs - 1) / bs;
      const int chunk = DecodeChunkBlocks(bs);
      const int chunks = std::max(1, (blocks + chunk - 1) / chunk);
      for (int h = 0; h < params.n_kv_heads; ++h) {
        const int64_t first = partial_floats;
        for (int c = 0; c < chunks; ++c) {
          WorkItem w;
          w.seq = s;
          w.kv_head = h;
          w.index = c;
          w.decode = true;
          w.cost = static_cast<int64_t>(g) *
                   std::min(chunk * bs, seq.context_len - c * chunk * bs);
          if (chunks > 1) {
            w.partial = partial_floats;
            partial_floats += PartialRowFloats(hd) * g;
          }
          items.push_back(w);
        }
        if (chunks > 1) merges.push_back({s, h, chunks, first});
      }
    } else {
      const int tiles = (seq.num_queries + tile_queries - 1) / tile_queries;
      const int base = seq.context_len - seq.num_queries;
      for (int h = 0; h < params.n_kv_heads; ++h) {
        for (int t = 0; t < tiles; ++t) {
          WorkItem w;
          w.seq = s;
          w.kv_head = h;
          w.index = t;
          const int q_end = std::min(seq.num_queries, (t + 1) * tile_queries);
          const int n = q_end - t * tile_queries;
          w.cost = static_cast<int64_t>(n) * g * (base + q_end);
          items.push_back(w);
        }
      }
    }
  }
  if (items.empty()) return;
  // Largest first: the order only decides which thread runs an item, never
  // what the item computes.
  std::stable_sort(items.begin(), items.end(),
                   [](const WorkItem& a, const WorkItem& b) {
                     return a.cost > b.cost;
                   });
  std::vector<float> partials(partial_floats);
  CallContext ctx{&params, &cache, seqs,         q,
                  out,     SelectAttend(), g, tile_queries,
                  partials.data()};
  std::atomic<int64_t> next{0};
  const int64_t num_items = static_cast<int64_t>(items.size());
  pool.Run([&](int thread, int num_threads) {
    thread_local std::vector<float> scratch;
    thread_local std::vector<int32_t> positions;
    for (int64_t i = next.fetch_add(1, std::memory_order_relaxed);
         i < num_items; i = next.fetch_add(1, std::memory_order_relaxed)) {
      RunItem(ctx, items[i], scratch, positions);
    }
    if (merges.empty()) return;
    pool.Barrier();
    auto [begin, end] = SplitRange(static_cast<int64_t>(merges.size()),
                                   thread, num_threads);
    for (int64_t i = begin; i < end; ++i) MergeChunks(ctx, merges[i], scratch);
  });
}

void WriteKvCache(const PagedKvCache& cache, const float* k, const float* v,
                  int n_tokens, const int64_t* slots) {
  const int64_t row = static_cast<int64_t>(cache.n_kv_heads) * cache.head_dim;
  const bool f16c = CurrentAttentionIsa() != AttentionIsa::kScalar;
  for (int t = 0; t < n_tokens; ++t) {
    if (slots[t] < 0) continue;  // padding slot (vLLM convention)
    uint16_t* kd = cache.k + slots[t] * row;
    uint16_t* vd = cache.v + slots[t] * row;
    const float* ks = k + t * row;
    const float* vs = v + t * row;
    if (f16c) {
      attention_internal::FloatToFp16Avx2(ks, row, kd);
      attention_internal::FloatToFp16Avx2(vs, row, vd);
    } else {
      for (int64_t i = 0; i < row; ++i) kd[i] = FloatToFp16(ks[i]);
      for (int64_t i = 0; i < row; ++i) vd[i] = FloatToFp16(vs[i]);
    }
  }
}

void CopyKvBlock(const PagedKvCache& cache, int src_block, int dst_block) {
  const int64_t block = static_cast<int64_t>(cache.block_size) *
                        cache.n_kv_heads * cache.head_dim;
  std::memcpy(cache.k + dst_block * block, cache.k + src_block * block,
              sizeof(uint16_t) * block);
  std::memcpy(cache.v + dst_block * block, cache.v + src_block * block,
              sizeof(uint16_t) * block);
}

void RopeAndWriteKvCache(const PagedKvCache& cache, float* q, int n_head,
                         const float* k, const float* v, int n_tokens,
                         const int32_t* positions, const int64_t* slots,
                         int rope_dim, float freq_base, RopeMode mode) {
  const int hd = cache.head_dim;
  const int64_t q_row = static_cast<int64_t>(n_head) * hd;
  const int64_t kv_row = static_cast<int64_t>(cache.n_kv_heads) * hd;
  // One rotation table per token serves q and k (the sin/cos are most of
  // RoPE's cost at these head counts).
  thread_local std::vector<float> buf;
  buf.resize(kv_row + 2 * static_cast<int64_t>(rope_dim));
  float* rotated = buf.data();
  float* ce = rotated + kv_row;
  float* se = ce + rope_dim;
  for (int t = 0; t < n_tokens; ++t) {
    elementwise_internal::RopeTable(positions[t], rope_dim, freq_base, mode,
                                    ce, se);
    elementwise_internal::RopeApply(q + t * q_row, n_head, hd, rope_dim, mode,
                                    ce, se);
    std::memcpy(rotated, k + t * kv_row, sizeof(float) * kv_row);
    elementwise_internal::RopeApply(rotated, cache.n_kv_heads, hd, rope_dim,
                                    mode, ce, se);
    WriteKvCache(cache, rotated, v + t * kv_row, 1, slots + t);
  }
}

}  // namespace llm::kernels
