// Prefix-aware routing across two worker groups (in-process servers on
// loopback): a request whose prompt shares a long prefix with one that ran
// on a busier group still goes there and hits that group's prefix cache;
// with --routing least-loaded it goes to the idler group and computes it all.
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/cluster/in_process_cluster.h"

namespace llm {
namespace {

using testing::GenerateOutcome;
using testing::RunGenerate;

v1::GenerateRequest Greedy(const std::string& text, int max_tokens) {
  v1::GenerateRequest r;
  r.set_text(text);
  r.set_max_tokens(max_tokens);
  r.set_ignore_eos(true);
  r.mutable_sampling()->set_temperature(0);
  return r;
}

std::string SystemPrompt() {
  std::string s = "You are a meticulous assistant for a travel agency. ";
  for (int i = 0; i < 12; ++i) {
    absl::StrAppend(&s, "Rule ", i, ": always answer politely and mention the weather. ");
  }
  return s;
}

// Cached prompt tokens of a shared-prefix request sent while group 0 and
// group 1 each run one long unrelated request, after the prefix ran on
// group 1 alone.
int CachedTokensOfSharedPrefixRequest(const std::string& routing) {
  std::vector<std::unique_ptr<WorkerServer>> workers;
  workers.push_back(testing::StartWorker());
  workers.push_back(testing::StartWorker());
  if (workers[0] == nullptr || workers[1] == nullptr) return -1;
  SchedulerOptions o = testing::DefaultSchedulerOptions(*workers[0]);
  o.workers.push_back(absl::StrCat("127.0.0.1:", workers[1]->port()));
  o.routing = routing;
  absl::StatusOr<std::unique_ptr<SchedulerServer>> scheduler = SchedulerServer::Start(o);
  EXPECT_TRUE(scheduler.ok()) << scheduler.status();
  if (!scheduler.ok()) return -1;
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*scheduler)->port()),
                                     grpc::InsecureChannelCredentials());
  auto stub = v1::Inference::NewStub(channel);

  auto running_on = [&](int group) {
    return (*scheduler)->service().Info().worker_groups(group).num_running() > 0;
  };
  auto wait = [](const std::function<bool()>& f) {
    for (int i = 0; i < 600 && !f(); ++i) absl::SleepFor(absl::Milliseconds(50));
    return f();
  };
  // A long request that keeps its group busy until cancelled.
  struct Background {
    grpc::ClientContext ctx;
    std::thread reader;
  };
  auto occupy = [&](Background& b, const std::string& text) {
    b.reader = std::thread([&b, &stub, text] {
      auto stream = stub->Generate(&b.ctx, Greedy(text, 1500));
      v1::GenerateResponse r;
      while (stream->Read(&r)) {
      }
      stream->Finish().IgnoreError();
    });
  };
  // Group 0 busy; the shared prefix runs on group 1 (the idler one).
  Background long0, long1;
  occupy(long0, "Tell me a long story.");
  EXPECT_TRUE(wait([&] { return running_on(0); }));
  GenerateOutcome first = RunGenerate(*stub, Greedy(SystemPrompt() + "Where is Rome?", 2));
  EXPECT_TRUE(first.status.ok()) << first.status.error_message();
  // Group 1 busy too: both have one request in flight.
  occupy(long1, "Write a long poem.");
  EXPECT_TRUE(wait([&] { return running_on(0) && running_on(1); }));
  GenerateOutcome second = RunGenerate(*stub, Greedy(SystemPrompt() + "Where is Oslo?", 2));
  EXPECT_TRUE(second.status.ok()) << second.status.error_message();
  for (Background* b : {&long0, &long1}) {
    b->ctx.TryCancel();
    b->reader.join();
  }
  const int cached = second.messages.empty()
                         ? -1
                         : static_cast<int>(second.messages.back().usage().cached_tokens());
  scheduler->reset();
  return cached;
}

TEST(PrefixRoutingTest, SharedPrefixGoesToTheGroupThatCachedIt) {
  if (!testing::ClusterModelPresent()) GTEST_SKIP() << "model file absent";
  EXPECT_GE(CachedTokensOfSharedPrefixRequest("prefix"), 128);
}

TEST(PrefixRoutingTest, LeastLoadedRoutingIgnoresTheCache) {
  if (!testing::ClusterModelPresent()) GTEST_SKIP() << "model file absent";
  EXPECT_EQ(CachedTokensOfSharedPrefixRequest("least-loaded"), 0);
}

}  // namespace
}  // namespace llm
