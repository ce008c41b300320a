// File: kernels/cuda/attention_tc.cuh
//
// Paged prefill attention on tensor cores: the same contract, tiles and
// batch description as LaunchPagedPrefillAttention (attention.cuh), but
// S = Q·Kᵀ and O += P·V run as bf16 mma.sync.m16n8k16 with fp32
// accumulation (sm_80+). One warp per (16-query tile, head): Q (scaled)
// and each 32-key K tile are converted to bf16 in shared memory, V stored
// transposed so that B fragments are single 32-bit loads; the softmax
// probabilities go from the S accumulators to A fragments in registers
// (FlashAttention-2's register reuse), with the online max/sum per row
// reduced over the 4 lanes that share it. Head dims 64 and 128.
//
// Accuracy: bf16 operands (8-bit mantissa) give errors of ~1e-2 relative
// where the fp32 kernel is at ~1e-6; CudaBackend uses it only when
// Options::tensor_core_prefill is set (LLM_CUDA_TC_PREFILL=1). Written
// without a GPU: never run yet (tests/gpu/attention_test.cc compares it
// with the fp32 kernel).
//
// Thread safety: stateless.
#ifndef LLM_KERNELS_CUDA_ATTENTION_TC_CUH_
#define LLM_KERNELS_CUDA_ATTENTION_TC_CUH_

#include <cuda_runtime_api.h>

#include "kernels/cuda/attention.cuh"
#include "kernels/cuda/paged_index.cuh"

namespace llm::cuda {

cudaError_t LaunchPagedPrefillAttentionTc(const DeviceAttentionParams& params,
                                          const DeviceKvLayer& kv,
                                          const PrefillTile* tiles, int num_tiles,
                                          const int32_t* block_tables, const float* q,
                                          float* out, cudaStream_t stream);

}  // namespace llm::cuda

#endif  // LLM_KERNELS_CUDA_ATTENTION_TC_CUH_
