// Speculative decoding through the real services (scheduler + worker over
// gRPC on loopback, in process): GenerateRequest.num_speculative_tokens
// turns speculation off or on per request without changing greedy output,
// the scheduler's Prometheus counters move only for speculating requests,
// and draft-model speculation against a worker without a draft model is a
// start-up error.
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/cluster/in_process_cluster.h"

namespace llm {
namespace {

using testing::ClusterModelPath;
using testing::ClusterModelPresent;
using testing::GreedyText;
using testing::RunGenerate;
using testing::ScrapeMetrics;

// The value of `name{source="<source>"}` in a scrape; -1 when absent.
double SpecCounter(const std::string& scrape, const std::string& name,
                   const std::string& source) {
  const std::string key = absl::StrCat("\n", name, "{source=\"", source, "\"} ");
  const size_t at = scrape.find(key);
  if (at == std::string::npos) return -1;
  return std::stod(scrape.substr(at + key.size()));
}

struct Counters {
  double verifications, drafts, accepted;
};

Counters Scrape(int port, const std::string& source) {
  const std::string s = ScrapeMetrics(port);
  return {SpecCounter(s, "llm_spec_decode_verifications_total", source),
          SpecCounter(s, "llm_spec_decode_draft_tokens_total", source),
          SpecCounter(s, "llm_spec_decode_accepted_tokens_total", source)};
}

// Repetitive text, so prompt lookup finds drafts at once.
constexpr char kPrompt[] =
    "red green blue yellow red green blue yellow red green blue yellow red green";

TEST(SpeculativeClusterTest, RequestTurnsSpeculationOffOrOnAndCountersFollow) {
  if (!ClusterModelPresent()) GTEST_SKIP() << "no " << ClusterModelPath();
  auto cluster = testing::StartCluster([](SchedulerOptions& o) {
    o.speculative.source = DraftSource::kNgram;
    o.speculative.num_speculative_tokens = 4;
  });
  ASSERT_NE(cluster, nullptr);
  const int port = cluster->scheduler->metrics_port();
  const Counters start = Scrape(port, "ngram");
  // Both sources are exported from the start, at 0.
  EXPECT_EQ(start.drafts, 0);
  EXPECT_EQ(Scrape(port, "draft_model").drafts, 0);

  v1::GenerateRequest off = GreedyText(kPrompt, 16);
  off.set_num_speculative_tokens(0);
  const testing::GenerateOutcome plain = RunGenerate(*cluster->stub, off);
  ASSERT_TRUE(plain.status.ok()) << plain.status.error_message();
  ASSERT_EQ(plain.Tokens().size(), 16u);
  const Counters after_off = Scrape(port, "ngram");
  EXPECT_EQ(after_off.verifications, 0);
  EXPECT_EQ(after_off.drafts, 0);

  v1::GenerateRequest on = GreedyText(kPrompt, 16);
  on.set_num_speculative_tokens(3);
  const testing::GenerateOutcome spec = RunGenerate(*cluster->stub, on);
  ASSERT_TRUE(spec.status.ok()) << spec.status.error_message();
  EXPECT_EQ(spec.Tokens(), plain.Tokens());
  EXPECT_EQ(spec.Text(), plain.Text());
  const Counters after_on = Scrape(port, "ngram");
  EXPECT_GT(after_on.verifications, 0);
  EXPECT_GE(after_on.drafts, after_on.verifications);
  // At most K = 3 drafts per verification: the request's K, not the default 4.
  EXPECT_LE(after_on.drafts, 3 * after_on.verifications);
  EXPECT_GE(after_on.accepted, 0);
  EXPECT_LE(after_on.accepted, after_on.drafts);

  // Unset: the deployment's default (speculates too).
  const testing::GenerateOutcome dflt = RunGenerate(*cluster->stub, GreedyText(kPrompt, 16));
  ASSERT_TRUE(dflt.status.ok());
  EXPECT_EQ(dflt.Tokens(), plain.Tokens());
  EXPECT_GT(Scrape(port, "ngram").drafts, after_on.drafts);
  EXPECT_EQ(Scrape(port, "draft_model").drafts, 0);
}

TEST(SpeculativeClusterTest, DraftModelNeedsAWorkerWithADraftModel) {
  if (!ClusterModelPresent()) GTEST_SKIP() << "no " << ClusterModelPath();
  std::unique_ptr<WorkerServer> worker = testing::StartWorker();  // no draft model
  ASSERT_NE(worker, nullptr);
  SchedulerOptions o = testing::DefaultSchedulerOptions(*worker);
  o.speculative.source = DraftSource::kDraftModel;
  o.speculative.num_speculative_tokens = 3;
  absl::StatusOr<std::unique_ptr<SchedulerServer>> s = SchedulerServer::Start(o);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.status().message().find("draft model"), std::string::npos) << s.status();
}

TEST(SpeculativeClusterTest, DraftModelSpeculationThroughTheWorker) {
  if (!ClusterModelPresent()) GTEST_SKIP() << "no " << ClusterModelPath();
  // The model as its own draft: every greedy draft is accepted.
  WorkerServerOptions wo;
  wo.worker.model_path = ClusterModelPath();
  wo.worker.draft_model_path = ClusterModelPath();
  wo.worker.backend = "cpu";
  wo.worker.threads = 1;
  wo.worker.kv_cache_bytes = 32 << 20;
  wo.listen = "127.0.0.1:0";
  wo.metrics_listen = "127.0.0.1:0";
  absl::StatusOr<std::unique_ptr<WorkerServer>> worker = WorkerServer::Start(wo);
  ASSERT_TRUE(worker.ok()) << worker.status();
  SchedulerOptions o = testing::DefaultSchedulerOptions(**worker);
  o.speculative.source = DraftSource::kDraftModel;
  o.speculative.num_speculative_tokens = 3;
  absl::StatusOr<std::unique_ptr<SchedulerServer>> scheduler = SchedulerServer::Start(o);
  ASSERT_TRUE(scheduler.ok()) << scheduler.status();
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*scheduler)->port()),
                                     grpc::InsecureChannelCredentials());
  auto stub = v1::Inference::NewStub(channel);
  v1::GenerateRequest off = GreedyText("The capital of France is", 12);
  off.set_num_speculative_tokens(0);
  const testing::GenerateOutcome plain = RunGenerate(*stub, off);
  ASSERT_TRUE(plain.status.ok()) << plain.status.error_message();
  const testing::GenerateOutcome spec =
      RunGenerate(*stub, GreedyText("The capital of France is", 12));
  ASSERT_TRUE(spec.status.ok()) << spec.status.error_message();
  EXPECT_EQ(spec.Tokens(), plain.Tokens());
  const Counters c = Scrape((*scheduler)->metrics_port(), "draft_model");
  EXPECT_GT(c.verifications, 0);
  EXPECT_EQ(c.accepted, c.drafts);  // its own draft is always right
  EXPECT_GT(c.accepted, 0);
  // The same counts reach the client in the sample's usage.
  ASSERT_FALSE(spec.messages.empty());
  const v1::Usage& usage = spec.messages.back().usage();
  EXPECT_EQ(usage.proposed_draft_tokens(), static_cast<int>(c.drafts));
  EXPECT_EQ(usage.accepted_draft_tokens(), static_cast<int>(c.accepted));
  EXPECT_EQ(plain.messages.back().usage().proposed_draft_tokens(), 0);
  EXPECT_EQ(Scrape((*scheduler)->metrics_port(), "ngram").drafts, 0);
  stub.reset();
  channel.reset();
  scheduler->reset();  // before the worker
}

}  // namespace
}  // namespace llm
