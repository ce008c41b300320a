#include "worker/cuda_backend.h"

#if LLM_HAVE_CUDA

#include "kernels/cuda/cublas_loader.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_format.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cuda/attention_tc.cuh"
#include "kernels/cuda/elementwise.cuh"
#include "kernels/cuda/matmul.cuh"
#include "worker/decode_buckets.h"

namespace llm {
namespace {

// Sequences with at most this many query rows in a step run the decode
// kernel (one work item per row); longer chunks the tiled prefill kernel.
constexpr int kMaxDecodeQueries = 4;

absl::Status CudaError(cudaError_t e, const char* what) {
  return absl::InternalError(
      absl::StrFormat("CUDA %s: %s", what, cudaGetErrorString(e)));
}

absl::StatusOr<cuda::QuantFormat> FormatOf(GgmlType type) {
  switch (type) {
    case GgmlType::kQ4_0: return cuda::QuantFormat::kQ4_0;
    case GgmlType::kQ4_1: return cuda::QuantFormat::kQ4_1;
    case GgmlType::kQ8_0: return cuda::QuantFormat::kQ8_0;
    case GgmlType::kF16: return cuda::QuantFormat::kF16;
    case GgmlType::kF32: return cuda::QuantFormat::kF32;
    default:
      return absl::InvalidArgumentError(absl::StrFormat(
          "type %s is not supported by the CUDA backend",
          GetGgmlTypeInfo(type).name));
  }
}

// Appends `count` elements of T to blob at an 16-byte aligned offset.
template <typename T>
int64_t Append(std::vector<uint8_t>& blob, const T* data, size_t count) {
  const int64_t off = (static_cast<int64_t>(blob.size()) + 15) / 16 * 16;
  blob.resize(off + count * sizeof(T));
  if (count > 0) std::memcpy(blob.data() + off, data, count * sizeof(T));
  return off;
}

}  // namespace

absl::StatusOr<int> CudaDeviceCount() {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    cudaGetLastError();  // clear
    return absl::FailedPreconditionError(
        absl::StrFormat("no CUDA device: %s", cudaGetErrorString(e)));
  }
  if (count == 0) return absl::FailedPreconditionError("no CUDA device: count is 0");
  return count;
}

CudaBackend::CudaBackend(const Options& options) : options_(options) {}

absl::StatusOr<std::unique_ptr<CudaBackend>> CudaBackend::Create(
    const Options& options) {
  absl::StatusOr<int> count = CudaDeviceCount();
  if (!count.ok()) return count.status();
  if (options.device < 0 || options.device >= *count) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "CUDA device %d requested, %d present", options.device, *count));
  }
  std::unique_ptr<CudaBackend> b(new CudaBackend(options));
  if (absl::Status s = b->Init(); !s.ok()) return s;
  return b;
}

absl::Status CudaBackend::Init() {
  if (cudaError_t e = cudaSetDevice(options_.device); e != cudaSuccess) {
    return CudaError(e, "cudaSetDevice");
  }
  cudaDeviceProp prop;
  if (cudaError_t e = cudaGetDeviceProperties(&prop, options_.device); e != cudaSuccess) {
    return CudaError(e, "cudaGetDeviceProperties");
  }
  device_name_ = prop.name;
  sm_ = prop.major * 10 + prop.minor;
  if (cudaError_t e = cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking);
      e != cudaSuccess) {
    return CudaError(e, "cudaStreamCreate");
  }
  std::string cublas_error;
  const cuda::CublasApi* cublas = cuda::Cublas(&cublas_error);
  if (cublas == nullptr) return absl::UnavailableError(cublas_error);
  if (cublas->create(&cublas_) != CUBLAS_STATUS_SUCCESS) {
    return absl::InternalError("cublasCreate failed");
  }
  return absl::OkStatus();
}

CudaBackend::~CudaBackend() {
  if (stream_ != nullptr) cudaStreamSynchronize(stream_);
  DestroyGraphs();
  LeaveTensorParallel();
  for (void* p : allocations_) cudaFree(p);
  for (Buffer* b : {&step_, &x_bf16_, &workspace_, &scratch_, &alibi_, &sample_}) {
    cudaFree(b->ptr);
  }
  for (Buffer& b : activations_) cudaFree(b.ptr);
  if (cublas_ != nullptr) cuda::Cublas()->destroy(cublas_);
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
}

std::string CudaBackend::name() const {
  return absl::StrFormat("cuda(%s, sm_%d)", device_name_, sm_);
}

bool CudaBackend::Check(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return false;
  if (error_.ok()) error_ = CudaError(e, what);
  return true;
}

absl::StatusOr<void*> CudaBackend::Malloc(int64_t bytes) {
  void* p = nullptr;
  if (cudaError_t e = cudaMalloc(&p, std::max<int64_t>(bytes, 16)); e != cudaSuccess) {
    cudaGetLastError();
    return absl::ResourceExhaustedError(absl::StrFormat(
        "cudaMalloc of %d bytes: %s", bytes, cudaGetErrorString(e)));
  }
  return p;
}

absl::Status CudaBackend::Ensure(Buffer& b, int64_t bytes) {
  if (b.bytes >= bytes) return absl::OkStatus();
  const int64_t want = std::max<int64_t>(bytes, b.bytes * 3 / 2);
  if (b.ptr != nullptr) {
    cudaStreamSynchronize(stream_);  // in-flight kernels may still read it
    cudaFree(b.ptr);
    b = Buffer{};
  }
  ++buffers_generation_;  // captured graphs hold the old address
  absl::StatusOr<void*> p = Malloc(want);
  if (!p.ok()) return p.status();
  b.ptr = *p;
  b.bytes = want;
  return absl::OkStatus();
}

int64_t CudaBackend::FreeDeviceBytes() const {
  size_t free_bytes = 0, total = 0;
  if (cudaMemGetInfo(&free_bytes, &total) != cudaSuccess) return 0;
  return static_cast<int64_t>(free_bytes);
}

absl::StatusOr<WeightId> CudaBackend::UploadMatrix(const GgufTensor& tensor) {
  absl::StatusOr<cuda::QuantFormat> format = FormatOf(tensor.type);
  if (!format.ok()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("tensor '%s': %s", tensor.name, format.status().message()));
  }
  Matrix m;
  m.format = *format;
  m.cols = tensor.ne[0];
  m.rows = tensor.rows();
  m.row_bytes = static_cast<int64_t>(tensor.row_bytes());
  if (m.cols % cuda::kQuantBlock != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "tensor '%s': %d columns, not a multiple of 32", tensor.name, m.cols));
  }
  const int64_t bytes = m.rows * m.row_bytes;
  absl::StatusOr<void*> p = Malloc(bytes);
  if (!p.ok()) return p.status();
  allocations_.push_back(*p);
  m.data = static_cast<uint8_t*>(*p);
  if (cudaError_t e = cudaMemcpy(m.data, tensor.data, bytes, cudaMemcpyHostToDevice);
      e != cudaSuccess) {
    return CudaError(e, "weight upload");
  }
  if (options_.bf16_gemm_weights) {
    absl::StatusOr<void*> q = Malloc(m.rows * m.cols * 2);
    if (!q.ok()) return q.status();
    allocations_.push_back(*q);
    m.bf16 = static_cast<uint16_t*>(*q);
    if (cudaError_t e = cuda::LaunchDequantizeToBf16(m.data, m.format, m.row_bytes,
                                                      m.rows, m.cols, m.bf16, stream_);
        e != cudaSuccess) {
      return CudaError(e, "dequantise to bf16");
    }
    if (cudaError_t e = cudaStreamSynchronize(stream_); e != cudaSuccess) {
      return CudaError(e, "dequantise to bf16");
    }
  }
  matrices_.push_back(m);
  return static_cast<WeightId>(matrices_.size() - 1);
}

absl::StatusOr<WeightId> CudaBackend::UploadVector(const GgufTensor& tensor) {
  if (tensor.type != GgmlType::kF32) {
    return absl::InvalidArgumentError(
        absl::StrFormat("tensor '%s': expected F32, got %s", tensor.name,
                        GetGgmlTypeInfo(tensor.type).name));
  }
  const int64_t bytes = static_cast<int64_t>(tensor.nbytes);
  absl::StatusOr<void*> p = Malloc(bytes);
  if (!p.ok()) return p.status();
  allocations_.push_back(*p);
  if (cudaError_t e = cudaMemcpy(*p, tensor.data, bytes, cudaMemcpyHostToDevice);
      e != cudaSuccess) {
    return CudaError(e, "vector upload");
  }
  vectors_.push_back(static_cast<const float*>(*p));
  return static_cast<WeightId>(vectors_.size() - 1);
}

absl::Status CudaBackend::AllocateKvCache(const KvCacheShape& shape) {
  if (shape.num_blocks <= 0 || shape.block_size <= 0 || shape.n_layer <= 0) {
    return absl::InvalidArgumentError("KV cache needs at least one block");
  }
  if (kv_ != nullptr) return absl::FailedPreconditionError("KV cache already allocated");
  kv_shape_ = shape;
  kv_layer_elems_ = int64_t{shape.num_blocks} * shape.block_size *
                    shape.n_kv_heads * shape.head_dim;
  const int64_t bytes = kv_layer_elems_ * 2 * shape.n_layer * 2;
  absl::StatusOr<void*> p = Malloc(bytes);
  if (!p.ok()) return p.status();
  allocations_.push_back(*p);
  kv_ = static_cast<uint16_t*>(*p);
  // Zero so that never-written slots read as 0, as on the CPU.
  if (cudaError_t e = cudaMemset(kv_, 0, bytes); e != cudaSuccess) {
    return CudaError(e, "KV memset");
  }
  std::vector<uint16_t*> bases;
  for (int l = 0; l < shape.n_layer; ++l) {
    bases.push_back(LayerK(l));
    bases.push_back(LayerV(l));
  }
  absl::StatusOr<void*> q = Malloc(bases.size() * sizeof(uint16_t*));
  if (!q.ok()) return q.status();
  allocations_.push_back(*q);
  kv_bases_ = static_cast<uint16_t**>(*q);
  if (cudaError_t e = cudaMemcpy(kv_bases_, bases.data(),
                                 bases.size() * sizeof(uint16_t*),
                                 cudaMemcpyHostToDevice);
      e != cudaSuccess) {
    return CudaError(e, "KV table upload");
  }
  return absl::OkStatus();
}

uint16_t* CudaBackend::LayerK(int layer) const {
  return kv_ + int64_t{2} * layer * kv_layer_elems_;
}
uint16_t* CudaBackend::LayerV(int layer) const {
  return LayerK(layer) + kv_layer_elems_;
}

absl::Status CudaBackend::ReadKvCache(int layer, bool value, int64_t offset,
                                      int64_t count, uint16_t* host) {
  if (kv_ == nullptr || layer < 0 || layer >= kv_shape_.n_layer || offset < 0 ||
      offset + count > kv_layer_elems_) {
    return absl::OutOfRangeError("KV read outside the pool");
  }
  const uint16_t* src = (value ? LayerV(layer) : LayerK(layer)) + offset;
  if (cudaError_t e = cudaMemcpyAsync(host, src, count * 2, cudaMemcpyDeviceToHost, stream_);
      e != cudaSuccess) {
    return CudaError(e, "KV read");
  }
  if (cudaError_t e = cudaStreamSynchronize(stream_); e != cudaSuccess) {
    return CudaError(e, "KV read");
  }
  return absl::OkStatus();
}

float* CudaBackend::Activations(int slot, int64_t floats) {
  if (slot >= static_cast<int>(activations_.size())) activations_.resize(slot + 1);
  if (absl::Status s = Ensure(activations_[slot], floats * int64_t{sizeof(float)});
      !s.ok()) {
    if (error_.ok()) error_ = s;
    return nullptr;
  }
  return static_cast<float*>(activations_[slot].ptr);
}

absl::Status CudaBackend::ReadActivations(const float* src, int64_t floats,
                                          float* host) {
  if (!error_.ok()) return error_;
  // The end of a forward step: a captured or replayed graph runs now.
  if (absl::Status s = FinishGraphStep(); !s.ok()) return s;
  Check(cudaMemcpyAsync(host, src, floats * sizeof(float), cudaMemcpyDeviceToHost,
                        stream_),
        "read activations");
  Check(cudaStreamSynchronize(stream_), "forward step");
  return error_;
}

absl::Status CudaBackend::BeginStep(const ForwardBatch& batch) {
  if (!error_.ok()) return error_;
  batch_ = &batch;
  // The previous step's uploads may still be read by its kernels.
  if (Check(cudaStreamSynchronize(stream_), "previous step")) return error_;

  std::vector<int32_t> tables;
  std::vector<cuda::DecodeRow> rows;
  std::vector<cuda::PrefillTile> tiles;
  const bool tiled_head = kv_shape_.head_dim == 64 || kv_shape_.head_dim == 128;
  max_decode_keys_ = 0;
  for (const BatchSequence& s : batch.seqs) {
    const int32_t offset = static_cast<int32_t>(tables.size());
    tables.insert(tables.end(), s.block_table.begin(), s.block_table.end());
    if (s.num_queries <= kMaxDecodeQueries || !tiled_head) {
      for (int i = 0; i < s.num_queries; ++i) {
        cuda::DecodeRow r;
        r.row = s.query_start + i;
        r.position = cuda::QueryPosition(s.context_len, s.num_queries, i);
        r.table_offset = offset;
        rows.push_back(r);
        max_decode_keys_ = std::max(max_decode_keys_, r.position + 1);
      }
    } else {
      for (int t = 0; t < cuda::NumPrefillTiles(s.num_queries); ++t) {
        cuda::PrefillTile tile;
        tile.query_start = s.query_start;
        tile.num_queries = s.num_queries;
        tile.context_len = s.context_len;
        tile.q_begin = t * cuda::kPrefillTileQ;
        tile.table_offset = offset;
        tiles.push_back(tile);
      }
    }
  }
  num_decode_rows_ = static_cast<int>(rows.size());
  num_tiles_ = static_cast<int>(tiles.size());
  graph_mode_ = GraphMode::kEager;
  const bool graph = GraphEligible(batch);
  // A graph's decode grid is fixed: size it for the key bucket (extra
  // partitions of shorter rows exit at once).
  if (graph) max_decode_keys_ = DecodeKeyBucket(max_decode_keys_);

  // The block tables go last so that every other array sits at an offset
  // that depends only on the row count (a replayed graph reads them there).
  host_step_.clear();
  const int64_t o_tokens = Append(host_step_, batch.tokens.data(), batch.tokens.size());
  const int64_t o_pos = Append(host_step_, batch.positions.data(), batch.positions.size());
  const int64_t o_slots = Append(host_step_, batch.slots.data(), batch.slots.size());
  const int64_t o_rows = Append(host_step_, rows.data(), rows.size());
  const int64_t o_tiles = Append(host_step_, tiles.data(), tiles.size());
  const int64_t o_logits =
      Append(host_step_, batch.logit_rows.data(), batch.logit_rows.size());
  const int64_t o_tables = Append(host_step_, tables.data(), tables.size());
  // Room for longer tables: fewer reallocations, which retire graphs.
  const int64_t step_bytes = static_cast<int64_t>(host_step_.size());
  if (step_.bytes < step_bytes) {
    if (absl::Status s = Ensure(step_, graph ? 2 * step_bytes : step_bytes); !s.ok()) {
      return s;
    }
  }
  // Pageable source: the call returns once host_step_ has been staged.
  if (Check(cudaMemcpyAsync(step_.ptr, host_step_.data(), host_step_.size(),
                            cudaMemcpyHostToDevice, stream_),
            "batch upload")) {
    return error_;
  }
  const uint8_t* base = static_cast<const uint8_t*>(step_.ptr);
  d_tokens_ = reinterpret_cast<const int32_t*>(base + o_tokens);
  d_positions_ = reinterpret_cast<const int32_t*>(base + o_pos);
  d_slots_ = reinterpret_cast<const int64_t*>(base + o_slots);
  d_tables_ = reinterpret_cast<const int32_t*>(base + o_tables);
  d_decode_rows_ = reinterpret_cast<const cuda::DecodeRow*>(base + o_rows);
  d_tiles_ = reinterpret_cast<const cuda::PrefillTile*>(base + o_tiles);
  d_logit_rows_ = reinterpret_cast<const int32_t*>(base + o_logits);
  if (graph) {
    return StartGraphStep({batch.num_tokens(), max_decode_keys_, step_layers_});
  }
  return absl::OkStatus();
}

void CudaBackend::Embed(WeightId embedding, float* x) {
  if (Skip()) return;
  const Matrix& m = matrices_[embedding];
  Check(cuda::LaunchEmbed(m.data, m.format, m.row_bytes, m.cols, d_tokens_,
                          batch_->num_tokens(), x, stream_),
        "embed");
}

void CudaBackend::RmsNorm(const float* x, WeightId w, int n, int d, float eps,
                          float* out) {
  if (Skip()) return;
  Check(cuda::LaunchRmsNorm(x, vectors_[w], n, d, eps, out, stream_), "rmsnorm");
}

void CudaBackend::AddRmsNorm(float* x, const float* delta, WeightId w, int n,
                             int d, float eps, float* out) {
  if (Skip()) return;
  Check(cuda::LaunchAddRmsNorm(x, delta, vectors_[w], n, d, eps, out, stream_),
        "add+rmsnorm");
}

void CudaBackend::MatMul(absl::Span<const WeightId> ws, const float* x, int n,
                         absl::Span<float* const> ys) {
  if (Skip()) return;
  bool x_converted = false;
  for (size_t i = 0; i < ws.size(); ++i) {
    const Matrix& m = matrices_[ws[i]];
    if (n > cuda::kGemvMaxTokens && m.bf16 != nullptr) {
      if (!x_converted) {
        // One bf16 copy of x serves every matrix of the call.
        if (absl::Status s = Ensure(x_bf16_, int64_t{n} * m.cols * 2); !s.ok()) {
          error_ = s;
          return;
        }
        if (Check(cuda::LaunchF32ToBf16(x, int64_t{n} * m.cols,
                                        static_cast<uint16_t*>(x_bf16_.ptr), stream_),
                  "f32->bf16")) {
          return;
        }
        x_converted = true;
      }
      const cublasStatus_t s =
          cuda::GemmBf16(cublas_, m.bf16, m.rows, m.cols,
                         static_cast<const uint16_t*>(x_bf16_.ptr), n, ys[i], stream_);
      if (s != CUBLAS_STATUS_SUCCESS && error_.ok()) {
        error_ = absl::InternalError(absl::StrFormat("cuBLAS GEMM failed: %d", s));
        return;
      }
    } else if (Check(cuda::LaunchDequantGemv(m.data, m.format, m.row_bytes, m.rows,
                                             m.cols, x, n, ys[i], stream_),
                     "dequant gemv")) {
      return;
    }
  }
}

void CudaBackend::PositionAndCache(const ModelConfig& config, int layer,
                                   float* q, float* k, const float* v) {
  if (Skip()) return;
  cuda::DeviceKvWrite cache;
  cache.k = LayerK(layer);
  cache.v = LayerV(layer);
  cache.n_kv_heads = kv_shape_.n_kv_heads;
  cache.head_dim = kv_shape_.head_dim;
  const bool rope = config.position == PositionEncoding::kRope;
  Check(cuda::LaunchRopeAndWriteKv(cache, q, config.n_head, k, v,
                                   batch_->num_tokens(), d_positions_, d_slots_,
                                   rope ? config.rope_dim : 0, config.rope_freq_base,
                                   config.rope_mode == RopeMode::kNeox, stream_),
        "rope+kv write");
}

void CudaBackend::Attention(const ModelConfig& config, int layer,
                            const float* q, float* out) {
  if (Skip()) return;
  cuda::DeviceAttentionParams p;
  p.n_head = config.n_head;
  p.n_kv_heads = config.n_head_kv;
  p.head_dim = config.head_dim;
  p.scale = 1.0f / std::sqrt(static_cast<float>(config.head_dim));
  if (config.position == PositionEncoding::kAlibi) {
    p.alibi_slopes = AlibiSlopes(config);
    if (p.alibi_slopes == nullptr) return;
  }
  cuda::DeviceKvLayer kv;
  kv.k = LayerK(layer);
  kv.v = LayerV(layer);
  kv.block_size = kv_shape_.block_size;
  kv.n_kv_heads = kv_shape_.n_kv_heads;
  kv.head_dim = kv_shape_.head_dim;
  if (num_decode_rows_ > 0) {
    const int64_t ws = cuda::DecodeWorkspaceFloats(num_decode_rows_, p.n_head,
                                                   p.head_dim, max_decode_keys_);
    if (absl::Status s = Ensure(workspace_, ws * int64_t{sizeof(float)}); !s.ok()) {
      error_ = s;
      return;
    }
    if (Check(cuda::LaunchPagedDecodeAttention(
                  p, kv, d_decode_rows_, num_decode_rows_, max_decode_keys_,
                  d_tables_, q, static_cast<float*>(workspace_.ptr), out, stream_),
              "decode attention")) {
      return;
    }
  }
  Check(options_.tensor_core_prefill
            ? cuda::LaunchPagedPrefillAttentionTc(p, kv, d_tiles_, num_tiles_, d_tables_,
                                                  q, out, stream_)
            : cuda::LaunchPagedPrefillAttention(p, kv, d_tiles_, num_tiles_, d_tables_,
                                                q, out, stream_),
        "prefill attention");
}

void CudaBackend::SwiGlu(const float* gate, const float* up, int64_t n,
                         float* out) {
  if (Skip()) return;
  Check(cuda::LaunchSwiGlu(gate, up, n, out, stream_), "swiglu");
}

void CudaBackend::GatherRows(const float* x, int d,
                             absl::Span<const int32_t> rows, float* out) {
  if (Skip() || rows.empty()) return;
  const int32_t* d_rows = d_logit_rows_;
  if (batch_ == nullptr || rows.data() != batch_->logit_rows.data() ||
      rows.size() != batch_->logit_rows.size()) {
    if (absl::Status s = Ensure(scratch_, rows.size() * sizeof(int32_t)); !s.ok()) {
      error_ = s;
      return;
    }
    if (Check(cudaMemcpyAsync(scratch_.ptr, rows.data(), rows.size() * sizeof(int32_t),
                              cudaMemcpyHostToDevice, stream_),
              "gather rows upload")) {
      return;
    }
    d_rows = static_cast<const int32_t*>(scratch_.ptr);
  }
  Check(cuda::LaunchGatherRows(x, d, d_rows, static_cast<int>(rows.size()), out,
                               stream_),
        "gather rows");
}

absl::Status CudaBackend::CopyBlocks(
    absl::Span<const std::pair<int32_t, int32_t>> copies) {
  if (!error_.ok()) return error_;
  if (copies.empty()) return absl::OkStatus();
  std::vector<int32_t> pairs;
  for (const auto& [src, dst] : copies) {
    if (src < 0 || dst < 0 || src >= kv_shape_.num_blocks ||
        dst >= kv_shape_.num_blocks) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "block copy %d -> %d outside the pool of %d blocks", src, dst,
          kv_shape_.num_blocks));
    }
    pairs.push_back(src);
    pairs.push_back(dst);
  }
  // Copies run in order on the stream, so a pair may read a block that an
  // earlier step wrote; scratch_ is reused only after this sync.
  if (Check(cudaStreamSynchronize(stream_), "block copy")) return error_;
  if (absl::Status s = Ensure(scratch_, pairs.size() * sizeof(int32_t)); !s.ok()) {
    return s;
  }
  Check(cudaMemcpyAsync(scratch_.ptr, pairs.data(), pairs.size() * sizeof(int32_t),
                        cudaMemcpyHostToDevice, stream_),
        "block copy upload");
  const int64_t block_elems =
      int64_t{kv_shape_.block_size} * kv_shape_.n_kv_heads * kv_shape_.head_dim;
  Check(cuda::LaunchCopyBlocks(kv_bases_, 2 * kv_shape_.n_layer,
                               static_cast<const int32_t*>(scratch_.ptr),
                               static_cast<int>(copies.size()), block_elems, stream_),
        "block copy");
  // The pairs vector dies here; wait for the copy to have been consumed.
  Check(cudaStreamSynchronize(stream_), "block copy");
  return error_;
}

}  // namespace llm

#endif  // LLM_HAVE_CUDA
