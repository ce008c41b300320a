// File: kernels/cuda/shared_library.h
//
// The dlopen/dlsym steps the run-time loaders of CUDA libraries share
// (cublas_loader.cc, nccl_loader.cc): those libraries are opened on first
// use rather than linked, so CPU-only machines run CUDA builds.
//
// Thread safety: the functions are thread-safe (dlopen/dlsym are).
#ifndef LLM_KERNELS_CUDA_SHARED_LIBRARY_H_
#define LLM_KERNELS_CUDA_SHARED_LIBRARY_H_

#include <dlfcn.h>

#include <initializer_list>
#include <string>

namespace llm::cuda {

// The first of `names` that dlopen accepts, or null with `error` set to
// "cannot load <what>: <dlerror>".
inline void* OpenFirstLibrary(std::initializer_list<const char*> names, const char* what,
                              std::string* error) {
  for (const char* name : names) {
    if (void* lib = dlopen(name, RTLD_NOW | RTLD_LOCAL)) return lib;
  }
  const char* e = dlerror();
  *error = std::string("cannot load ") + what + ": " + (e ? e : "unknown error");
  return nullptr;
}

// Looks `symbol` up in `lib` into *fn; false with `error` set to
// "<library> lacks <symbol>" when absent.
template <typename Fn>
bool BindSymbol(void* lib, const char* library, const char* symbol, Fn* fn,
                std::string* error) {
  *fn = reinterpret_cast<Fn>(dlsym(lib, symbol));
  if (*fn == nullptr) *error = std::string(library) + " lacks " + symbol;
  return *fn != nullptr;
}

}  // namespace llm::cuda

#endif  // LLM_KERNELS_CUDA_SHARED_LIBRARY_H_
