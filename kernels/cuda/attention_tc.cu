// Tensor-core paged prefill attention (bf16 mma.sync m16n8k16); see
// attention_tc.cuh. Fragment layouts are PTX ISA's for
// mma.m16n8k16.row.col with .bf16 inputs: with g = lane / 4 and
// t = lane % 4, A registers hold (row g | g+8, cols 2t..2t+1 | +8), B
// registers (k rows 2t..2t+1 | +8, col g), C (row g | g+8, cols 2t..2t+1).
#include "kernels/cuda/attention_tc.cuh"

#include <cstdint>

#include "kernels/cuda/cuda_common.cuh"

namespace llm::cuda {
namespace {

constexpr int kTcKeys = 32;  // keys per K/V tile: 4 n-tiles of S, 2 k-steps of PV
static_assert(kPrefillTileQ == 16, "one m16 tile of queries per warp");

__device__ __forceinline__ uint32_t PackBf16(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);  // .x = lo: low 16 bits
  return *reinterpret_cast<const uint32_t*>(&v);
}

__device__ __forceinline__ void Mma(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                    uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
      "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// grid (num_tiles, n_head), block 32 (one warp).
template <int HD>
__global__ void __launch_bounds__(32)
    PrefillTcKernel(DeviceAttentionParams p, DeviceKvLayer kv, const PrefillTile* tiles,
                    const int32_t* tables, const float* q, float* out) {
  constexpr int kPad = 8;        // bf16 elements: rows start 16 bytes apart mod 128
  constexpr int kDimTiles = HD / 8;
  __shared__ __align__(16) __nv_bfloat16 qs[kPrefillTileQ][HD + kPad];
  __shared__ __align__(16) __nv_bfloat16 ks[kTcKeys][HD + kPad];
  __shared__ __align__(16) __nv_bfloat16 vt[HD][kTcKeys + kPad];

  const PrefillTile tile = tiles[blockIdx.x];
  const int h = blockIdx.y;
  const int kvh = KvHeadOf(h, p.n_head, p.n_kv_heads);
  const int lane = threadIdx.x, g = lane >> 2, t = lane & 3;
  const float slope = p.alibi_slopes != nullptr ? p.alibi_slopes[h] : 0.0f;
  const int32_t* table = tables + tile.table_offset;

  for (int e = lane; e < kPrefillTileQ * HD; e += 32) {
    const int r = e / HD, d = e % HD;
    const int qi = tile.q_begin + r;
    const float v = qi < tile.num_queries
                        ? q[(int64_t{tile.query_start + qi} * p.n_head + h) * HD + d] * p.scale
                        : 0.0f;
    qs[r][d] = __float2bfloat16_rn(v);
  }

  // This lane's two rows: g and g + 8 of the tile.
  int qpos[2];
  bool valid[2];
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const int qi = tile.q_begin + g + 8 * i;
    valid[i] = qi < tile.num_queries;
    qpos[i] = QueryPosition(tile.context_len, tile.num_queries, valid[i] ? qi : 0);
  }
  float o[kDimTiles][4];
#pragma unroll
  for (int n = 0; n < kDimTiles; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;

  const int key_end = PrefillKeyEnd(tile.context_len, tile.num_queries, tile.q_begin);
  const __half* kbase = reinterpret_cast<const __half*>(kv.k);
  const __half* vbase = reinterpret_cast<const __half*>(kv.v);
  for (int k0 = 0; k0 < key_end; k0 += kTcKeys) {
    __syncwarp();  // the previous tile is consumed (and qs written)
    for (int e = lane; e < kTcKeys * HD / 2; e += 32) {
      const int j = e / (HD / 2), d = 2 * (e % (HD / 2));
      const int kpos = k0 + j;
      float2 kf = make_float2(0.0f, 0.0f), vf = kf;
      if (kpos < key_end) {
        const int64_t off =
            KvElementIndex(PagedSlot(table, kpos, kv.block_size), kvh, d, kv.n_kv_heads, HD);
        kf = __half22float2(*reinterpret_cast<const __half2*>(kbase + off));
        vf = __half22float2(*reinterpret_cast<const __half2*>(vbase + off));
      }
      *reinterpret_cast<__nv_bfloat162*>(&ks[j][d]) = __floats2bfloat162_rn(kf.x, kf.y);
      vt[d][j] = __float2bfloat16_rn(vf.x);
      vt[d + 1][j] = __float2bfloat16_rn(vf.y);
    }
    __syncwarp();

    // S = Q Kᵀ: 4 n-tiles of 8 keys, HD / 16 k-steps.
    float s[4][4];
#pragma unroll
    for (int n = 0; n < 4; ++n) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < HD / 16; ++kk) {
      const int c = kk * 16 + 2 * t;
      const uint32_t a[4] = {
          *reinterpret_cast<const uint32_t*>(&qs[g][c]),
          *reinterpret_cast<const uint32_t*>(&qs[g + 8][c]),
          *reinterpret_cast<const uint32_t*>(&qs[g][c + 8]),
          *reinterpret_cast<const uint32_t*>(&qs[g + 8][c + 8])};
#pragma unroll
      for (int n = 0; n < 4; ++n) {
        Mma(s[n], a, *reinterpret_cast<const uint32_t*>(&ks[n * 8 + g][c]),
            *reinterpret_cast<const uint32_t*>(&ks[n * 8 + g][c + 8]));
      }
    }

    // Mask (causal, past the end), ALiBi, online softmax per row. s[n][0..1]
    // are row g, keys n*8 + 2t + {0,1}; s[n][2..3] row g + 8.
    float alpha[2];
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      float mx = -INFINITY;
#pragma unroll
      for (int n = 0; n < 4; ++n) {
#pragma unroll
        for (int b = 0; b < 2; ++b) {
          const int kpos = k0 + n * 8 + 2 * t + b;
          float& x = s[n][2 * i + b];
          x = valid[i] && kpos < key_end && KeyVisible(kpos, qpos[i])
                  ? x + slope * static_cast<float>(kpos - qpos[i])
                  : -INFINITY;
          mx = fmaxf(mx, x);
        }
      }
      mx = fmaxf(mx, __shfl_xor_sync(kFullMask, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(kFullMask, mx, 2));
      const float m_new = fmaxf(m[i], mx);
      alpha[i] = m_new == -INFINITY || m[i] == -INFINITY ? 0.0f : __expf(m[i] - m_new);
      float sum = 0.0f;
#pragma unroll
      for (int n = 0; n < 4; ++n) {
#pragma unroll
        for (int b = 0; b < 2; ++b) {
          float& x = s[n][2 * i + b];
          x = x == -INFINITY ? 0.0f : __expf(x - m_new);
          sum += x;
        }
      }
      sum += __shfl_xor_sync(kFullMask, sum, 1);
      sum += __shfl_xor_sync(kFullMask, sum, 2);
      l[i] = l[i] * alpha[i] + sum;
      m[i] = m_new;
    }
#pragma unroll
    for (int n = 0; n < kDimTiles; ++n) {
      o[n][0] *= alpha[0];
      o[n][1] *= alpha[0];
      o[n][2] *= alpha[1];
      o[n][3] *= alpha[1];
    }

    // O += P V: P's A fragments come straight from the S accumulators (key
    // tiles 2ks and 2ks + 1 form k-step ks).
#pragma unroll
    for (int ks2 = 0; ks2 < 2; ++ks2) {
      const uint32_t a[4] = {PackBf16(s[2 * ks2][0], s[2 * ks2][1]),
                             PackBf16(s[2 * ks2][2], s[2 * ks2][3]),
                             PackBf16(s[2 * ks2 + 1][0], s[2 * ks2 + 1][1]),
                             PackBf16(s[2 * ks2 + 1][2], s[2 * ks2 + 1][3])};
      const int c = ks2 * 16 + 2 * t;
#pragma unroll
      for (int n = 0; n < kDimTiles; ++n) {
        Mma(o[n], a, *reinterpret_cast<const uint32_t*>(&vt[n * 8 + g][c]),
            *reinterpret_cast<const uint32_t*>(&vt[n * 8 + g][c + 8]));
      }
    }
  }

#pragma unroll
  for (int i = 0; i < 2; ++i) {
    if (!valid[i]) continue;
    const int qi = tile.q_begin + g + 8 * i;
    float* orow = out + (int64_t{tile.query_start + qi} * p.n_head + h) * HD;
    const float inv = l[i] > 0.0f ? 1.0f / l[i] : 0.0f;
#pragma unroll
    for (int n = 0; n < kDimTiles; ++n) {
      *reinterpret_cast<float2*>(orow + n * 8 + 2 * t) =
          make_float2(o[n][2 * i] * inv, o[n][2 * i + 1] * inv);
    }
  }
}

}  // namespace

cudaError_t LaunchPagedPrefillAttentionTc(const DeviceAttentionParams& params,
                                          const DeviceKvLayer& kv, const PrefillTile* tiles,
                                          int num_tiles, const int32_t* block_tables,
                                          const float* q, float* out, cudaStream_t stream) {
  if (num_tiles == 0) return cudaSuccess;
  const dim3 grid(num_tiles, params.n_head);
  switch (params.head_dim) {
    case 64:
      PrefillTcKernel<64><<<grid, 32, 0, stream>>>(params, kv, tiles, block_tables, q, out);
      break;
    case 128:
      PrefillTcKernel<128><<<grid, 32, 0, stream>>>(params, kv, tiles, block_tables, q, out);
      break;
    default:
      return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

}  // namespace llm::cuda
