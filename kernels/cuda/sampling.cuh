// File: kernels/cuda/sampling.cuh
//
// Token sampling on the device from fp32 logits, one CTA per row:
// greedy (temperature 0: argmax, lowest id on ties) or temperature with
// top-k, then top-p over what top-k kept, then min-p, as weight thresholds
// found by bisection (no sort: weights w_i = exp((x_i - max) / T) in (0, 1],
// a filter keeps w_i >= threshold; ties at a threshold are all kept), then
// inverse-CDF sampling in token-id order with the uniform that
// worker/sampler.h draws for the same (seed, step, sample_index)
// (kernels/cuda/philox.cuh). Penalties and logprobs are not handled here:
// the worker samples on the host from the logits (ModelRunner), and this
// kernel is the device path for when logits stay on the GPU.
//
// Thread safety: stateless.
#ifndef LLM_KERNELS_CUDA_SAMPLING_CUH_
#define LLM_KERNELS_CUDA_SAMPLING_CUH_

#include <cstdint>

#include <cuda_runtime_api.h>

namespace llm::cuda {

struct DeviceSamplingParams {
  float temperature = 0.0f;  // <= 0: greedy
  int32_t top_k = 0;         // <= 0 or >= vocab: off
  float top_p = 1.0f;        // >= 1: off
  float min_p = 0.0f;        // <= 0: off
  uint64_t seed = 0;
  uint64_t step = 0;          // Philox counter high word
  uint64_t sample_index = 0;  // Philox counter low word
};

// logits: [rows, vocab] f32 (unchanged); params: [rows]; tokens: [rows].
cudaError_t LaunchSample(const float* logits, int rows, int vocab,
                         const DeviceSamplingParams* params, int32_t* tokens,
                         cudaStream_t stream);

}  // namespace llm::cuda

#endif  // LLM_KERNELS_CUDA_SAMPLING_CUH_
