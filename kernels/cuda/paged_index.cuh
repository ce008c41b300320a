// File: kernels/cuda/paged_index.cuh
//
// The index and tile arithmetic of the CUDA kernels, as __host__ __device__
// inline functions so that a host-compiled test (tests/kernels/
// cuda_index_test.cc) checks exactly the math the kernels run: KV cache
// element addressing through a block table, decode partitions
// (FlashDecoding), prefill query tiles, causal key ranges, GQA head mapping,
// ALiBi slopes, log-sum-exp merging and ggml block dequantisation
// (REFERENCE.md §2) with a portable fp16 decoder.
//
// KV cache layout (per layer, K and V each): NHD,
// [num_blocks][block_size][n_kv_heads][head_dim] fp16.
//
// Thread safety: pure functions.
#ifndef LLM_KERNELS_CUDA_PAGED_INDEX_CUH_
#define LLM_KERNELS_CUDA_PAGED_INDEX_CUH_

#include <cstdint>
#include <cmath>
#include <cstring>

#ifdef __CUDACC__
#define LLM_HD __host__ __device__ __forceinline__
#else
#define LLM_HD inline
#endif

namespace llm::cuda {

// Keys per decode partition. A context of up to this many keys is one
// partition (no merge); longer contexts split so that a batch-1 decode still
// fills the GPU. Depends only on the context length, never on the batch, so
// results are batch-invariant.
constexpr int kDecodePartitionSize = 512;
// Query rows per prefill CTA and keys per K/V tile in shared memory.
constexpr int kPrefillTileQ = 16;
constexpr int kPrefillTileK = 32;
// Elements per ggml quantisation block (Q4_0, Q4_1, Q8_0).
constexpr int kQuantBlock = 32;

// Element (token slot, kv head, dim) of one layer's K or V.
LLM_HD int64_t KvElementIndex(int64_t slot, int kv_head, int dim,
                              int n_kv_heads, int head_dim) {
  return (slot * n_kv_heads + kv_head) * head_dim + dim;
}

// Physical slot of logical token `pos` of a sequence with `block_table`.
LLM_HD int64_t PagedSlot(const int32_t* block_table, int pos, int block_size) {
  return int64_t{block_table[pos / block_size]} * block_size + pos % block_size;
}

// Query i (0-based) of a chunk of num_queries ending the context sits here.
LLM_HD int QueryPosition(int context_len, int num_queries, int i) {
  return context_len - num_queries + i;
}

// Query head h reads KV head h / (n_head / n_kv_heads).
LLM_HD int KvHeadOf(int head, int n_head, int n_kv_heads) {
  return head / (n_head / n_kv_heads);
}

LLM_HD int CeilDiv(int a, int b) { return (a + b - 1) / b; }

// Decode partitions for `num_keys` visible keys (at least 1).
LLM_HD int NumDecodePartitions(int num_keys) {
  const int p = CeilDiv(num_keys, kDecodePartitionSize);
  return p < 1 ? 1 : p;
}

// Keys [*begin, *end) of partition p; empty when p is past the keys.
LLM_HD void DecodePartitionRange(int p, int num_keys, int* begin, int* end) {
  *begin = p * kDecodePartitionSize;
  const int e = *begin + kDecodePartitionSize;
  *end = e < num_keys ? e : num_keys;
  if (*end < *begin) *end = *begin;
}

// Prefill query tiles of a chunk of num_queries rows.
LLM_HD int NumPrefillTiles(int num_queries) {
  return CeilDiv(num_queries, kPrefillTileQ);
}

// Keys a tile of queries [q_begin, q_begin + kPrefillTileQ) needs: up to
// and including the position of its last real row (causal).
LLM_HD int PrefillKeyEnd(int context_len, int num_queries, int q_begin) {
  int last = q_begin + kPrefillTileQ - 1;
  if (last > num_queries - 1) last = num_queries - 1;
  return QueryPosition(context_len, num_queries, last) + 1;
}

// Whether key position kpos is visible to a query at qpos (causal).
LLM_HD bool KeyVisible(int kpos, int qpos) { return kpos <= qpos; }

// REFERENCE.md §4 closed form, h from 0.
LLM_HD float AlibiSlope(int h, int n_head, float max_bias) {
  int n_floor = 1;
  while (n_floor * 2 <= n_head) n_floor *= 2;
  const float m0 = exp2f(-max_bias / n_floor);
  const float m1 = exp2f(-max_bias / 2.0f / n_floor);
  return h < n_floor ? powf(m0, static_cast<float>(h + 1))
                     : powf(m1, static_cast<float>(2 * (h - n_floor) + 1));
}

// Merges partition (m_a, l_a, o_a) into a running (m, l, o) where o are
// unnormalised outputs and l the sums of exp(score - m). Returns the factors
// to scale the running and the new partial by; m is updated.
struct LseFactors {
  float scale_old;
  float scale_new;
};
LLM_HD LseFactors MergeLse(float* m, float* l, float m_new, float l_new) {
  LseFactors f{1.0f, 0.0f};
  if (l_new == 0.0f) return f;  // empty partition
  if (*l == 0.0f) {
    *m = m_new;
    *l = l_new;
    return LseFactors{0.0f, 1.0f};
  }
  const float mx = *m > m_new ? *m : m_new;
  f.scale_old = expf(*m - mx);
  f.scale_new = expf(m_new - mx);
  *l = *l * f.scale_old + l_new * f.scale_new;
  *m = mx;
  return f;
}

// IEEE binary16 -> float by bit manipulation (exact; subnormals, inf, NaN).
LLM_HD float HalfBitsToFloat(uint16_t h) {
  const uint32_t sign = (uint32_t{h} & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while ((mant & 0x400u) == 0) {
        mant <<= 1;
        --exp;
      }
      mant &= 0x3ff;
      bits = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
#ifdef __CUDA_ARCH__
  f = __uint_as_float(bits);
#else
  std::memcpy(&f, &bits, sizeof(f));
#endif
  return f;
}

LLM_HD uint16_t LoadU16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] | (p[1] << 8));
}

// Quantised block formats the CUDA matmul and embedding handle.
enum class QuantFormat : int { kQ4_0 = 0, kQ4_1 = 1, kQ8_0 = 2, kF16 = 3, kF32 = 4 };

// Bytes of one row of `cols` elements.
LLM_HD int64_t QuantRowBytes(QuantFormat f, int64_t cols) {
  switch (f) {
    case QuantFormat::kQ4_0: return cols / 32 * 18;
    case QuantFormat::kQ4_1: return cols / 32 * 20;
    case QuantFormat::kQ8_0: return cols / 32 * 34;
    case QuantFormat::kF16: return cols * 2;
    case QuantFormat::kF32: return cols * 4;
  }
  return 0;
}

// Element j (0..31) of the 32-element group starting at element 32*b of a
// row at `row`. Nibble order: qs[i] low = element i, high = element i + 16.
LLM_HD float DequantElement(QuantFormat f, const uint8_t* row, int64_t b,
                            int j) {
  switch (f) {
    case QuantFormat::kQ4_0: {
      const uint8_t* blk = row + b * 18;
      const float d = HalfBitsToFloat(LoadU16(blk));
      const uint8_t q = blk[2 + (j & 15)];
      const int v = j < 16 ? (q & 15) : (q >> 4);
      return (v - 8) * d;
    }
    case QuantFormat::kQ4_1: {
      const uint8_t* blk = row + b * 20;
      const float d = HalfBitsToFloat(LoadU16(blk));
      const float m = HalfBitsToFloat(LoadU16(blk + 2));
      const uint8_t q = blk[4 + (j & 15)];
      const int v = j < 16 ? (q & 15) : (q >> 4);
      return v * d + m;
    }
    case QuantFormat::kQ8_0: {
      const uint8_t* blk = row + b * 34;
      const float d = HalfBitsToFloat(LoadU16(blk));
      return static_cast<int8_t>(blk[2 + j]) * d;
    }
    case QuantFormat::kF16:
      return HalfBitsToFloat(LoadU16(row + (b * 32 + j) * 2));
    case QuantFormat::kF32: {
      float v;
      const uint8_t* p = row + (b * 32 + j) * 4;
#ifdef __CUDA_ARCH__
      v = __uint_as_float(uint32_t{p[0]} | (uint32_t{p[1]} << 8) |
                          (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24));
#else
      std::memcpy(&v, p, 4);
#endif
      return v;
    }
  }
  return 0.0f;
}

// RoPE: the two dims of head-local pair i (0 <= i < head_dim / 2). Pairs
// i < rope_dim/2 rotate: normal (2i, 2i+1), NeoX (i, i + rope_dim/2); the
// rest pass through as (2i, 2i+1) (both modes leave [rope_dim, head_dim)).
LLM_HD void RopePairDims(int i, int rope_dim, bool neox, int* d0, int* d1) {
  if (i < rope_dim / 2 && neox) {
    *d0 = i;
    *d1 = i + rope_dim / 2;
  } else {
    *d0 = 2 * i;
    *d1 = 2 * i + 1;
  }
}

}  // namespace llm::cuda

#endif  // LLM_KERNELS_CUDA_PAGED_INDEX_CUH_
