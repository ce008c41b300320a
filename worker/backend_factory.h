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
  // Tensor parallelism: this process's rank and the group size. tp_size > 1
  // needs the CUDA backend with NCCL: a CPU backend (asked for, or the
  // fallback of auto) is an InvalidArgument / FailedPrecondition error, not
  // a silent fallback. The device is cuda_device + tp_rank modulo the
  // visible devices (one GPU per pod: device 0).
  int tp_rank = 0;
  int tp_size = 1;
};

absl::StatusOr<std::unique_ptr<Backend>> CreateBackend(const BackendChoice& choice);

// Rank 0's NCCL unique id for its group (CudaBackend::NewTensorParallelId);
// FailedPrecondition for a backend that is not a CUDA rank of a group.
absl::StatusOr<std::string> NewTensorParallelId(const Backend& backend);
// Joins the group with rank 0's id (blocks until every rank joined); OK
// and nothing to do outside a group.
absl::Status JoinTensorParallel(Backend& backend, const std::string& id);

// Whether this binary has the CUDA backend compiled in.
bool CudaBackendBuilt();

// The KV pool budget when the user gave none: on a GPU, 90% of the device
// memory still free after the weights (vLLM's gpu_memory_utilization
// default); on the CPU, `cpu_default`.
int64_t DefaultKvCacheBytes(const Backend& backend, int64_t cpu_default);

}  // namespace llm

#endif  // LLM_WORKER_BACKEND_FACTORY_H_
