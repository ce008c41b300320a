// Error paths of the cluster with the real processes: every malformed field
// of a Generate request gets INVALID_ARGUMENT naming it, a full admission
// queue gets RESOURCE_EXHAUSTED, and a scheduler whose worker is not
// reachable at start-up exits non-zero with a clear message.
#include <functional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/cluster/cluster_harness.h"
#include "tests/cluster/generate_client.h"

namespace llm::testing {
namespace {

using ::testing::HasSubstr;

struct BadField {
  const char* what;
  std::function<void(v1::GenerateRequest&, const v1::ModelInfo&)> mutate;
  const char* message_names;  // a substring the message must contain
};

TEST(ClusterErrorsTest, EveryMalformedFieldGetsInvalidArgumentNamingIt) {
  if (std::string reason = ClusterSkipReason(); !reason.empty()) GTEST_SKIP() << reason;
  absl::StatusOr<std::unique_ptr<LocalCluster>> cluster = LocalCluster::Start({});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  auto stub = MakeStub((*cluster)->address());
  const v1::ModelInfo info = GetInfo(*stub);
  ASSERT_GT(info.vocab_size(), 0);

  using R = v1::GenerateRequest;
  using I = v1::ModelInfo;
  const std::vector<BadField> cases = {
      {"no prompt", [](R& r, const I&) { r.clear_prompt(); }, "prompt"},
      {"empty text", [](R& r, const I&) { r.set_text(""); }, "prompt.text"},
      {"empty token ids", [](R& r, const I&) { r.mutable_token_ids(); }, "prompt.token_ids"},
      {"negative token id", [](R& r, const I&) { r.mutable_token_ids()->add_ids(-1); },
       "prompt.token_ids[0]"},
      {"token id past the vocabulary",
       [](R& r, const I& i) { r.mutable_token_ids()->add_ids(i.vocab_size()); },
       "prompt.token_ids[0]"},
      {"prompt longer than the context",
       [](R& r, const I& i) {
         for (int k = 0; k < i.context_length(); ++k) r.mutable_token_ids()->add_ids(100);
       },
       "context"},
      {"chat without messages", [](R& r, const I&) { r.mutable_chat(); }, "chat.messages"},
      {"chat role unknown",
       [](R& r, const I&) {
         v1::ChatMessage* m = r.mutable_chat()->add_messages();
         m->set_role("robot");
         m->set_content("hi");
       },
       "chat."},
      {"temperature < 0", [](R& r, const I&) { r.mutable_sampling()->set_temperature(-1); },
       "sampling.temperature"},
      {"temperature > 100", [](R& r, const I&) { r.mutable_sampling()->set_temperature(101); },
       "sampling.temperature"},
      {"top_k < -1", [](R& r, const I&) { r.mutable_sampling()->set_top_k(-2); },
       "sampling.top_k"},
      {"top_p = 0", [](R& r, const I&) { r.mutable_sampling()->set_top_p(0); },
       "sampling.top_p"},
      {"top_p > 1", [](R& r, const I&) { r.mutable_sampling()->set_top_p(1.5f); },
       "sampling.top_p"},
      {"min_p < 0", [](R& r, const I&) { r.mutable_sampling()->set_min_p(-0.1f); },
       "sampling.min_p"},
      {"min_p > 1", [](R& r, const I&) { r.mutable_sampling()->set_min_p(1.5f); },
       "sampling.min_p"},
      {"repetition_penalty = 0",
       [](R& r, const I&) { r.mutable_sampling()->set_repetition_penalty(0); },
       "sampling.repetition_penalty"},
      {"presence_penalty > 2",
       [](R& r, const I&) { r.mutable_sampling()->set_presence_penalty(3); },
       "sampling.presence_penalty"},
      {"frequency_penalty < -2",
       [](R& r, const I&) { r.mutable_sampling()->set_frequency_penalty(-3); },
       "sampling.frequency_penalty"},
      {"logprobs > 20", [](R& r, const I&) { r.mutable_sampling()->set_logprobs(21); },
       "sampling.logprobs"},
      {"n = 0", [](R& r, const I&) { r.set_n(0); }, "n must be"},
      {"n > 16", [](R& r, const I&) { r.set_n(17); }, "n must be"},
      {"max_tokens = 0", [](R& r, const I&) { r.set_max_tokens(0); }, "max_tokens"},
      {"max_tokens past the context",
       [](R& r, const I& i) { r.set_max_tokens(i.context_length()); }, "max_tokens"},
      {"empty stop string", [](R& r, const I&) { r.add_stop(""); }, "stop[0]"},
      {"17 stop strings",
       [](R& r, const I&) {
         for (int k = 0; k < 17; ++k) r.add_stop(absl::StrCat("stop", k));
       },
       "stop"},
      {"negative stop token id", [](R& r, const I&) { r.add_stop_token_ids(-1); },
       "stop_token_ids[0]"},
      {"num_speculative_tokens < 0",
       [](R& r, const I&) { r.set_num_speculative_tokens(-1); }, "num_speculative_tokens"},
      {"num_speculative_tokens > 32",
       [](R& r, const I&) { r.set_num_speculative_tokens(33); }, "num_speculative_tokens"},
      {"request_id too long", [](R& r, const I&) { r.set_request_id(std::string(300, 'x')); },
       "request_id"},
  };
  for (const BadField& c : cases) {
    SCOPED_TRACE(c.what);
    v1::GenerateRequest req = TextRequest("Hello there", 4);
    c.mutate(req, info);
    const GenerateResult r = RunGenerate(*stub, req, -1, std::chrono::seconds(30));
    EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << r.status.error_message();
    EXPECT_THAT(r.status.error_message(), HasSubstr(c.message_names));
    EXPECT_TRUE(r.samples.empty());
  }
  // Tokenize validates the same way.
  grpc::ClientContext ctx;
  v1::TokenizeResponse resp;
  const grpc::Status s = stub->Tokenize(&ctx, v1::TokenizeRequest(), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  // A well-formed request still works afterwards.
  const GenerateResult ok = RunGenerate(*stub, TextRequest("Hello there", 4));
  EXPECT_TRUE(ok.status.ok()) << ok.status.error_message();
  EXPECT_EQ(ok.samples.at(0).token_ids.size(), 4u);
}

TEST(ClusterErrorsTest, FullAdmissionQueueGetsResourceExhausted) {
  if (std::string reason = ClusterSkipReason(); !reason.empty()) GTEST_SKIP() << reason;
  ClusterOptions o;
  // One running sequence, two waiting: the fourth concurrent request finds
  // the queue full.
  o.scheduler_flags = {"--max-num-seqs", "1", "--max-queue", "2"};
  absl::StatusOr<std::unique_ptr<LocalCluster>> cluster = LocalCluster::Start(o);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  auto stub = MakeStub((*cluster)->address());

  constexpr int kClients = 10;
  std::vector<GenerateResult> results(kClients);
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      v1::GenerateRequest req = TextRequest(absl::StrCat("Count to one hundred: ", i), 64);
      req.set_ignore_eos(true);
      results[i] = RunGenerate(*stub, req);
    });
  }
  for (std::thread& t : threads) t.join();
  int ok = 0, exhausted = 0;
  for (const GenerateResult& r : results) {
    if (r.status.ok()) {
      ++ok;
      EXPECT_EQ(r.samples.at(0).token_ids.size(), 64u);
    } else {
      EXPECT_EQ(r.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
          << r.status.error_message();
      EXPECT_FALSE(r.status.error_message().empty());
      ++exhausted;
    }
  }
  // The queue's two places complete, and the running slot's one when the
  // engine admitted it before the burst filled the queue; the rest of the
  // burst cannot have fitted (64 tokens take far longer than the burst).
  EXPECT_GE(ok, 2);
  EXPECT_LE(ok, 3);
  EXPECT_GE(exhausted, 1);
  EXPECT_EQ(ok + exhausted, kClients);
  const std::string metrics = HttpGet((*cluster)->metrics_port());
  EXPECT_GE(MetricValue(metrics, "llm_requests_total").value_or(0), ok) << metrics;
}

TEST(ClusterErrorsTest, UnreachableWorkerIsAClearErrorAndIsRetriedUntilItAppears) {
  if (std::string reason = ClusterSkipReason(); !reason.empty()) GTEST_SKIP() << reason;
  const std::string worker = absl::StrCat("127.0.0.1:", PickFreePort());
  const std::string address = absl::StrCat("127.0.0.1:", PickFreePort());
  const std::string log = ::testing::TempDir() + "/unreachable_scheduler.log";
  std::remove(log.c_str());
  absl::StatusOr<std::unique_ptr<ChildProcess>> scheduler = ChildProcess::Start(
      {BinPath("llm-scheduler"), "--model", ModelPath(), "--listen", address,
       "--metrics-listen", absl::StrCat("127.0.0.1:", PickFreePort()), "--workers", worker,
       "--connect-timeout", "1"},
      log);
  ASSERT_TRUE(scheduler.ok()) << scheduler.status();

  // Up, NOT_SERVING, and saying why: on the log and to clients.
  auto stub = MakeStub(address);
  GenerateResult r;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  do {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    r = RunGenerate(*stub, [] {
      v1::GenerateRequest req;
      req.set_text("Hello");
      req.set_max_tokens(2);
      return req;
    }());
  } while ((r.status.error_code() != grpc::StatusCode::UNAVAILABLE ||
            r.status.error_message().find("not reachable") == std::string::npos) &&
           std::chrono::steady_clock::now() < deadline);
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(r.status.error_message(), HasSubstr(worker));
  EXPECT_THAT(r.status.error_message(), HasSubstr("not reachable"));
  EXPECT_FALSE(IsServing(address));
  EXPECT_TRUE((*scheduler)->Running()) << Tail(log);
  const std::string output = ReadFile(log);
  EXPECT_THAT(output, HasSubstr(worker));
  EXPECT_THAT(output, HasSubstr("not reachable"));

  // The worker appears: the scheduler finds it and serves.
  absl::StatusOr<std::unique_ptr<ChildProcess>> w = ChildProcess::Start(
      {BinPath("llm-worker"), "--model", ModelPath(), "--listen", worker, "--metrics-listen",
       absl::StrCat("127.0.0.1:", PickFreePort()), "--threads", "1", "--kv-cache-bytes",
       absl::StrCat(16 << 20)},
      ::testing::TempDir() + "/unreachable_worker.log");
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_TRUE(WaitServing(address, **scheduler, std::chrono::seconds(120)).ok()) << Tail(log);
  v1::GenerateRequest req;
  req.set_text("Hello");
  req.set_max_tokens(2);
  r = RunGenerate(*stub, req);
  EXPECT_TRUE(r.status.ok()) << r.status.error_message();
  (*scheduler)->Stop(std::chrono::seconds(15));
}

}  // namespace
}  // namespace llm::testing
