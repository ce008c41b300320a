// File: kernels/cuda/nccl_loader.h
//
// NCCL, loaded at run time with dlopen instead of linked, for the same
// reasons as cuBLAS (cublas_loader.h): libnccl is ~200 MB and only a worker
// that is one rank of a tensor-parallel group needs it, so a CUDA-enabled
// binary starts (and runs on one GPU, or on the CPU) on a machine without
// NCCL installed. Compiled when nccl.h was found at configure time
// (LLM_HAVE_NCCL, cmake/cuda.cmake); the library path found then is tried
// first (LLM_NCCL_LIBRARY), then the usual sonames.
//
// Thread safety: Nccl() is safe to call from any thread (loads once).
#ifndef LLM_KERNELS_CUDA_NCCL_LOADER_H_
#define LLM_KERNELS_CUDA_NCCL_LOADER_H_

#if LLM_HAVE_NCCL

#include <nccl.h>

#include <string>

namespace llm::cuda {

struct NcclApi {
  ncclResult_t (*get_unique_id)(ncclUniqueId*);
  ncclResult_t (*comm_init_rank)(ncclComm_t*, int, ncclUniqueId, int);
  ncclResult_t (*comm_destroy)(ncclComm_t);
  ncclResult_t (*comm_abort)(ncclComm_t);
  ncclResult_t (*all_reduce)(const void*, void*, size_t, ncclDataType_t, ncclRedOp_t,
                             ncclComm_t, cudaStream_t);
  const char* (*get_error_string)(ncclResult_t);
};

// The loaded API, or nullptr (then *error says why) when libnccl cannot be
// opened or lacks a symbol.
const NcclApi* Nccl(std::string* error = nullptr);

}  // namespace llm::cuda

#endif  // LLM_HAVE_NCCL
#endif  // LLM_KERNELS_CUDA_NCCL_LOADER_H_
