// examples/python_client/client.py against a real local cluster: the Python
// stubs generated from the same .proto files stream the same greedy tokens as
// the C++ client, and the client's handling of INVALID_ARGUMENT and
// RESOURCE_EXHAUSTED (exit codes 2 and 3, retry with backoff) works.
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/cluster/cluster_harness.h"
#include "tests/cluster/generate_client.h"
#include "tests/tools/run_binary.h"

namespace llm::testing {
namespace {

using ::testing::HasSubstr;

std::string ClientCommand(const std::string& server, const std::string& args) {
  return absl::StrCat("python3 ", LLM_SOURCE_DIR, "/examples/python_client/client.py --server ",
                      server, " ", args);
}

std::string PythonSkipReason() {
  const CommandResult r = RunCommand("python3 -c 'import grpc, grpc_tools'");
  if (r.exit_code != 0) {
    return "python3 cannot import grpc / grpc_tools (scripts/setup.sh installs grpcio and "
           "grpcio-tools): " + r.output;
  }
  return ClusterSkipReason();
}

TEST(PythonClientTest, StreamsTheSameGreedyTokensAsTheCppClient) {
  if (std::string reason = PythonSkipReason(); !reason.empty()) GTEST_SKIP() << reason;
  absl::StatusOr<std::unique_ptr<LocalCluster>> cluster = LocalCluster::Start({});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  const std::string server = (*cluster)->address();

  const CommandResult py = RunCommand(ClientCommand(
      server, "--prompt 'The capital of France is' --max-tokens 12 --temperature 0 --json"));
  ASSERT_EQ(py.exit_code, 0) << py.output;
  // The JSON object is the last line.
  const std::string last = py.output.substr(py.output.rfind('\n', py.output.size() - 2) + 1);
  const nlohmann::json j = nlohmann::json::parse(last, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(j.is_object()) << py.output;

  auto stub = MakeStub(server);
  const GenerateResult cpp = RunGenerate(*stub, TextRequest("The capital of France is", 12));
  ASSERT_TRUE(cpp.status.ok()) << cpp.status.error_message();
  EXPECT_EQ(j["index"], 0);
  EXPECT_EQ(j["token_ids"].get<std::vector<int32_t>>(), cpp.samples.at(0).token_ids);
  EXPECT_EQ(j["text"].get<std::string>(), cpp.samples.at(0).text);
  EXPECT_EQ(j["finish_reason"], cpp.samples.at(0).finish_reason);
  EXPECT_EQ(j["usage"]["completion_tokens"].get<int>(),
            static_cast<int>(cpp.samples.at(0).token_ids.size()));

  // Streaming mode prints the text itself.
  const CommandResult streamed = RunCommand(ClientCommand(
      server, "--prompt 'The capital of France is' --max-tokens 12 --temperature 0"));
  ASSERT_EQ(streamed.exit_code, 0) << streamed.output;
  EXPECT_THAT(streamed.output, HasSubstr(cpp.samples.at(0).text));
}

TEST(PythonClientTest, InvalidArgumentIsReportedAndNotRetried) {
  if (std::string reason = PythonSkipReason(); !reason.empty()) GTEST_SKIP() << reason;
  absl::StatusOr<std::unique_ptr<LocalCluster>> cluster = LocalCluster::Start({});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  const CommandResult r = RunCommand(
      ClientCommand((*cluster)->address(), "--prompt hi --temperature -1 --max-tokens 4"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("INVALID_ARGUMENT: sampling.temperature"));
  EXPECT_THAT(r.output, ::testing::Not(HasSubstr("retrying")));
}

TEST(PythonClientTest, ResourceExhaustedIsRetriedWithBackoff) {
  if (std::string reason = PythonSkipReason(); !reason.empty()) GTEST_SKIP() << reason;
  ClusterOptions o;
  o.scheduler_flags = {"--max-num-seqs", "1", "--max-queue", "1"};
  absl::StatusOr<std::unique_ptr<LocalCluster>> cluster = LocalCluster::Start(o);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  const std::string server = (*cluster)->address();

  // Two long requests fill the one running slot and the one queue place
  // until their 8 s deadline, whatever the machine's speed.
  auto stub = MakeStub(server);
  std::vector<GenerateResult> load(2);
  std::vector<std::thread> threads;
  // One at a time, so the second does not find the first still queued.
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&, i] {
      v1::GenerateRequest req = TextRequest(absl::StrCat("Tell a long story ", i), 4000);
      req.set_ignore_eos(true);
      load[i] = RunGenerate(*stub, req, -1, std::chrono::seconds(8));
    });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline) {
      const v1::ModelInfo info = GetInfo(*stub);
      const bool in = info.worker_groups_size() > 0 &&
                      (i == 0 ? info.worker_groups(0).num_running() >= 1
                              : info.worker_groups(0).num_waiting() >= 1);
      if (in) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  const CommandResult no_retry = RunCommand(
      ClientCommand(server, "--prompt hi --max-tokens 4 --temperature 0 --retries 0"));
  // Retried until the load's deadline frees the queue (backoff grows to
  // 5 s; 12 tries cover well over 8 s).
  const CommandResult retried = RunCommand(
      ClientCommand(server, "--prompt hi --max-tokens 4 --temperature 0 --retries 12 --json"));
  for (std::thread& t : threads) t.join();

  EXPECT_EQ(no_retry.exit_code, 3) << no_retry.output;
  EXPECT_THAT(no_retry.output, HasSubstr("RESOURCE_EXHAUSTED"));
  EXPECT_EQ(retried.exit_code, 0) << retried.output;
  EXPECT_THAT(retried.output, HasSubstr("RESOURCE_EXHAUSTED"));
  EXPECT_THAT(retried.output, HasSubstr("retrying"));
  EXPECT_THAT(retried.output, HasSubstr("\"finish_reason\": \"length\""));
  for (const GenerateResult& r : load) {
    EXPECT_EQ(r.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
        << r.status.error_message();
  }
}

}  // namespace
}  // namespace llm::testing
