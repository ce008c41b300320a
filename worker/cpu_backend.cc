#include "worker/cpu_backend.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "kernels/cpu/elementwise.h"

namespace llm {
namespace {

// Below this many rows a row-wise op runs on the calling thread.
constexpr int kParallelRowThreshold = 16;

int ResolveThreads(int requested) {
  if (requested > 0) return requested;
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

const char* DetectIsa() {
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vnni")) {
    return "avx512";
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "avx2";
  return "scalar";
}

void FreeAligned(uint16_t* p) { std::free(p); }

}  // namespace

CpuBackend::CpuBackend(int num_threads) : pool_(ResolveThreads(num_threads)) {}
CpuBackend::~CpuBackend() = default;

std::string CpuBackend::name() const {
  return absl::StrFormat("cpu(%s, %d threads)", DetectIsa(), pool_.num_threads());
}

absl::StatusOr<WeightId> CpuBackend::UploadMatrix(const GgufTensor& tensor) {
  if (!kernels::MatMulSupports(tensor.type)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "tensor '%s': type %s is not supported by the CPU matmul", tensor.name,
        GetGgmlTypeInfo(tensor.type).name));
  }
  kernels::WeightMatrix w;
  w.type = tensor.type;
  w.cols = tensor.ne[0];
  w.rows = tensor.rows();
  w.data = tensor.data;
  w.row_stride = tensor.row_bytes();
  matrices_.push_back(kernels::PackForCpu(w));
  return static_cast<WeightId>(matrices_.size() - 1);
}

absl::StatusOr<WeightId> CpuBackend::UploadVector(const GgufTensor& tensor) {
  if (tensor.type != GgmlType::kF32) {
    return absl::InvalidArgumentError(
        absl::StrFormat("tensor '%s': expected F32, got %s", tensor.name,
                        GetGgmlTypeInfo(tensor.type).name));
  }
  vectors_.push_back(reinterpret_cast<const float*>(tensor.data));
  return static_cast<WeightId>(vectors_.size() - 1);
}

absl::Status CpuBackend::AllocateKvCache(const KvCacheShape& shape) {
  if (shape.num_blocks <= 0 || shape.block_size <= 0 || shape.n_layer <= 0) {
    return absl::InvalidArgumentError("KV cache needs at least one block");
  }
  kv_shape_ = shape;
  kv_layer_elems_ = int64_t{shape.num_blocks} * shape.block_size *
                    shape.n_kv_heads * shape.head_dim;
  const int64_t total = kv_layer_elems_ * 2 * shape.n_layer;
  size_t bytes = static_cast<size_t>(total) * sizeof(uint16_t);
  bytes = (bytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, bytes);
  if (p == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("cannot allocate a KV cache of %d bytes", bytes));
  }
  // Zero so that never-written slots read as 0 rather than NaN garbage.
  std::memset(p, 0, bytes);
  kv_ = {static_cast<uint16_t*>(p), &FreeAligned};
  return absl::OkStatus();
}

int64_t CpuBackend::kv_cache_bytes() const {
  return kv_layer_elems_ * 2 * kv_shape_.n_layer * int64_t{sizeof(uint16_t)};
}

kernels::PagedKvCache CpuBackend::LayerCache(int layer) const {
  kernels::PagedKvCache c;
  c.k = kv_.get() + (int64_t{2} * layer) * kv_layer_elems_;
  c.v = c.k + kv_layer_elems_;
  c.num_blocks = kv_shape_.num_blocks;
  c.block_size = kv_shape_.block_size;
  c.n_kv_heads = kv_shape_.n_kv_heads;
  c.head_dim = kv_shape_.head_dim;
  return c;
}

float* CpuBackend::Activations(int slot, int64_t floats) {
  if (slot >= static_cast<int>(activations_.size())) activations_.resize(slot + 1);
  auto& buf = activations_[slot];
  if (static_cast<int64_t>(buf.size()) < floats) buf.resize(floats);
  return buf.data();
}

absl::Status CpuBackend::ReadActivations(const float* src, int64_t floats,
                                         float* host) {
  std::memcpy(host, src, floats * sizeof(float));
  return absl::OkStatus();
}

absl::Status CpuBackend::BeginStep(const ForwardBatch& batch) {
  batch_ = &batch;
  attention_seqs_.clear();
  attention_seqs_.reserve(batch.seqs.size());
  for (const BatchSequence& s : batch.seqs) {
    kernels::AttentionSequence a;
    a.query_start = s.query_start;
    a.num_queries = s.num_queries;
    a.context_len = s.context_len;
    a.block_table = s.block_table.data();
    attention_seqs_.push_back(a);
  }
  return absl::OkStatus();
}

void CpuBackend::Embed(WeightId embedding, float* x) {
  const kernels::WeightMatrix& w = matrices_[embedding].source;
  const int n = batch_->num_tokens();
  const auto& tokens = batch_->tokens;
  auto body = [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      kernels::DequantizeRow(w, tokens[t], x + t * w.cols);
    }
  };
  if (n < kParallelRowThreshold) {
    body(0, n);
  } else {
    pool_.Run([&](int thread, int num_threads) {
      auto [b, e] = SplitRange(n, thread, num_threads);
      body(b, e);
    });
  }
}

void CpuBackend::RmsNorm(const float* x, WeightId w, int n, int d, float eps,
                         float* out) {
  const float* weight = vectors_[w];
  if (n < kParallelRowThreshold) {
    kernels::RmsNorm(x, weight, n, d, eps, out);
    return;
  }
  pool_.Run([&](int thread, int num_threads) {
    auto [b, e] = SplitRange(n, thread, num_threads);
    if (e > b) kernels::RmsNorm(x + b * d, weight, e - b, d, eps, out + b * d);
  });
}

void CpuBackend::AddRmsNorm(float* x, const float* delta, WeightId w, int n,
                            int d, float eps, float* out) {
  const float* weight = vectors_[w];
  if (n < kParallelRowThreshold) {
    kernels::AddRmsNorm(x, delta, weight, n, d, eps, out);
    return;
  }
  pool_.Run([&](int thread, int num_threads) {
    auto [b, e] = SplitRange(n, thread, num_threads);
    if (e > b) {
      kernels::AddRmsNorm(x + b * d, delta + b * d, weight, e - b, d, eps,
                          out + b * d);
    }
  });
}

void CpuBackend::MatMul(absl::Span<const WeightId> ws, const float* x, int n,
                        absl::Span<float* const> ys) {
  if (ws.size() == 1) {
    kernels::MatMul(pool_, matrices_[ws[0]], x, n, ys[0]);
    return;
  }
  kernels::PackedWeightMatrix mats[8];
  const size_t count = std::min<size_t>(ws.size(), 8);
  for (size_t i = 0; i < count; ++i) mats[i] = matrices_[ws[i]];
  kernels::MatMulShared(pool_, absl::MakeConstSpan(mats, count), x, n, ys);
}

void CpuBackend::PositionAndCache(const ModelConfig& config, int layer,
                                  float* q, float* k, const float* v) {
  const int n = batch_->num_tokens();
  const int32_t* positions = batch_->positions.data();
  const int64_t* slots = batch_->slots.data();
  const kernels::PagedKvCache cache = LayerCache(layer);
  // Rows [b, e): RoPE fused with the fp16 cache write (one sin/cos table per
  // token serves q and k); without RoPE only the write.
  auto body = [&](int64_t b, int64_t e) {
    if (e <= b) return;
    if (config.position == PositionEncoding::kRope) {
      kernels::RopeAndWriteKvCache(cache, q + b * config.q_dim(), config.n_head,
                                   k + b * config.kv_dim(), v + b * config.kv_dim(),
                                   e - b, positions + b, slots + b, config.rope_dim,
                                   config.rope_freq_base, config.rope_mode);
    } else {
      kernels::WriteKvCache(cache, k + b * config.kv_dim(), v + b * config.kv_dim(),
                            e - b, slots + b);
    }
  };
  if (n < kParallelRowThreshold) {
    body(0, n);
    return;
  }
  pool_.Run([&](int thread, int num_threads) {
    auto [b, e] = SplitRange(n, thread, num_threads);
    body(b, e);
  });
}

void CpuBackend::Attention(const ModelConfig& config, int layer,
                           const float* q, float* out) {
  if (config.position == PositionEncoding::kAlibi &&
      static_cast<int>(alibi_slopes_.size()) != config.n_head) {
    alibi_slopes_.resize(config.n_head);
    kernels::AlibiSlopes(config.n_head, config.alibi_max_bias,
                         alibi_slopes_.data());
  }
  kernels::AttentionParams params;
  params.n_head = config.n_head;
  params.n_kv_heads = config.n_head_kv;
  params.head_dim = config.head_dim;
  params.scale = 1.0f / std::sqrt(static_cast<float>(config.head_dim));
  params.alibi_slopes = config.position == PositionEncoding::kAlibi
                            ? alibi_slopes_.data()
                            : nullptr;
  kernels::PagedAttention(pool_, params, LayerCache(layer), attention_seqs_, q,
                          out);
}

void CpuBackend::SwiGlu(const float* gate, const float* up, int64_t n,
                        float* out) {
  if (n < 16 * 1024) {
    kernels::SwiGlu(gate, up, n, out);
    return;
  }
  pool_.Run([&](int thread, int num_threads) {
    auto [b, e] = SplitRange(n, thread, num_threads, 64);
    if (e > b) kernels::SwiGlu(gate + b, up + b, e - b, out + b);
  });
}

void CpuBackend::GatherRows(const float* x, int d,
                            absl::Span<const int32_t> rows, float* out) {
  for (size_t i = 0; i < rows.size(); ++i) {
    std::memcpy(out + i * d, x + int64_t{rows[i]} * d, d * sizeof(float));
  }
}

absl::Status CpuBackend::CopyBlocks(
    absl::Span<const std::pair<int32_t, int32_t>> copies) {
  for (const auto& [src, dst] : copies) {
    if (src < 0 || dst < 0 || src >= kv_shape_.num_blocks ||
        dst >= kv_shape_.num_blocks) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "block copy %d -> %d outside the pool of %d blocks", src, dst,
          kv_shape_.num_blocks));
    }
    for (int l = 0; l < kv_shape_.n_layer; ++l) {
      kernels::CopyKvBlock(LayerCache(l), src, dst);
    }
  }
  return absl::OkStatus();
}

}  // namespace llm
