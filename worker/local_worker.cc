#include "worker/local_worker.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "worker/cpu_backend.h"

namespace llm {
namespace {
constexpr int64_t kDefaultKvCacheBytes = int64_t{256} << 20;
}  // namespace

absl::Status WorkerOptions::Validate() const {
  if (model_path.empty()) return absl::InvalidArgumentError("--model is required");
  if (backend != "auto" && backend != "cpu" && backend != "cuda") {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--backend must be auto, cpu or cuda, got '%s'", backend));
  }
  if (kv_cache_bytes < 0) {
    return absl::InvalidArgumentError("--kv-cache-bytes must be >= 0");
  }
  if (block_size < 1 || block_size > 256) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--block-size must be in [1, 256], got %d", block_size));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<LocalWorker>> LocalWorker::Create(
    const WorkerOptions& options) {
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  std::unique_ptr<LocalWorker> w(new LocalWorker());
  absl::StatusOr<std::unique_ptr<GgufFile>> file = GgufFile::Open(options.model_path);
  if (!file.ok()) return file.status();
  w->file_ = std::move(*file);

  if (options.backend == "cuda") {
    return absl::UnimplementedError(
        "--backend=cuda: this build has no CUDA backend");
  }
  w->backend_ = std::make_unique<CpuBackend>(options.threads);

  absl::StatusOr<std::unique_ptr<LlamaModel>> model =
      LlamaModel::Load(*w->file_, *w->backend_);
  if (!model.ok()) return model.status();
  w->model_ = std::move(*model);

  const ModelConfig& c = w->model_->config();
  KvCacheShape shape;
  shape.n_layer = c.n_layer;
  shape.n_kv_heads = c.n_head_kv;
  shape.head_dim = c.head_dim;
  shape.block_size = options.block_size;
  const int64_t budget =
      options.kv_cache_bytes > 0 ? options.kv_cache_bytes : kDefaultKvCacheBytes;
  shape.num_blocks = static_cast<int>(std::min<int64_t>(
      budget / shape.bytes_per_block(), 1 << 24));
  if (shape.num_blocks < 1) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--kv-cache-bytes %d is smaller than one KV block (%d bytes)", budget,
        shape.bytes_per_block()));
  }
  if (absl::Status s = w->backend_->AllocateKvCache(shape); !s.ok()) return s;
  w->runner_ = std::make_unique<ModelRunner>(*w->model_);
  return w;
}

}  // namespace llm
