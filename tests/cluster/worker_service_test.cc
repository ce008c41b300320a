// The llm.worker.v1.Worker service over real gRPC on loopback, with the real
// model: Describe, step plans over one Execute stream (tokens equal the
// in-process engine's), a bad plan answered with INVALID_ARGUMENT while the
// stream keeps working, sequence state released when a stream ends, health
// and metrics.
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/tokenizer.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "llm/worker/v1/worker.grpc.pb.h"
#include "proto/step_plan_proto.h"
#include "tests/cluster/in_process_cluster.h"
#include "tests/worker/generation_harness.h"

namespace llm {
namespace {

namespace pb = ::llm::worker::v1;
using Stream = grpc::ClientReaderWriter<pb::StepPlan, pb::StepResult>;

ScheduledChunk Chunk(SeqId id, int32_t num_tokens) {
  ScheduledChunk c;
  c.seq_id = id;
  c.num_tokens = num_tokens;
  c.sample = true;
  return c;
}

class WorkerServiceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!testing::ClusterModelPresent()) return;
    server_ = testing::StartWorker().release();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    if (!testing::ClusterModelPresent()) GTEST_SKIP() << "model file absent";
    ASSERT_NE(server_, nullptr);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = pb::Worker::NewStub(channel_);
  }

  std::vector<int32_t> Prompt(const std::string& text) {
    auto tok = Tokenizer::FromGguf(server_->worker().file());
    EXPECT_TRUE(tok.ok());
    return (*tok)->Encode(text, true, false);
  }

  // A greedy new sequence prefilled whole and sampled once.
  static StepPlan PrefillPlan(uint64_t step, SeqId id, const std::vector<int32_t>& prompt) {
    StepPlan plan;
    plan.step_id = step;
    SequenceSpec s;
    s.seq_id = id;
    s.prompt_tokens = prompt;
    s.params.temperature = 0.0f;
    s.block_table = {0, 1};
    plan.new_sequences.push_back(s);
    plan.chunks.push_back(Chunk(id, static_cast<int32_t>(prompt.size())));
    return plan;
  }

  static pb::StepResult Send(Stream& stream, const StepPlan& plan) {
    pb::StepPlan p;
    ToProto(plan, &p);
    pb::StepResult r;
    EXPECT_TRUE(stream.Write(p));
    EXPECT_TRUE(stream.Read(&r));
    return r;
  }

  static WorkerServer* server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::Worker::Stub> stub_;
};

WorkerServer* WorkerServiceTest::server_ = nullptr;

TEST_F(WorkerServiceTest, DescribeReportsModelAndKvPool) {
  grpc::ClientContext ctx;
  pb::DescribeResponse d;
  ASSERT_TRUE(stub_->Describe(&ctx, pb::DescribeRequest(), &d).ok());
  EXPECT_EQ(d.vocab_size(), 49152);
  EXPECT_EQ(d.context_length(), 8192);
  EXPECT_EQ(d.block_size(), 16);
  EXPECT_EQ(d.architecture(), "llama");
  EXPECT_NE(d.backend().find("cpu"), std::string::npos) << d.backend();
  // 32 MiB / (30 layers * 16 tokens * 3 kv heads * 64 dims * 2 (K, V) * 2 B).
  EXPECT_EQ(d.num_kv_blocks(), (32 << 20) / (30 * 16 * 3 * 64 * 2 * 2));
  EXPECT_EQ(d.kv_cache_bytes(), int64_t{d.num_kv_blocks()} * 30 * 16 * 3 * 64 * 2 * 2);
}

TEST_F(WorkerServiceTest, PlansOverOneStreamGiveTheInProcessEngineTokens) {
  const std::vector<int32_t> prompt = Prompt("The capital of France is");
  // Expected: the same model in process, through the real engine.
  WorkerOptions wo;
  wo.model_path = testing::ClusterModelPath();
  wo.backend = "cpu";
  wo.threads = 1;
  wo.kv_cache_bytes = 8 << 20;
  auto local = LocalWorker::Create(wo);
  ASSERT_TRUE(local.ok()) << local.status();
  const std::vector<testing::Generated> expected =
      testing::Generate(**local, {testing::Greedy(prompt, 3)});
  ASSERT_EQ(expected[0].tokens.size(), 3u);

  grpc::ClientContext ctx;
  std::unique_ptr<Stream> stream = stub_->Execute(&ctx);
  pb::StepResult r = Send(*stream, PrefillPlan(7, 1, prompt));
  EXPECT_EQ(r.status().code(), 0) << r.status().message();
  EXPECT_EQ(r.step_id(), 7u);
  ASSERT_EQ(r.results_size(), 1);
  EXPECT_EQ(r.results(0).seq_id(), 1u);
  ASSERT_EQ(r.results(0).tokens_size(), 1);
  EXPECT_EQ(r.results(0).tokens(0).token(), expected[0].tokens[0]);

  // Decode: only the count travels; the worker appended the sampled token.
  for (int i = 1; i < 3; ++i) {
    StepPlan decode;
    decode.step_id = 7 + i;
    decode.chunks.push_back(Chunk(1, 1));
    r = Send(*stream, decode);
    ASSERT_EQ(r.results_size(), 1) << r.status().message();
    EXPECT_EQ(r.results(0).tokens(0).token(), expected[0].tokens[i]) << "token " << i;
  }
  StepPlan finish;
  finish.step_id = 10;
  finish.finished = {1};
  r = Send(*stream, finish);
  EXPECT_EQ(r.status().code(), 0);
  EXPECT_EQ(r.results_size(), 0);
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(WorkerServiceTest, BadPlanIsInvalidArgumentAndTheStreamKeepsWorking) {
  const double errors_before = testing::MetricValue(
      testing::ScrapeMetrics(server_->metrics_port()),
      "llm_worker_steps_total{outcome=\"error\"}");
  grpc::ClientContext ctx;
  std::unique_ptr<Stream> stream = stub_->Execute(&ctx);
  StepPlan bad;
  bad.step_id = 1;
  bad.chunks.push_back(Chunk(/*seq_id=*/999, 1));  // unknown
  pb::StepResult r = Send(*stream, bad);
  EXPECT_EQ(r.status().code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_FALSE(r.status().message().empty());
  EXPECT_EQ(r.step_id(), 1u);
  EXPECT_EQ(r.results_size(), 0);

  // Block id beyond the pool.
  StepPlan out_of_pool = PrefillPlan(2, 5, Prompt("Hello"));
  out_of_pool.new_sequences[0].block_table = {1 << 20};
  r = Send(*stream, out_of_pool);
  EXPECT_EQ(r.status().code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));

  // Same stream, a good plan.
  r = Send(*stream, PrefillPlan(3, 5, Prompt("Hello")));
  EXPECT_EQ(r.status().code(), 0) << r.status().message();
  ASSERT_EQ(r.results_size(), 1);
  EXPECT_EQ(r.results(0).tokens_size(), 1);
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());

  const double errors_after = testing::MetricValue(
      testing::ScrapeMetrics(server_->metrics_port()),
      "llm_worker_steps_total{outcome=\"error\"}");
  EXPECT_EQ(errors_after - errors_before, 2);
}

TEST_F(WorkerServiceTest, EndedStreamReleasesItsSequences) {
  const std::vector<int32_t> prompt = Prompt("Once upon a time");
  {
    grpc::ClientContext ctx;
    std::unique_ptr<Stream> stream = stub_->Execute(&ctx);
    EXPECT_EQ(Send(*stream, PrefillPlan(1, 42, prompt)).status().code(), 0);
    stream->WritesDone();  // sequence 42 never finished by its scheduler
    EXPECT_TRUE(stream->Finish().ok());
  }
  // A new scheduler reuses id 42: accepted once the old stream is done
  // (the server's OnDone runs asynchronously, hence the retries).
  int code = -1;
  for (int attempt = 0; attempt < 50 && code != 0; ++attempt) {
    grpc::ClientContext ctx;
    std::unique_ptr<Stream> stream = stub_->Execute(&ctx);
    code = Send(*stream, PrefillPlan(1, 42, prompt)).status().code();
    stream->WritesDone();
    stream->Finish().IgnoreError();
    if (code != 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(code, 0);
}

TEST_F(WorkerServiceTest, HealthIsServing) {
  auto health = grpc::health::v1::Health::NewStub(channel_);
  for (const char* service : {"", "llm.worker.v1.Worker"}) {
    grpc::ClientContext ctx;
    grpc::health::v1::HealthCheckRequest req;
    req.set_service(service);
    grpc::health::v1::HealthCheckResponse resp;
    ASSERT_TRUE(health->Check(&ctx, req, &resp).ok()) << service;
    EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING) << service;
  }
}

TEST_F(WorkerServiceTest, MetricsExportKvCapacityAndSteps) {
  const std::string scrape = testing::ScrapeMetrics(server_->metrics_port());
  EXPECT_EQ(testing::MetricValue(scrape, "llm_kv_cache_blocks_total{block_size=\"16\"}"),
            server_->worker().kv_shape().num_blocks);
  EXPECT_NE(scrape.find("llm_worker_step_duration_seconds_bucket"), std::string::npos);
  EXPECT_NE(scrape.find("llm_worker_batch_tokens_bucket"), std::string::npos);
}

}  // namespace
}  // namespace llm
