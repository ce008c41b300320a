// File: worker/backend.h
//
// Backend: the arithmetic of one worker (CPU today, CUDA later) behind the
// operations the model's forward pass needs. The forward pass (worker/
// llama_forward.cc) is written once against this interface; a backend owns
// its memory (host or device), its weights and the paged KV pool, and never
// sees requests or scheduling.
//
// Pointers passed to the ops (`float*` activations) are backend memory from
// AllocateActivations(); on the CPU that is host memory, on CUDA device
// memory. Shapes are given in comments as [rows, cols] row-major.
//
// Thread safety: one owner thread (the worker's step loop).
#ifndef LLM_WORKER_BACKEND_H_
#define LLM_WORKER_BACKEND_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/gguf.h"
#include "common/model_config.h"
#include "worker/tensor_parallel.h"

namespace llm {

// Opaque index of an uploaded weight.
using WeightId = int32_t;

struct KvCacheShape {
  int n_layer = 0;
  int n_kv_heads = 0;
  int head_dim = 0;
  int block_size = 16;
  int num_blocks = 0;
  // fp16 K and V, all layers.
  int64_t bytes_per_block() const {
    return int64_t{2} * n_layer * block_size * n_kv_heads * head_dim * 2;
  }
};

// One sequence's view of a forward batch (see kernels/cpu/attention.h).
struct BatchSequence {
  int32_t query_start = 0;
  int32_t num_queries = 0;
  int32_t context_len = 0;
  absl::Span<const int32_t> block_table;
};

// Host-side description of one forward step, built by the model runner.
struct ForwardBatch {
  std::vector<int32_t> tokens;      // [n]
  std::vector<int32_t> positions;   // [n]
  std::vector<int64_t> slots;       // [n] block * block_size + offset
  std::vector<BatchSequence> seqs;  // query rows grouped per sequence
  std::vector<int32_t> logit_rows;  // rows whose logits are wanted, ascending
  int num_tokens() const { return static_cast<int>(tokens.size()); }
  // Empty, keeping the capacity (batches are rebuilt every step).
  void Clear() {
    tokens.clear();
    positions.clear();
    slots.clear();
    seqs.clear();
    logit_rows.clear();
  }
};

// How one logit row is sampled on the device (Backend::SampleRows); the
// fields of common/sampling_params.h that a device sampler handles, plus the
// Philox counter of worker/sampler.h.
struct RowSampling {
  float temperature = 0.0f;  // <= 0: greedy
  int32_t top_k = 0;
  float top_p = 1.0f;
  float min_p = 0.0f;
  uint64_t seed = 0;
  uint64_t step = 0;
  uint64_t sample_index = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;  // "cpu(avx512, 2 threads)"

  // Weights. Matrices keep their quantised type where the backend can.
  virtual absl::StatusOr<WeightId> UploadMatrix(const GgufTensor& tensor) = 0;
  virtual absl::StatusOr<WeightId> UploadVector(const GgufTensor& tensor) = 0;

  // Tensor parallelism (worker/tensor_parallel.h): this backend's rank in
  // its group and the group's size; 0 and 1 outside a group (only the CUDA
  // backend joins groups).
  virtual int tp_rank() const { return 0; }
  virtual int tp_size() const { return 1; }
  // Uploads part of a matrix (this rank's shard). The default accepts only
  // the whole matrix.
  virtual absl::StatusOr<WeightId> UploadMatrixSlice(const GgufTensor& tensor,
                                                     const MatrixSlice& slice) {
    if (slice.IsWhole(tensor)) return UploadMatrix(tensor);
    return absl::UnimplementedError(
        "this backend cannot hold a tensor-parallel shard");
  }
  // x[0, floats) = the sum of x over every rank of the group (after the
  // row-parallel matmuls). A no-op outside a group.
  virtual void AllReduceSum(float* /*x*/, int64_t /*floats*/) {}

  // The row count a pure-decode step of n rows (one query row per
  // sequence, every row sampled) is padded to by LlamaModel: a backend that
  // replays captured CUDA graphs per batch-size bucket wants few shapes
  // (worker/decode_buckets.h). n: no padding.
  virtual int DecodeBucket(int n) const { return n; }

  // Device sampling: tokens[i] (host) = row i of `logits` ([rows, vocab],
  // backend memory) sampled under params[i], without copying the logits to
  // the host. Backends that sample on the host (CPU) say false and return
  // Unimplemented; the model runner then reads the logits back.
  virtual bool CanSampleOnDevice() const { return false; }
  virtual absl::Status SampleRows(const float* /*logits*/, int /*rows*/, int /*vocab*/,
                                  absl::Span<const RowSampling> /*params*/,
                                  int32_t* /*tokens*/) {
    return absl::UnimplementedError("this backend samples on the host");
  }

  virtual absl::Status AllocateKvCache(const KvCacheShape& shape) = 0;
  virtual const KvCacheShape& kv_cache_shape() const = 0;

  // Activation scratch of `floats` elements, valid until the next call with
  // the same `slot` (a small integer naming the buffer's role).
  virtual float* Activations(int slot, int64_t floats) = 0;
  // Host view of an activation buffer: copies `floats` values to `host`.
  virtual absl::Status ReadActivations(const float* src, int64_t floats,
                                       float* host) = 0;

  // Once per step, before the layers: uploads the batch description.
  // `layers` is how many layers this pass runs (an early-exit self-draft
  // runs fewer): a backend that replays captured steps keys them by it.
  virtual absl::Status BeginStep(const ForwardBatch& batch) = 0;
  virtual void SetStepLayers(int /*layers*/) {}

  // x[t] = dequantised row tokens[t] of `embedding`.  x: [n, cols].
  virtual void Embed(WeightId embedding, float* x) = 0;
  // out = rmsnorm(x) * w; x, out: [n, d].
  virtual void RmsNorm(const float* x, WeightId w, int n, int d, float eps,
                       float* out) = 0;
  // x += delta; out = rmsnorm(x) * w.
  virtual void AddRmsNorm(float* x, const float* delta, WeightId w, int n,
                          int d, float eps, float* out) = 0;
  // ys[i] = x · ws[i]ᵀ for n rows of x (one shared activation quantisation).
  virtual void MatMul(absl::Span<const WeightId> ws, const float* x, int n,
                      absl::Span<float* const> ys) = 0;
  // Rotates q, k by the batch positions (RoPE, when the config uses it) and
  // writes k, v into layer `layer`'s cache at the batch slots.
  virtual void PositionAndCache(const ModelConfig& config, int layer, float* q,
                                float* k, const float* v) = 0;
  // out = attention of q over layer `layer`'s paged cache for the batch.
  virtual void Attention(const ModelConfig& config, int layer, const float* q,
                         float* out) = 0;
  // out = silu(gate) * up, n elements.
  virtual void SwiGlu(const float* gate, const float* up, int64_t n,
                      float* out) = 0;
  // Copies rows `rows` of x ([*, d]) to out ([rows.size(), d]).
  virtual void GatherRows(const float* x, int d, absl::Span<const int32_t> rows,
                          float* out) = 0;
  // Copy-on-write: each (src, dst) block copied in every layer.
  virtual absl::Status CopyBlocks(
      absl::Span<const std::pair<int32_t, int32_t>> copies) = 0;
};

}  // namespace llm

#endif  // LLM_WORKER_BACKEND_H_
