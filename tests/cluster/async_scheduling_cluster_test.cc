// llm-scheduler --async-scheduling=true against a real llm-worker: each
// step is written on the Execute stream while the worker still runs the
// previous one. Greedy results of concurrent clients and seeded parallel
// samples must equal the offline llm-generate ones (which schedules
// synchronously, in process), every KV block must come back, and the flag
// must refuse to be combined with speculative decoding.
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/cluster/cluster_harness.h"
#include "tests/cluster/generate_client.h"

namespace llm::testing {
namespace {

std::vector<nlohmann::json> ReadJsonLines(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line[0] == '{') out.push_back(nlohmann::json::parse(line));
  }
  return out;
}

std::string Prompt(int i) {
  static const char* kSentences[] = {
      "The river runs through the old town and past the mill.",
      "Numbers such as 17, 256 and 4096 appear in computing.",
      "Every good experiment starts with a clear question.",
  };
  std::string p = absl::StrCat("Note ", i, ":");
  for (int k = 0; k < (i * 3) % 7; ++k) p += absl::StrCat(" ", kSentences[(i + k) % 3]);
  return p;
}

TEST(AsyncSchedulingClusterTest, ResultsEqualOfflineGenerationAndBlocksReturn) {
  const std::string skip = ClusterSkipReason();
  if (!skip.empty()) GTEST_SKIP() << skip;
  if (!FileExists(BinPath("llm-generate"))) GTEST_SKIP() << "llm-generate not built";
  ClusterOptions o;
  o.scheduler_flags = {"--async-scheduling=true"};
  absl::StatusOr<std::unique_ptr<LocalCluster>> cluster = LocalCluster::Start(o);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  LocalCluster& c = **cluster;
  EXPECT_NE(ReadFile(c.log_dir() + "/scheduler.log").find("\"async_scheduling\":true"),
            std::string::npos)
      << c.SchedulerLog();
  auto stub = MakeStub(c.address());

  // Greedy, 16 concurrent clients; max_tokens 3..24 (some stop on EOS).
  constexpr int kClients = 16;
  constexpr int kMaxTokens = 24;
  const std::string prompts_file = c.log_dir() + "/prompts.txt";
  {
    std::ofstream out(prompts_file);
    for (int i = 0; i < kClients; ++i) out << Prompt(i) << "\n";
  }
  const std::string offline_file = c.log_dir() + "/offline.jsonl";
  const std::string cmd = absl::StrCat(
      BinPath("llm-generate"), " --model ", ModelPath(), " --threads 1 --temperature 0",
      " --max-tokens ", kMaxTokens, " --json --prompts-file ", prompts_file, " > ",
      offline_file, " 2>/dev/null");
  ASSERT_EQ(std::system(cmd.c_str()), 0) << ReadFile(offline_file);
  const std::vector<nlohmann::json> offline = ReadJsonLines(offline_file);
  ASSERT_EQ(offline.size(), static_cast<size_t>(kClients));

  std::vector<GenerateResult> results(kClients);
  std::vector<int> max_tokens(kClients);
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    max_tokens[i] = 3 + (i * 5) % (kMaxTokens - 2);
    threads.emplace_back([&, i] {
      results[i] = RunGenerate(*stub, TextRequest(Prompt(i), max_tokens[i]));
    });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < kClients; ++i) {
    SCOPED_TRACE(absl::StrCat("client ", i));
    ASSERT_TRUE(results[i].status.ok()) << results[i].status.error_message();
    std::vector<int32_t> expected = offline[i]["token_ids"].get<std::vector<int32_t>>();
    std::string reason = offline[i]["finish_reason"].get<std::string>();
    // Greedy tokens do not depend on max_tokens: the offline result cut
    // at this client's max_tokens.
    if (static_cast<int>(expected.size()) > max_tokens[i]) {
      expected.resize(max_tokens[i]);
      reason = "length";
    }
    EXPECT_EQ(results[i].samples[0].token_ids, expected);
    EXPECT_EQ(results[i].samples[0].finish_reason, reason);
  }

  // n = 4 seeded samples: the offline generation's, sample by sample.
  const std::string story = "Write a story about a lighthouse keeper who finds a map.";
  v1::GenerateRequest req = TextRequest(story, 20, /*temperature=*/0.8f);
  req.set_n(4);
  req.set_ignore_eos(true);
  req.mutable_sampling()->set_seed(4321);
  const GenerateResult sampled = RunGenerate(*stub, req);
  ASSERT_TRUE(sampled.status.ok()) << sampled.status.error_message();
  const std::string n_file = c.log_dir() + "/offline_n4.jsonl";
  const std::string n_cmd = absl::StrCat(
      BinPath("llm-generate"), " --model ", ModelPath(), " --threads 1 --temperature 0.8",
      " --seed 4321 --n 4 --ignore-eos --max-tokens 20 --json --prompt '", story, "' > ",
      n_file, " 2>/dev/null");
  ASSERT_EQ(std::system(n_cmd.c_str()), 0) << ReadFile(n_file);
  const std::vector<nlohmann::json> n_offline = ReadJsonLines(n_file);
  ASSERT_EQ(n_offline.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(sampled.samples.at(i).token_ids,
              n_offline[i]["token_ids"].get<std::vector<int32_t>>())
        << "sample " << i;
  }

  // Every block is back (cached prompt blocks with no owner are not used).
  int used = -1;
  for (int k = 0; k < 300 && used != 0; ++k) {
    used = GetInfo(*stub).num_kv_blocks_used();
    if (used != 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(used, 0) << c.SchedulerLog();
}

TEST(AsyncSchedulingClusterTest, TrueWithSpeculativeDecodingIsAStartUpError) {
  const std::string skip = ClusterSkipReason();
  if (!skip.empty()) GTEST_SKIP() << skip;
  char dir[] = "/tmp/llm-async-flag-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string log = std::string(dir) + "/scheduler.log";
  absl::StatusOr<std::unique_ptr<ChildProcess>> p = ChildProcess::Start(
      {BinPath("llm-scheduler"), "--model", ModelPath(), "--listen",
       absl::StrCat("127.0.0.1:", PickFreePort()), "--metrics-listen",
       absl::StrCat("127.0.0.1:", PickFreePort()), "--workers",
       absl::StrCat("127.0.0.1:", PickFreePort()), "--draft", "ngram",
       "--async-scheduling", "true"},
      log);
  ASSERT_TRUE(p.ok()) << p.status();
  const std::optional<int> code = (*p)->WaitExit(std::chrono::seconds(30));
  ASSERT_TRUE(code.has_value()) << Tail(log);
  EXPECT_NE(*code, 0);
  EXPECT_NE(ReadFile(log).find("--async-scheduling=true cannot be combined with --draft"),
            std::string::npos)
      << Tail(log);
}

}  // namespace
}  // namespace llm::testing
