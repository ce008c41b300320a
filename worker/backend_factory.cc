#include "worker/backend_factory.h"

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "worker/cpu_backend.h"
#include "worker/cuda_backend.h"

namespace llm {

namespace {

[[maybe_unused]] bool EnvIsZero(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && std::string(v) == "0";
}

}  // namespace

bool CudaBackendBuilt() {
#if LLM_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

absl::StatusOr<std::unique_ptr<Backend>> CreateBackend(const BackendChoice& choice) {
  if (choice.backend != "auto" && choice.backend != "cpu" && choice.backend != "cuda") {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--backend must be auto, cpu or cuda, got '%s'", choice.backend));
  }
  if (absl::Status s = ValidateTensorParallel(choice.tp_rank, choice.tp_size); !s.ok()) {
    return s;
  }
  const bool tp = choice.tp_size > 1;
  if (tp && choice.backend == "cpu") {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--tp-size %d: tensor parallelism needs the CUDA backend (NCCL); "
        "--backend cpu cannot shard a model",
        choice.tp_size));
  }
  if (choice.backend != "cpu") {
#if LLM_HAVE_CUDA
    CudaBackend::Options options;
    options.device = choice.cuda_device;
    // Escape hatches for the two paths that have never run on a GPU here.
    options.cuda_graphs = !EnvIsZero("LLM_CUDA_GRAPHS");
    options.device_sampling = !EnvIsZero("LLM_CUDA_DEVICE_SAMPLING");
    const char* tc = std::getenv("LLM_CUDA_TC_PREFILL");
    options.tensor_core_prefill = tc != nullptr && std::string(tc) == "1";
    if (tp) {
      absl::StatusOr<int> count = CudaDeviceCount();
      if (!count.ok()) {
        return absl::FailedPreconditionError(absl::StrFormat(
            "--tp-size %d needs a CUDA device: %s", choice.tp_size,
            count.status().message()));
      }
      options.device = (choice.cuda_device + choice.tp_rank) % *count;
      options.tp_rank = choice.tp_rank;
      options.tp_size = choice.tp_size;
    }
    absl::StatusOr<std::unique_ptr<CudaBackend>> cuda = CudaBackend::Create(options);
    if (cuda.ok()) return std::unique_ptr<Backend>(std::move(*cuda));
    if (tp) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "--tp-size %d needs the CUDA backend: %s", choice.tp_size,
          cuda.status().message()));
    }
    std::fprintf(stderr, "backend: %s; using the CPU backend\n",
                 std::string(cuda.status().message()).c_str());
#else
    if (tp) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "--tp-size %d needs the CUDA backend; this binary was built without "
          "CUDA (LLM_CUDA=OFF or no toolkit)",
          choice.tp_size));
    }
    if (choice.backend == "cuda") {
      std::fprintf(stderr,
                   "backend: this binary was built without CUDA (LLM_CUDA=OFF or "
                   "no toolkit); using the CPU backend\n");
    }
#endif
  }
  return std::unique_ptr<Backend>(std::make_unique<CpuBackend>(choice.cpu_threads));
}

int64_t DefaultKvCacheBytes(const Backend& backend, int64_t cpu_default) {
#if LLM_HAVE_CUDA
  if (const auto* cuda = dynamic_cast<const CudaBackend*>(&backend)) {
    const int64_t free_bytes = cuda->FreeDeviceBytes();
    // Leave room for activations, cuBLAS workspace and the decode workspace.
    const int64_t budget = free_bytes / 10 * 9 - (int64_t{512} << 20);
    if (budget > 0) return budget;
  }
#endif
  return cpu_default;
}

}  // namespace llm

namespace llm {

absl::StatusOr<std::string> NewTensorParallelId(const Backend& backend) {
#if LLM_HAVE_CUDA
  if (dynamic_cast<const CudaBackend*>(&backend) != nullptr && backend.tp_size() > 1) {
    return CudaBackend::NewTensorParallelId();
  }
#endif
  return absl::FailedPreconditionError(absl::StrFormat(
      "backend %s is not a rank of a tensor-parallel group", backend.name()));
}

absl::Status JoinTensorParallel(Backend& backend, const std::string& id) {
  if (backend.tp_size() <= 1) return absl::OkStatus();
#if LLM_HAVE_CUDA
  if (auto* cuda = dynamic_cast<CudaBackend*>(&backend)) {
    return cuda->JoinTensorParallel(id);
  }
#endif
  return absl::FailedPreconditionError(absl::StrFormat(
      "backend %s cannot join a tensor-parallel group", backend.name()));
}

}  // namespace llm
