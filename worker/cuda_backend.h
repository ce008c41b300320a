// File: worker/cuda_backend.h
//
// CudaBackend: the Backend on one NVIDIA GPU. Weights are copied to device
// memory at upload (cudaMalloc) in their ggml type (Q4_0/Q4_1/Q8_0/F16/F32)
// for the fused dequantising GEMV of small batches, and, unless disabled,
// also dequantised once to bf16 for cuBLAS GEMMs of larger batches. The
// paged KV pool (fp16 NHD, the CPU layout) and all activations live in
// device memory; every op is enqueued on one stream and only
// ReadActivations() waits for it. Kernels come from kernels/cuda.
//
// The Backend ops that return void cannot report a CUDA error; the first
// error is kept, later ops become no-ops and ReadActivations() (the end of
// every forward step) returns it.
//
// Only compiled when LLM_HAVE_CUDA (cmake/cuda.cmake).
//
// Thread safety: one owner thread.
#ifndef LLM_WORKER_CUDA_BACKEND_H_
#define LLM_WORKER_CUDA_BACKEND_H_

#if LLM_HAVE_CUDA

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/cuda/attention.cuh"
#include "kernels/cuda/paged_index.cuh"
#include "worker/backend.h"

namespace llm {

// Number of CUDA devices, or an error saying why none can be used (driver
// missing, no device, ...). Never aborts.
absl::StatusOr<int> CudaDeviceCount();

class CudaBackend final : public Backend {
 public:
  struct Options {
    int device = 0;
    // Keep a bf16 copy of every matrix for cuBLAS GEMMs of batches above
    // cuda::kGemvMaxTokens rows (4x the memory of Q4 weights). Off: the
    // GEMV serves every batch size.
    bool bf16_gemm_weights = true;
    // Tensor parallelism (worker/tensor_parallel.h, cuda_backend_tp.cc):
    // this rank and the group size. With tp_size > 1 the model uploads its
    // shard (UploadMatrixSlice) and AllReduceSum needs JoinTensorParallel
    // first.
    int tp_rank = 0;
    int tp_size = 1;
    // Sample on the device (kernels/cuda/sampling.cuh) when the model
    // runner asks (CanSampleOnDevice); off: logits always go to the host.
    bool device_sampling = true;
    // Capture pure-decode steps as CUDA graphs per (batch bucket, key
    // bucket) and replay them (cuda_backend_graphs.cc, decode_buckets.h).
    // Not with tp_size > 1. The factory turns it off for LLM_CUDA_GRAPHS=0.
    bool cuda_graphs = true;
    // Prefill attention on tensor cores (kernels/cuda/attention_tc.cuh,
    // bf16 operands). Off until a GPU run has validated it; the factory
    // turns it on for LLM_CUDA_TC_PREFILL=1.
    bool tensor_core_prefill = false;
  };

  // FailedPrecondition when the device cannot be used.
  static absl::StatusOr<std::unique_ptr<CudaBackend>> Create(const Options& options);
  ~CudaBackend() override;

  std::string name() const override;

  absl::StatusOr<WeightId> UploadMatrix(const GgufTensor& tensor) override;
  absl::StatusOr<WeightId> UploadVector(const GgufTensor& tensor) override;
  int tp_rank() const override { return options_.tp_rank; }
  int tp_size() const override { return options_.tp_size; }
  absl::StatusOr<WeightId> UploadMatrixSlice(const GgufTensor& tensor,
                                             const MatrixSlice& slice) override;
  void AllReduceSum(float* x, int64_t floats) override;
  bool CanSampleOnDevice() const override { return options_.device_sampling; }
  int DecodeBucket(int n) const override;
  void SetStepLayers(int layers) override { step_layers_ = layers; }
  // cuda_backend_sampling.cc.
  absl::Status SampleRows(const float* logits, int rows, int vocab,
                          absl::Span<const RowSampling> params,
                          int32_t* tokens) override;

  // The NCCL unique id (ncclGetUniqueId, NCCL_UNIQUE_ID_BYTES bytes) that
  // rank 0 creates and hands to the other ranks (worker/tp_rendezvous.h).
  // Unavailable when this build has no NCCL or libnccl cannot be loaded.
  static absl::StatusOr<std::string> NewTensorParallelId();
  // ncclCommInitRank with this backend's rank and size; blocks until every
  // rank of the group has called it with the same id.
  absl::Status JoinTensorParallel(const std::string& id);
  absl::Status AllocateKvCache(const KvCacheShape& shape) override;
  const KvCacheShape& kv_cache_shape() const override { return kv_shape_; }
  float* Activations(int slot, int64_t floats) override;
  absl::Status ReadActivations(const float* src, int64_t floats,
                               float* host) override;
  absl::Status BeginStep(const ForwardBatch& batch) override;

  void Embed(WeightId embedding, float* x) override;
  void RmsNorm(const float* x, WeightId w, int n, int d, float eps,
               float* out) override;
  void AddRmsNorm(float* x, const float* delta, WeightId w, int n, int d,
                  float eps, float* out) override;
  void MatMul(absl::Span<const WeightId> ws, const float* x, int n,
              absl::Span<float* const> ys) override;
  void PositionAndCache(const ModelConfig& config, int layer, float* q,
                        float* k, const float* v) override;
  void Attention(const ModelConfig& config, int layer, const float* q,
                 float* out) override;
  void SwiGlu(const float* gate, const float* up, int64_t n,
              float* out) override;
  void GatherRows(const float* x, int d, absl::Span<const int32_t> rows,
                  float* out) override;
  absl::Status CopyBlocks(
      absl::Span<const std::pair<int32_t, int32_t>> copies) override;

  // Free device memory now (for sizing the KV pool after the weights).
  int64_t FreeDeviceBytes() const;
  // The first error of a void op, OK if none.
  const absl::Status& status() const { return error_; }
  // Host copy of `count` fp16 K (or V) values of layer `layer` from element
  // `offset` (tests).
  absl::Status ReadKvCache(int layer, bool value, int64_t offset, int64_t count,
                           uint16_t* host);

 private:
  struct Matrix {
    cuda::QuantFormat format;
    int64_t rows = 0, cols = 0, row_bytes = 0;
    uint8_t* data = nullptr;    // quantised, device
    uint16_t* bf16 = nullptr;   // [rows, cols] bf16, device, or null
  };
  struct Buffer {
    void* ptr = nullptr;
    int64_t bytes = 0;
  };

  explicit CudaBackend(const Options& options);
  absl::Status Init();
  // Records a CUDA error (first one wins); true when `e` is an error.
  bool Check(cudaError_t e, const char* what);
  // Grows `b` to at least `bytes` (contents lost).
  absl::Status Ensure(Buffer& b, int64_t bytes);
  absl::StatusOr<void*> Malloc(int64_t bytes);
  uint16_t* LayerK(int layer) const;
  uint16_t* LayerV(int layer) const;
  // Decode-step CUDA graphs (cuda_backend_graphs.cc). A graph step runs
  // eagerly once per shape (kWarmup: every buffer reaches its size), is
  // captured the next time (kCapture: ops are recorded, launched at the end
  // of the step) and replayed after that (kReplay: ops are skipped; the
  // step description was uploaded to the same addresses). Any buffer
  // reallocation (buffers_generation_) retires the graphs that saw the old
  // one.
  enum class GraphMode { kEager, kWarmup, kCapture, kReplay };
  struct GraphEntry {
    int64_t warm_generation = -1;
    cudaGraphExec_t exec = nullptr;
    int64_t exec_generation = -1;
  };
  bool GraphEligible(const ForwardBatch& batch) const;
  // After the step's upload: picks the mode for `key`, begins a capture.
  // Graph key: (rows, key bucket, layers run).
  using GraphKey = std::tuple<int, int, int>;
  absl::Status StartGraphStep(GraphKey key);
  // Before the step's results are read: ends a capture, launches a graph.
  absl::Status FinishGraphStep();
  void DestroyGraphs();
  // Void ops return at once after an error or while a graph replays.
  bool Skip() const { return !error_.ok() || graph_mode_ == GraphMode::kReplay; }
  // Frees the NCCL communicator (cuda_backend_tp.cc).
  void LeaveTensorParallel();
  // Device ALiBi slopes of this rank's heads (global head index).
  const float* AlibiSlopes(const ModelConfig& config);

  Options options_;
  std::string device_name_;
  int sm_ = 0;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  absl::Status error_;

  std::vector<void*> allocations_;  // weights, KV pool: freed at destruction
  std::vector<Matrix> matrices_;
  std::vector<const float*> vectors_;

  KvCacheShape kv_shape_;
  uint16_t* kv_ = nullptr;
  int64_t kv_layer_elems_ = 0;
  uint16_t** kv_bases_ = nullptr;  // device [2 * n_layer]: K0, V0, K1, ...

  std::vector<Buffer> activations_;
  Buffer step_;        // the uploaded batch description
  Buffer x_bf16_;      // GEMM activations
  Buffer workspace_;   // decode partitions
  Buffer scratch_;     // block-copy pairs, gather rows
  Buffer alibi_;
  Buffer sample_;      // device sampling: per-row params, then token ids
  int alibi_heads_ = 0;
  void* nccl_comm_ = nullptr;  // ncclComm_t once joined
  GraphMode graph_mode_ = GraphMode::kEager;
  GraphKey graph_key_{0, 0, 0};
  std::map<GraphKey, GraphEntry> graphs_;
  int step_layers_ = 0;  // SetStepLayers, for the graph key
  int64_t buffers_generation_ = 0;  // bumped by every (re)allocation in Ensure

  // The current step, as offsets into step_ (BeginStep).
  const ForwardBatch* batch_ = nullptr;
  std::vector<uint8_t> host_step_;
  const int32_t* d_tokens_ = nullptr;
  const int32_t* d_positions_ = nullptr;
  const int64_t* d_slots_ = nullptr;
  const int32_t* d_tables_ = nullptr;
  const cuda::DecodeRow* d_decode_rows_ = nullptr;
  const cuda::PrefillTile* d_tiles_ = nullptr;
  const int32_t* d_logit_rows_ = nullptr;
  int num_decode_rows_ = 0;
  int max_decode_keys_ = 0;
  int num_tiles_ = 0;
};

}  // namespace llm

#endif  // LLM_HAVE_CUDA
#endif  // LLM_WORKER_CUDA_BACKEND_H_
