// The cluster end to end: real llm-worker and llm-scheduler processes on
// loopback, many concurrent streaming clients. Checks batch invariance
// across the network (greedy results equal the offline llm-generate ones),
// that cancelled streams give their KV blocks back, that n > 1 samples share
// the prompt's blocks and are reproducible, and prefix caching of a shared
// system prompt.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/cluster/cluster_harness.h"
#include "tests/cluster/generate_client.h"

namespace llm::testing {
namespace {

class ClusterStreamingTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    skip_reason_ = new std::string(ClusterSkipReason());
    if (!skip_reason_->empty()) return;
    ClusterOptions o;
    absl::StatusOr<std::unique_ptr<LocalCluster>> c = LocalCluster::Start(o);
    if (!c.ok()) {
      start_error_ = new std::string(c.status().ToString());
      return;
    }
    cluster_ = c->release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override {
    if (!skip_reason_->empty()) GTEST_SKIP() << *skip_reason_;
    ASSERT_EQ(start_error_, nullptr) << *start_error_;
    stub_ = MakeStub(cluster_->address());
  }

  // Waits (bounded) until the scheduler reports no KV block in use.
  int WaitBlocksUsedZero(std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    int used = -1;
    while (std::chrono::steady_clock::now() < deadline) {
      used = GetInfo(*stub_).num_kv_blocks_used();
      if (used == 0) return 0;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return used;
  }

  static inline std::string* skip_reason_ = nullptr;
  static inline std::string* start_error_ = nullptr;
  static inline LocalCluster* cluster_ = nullptr;
  std::unique_ptr<v1::Inference::Stub> stub_;
};

// Prompt i: a distinct opening and 0..11 extra sentences, so prompt lengths
// range from a few tokens to ~150.
std::string MixedPrompt(int i, const std::string& tag) {
  static const char* kOpenings[] = {
      "The history of",   "A recipe for",      "def compute_",     "In the year",
      "The best way to",  "Once upon a time,", "Dear diary, today", "The capital of",
  };
  static const char* kSentences[] = {
      "The river runs through the old town and past the mill.",
      "Numbers such as 17, 256 and 4096 appear in computing.",
      "She opened the window to let the morning air in.",
      "Every good experiment starts with a clear question.",
  };
  std::string p = absl::StrCat(kOpenings[i % 8], " ", tag, " ", i, ":");
  for (int k = 0; k < (i * 5) % 12; ++k) p += absl::StrCat(" ", kSentences[(i + k) % 4]);
  return p;
}

TEST_F(ClusterStreamingTest, GreedyResultsOf64ConcurrentClientsEqualOfflineGeneration) {
  constexpr int kClients = 64;
  constexpr int kMaxTokens = 32;
  std::vector<std::string> prompts;
  std::vector<int> max_tokens;
  for (int i = 0; i < kClients; ++i) {
    prompts.push_back(MixedPrompt(i, "invariance"));
    max_tokens.push_back(4 + (i * 7) % (kMaxTokens - 3));  // 4..32
  }

  // Offline: all prompts in one llm-generate batch, greedy, kMaxTokens each.
  const std::string prompts_file = cluster_->log_dir() + "/prompts.txt";
  {
    std::ofstream out(prompts_file);
    for (const std::string& p : prompts) out << p << "\n";
  }
  const std::string offline_file = cluster_->log_dir() + "/offline.jsonl";
  const std::string cmd = absl::StrCat(BinPath("llm-generate"), " --model ", ModelPath(),
                                       " --threads 1 --temperature 0 --max-tokens ", kMaxTokens,
                                       " --json --prompts-file ", prompts_file, " > ",
                                       offline_file, " 2>&1");
  ASSERT_EQ(std::system(cmd.c_str()), 0) << ReadFile(offline_file);
  std::vector<nlohmann::json> offline;
  {
    std::ifstream in(offline_file);
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) offline.push_back(nlohmann::json::parse(line));
    }
  }
  ASSERT_EQ(offline.size(), prompts.size());

  std::vector<GenerateResult> results(kClients);
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      results[i] = RunGenerate(*stub_, TextRequest(prompts[i], max_tokens[i]));
    });
  }
  for (std::thread& t : threads) t.join();

  for (int i = 0; i < kClients; ++i) {
    SCOPED_TRACE(absl::StrCat("client ", i, ": ", prompts[i]));
    ASSERT_TRUE(results[i].status.ok()) << results[i].status.error_message();
    ASSERT_EQ(results[i].samples.size(), 1u);
    const SampleResult& s = results[i].samples[0];
    // Greedy tokens do not depend on max_tokens, so the cluster's result is
    // the offline one cut at this client's max_tokens.
    std::vector<int32_t> expected = offline[i]["token_ids"].get<std::vector<int32_t>>();
    const bool offline_stopped = offline[i]["finish_reason"] == "stop";
    std::string expected_reason = "length";
    if (static_cast<int>(expected.size()) > max_tokens[i]) {
      expected.resize(max_tokens[i]);
    } else if (offline_stopped) {
      expected_reason = "stop";
    }
    EXPECT_EQ(s.token_ids, expected);
    EXPECT_EQ(s.finish_reason, expected_reason);
    EXPECT_EQ(s.usage.completion_tokens(), static_cast<int>(s.token_ids.size()));
    EXPECT_EQ(s.usage.prompt_tokens(),
              static_cast<int>(offline[i]["prompt_token_ids"].size()));
  }
}

TEST_F(ClusterStreamingTest, CancelledStreamsReturnTheirKvBlocksAndNoneHang) {
  constexpr int kClients = 64;
  constexpr int kMaxTokens = 32;
  std::vector<GenerateResult> results(kClients);
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      v1::GenerateRequest req = TextRequest(MixedPrompt(i, "cancel"), kMaxTokens);
      req.set_ignore_eos(true);
      // Odd clients cancel after 1..6 tokens.
      const int cancel_after = i % 2 == 1 ? 1 + i % 6 : -1;
      results[i] = RunGenerate(*stub_, req, cancel_after, std::chrono::seconds(180));
    });
  }
  for (std::thread& t : threads) t.join();

  for (int i = 0; i < kClients; ++i) {
    SCOPED_TRACE(absl::StrCat("client ", i));
    if (i % 2 == 1) {
      EXPECT_EQ(results[i].status.error_code(), grpc::StatusCode::CANCELLED);
    } else {
      ASSERT_TRUE(results[i].status.ok()) << results[i].status.error_message();
      EXPECT_EQ(results[i].samples[0].token_ids.size(), static_cast<size_t>(kMaxTokens));
      EXPECT_EQ(results[i].samples[0].finish_reason, "length");
    }
  }
  // Blocks of cancelled requests are freed within a step; cached prompt
  // blocks with no owner do not count as used.
  EXPECT_EQ(WaitBlocksUsedZero(std::chrono::seconds(15)), 0) << cluster_->SchedulerLog();
  const std::string metrics = HttpGet(cluster_->metrics_port());
  EXPECT_EQ(MetricValue(metrics, "llm_kv_cache_blocks_used").value_or(-1), 0) << metrics;
  EXPECT_EQ(MetricValue(metrics, "llm_requests_running").value_or(-1), 0) << metrics;
}

TEST_F(ClusterStreamingTest, ParallelSamplesShareThePromptBlocksAndAreReproducible) {
  std::string prompt = "Write a story about a lighthouse keeper.";
  for (int k = 0; k < 8; ++k) prompt += " The lamp had to be lit every night before dusk.";
  v1::GenerateRequest req = TextRequest(prompt, 48, /*temperature=*/0.8f);
  req.set_n(4);
  req.set_ignore_eos(true);
  req.mutable_sampling()->set_seed(1234);

  std::atomic<bool> done{false};
  std::atomic<int> max_used{0};
  std::thread poller([&] {
    auto stub = MakeStub(cluster_->address());
    while (!done) {
      const int used = GetInfo(*stub).num_kv_blocks_used();
      max_used = std::max(max_used.load(), used);
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  const GenerateResult first = RunGenerate(*stub_, req);
  done = true;
  poller.join();
  ASSERT_TRUE(first.status.ok()) << first.status.error_message();
  ASSERT_EQ(first.samples.size(), 4u);

  const v1::ModelInfo info = GetInfo(*stub_);
  ASSERT_GT(info.worker_groups_size(), 0);
  const int block = info.worker_groups(0).block_size();
  const int prompt_tokens = first.samples.at(0).usage.prompt_tokens();
  auto blocks = [&](int tokens) { return (tokens + block - 1) / block; };
  const int separate = 4 * blocks(prompt_tokens + 48);
  // Shared: the prompt's full blocks once, plus each sample's own tail.
  const int shared_bound = blocks(prompt_tokens) + 4 * (blocks(48) + 1);
  std::cout << "n=4: prompt " << prompt_tokens << " tokens, max blocks used " << max_used
            << " (separate requests would use " << separate << ")\n";
  RecordProperty("max_blocks_used_n4", max_used.load());
  EXPECT_GT(max_used, 0);
  EXPECT_LT(max_used, separate);
  EXPECT_LE(max_used, shared_bound);

  // Same seed, same samples; the samples differ from one another.
  const GenerateResult second = RunGenerate(*stub_, req);
  ASSERT_TRUE(second.status.ok()) << second.status.error_message();
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(first.samples.at(i).token_ids, second.samples.at(i).token_ids) << "sample " << i;
    EXPECT_EQ(first.samples.at(i).token_ids.size(), 48u);
  }
  EXPECT_NE(first.samples.at(0).token_ids, first.samples.at(1).token_ids);
  EXPECT_NE(first.samples.at(2).token_ids, first.samples.at(3).token_ids);
}

v1::GenerateRequest ChatRequest(const std::string& system, const std::string& user,
                                int max_tokens) {
  v1::GenerateRequest req;
  v1::ChatMessage* s = req.mutable_chat()->add_messages();
  s->set_role("system");
  s->set_content(system);
  v1::ChatMessage* u = req.mutable_chat()->add_messages();
  u->set_role("user");
  u->set_content(user);
  req.set_max_tokens(max_tokens);
  req.mutable_sampling()->set_temperature(0);
  return req;
}

std::string SystemPrompt(const std::string& topic) {
  std::string s = "You are a helpful assistant for " + topic + ".";
  for (int k = 0; k < 12; ++k) {
    s += absl::StrCat(" Rule ", k, ": answer briefly, be polite, cite sources when asked,"
                      " and never invent facts about ", topic, ".");
  }
  return s;
}

TEST_F(ClusterStreamingTest, SharedSystemPromptHitsThePrefixCache) {
  const std::string system = SystemPrompt("astronomy");
  // Cold: first use of this system prompt (also fills the cache).
  const GenerateResult cold = RunGenerate(*stub_, ChatRequest(system, "What is a star?", 4));
  ASSERT_TRUE(cold.status.ok()) << cold.status.error_message();
  EXPECT_EQ(cold.samples.at(0).usage.cached_tokens(), 0);
  // Warm, alone: the same TTFT conditions as the cold one.
  const GenerateResult warm = RunGenerate(*stub_, ChatRequest(system, "What is a moon?", 4));
  ASSERT_TRUE(warm.status.ok()) << warm.status.error_message();

  constexpr int kClients = 32;
  std::vector<GenerateResult> results(kClients);
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      results[i] = RunGenerate(
          *stub_, ChatRequest(system, absl::StrCat("Question ", i, ": how far is planet ", i, "?"),
                              4));
    });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < kClients; ++i) {
    SCOPED_TRACE(absl::StrCat("client ", i));
    ASSERT_TRUE(results[i].status.ok()) << results[i].status.error_message();
    const v1::Usage& u = results[i].samples.at(0).usage;
    // The system prompt is most of the prompt; whole blocks of it are cached.
    EXPECT_GT(u.cached_tokens(), 0);
    EXPECT_GE(u.cached_tokens(), u.prompt_tokens() / 2) << u.ShortDebugString();
    EXPECT_LT(u.cached_tokens(), u.prompt_tokens()) << u.ShortDebugString();
  }
  const std::string metrics = HttpGet(cluster_->metrics_port());
  EXPECT_GT(MetricValue(metrics, "llm_prefix_cache_hit_tokens_total").value_or(0), 0);
  // TTFT is reported, not asserted: on a shared 2-core machine the timing
  // of one request is too noisy for a pass/fail bound.
  std::cout << "prefix cache: prompt " << cold.samples.at(0).usage.prompt_tokens()
            << " tokens; TTFT cold " << cold.ttft_s * 1e3 << " ms, warm " << warm.ttft_s * 1e3
            << " ms (" << warm.samples.at(0).usage.cached_tokens() << " cached)\n";
  RecordProperty("ttft_cold_ms", static_cast<int>(cold.ttft_s * 1e3));
  RecordProperty("ttft_warm_ms", static_cast<int>(warm.ttft_s * 1e3));
}

}  // namespace
}  // namespace llm::testing
