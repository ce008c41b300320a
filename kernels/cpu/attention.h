// File: kernels/cpu/attention.h
//
// Attention over the paged KV cache, FlashAttention-style: scores are never
// materialised for the whole context; K/V tiles (one paged block each) are
// read through the block table with an online softmax in registers.
// Sequences with several queries (prefill chunks, speculative verification)
// take the tiled causal path; single-query sequences (decode) take the
// split-context path whose partial results merge by log-sum-exp. GQA: the
// n_head / n_kv_heads query heads of a KV head share each loaded K/V tile.
// ALiBi: a per-head slope adds slope * (kv_pos - q_pos) inside the tile loop.
//
// Thread safety: stateless; each call uses its own scratch.
#ifndef LLM_KERNELS_CPU_ATTENTION_H_
#define LLM_KERNELS_CPU_ATTENTION_H_

#include <cstdint>

#include "absl/types/span.h"
#include "common/model_config.h"
#include "common/thread_pool.h"

namespace llm::kernels {

// One layer's K and V pools, layout NHD, IEEE fp16 bits:
//   k, v: [num_blocks][block_size][n_kv_heads][head_dim]
// Token t of a sequence lives in block block_table[t / block_size], slot
// t % block_size.
struct PagedKvCache {
  uint16_t* k = nullptr;
  uint16_t* v = nullptr;
  int num_blocks = 0;
  int block_size = 16;
  int n_kv_heads = 0;
  int head_dim = 0;
};

struct AttentionSequence {
  int32_t query_start = 0;   // first row of this sequence in q / out
  int32_t num_queries = 0;   // rows; query i sits at position
                             // context_len - num_queries + i (causal)
  int32_t context_len = 0;   // KV tokens visible, including these queries
  const int32_t* block_table = nullptr;  // [ceil(context_len / block_size)]
};

struct AttentionParams {
  int n_head = 0;
  int n_kv_heads = 0;
  int head_dim = 0;          // 64 or 128 (any multiple of 16 works)
  float scale = 0.0f;        // usually 1/sqrt(head_dim)
  const float* alibi_slopes = nullptr;  // [n_head], or null (RoPE / NoPE)
};

// q, out: [n_rows, n_head, head_dim] f32, rows as given by `seqs`.
// The K/V of the query tokens must already be in the cache.
void PagedAttention(ThreadPool& pool, const AttentionParams& params,
                    const PagedKvCache& cache,
                    absl::Span<const AttentionSequence> seqs, const float* q,
                    float* out);

// Writes k, v: [n_tokens, n_kv_heads * head_dim] f32 into the cache slots
// slots[t] = block * block_size + offset, converting to fp16 (round to
// nearest even). Slots < 0 are padding and skipped.
void WriteKvCache(const PagedKvCache& cache, const float* k, const float* v,
                  int n_tokens, const int64_t* slots);

// RoPE fused with the cache write: rotates q ([n_tokens, n_head * head_dim],
// in place) and a copy of k ([n_tokens, n_kv_heads * head_dim], unchanged)
// by positions[t], then writes the rotated k and v to slots[t] as fp16.
// Same rotation as Rope() in elementwise.h. Slots < 0 are skipped.
void RopeAndWriteKvCache(const PagedKvCache& cache, float* q, int n_head,
                         const float* k, const float* v, int n_tokens,
                         const int32_t* positions, const int64_t* slots,
                         int rope_dim, float freq_base, RopeMode mode);

// Copies whole blocks src -> dst in one layer (copy-on-write).
void CopyKvBlock(const PagedKvCache& cache, int src_block, int dst_block);

}  // namespace llm::kernels

#endif  // LLM_KERNELS_CPU_ATTENTION_H_
