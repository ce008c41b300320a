// File: tests/cluster/cluster_harness.h
//
// Starts real llm-worker and llm-scheduler processes on loopback for the
// integration tests, and the small clients the tests need around them:
// free ports, a health wait, a plain HTTP GET of /metrics, and the value of
// a Prometheus sample. Everything is bounded in time; LocalCluster's
// destructor stops (SIGTERM, then SIGKILL after a grace period) and reaps
// every process it started, and only those.
//
// Header-only: tests/CMakeLists.txt builds each *_test.cc on its own.
//
// Thread safety: ChildProcess and LocalCluster are thread-compatible (one
// owner thread); the free functions are thread-safe.
#ifndef LLM_TESTS_CLUSTER_CLUSTER_HARNESS_H_
#define LLM_TESTS_CLUSTER_CLUSTER_HARNESS_H_

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace llm::testing {

inline std::string ModelPath() {
  return std::string(LLM_SOURCE_DIR) + "/models/SmolLM2-135M-Instruct.Q4_1.gguf";
}
inline std::string BinPath(const std::string& name) {
  return std::string(LLM_BINARY_DIR) + "/bin/" + name;
}
inline bool FileExists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

// Why the cluster tests cannot run here, or "" when they can.
inline std::string ClusterSkipReason() {
  if (!FileExists(ModelPath())) return "model not found: " + ModelPath();
  for (const char* bin : {"llm-worker", "llm-scheduler"}) {
    if (!FileExists(BinPath(bin))) return BinPath(bin) + " not built";
  }
  return "";
}

inline int PickKernelPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

// A TCP port on 127.0.0.1 that was free a moment ago (the kernel's pick),
// never the same twice in one test process.
inline int PickFreePort() {
  static std::mutex mu;
  static std::set<int> given;
  std::lock_guard<std::mutex> lock(mu);
  for (int attempt = 0; attempt < 50; ++attempt) {
    const int port = PickKernelPort();
    if (port != 0 && given.insert(port).second) return port;
  }
  return 0;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The last `bytes` of a log file, for failure messages.
inline std::string Tail(const std::string& path, size_t bytes = 3000) {
  const std::string s = ReadFile(path);
  return s.size() <= bytes ? s : s.substr(s.size() - bytes);
}

// A child process with stdout and stderr appended to a log file.
class ChildProcess {
 public:
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Start(
      const std::vector<std::string>& argv, const std::string& log_path) {
    const int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (log < 0) return absl::InternalError("cannot open " + log_path);
    // Built before fork: the child of a threaded process must not allocate.
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const pid_t pid = fork();
    if (pid < 0) {
      close(log);
      return absl::InternalError("fork failed");
    }
    if (pid == 0) {
      // A test killed by CTest's timeout must not leave servers behind.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      dup2(log, STDOUT_FILENO);
      dup2(log, STDERR_FILENO);
      const int devnull = open("/dev/null", O_RDONLY);
      if (devnull >= 0) dup2(devnull, STDIN_FILENO);
      execv(args[0], args.data());
      _exit(127);
    }
    close(log);
    auto p = std::unique_ptr<ChildProcess>(new ChildProcess());
    p->pid_ = pid;
    p->log_path_ = log_path;
    p->command_ = absl::StrJoin(argv, " ");
    return p;
  }

  ~ChildProcess() { Stop(std::chrono::seconds(10)); }

  // The exit code once the process has ended (128 + signal when killed),
  // waiting at most `timeout`; nullopt while it still runs.
  std::optional<int> WaitExit(std::chrono::milliseconds timeout) {
    if (exit_code_) return exit_code_;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      int status = 0;
      const pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return exit_code_;
      }
      if (r < 0) {
        exit_code_ = -1;
        return exit_code_;
      }
      if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  bool Running() { return !WaitExit(std::chrono::milliseconds(0)).has_value(); }

  // SIGTERM, then SIGKILL after `grace`; returns the exit code.
  int Stop(std::chrono::milliseconds grace) {
    if (!Running()) return *exit_code_;
    kill(pid_, SIGTERM);
    if (std::optional<int> code = WaitExit(grace)) return *code;
    kill(pid_, SIGKILL);
    return WaitExit(std::chrono::seconds(10)).value_or(-1);
  }

  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }
  const std::string& command() const { return command_; }

 private:
  ChildProcess() = default;
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::string log_path_;
  std::string command_;
};

// grpc.health.v1 Check of `service` at `address`: true once SERVING.
inline bool IsServing(const std::string& address, const std::string& service = "") {
  auto stub = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
  grpc::health::v1::HealthCheckRequest req;
  req.set_service(service);
  grpc::health::v1::HealthCheckResponse resp;
  return stub->Check(&ctx, req, &resp).ok() &&
         resp.status() == grpc::health::v1::HealthCheckResponse::SERVING;
}

// Polls health until SERVING; fails early when `process` exits.
inline absl::Status WaitServing(const std::string& address, ChildProcess& process,
                                std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!process.Running()) {
      return absl::UnavailableError(absl::StrCat(
          process.command(), " exited (", process.WaitExit(std::chrono::milliseconds(0)).value(),
          ") before serving:\n", Tail(process.log_path())));
    }
    if (IsServing(address)) return absl::OkStatus();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return absl::DeadlineExceededError(absl::StrCat(address, " not SERVING after ", timeout.count(),
                                                  " s:\n", Tail(process.log_path())));
}

// GET http://127.0.0.1:port/path; the body, or "" on any failure.
inline std::string HttpGet(int port, const std::string& path = "/metrics") {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (send(fd, req.data(), req.size(), 0) == static_cast<ssize_t>(req.size())) {
      char buf[8192];
      for (ssize_t n; (n = recv(fd, buf, sizeof(buf), 0)) > 0;) response.append(buf, n);
    }
  }
  close(fd);
  const size_t body = response.find("\r\n\r\n");
  return body == std::string::npos ? "" : response.substr(body + 4);
}

// Sum of the samples of metric `name` (any labels) in Prometheus text
// format; nullopt when there is none.
inline std::optional<double> MetricValue(const std::string& text, const std::string& name) {
  std::optional<double> sum;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name, 0) != 0) continue;
    const char next = line.size() > name.size() ? line[name.size()] : '\0';
    if (next != ' ' && next != '{') continue;
    const size_t space = line.rfind(' ');
    sum = sum.value_or(0) + std::strtod(line.c_str() + space + 1, nullptr);
  }
  return sum;
}

struct ClusterOptions {
  int num_workers = 1;
  // 1: a spinning thread pool of 2 on a busy 2-core machine (ctest -j2)
  // is many times slower than one thread.
  int worker_threads = 1;
  // 0: the worker's default pool.
  long long kv_cache_bytes = 0;
  // Extra llm-scheduler flags, e.g. {"--max-queue", "2"}.
  std::vector<std::string> scheduler_flags;
  std::chrono::seconds start_timeout{120};
};

// N workers and one scheduler on loopback, all SERVING after Start.
class LocalCluster {
 public:
  static absl::StatusOr<std::unique_ptr<LocalCluster>> Start(const ClusterOptions& o) {
    auto c = std::unique_ptr<LocalCluster>(new LocalCluster());
    char dir_template[] = "/tmp/llm-cluster-test-XXXXXX";
    if (mkdtemp(dir_template) == nullptr) return absl::InternalError("mkdtemp failed");
    c->log_dir_ = dir_template;
    std::vector<std::string> worker_addresses;
    for (int i = 0; i < o.num_workers; ++i) {
      const std::string address = absl::StrCat("127.0.0.1:", PickFreePort());
      const int metrics_port = PickFreePort();
      std::vector<std::string> argv = {BinPath("llm-worker"),   "--model",   ModelPath(),
                                       "--listen",              address,     "--metrics-listen",
                                       absl::StrCat("127.0.0.1:", metrics_port),
                                       "--threads",             absl::StrCat(o.worker_threads)};
      if (o.kv_cache_bytes > 0) {
        argv.push_back("--kv-cache-bytes");
        argv.push_back(absl::StrCat(o.kv_cache_bytes));
      }
      absl::StatusOr<std::unique_ptr<ChildProcess>> p =
          ChildProcess::Start(argv, absl::StrCat(c->log_dir_, "/worker", i, ".log"));
      if (!p.ok()) return p.status();
      c->workers_.push_back(std::move(*p));
      c->worker_argv_.push_back(argv);
      c->worker_addresses_.push_back(address);
      c->worker_metrics_ports_.push_back(metrics_port);
    }
    for (int i = 0; i < o.num_workers; ++i) {
      absl::Status s = WaitServing(c->worker_addresses_[i], *c->workers_[i], o.start_timeout);
      if (!s.ok()) return s;
    }
    c->address_ = absl::StrCat("127.0.0.1:", PickFreePort());
    c->metrics_port_ = PickFreePort();
    std::vector<std::string> argv = {BinPath("llm-scheduler"),
                                     "--model",
                                     ModelPath(),
                                     "--listen",
                                     c->address_,
                                     "--metrics-listen",
                                     absl::StrCat("127.0.0.1:", c->metrics_port_),
                                     "--workers",
                                     absl::StrJoin(c->worker_addresses_, ",")};
    argv.insert(argv.end(), o.scheduler_flags.begin(), o.scheduler_flags.end());
    absl::StatusOr<std::unique_ptr<ChildProcess>> p =
        ChildProcess::Start(argv, c->log_dir_ + "/scheduler.log");
    if (!p.ok()) return p.status();
    c->scheduler_ = std::move(*p);
    if (absl::Status s = WaitServing(c->address_, *c->scheduler_, o.start_timeout); !s.ok()) {
      return s;
    }
    return c;
  }

  // Scheduler first (it drains), then the workers.
  ~LocalCluster() {
    if (scheduler_) scheduler_->Stop(std::chrono::seconds(15));
    for (auto& w : workers_) w->Stop(std::chrono::seconds(10));
  }

  const std::string& address() const { return address_; }
  int metrics_port() const { return metrics_port_; }
  const std::vector<std::string>& worker_addresses() const { return worker_addresses_; }
  const std::vector<int>& worker_metrics_ports() const { return worker_metrics_ports_; }
  const std::string& log_dir() const { return log_dir_; }
  ChildProcess& scheduler() { return *scheduler_; }
  ChildProcess& worker(int i) { return *workers_[i]; }
  std::string SchedulerLog() const { return Tail(log_dir_ + "/scheduler.log"); }

  // Starts worker i again with its first command line (same ports) once
  // the old process has ended, and waits until it is SERVING.
  absl::Status RestartWorker(int i, std::chrono::seconds timeout) {
    workers_[i]->Stop(std::chrono::seconds(5));
    absl::StatusOr<std::unique_ptr<ChildProcess>> p =
        ChildProcess::Start(worker_argv_[i], absl::StrCat(log_dir_, "/worker", i, ".log"));
    if (!p.ok()) return p.status();
    workers_[i] = std::move(*p);
    return WaitServing(worker_addresses_[i], *workers_[i], timeout);
  }

 private:
  LocalCluster() = default;
  std::string log_dir_;
  std::vector<std::unique_ptr<ChildProcess>> workers_;
  std::vector<std::vector<std::string>> worker_argv_;
  std::vector<std::string> worker_addresses_;
  std::vector<int> worker_metrics_ports_;
  std::unique_ptr<ChildProcess> scheduler_;
  std::string address_;
  int metrics_port_ = 0;
};

}  // namespace llm::testing

#endif  // LLM_TESTS_CLUSTER_CLUSTER_HARNESS_H_
