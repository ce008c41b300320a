// File: worker/cuda_backend_tp.cc
//
// The tensor-parallel part of CudaBackend (cuda_backend.h): shard upload,
// the NCCL communicator and the all-reduce, and ALiBi slopes by global head.
// Kept apart from cuda_backend.cc so that each file stays one concern.
#include "worker/cuda_backend.h"

#if LLM_HAVE_CUDA

#include <vector>

#include "absl/strings/str_format.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cuda/nccl_loader.h"

namespace llm {

absl::StatusOr<WeightId> CudaBackend::UploadMatrixSlice(const GgufTensor& tensor,
                                                        const MatrixSlice& slice) {
  if (slice.IsWhole(tensor)) return UploadMatrix(tensor);
  if (absl::Status s = CheckSlice(tensor, slice); !s.ok()) return s;
  // Gathered on the host (strided column slices), then uploaded as a
  // matrix of the slice's shape; the host copy dies after the upload,
  // which copies synchronously.
  const std::vector<uint8_t> bytes = CopySlice(tensor, slice);
  return UploadMatrix(SliceView(tensor, slice, bytes));
}

const float* CudaBackend::AlibiSlopes(const ModelConfig& config) {
  if (alibi_heads_ != config.n_head) {
    // Slopes depend on the global head index and count: rank r holds heads
    // [r·H/T, (r+1)·H/T) of H = n_head·T.
    const int global_heads = config.n_head * options_.tp_size;
    std::vector<float> all(global_heads);
    kernels::AlibiSlopes(global_heads, config.alibi_max_bias, all.data());
    const float* mine = all.data() + options_.tp_rank * config.n_head;
    if (absl::Status s = Ensure(alibi_, config.n_head * sizeof(float)); !s.ok()) {
      error_ = s;
      return nullptr;
    }
    if (Check(cudaMemcpy(alibi_.ptr, mine, config.n_head * sizeof(float),
                         cudaMemcpyHostToDevice),
              "alibi upload")) {
      return nullptr;
    }
    alibi_heads_ = config.n_head;
  }
  return static_cast<const float*>(alibi_.ptr);
}

#if LLM_HAVE_NCCL

namespace {

absl::Status NcclError(const cuda::NcclApi* nccl, ncclResult_t r, const char* what) {
  return absl::InternalError(
      absl::StrFormat("NCCL %s: %s", what, nccl->get_error_string(r)));
}

}  // namespace

absl::StatusOr<std::string> CudaBackend::NewTensorParallelId() {
  std::string error;
  const cuda::NcclApi* nccl = cuda::Nccl(&error);
  if (nccl == nullptr) return absl::UnavailableError(error);
  ncclUniqueId id;
  if (ncclResult_t r = nccl->get_unique_id(&id); r != ncclSuccess) {
    return NcclError(nccl, r, "ncclGetUniqueId");
  }
  return std::string(id.internal, sizeof(id.internal));
}

absl::Status CudaBackend::JoinTensorParallel(const std::string& id) {
  if (options_.tp_size <= 1) return absl::OkStatus();
  if (nccl_comm_ != nullptr) {
    return absl::FailedPreconditionError("tensor-parallel group already joined");
  }
  std::string error;
  const cuda::NcclApi* nccl = cuda::Nccl(&error);
  if (nccl == nullptr) return absl::UnavailableError(error);
  ncclUniqueId uid;
  if (id.size() != sizeof(uid.internal)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "NCCL unique id has %d bytes, expected %d", id.size(), sizeof(uid.internal)));
  }
  id.copy(uid.internal, sizeof(uid.internal));
  if (cudaError_t e = cudaSetDevice(options_.device); e != cudaSuccess) {
    return absl::InternalError(
        absl::StrFormat("cudaSetDevice: %s", cudaGetErrorString(e)));
  }
  ncclComm_t comm = nullptr;
  if (ncclResult_t r = nccl->comm_init_rank(&comm, options_.tp_size, uid,
                                            options_.tp_rank);
      r != ncclSuccess) {
    return NcclError(nccl, r, "ncclCommInitRank");
  }
  nccl_comm_ = comm;
  return absl::OkStatus();
}

void CudaBackend::LeaveTensorParallel() {
  if (nccl_comm_ == nullptr) return;
  if (const cuda::NcclApi* nccl = cuda::Nccl()) {
    // Abort rather than destroy: a peer that already exited must not make
    // this process hang in its destructor.
    nccl->comm_abort(static_cast<ncclComm_t>(nccl_comm_));
  }
  nccl_comm_ = nullptr;
}

void CudaBackend::AllReduceSum(float* x, int64_t floats) {
  if (!error_.ok() || options_.tp_size <= 1) return;
  if (nccl_comm_ == nullptr) {
    error_ = absl::FailedPreconditionError(
        "tensor-parallel group not formed yet (JoinTensorParallel)");
    return;
  }
  const cuda::NcclApi* nccl = cuda::Nccl();
  // In place, on the backend's stream: ordered after the matmul that wrote
  // x and before the add+norm that reads it, with no host sync.
  if (ncclResult_t r = nccl->all_reduce(x, x, static_cast<size_t>(floats), ncclFloat32,
                                        ncclSum, static_cast<ncclComm_t>(nccl_comm_),
                                        stream_);
      r != ncclSuccess) {
    error_ = NcclError(nccl, r, "ncclAllReduce");
  }
}

#else  // !LLM_HAVE_NCCL

absl::StatusOr<std::string> CudaBackend::NewTensorParallelId() {
  return absl::UnavailableError(
      "this binary was built without NCCL (nccl.h not found at configure time): "
      "no tensor parallelism");
}

absl::Status CudaBackend::JoinTensorParallel(const std::string&) {
  if (options_.tp_size <= 1) return absl::OkStatus();
  return NewTensorParallelId().status();
}

void CudaBackend::LeaveTensorParallel() {}

void CudaBackend::AllReduceSum(float*, int64_t) {
  if (error_.ok() && options_.tp_size > 1) {
    error_ = NewTensorParallelId().status();
  }
}

#endif  // LLM_HAVE_NCCL

}  // namespace llm

#endif  // LLM_HAVE_CUDA
