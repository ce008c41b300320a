#include "worker/backend_factory.h"

#include <cstdio>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "worker/cpu_backend.h"
#include "worker/cuda_backend.h"

namespace llm {

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
  if (choice.backend != "cpu") {
#if LLM_HAVE_CUDA
    CudaBackend::Options options;
    options.device = choice.cuda_device;
    absl::StatusOr<std::unique_ptr<CudaBackend>> cuda = CudaBackend::Create(options);
    if (cuda.ok()) return std::unique_ptr<Backend>(std::move(*cuda));
    std::fprintf(stderr, "backend: %s; using the CPU backend\n",
                 std::string(cuda.status().message()).c_str());
#else
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
