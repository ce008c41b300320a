// File: tests/cluster/in_process_cluster.h
//
// For the service tests: a worker (WorkerServer) and a scheduler
// (SchedulerServer) started in this process on loopback with ports chosen
// by the kernel (port 0), the real model, and a small KV pool; plus a
// synchronous Generate client and a plain HTTP GET of /metrics.
//
// Thread safety: thread-compatible (one test thread).
#ifndef LLM_TESTS_CLUSTER_IN_PROCESS_CLUSTER_H_
#define LLM_TESTS_CLUSTER_IN_PROCESS_CLUSTER_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "llm/v1/inference.grpc.pb.h"
#include "scheduler/scheduler_server.h"
#include "worker/worker_server.h"

namespace llm::testing {

inline std::string ClusterModelPath() {
  return std::string(LLM_SOURCE_DIR) + "/models/SmolLM2-135M-Instruct.Q4_1.gguf";
}

inline bool ClusterModelPresent() { return access(ClusterModelPath().c_str(), R_OK) == 0; }

// A worker on 127.0.0.1:0 with a 32 MiB KV pool (91 blocks of 16 tokens).
inline std::unique_ptr<WorkerServer> StartWorker() {
  WorkerServerOptions o;
  o.worker.model_path = ClusterModelPath();
  o.worker.backend = "cpu";
  o.worker.threads = 1;  // the test machine is shared; keep steps cheap
  o.worker.kv_cache_bytes = 32 << 20;
  o.listen = "127.0.0.1:0";
  o.metrics_listen = "127.0.0.1:0";
  absl::StatusOr<std::unique_ptr<WorkerServer>> w = WorkerServer::Start(o);
  EXPECT_TRUE(w.ok()) << w.status();
  return w.ok() ? std::move(*w) : nullptr;
}

inline SchedulerOptions DefaultSchedulerOptions(const WorkerServer& worker) {
  SchedulerOptions o;
  o.model_path = ClusterModelPath();
  o.listen = "127.0.0.1:0";
  o.metrics_listen = "127.0.0.1:0";
  o.workers = {absl::StrCat("127.0.0.1:", worker.port())};
  o.connect_timeout = absl::Seconds(10);
  return o;
}

struct InProcessCluster {
  std::unique_ptr<WorkerServer> worker;
  std::unique_ptr<SchedulerServer> scheduler;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::Inference::Stub> stub;

  // Scheduler first: it must drop its worker streams before the worker goes.
  ~InProcessCluster() {
    stub.reset();
    channel.reset();
    scheduler.reset();
    worker.reset();
  }
};

// Starts both; `tweak` adjusts the scheduler's options.
template <typename Tweak>
std::unique_ptr<InProcessCluster> StartCluster(Tweak tweak) {
  auto c = std::make_unique<InProcessCluster>();
  c->worker = StartWorker();
  if (c->worker == nullptr) return nullptr;
  SchedulerOptions o = DefaultSchedulerOptions(*c->worker);
  tweak(o);
  absl::StatusOr<std::unique_ptr<SchedulerServer>> s = SchedulerServer::Start(o);
  EXPECT_TRUE(s.ok()) << s.status();
  if (!s.ok()) return nullptr;
  c->scheduler = std::move(*s);
  c->channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", c->scheduler->port()),
                                   grpc::InsecureChannelCredentials());
  c->stub = v1::Inference::NewStub(c->channel);
  return c;
}

inline std::unique_ptr<InProcessCluster> StartCluster() {
  return StartCluster([](SchedulerOptions&) {});
}

// One Generate call, read to the end.
struct GenerateOutcome {
  grpc::Status status;
  std::vector<v1::GenerateResponse> messages;

  // Sample `index`'s concatenated text, token ids and finish reason.
  std::string Text(int index = 0) const {
    std::string t;
    for (const auto& m : messages) {
      if (m.index() == index) t += m.text();
    }
    return t;
  }
  std::vector<int32_t> Tokens(int index = 0) const {
    std::vector<int32_t> ids;
    for (const auto& m : messages) {
      if (m.index() == index) ids.insert(ids.end(), m.token_ids().begin(), m.token_ids().end());
    }
    return ids;
  }
  const v1::GenerateResponse* Final(int index = 0) const {
    for (const auto& m : messages) {
      if (m.index() == index && !m.finish_reason().empty()) return &m;
    }
    return nullptr;
  }
};

inline GenerateOutcome RunGenerate(v1::Inference::Stub& stub, const v1::GenerateRequest& r,
                                   absl::Duration timeout = absl::Seconds(120)) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  GenerateOutcome out;
  std::unique_ptr<grpc::ClientReader<v1::GenerateResponse>> reader = stub.Generate(&context, r);
  for (v1::GenerateResponse m; reader->Read(&m);) out.messages.push_back(m);
  out.status = reader->Finish();
  return out;
}

inline v1::GenerateRequest GreedyText(const std::string& text, int max_tokens) {
  v1::GenerateRequest r;
  r.set_text(text);
  r.set_max_tokens(max_tokens);
  r.mutable_sampling()->set_temperature(0);
  return r;
}

// Polls GetModelInfo until `pred` holds or 20 s pass.
template <typename Pred>
bool WaitForInfo(v1::Inference::Stub& stub, Pred pred) {
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (absl::Now() < deadline) {
    grpc::ClientContext ctx;
    v1::ModelInfo info;
    if (stub.GetModelInfo(&ctx, v1::GetModelInfoRequest(), &info).ok() && pred(info)) {
      return true;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return false;
}

// GET http://127.0.0.1:port/metrics; "" on failure.
inline std::string ScrapeMetrics(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string body;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const std::string req = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
      char buf[4096];
      for (ssize_t n; (n = read(fd, buf, sizeof(buf))) > 0;) body.append(buf, n);
    }
  }
  close(fd);
  return body;
}

// The value of the unlabelled sample `name` in a scrape; -1 when absent.
inline double MetricValue(const std::string& scrape, const std::string& name) {
  const std::string key = "\n" + name + " ";
  const size_t at = scrape.find(key);
  if (at == std::string::npos) return -1;
  return std::stod(scrape.substr(at + key.size()));
}

}  // namespace llm::testing

#endif  // LLM_TESTS_CLUSTER_IN_PROCESS_CLUSTER_H_
