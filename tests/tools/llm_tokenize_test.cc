// Runs the llm-tokenize binary: ids for a few strings (llama.cpp's, from the
// golden fixture), stdin mode, decode mode, and a missing model file.
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace {

using ::testing::HasSubstr;

constexpr char kBinary[] = LLM_BINARY_DIR "/bin/llm-tokenize";
constexpr char kModel[] = LLM_SOURCE_DIR "/models/SmolLM2-135M-Instruct.Q4_1.gguf";

struct Result {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

Result RunTool(const std::string& args) {
  Result r;
  FILE* p = popen((std::string(kBinary) + " " + args + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.output.append(buf, n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

class LlmTokenizeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::ifstream(kBinary).good()) GTEST_SKIP() << "not built: " << kBinary;
    if (!std::ifstream(kModel).good()) GTEST_SKIP() << "model not found: " << kModel;
  }
};

TEST_F(LlmTokenizeTest, TextFlagPrintsLlamaCppIds) {
  const Result r = RunTool(std::string("--model ") + kModel + " --text 'Hello world! 123'");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.output, "{\"ids\": [19556, 905, 17, 216, 33, 34, 35]}\n");
}

TEST_F(LlmTokenizeTest, StdinGivesOneLinePerTextWithSpecialTokensParsed) {
  const std::string input = ::testing::TempDir() + "llm_tokenize_input.txt";
  std::ofstream(input) << "a   b\n<|im_start|>user\n";
  const Result r = RunTool(std::string("--model ") + kModel + " < " + input);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.output, "{\"ids\": [81, 256, 278]}\n{\"ids\": [1, 4093]}\n");
  std::remove(input.c_str());
}

TEST_F(LlmTokenizeTest, DecodeModePrintsText) {
  const Result r = RunTool(std::string("--model ") + kModel + " --decode --text '19556 905 17 1'");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.output, "{\"text\": \"Hello world!\"}\n");
}

TEST_F(LlmTokenizeTest, MissingModelFailsWithClearMessage) {
  const Result r = RunTool("--model /nonexistent/model.gguf --text hi");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr("cannot open model '/nonexistent/model.gguf'"));
}

TEST_F(LlmTokenizeTest, BadTokenIdInDecodeModeFails) {
  const Result r = RunTool(std::string("--model ") + kModel + " --decode --text '1 99999999'");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr("bad token id '99999999'"));
}

}  // namespace
