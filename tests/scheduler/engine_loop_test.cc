// EngineLoop: requests handed over from other threads run on the loop's own
// thread; cancellation and worker failures end them with the right signal,
// and every block returns to the pool.
#include "scheduler/engine_loop.h"

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/scheduler/fake_worker_channel.h"

namespace llm {
namespace {

// Collects one request's updates, thread-safely.
struct Collector {
  absl::Mutex mu;
  std::vector<std::vector<int32_t>> tokens;
  std::vector<FinishReason> finish;
  int finished = 0;
  absl::Status error;
  absl::Notification done;

  LoopRequest Make(GenerationRequest r) {
    tokens.resize(r.n);
    finish.resize(r.n, FinishReason::kNone);
    LoopRequest lr;
    const int n = r.n;
    lr.request = std::move(r);
    // Notify() only after unlocking: the waiting test may destroy this
    // Collector (and its mutex) as soon as it is notified.
    lr.on_update = [this, n](const SequenceUpdate& u) {
      bool all_done = false;
      {
        absl::MutexLock lock(&mu);
        for (const SampledToken& t : u.new_tokens) tokens[u.sample_index].push_back(t.token);
        if (u.finish_reason != FinishReason::kNone) {
          finish[u.sample_index] = u.finish_reason;
          all_done = ++finished == n;
        }
      }
      if (all_done) done.Notify();
    };
    lr.on_error = [this](const absl::Status& s) {
      {
        absl::MutexLock lock(&mu);
        error = s;
      }
      done.Notify();
    };
    return lr;
  }
  int NumTokens(int i) {
    absl::MutexLock lock(&mu);
    return static_cast<int>(tokens[i].size());
  }
};

GenerationRequest Request(const std::string& id, int n, int max_tokens) {
  GenerationRequest r;
  r.request_id = id;
  r.prompt_tokens = {1, 2, 3, 4, 5, 6, 7};
  r.params.temperature = 0;
  r.n = n;
  r.max_tokens = max_tokens;
  r.ignore_eos = true;
  return r;
}

// Waits until the loop's snapshot shows no block in use.
bool WaitForNoBlocks(const EngineLoop& loop) {
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    if (loop.Stats().blocks_used == 0 && loop.load() == 0) return true;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return false;
}

// The fake worker, 2 ms per step, so that a test can act mid-request.
class SlowChannel : public testing::FakeWorkerChannel {
 public:
  using FakeWorkerChannel::FakeWorkerChannel;
  absl::StatusOr<StepResult> Execute(const StepPlan& plan) override {
    absl::SleepFor(absl::Milliseconds(2));
    return FakeWorkerChannel::Execute(plan);
  }
};

class EngineLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto channel = std::make_unique<SlowChannel>(64, 16, /*context=*/256);
    fake_ = channel.get();
    auto loop = EngineLoop::Start(EngineOptions(), std::move(channel));
    ASSERT_TRUE(loop.ok()) << loop.status();
    loop_ = std::move(*loop);
  }
  testing::FakeWorkerChannel* fake_ = nullptr;  // owned by the loop
  std::unique_ptr<EngineLoop> loop_;
};

TEST_F(EngineLoopTest, SubmittedRequestRunsToCompletion) {
  Collector c;
  loop_->Submit(c.Make(Request("a", 2, 5)));
  ASSERT_TRUE(c.done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_TRUE(c.error.ok());
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(c.NumTokens(i), 5) << i;
    EXPECT_EQ(c.finish[i], FinishReason::kLength) << i;
  }
  EXPECT_TRUE(WaitForNoBlocks(*loop_));
  EXPECT_GT(loop_->Stats().steps, 0);
  EXPECT_EQ(loop_->Stats().blocks_total, 64);
}

TEST_F(EngineLoopTest, CancelEndsTheRequestAndFreesItsBlocks) {
  Collector c;
  loop_->Submit(c.Make(Request("long", 1, 200)));
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (c.NumTokens(0) < 3 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(1));
  loop_->Cancel("long");
  ASSERT_TRUE(c.done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(c.finish[0], FinishReason::kCancelled);
  EXPECT_LT(c.NumTokens(0), 200);
  EXPECT_TRUE(WaitForNoBlocks(*loop_));
}

TEST_F(EngineLoopTest, FailedStepEndsRequestsWithTheChannelStatus) {
  fake_->fail_next = true;  // the loop is idle: nothing reads it concurrently
  Collector c;
  loop_->Submit(c.Make(Request("doomed", 2, 5)));
  ASSERT_TRUE(c.done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(c.error.code(), absl::StatusCode::kUnavailable) << c.error;
  EXPECT_EQ(c.finished, 0);  // no kError update leaks past on_error
  EXPECT_TRUE(WaitForNoBlocks(*loop_));

  // The loop keeps serving afterwards.
  Collector next;
  loop_->Submit(next.Make(Request("next", 1, 3)));
  ASSERT_TRUE(next.done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_TRUE(next.error.ok());
  EXPECT_EQ(next.NumTokens(0), 3);
}

TEST_F(EngineLoopTest, RequestTheEngineRefusesGetsOnError) {
  Collector c;
  GenerationRequest r = Request("too-long", 1, 10);
  r.prompt_tokens.assign(300, 5);  // beyond the 256-token context
  loop_->Submit(c.Make(std::move(r)));
  ASSERT_TRUE(c.done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(c.error.code(), absl::StatusCode::kInvalidArgument) << c.error;
  EXPECT_EQ(loop_->load(), 0);
}

// A worker that can die and come back: while down, steps and connection
// attempts fail; coming back gives a fresh session.
class RestartableChannel : public SlowChannel {
 public:
  using SlowChannel::SlowChannel;
  absl::StatusOr<StepResult> Execute(const StepPlan& plan) override {
    if (down.load()) return absl::UnavailableError("fake worker is down");
    return SlowChannel::Execute(plan);
  }
  absl::Status Reconnect(absl::Duration) override {
    if (down.load()) return absl::UnavailableError("fake worker is not reachable");
    reconnects.fetch_add(1);
    ResetSession();
    return absl::OkStatus();
  }
  std::atomic<bool> down{false};
  std::atomic<int> reconnects{0};
};

LoopOptions FastRetries() {
  LoopOptions o;
  o.name = "fake:1";
  o.initial_backoff = absl::Milliseconds(5);
  o.max_backoff = absl::Milliseconds(20);
  return o;
}

bool WaitUntil(const std::function<bool()>& condition) {
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    if (condition()) return true;
    absl::SleepFor(absl::Milliseconds(2));
  }
  return false;
}

TEST(EngineLoopFailureTest, DeadWorkerMakesTheGroupUnavailableUntilItComesBack) {
  auto channel = std::make_unique<RestartableChannel>(64, 16, /*context=*/512);
  RestartableChannel* worker = channel.get();
  std::atomic<int> changes{0};
  LoopOptions options = FastRetries();
  options.on_availability_change = [&changes] { changes.fetch_add(1); };
  std::unique_ptr<EngineLoop> loop = EngineLoop::StartConnecting(options, std::move(channel));
  ASSERT_TRUE(loop->WaitFirstAttempt().ok());
  ASSERT_TRUE(WaitUntil([&] { return loop->available(); }));

  Collector running;
  loop->Submit(running.Make(Request("running", 1, 400)));
  ASSERT_TRUE(WaitUntil([&] { return running.NumTokens(0) >= 3; }));
  const int64_t steps_before = loop->Stats().steps;
  worker->down = true;
  ASSERT_TRUE(running.done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(running.error.code(), absl::StatusCode::kUnavailable) << running.error;
  ASSERT_TRUE(WaitUntil([&] { return !loop->available(); }));
  EXPECT_TRUE(absl::IsUnavailable(loop->availability()));

  // While down, a request is handed back at once, not queued.
  Collector bounced;
  loop->Submit(bounced.Make(Request("bounced", 1, 3)));
  ASSERT_TRUE(bounced.done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(bounced.error.code(), absl::StatusCode::kUnavailable) << bounced.error;
  EXPECT_EQ(loop->Stats().blocks_used, 0);
  EXPECT_EQ(loop->load(), 0);

  worker->down = false;
  ASSERT_TRUE(WaitUntil([&] { return loop->available(); }));
  EXPECT_GE(worker->reconnects.load(), 2);
  Collector after;
  loop->Submit(after.Make(Request("after", 1, 4)));
  ASSERT_TRUE(after.done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_TRUE(after.error.ok()) << after.error;
  EXPECT_EQ(after.NumTokens(0), 4);
  EXPECT_TRUE(WaitForNoBlocks(*loop));
  const LoopStats stats = loop->Stats();
  EXPECT_EQ(stats.worker_failures, 1);
  EXPECT_GT(stats.steps, steps_before);  // counters survive the new engine
  EXPECT_GE(changes.load(), 3);          // up, down, up
}

TEST(EngineLoopFailureTest, UnreachableWorkerAtStartIsRetriedInTheBackground) {
  auto channel = std::make_unique<RestartableChannel>(64, 16);
  RestartableChannel* worker = channel.get();
  worker->down = true;
  std::unique_ptr<EngineLoop> loop = EngineLoop::StartConnecting(FastRetries(), std::move(channel));
  const absl::Status first = loop->WaitFirstAttempt();
  EXPECT_EQ(first.code(), absl::StatusCode::kUnavailable) << first;
  EXPECT_FALSE(loop->available());
  EXPECT_NE(loop->availability().message().find("fake:1"), absl::string_view::npos)
      << loop->availability();
  worker->down = false;
  ASSERT_TRUE(WaitUntil([&] { return loop->available(); }));
  EXPECT_EQ(loop->Stats().blocks_total, 64);
}

TEST(EngineLoopFailureTest, WorkerFailingValidationIsReportedByTheFirstAttempt) {
  LoopOptions options = FastRetries();
  options.validate = [](const WorkerDescription& d) {
    return absl::FailedPreconditionError(absl::StrCat("block size ", d.block_size));
  };
  std::unique_ptr<EngineLoop> loop = EngineLoop::StartConnecting(
      options, std::make_unique<RestartableChannel>(64, 16));
  const absl::Status first = loop->WaitFirstAttempt();
  EXPECT_EQ(first.code(), absl::StatusCode::kFailedPrecondition) << first;
  EXPECT_FALSE(loop->available());
}

TEST_F(EngineLoopTest, CancelSampleEndsOnlyThatSample) {
  Collector c;
  loop_->Submit(c.Make(Request("pair", 2, 200)));
  ASSERT_TRUE(WaitUntil([&] { return c.NumTokens(1) >= 2; }));
  loop_->CancelSample("pair", 1);
  ASSERT_TRUE(c.done.WaitForNotificationWithTimeout(absl::Seconds(20)));
  EXPECT_EQ(c.finish[1], FinishReason::kCancelled);
  EXPECT_EQ(c.finish[0], FinishReason::kLength);
  EXPECT_EQ(c.NumTokens(0), 200);
  EXPECT_LT(c.NumTokens(1), 200);
  EXPECT_TRUE(WaitForNoBlocks(*loop_));
}

}  // namespace
}  // namespace llm
