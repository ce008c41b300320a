// SIGTERM on a real llm-worker process: a step in progress finishes and its
// result reaches the client, the Execute stream then ends with UNAVAILABLE
// "worker shutting down", and the process exits 0 within seconds; an idle
// stream does not hold the exit up.
#include <signal.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/step_plan.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "llm/worker/v1/worker.grpc.pb.h"
#include "proto/step_plan_proto.h"
#include "tests/cluster/cluster_harness.h"

namespace llm::testing {
namespace {

namespace pb = ::llm::worker::v1;
using ::testing::AnyOf;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

constexpr int kBlockSize = 16;

// A greedy new sequence of `num_tokens` prompt tokens, prefilled whole from
// block `first_block` on and sampled once.
pb::StepPlan PrefillPlan(uint64_t step, SeqId id, int num_tokens, int first_block) {
  StepPlan plan;
  plan.step_id = step;
  SequenceSpec s;
  s.seq_id = id;
  for (int i = 0; i < num_tokens; ++i) s.prompt_tokens.push_back(100 + i % 1000);
  s.params.temperature = 0.0f;
  for (int b = 0; b < (num_tokens + kBlockSize - 1) / kBlockSize; ++b) {
    s.block_table.push_back(first_block + b);
  }
  plan.new_sequences.push_back(s);
  ScheduledChunk c;
  c.seq_id = id;
  c.num_tokens = num_tokens;
  c.sample = true;
  plan.chunks.push_back(c);
  pb::StepPlan out;
  ToProto(plan, &out);
  return out;
}

class WorkerShutdownTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string reason = ClusterSkipReason(); !reason.empty()) GTEST_SKIP() << reason;
    char dir_template[] = "/tmp/llm-worker-shutdown-XXXXXX";
    ASSERT_NE(mkdtemp(dir_template), nullptr);
    log_ = std::string(dir_template) + "/worker.log";
    address_ = absl::StrCat("127.0.0.1:", PickFreePort());
    absl::StatusOr<std::unique_ptr<ChildProcess>> p = ChildProcess::Start(
        {BinPath("llm-worker"), "--model", ModelPath(), "--listen", address_, "--metrics-listen",
         absl::StrCat("127.0.0.1:", PickFreePort()), "--threads", "1", "--kv-cache-bytes",
         std::to_string(64 << 20), "--block-size", std::to_string(kBlockSize)},
        log_);
    ASSERT_TRUE(p.ok()) << p.status();
    worker_ = std::move(*p);
    ASSERT_TRUE(WaitServing(address_, *worker_, std::chrono::seconds(120)).ok()) << Tail(log_);
    stub_ = pb::Worker::NewStub(grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
    stream_ = stub_->Execute(&ctx_);
    // One small step first: the stream is open and the worker is warm.
    pb::StepResult r;
    ASSERT_TRUE(stream_->Write(PrefillPlan(1, 1, 4, 0)));
    ASSERT_TRUE(stream_->Read(&r));
    ASSERT_EQ(r.step_id(), 1u);
  }

  std::string address_;
  std::string log_;
  std::unique_ptr<ChildProcess> worker_;
  std::unique_ptr<pb::Worker::Stub> stub_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<pb::StepPlan, pb::StepResult>> stream_;
};

TEST_F(WorkerShutdownTest, SigtermDuringStepDeliversItsResultThenExitsZero) {
  // A long prefill (hundreds of ms with one thread), signalled while it runs.
  ASSERT_TRUE(stream_->Write(PrefillPlan(2, 2, 512, 1)));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const Clock::time_point signalled = Clock::now();
  ASSERT_EQ(kill(worker_->pid(), SIGTERM), 0);

  pb::StepResult r;
  ASSERT_TRUE(stream_->Read(&r)) << "the running step's result was lost\n" << Tail(log_);
  const Clock::time_point result_at = Clock::now();
  EXPECT_EQ(r.step_id(), 2u);
  EXPECT_FALSE(r.has_status() && r.status().code() != 0) << r.status().message();
  ASSERT_EQ(r.results_size(), 1);
  EXPECT_EQ(r.results(0).seq_id(), 2u);
  EXPECT_EQ(r.results(0).tokens_size(), 1);
  // Otherwise the step ended before the signal and this proved nothing.
  EXPECT_GT(result_at, signalled) << "step finished before SIGTERM; make it longer";

  EXPECT_FALSE(stream_->Read(&r));
  grpc::Status end = stream_->Finish();
  EXPECT_EQ(end.error_code(), grpc::StatusCode::UNAVAILABLE);
  // The worker's own status, unless its shutdown's cancellation overtook
  // it (a busy machine); either way UNAVAILABLE, never a half-sent step.
  EXPECT_THAT(end.error_message(),
              AnyOf(HasSubstr("worker shutting down"), HasSubstr("Cancelling all calls")));
  EXPECT_EQ(worker_->WaitExit(std::chrono::seconds(10)), 0) << Tail(log_);
}

TEST_F(WorkerShutdownTest, SigtermWithIdleStreamExitsZeroPromptly) {
  const Clock::time_point signalled = Clock::now();
  ASSERT_EQ(kill(worker_->pid(), SIGTERM), 0);
  EXPECT_EQ(worker_->WaitExit(std::chrono::seconds(10)), 0) << Tail(log_);
  // No step to wait for: the open stream is cancelled at once rather than
  // after a shutdown deadline (what remains is stopping the metrics server
  // and freeing the model, well under a second when the machine is quiet).
  EXPECT_LT(Clock::now() - signalled, std::chrono::seconds(5));
  pb::StepResult r;
  EXPECT_FALSE(stream_->Read(&r));
  EXPECT_FALSE(stream_->Finish().ok());
  EXPECT_THAT(ReadFile(log_), HasSubstr("llm-worker stopping"));
}

}  // namespace
}  // namespace llm::testing
