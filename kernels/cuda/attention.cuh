// File: kernels/cuda/attention.cuh
//
// Paged attention on the GPU over the fp16 NHD KV cache
// ([num_blocks][block_size][n_kv_heads][head_dim] per layer, K and V).
// Two kernels share one batch description:
// - decode (FlashDecoding): one query row per work item, keys split into
//   partitions of kDecodePartitionSize (paged_index.cuh), each partition's
//   (max, sum, unnormalised output) merged by log-sum-exp in a second kernel;
// - prefill (FlashAttention-2 style): tiles of kPrefillTileQ query rows of one
//   sequence and one head, K/V tiles of kPrefillTileK keys gathered through
//   the block table into shared memory, online softmax in registers, causal,
//   GQA, optional ALiBi. Head dims 64 and 128 (template instantiations).
// Both accumulate in fp32 with a fixed order: a row's result does not depend
// on the rest of the batch.
//
// All pointers are device memory. Launchers enqueue on `stream` and return
// the launch error (cudaSuccess when nothing was to do).
//
// Thread safety: stateless; concurrent launches on different streams are
// safe when their outputs do not alias.
#ifndef LLM_KERNELS_CUDA_ATTENTION_CUH_
#define LLM_KERNELS_CUDA_ATTENTION_CUH_

#include <cstdint>

#include <cuda_runtime_api.h>

namespace llm::cuda {

struct DeviceKvLayer {
  const uint16_t* k = nullptr;  // fp16 bits
  const uint16_t* v = nullptr;
  int block_size = 16;
  int n_kv_heads = 0;
  int head_dim = 0;
};

struct DeviceAttentionParams {
  int n_head = 0;
  int n_kv_heads = 0;
  int head_dim = 0;
  float scale = 0.0f;
  const float* alibi_slopes = nullptr;  // device [n_head] or null
};

// One query row of the decode kernel (device array of these).
struct DecodeRow {
  int32_t row = 0;          // row of q / out
  int32_t position = 0;     // its position; it sees keys [0, position]
  int32_t table_offset = 0; // its sequence's block table in `block_tables`
};

// Decode workspace floats for `num_rows` rows, `n_head` heads and contexts
// of at most `max_keys` keys (0 when no row splits).
int64_t DecodeWorkspaceFloats(int num_rows, int n_head, int head_dim,
                              int max_keys);

// q, out: [*, n_head, head_dim] f32. rows: [num_rows] device. block_tables:
// all sequences' tables concatenated (int32 physical block ids). max_keys:
// the largest position + 1 among the rows (sizes the grid). workspace:
// DecodeWorkspaceFloats(...) floats.
cudaError_t LaunchPagedDecodeAttention(const DeviceAttentionParams& params,
                                       const DeviceKvLayer& kv,
                                       const DecodeRow* rows, int num_rows,
                                       int max_keys,
                                       const int32_t* block_tables,
                                       const float* q, float* workspace,
                                       float* out, cudaStream_t stream);

// One prefill tile: kPrefillTileQ query rows of one sequence.
struct PrefillTile {
  int32_t query_start = 0;   // first row of the sequence in q / out
  int32_t num_queries = 0;   // the sequence's rows in this step
  int32_t context_len = 0;   // keys visible to its last row
  int32_t q_begin = 0;       // first query (0-based within the sequence)
  int32_t table_offset = 0;  // its block table in `block_tables`
};

// q, out: [*, n_head, head_dim] f32; tiles: [num_tiles] device.
// REQUIRES: head_dim is 64 or 128 (else cudaErrorInvalidValue).
cudaError_t LaunchPagedPrefillAttention(const DeviceAttentionParams& params,
                                        const DeviceKvLayer& kv,
                                        const PrefillTile* tiles,
                                        int num_tiles,
                                        const int32_t* block_tables,
                                        const float* q, float* out,
                                        cudaStream_t stream);

}  // namespace llm::cuda

#endif  // LLM_KERNELS_CUDA_ATTENTION_CUH_
