// File: worker/tensor_parallel.h
//
// Tensor-parallel sharding arithmetic (Megatron-LM style) for the llama
// decoder, as pure host functions so that CPU tests cover exactly what the
// CUDA backend uploads. With T ranks, rank r holds
//   - query heads [r·H/T, (r+1)·H/T) and KV heads [r·KV/T, (r+1)·KV/T): the
//     rows of attn_q / attn_k / attn_v (column-parallel, split by output
//     rows). Because T divides KV, a local query head's KV head is local too
//     and the local GQA ratio equals the global one;
//   - FFN units [r·F/T, (r+1)·F/T): the rows of ffn_gate / ffn_up;
//   - the matching input columns of attn_output and ffn_down (row-parallel):
//     each rank's product is a partial sum, all-reduced across the group;
//   - everything else (embedding, norms, LM head) whole, so that every rank
//     computes the same logits and samples the same tokens.
// A column slice of a quantised matrix must start and end on the type's
// block boundary (32 elements for Q4_0/Q4_1/Q8_0).
//
// Thread safety: pure functions.
#ifndef LLM_WORKER_TENSOR_PARALLEL_H_
#define LLM_WORKER_TENSOR_PARALLEL_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/gguf.h"
#include "common/model_config.h"

namespace llm {

// The largest group accepted (a sanity bound on the flag, not an NCCL one).
inline constexpr int kMaxTensorParallelSize = 64;

// Which part of the model a matrix is; decides how it is split.
enum class WeightRole {
  kReplicated,  // token_embd, output (LM head): every rank holds all of it
  kQ, kK, kV,   // column-parallel by heads
  kGate, kUp,   // column-parallel by FFN units
  kAttnOutput,  // row-parallel: input columns of the local heads
  kDown,        // row-parallel: input columns of the local FFN units
};

// A rectangle of a [rows, cols] weight matrix (GGUF: rows = ne[1],
// cols = ne[0], each row contiguous).
struct MatrixSlice {
  int64_t row_begin = 0, rows = 0;
  int64_t col_begin = 0, cols = 0;

  bool IsWhole(const GgufTensor& t) const {
    return row_begin == 0 && col_begin == 0 && rows == t.rows() && cols == t.ne[0];
  }
  bool operator==(const MatrixSlice& o) const {
    return row_begin == o.row_begin && rows == o.rows && col_begin == o.col_begin &&
           cols == o.cols;
  }
};

// What rank `rank` of `size` holds.
struct ShardLayout {
  int rank = 0, size = 1;
  int head_begin = 0, n_head = 0;        // query heads
  int kv_head_begin = 0, n_head_kv = 0;  // KV heads
  int ff_begin = 0, n_ff = 0;            // FFN units
};

// InvalidArgument unless 1 <= size <= kMaxTensorParallelSize and
// 0 <= rank < size.
absl::Status ValidateTensorParallel(int rank, int size);

// The layout of one rank. InvalidArgument (saying which count) when `size`
// does not divide n_head_kv (hence n_head) or n_ff.
absl::StatusOr<ShardLayout> PlanShards(const ModelConfig& config, int rank, int size);

// The config one rank computes with: n_head, n_head_kv and n_ff local; all
// else (d_model, head_dim, vocabulary, RoPE) unchanged. ALiBi slopes still
// follow the global head index: see AlibiHeadOffset.
ModelConfig LocalConfig(const ModelConfig& config, const ShardLayout& layout);

// The global index of local head 0 (for per-head ALiBi slopes of n_head·T).
inline int AlibiHeadOffset(const ShardLayout& layout) { return layout.head_begin; }

// The part of a [rows, cols] matrix with role `role` that `layout` holds.
MatrixSlice SliceFor(WeightRole role, const ModelConfig& config,
                     const ShardLayout& layout, int64_t rows, int64_t cols);

// InvalidArgument when `slice` leaves the tensor or cuts a quantisation
// block (column bounds not multiples of the type's block size).
absl::Status CheckSlice(const GgufTensor& tensor, const MatrixSlice& slice);

// The slice's bytes in the tensor's own format, rows packed
// ([slice.rows, slice.cols] of tensor.type). REQUIRES: CheckSlice is OK.
std::vector<uint8_t> CopySlice(const GgufTensor& tensor, const MatrixSlice& slice);

// A view of `bytes` (from CopySlice) as a tensor of the slice's shape, named
// after `tensor`; it points into `bytes`, which must outlive it.
GgufTensor SliceView(const GgufTensor& tensor, const MatrixSlice& slice,
                     const std::vector<uint8_t>& bytes);

// Placement of one llm-worker process in its group, from its flags and, in
// Kubernetes, its pod name: a StatefulSet names pods <set>-<N>, pod N is
// rank N % T of group N / T, and the group's rank 0 is pod N - N % T.
struct TpPlacement {
  int rank = 0;
  // Rank 0's gRPC address (empty for rank 0 itself, which needs none).
  std::string root;
};

// The trailing ordinal N of a StatefulSet pod name "<set>-<N>".
absl::StatusOr<int> StatefulSetOrdinal(std::string_view hostname);

// tp_rank >= 0 is taken as given; tp_rank < 0 means "from the pod name":
// rank = ordinal(hostname) % tp_size. In tp_root the text "{root_ordinal}"
// becomes the ordinal of the group's rank-0 pod (ordinal - rank), so that
// one template serves every pod of the StatefulSet. tp_size 1: rank 0, no
// root. InvalidArgument when a rank > 0 has no root or the hostname has no
// ordinal but one is needed.
absl::StatusOr<TpPlacement> ResolveTpPlacement(int tp_rank, int tp_size,
                                               const std::string& tp_root,
                                               const std::string& hostname);

}  // namespace llm

#endif  // LLM_WORKER_TENSOR_PARALLEL_H_
