// The public llm.v1.Inference service with a real worker, both on loopback
// in this process: greedy generation equals the in-process engine, every
// malformed field gets INVALID_ARGUMENT naming it, cancellation and
// deadlines free the KV blocks, stop strings never leak, seeded samples
// reproduce. Start-up, queueing, groups and shutdown are in
// scheduler_lifecycle_test.cc.
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/tokenizer.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/cluster/in_process_cluster.h"
#include "tests/worker/generation_harness.h"

namespace llm {
namespace {

using testing::GenerateOutcome;
using testing::GreedyText;
using testing::RunGenerate;
using testing::WaitForInfo;

class SchedulerServiceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!testing::ClusterModelPresent()) return;
    cluster_ = testing::StartCluster().release();
    if (cluster_ == nullptr) return;
    absl::StatusOr<std::unique_ptr<GgufFile>> file =
        GgufFile::Open(testing::ClusterModelPath());
    tokenizer_ = Tokenizer::FromGguf(**file)->release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
    delete tokenizer_;
    tokenizer_ = nullptr;
  }
  void SetUp() override {
    if (!testing::ClusterModelPresent()) GTEST_SKIP() << "model file absent";
    ASSERT_NE(cluster_, nullptr);
  }
  v1::Inference::Stub& stub() { return *cluster_->stub; }

  // The in-process engine's greedy continuation of `prompt`.
  static std::vector<int32_t> Expected(const std::vector<int32_t>& prompt, int max_tokens) {
    WorkerOptions wo;
    wo.model_path = testing::ClusterModelPath();
    wo.backend = "cpu";
    wo.threads = 1;
    wo.kv_cache_bytes = 8 << 20;
    auto local = LocalWorker::Create(wo);
    EXPECT_TRUE(local.ok()) << local.status();
    return testing::Generate(**local, {testing::Greedy(prompt, max_tokens)}, {},
                             tokenizer_->end_of_generation_ids())[0]
        .tokens;
  }

  static testing::InProcessCluster* cluster_;
  static Tokenizer* tokenizer_;
};

testing::InProcessCluster* SchedulerServiceTest::cluster_ = nullptr;
Tokenizer* SchedulerServiceTest::tokenizer_ = nullptr;

TEST_F(SchedulerServiceTest, GreedyGenerateEqualsInProcessEngine) {
  const std::string prompt = "The capital of France is";
  const std::vector<int32_t> ids = tokenizer_->Encode(prompt, true, false);
  const std::vector<int32_t> expected = Expected(ids, 24);
  ASSERT_FALSE(expected.empty());

  v1::GenerateRequest r = GreedyText(prompt, 24);
  r.set_request_id("greedy-1");
  GenerateOutcome out = RunGenerate(stub(), r);
  ASSERT_TRUE(out.status.ok()) << out.status.error_message();
  EXPECT_EQ(out.Tokens(), expected);
  EXPECT_EQ(out.Text(), tokenizer_->Decode(expected));
  const v1::GenerateResponse* last = out.Final();
  ASSERT_NE(last, nullptr);
  EXPECT_EQ(last->request_id(), "greedy-1");
  EXPECT_EQ(last->finish_reason(), expected.size() == 24 ? "length" : "stop");
  EXPECT_EQ(last->usage().prompt_tokens(), static_cast<int>(ids.size()));
  EXPECT_EQ(last->usage().completion_tokens(), static_cast<int>(expected.size()));

  // The same prompt as token ids gives the same tokens.
  v1::GenerateRequest by_ids;
  by_ids.mutable_token_ids()->mutable_ids()->Add(ids.begin(), ids.end());
  by_ids.set_max_tokens(24);
  by_ids.mutable_sampling()->set_temperature(0);
  EXPECT_EQ(RunGenerate(stub(), by_ids).Tokens(), expected);
}

TEST_F(SchedulerServiceTest, StopStringEndsTheSampleAndNeverLeaks) {
  const std::string prompt = "The capital of France is";
  GenerateOutcome free_run = RunGenerate(stub(), GreedyText(prompt, 24));
  ASSERT_TRUE(free_run.status.ok());
  const std::string full = free_run.Text();
  ASSERT_GT(full.size(), 12u) << full;
  const std::string stop = full.substr(8, 3);  // a piece from the middle
  v1::GenerateRequest r = GreedyText(prompt, 24);
  r.add_stop(stop);
  GenerateOutcome out = RunGenerate(stub(), r);
  ASSERT_TRUE(out.status.ok());
  EXPECT_EQ(out.Text(), full.substr(0, full.find(stop)));
  ASSERT_NE(out.Final(), nullptr);
  EXPECT_EQ(out.Final()->finish_reason(), "stop");
  EXPECT_TRUE(WaitForInfo(stub(), [](const v1::ModelInfo& i) {
    return i.num_kv_blocks_used() == 0;
  }));
}

TEST_F(SchedulerServiceTest, EveryMalformedFieldIsInvalidArgumentNamingIt) {
  struct Case {
    std::string field;  // must appear in the message
    v1::GenerateRequest request;
  };
  std::vector<Case> cases;
  auto add = [&](const std::string& field, auto mutate) {
    v1::GenerateRequest r = GreedyText("Hello", 4);
    mutate(r);
    cases.push_back({field, r});
  };
  add("prompt", [](auto& r) { r.clear_prompt(); });
  add("prompt.text", [](auto& r) { r.set_text(""); });
  add("prompt.token_ids", [](auto& r) { r.mutable_token_ids(); });
  add("prompt.token_ids[1]", [](auto& r) {
    r.mutable_token_ids()->add_ids(1);
    r.mutable_token_ids()->add_ids(49152);
  });
  add("prompt", [](auto& r) {  // longer than the 8192-token context
    for (int i = 0; i < 8192; ++i) r.mutable_token_ids()->add_ids(42);
  });
  add("chat.messages", [](auto& r) { r.mutable_chat(); });
  add("chat.messages[1].role", [](auto& r) {
    auto* m = r.mutable_chat()->add_messages();
    m->set_role("user");
    m->set_content("hi");
    m = r.mutable_chat()->add_messages();
    m->set_role("robot");
    m->set_content("beep");
  });
  add("sampling.temperature", [](auto& r) { r.mutable_sampling()->set_temperature(-1); });
  add("sampling.top_k", [](auto& r) { r.mutable_sampling()->set_top_k(-2); });
  add("sampling.top_p", [](auto& r) { r.mutable_sampling()->set_top_p(0); });
  add("sampling.min_p", [](auto& r) { r.mutable_sampling()->set_min_p(1.5); });
  add("sampling.repetition_penalty",
      [](auto& r) { r.mutable_sampling()->set_repetition_penalty(0); });
  add("sampling.presence_penalty",
      [](auto& r) { r.mutable_sampling()->set_presence_penalty(2.5); });
  add("sampling.frequency_penalty",
      [](auto& r) { r.mutable_sampling()->set_frequency_penalty(-3); });
  add("sampling.logprobs", [](auto& r) { r.mutable_sampling()->set_logprobs(21); });
  add("n", [](auto& r) { r.set_n(0); });
  add("n", [](auto& r) { r.set_n(17); });
  add("max_tokens", [](auto& r) { r.set_max_tokens(0); });
  add("max_tokens", [](auto& r) { r.set_max_tokens(8192); });
  add("stop[1]", [](auto& r) {
    r.add_stop("ok");
    r.add_stop("");
  });
  add("stop_token_ids[0]", [](auto& r) { r.add_stop_token_ids(-1); });
  add("request_id", [](auto& r) { r.set_request_id(std::string(300, 'x')); });

  for (const Case& c : cases) {
    GenerateOutcome out = RunGenerate(stub(), c.request);
    EXPECT_EQ(out.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.field;
    EXPECT_NE(out.status.error_message().find(c.field), std::string::npos)
        << "field " << c.field << " not named in: " << out.status.error_message();
    EXPECT_TRUE(out.messages.empty()) << c.field;
  }
}

TEST_F(SchedulerServiceTest, CancellationFreesTheBlocks) {
  v1::GenerateRequest r;
  r.set_text("Once upon a time");
  r.set_max_tokens(2000);
  r.set_ignore_eos(true);
  r.set_n(2);
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReader<v1::GenerateResponse>> reader = stub().Generate(&ctx, r);
  v1::GenerateResponse m;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(reader->Read(&m));
  EXPECT_TRUE(WaitForInfo(stub(), [](const v1::ModelInfo& i) {
    return i.num_kv_blocks_used() > 0;
  }));
  ctx.TryCancel();
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(WaitForInfo(stub(), [](const v1::ModelInfo& i) {
    return i.num_kv_blocks_used() == 0 && i.worker_groups(0).num_running() == 0;
  }));
  // The metrics agree.
  const std::string scrape = testing::ScrapeMetrics(cluster_->scheduler->metrics_port());
  EXPECT_EQ(testing::MetricValue(scrape, "llm_kv_cache_blocks_used"), 0);
  EXPECT_GT(testing::MetricValue(scrape, "llm_kv_cache_blocks_total"), 0);
}

TEST_F(SchedulerServiceTest, DeadlineFreesTheBlocks) {
  v1::GenerateRequest r;
  r.set_text("Once upon a time");
  r.set_max_tokens(2000);
  r.set_ignore_eos(true);
  GenerateOutcome out = RunGenerate(stub(), r, absl::Milliseconds(500));
  EXPECT_EQ(out.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_TRUE(WaitForInfo(stub(), [](const v1::ModelInfo& i) {
    return i.num_kv_blocks_used() == 0;
  }));
}

TEST_F(SchedulerServiceTest, TokenizeAndModelInfoDescribeTheModel) {
  grpc::ClientContext ctx;
  v1::TokenizeRequest req;
  req.set_text("Hello world! 123");
  v1::TokenizeResponse resp;
  ASSERT_TRUE(stub().Tokenize(&ctx, req, &resp).ok());
  const std::vector<int32_t> expected = tokenizer_->Encode("Hello world! 123", true, false);
  EXPECT_EQ(std::vector<int32_t>(resp.token_ids().begin(), resp.token_ids().end()), expected);
  ASSERT_EQ(resp.tokens_size(), resp.token_ids_size());
  EXPECT_EQ(resp.tokens(0), "Hello");

  grpc::ClientContext ctx2;
  v1::ModelInfo info;
  ASSERT_TRUE(stub().GetModelInfo(&ctx2, v1::GetModelInfoRequest(), &info).ok());
  EXPECT_EQ(info.architecture(), "llama");
  EXPECT_EQ(info.context_length(), 8192);
  EXPECT_EQ(info.vocab_size(), 49152);
  EXPECT_TRUE(info.supports_chat());
  ASSERT_EQ(info.worker_groups_size(), 1);
  EXPECT_EQ(info.worker_groups(0).num_kv_blocks(), info.num_kv_blocks());
  EXPECT_EQ(info.worker_groups(0).block_size(), 16);
  EXPECT_EQ(info.batching(), "continuous");
}

TEST_F(SchedulerServiceTest, HealthIsServing) {
  auto health = grpc::health::v1::Health::NewStub(cluster_->channel);
  grpc::ClientContext ctx;
  grpc::health::v1::HealthCheckRequest req;
  req.set_service("llm.v1.Inference");
  grpc::health::v1::HealthCheckResponse resp;
  ASSERT_TRUE(health->Check(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST_F(SchedulerServiceTest, SeededSamplesAreReproducibleWithLogprobs) {
  v1::GenerateRequest r;
  r.set_text("My favourite animal is");
  r.set_max_tokens(12);
  r.set_ignore_eos(true);
  r.set_n(3);
  r.mutable_sampling()->set_temperature(0.9f);
  r.mutable_sampling()->set_seed(1234);
  r.mutable_sampling()->set_logprobs(2);
  GenerateOutcome a = RunGenerate(stub(), r);
  GenerateOutcome b = RunGenerate(stub(), r);
  ASSERT_TRUE(a.status.ok()) << a.status.error_message();
  ASSERT_TRUE(b.status.ok());
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(a.Tokens(i).size(), 12u) << i;
    EXPECT_EQ(a.Tokens(i), b.Tokens(i)) << "sample " << i;
    EXPECT_EQ(a.Text(i), b.Text(i)) << "sample " << i;
    ASSERT_NE(a.Final(i), nullptr);
    EXPECT_EQ(a.Final(i)->usage().completion_tokens(), 12);
  }
  for (const v1::GenerateResponse& m : a.messages) {
    ASSERT_EQ(m.logprobs_size(), m.token_ids_size());
    for (int k = 0; k < m.logprobs_size(); ++k) {
      const v1::GeneratedTokenLogprobs& lp = m.logprobs(k);
      EXPECT_EQ(lp.token_id(), m.token_ids(k));
      EXPECT_LE(lp.logprob(), 0.0f);
      ASSERT_EQ(lp.top_size(), 2);
      EXPECT_GE(lp.top(0).logprob(), lp.top(1).logprob());
      EXPECT_GE(lp.top(0).logprob(), lp.logprob());
    }
  }
}

}  // namespace
}  // namespace llm
