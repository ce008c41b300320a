// File: kernels/cuda/nccl_loader.cc
#include "kernels/cuda/nccl_loader.h"

#if LLM_HAVE_NCCL

#include "kernels/cuda/shared_library.h"

namespace llm::cuda {
namespace {

struct Loaded {
  NcclApi api{};
  bool ok = false;
  std::string error;
};

template <typename Fn>
bool Bind(void* lib, const char* name, Fn* fn, std::string* error) {
  return BindSymbol(lib, "libnccl", name, fn, error);
}

Loaded Load() {
  Loaded l;
  void* lib = OpenFirstLibrary({
#ifdef LLM_NCCL_LIBRARY
                                   LLM_NCCL_LIBRARY,
#endif
                                   "libnccl.so.2", "libnccl.so"},
                               "libnccl (tensor parallelism needs NCCL)", &l.error);
  if (lib == nullptr) return l;
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
