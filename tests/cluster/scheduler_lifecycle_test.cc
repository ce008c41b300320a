// llm-scheduler's life cycle with real workers on loopback in this process:
// NOT_SERVING until the workers are connected, a clear error when one is
// unreachable, RESOURCE_EXHAUSTED when the queue is full, requests spread
// over worker groups, "a+b" ranks driven as one group, UNAVAILABLE when the worker dies, and a drain that
// refuses new work while in-flight streams finish. Each test has a cluster
// of its own (one scheduler per worker: sequence ids are the scheduler's).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/cluster/in_process_cluster.h"

namespace llm {
namespace {

using testing::GenerateOutcome;
using testing::GreedyText;
using testing::RunGenerate;
using testing::WaitForInfo;

TEST(SchedulerServiceQueueTest, FullQueueIsResourceExhausted) {
  if (!testing::ClusterModelPresent()) GTEST_SKIP() << "model file absent";
  auto cluster = testing::StartCluster([](SchedulerOptions& o) {
    o.max_num_seqs = 1;
    o.max_queue = 1;
  });
  ASSERT_NE(cluster, nullptr);
  v1::GenerateRequest long_request;
  long_request.set_text("Once upon a time");
  long_request.set_max_tokens(2000);
  long_request.set_ignore_eos(true);

  // The first runs (it streams), the second waits (one sequence per step).
  grpc::ClientContext first_ctx;
  auto first = cluster->stub->Generate(&first_ctx, long_request);
  v1::GenerateResponse m;
  ASSERT_TRUE(first->Read(&m));
  grpc::ClientContext second_ctx;
  auto second = cluster->stub->Generate(&second_ctx, long_request);
  ASSERT_TRUE(WaitForInfo(*cluster->stub, [](const v1::ModelInfo& i) {
    return i.worker_groups(0).num_waiting() == 1;
  }));

  GenerateOutcome third = RunGenerate(*cluster->stub, long_request);
  EXPECT_EQ(third.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(third.status.error_message().find("queue"), std::string::npos)
      << third.status.error_message();

  first_ctx.TryCancel();
  second_ctx.TryCancel();
  first->Finish().IgnoreError();
  second->Finish().IgnoreError();
  EXPECT_TRUE(WaitForInfo(*cluster->stub, [](const v1::ModelInfo& i) {
    return i.num_kv_blocks_used() == 0;
  }));
}

TEST(SchedulerServiceGroupsTest, RequestsSpreadOverWorkerGroups) {
  if (!testing::ClusterModelPresent()) GTEST_SKIP() << "model file absent";
  std::unique_ptr<WorkerServer> second = testing::StartWorker();
  ASSERT_NE(second, nullptr);
  auto cluster = testing::StartCluster([&](SchedulerOptions& o) {
    o.workers.push_back(absl::StrCat("127.0.0.1:", second->port()));
  });
  ASSERT_NE(cluster, nullptr);
  v1::GenerateRequest r;
  r.set_text("Once upon a time");
  r.set_max_tokens(2000);
  r.set_ignore_eos(true);
  grpc::ClientContext ctx1, ctx2;
  auto s1 = cluster->stub->Generate(&ctx1, r);
  auto s2 = cluster->stub->Generate(&ctx2, r);
  v1::GenerateResponse m;
  ASSERT_TRUE(s1->Read(&m));
  ASSERT_TRUE(s2->Read(&m));
  // Least loaded: one request in each group.
  EXPECT_TRUE(WaitForInfo(*cluster->stub, [](const v1::ModelInfo& i) {
    return i.worker_groups_size() == 2 && i.worker_groups(0).num_running() == 1 &&
           i.worker_groups(1).num_running() == 1;
  }));
  ctx1.TryCancel();
  ctx2.TryCancel();
  s1->Finish().IgnoreError();
  s2->Finish().IgnoreError();
  EXPECT_TRUE(WaitForInfo(*cluster->stub, [](const v1::ModelInfo& i) {
    return i.num_kv_blocks_used() == 0;
  }));
  cluster.reset();  // the scheduler goes before its second worker
}

TEST(SchedulerServiceGroupsTest, PlusJoinedRanksFormOneGroup) {
  if (!testing::ClusterModelPresent()) GTEST_SKIP() << "model file absent";
  std::unique_ptr<WorkerServer> second = testing::StartWorker();
  ASSERT_NE(second, nullptr);
  auto cluster = testing::StartCluster([&](SchedulerOptions& o) {
    o.workers[0] += absl::StrCat("+127.0.0.1:", second->port());
  });
  ASSERT_NE(cluster, nullptr);
  grpc::ClientContext ctx;
  v1::ModelInfo info;
  ASSERT_TRUE(cluster->stub->GetModelInfo(&ctx, v1::GetModelInfoRequest(), &info).ok());
  ASSERT_EQ(info.worker_groups_size(), 1);
  EXPECT_EQ(info.worker_groups(0).addresses_size(), 2);
  GenerateOutcome out = RunGenerate(*cluster->stub, GreedyText("The capital of France is", 6));
  ASSERT_TRUE(out.status.ok()) << out.status.error_message();
  EXPECT_EQ(out.Tokens().size(), 6u);
  cluster.reset();  // the scheduler goes before its second rank
}

TEST(SchedulerServiceWorkerLossTest, StreamsFailUnavailableWhenTheWorkerDies) {
  if (!testing::ClusterModelPresent()) GTEST_SKIP() << "model file absent";
  auto cluster = testing::StartCluster();
  ASSERT_NE(cluster, nullptr);
  v1::GenerateRequest r;
  r.set_text("Once upon a time");
  r.set_max_tokens(2000);
  r.set_ignore_eos(true);
  grpc::ClientContext ctx;
  auto stream = cluster->stub->Generate(&ctx, r);
  v1::GenerateResponse m;
  ASSERT_TRUE(stream->Read(&m));
  cluster->worker.reset();
  while (stream->Read(&m)) {
  }
  const grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(status.error_message().find("worker at"), std::string::npos)
      << status.error_message();
  // Later requests fail the same way instead of hanging.
  GenerateOutcome later = RunGenerate(*cluster->stub, GreedyText("Hi", 2), absl::Seconds(30));
  EXPECT_EQ(later.status.error_code(), grpc::StatusCode::UNAVAILABLE);
}

// A loopback port nobody listens on (bound, then closed).
int UnusedPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

grpc::health::v1::HealthCheckResponse::ServingStatus Health(int port) {
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                                     grpc::InsecureChannelCredentials());
  auto health = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
  grpc::health::v1::HealthCheckRequest req;
  req.set_service("llm.v1.Inference");
  grpc::health::v1::HealthCheckResponse resp;
  if (!health->Check(&ctx, req, &resp).ok()) return grpc::health::v1::HealthCheckResponse::UNKNOWN;
  return resp.status();
}

TEST(SchedulerServiceStartTest, NotServingUntilTheWorkersAreConnected) {
  if (!testing::ClusterModelPresent()) GTEST_SKIP() << "model file absent";
  const int worker_port = UnusedPort();
  const int scheduler_port = UnusedPort();
  SchedulerOptions o;
  o.model_path = testing::ClusterModelPath();
  o.listen = absl::StrCat("127.0.0.1:", scheduler_port);
  o.metrics_listen = "127.0.0.1:0";
  o.workers = {absl::StrCat("127.0.0.1:", worker_port)};
  o.connect_timeout = absl::Seconds(60);
  absl::StatusOr<std::unique_ptr<SchedulerServer>> scheduler;
  std::thread start([&] { scheduler = SchedulerServer::Start(o); });

  auto status = grpc::health::v1::HealthCheckResponse::UNKNOWN;
  for (int i = 0; i < 200 && status != grpc::health::v1::HealthCheckResponse::NOT_SERVING; ++i) {
    status = Health(scheduler_port);
    if (status != grpc::health::v1::HealthCheckResponse::NOT_SERVING) {
      absl::SleepFor(absl::Milliseconds(50));
    }
  }
  EXPECT_EQ(status, grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  {
    auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", scheduler_port),
                                       grpc::InsecureChannelCredentials());
    auto stub = v1::Inference::NewStub(channel);
    EXPECT_EQ(RunGenerate(*stub, GreedyText("Hi", 1)).status.error_code(),
              grpc::StatusCode::UNAVAILABLE);
  }

  WorkerServerOptions wo;
  wo.worker.model_path = testing::ClusterModelPath();
  wo.worker.backend = "cpu";
  wo.worker.threads = 1;
  wo.worker.kv_cache_bytes = 16 << 20;
  wo.listen = absl::StrCat("127.0.0.1:", worker_port);
  wo.metrics_listen = "127.0.0.1:0";
  absl::StatusOr<std::unique_ptr<WorkerServer>> worker = WorkerServer::Start(wo);
  ASSERT_TRUE(worker.ok()) << worker.status();
  start.join();
  ASSERT_TRUE(scheduler.ok()) << scheduler.status();
  EXPECT_EQ(Health(scheduler_port), grpc::health::v1::HealthCheckResponse::SERVING);
  scheduler->reset();  // before its worker
}

TEST(SchedulerServiceStartTest, UnreachableWorkerKeepsTheSchedulerUpAndNotServing) {
  if (!testing::ClusterModelPresent()) GTEST_SKIP() << "model file absent";
  const int port = UnusedPort();
  const int scheduler_port = UnusedPort();

  SchedulerOptions o;
  o.model_path = testing::ClusterModelPath();
  o.listen = absl::StrCat("127.0.0.1:", scheduler_port);
  o.metrics_listen = "127.0.0.1:0";
  o.workers = {absl::StrCat("127.0.0.1:", port)};
  o.connect_timeout = absl::Milliseconds(500);
  absl::StatusOr<std::unique_ptr<SchedulerServer>> s = SchedulerServer::Start(o);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(Health(scheduler_port), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  const v1::ModelInfo info = (*s)->service().Info();
  ASSERT_EQ(info.worker_groups_size(), 1);
  EXPECT_FALSE(info.worker_groups(0).available());
  const std::string expected = absl::StrCat("worker at 127.0.0.1:", port, " is not reachable");
  EXPECT_NE(info.worker_groups(0).unavailable_reason().find(expected), std::string::npos)
      << info.worker_groups(0).unavailable_reason();
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", scheduler_port),
                                     grpc::InsecureChannelCredentials());
  auto stub = v1::Inference::NewStub(channel);
  const GenerateOutcome out = RunGenerate(*stub, GreedyText("Hi", 1));
  EXPECT_EQ(out.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(out.status.error_message().find(expected), std::string::npos)
      << out.status.error_message();
}

TEST(SchedulerServiceDrainTest, DrainRefusesNewWorkAndReportsNotServing) {
  if (!testing::ClusterModelPresent()) GTEST_SKIP() << "model file absent";
  auto cluster = testing::StartCluster();
  ASSERT_NE(cluster, nullptr);
  // A stream in flight when the drain starts finishes normally.
  v1::GenerateRequest r = GreedyText("The capital of France is", 40);
  r.set_ignore_eos(true);
  grpc::ClientContext ctx;
  auto in_flight = cluster->stub->Generate(&ctx, r);
  v1::GenerateResponse m;
  ASSERT_TRUE(in_flight->Read(&m));
  std::thread drain([&] { cluster->scheduler->Drain(absl::Seconds(60)); });
  // New requests are refused while draining.
  grpc::StatusCode refused = grpc::StatusCode::OK;
  for (int i = 0; i < 200 && refused != grpc::StatusCode::UNAVAILABLE; ++i) {
    refused = RunGenerate(*cluster->stub, GreedyText("Hi", 1)).status.error_code();
  }
  EXPECT_EQ(refused, grpc::StatusCode::UNAVAILABLE);
  {
    auto health = grpc::health::v1::Health::NewStub(cluster->channel);
    grpc::ClientContext hctx;
    grpc::health::v1::HealthCheckRequest req;
    req.set_service("llm.v1.Inference");
    grpc::health::v1::HealthCheckResponse resp;
    ASSERT_TRUE(health->Check(&hctx, req, &resp).ok());
    EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  }
  int tokens = m.token_ids_size();
  std::string finish;
  while (in_flight->Read(&m)) {
    tokens += m.token_ids_size();
    if (!m.finish_reason().empty()) finish = m.finish_reason();
  }
  EXPECT_TRUE(in_flight->Finish().ok());
  EXPECT_EQ(tokens, 40);
  EXPECT_EQ(finish, "length");
  drain.join();
}

}  // namespace
}  // namespace llm
