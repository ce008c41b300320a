#include "worker/local_worker.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "worker/backend_factory.h"
#include "worker/kv_cache_sizing.h"

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
  if (kv_cache_fraction != 0 && !(kv_cache_fraction > 0 && kv_cache_fraction <= 1)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--kv-cache-fraction must be in (0, 1], got %g", kv_cache_fraction));
  }
  if (kv_cache_fraction != 0 && kv_cache_bytes != 0) {
    return absl::InvalidArgumentError(
        "--kv-cache-bytes and --kv-cache-fraction are mutually exclusive: give one");
  }
  if (absl::Status s = ValidateTensorParallel(tp_rank, tp_size); !s.ok()) return s;
  if (tp_size > 1 && !draft_model_path.empty()) {
    // (A self-draft is the same sharded model exiting early: it works.)
    return absl::InvalidArgumentError(
        "--draft-model is not supported with --tp-size > 1 (use self-draft layers)");
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

  BackendChoice choice;
  choice.backend = options.backend;
  choice.cpu_threads = options.threads;
  choice.tp_rank = options.tp_rank;
  choice.tp_size = options.tp_size;
  absl::StatusOr<std::unique_ptr<Backend>> backend = CreateBackend(choice);
  if (!backend.ok()) return backend.status();
  w->backend_ = std::move(*backend);

  absl::StatusOr<std::unique_ptr<LlamaModel>> model =
      LlamaModel::Load(*w->file_, *w->backend_);
  if (!model.ok()) return model.status();
  w->model_ = std::move(*model);

  const ModelConfig& c = w->model_->config();
  KvCacheShape shape;
  shape.n_layer = c.n_layer;
  // A tensor-parallel rank caches only its own KV heads.
  shape.n_kv_heads = w->model_->local_config().n_head_kv;
  shape.head_dim = c.head_dim;
  shape.block_size = options.block_size;
  if (options.kv_cache_fraction > 0) {
    // Measured now, after the weights are resident, so they are not counted.
    absl::StatusOr<int64_t> available = AvailableMemoryForKv(*w->backend_);
    if (!available.ok()) return available.status();
    absl::StatusOr<int64_t> blocks = KvBlocksForFraction(
        *available, options.kv_cache_fraction, shape.bytes_per_block());
    if (!blocks.ok()) return blocks.status();
    shape.num_blocks = static_cast<int>(*blocks);
    w->kv_available_bytes_ = *available;
  } else {
    const int64_t budget =
        options.kv_cache_bytes > 0
            ? options.kv_cache_bytes
            : DefaultKvCacheBytes(*w->backend_, kDefaultKvCacheBytes);
    shape.num_blocks =
        static_cast<int>(std::min<int64_t>(budget / shape.bytes_per_block(), kMaxKvBlocks));
    if (shape.num_blocks < 1) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "--kv-cache-bytes %d is smaller than one KV block (%d bytes)", budget,
          shape.bytes_per_block()));
    }
  }
  if (absl::Status s = w->backend_->AllocateKvCache(shape); !s.ok()) return s;

  if (!options.draft_model_path.empty()) {
    absl::StatusOr<std::unique_ptr<GgufFile>> draft_file =
        GgufFile::Open(options.draft_model_path);
    if (!draft_file.ok()) return draft_file.status();
    w->draft_file_ = std::move(*draft_file);
    // Same kind of backend as the target (one factory call).
    absl::StatusOr<std::unique_ptr<Backend>> draft_backend = CreateBackend(choice);
    if (!draft_backend.ok()) return draft_backend.status();
    w->draft_backend_ = std::move(*draft_backend);
    absl::StatusOr<std::unique_ptr<LlamaModel>> draft =
        LlamaModel::Load(*w->draft_file_, *w->draft_backend_);
    if (!draft.ok()) return draft.status();
    w->draft_model_ = std::move(*draft);
    const ModelConfig& dc = w->draft_model_->config();
    if (dc.n_vocab != c.n_vocab) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "--draft-model has %d tokens, the model %d: they must share the "
          "vocabulary", dc.n_vocab, c.n_vocab));
    }
    if (dc.context_length < c.context_length) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "--draft-model context %d is shorter than the model's %d",
          dc.context_length, c.context_length));
    }
    KvCacheShape draft_shape = shape;
    draft_shape.n_layer = dc.n_layer;
    draft_shape.n_kv_heads = dc.n_head_kv;
    draft_shape.head_dim = dc.head_dim;
    if (absl::Status s = w->draft_backend_->AllocateKvCache(draft_shape); !s.ok()) {
      return s;
    }
  }
  w->runner_ = std::make_unique<ModelRunner>(*w->model_, w->draft_model_.get());
  if (options.self_draft_layers > 0) {
    if (!options.draft_model_path.empty()) {
      return absl::InvalidArgumentError(
          "give a draft model or self-draft layers, not both");
    }
    if (options.self_draft_layers >= c.n_layer) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "self-draft layers %d must be fewer than the model's %d",
          options.self_draft_layers, c.n_layer));
    }
    w->runner_->UseSelfDraft(options.self_draft_layers);
    w->self_draft_layers_ = options.self_draft_layers;
  }
  return w;
}

absl::StatusOr<std::string> LocalWorker::NewTensorParallelId() const {
  return llm::NewTensorParallelId(*backend_);
}

absl::Status LocalWorker::JoinTensorParallel(const std::string& id) {
  return llm::JoinTensorParallel(*backend_, id);
}

}  // namespace llm
