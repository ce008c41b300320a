// File: kernels/cuda/nccl_loader.cc
#include "kernels/cuda/nccl_loader.h"

#if LLM_HAVE_NCCL

#include <dlfcn.h>

namespace llm::cuda {
namespace {

struct Loaded {
  NcclApi api{};
  bool ok = false;
  std::string error;
};

template <typename Fn>
bool Bind(void* lib, const char* name, Fn* fn, std::string* error) {
  *fn = reinterpret_cast<Fn>(dlsym(lib, name));
  if (*fn == nullptr) *error = std::string("libnccl lacks ") + name;
  return *fn != nullptr;
}

Loaded Load() {
  Loaded l;
  void* lib = nullptr;
#ifdef LLM_NCCL_LIBRARY
  lib = dlopen(LLM_NCCL_LIBRARY, RTLD_NOW | RTLD_LOCAL);
#endif
  for (const char* name : {"libnccl.so.2", "libnccl.so"}) {
    if (lib != nullptr) break;
    lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
  }
  if (lib == nullptr) {
    const char* e = dlerror();
    l.error = std::string("cannot load libnccl (tensor parallelism needs NCCL): ") +
              (e ? e : "unknown error");
    return l;
  }
  l.ok = Bind(lib, "ncclGetUniqueId", &l.api.get_unique_id, &l.error) &&
         Bind(lib, "ncclCommInitRank", &l.api.comm_init_rank, &l.error) &&
         Bind(lib, "ncclCommDestroy", &l.api.comm_destroy, &l.error) &&
         Bind(lib, "ncclCommAbort", &l.api.comm_abort, &l.error) &&
         Bind(lib, "ncclAllReduce", &l.api.all_reduce, &l.error) &&
         Bind(lib, "ncclGetErrorString", &l.api.get_error_string, &l.error);
  return l;
}

}  // namespace

const NcclApi* Nccl(std::string* error) {
  static const Loaded* loaded = new Loaded(Load());
  if (!loaded->ok) {
    if (error != nullptr) *error = loaded->error;
    return nullptr;
  }
  return &loaded->api;
}

}  // namespace llm::cuda

#endif  // LLM_HAVE_NCCL
