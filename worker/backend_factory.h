// File: worker/backend_factory.h
//
// CreateBackend: picks the worker's Backend from `--backend auto|cpu|cuda`.
// cpu: CpuBackend. cuda / auto: CudaBackend when this binary was built with
// CUDA (LLM_HAVE_CUDA) and a device is usable; otherwise the CPU backend,
// after one line on stderr saying why (a CUDA-enabled binary on a machine
// without a GPU must run, never crash). A build without CUDA asked for cuda
// falls back the same way.
//
// Thread safety: call from one thread at start-up.
#ifndef LLM_WORKER_BACKEND_FACTORY_H_
#define LLM_WORKER_BACKEND_FACTORY_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "worker/backend.h"

namespace llm {

struct BackendChoice {
  std::string backend = "auto";  // "auto" | "cpu" | "cuda"
  int cpu_threads = 0;           // CpuBackend threads; <= 0: one per core
  int cuda_device = 0;
};

absl::StatusOr<std::unique_ptr<Backend>> CreateBackend(const BackendChoice& choice);

// Whether this binary has the CUDA backend compiled in.
bool CudaBackendBuilt();

// The KV pool budget when the user gave none: on a GPU, 90% of the device
// memory still free after the weights (vLLM's gpu_memory_utilization
// default); on the CPU, `cpu_default`.
int64_t DefaultKvCacheBytes(const Backend& backend, int64_t cpu_default);

}  // namespace llm

#endif  // LLM_WORKER_BACKEND_FACTORY_H_
