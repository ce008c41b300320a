// How tensor-parallel ranks find each other (worker/tp_rendezvous.h): rank
// 0's worker serves the group's NCCL id over llm.worker.v1.Worker/
// GetTensorParallelId on real gRPC (loopback, the real model on the CPU;
// the id here is made up, NCCL is not involved); a rank that starts first
// keeps asking until rank 0 is up; a wrong group size or a worker that is
// not a rank 0 is refused at once; no answer ends in DeadlineExceeded.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/cluster/in_process_cluster.h"
#include "worker/local_worker.h"
#include "worker/tp_rendezvous.h"
#include "worker/worker_service.h"

namespace llm {
namespace {

// A loopback port nothing listens on right now (the kernel's pick).
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  close(fd);
  return port;
}

class TpRendezvousTest : public ::testing::Test {
 protected:
  // One model load for the suite.
  static void SetUpTestSuite() {
    if (!testing::ClusterModelPresent()) return;
    WorkerOptions o;
    o.model_path = testing::ClusterModelPath();
    o.backend = "cpu";
    o.threads = 1;
    o.kv_cache_bytes = 4 << 20;
    auto worker = LocalWorker::Create(o);
    EXPECT_TRUE(worker.ok()) << worker.status();
    if (worker.ok()) worker_ = worker->release();
  }
  static void TearDownTestSuite() {
    delete worker_;
    worker_ = nullptr;
  }

  void SetUp() override {
    if (!testing::ClusterModelPresent()) GTEST_SKIP() << "model file absent";
    ASSERT_NE(worker_, nullptr);
    id_.assign(128, '\0');
    for (int i = 0; i < 128; ++i) id_[i] = static_cast<char>(i * 7 + 1);
  }

  // A rank-0 Worker service for a group of `tp_size` on `address`.
  // tp_size 0: a worker outside any group (serves no id).
  std::unique_ptr<grpc::Server> StartRoot(const std::string& address, int tp_size) {
    service_ = std::make_unique<WorkerService>(*worker_, nullptr);
    if (tp_size > 0) service_->SetTensorParallelId(id_, tp_size);
    grpc::ServerBuilder builder;
    builder.AddListeningPort(address, grpc::InsecureServerCredentials());
    builder.RegisterService(service_.get());
    return builder.BuildAndStart();
  }

  static LocalWorker* worker_;
  std::unique_ptr<WorkerService> service_;
  std::string id_;
};

LocalWorker* TpRendezvousTest::worker_ = nullptr;

TEST_F(TpRendezvousTest, RankThatStartsFirstGetsTheIdOnceRankZeroServes) {
  const int port = FreePort();
  ASSERT_NE(port, 0);
  const std::string address = absl::StrCat("127.0.0.1:", port);
  absl::StatusOr<std::string> got;
  std::thread rank1([&] {
    got = FetchTensorParallelId(address, 1, 2, absl::Seconds(30));
  });
  absl::SleepFor(absl::Milliseconds(1200));  // rank 1 retries meanwhile
  std::unique_ptr<grpc::Server> root = StartRoot(address, 2);
  ASSERT_NE(root, nullptr);
  rank1.join();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, id_);
  root->Shutdown();
}

TEST_F(TpRendezvousTest, WrongGroupSizeIsRefusedAtOnce) {
  const int port = FreePort();
  const std::string address = absl::StrCat("127.0.0.1:", port);
  std::unique_ptr<grpc::Server> root = StartRoot(address, 2);
  ASSERT_NE(root, nullptr);
  const absl::Time start = absl::Now();
  absl::StatusOr<std::string> got = FetchTensorParallelId(address, 1, 4, absl::Seconds(30));
  EXPECT_EQ(got.status().code(), absl::StatusCode::kFailedPrecondition) << got.status();
  EXPECT_NE(got.status().message().find("size 4"), std::string::npos) << got.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  root->Shutdown();
}

TEST_F(TpRendezvousTest, WorkerOutsideAGroupIsNotARoot) {
  const std::string address = absl::StrCat("127.0.0.1:", FreePort());
  std::unique_ptr<grpc::Server> plain = StartRoot(address, 0);
  ASSERT_NE(plain, nullptr);
  absl::StatusOr<std::string> got = FetchTensorParallelId(address, 1, 2, absl::Seconds(30));
  EXPECT_EQ(got.status().code(), absl::StatusCode::kFailedPrecondition) << got.status();
  plain->Shutdown();
}

TEST_F(TpRendezvousTest, NoRootWithinTheTimeoutIsDeadlineExceeded) {
  const int port = FreePort();
  absl::StatusOr<std::string> got = FetchTensorParallelId(
      absl::StrCat("127.0.0.1:", port), 1, 2, absl::Milliseconds(1200));
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDeadlineExceeded) << got.status();
}

}  // namespace
}  // namespace llm
