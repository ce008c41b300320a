// worker/kv_cache_sizing: the block arithmetic of --kv-cache-fraction and
// the parsing of /proc/meminfo and cgroup files, on given text.
#include "worker/kv_cache_sizing.h"

#include <cmath>
#include <limits>

#include "gtest/gtest.h"
#include "worker/local_worker.h"

namespace llm {
namespace {

constexpr int64_t kMiB = int64_t{1} << 20;
constexpr int64_t kGiB = int64_t{1} << 30;

TEST(KvBlocksForFractionTest, TakesTheFractionAndRoundsDownToWholeBlocks) {
  // SmolLM2-135M: 30 layers x 16 tokens x 3 kv heads x 64 dim x fp16 x K,V.
  const int64_t per_block = int64_t{2} * 30 * 16 * 3 * 64 * 2;  // 368640
  absl::StatusOr<int64_t> blocks = KvBlocksForFraction(10 * kGiB, 0.5, per_block);
  ASSERT_TRUE(blocks.ok()) << blocks.status();
  EXPECT_EQ(*blocks, 5 * kGiB / per_block);  // 14563, remainder dropped
  EXPECT_EQ(*KvBlocksForFraction(1000, 1.0, 100), 10);
  EXPECT_EQ(*KvBlocksForFraction(1099, 1.0, 100), 10);
  EXPECT_EQ(*KvBlocksForFraction(1000, 0.25, 100), 2);  // 250 bytes: 2 blocks
}

TEST(KvBlocksForFractionTest, FullFractionOfAHugeBudgetIsExact) {
  // 1 TiB in 256 MiB blocks: no rounding loses a block.
  EXPECT_EQ(*KvBlocksForFraction(int64_t{1} << 40, 1.0, int64_t{1} << 28), 4096);
}

TEST(KvBlocksForFractionTest, BlockCountIsCapped) {
  EXPECT_EQ(*KvBlocksForFraction(std::numeric_limits<int64_t>::max(), 1.0, 16), kMaxKvBlocks);
}

TEST(KvBlocksForFractionTest, LessThanOneBlockIsResourceExhaustedNamingTheNumbers) {
  absl::StatusOr<int64_t> blocks = KvBlocksForFraction(1000, 0.05, 100);  // 50 bytes
  ASSERT_EQ(blocks.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(blocks.status().message().find("50 bytes"), absl::string_view::npos) << blocks.status();
  EXPECT_NE(blocks.status().message().find("100 bytes"), absl::string_view::npos);
  EXPECT_EQ(KvBlocksForFraction(0, 1.0, 100).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(KvBlocksForFraction(-5, 1.0, 100).status().code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(KvBlocksForFractionTest, FractionOutsideZeroToOneIsInvalidArgument) {
  for (double f : {0.0, -0.1, 1.01, std::nan("")}) {
    absl::StatusOr<int64_t> blocks = KvBlocksForFraction(kGiB, f, 100);
    EXPECT_EQ(blocks.status().code(), absl::StatusCode::kInvalidArgument) << f;
    EXPECT_NE(blocks.status().message().find("--kv-cache-fraction"), absl::string_view::npos);
  }
  EXPECT_EQ(KvBlocksForFraction(kGiB, 0.5, 0).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ParseMemAvailableTest, ReadsKibibytesAsBytes) {
  const char *meminfo =
      "MemTotal:       32809784 kB\n"
      "MemFree:         1234567 kB\n"
      "MemAvailable:   22073704 kB\n"
      "Buffers:          123456 kB\n";
  EXPECT_EQ(ParseMemAvailable(meminfo), int64_t{22073704} * 1024);
}

TEST(ParseMemAvailableTest, MissingOrMalformedIsNullopt) {
  EXPECT_EQ(ParseMemAvailable("MemTotal: 100 kB\nMemFree: 50 kB\n"), std::nullopt);
  EXPECT_EQ(ParseMemAvailable("MemAvailable: lots kB\n"), std::nullopt);
  EXPECT_EQ(ParseMemAvailable("MemAvailable: 100 MB\n"), std::nullopt);
  EXPECT_EQ(ParseMemAvailable(""), std::nullopt);
}

TEST(CgroupRoomTest, IsLimitMinusUsage) {
  EXPECT_EQ(CgroupRoom("4294967296\n", "1073741824\n"), 3 * kGiB);
  // Usage above the limit (page cache not yet reclaimed) leaves no room.
  EXPECT_EQ(CgroupRoom("1048576\n", "2097152\n"), 0);
}

TEST(CgroupRoomTest, NoLimitIsNullopt) {
  EXPECT_EQ(CgroupRoom("max\n", "1073741824\n"), std::nullopt);  // v2
  EXPECT_EQ(CgroupRoom("9223372036854771712\n", "290959360\n"),
            std::nullopt);  // v1
  EXPECT_EQ(CgroupRoom("", "1\n"), std::nullopt);
  EXPECT_EQ(CgroupRoom("100\n", "x\n"), std::nullopt);
}

TEST(ParseCgroupPathTest, FindsTheV2AndV1MemoryPaths) {
  const char *hybrid =
      "9:name=systemd:/\n"
      "4:memory:/process_api/3cf0\n"
      "3:cpu,cpuacct:/x\n"
      "0::/\n";
  EXPECT_EQ(ParseCgroupPath(hybrid, ""), "/");
  EXPECT_EQ(ParseCgroupPath(hybrid, "memory"), "/process_api/3cf0");
  EXPECT_EQ(ParseCgroupPath(hybrid, "cpuacct"), "/x");
  EXPECT_EQ(ParseCgroupPath("0::/kubepods.slice/pod1/ctr:a\n", ""), "/kubepods.slice/pod1/ctr:a");
  EXPECT_EQ(ParseCgroupPath("0::/kubepods/pod1\n", "memory"), std::nullopt);
  EXPECT_EQ(ParseCgroupPath("4:memory:/a\n", ""), std::nullopt);
}

TEST(HostMemoryTest, AvailableIsTheSmallerKnownValue) {
  EXPECT_EQ((HostMemory{8 * kGiB, 2 * kGiB}.available()), 2 * kGiB);
  EXPECT_EQ((HostMemory{kGiB, 2 * kGiB}.available()), kGiB);
  EXPECT_EQ((HostMemory{kGiB, -1}.available()), kGiB);
  EXPECT_EQ((HostMemory{-1, 3 * kMiB}.available()), 3 * kMiB);
  EXPECT_EQ((HostMemory{-1, -1}.available()), -1);
}

TEST(HostMemoryTest, ThisHostReportsSomeMemory) {
  const HostMemory m = HostAvailableMemory();
  EXPECT_GT(m.available(), 0);
  EXPECT_GT(m.mem_available, 0);  // every Linux >= 3.14
}

TEST(WorkerOptionsTest, FractionIsValidatedAndExclusiveWithBytes) {
  WorkerOptions o;
  o.model_path = "m.gguf";
  o.kv_cache_fraction = 0.3;
  EXPECT_TRUE(o.Validate().ok()) << o.Validate();
  o.kv_cache_bytes = kGiB;
  EXPECT_EQ(o.Validate().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(o.Validate().message().find("mutually exclusive"), absl::string_view::npos);
  o.kv_cache_bytes = 0;
  o.kv_cache_fraction = 1.5;
  EXPECT_NE(o.Validate().message().find("--kv-cache-fraction must be in (0, 1]"),
            absl::string_view::npos)
      << o.Validate();
}

}  // namespace
}  // namespace llm
