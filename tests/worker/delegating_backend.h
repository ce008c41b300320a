// DelegatingBackend: a Backend that forwards every required op to another
// one, for tests that change one aspect of a real backend (tensor-parallel
// ranks emulated on the CPU, device sampling emulated on the host). The
// optional ops (tensor parallelism, device sampling, decode padding) keep
// Backend's defaults unless a subclass overrides them.
#ifndef LLM_TESTS_WORKER_DELEGATING_BACKEND_H_
#define LLM_TESTS_WORKER_DELEGATING_BACKEND_H_

#include <string>
#include <utility>

#include "worker/backend.h"

namespace llm::testing {

class DelegatingBackend : public Backend {
 public:
  explicit DelegatingBackend(Backend& inner) : inner_(inner) {}

  std::string name() const override { return "delegating(" + inner_.name() + ")"; }
  absl::StatusOr<WeightId> UploadMatrix(const GgufTensor& t) override {
    return inner_.UploadMatrix(t);
  }
  absl::StatusOr<WeightId> UploadVector(const GgufTensor& t) override {
    return inner_.UploadVector(t);
  }
  absl::Status AllocateKvCache(const KvCacheShape& s) override {
    return inner_.AllocateKvCache(s);
  }
  const KvCacheShape& kv_cache_shape() const override { return inner_.kv_cache_shape(); }
  float* Activations(int slot, int64_t floats) override {
    return inner_.Activations(slot, floats);
  }
  absl::Status ReadActivations(const float* src, int64_t floats, float* host) override {
    return inner_.ReadActivations(src, floats, host);
  }
  absl::Status BeginStep(const ForwardBatch& b) override { return inner_.BeginStep(b); }
  void Embed(WeightId e, float* x) override { inner_.Embed(e, x); }
  void RmsNorm(const float* x, WeightId w, int n, int d, float eps, float* out) override {
    inner_.RmsNorm(x, w, n, d, eps, out);
  }
  void AddRmsNorm(float* x, const float* delta, WeightId w, int n, int d, float eps,
                  float* out) override {
    inner_.AddRmsNorm(x, delta, w, n, d, eps, out);
  }
  void MatMul(absl::Span<const WeightId> ws, const float* x, int n,
              absl::Span<float* const> ys) override {
    inner_.MatMul(ws, x, n, ys);
  }
  void PositionAndCache(const ModelConfig& c, int layer, float* q, float* k,
                        const float* v) override {
    inner_.PositionAndCache(c, layer, q, k, v);
  }
  void Attention(const ModelConfig& c, int layer, const float* q, float* out) override {
    inner_.Attention(c, layer, q, out);
  }
  void SwiGlu(const float* g, const float* u, int64_t n, float* out) override {
    inner_.SwiGlu(g, u, n, out);
  }
  void GatherRows(const float* x, int d, absl::Span<const int32_t> rows,
                  float* out) override {
    inner_.GatherRows(x, d, rows, out);
  }
  absl::Status CopyBlocks(absl::Span<const std::pair<int32_t, int32_t>> c) override {
    return inner_.CopyBlocks(c);
  }

 protected:
  Backend& inner_;
};

}  // namespace llm::testing

#endif  // LLM_TESTS_WORKER_DELEGATING_BACKEND_H_
