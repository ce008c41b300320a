// Server reflection lets a generic gRPC client list and call the services:
// tests/cluster/reflection_client.py (grpcio-reflection, no generated code)
// lists the services of a real llm-scheduler and llm-worker, resolves
// llm.v1.Inference and llm.worker.v1.Worker from the reflected descriptors
// alone, and calls Tokenize, GetModelInfo, Generate (server streaming) and
// Describe with messages built from JSON at run time. The answers must equal
// what the compiled C++ stubs get.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/cluster/cluster_harness.h"
#include "tests/cluster/generate_client.h"
#include "tests/tools/run_binary.h"

namespace llm::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using json = nlohmann::json;

std::string PythonSkipReason() {
  const CommandResult r = RunCommand("python3 -c 'import grpc, grpc_reflection'");
  if (r.exit_code != 0) {
    return "python3 cannot import grpc / grpc_reflection (scripts/setup.sh "
           "installs grpcio "
           "and grpcio-reflection): " +
           r.output;
  }
  return ClusterSkipReason();
}

// One run of the generic client: exit code, combined output, and its JSON
// result (a discarded value when it printed none).
struct ClientRun {
  int exit_code = -1;
  std::string output;
  json value;
};

ClientRun Reflect(const std::string &server, const std::string &args) {
  const CommandResult r =
      RunCommand(absl::StrCat("python3 ", LLM_SOURCE_DIR,
                              "/tests/cluster/reflection_client.py --server ", server, " ", args));
  ClientRun run{r.exit_code, r.output, json()};
  // The JSON object is the last line.
  const size_t start = r.output.rfind('\n', r.output.size() >= 2 ? r.output.size() - 2 : 0);
  run.value = json::parse(r.output.substr(start == std::string::npos ? 0 : start + 1), nullptr,
                          /*allow_exceptions=*/false);
  return run;
}

class ReflectionTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    skip_reason_ = new std::string(PythonSkipReason());
    start_error_ = new std::string();
    if (!skip_reason_->empty()) return;
    // One cluster for the suite: each test only reads.
    absl::StatusOr<std::unique_ptr<LocalCluster>> c = LocalCluster::Start({});
    if (!c.ok()) {
      *start_error_ = c.status().ToString();
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
    ASSERT_NE(cluster_, nullptr) << *start_error_;
  }

  static std::string *skip_reason_;
  static std::string *start_error_;
  static LocalCluster *cluster_;
};

std::string *ReflectionTest::skip_reason_ = nullptr;
std::string *ReflectionTest::start_error_ = nullptr;
LocalCluster *ReflectionTest::cluster_ = nullptr;

TEST_F(ReflectionTest, ListsTheServicesOfSchedulerAndWorker) {
  const ClientRun scheduler = Reflect(cluster_->address(), "list");
  ASSERT_EQ(scheduler.exit_code, 0) << scheduler.output;
  EXPECT_THAT(scheduler.value["services"].get<std::vector<std::string>>(),
              ElementsAre("grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection",
                          "llm.v1.Inference"));
  const ClientRun worker = Reflect(cluster_->worker_addresses().at(0), "list");
  ASSERT_EQ(worker.exit_code, 0) << worker.output;
  EXPECT_THAT(worker.value["services"].get<std::vector<std::string>>(),
              ElementsAre("grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection",
                          "llm.worker.v1.Worker"));
}

TEST_F(ReflectionTest, ReflectedDescriptorsNameEveryInferenceMethodAndItsStreaming) {
  const ClientRun r = Reflect(cluster_->address(), "describe llm.v1.Inference");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::vector<std::string> methods;
  for (const json &m : r.value["methods"]) {
    methods.push_back(absl::StrCat(m["name"].get<std::string>(), "(", m["input"].get<std::string>(),
                                   ") -> ", m["server_streaming"].get<bool>() ? "stream " : "",
                                   m["output"].get<std::string>()));
  }
  EXPECT_THAT(methods,
              ElementsAre("Generate(llm.v1.GenerateRequest) -> stream llm.v1.GenerateResponse",
                          "Tokenize(llm.v1.TokenizeRequest) -> llm.v1.TokenizeResponse",
                          "GetModelInfo(llm.v1.GetModelInfoRequest) -> llm.v1.ModelInfo"));
}

TEST_F(ReflectionTest, TokenizeAndGetModelInfoWithDynamicMessagesMatchTheStubs) {
  auto stub = MakeStub(cluster_->address());
  grpc::ClientContext ctx;
  v1::TokenizeRequest req;
  req.set_text("The capital of France is");
  v1::TokenizeResponse expected;
  ASSERT_TRUE(stub->Tokenize(&ctx, req, &expected).ok());

  const ClientRun tokenize = Reflect(cluster_->address(),
                                     "call llm.v1.Inference/Tokenize '{\"text\": "
                                     "\"The capital of France is\"}'");
  ASSERT_EQ(tokenize.exit_code, 0) << tokenize.output;
  const json &t = tokenize.value["responses"].at(0);
  EXPECT_EQ(t["token_ids"].get<std::vector<int32_t>>(),
            std::vector<int32_t>(expected.token_ids().begin(), expected.token_ids().end()));
  EXPECT_EQ(t["tokens"].at(1).get<std::string>(),
            expected.tokens(1));  // " capital"

  const ClientRun info = Reflect(cluster_->address(), "call llm.v1.Inference/GetModelInfo '{}'");
  ASSERT_EQ(info.exit_code, 0) << info.output;
  const v1::ModelInfo cpp = GetInfo(*stub);
  const json &i = info.value["responses"].at(0);
  EXPECT_EQ(i["model_name"].get<std::string>(), cpp.model_name());
  EXPECT_EQ(i["vocab_size"].get<int>(), 49152);
  EXPECT_EQ(i["context_length"].get<int>(), 8192);
  EXPECT_EQ(i["batching"].get<std::string>(), "continuous");
  EXPECT_EQ(i["worker_groups"].at(0)["addresses"].at(0).get<std::string>(),
            cluster_->worker_addresses().at(0));
  EXPECT_EQ(i["num_kv_blocks"].get<int>(), cpp.num_kv_blocks());
}

TEST_F(ReflectionTest, StreamingGenerateWithADynamicMessageGivesTheStubsGreedyTokens) {
  auto stub = MakeStub(cluster_->address());
  const GenerateResult cpp = RunGenerate(*stub, TextRequest("The capital of France is", 6));
  ASSERT_TRUE(cpp.status.ok()) << cpp.status.error_message();

  const ClientRun r = Reflect(cluster_->address(),
                              "call llm.v1.Inference/Generate '{\"text\": \"The capital of "
                              "France is\", "
                              "\"sampling\": {\"temperature\": 0}, \"max_tokens\": 6}'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::vector<int32_t> tokens;
  std::string text;
  const json &responses = r.value["responses"];
  ASSERT_GE(responses.size(), 2u) << "one message per token is a stream, not one reply";
  for (const json &delta : responses) {
    for (const json &id : delta.value("token_ids", json::array())) tokens.push_back(id);
    text += delta.value("text", "");
  }
  EXPECT_EQ(tokens, cpp.samples.at(0).token_ids);
  EXPECT_EQ(text, cpp.samples.at(0).text);
  EXPECT_EQ(responses.back()["finish_reason"], "length");
  EXPECT_EQ(responses.back()["usage"]["completion_tokens"].get<int>(), 6);
}

TEST_F(ReflectionTest, WorkerDescribeAndStatusErrorsComeThroughTheGenericClient) {
  const ClientRun d =
      Reflect(cluster_->worker_addresses().at(0), "call llm.worker.v1.Worker/Describe '{}'");
  ASSERT_EQ(d.exit_code, 0) << d.output;
  EXPECT_EQ(d.value["responses"].at(0)["architecture"], "llama");
  EXPECT_EQ(d.value["responses"].at(0)["block_size"].get<int>(), 16);

  const ClientRun bad = Reflect(cluster_->address(),
                                "call llm.v1.Inference/Generate '{\"text\": \"hi\", "
                                "\"sampling\": {\"temperature\": -1}}'");
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_THAT(bad.output, HasSubstr("INVALID_ARGUMENT: sampling.temperature"));
}

}  // namespace
}  // namespace llm::testing
