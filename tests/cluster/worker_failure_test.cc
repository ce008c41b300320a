// Worker failures with real processes on loopback: a worker killed (-9) or
// hung (SIGSTOP) under load. No client hangs; every request either completes
// correctly or fails with UNAVAILABLE naming the worker; KV blocks in use go
// back to zero; health stays SERVING while one group is alive; and the
// scheduler takes the worker back once it answers again.
#include <signal.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/cluster/cluster_harness.h"
#include "tests/cluster/generate_client.h"

namespace llm::testing {
namespace {

using ::testing::HasSubstr;

v1::GenerateRequest Greedy(const std::string& prompt, int max_tokens) {
  v1::GenerateRequest r;
  r.set_text(prompt);
  r.set_max_tokens(max_tokens);
  r.set_ignore_eos(true);
  r.mutable_sampling()->set_temperature(0);
  return r;
}

// Polls GetModelInfo until `pred` holds (at most `timeout`).
template <typename Pred>
bool WaitForGroups(v1::Inference::Stub& stub, Pred pred,
                   std::chrono::seconds timeout = std::chrono::seconds(60)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred(GetInfo(stub))) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

bool NoBlocksInUse(const v1::ModelInfo& info) { return info.num_kv_blocks_used() == 0; }

ClusterOptions TwoWorkers(const std::string& step_timeout) {
  ClusterOptions o;
  o.num_workers = 2;
  o.kv_cache_bytes = 32 << 20;
  o.scheduler_flags = {"--step-timeout", step_timeout, "--max-num-seqs", "16"};
  return o;
}

TEST(WorkerFailureTest, KilledWorkerUnderLoadLosesNoRequestAndTheSchedulerTakesItBack) {
  if (std::string reason = ClusterSkipReason(); !reason.empty()) GTEST_SKIP() << reason;
  absl::StatusOr<std::unique_ptr<LocalCluster>> cluster =
      LocalCluster::Start(TwoWorkers("20"));
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  LocalCluster& c = **cluster;
  auto stub = MakeStub(c.address());

  // Reference outputs, one at a time before anything fails.
  constexpr int kClients = 12;
  constexpr int kTokens = 40;
  std::vector<v1::GenerateRequest> requests;
  std::vector<std::vector<int32_t>> expected;
  for (int i = 0; i < kClients; ++i) {
    requests.push_back(Greedy(absl::StrCat("Request ", i, ": tell me about the number ", i * 7),
                              kTokens));
  }
  for (int i = 0; i < 2; ++i) {
    GenerateResult ref = RunGenerate(*stub, requests[i]);
    ASSERT_TRUE(ref.status.ok()) << ref.status.error_message();
    expected.push_back(ref.samples[0].token_ids);
  }

  std::vector<GenerateResult> results(kClients);
  std::vector<std::thread> clients;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      auto own = MakeStub(c.address());
      results[i] = RunGenerate(*own, requests[i], -1, std::chrono::seconds(180));
    });
  }
  // Both groups busy, then worker 0 dies.
  ASSERT_TRUE(WaitForGroups(*stub, [](const v1::ModelInfo& info) {
    return info.worker_groups_size() == 2 && info.worker_groups(0).num_running() > 0 &&
           info.worker_groups(1).num_running() > 0;
  })) << c.SchedulerLog();
  kill(c.worker(0).pid(), SIGKILL);
  for (std::thread& t : clients) t.join();
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(elapsed, 170) << "a client waited for its deadline";

  int ok = 0, unavailable = 0;
  for (int i = 0; i < kClients; ++i) {
    const GenerateResult& r = results[i];
    if (r.status.ok()) {
      ++ok;
      EXPECT_EQ(r.samples.at(0).token_ids.size(), static_cast<size_t>(kTokens)) << i;
      if (i < 2) EXPECT_EQ(r.samples.at(0).token_ids, expected[i]) << i;
    } else {
      ++unavailable;
      EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNAVAILABLE)
          << i << ": " << r.status.error_message();
      EXPECT_THAT(r.status.error_message(), HasSubstr(c.worker_addresses()[0])) << i;
    }
  }
  EXPECT_EQ(ok + unavailable, kClients);
  EXPECT_GT(ok, 0);

  // Group 0 is down, group 1 serves; nothing holds blocks.
  ASSERT_TRUE(WaitForGroups(*stub, [](const v1::ModelInfo& info) {
    return !info.worker_groups(0).available() && info.worker_groups(1).available() &&
           NoBlocksInUse(info);
  })) << GetInfo(*stub).DebugString();
  EXPECT_GE(GetInfo(*stub).worker_groups(0).worker_failures(), 1);
  EXPECT_TRUE(IsServing(c.address()));
  const std::string metrics = HttpGet(c.metrics_port());
  EXPECT_EQ(MetricValue(metrics, "llm_worker_groups").value_or(-1), 2) << metrics;
  EXPECT_EQ(MetricValue(metrics, "llm_worker_groups_available").value_or(-1), 1) << metrics;
  EXPECT_GE(MetricValue(metrics, "llm_worker_failures_total").value_or(-1), 1) << metrics;
  EXPECT_EQ(MetricValue(metrics, "llm_kv_cache_blocks_used").value_or(-1), 0) << metrics;
  for (int i = 0; i < 3; ++i) {
    GenerateResult r = RunGenerate(*stub, requests[i % 2]);
    ASSERT_TRUE(r.status.ok()) << r.status.error_message();
    EXPECT_EQ(r.samples[0].token_ids, expected[i % 2]);
  }

  // The worker comes back on the same address: the scheduler reconnects
  // and sends it work again.
  ASSERT_TRUE(c.RestartWorker(0, std::chrono::seconds(120)).ok());
  ASSERT_TRUE(WaitForGroups(*stub, [](const v1::ModelInfo& info) {
    return info.worker_groups(0).available();
  })) << c.SchedulerLog();
  const std::string steps_metric = "llm_worker_steps_total";
  for (int i = 0; i < 6; ++i) {
    GenerateResult r = RunGenerate(*stub, requests[i]);
    ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  }
  EXPECT_GT(MetricValue(HttpGet(c.worker_metrics_ports()[0]), steps_metric).value_or(0), 0)
      << "the restarted worker got no step";
  EXPECT_TRUE(WaitForGroups(*stub, NoBlocksInUse));
  EXPECT_THAT(ReadFile(c.log_dir() + "/scheduler.log"), HasSubstr("worker group unavailable"));
}

TEST(WorkerFailureTest, HungWorkerIsDetectedByTheStepTimeoutAndItsRequestMovesOn) {
  if (std::string reason = ClusterSkipReason(); !reason.empty()) GTEST_SKIP() << reason;
  absl::StatusOr<std::unique_ptr<LocalCluster>> cluster =
      LocalCluster::Start(TwoWorkers("3"));
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  LocalCluster& c = **cluster;
  auto stub = MakeStub(c.address());

  kill(c.worker(0).pid(), SIGSTOP);
  // Both groups are idle, so the first request goes to group 0 and hangs
  // there until the step timeout; nothing was streamed yet, so it is sent
  // to group 1 and the client sees a normal answer.
  std::vector<GenerateResult> results(2);
  std::vector<std::thread> clients;
  for (int i = 0; i < 2; ++i) {
    clients.emplace_back([&, i] {
      auto own = MakeStub(c.address());
      results[i] = RunGenerate(*own, Greedy(absl::StrCat("Count to ", i + 5), 8), -1,
                               std::chrono::seconds(120));
    });
  }
  for (std::thread& t : clients) t.join();
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(results[i].status.ok()) << i << ": " << results[i].status.error_message();
    EXPECT_EQ(results[i].samples[0].token_ids.size(), 8u);
  }
  const v1::ModelInfo info = GetInfo(*stub);
  EXPECT_FALSE(info.worker_groups(0).available());
  EXPECT_GE(info.worker_groups(0).worker_failures(), 1);
  EXPECT_THAT(ReadFile(c.log_dir() + "/scheduler.log"), HasSubstr("step timeout"));
  EXPECT_TRUE(IsServing(c.address()));

  kill(c.worker(0).pid(), SIGCONT);
  EXPECT_TRUE(WaitForGroups(*stub, [](const v1::ModelInfo& info) {
    return info.worker_groups(0).available() && NoBlocksInUse(info);
  })) << c.SchedulerLog();
}

TEST(WorkerFailureTest, SchedulerWithNoLiveWorkerIsNotServingAndAnswersUnavailable) {
  if (std::string reason = ClusterSkipReason(); !reason.empty()) GTEST_SKIP() << reason;
  ClusterOptions o;
  o.num_workers = 1;
  o.kv_cache_bytes = 16 << 20;
  absl::StatusOr<std::unique_ptr<LocalCluster>> cluster = LocalCluster::Start(o);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  LocalCluster& c = **cluster;
  auto stub = MakeStub(c.address());
  kill(c.worker(0).pid(), SIGKILL);
  // The next step finds the worker gone.
  GenerateResult r = RunGenerate(*stub, Greedy("Hello", 4));
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNAVAILABLE) << r.status.error_message();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (IsServing(c.address()) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_FALSE(IsServing(c.address()));
  EXPECT_TRUE(c.scheduler().Running());
  ASSERT_TRUE(c.RestartWorker(0, std::chrono::seconds(120)).ok());
  const auto back = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!IsServing(c.address()) && std::chrono::steady_clock::now() < back) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(IsServing(c.address())) << c.SchedulerLog();
  r = RunGenerate(*stub, Greedy("Hello", 4));
  EXPECT_TRUE(r.status.ok()) << r.status.error_message();
}

}  // namespace
}  // namespace llm::testing
