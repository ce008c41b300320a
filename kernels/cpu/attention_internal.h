// File: kernels/cpu/attention_internal.h
//
// The per-ISA inner step of PagedAttention (attention.cc owns scheduling,
// GQA grouping, causal tiling and the split-KV merge): one tile of query rows
// against one paged KV block, updating the rows' online-softmax state.
// Not part of the public API.
//
// Thread safety: pure functions of their arguments.
#ifndef LLM_KERNELS_CPU_ATTENTION_INTERNAL_H_
#define LLM_KERNELS_CPU_ATTENTION_INTERNAL_H_

#include <cstdint>

namespace llm::kernels::attention_internal {

// Rows are (query, head) pairs that share this KV head. For each row r and
// each visible token j of the block:
//   s = dot(q[r], k[j]) * scale + slope[r] * (kv_pos0 + j - row_pos[r])
// then m[r], l[r], acc[r] get the FlashAttention-2 update (acc stays
// unnormalised). Tokens with kv_pos > row_pos[r] are skipped when `mask`.
// A row with no visible token in this block is left bit-for-bit unchanged,
// so a row's result does not depend on which other rows share its tile.
struct BlockTile {
  const float* q = nullptr;      // [rows][head_dim]
  int rows = 0;
  int head_dim = 0;              // multiple of 16
  const uint16_t* k = nullptr;   // fp16, token 0 of the block, this KV head
  const uint16_t* v = nullptr;
  int64_t token_stride = 0;      // elements between consecutive tokens
  int tokens = 0;                // valid tokens in the block (>= 1)
  int kv_pos0 = 0;               // position of token 0 of the block
  const int32_t* row_pos = nullptr;   // [rows]
  const float* row_slope = nullptr;   // [rows] ALiBi slopes, or null
  bool mask = false;             // diagonal tile: apply the causal mask
  float scale = 1.0f;
  float* m = nullptr;            // [rows] running max (-inf initially)
  float* l = nullptr;            // [rows] running sum
  float* acc = nullptr;          // [rows][head_dim] unnormalised output
  float* scratch = nullptr;      // >= ScratchFloats(tokens, head_dim)
};

inline int64_t BlockTileScratchFloats(int tokens, int head_dim) {
  return 2 * static_cast<int64_t>(tokens) * head_dim + tokens + 16;
}

void AttendBlockScalar(const BlockTile& t);
void AttendBlockAvx2(const BlockTile& t);
void AttendBlockAvx512(const BlockTile& t);

// dst[i] = fp16(src[i]), round to nearest even; n any.
void FloatToFp16Avx2(const float* src, int64_t n, uint16_t* dst);

}  // namespace llm::kernels::attention_internal

#endif  // LLM_KERNELS_CPU_ATTENTION_INTERNAL_H_
