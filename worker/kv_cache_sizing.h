// File: worker/kv_cache_sizing.h
//
// Sizing the paged KV pool from a fraction of the memory still available
// once the model is loaded (`llm-worker --kv-cache-fraction F`), as vLLM's
// gpu_memory_utilization does for a GPU:
//
//   blocks = floor(F * available_bytes / bytes_per_block)
//
// "Available" is, on the CPU, /proc/meminfo's MemAvailable, lowered to the
// room left under the process's cgroup memory limit when one is set
// (cgroup v2 memory.max - memory.current; v1 limit_in_bytes - usage_in_bytes)
// because a pod's limit, not the node's free memory, is what the OOM killer
// enforces. On CUDA it is cudaMemGetInfo's free device memory.
//
// The parsers take file contents as text so that tests need no /proc or
// cgroup; only HostAvailableMemory() and AvailableMemoryForKv() read the
// system.
//
// Thread safety: all functions are thread-safe (no shared state).
#ifndef LLM_WORKER_KV_CACHE_SIZING_H_
#define LLM_WORKER_KV_CACHE_SIZING_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "worker/backend.h"

namespace llm {

// Upper bound on the pool's block count (block ids are int32 on the wire;
// 2^24 blocks of 16 tokens is far beyond any context we serve).
inline constexpr int64_t kMaxKvBlocks = int64_t{1} << 24;

// floor(fraction * available_bytes / bytes_per_block), capped at
// kMaxKvBlocks. InvalidArgument when fraction is outside (0, 1] or
// bytes_per_block <= 0; ResourceExhausted (naming the numbers) when the
// share is smaller than one block.
absl::StatusOr<int64_t> KvBlocksForFraction(int64_t available_bytes, double fraction,
                                            int64_t bytes_per_block);

// MemAvailable of /proc/meminfo text, in bytes; nullopt when absent or
// malformed (kernels before 3.14 lack it).
std::optional<int64_t> ParseMemAvailable(std::string_view meminfo);

// Room left under a cgroup limit: `limit` - `usage`, floored at 0. `limit`
// is the text of cgroup v2 memory.max (or v1 memory.limit_in_bytes), `usage`
// of memory.current (v1 memory.usage_in_bytes). nullopt when there is no
// limit: v2's "max", v1's huge "unlimited" value (>= 2^62), or malformed text.
std::optional<int64_t> CgroupRoom(std::string_view limit, std::string_view usage);

// This process's cgroup path from /proc/self/cgroup text, e.g.
// "/kubepods/pod1/ctr": for `controller` "" the cgroup v2 line ("0::/path"),
// else the v1 line whose controller list holds it ("4:memory:/path").
// nullopt when there is no such line.
std::optional<std::string> ParseCgroupPath(std::string_view proc_self_cgroup,
                                           std::string_view controller);

// Where the host's available bytes came from, for the start-up log.
struct HostMemory {
  int64_t mem_available = -1;  // /proc/meminfo MemAvailable; -1: unknown
  int64_t cgroup_room = -1;    // room under the cgroup limit; -1: no limit
  // min of the two known values; -1 when neither is known.
  int64_t available() const;
};

// Reads /proc/meminfo and this process's cgroup (v2, else v1) limit.
HostMemory HostAvailableMemory();

// Bytes available for the KV pool on `backend` right now: free device
// memory on CUDA, HostAvailableMemory().available() on the CPU.
// FailedPrecondition when it cannot be determined.
absl::StatusOr<int64_t> AvailableMemoryForKv(const Backend &backend);

}  // namespace llm

#endif  // LLM_WORKER_KV_CACHE_SIZING_H_
