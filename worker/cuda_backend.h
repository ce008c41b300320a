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
#include <memory>
#include <string>
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
  };

  // FailedPrecondition when the device cannot be used.
  static absl::StatusOr<std::unique_ptr<CudaBackend>> Create(const Options& options);
  ~CudaBackend() override;

  std::string name() const override;

  absl::StatusOr<WeightId> UploadMatrix(const GgufTensor& tensor) override;
  absl::StatusOr<WeightId> UploadVector(const GgufTensor& tensor) override;
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
  int alibi_heads_ = 0;

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
