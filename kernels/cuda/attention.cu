// Paged decode (FlashDecoding) and prefill (FlashAttention-2 style)
// attention; see attention.cuh.
#include "kernels/cuda/attention.cuh"

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/paged_index.cuh"

namespace llm::cuda {
namespace {

constexpr int kDecodeThreads = 128;
constexpr int kMaxHeadDim = 256;
constexpr int kPrefillThreads = 128;
constexpr int kRowsPerWarp = kPrefillTileQ / (kPrefillThreads / 32);

int MaxPartitions(int max_keys) {
  const int p = NumDecodePartitions(max_keys);
  return p > 1 ? p : 0;
}

// grid (max partitions, n_head, num_rows), block kDecodeThreads.
// Writes out directly when the row has one partition, else its partition's
// unnormalised output o: ws_o[row][h][part][hd] and (max, sum) to
// ws_m / ws_l [row][h][part].
__global__ void DecodePartitionKernel(DeviceAttentionParams p, DeviceKvLayer kv,
                                      const DecodeRow* rows,
                                      const int32_t* tables, const float* q,
                                      int max_parts, float* ws_o, float* ws_m,
                                      float* ws_l, float* out) {
  __shared__ float qs[kMaxHeadDim];
  __shared__ float s[kDecodePartitionSize];
  __shared__ int32_t slots[kDecodePartitionSize];
  __shared__ float red[32];
  __shared__ float pv[2 * kDecodeThreads];  // per key-group partial outputs

  const DecodeRow r = rows[blockIdx.z];
  const int h = blockIdx.y, part = blockIdx.x;
  const int num_keys = r.position + 1;
  const int nparts = NumDecodePartitions(num_keys);
  if (part >= nparts) return;
  int kb, ke;
  DecodePartitionRange(part, num_keys, &kb, &ke);
  const int hd = p.head_dim;
  const int kvh = KvHeadOf(h, p.n_head, p.n_kv_heads);
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int nwarps = blockDim.x >> 5;

  const float* qrow = q + (int64_t{r.row} * p.n_head + h) * hd;
  for (int d = tid; d < hd; d += blockDim.x) qs[d] = qrow[d] * p.scale;
  __syncthreads();

  const int32_t* table = tables + r.table_offset;
  const float slope = p.alibi_slopes != nullptr ? p.alibi_slopes[h] : 0.0f;
  const __half* kbase = reinterpret_cast<const __half*>(kv.k);
  const __half* vbase = reinterpret_cast<const __half*>(kv.v);

  // Scores: one warp per key, lanes over dim pairs.
  for (int j = kb + warp; j < ke; j += nwarps) {
    const int64_t slot = PagedSlot(table, j, kv.block_size);
    const __half2* krow = reinterpret_cast<const __half2*>(
        kbase + KvElementIndex(slot, kvh, 0, kv.n_kv_heads, hd));
    float acc = 0.0f;
    for (int d2 = lane; d2 < hd / 2; d2 += 32) {
      const float2 kf = __half22float2(krow[d2]);
      acc += qs[2 * d2] * kf.x + qs[2 * d2 + 1] * kf.y;
    }
    acc = WarpSum(acc);
    if (lane == 0) {
      s[j - kb] = acc + slope * static_cast<float>(j - r.position);
      slots[j - kb] = static_cast<int32_t>(slot);
    }
  }
  __syncthreads();
  const int n = ke - kb;
  float mx = -INFINITY;
  for (int i = tid; i < n; i += blockDim.x) mx = fmaxf(mx, s[i]);
  mx = BlockMax(mx, red);
  float sum = 0.0f;
  for (int i = tid; i < n; i += blockDim.x) {
    const float e = expf(s[i] - mx);
    s[i] = e;
    sum += e;
  }
  sum = BlockSum(sum, red);  // its barriers also publish s[]

  // P·V: groups of hd/2 threads (one dim pair each), groups over keys.
  const int gsz = hd / 2;
  const int groups = blockDim.x / gsz;
  const int g = tid / gsz, d2 = tid % gsz;
  float2 acc = make_float2(0.0f, 0.0f);
  if (g < groups) {
    for (int i = g; i < n; i += groups) {
      const __half2* vrow = reinterpret_cast<const __half2*>(
          vbase + KvElementIndex(slots[i], kvh, 0, kv.n_kv_heads, hd));
      const float2 vf = __half22float2(vrow[d2]);
      acc.x += s[i] * vf.x;
      acc.y += s[i] * vf.y;
    }
    pv[g * hd + 2 * d2] = acc.x;
    pv[g * hd + 2 * d2 + 1] = acc.y;
  }
  __syncthreads();
  for (int d = tid; d < hd; d += blockDim.x) {
    float o = 0.0f;
    for (int gg = 0; gg < groups; ++gg) o += pv[gg * hd + d];  // fixed order
    if (nparts == 1) {
      out[(int64_t{r.row} * p.n_head + h) * hd + d] = o / sum;
    } else {
      const int64_t idx = (int64_t{blockIdx.z} * p.n_head + h) * max_parts + part;
      ws_o[idx * hd + d] = o;
      if (d == 0) {
        ws_m[idx] = mx;
        ws_l[idx] = sum;
      }
    }
  }
}

// grid (n_head, num_rows), block >= head_dim threads: merges the
// partitions of rows that split (log-sum-exp), in partition order.
__global__ void DecodeMergeKernel(DeviceAttentionParams p, const DecodeRow* rows,
                                  int max_parts, const float* ws_o,
                                  const float* ws_m, const float* ws_l,
                                  float* out) {
  const DecodeRow r = rows[blockIdx.y];
  const int h = blockIdx.x;
  const int nparts = NumDecodePartitions(r.position + 1);
  if (nparts == 1) return;
  const int hd = p.head_dim;
  const int64_t base = (int64_t{blockIdx.y} * p.n_head + h) * max_parts;
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    float m = 0.0f, l = 0.0f, o = 0.0f;
    for (int part = 0; part < nparts; ++part) {
      const LseFactors f = MergeLse(&m, &l, ws_m[base + part], ws_l[base + part]);
      o = o * f.scale_old + ws_o[(base + part) * hd + d] * f.scale_new;
    }
    out[(int64_t{r.row} * p.n_head + h) * hd + d] = l > 0.0f ? o / l : 0.0f;
  }
}

// grid (num_tiles, n_head), block kPrefillThreads. Warp w owns query rows
// [w * kRowsPerWarp, (w + 1) * kRowsPerWarp) of the tile; lane j scores key
// j of each K tile, then every lane accumulates dims lane + 32c.
template <int HD>
__global__ void PrefillKernel(DeviceAttentionParams p, DeviceKvLayer kv,
                              const PrefillTile* tiles, const int32_t* tables,
                              const float* q, float* out) {
  constexpr int kC = HD / 32;
  __shared__ float qs[kPrefillTileQ][HD];
  __shared__ float ks[kPrefillTileK][HD + 1];  // +1: conflict-free by lane
  __shared__ float vs[kPrefillTileK][HD];

  const PrefillTile t = tiles[blockIdx.x];
  const int h = blockIdx.y;
  const int kvh = KvHeadOf(h, p.n_head, p.n_kv_heads);
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const float slope = p.alibi_slopes != nullptr ? p.alibi_slopes[h] : 0.0f;
  const int32_t* table = tables + t.table_offset;

  for (int e = tid; e < kPrefillTileQ * HD; e += blockDim.x) {
    const int r = e / HD, d = e % HD;
    const int qi = t.q_begin + r;
    qs[r][d] = qi < t.num_queries
                   ? q[(int64_t{t.query_start + qi} * p.n_head + h) * HD + d] * p.scale
                   : 0.0f;
  }

  float acc[kRowsPerWarp][kC];
  float m[kRowsPerWarp], l[kRowsPerWarp];
  int qpos[kRowsPerWarp];
  bool valid[kRowsPerWarp];
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    const int qi = t.q_begin + warp * kRowsPerWarp + r;
    valid[r] = qi < t.num_queries;
    qpos[r] = QueryPosition(t.context_len, t.num_queries, qi);
    m[r] = -INFINITY;
    l[r] = 0.0f;
#pragma unroll
    for (int c = 0; c < kC; ++c) acc[r][c] = 0.0f;
  }

  const int key_end = PrefillKeyEnd(t.context_len, t.num_queries, t.q_begin);
  const __half* kbase = reinterpret_cast<const __half*>(kv.k);
  const __half* vbase = reinterpret_cast<const __half*>(kv.v);
  for (int k0 = 0; k0 < key_end; k0 += kPrefillTileK) {
    __syncthreads();  // previous tile fully consumed (and qs written)
    for (int e = tid; e < kPrefillTileK * HD / 2; e += blockDim.x) {
      const int j = e / (HD / 2), d = 2 * (e % (HD / 2));
      const int kpos = k0 + j;
      float2 kf = make_float2(0.0f, 0.0f), vf = kf;
      if (kpos < key_end) {
        const int64_t off = KvElementIndex(PagedSlot(table, kpos, kv.block_size),
                                           kvh, d, kv.n_kv_heads, HD);
        kf = __half22float2(*reinterpret_cast<const __half2*>(kbase + off));
        vf = __half22float2(*reinterpret_cast<const __half2*>(vbase + off));
      }
      ks[j][d] = kf.x;
      ks[j][d + 1] = kf.y;
      vs[j][d] = vf.x;
      vs[j][d + 1] = vf.y;
    }
    __syncthreads();
    const int kpos = k0 + lane;
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
      if (!valid[r]) continue;  // warp-uniform
      const int row = warp * kRowsPerWarp + r;
      float sc = -INFINITY;
      if (kpos < key_end && KeyVisible(kpos, qpos[r])) {
        float dot = 0.0f;
#pragma unroll 8
        for (int d = 0; d < HD; ++d) dot += qs[row][d] * ks[lane][d];
        sc = dot + slope * static_cast<float>(kpos - qpos[r]);
      }
      const float m_new = fmaxf(m[r], WarpMax(sc));
      if (m_new == -INFINITY) continue;  // warp-uniform: nothing visible yet
      const float pr = sc == -INFINITY ? 0.0f : expf(sc - m_new);
      const float alpha = m[r] == -INFINITY ? 0.0f : expf(m[r] - m_new);
      l[r] = l[r] * alpha + WarpSum(pr);
      m[r] = m_new;
#pragma unroll
      for (int c = 0; c < kC; ++c) acc[r][c] *= alpha;
      for (int j = 0; j < kPrefillTileK; ++j) {
        const float pj = __shfl_sync(kFullMask, pr, j);
#pragma unroll
        for (int c = 0; c < kC; ++c) acc[r][c] += pj * vs[j][lane + 32 * c];
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    if (!valid[r]) continue;
    const int qi = t.q_begin + warp * kRowsPerWarp + r;
    float* orow = out + (int64_t{t.query_start + qi} * p.n_head + h) * HD;
    const float inv = l[r] > 0.0f ? 1.0f / l[r] : 0.0f;
#pragma unroll
    for (int c = 0; c < kC; ++c) orow[lane + 32 * c] = acc[r][c] * inv;
  }
}

}  // namespace

int64_t DecodeWorkspaceFloats(int num_rows, int n_head, int head_dim,
                              int max_keys) {
  return int64_t{num_rows} * n_head * MaxPartitions(max_keys) * (head_dim + 2);
}

cudaError_t LaunchPagedDecodeAttention(const DeviceAttentionParams& params,
                                       const DeviceKvLayer& kv,
                                       const DecodeRow* rows, int num_rows,
                                       int max_keys,
                                       const int32_t* block_tables,
                                       const float* q, float* workspace,
                                       float* out, cudaStream_t stream) {
  if (num_rows == 0) return cudaSuccess;
  if (params.head_dim % 2 != 0 || params.head_dim > kMaxHeadDim ||
      params.head_dim / 2 > kDecodeThreads) {
    return cudaErrorInvalidValue;
  }
  const int max_parts = MaxPartitions(max_keys);
  float* ws_o = workspace;
  const int64_t slots = int64_t{num_rows} * params.n_head * max_parts;
  float* ws_m = max_parts > 0 ? ws_o + slots * params.head_dim : nullptr;
  float* ws_l = max_parts > 0 ? ws_m + slots : nullptr;
  const dim3 grid(max_parts > 0 ? max_parts : 1, params.n_head, num_rows);
  DecodePartitionKernel<<<grid, kDecodeThreads, 0, stream>>>(
      params, kv, rows, block_tables, q, max_parts, ws_o, ws_m, ws_l, out);
  if (max_parts > 0) {
    DecodeMergeKernel<<<dim3(params.n_head, num_rows), kDecodeThreads, 0,
                        stream>>>(params, rows, max_parts, ws_o, ws_m, ws_l,
                                  out);
  }
  return cudaGetLastError();
}

cudaError_t LaunchPagedPrefillAttention(const DeviceAttentionParams& params,
                                        const DeviceKvLayer& kv,
                                        const PrefillTile* tiles,
                                        int num_tiles,
                                        const int32_t* block_tables,
                                        const float* q, float* out,
                                        cudaStream_t stream) {
  if (num_tiles == 0) return cudaSuccess;
  const dim3 grid(num_tiles, params.n_head);
  switch (params.head_dim) {
    case 64:
      PrefillKernel<64><<<grid, kPrefillThreads, 0, stream>>>(
          params, kv, tiles, block_tables, q, out);
      break;
    case 128:
      PrefillKernel<128><<<grid, kPrefillThreads, 0, stream>>>(
          params, kv, tiles, block_tables, q, out);
      break;
    default:
      return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

}  // namespace llm::cuda
