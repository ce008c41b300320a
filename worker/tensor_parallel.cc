// File: worker/tensor_parallel.cc
#include "worker/tensor_parallel.h"

#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "common/ggml_types.h"

namespace llm {

absl::Status ValidateTensorParallel(int rank, int size) {
  if (size < 1 || size > kMaxTensorParallelSize) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--tp-size must be in [1, %d], got %d", kMaxTensorParallelSize, size));
  }
  if (rank < 0 || rank >= size) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--tp-rank must be in [0, %d) for --tp-size %d, got %d", size, size, rank));
  }
  return absl::OkStatus();
}

absl::StatusOr<ShardLayout> PlanShards(const ModelConfig& config, int rank, int size) {
  if (absl::Status s = ValidateTensorParallel(rank, size); !s.ok()) return s;
  // n_head_kv divides n_head (ModelConfig validates), so size | n_head_kv
  // implies size | n_head and every rank keeps whole GQA groups.
  if (config.n_head_kv % size != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--tp-size %d does not divide the model's %d KV heads (%d query heads): "
        "each rank must hold whole KV heads",
        size, config.n_head_kv, config.n_head));
  }
  if (config.n_ff % size != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--tp-size %d does not divide the model's feed-forward length %d", size,
        config.n_ff));
  }
  ShardLayout l;
  l.rank = rank;
  l.size = size;
  l.n_head = config.n_head / size;
  l.head_begin = rank * l.n_head;
  l.n_head_kv = config.n_head_kv / size;
  l.kv_head_begin = rank * l.n_head_kv;
  l.n_ff = config.n_ff / size;
  l.ff_begin = rank * l.n_ff;
  return l;
}

ModelConfig LocalConfig(const ModelConfig& config, const ShardLayout& layout) {
  ModelConfig local = config;
  local.n_head = layout.n_head;
  local.n_head_kv = layout.n_head_kv;
  local.n_ff = layout.n_ff;
  return local;
}

MatrixSlice SliceFor(WeightRole role, const ModelConfig& config,
                     const ShardLayout& layout, int64_t rows, int64_t cols) {
  MatrixSlice s{0, rows, 0, cols};
  if (layout.size == 1) return s;
  const int64_t hd = config.head_dim;
  switch (role) {
    case WeightRole::kReplicated:
      break;
    case WeightRole::kQ:
      s.row_begin = layout.head_begin * hd;
      s.rows = layout.n_head * hd;
      break;
    case WeightRole::kK:
    case WeightRole::kV:
      s.row_begin = layout.kv_head_begin * hd;
      s.rows = layout.n_head_kv * hd;
      break;
    case WeightRole::kGate:
    case WeightRole::kUp:
      s.row_begin = layout.ff_begin;
      s.rows = layout.n_ff;
      break;
    case WeightRole::kAttnOutput:
      s.col_begin = layout.head_begin * hd;
      s.cols = layout.n_head * hd;
      break;
    case WeightRole::kDown:
      s.col_begin = layout.ff_begin;
      s.cols = layout.n_ff;
      break;
  }
  return s;
}

absl::Status CheckSlice(const GgufTensor& tensor, const MatrixSlice& slice) {
  const int64_t rows = tensor.rows();
  const int64_t cols = tensor.ne.empty() ? 0 : tensor.ne[0];
  if (slice.row_begin < 0 || slice.rows < 1 || slice.row_begin + slice.rows > rows ||
      slice.col_begin < 0 || slice.cols < 1 || slice.col_begin + slice.cols > cols) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "tensor '%s' [%d, %d]: slice rows [%d, +%d) cols [%d, +%d) is outside it",
        tensor.name, rows, cols, slice.row_begin, slice.rows, slice.col_begin,
        slice.cols));
  }
  const int block = GetGgmlTypeInfo(tensor.type).block_size;
  if (slice.col_begin % block != 0 || slice.cols % block != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "tensor '%s' (%s): a tensor-parallel shard of columns [%d, +%d) cuts its "
        "%d-element quantisation blocks; choose a --tp-size whose shard widths are "
        "multiples of %d",
        tensor.name, GetGgmlTypeInfo(tensor.type).name, slice.col_begin, slice.cols,
        block, block));
  }
  return absl::OkStatus();
}

std::vector<uint8_t> CopySlice(const GgufTensor& tensor, const MatrixSlice& slice) {
  const GgmlTypeInfo& info = GetGgmlTypeInfo(tensor.type);
  const uint64_t row_bytes = tensor.row_bytes();
  const uint64_t begin = slice.col_begin / info.block_size * info.type_size;
  const uint64_t width = slice.cols / info.block_size * info.type_size;
  std::vector<uint8_t> out(width * slice.rows);
  for (int64_t r = 0; r < slice.rows; ++r) {
    std::memcpy(out.data() + r * width,
                tensor.data + (slice.row_begin + r) * row_bytes + begin, width);
  }
  return out;
}

GgufTensor SliceView(const GgufTensor& tensor, const MatrixSlice& slice,
                     const std::vector<uint8_t>& bytes) {
  GgufTensor view;
  view.name = tensor.name;
  view.type = tensor.type;
  view.ne = {slice.cols, slice.rows};
  view.offset = tensor.offset;
  view.nbytes = bytes.size();
  view.data = bytes.data();
  return view;
}

absl::StatusOr<int> StatefulSetOrdinal(std::string_view hostname) {
  size_t digits = 0;
  while (digits < hostname.size() &&
         absl::ascii_isdigit(hostname[hostname.size() - 1 - digits])) {
    ++digits;
  }
  const size_t dash = hostname.size() - digits;
  int ordinal = 0;
  if (digits == 0 || digits > 9 || dash == 0 || hostname[dash - 1] != '-' ||
      !absl::SimpleAtoi(absl::string_view(hostname.data() + dash, digits), &ordinal)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "host name '%s' is not a StatefulSet pod name <set>-<ordinal>: give "
        "--tp-rank explicitly",
        std::string(hostname)));
  }
  return ordinal;
}

absl::StatusOr<TpPlacement> ResolveTpPlacement(int tp_rank, int tp_size,
                                               const std::string& tp_root,
                                               const std::string& hostname) {
  TpPlacement p;
  if (tp_size == 1 && tp_rank <= 0) return p;
  constexpr absl::string_view kRootOrdinal = "{root_ordinal}";
  const bool templated = absl::StrContains(tp_root, kRootOrdinal);
  int ordinal = -1;
  if (tp_rank < 0 || templated) {
    absl::StatusOr<int> o = StatefulSetOrdinal(hostname);
    if (!o.ok()) return o.status();
    ordinal = *o;
  }
  p.rank = tp_rank >= 0 ? tp_rank : ordinal % tp_size;
  if (absl::Status s = ValidateTensorParallel(p.rank, tp_size); !s.ok()) return s;
  if (p.rank == 0) return p;
  if (tp_root.empty()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "rank %d of %d needs --tp-root (rank 0's HOST:PORT)", p.rank, tp_size));
  }
  if (templated && ordinal < p.rank) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "pod ordinal %d cannot be rank %d of a group", ordinal, p.rank));
  }
  p.root = templated ? absl::StrReplaceAll(
                           tp_root, {{kRootOrdinal, absl::StrCat(ordinal - p.rank)}})
                     : tp_root;
  return p;
}

}  // namespace llm
