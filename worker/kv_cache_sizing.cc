#include "worker/kv_cache_sizing.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "worker/cuda_backend.h"

namespace llm {
namespace {

// cgroup v1 reports "no limit" as a page-rounded LONG_MAX
// (9223372036854771712).
constexpr int64_t kCgroupUnlimited = int64_t{1} << 62;

std::optional<int64_t> ParseBytes(std::string_view text) {
  int64_t v = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(absl::string_view(text.data(), text.size())),
                        &v) ||
      v < 0) {
    return std::nullopt;
  }
  return v;
}

// The file's contents, or nullopt when it cannot be opened.
std::optional<std::string> ReadSmallFile(const std::string &path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Room under the limit of cgroup directory `dir` given the two file names.
std::optional<int64_t> RoomIn(const std::string &dir, const std::string &limit_file,
                              const std::string &usage_file) {
  std::optional<std::string> limit = ReadSmallFile(dir + "/" + limit_file);
  std::optional<std::string> usage = ReadSmallFile(dir + "/" + usage_file);
  if (!limit || !usage) return std::nullopt;
  return CgroupRoom(*limit, *usage);
}

}  // namespace

absl::StatusOr<int64_t> KvBlocksForFraction(int64_t available_bytes, double fraction,
                                            int64_t bytes_per_block) {
  if (!(fraction > 0.0 && fraction <= 1.0)) {  // also rejects NaN
    return absl::InvalidArgumentError(
        absl::StrFormat("--kv-cache-fraction must be in (0, 1], got %g", fraction));
  }
  if (bytes_per_block <= 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("bytes per KV block must be > 0, got %d", bytes_per_block));
  }
  // long double: exact for any int64 byte count we will meet, so that F = 1
  // gives exactly available / bytes_per_block.
  const long double share =
      std::floor(static_cast<long double>(std::max<int64_t>(available_bytes, 0)) *
                 static_cast<long double>(fraction));
  const int64_t blocks = static_cast<int64_t>(share / static_cast<long double>(bytes_per_block));
  if (blocks < 1) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("--kv-cache-fraction %g of %d available bytes is %d bytes, smaller "
                        "than one KV block (%d bytes)",
                        fraction, available_bytes, static_cast<int64_t>(share), bytes_per_block));
  }
  return std::min(blocks, kMaxKvBlocks);
}

std::optional<int64_t> ParseMemAvailable(std::string_view meminfo) {
  for (absl::string_view line :
       absl::StrSplit(absl::string_view(meminfo.data(), meminfo.size()), '\n')) {
    if (!absl::ConsumePrefix(&line, "MemAvailable:")) continue;
    line = absl::StripAsciiWhitespace(line);
    // The kernel always writes "kB" (meaning KiB).
    if (!absl::ConsumeSuffix(&line, "kB")) return std::nullopt;
    int64_t kib = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(line), &kib) || kib < 0) {
      return std::nullopt;
    }
    return kib * 1024;
  }
  return std::nullopt;
}

std::optional<int64_t> CgroupRoom(std::string_view limit, std::string_view usage) {
  std::optional<int64_t> l = ParseBytes(limit);  // "max" fails to parse: no limit
  std::optional<int64_t> u = ParseBytes(usage);
  if (!l || !u || *l >= kCgroupUnlimited) return std::nullopt;
  return std::max<int64_t>(*l - *u, 0);
}

std::optional<std::string> ParseCgroupPath(std::string_view proc_self_cgroup,
                                           std::string_view controller) {
  for (absl::string_view line :
       absl::StrSplit(absl::string_view(proc_self_cgroup.data(), proc_self_cgroup.size()), '\n')) {
    // hierarchy-id:controller-list:path; the path may itself hold ':'.
    std::vector<absl::string_view> parts = absl::StrSplit(line, absl::MaxSplits(':', 2));
    if (parts.size() != 3) continue;
    const bool match =
        controller.empty()
            ? parts[0] == "0" && parts[1].empty()
            : absl::c_linear_search(absl::StrSplit(parts[1], ','),
                                    absl::string_view(controller.data(), controller.size()));
    if (match) return std::string(absl::StripAsciiWhitespace(parts[2]));
  }
  return std::nullopt;
}

int64_t HostMemory::available() const {
  if (mem_available < 0) return cgroup_room;
  if (cgroup_room < 0) return mem_available;
  return std::min(mem_available, cgroup_room);
}

HostMemory HostAvailableMemory() {
  HostMemory m;
  if (std::optional<std::string> meminfo = ReadSmallFile("/proc/meminfo")) {
    m.mem_available = ParseMemAvailable(*meminfo).value_or(-1);
  }
  // Our own cgroup's directory first (inside a container's cgroup namespace
  // the path is "/", the mount root), then the mount root. A parent's
  // limit also binds, but a pod's limit is set on the container's cgroup.
  const std::string self = ReadSmallFile("/proc/self/cgroup").value_or("");
  std::optional<int64_t> room;
  for (const auto& [mount, controller, limit_file, usage_file] :
       {std::tuple{"/sys/fs/cgroup", "", "memory.max", "memory.current"},
        std::tuple{"/sys/fs/cgroup/memory", "memory", "memory.limit_in_bytes",
                   "memory.usage_in_bytes"}}) {
    if (std::optional<std::string> path = ParseCgroupPath(self, controller); path && *path != "/") {
      room = RoomIn(mount + *path, limit_file, usage_file);
    }
    if (!room) room = RoomIn(mount, limit_file, usage_file);
    if (room) break;
  }
  m.cgroup_room = room.value_or(-1);
  return m;
}

absl::StatusOr<int64_t> AvailableMemoryForKv(const Backend &backend) {
#if LLM_HAVE_CUDA
  if (const auto *cuda = dynamic_cast<const CudaBackend *>(&backend)) {
    const int64_t free_bytes = cuda->FreeDeviceBytes();
    if (free_bytes <= 0) {
      return absl::FailedPreconditionError(
          "--kv-cache-fraction: cudaMemGetInfo reported no free device memory");
    }
    return free_bytes;
  }
#else
  (void)backend;
#endif
  const int64_t available = HostAvailableMemory().available();
  if (available < 0) {
    return absl::FailedPreconditionError(
        "--kv-cache-fraction: neither /proc/meminfo MemAvailable nor a cgroup "
        "memory limit "
        "is readable; give --kv-cache-bytes instead");
  }
  return available;
}

}  // namespace llm
