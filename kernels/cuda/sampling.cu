// Device sampling (greedy, top-k, top-p, min-p, Philox); see sampling.cuh.
#include "kernels/cuda/sampling.cuh"

#include "kernels/cuda/cuda_common.cuh"
#include "kernels/cuda/philox.cuh"

namespace llm::cuda {
namespace {

constexpr int kSampleThreads = 1024;
constexpr int kBisectIters = 32;

// (value, index) max with the lowest index winning ties, block-wide.
__device__ void BlockArgMax(float* v, int* idx, float* sv, int* si) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int o = 16; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(kFullMask, *v, o);
    const int oi = __shfl_xor_sync(kFullMask, *idx, o);
    if (ov > *v || (ov == *v && oi < *idx)) {
      *v = ov;
      *idx = oi;
    }
  }
  __syncthreads();
  if (lane == 0) {
    sv[warp] = *v;
    si[warp] = *idx;
  }
  __syncthreads();
  *v = sv[0];
  *idx = si[0];
  for (int w = 1; w < static_cast<int>(blockDim.x >> 5); ++w) {
    if (sv[w] > *v || (sv[w] == *v && si[w] < *idx)) {
      *v = sv[w];
      *idx = si[w];
    }
  }
}

// grid rows, block kSampleThreads.
__global__ void SampleKernel(const float* logits, int vocab,
                             const DeviceSamplingParams* params, int32_t* tokens) {
  __shared__ float red[32];
  __shared__ float sv[32];
  __shared__ int si[32];
  __shared__ float prefix[kSampleThreads];
  const float* x = logits + int64_t{blockIdx.x} * vocab;
  const DeviceSamplingParams p = params[blockIdx.x];
  const int tid = threadIdx.x;

  float best = -INFINITY;
  int best_i = vocab;
  for (int i = tid; i < vocab; i += blockDim.x) {
    if (x[i] > best) {  // ascending i: the first maximum stays
      best = x[i];
      best_i = i;
    }
  }
  BlockArgMax(&best, &best_i, sv, si);
  if (p.temperature <= 0.0f || p.top_k == 1) {
    if (tid == 0) tokens[blockIdx.x] = best_i;
    return;
  }
  const float inv_t = 1.0f / p.temperature;
  auto weight = [&](int i) { return expf((x[i] - best) * inv_t); };
  auto count_at_least = [&](float tau) {
    float c = 0.0f;
    for (int i = tid; i < vocab; i += blockDim.x) c += weight(i) >= tau ? 1.0f : 0.0f;
    return BlockSum(c, red);
  };
  auto mass_at_least = [&](float tau) {
    float s = 0.0f;
    for (int i = tid; i < vocab; i += blockDim.x) {
      const float w = weight(i);
      if (w >= tau) s += w;
    }
    return BlockSum(s, red);
  };

  // Top-k: the largest tau keeping >= k tokens (count(0) = vocab >= k,
  // count(1.0001) = 0 < k).
  float tau = 0.0f;
  if (p.top_k > 0 && p.top_k < vocab) {
    float lo = 0.0f, hi = 1.0001f;
    for (int it = 0; it < kBisectIters; ++it) {
      const float mid = 0.5f * (lo + hi);
      if (count_at_least(mid) >= static_cast<float>(p.top_k)) lo = mid; else hi = mid;
    }
    tau = lo;
  }
  // Top-p over what top-k kept: the largest tau whose kept mass still
  // reaches top_p of the total.
  if (p.top_p < 1.0f) {
    const float need = p.top_p * mass_at_least(tau);
    float lo = tau, hi = 1.0001f;
    for (int it = 0; it < kBisectIters; ++it) {
      const float mid = 0.5f * (lo + hi);
      if (mass_at_least(mid) >= need) lo = mid; else hi = mid;
    }
    tau = lo;
  }
  // Min-p: w >= min_p (w_max is 1).
  if (p.min_p > 0.0f && p.min_p > tau) tau = p.min_p;

  // Inverse CDF in id order: thread t owns ids [t * chunk, (t + 1) * chunk).
  const int chunk = (vocab + blockDim.x - 1) / blockDim.x;
  const int b = tid * chunk, e = min(vocab, b + chunk);
  float local = 0.0f;
  int last_kept = -1;
  for (int i = b; i < e; ++i) {
    const float w = weight(i);
    if (w >= tau) {
      local += w;
      last_kept = i;
    }
  }
  prefix[tid] = local;
  __syncthreads();
  if (tid == 0) {  // serial exclusive scan: fixed order, reproducible
    float run = 0.0f;
    for (int t = 0; t < static_cast<int>(blockDim.x); ++t) {
      const float s = prefix[t];
      prefix[t] = run;
      run += s;
    }
    red[0] = run;  // total kept mass
    tokens[blockIdx.x] = best_i;  // fallback, overwritten below
  }
  __syncthreads();
  const float total = red[0];
  const float target = static_cast<float>(PhiloxUniform53(p.seed, p.step, p.sample_index) * total);
  const float start = prefix[tid];
  const bool last_owner = tid == static_cast<int>(blockDim.x) - 1;
  if (local > 0.0f && target >= start && (target < start + local || last_owner)) {
    float acc = start;
    int chosen = last_kept;
    for (int i = b; i < e; ++i) {
      const float w = weight(i);
      if (w < tau) continue;
      acc += w;
      if (target < acc) {
        chosen = i;
        break;
      }
    }
    tokens[blockIdx.x] = chosen;
  }
}

}  // namespace

cudaError_t LaunchSample(const float* logits, int rows, int vocab,
                         const DeviceSamplingParams* params, int32_t* tokens,
                         cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  if (vocab <= 0) return cudaErrorInvalidValue;
  SampleKernel<<<rows, kSampleThreads, 0, stream>>>(logits, vocab, params, tokens);
  return cudaGetLastError();
}

}  // namespace llm::cuda
