// File: kernels/cuda/cublas_loader.h
//
// cuBLAS, loaded at run time with dlopen instead of linked. Why: libcublasLt
// carries ~94 KB of static TLS; linked into a process, every thread created
// with a small fixed stack fails (glibc places static TLS inside the stack),
// which broke civetweb's threads (the Prometheus endpoint) in llm-worker on
// every machine, GPU or not. Loaded on demand, only a process that really
// runs the CUDA backend pays for it, and a CUDA-enabled binary does not need
// libcublas installed to run on the CPU.
//
// Thread safety: Cublas() is safe to call from any thread (loads once).
#ifndef LLM_KERNELS_CUDA_CUBLAS_LOADER_H_
#define LLM_KERNELS_CUDA_CUBLAS_LOADER_H_

#include <cublas_v2.h>

#include <string>

namespace llm::cuda {

struct CublasApi {
  cublasStatus_t (*create)(cublasHandle_t*);
  cublasStatus_t (*destroy)(cublasHandle_t);
  cublasStatus_t (*set_stream)(cublasHandle_t, cudaStream_t);
  cublasStatus_t (*gemm_ex)(cublasHandle_t, cublasOperation_t, cublasOperation_t,
                            int, int, int, const void*, const void*, cudaDataType,
                            int, const void*, cudaDataType, int, const void*, void*,
                            cudaDataType, int, cublasComputeType_t, cublasGemmAlgo_t);
};

// The loaded API, or nullptr (then *error says why) when libcublas cannot
// be opened or lacks a symbol.
const CublasApi* Cublas(std::string* error = nullptr);

}  // namespace llm::cuda

#endif  // LLM_KERNELS_CUDA_CUBLAS_LOADER_H_
