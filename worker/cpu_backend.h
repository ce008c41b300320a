// File: worker/cpu_backend.h
//
// CpuBackend: the Backend on the host. Quantised weights stay quantised:
// matrices are repacked once at load into the 16-row interleaved layout of
// the AVX-512 kernels (still 4/8-bit); the paged KV pool is fp16 in host memory; kernels
// come from kernels/cpu (SIMD chosen at run time) and run on a ThreadPool
// sized to the cores. Row-wise ops on few rows (decode) run on the calling
// thread, since waking the pool costs more than the work.
//
// Thread safety: one owner thread.
#ifndef LLM_WORKER_CPU_BACKEND_H_
#define LLM_WORKER_CPU_BACKEND_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "common/thread_pool.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/matmul.h"
#include "worker/backend.h"

namespace llm {

class CpuBackend final : public Backend {
 public:
  // num_threads <= 0: one per available core.
  explicit CpuBackend(int num_threads);
  ~CpuBackend() override;

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

  ThreadPool& pool() { return pool_; }
  int64_t kv_cache_bytes() const;

 private:
  kernels::PagedKvCache LayerCache(int layer) const;

  ThreadPool pool_;
  // Repacked once at load for the SIMD kernels (a second ~model-sized copy;
  // the mmapped original still serves embedding-row lookups).
  std::vector<kernels::PackedWeightMatrix> matrices_;
  std::vector<const float*> vectors_;

  KvCacheShape kv_shape_;
  std::unique_ptr<uint16_t[], void (*)(uint16_t*)> kv_{nullptr, nullptr};
  int64_t kv_layer_elems_ = 0;  // K (or V) elements per layer

  std::vector<std::vector<float>> activations_;

  // The current step (BeginStep).
  const ForwardBatch* batch_ = nullptr;
  std::vector<kernels::AttentionSequence> attention_seqs_;
  std::vector<float> alibi_slopes_;
};

}  // namespace llm

#endif  // LLM_WORKER_CPU_BACKEND_H_
