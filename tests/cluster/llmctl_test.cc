// llmctl against a real local cluster: streamed and --json generation, n > 1,
// stop strings, tokenize, info, health, and the server's own error text with
// a non-zero exit for a bad value.
#include <sstream>

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
using ::testing::StartsWith;

std::vector<nlohmann::json> JsonLines(const std::string& text) {
  std::vector<nlohmann::json> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line[0] == '{') out.push_back(nlohmann::json::parse(line));
  }
  return out;
}

class LlmctlTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    skip_reason_ = new std::string(ClusterSkipReason());
    if (skip_reason_->empty() && !FileExists(BinPath("llmctl"))) {
      *skip_reason_ = BinPath("llmctl") + " not built";
    }
    if (!skip_reason_->empty()) return;
    absl::StatusOr<std::unique_ptr<LocalCluster>> c = LocalCluster::Start({});
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
  }
  static std::string Llmctl(const std::string& args) {
    return absl::StrCat(BinPath("llmctl"), " --server ", cluster_->address(), " ", args);
  }

  static inline std::string* skip_reason_ = nullptr;
  static inline std::string* start_error_ = nullptr;
  static inline LocalCluster* cluster_ = nullptr;
};

TEST_F(LlmctlTest, GenerateStreamsTheTextThatJsonModeReports) {
  const std::string args =
      "generate --prompt 'The capital of France is' --max-tokens 10 --temperature 0 --ignore-eos";
  const CommandResult json = RunCommand(Llmctl(args + " --json"));
  ASSERT_EQ(json.exit_code, 0) << json.output;
  const std::vector<nlohmann::json> objs = JsonLines(json.output);
  ASSERT_EQ(objs.size(), 1u) << json.output;
  EXPECT_EQ(objs[0]["index"], 0);
  EXPECT_EQ(objs[0]["token_ids"].size(), 10u);
  EXPECT_EQ(objs[0]["finish_reason"], "length");
  EXPECT_EQ(objs[0]["usage"]["completion_tokens"], 10);
  EXPECT_GT(objs[0]["usage"]["prompt_tokens"].get<int>(), 0);
  const std::string text = objs[0]["text"];
  ASSERT_FALSE(text.empty());

  // The text on stdout, then a summary line on stderr (RunCommand merges
  // them in that order: the summary is written after the text is flushed).
  const CommandResult streamed = RunCommand(Llmctl(args));
  ASSERT_EQ(streamed.exit_code, 0) << streamed.output;
  EXPECT_EQ(streamed.output,
            text + "\n[finish_reason=length prompt_tokens=" +
                std::to_string(objs[0]["usage"]["prompt_tokens"].get<int>()) +
                " completion_tokens=10 cached_tokens=0]\n");
}

TEST_F(LlmctlTest, SeveralSamplesPrintOneJsonObjectEach) {
  const CommandResult r = RunCommand(Llmctl(
      "generate --prompt 'Once upon a time' --n 3 --max-tokens 6 --ignore-eos "
      "--temperature 0.9 --seed 5 --json"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::vector<nlohmann::json> objs = JsonLines(r.output);
  ASSERT_EQ(objs.size(), 3u) << r.output;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(objs[i]["index"], i);
    EXPECT_EQ(objs[i]["token_ids"].size(), 6u);
  }
  // Grouped text output names each sample.
  const CommandResult text = RunCommand(Llmctl(
      "generate --prompt 'Once upon a time' --n 3 --max-tokens 6 --ignore-eos "
      "--temperature 0.9 --seed 5"));
  ASSERT_EQ(text.exit_code, 0) << text.output;
  for (int i = 0; i < 3; ++i) {
    EXPECT_THAT(text.output, HasSubstr(absl::StrCat("=== sample ", i, " (length)")));
    EXPECT_THAT(text.output, HasSubstr(objs[i]["text"].get<std::string>()));
  }
}

TEST_F(LlmctlTest, StopStringEndsTheTextWithoutShowingIt) {
  // Greedy: find a word the model will write, then stop at it.
  const CommandResult full = RunCommand(Llmctl(
      "generate --prompt 'Count: one, two, three,' --max-tokens 16 --temperature 0 "
      "--ignore-eos --json"));
  ASSERT_EQ(full.exit_code, 0) << full.output;
  const std::string text = JsonLines(full.output).at(0)["text"];
  ASSERT_GT(text.size(), 6u);
  const std::string stop = text.substr(text.size() / 2, 3);
  ASSERT_EQ(stop.find('\''), std::string::npos) << "pick a stop string the shell can quote";
  const CommandResult r = RunCommand(Llmctl(
      "generate --prompt 'Count: one, two, three,' --max-tokens 16 --temperature 0 "
      "--ignore-eos --json --stop '" + stop + "'"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const nlohmann::json j = JsonLines(r.output).at(0);
  EXPECT_EQ(j["finish_reason"], "stop");
  EXPECT_EQ(j["text"].get<std::string>(), text.substr(0, text.find(stop)));
}

TEST_F(LlmctlTest, BadValueShowsTheServersStatusAndExitsNonZero) {
  const CommandResult r =
      RunCommand(Llmctl("generate --prompt hi --temperature -1 --max-tokens 4"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, StartsWith("INVALID_ARGUMENT: sampling.temperature"));
  const CommandResult n = RunCommand(Llmctl("generate --prompt hi --n 0"));
  EXPECT_EQ(n.exit_code, 1);
  EXPECT_THAT(n.output, StartsWith("INVALID_ARGUMENT: n must be"));
  const CommandResult k = RunCommand(Llmctl("generate --prompt hi --num-speculative-tokens 33"));
  EXPECT_EQ(k.exit_code, 1);
  EXPECT_THAT(k.output, StartsWith("INVALID_ARGUMENT: num_speculative_tokens"));
}

TEST_F(LlmctlTest, TokenizeInfoAndHealthAnswer) {
  const CommandResult tok = RunCommand(Llmctl("tokenize --text 'Hello world'"));
  ASSERT_EQ(tok.exit_code, 0) << tok.output;
  const nlohmann::json t = nlohmann::json::parse(tok.output);
  const CommandResult offline = RunCommand(
      absl::StrCat(BinPath("llm-tokenize"), " --model ", ModelPath(), " --text 'Hello world'"));
  ASSERT_EQ(offline.exit_code, 0) << offline.output;
  EXPECT_EQ(t["token_ids"], nlohmann::json::parse(offline.output)["ids"]);
  EXPECT_EQ(t["tokens"].size(), t["token_ids"].size());

  const CommandResult info = RunCommand(Llmctl("info"));
  ASSERT_EQ(info.exit_code, 0) << info.output;
  const nlohmann::json i = nlohmann::json::parse(info.output);
  EXPECT_EQ(i["architecture"], "llama");
  EXPECT_EQ(i["vocab_size"], 49152);
  EXPECT_GT(i["num_kv_blocks"].get<int>(), 0);
  EXPECT_EQ(i["worker_groups"].size(), 1u);

  const CommandResult health = RunCommand(Llmctl("health"));
  EXPECT_EQ(health.exit_code, 0) << health.output;
  EXPECT_EQ(health.output, "SERVING\n");
  const CommandResult dead = RunCommand(absl::StrCat(
      BinPath("llmctl"), " --server 127.0.0.1:", PickFreePort(), " health --timeout 2"));
  EXPECT_EQ(dead.exit_code, 1);
  EXPECT_THAT(dead.output, ::testing::AnyOf(StartsWith("UNAVAILABLE"),
                                            StartsWith("DEADLINE_EXCEEDED")));
}

}  // namespace
}  // namespace llm::testing
