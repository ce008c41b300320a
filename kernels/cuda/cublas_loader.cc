#include "kernels/cuda/cublas_loader.h"

#include <mutex>

#include "kernels/cuda/shared_library.h"

namespace llm::cuda {
namespace {

struct Loaded {
  CublasApi api{};
  bool ok = false;
  std::string error;
};

template <typename Fn>
bool Bind(void* lib, const char* name, Fn* fn, std::string* error) {
  return BindSymbol(lib, "libcublas", name, fn, error);
}

Loaded Load() {
  Loaded l;
  void* lib = OpenFirstLibrary({"libcublas.so.13", "libcublas.so.12", "libcublas.so"},
                               "libcublas", &l.error);
  if (lib == nullptr) return l;
  l.ok = Bind(lib, "cublasCreate_v2", &l.api.create, &l.error) &&
         Bind(lib, "cublasDestroy_v2", &l.api.destroy, &l.error) &&
         Bind(lib, "cublasSetStream_v2", &l.api.set_stream, &l.error) &&
         Bind(lib, "cublasGemmEx", &l.api.gemm_ex, &l.error);
  return l;
}

}  // namespace

const CublasApi* Cublas(std::string* error) {
  static const Loaded* loaded = new Loaded(Load());
  if (!loaded->ok) {
    if (error != nullptr) *error = loaded->error;
    return nullptr;
  }
  return &loaded->api;
}

}  // namespace llm::cuda
