// `llm-worker --kv-cache-fraction F` as a real process: the pool is F times
// the memory available after the model is loaded (the start-up log names
// that figure), Describe reports the same pool, and the flag is exclusive
// with --kv-cache-bytes and checked for range before the model loads.
#include <cmath>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "llm/worker/v1/worker.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "tests/cluster/cluster_harness.h"
#include "tests/tools/run_binary.h"
#include "worker/kv_cache_sizing.h"

namespace llm::testing {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
namespace pb = ::llm::worker::v1;

// SmolLM2-135M: 30 layers x 16 tokens x 3 kv heads x 64 dims x 2 B x (K, V).
constexpr int64_t kBytesPerBlock = int64_t{30} * 16 * 3 * 64 * 2 * 2;

// The JSON object of the "llm-worker ready" log line; empty when absent.
nlohmann::json ReadyLine(const std::string &log) {
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    if (line.find("\"llm-worker ready\"") == std::string::npos) continue;
    return nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  }
  return {};
}

TEST(WorkerKvFractionTest, PoolIsTheFractionOfAvailableMemoryInLogAndDescribe) {
  if (std::string reason = ClusterSkipReason(); !reason.empty()) GTEST_SKIP() << reason;
  const std::string address = absl::StrCat("127.0.0.1:", PickFreePort());
  char dir[] = "/tmp/llm-kv-fraction-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string log = std::string(dir) + "/worker.log";
  absl::StatusOr<std::unique_ptr<ChildProcess>> worker = ChildProcess::Start(
      {BinPath("llm-worker"), "--model", ModelPath(), "--listen", address, "--metrics-listen",
       absl::StrCat("127.0.0.1:", PickFreePort()), "--threads", "1", "--kv-cache-fraction", "0.01"},
      log);
  ASSERT_TRUE(worker.ok()) << worker.status();
  ASSERT_TRUE(WaitServing(address, **worker, std::chrono::seconds(60)).ok()) << Tail(log);
  const int64_t available_now = HostAvailableMemory().available();

  auto stub = pb::Worker::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  pb::DescribeResponse d;
  ASSERT_TRUE(stub->Describe(&ctx, pb::DescribeRequest(), &d).ok());

  const nlohmann::json ready = ReadyLine(ReadFile(log));
  ASSERT_TRUE(ready.is_object()) << Tail(log);
  const int64_t available = ready["kv_available_bytes"].get<int64_t>();
  // Exactly floor(0.01 * available / bytes per block), as logged and described.
  EXPECT_EQ(d.num_kv_blocks(), static_cast<int64_t>(std::floor(static_cast<long double>(available) *
                                                               static_cast<long double>(0.01)) /
                                                    kBytesPerBlock));
  EXPECT_EQ(ready["kv_blocks"].get<int64_t>(), d.num_kv_blocks());
  EXPECT_EQ(ready["kv_cache_fraction"].get<double>(), 0.01);
  EXPECT_EQ(d.kv_cache_bytes(), int64_t{d.num_kv_blocks()} * kBytesPerBlock);
  EXPECT_EQ(ready["kv_cache_bytes"].get<int64_t>(), d.kv_cache_bytes());
  // Plausible: what the worker saw is what this host has now, give or take
  // what the other processes of a busy machine took or freed meanwhile.
  EXPECT_GT(available, available_now / 2);
  EXPECT_LT(available, available_now * 2);
  EXPECT_GE(d.num_kv_blocks(), 1);
}

TEST(WorkerKvFractionTest, FractionAndBytesTogetherAreRejected) {
  if (std::string reason = ClusterSkipReason(); !reason.empty()) GTEST_SKIP() << reason;
  const CommandResult r = RunCommand(absl::StrCat(
      BinPath("llm-worker"), " --model ", ModelPath(), " --listen 127.0.0.1:", PickFreePort(),
      " --metrics-listen 127.0.0.1:", PickFreePort(),
      " --kv-cache-bytes 100000000 --kv-cache-fraction 0.1"));
  EXPECT_NE(r.exit_code, 0) << r.output;
  // CLI11 names them in command-line order: "--kv-cache-bytes excludes ...".
  EXPECT_THAT(r.output, AllOf(HasSubstr("excludes"), HasSubstr("--kv-cache-fraction"),
                              HasSubstr("--kv-cache-bytes")));
}

TEST(WorkerKvFractionTest, FractionOutsideZeroToOneIsRejectedWithItsRange) {
  if (std::string reason = ClusterSkipReason(); !reason.empty()) GTEST_SKIP() << reason;
  const CommandResult r = RunCommand(absl::StrCat(
      BinPath("llm-worker"), " --model ", ModelPath(), " --listen 127.0.0.1:", PickFreePort(),
      " --metrics-listen 127.0.0.1:", PickFreePort(), " --kv-cache-fraction 1.5"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("--kv-cache-fraction must be in (0, 1], got 1.5"));
}

}  // namespace
}  // namespace llm::testing
