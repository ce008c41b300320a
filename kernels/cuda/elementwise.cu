// Fused element-wise and row-wise kernels; see elementwise.cuh.
#include "kernels/cuda/elementwise.cuh"

#include "kernels/cuda/cuda_common.cuh"

namespace llm::cuda {
namespace {

constexpr int kRowThreads = 256;

// grid n, block kRowThreads: one row per block.
__global__ void RmsNormKernel(float* x, const float* delta, const float* w,
                              int d, float eps, float* out) {
  __shared__ float red[32];
  float* xr = x + int64_t{blockIdx.x} * d;
  float ss = 0.0f;
  for (int i = threadIdx.x; i < d; i += blockDim.x) {
    float v = xr[i];
    if (delta != nullptr) {
      v += delta[int64_t{blockIdx.x} * d + i];
      xr[i] = v;
    }
    ss += v * v;
  }
  ss = BlockSum(ss, red);
  const float inv = rsqrtf(ss / d + eps);
  float* o = out + int64_t{blockIdx.x} * d;
  for (int i = threadIdx.x; i < d; i += blockDim.x) o[i] = xr[i] * inv * w[i];
}

// grid n tokens, block 128: pairs of q heads then k heads, then v.
__global__ void RopeWriteKernel(DeviceKvWrite cache, float* q, int n_head,
                                float* k, const float* v,
                                const int32_t* positions, const int64_t* slots,
                                int rope_dim, float freq_base, bool neox) {
  const int t = blockIdx.x;
  const int hd = cache.head_dim, nkv = cache.n_kv_heads;
  const int half_hd = hd / 2;
  float* qt = q + int64_t{t} * n_head * hd;
  float* kt = k + int64_t{t} * nkv * hd;
  if (rope_dim > 0) {
    const double pos = positions[t];
    const int pairs = (n_head + nkv) * half_hd;
    for (int e = threadIdx.x; e < pairs; e += blockDim.x) {
      const int head = e / half_hd, i = e % half_hd;
      if (i >= rope_dim / 2) continue;  // pass-through dims
      float* base = head < n_head ? qt + head * hd : kt + (head - n_head) * hd;
      int d0, d1;
      RopePairDims(i, rope_dim, neox, &d0, &d1);
      const double theta = pos * pow(static_cast<double>(freq_base),
                                     -2.0 * i / rope_dim);
      double sn, cs;
      sincos(theta, &sn, &cs);
      const float a = base[d0], b = base[d1];
      base[d0] = static_cast<float>(a * cs - b * sn);
      base[d1] = static_cast<float>(a * sn + b * cs);
    }
    __syncthreads();  // rotated k visible before the cache write
  }
  const int64_t slot = slots[t];
  if (slot < 0) return;
  const int kvd = nkv * hd;
  __half* kc = reinterpret_cast<__half*>(cache.k) + slot * kvd;
  __half* vc = reinterpret_cast<__half*>(cache.v) + slot * kvd;
  const float* vt = v + int64_t{t} * kvd;
  for (int e = threadIdx.x; e < kvd; e += blockDim.x) {
    kc[e] = __float2half_rn(kt[e]);
    vc[e] = __float2half_rn(vt[e]);
  }
}

__global__ void SwiGluKernel(const float* gate, const float* up, int64_t n,
                             float* out) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    const float g = gate[i];
    out[i] = g / (1.0f + expf(-g)) * up[i];
  }
}

// grid n tokens, block kRowThreads.
__global__ void EmbedKernel(const uint8_t* weights, QuantFormat format,
                            int64_t row_bytes, int64_t cols,
                            const int32_t* tokens, float* x) {
  const uint8_t* row = weights + int64_t{tokens[blockIdx.x]} * row_bytes;
  float* out = x + int64_t{blockIdx.x} * cols;
  for (int64_t e = threadIdx.x; e < cols; e += blockDim.x) {
    out[e] = DequantElement(format, row, e / kQuantBlock,
                            static_cast<int>(e % kQuantBlock));
  }
}

__global__ void GatherRowsKernel(const float* x, int d, const int32_t* rows,
                                 float* out) {
  const float* src = x + int64_t{rows[blockIdx.x]} * d;
  float* dst = out + int64_t{blockIdx.x} * d;
  for (int i = threadIdx.x; i < d; i += blockDim.x) dst[i] = src[i];
}

// grid (num_pairs, num_caches), block 256; copies 16-byte words when the
// block is a multiple of 8 halves (always for head_dim % 8 == 0).
__global__ void CopyBlocksKernel(uint16_t* const* caches, const int32_t* pairs,
                                 int64_t block_elems) {
  uint16_t* c = caches[blockIdx.y];
  const int64_t src = pairs[2 * blockIdx.x], dst = pairs[2 * blockIdx.x + 1];
  if (block_elems % 8 == 0) {
    const uint4* s = reinterpret_cast<const uint4*>(c + src * block_elems);
    uint4* d = reinterpret_cast<uint4*>(c + dst * block_elems);
    for (int64_t i = threadIdx.x; i < block_elems / 8; i += blockDim.x) d[i] = s[i];
  } else {
    for (int64_t i = threadIdx.x; i < block_elems; i += blockDim.x) {
      c[dst * block_elems + i] = c[src * block_elems + i];
    }
  }
}

__global__ void F32ToBf16Kernel(const float* x, int64_t n, __nv_bfloat16* out) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    out[i] = __float2bfloat16_rn(x[i]);
  }
}

int GridFor(int64_t n, int threads) {
  const int64_t blocks = (n + threads - 1) / threads;
  return static_cast<int>(blocks < 65535 * 8 ? blocks : 65535 * 8);
}

}  // namespace

cudaError_t LaunchRmsNorm(const float* x, const float* w, int n, int d,
                          float eps, float* out, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  // x is only read when delta is null.
  RmsNormKernel<<<n, kRowThreads, 0, stream>>>(const_cast<float*>(x), nullptr,
                                               w, d, eps, out);
  return cudaGetLastError();
}

cudaError_t LaunchAddRmsNorm(float* x, const float* delta, const float* w,
                             int n, int d, float eps, float* out,
                             cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  RmsNormKernel<<<n, kRowThreads, 0, stream>>>(x, delta, w, d, eps, out);
  return cudaGetLastError();
}

cudaError_t LaunchRopeAndWriteKv(const DeviceKvWrite& cache, float* q,
                                 int n_head, float* k, const float* v, int n,
                                 const int32_t* positions, const int64_t* slots,
                                 int rope_dim, float freq_base, bool neox,
                                 cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  if (cache.head_dim % 2 != 0 || rope_dim % 2 != 0 || rope_dim > cache.head_dim) {
    return cudaErrorInvalidValue;
  }
  RopeWriteKernel<<<n, 128, 0, stream>>>(cache, q, n_head, k, v, positions,
                                         slots, rope_dim, freq_base, neox);
  return cudaGetLastError();
}

cudaError_t LaunchSwiGlu(const float* gate, const float* up, int64_t n,
                         float* out, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  SwiGluKernel<<<GridFor(n, 256), 256, 0, stream>>>(gate, up, n, out);
  return cudaGetLastError();
}

cudaError_t LaunchEmbed(const uint8_t* weights, QuantFormat format,
                        int64_t row_bytes, int64_t cols, const int32_t* tokens,
                        int n, float* x, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  if (cols % kQuantBlock != 0) return cudaErrorInvalidValue;
  EmbedKernel<<<n, kRowThreads, 0, stream>>>(weights, format, row_bytes, cols,
                                             tokens, x);
  return cudaGetLastError();
}

cudaError_t LaunchGatherRows(const float* x, int d, const int32_t* rows, int m,
                             float* out, cudaStream_t stream) {
  if (m == 0) return cudaSuccess;
  GatherRowsKernel<<<m, kRowThreads, 0, stream>>>(x, d, rows, out);
  return cudaGetLastError();
}

cudaError_t LaunchCopyBlocks(uint16_t* const* caches, int num_caches,
                             const int32_t* pairs, int num_pairs,
                             int64_t block_elems, cudaStream_t stream) {
  if (num_pairs == 0 || num_caches == 0) return cudaSuccess;
  CopyBlocksKernel<<<dim3(num_pairs, num_caches), 256, 0, stream>>>(
      caches, pairs, block_elems);
  return cudaGetLastError();
}

cudaError_t LaunchF32ToBf16(const float* x, int64_t n, uint16_t* out,
                            cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  F32ToBf16Kernel<<<GridFor(n, 256), 256, 0, stream>>>(
      x, n, reinterpret_cast<__nv_bfloat16*>(out));
  return cudaGetLastError();
}

}  // namespace llm::cuda
