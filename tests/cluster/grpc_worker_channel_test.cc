// GrpcWorkerChannel's pipelined use against a real worker service on
// loopback: plans submitted back to back (the next written while the
// worker still runs the previous one) are answered in order, a decode
// planned before the previous result arrived computes the token the worker
// sampled itself, and an engine with async scheduling over the channel
// gives the in-process engine's tokens.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "scheduler/engine.h"
#include "scheduler/grpc_worker_channel.h"
#include "tests/cluster/in_process_cluster.h"
#include "tests/worker/generation_harness.h"

namespace llm {
namespace {

std::vector<int32_t> Prompt(int len) {
  std::vector<int32_t> p;
  for (int i = 0; i < len; ++i) p.push_back(300 + (i * 37) % 5000);
  return p;
}

ScheduledChunk Chunk(SeqId id, int32_t num_tokens) {
  ScheduledChunk c;
  c.seq_id = id;
  c.num_tokens = num_tokens;
  c.sample = true;
  return c;
}

std::unique_ptr<LocalWorker> LocalModel() {
  WorkerOptions wo;
  wo.model_path = testing::ClusterModelPath();
  wo.backend = "cpu";
  wo.threads = 1;
  wo.kv_cache_bytes = 8 << 20;
  auto w = LocalWorker::Create(wo);
  EXPECT_TRUE(w.ok()) << w.status();
  return w.ok() ? std::move(*w) : nullptr;
}

class GrpcWorkerChannelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::ClusterModelPresent()) GTEST_SKIP() << "model file absent";
    worker_ = testing::StartWorker();
    ASSERT_NE(worker_, nullptr);
    auto c = GrpcWorkerChannel::Connect(absl::StrCat("127.0.0.1:", worker_->port()),
                                        absl::Seconds(10));
    ASSERT_TRUE(c.ok()) << c.status();
    channel_ = std::move(*c);
  }
  void TearDown() override {
    channel_.reset();  // before the worker: the stream ends first
    worker_.reset();
  }

  std::unique_ptr<WorkerServer> worker_;
  std::unique_ptr<GrpcWorkerChannel> channel_;
};

TEST_F(GrpcWorkerChannelTest, SubmittedStepsAreAnsweredInOrder) {
  const std::vector<int32_t> prompt = Prompt(20);
  auto local = LocalModel();
  ASSERT_NE(local, nullptr);
  const std::vector<testing::Generated> expected =
      testing::Generate(*local, {testing::Greedy(prompt, 4)});
  ASSERT_EQ(expected[0].tokens.size(), 4u);

  // Step 1 prefills and samples token 0; steps 2..4 each compute the token
  // sampled by the step before, all written before any result is read.
  StepPlan prefill;
  prefill.step_id = 1;
  SequenceSpec s;
  s.seq_id = 1;
  s.prompt_tokens = prompt;
  s.params.temperature = 0.0f;
  s.block_table = {0, 1};
  prefill.new_sequences.push_back(s);
  prefill.chunks.push_back(Chunk(1, static_cast<int32_t>(prompt.size())));
  ASSERT_TRUE(channel_->Submit(prefill).ok());
  for (uint64_t step = 2; step <= 4; ++step) {
    StepPlan decode;
    decode.step_id = step;
    decode.chunks.push_back(Chunk(1, 1));
    ASSERT_TRUE(channel_->Submit(decode).ok());
  }
  // Execute needs the pipeline empty.
  EXPECT_EQ(channel_->Execute(StepPlan()).status().code(),
            absl::StatusCode::kFailedPrecondition);
  for (uint64_t step = 1; step <= 4; ++step) {
    absl::StatusOr<StepResult> r = channel_->Await();
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->step_id, step);
    ASSERT_EQ(r->results.size(), 1u);
    ASSERT_EQ(r->results[0].tokens.size(), 1u);
    EXPECT_EQ(r->results[0].tokens[0].token, expected[0].tokens[step - 1]) << "step " << step;
  }
  EXPECT_EQ(channel_->Await().status().code(), absl::StatusCode::kFailedPrecondition);
  StepPlan finish;
  finish.step_id = 5;
  finish.finished = {1};
  absl::StatusOr<StepResult> r = channel_->Execute(finish);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->step_id, 5u);
}

TEST_F(GrpcWorkerChannelTest, AsyncEngineOverGrpcMatchesTheInProcessEngine) {
  std::vector<testing::GenerationSpec> specs;
  for (int i = 0; i < 5; ++i) {
    testing::GenerationSpec g = testing::Greedy(Prompt(3 + 17 * i), 4 + 3 * i);
    g.ignore_eos = true;
    specs.push_back(g);
  }
  auto local = LocalModel();
  ASSERT_NE(local, nullptr);
  const std::vector<testing::Generated> expected = testing::Generate(*local, specs);

  EngineOptions options;
  options.async_scheduling = true;
  options.max_batched_tokens = 40;  // chunked prefills too
  auto engine = Engine::Create(options, *channel_);
  ASSERT_TRUE(engine.ok()) << engine.status();
  ASSERT_TRUE((*engine)->pipelined());
  std::vector<std::vector<int32_t>> got(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    GenerationRequest req;
    req.request_id = absl::StrCat("r", i);
    req.prompt_tokens = specs[i].prompt;
    req.params = specs[i].params;
    req.max_tokens = specs[i].max_tokens;
    req.ignore_eos = true;
    ASSERT_TRUE((*engine)
                    ->Add(req,
                          [&got, i](const SequenceUpdate& u) {
                            for (const SampledToken& t : u.new_tokens) {
                              got[i].push_back(t.token);
                            }
                          })
                    .ok());
  }
  int max_in_flight = 0;
  while ((*engine)->HasWork()) {
    ASSERT_TRUE((*engine)->Step().ok());
    max_in_flight = std::max(max_in_flight, (*engine)->num_steps_in_flight());
  }
  EXPECT_EQ(max_in_flight, 1);  // between Step() calls one step runs
  for (size_t i = 0; i < specs.size(); ++i) EXPECT_EQ(got[i], expected[i].tokens) << i;
  EXPECT_EQ((*engine)->blocks().num_used(), 0);
}

}  // namespace
}  // namespace llm
