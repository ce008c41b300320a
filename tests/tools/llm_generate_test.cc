// llm-generate end to end: real binary, real model; bad input gets a clear
// message and a non-zero exit.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>

#include "common/gguf.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/tools/run_binary.h"

namespace llm {
namespace {

using testing::BinaryPath;
using testing::RunCommand;

std::string Model() {
  return std::string(LLM_SOURCE_DIR) + "/models/SmolLM2-135M-Instruct.Q4_1.gguf";
}

class LlmGenerateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::ifstream(Model()).good()) GTEST_SKIP() << "model not found: " << Model();
  }
  std::string Generate(const std::string& args) {
    return BinaryPath("llm-generate") + " --model " + Model() + " --threads 2 " + args;
  }
};

TEST_F(LlmGenerateTest, BatchedPromptsPrintOneJsonObjectEach) {
  auto r = RunCommand(Generate(
      "--prompt 'The capital of France is' --prompt 'def fib(n):' --max-tokens 8 --json"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  int lines = 0;
  size_t pos = 0;
  while (pos < r.output.size()) {
    size_t end = r.output.find('\n', pos);
    if (end == std::string::npos) end = r.output.size();
    const std::string line = r.output.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["index"].get<int>(), lines);
    EXPECT_FALSE(j["prompt_token_ids"].empty());
    EXPECT_EQ(j["token_ids"].size(), 8u);
    EXPECT_EQ(j["finish_reason"], "length");
    EXPECT_TRUE(j["text"].is_string());
    ++lines;
  }
  EXPECT_EQ(lines, 2);
}

TEST_F(LlmGenerateTest, ChatModeAnswersAndStopsAtEndOfTurn) {
  auto r = RunCommand(Generate("--chat --prompt 'What is 2+2?' --max-tokens 64 --json"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto j = nlohmann::json::parse(r.output.substr(0, r.output.find('\n')));
  // The chat template starts with <|im_start|> (id 1) and ends the prompt
  // with the assistant header.
  EXPECT_EQ(j["prompt_token_ids"][0], 1);
  EXPECT_EQ(j["finish_reason"], "stop") << j.dump();
  EXPECT_NE(j["text"].get<std::string>().find('4'), std::string::npos) << j.dump();
}

TEST_F(LlmGenerateTest, SameSeedReproducesSampledText) {
  const std::string args =
      "--prompt 'Once upon a time' --temperature 0.9 --top-p 0.95 --seed 7 --max-tokens 24 --json";
  auto a = RunCommand(Generate(args));
  auto b = RunCommand(Generate(args));
  ASSERT_EQ(a.exit_code, 0) << a.output;
  EXPECT_EQ(a.output, b.output);
  auto c = RunCommand(Generate(
      "--prompt 'Once upon a time' --temperature 0.9 --top-p 0.95 --seed 8 --max-tokens 24 --json"));
  EXPECT_NE(a.output, c.output);
}

TEST_F(LlmGenerateTest, NgramSpeculationKeepsTextAndReportsDraftCounts) {
  const std::string prompt =
      "--prompt 'Repeat: one two three four five six. one two three four five six. one two'";
  auto plain = RunCommand(Generate(prompt + " --max-tokens 24 --ignore-eos --json"));
  auto spec = RunCommand(Generate(prompt + " --max-tokens 24 --ignore-eos --json "
                                  "--draft ngram --num-speculative-tokens 3"));
  ASSERT_EQ(plain.exit_code, 0) << plain.output;
  ASSERT_EQ(spec.exit_code, 0) << spec.output;
  auto a = nlohmann::json::parse(plain.output.substr(0, plain.output.find('\n')));
  auto b = nlohmann::json::parse(spec.output.substr(0, spec.output.find('\n')));
  EXPECT_EQ(b["token_ids"], a["token_ids"]);
  EXPECT_FALSE(a.contains("proposed_draft_tokens"));
  EXPECT_GT(b["proposed_draft_tokens"].get<int>(), 0);
  EXPECT_GE(b["proposed_draft_tokens"].get<int>(), b["accepted_draft_tokens"].get<int>());
}

TEST_F(LlmGenerateTest, DraftModeWithoutDraftModelIsAClearError) {
  auto r = RunCommand(Generate("--prompt hi --draft model"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--draft-model"), std::string::npos) << r.output;
}

TEST_F(LlmGenerateTest, EmptyPromptIsAClearError) {
  auto r = RunCommand(Generate("--prompt ''"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("prompt is empty"), std::string::npos) << r.output;
}

TEST_F(LlmGenerateTest, PromptLongerThanContextIsAClearError) {
  const std::string path = ::testing::TempDir() + "/long_prompt.txt";
  {
    std::ofstream out(path);
    std::string line;
    for (int i = 0; i < 9000; ++i) line += "hello ";
    out << line << "\n";
  }
  auto r = RunCommand(Generate("--prompts-file " + path));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("context length"), std::string::npos) << r.output;
}

TEST_F(LlmGenerateTest, MissingModelFileIsAClearError) {
  auto r = RunCommand(BinaryPath("llm-generate") +
                      " --model /nonexistent/model.gguf --prompt hi");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("/nonexistent/model.gguf"), std::string::npos) << r.output;
}

TEST_F(LlmGenerateTest, UnknownTensorTypeIsAClearError) {
  // Copy the real model and change the first tensor's type id to 20 (IQ4_NL,
  // which we do not implement).
  std::ifstream in(Model(), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto file = GgufFile::FromBytes(bytes);
  ASSERT_TRUE(file.ok()) << file.status();
  const GgufTensor& t = (*file)->tensors()[0];
  // Tensor info: u64 name length, name, u32 n_dims, n_dims x u64, u32 type.
  std::string needle(8, '\0');
  const uint64_t len = t.name.size();
  std::memcpy(needle.data(), &len, 8);
  needle += t.name;
  const size_t at = bytes.find(needle);
  ASSERT_NE(at, std::string::npos);
  const size_t type_at = at + needle.size() + 4 + 8 * t.ne.size();
  const uint32_t bad_type = 20;
  std::memcpy(bytes.data() + type_at, &bad_type, 4);
  const std::string path = ::testing::TempDir() + "/bad_type.gguf";
  std::ofstream(path, std::ios::binary) << bytes;
  auto r = RunCommand(BinaryPath("llm-generate") + " --model " + path + " --prompt hi");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find(t.name), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("20"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace llm
