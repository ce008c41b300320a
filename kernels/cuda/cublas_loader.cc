#include "kernels/cuda/cublas_loader.h"

#include <dlfcn.h>

#include <mutex>

namespace llm::cuda {
namespace {

struct Loaded {
  CublasApi api{};
  bool ok = false;
  std::string error;
};

template <typename Fn>
bool Bind(void* lib, const char* name, Fn* fn, std::string* error) {
  *fn = reinterpret_cast<Fn>(dlsym(lib, name));
  if (*fn == nullptr) *error = std::string("libcublas lacks ") + name;
  return *fn != nullptr;
}

Loaded Load() {
  Loaded l;
  void* lib = nullptr;
  for (const char* name : {"libcublas.so.13", "libcublas.so.12", "libcublas.so"}) {
    lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (lib != nullptr) break;
  }
  if (lib == nullptr) {
    const char* e = dlerror();
    l.error = std::string("cannot load libcublas: ") + (e ? e : "unknown error");
    return l;
  }
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
