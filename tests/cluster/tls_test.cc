// TLS end to end with real processes on loopback and certificates made by
// `openssl` at test time (tests/cluster/tls_test_pki.h): an llm-worker with
// mutual TLS refuses every client but one holding a certificate of its CA;
// an llm-scheduler with mutual TLS reaches that worker with its own
// certificate and serves llmctl and llm-bench when they present theirs, and
// refuses them without it, with another CA, or in plaintext. A bad TLS file
// stops every binary at start-up with a message naming the flag.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/tls_credentials.h"
#include "tests/cluster/cluster_harness.h"
#include "tests/cluster/tls_test_pki.h"
#include "tests/tools/run_binary.h"

namespace llm::testing {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

// grpc.health.v1 Check over `files`' credentials; the call's status.
grpc::Status HealthCheck(const std::string& address, const TlsFiles& files,
                         grpc::health::v1::HealthCheckResponse* response) {
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> creds = MakeChannelCredentials(files);
  if (!creds.ok()) return grpc::Status(grpc::StatusCode::INTERNAL, creds.status().ToString());
  auto stub = grpc::health::v1::Health::NewStub(grpc::CreateChannel(address, *creds));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
  return stub->Check(&ctx, grpc::health::v1::HealthCheckRequest(), response);
}

grpc::Status HealthCheck(const std::string& address, const TlsFiles& files) {
  grpc::health::v1::HealthCheckResponse response;
  return HealthCheck(address, files, &response);
}

absl::Status WaitServingTls(const std::string& address, const TlsFiles& files,
                            ChildProcess& process, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!process.Running()) {
      return absl::UnavailableError(
          absl::StrCat(process.command(), " exited before serving:\n", Tail(process.log_path())));
    }
    grpc::health::v1::HealthCheckResponse r;
    if (HealthCheck(address, files, &r).ok() &&
        r.status() == grpc::health::v1::HealthCheckResponse::SERVING) {
      return absl::OkStatus();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return absl::DeadlineExceededError(
      absl::StrCat(address, " not SERVING over TLS:\n", Tail(process.log_path())));
}

std::vector<std::string> TlsArgs(const std::string& cert, const std::string& key,
                                 const std::string& ca) {
  return {"--tls-cert", cert, "--tls-key", key, "--tls-ca", ca};
}

// Binaries started with bad TLS files: no model and no worker needed, the
// files are checked first.
class TlsStartupErrorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!OpensslAvailable()) GTEST_SKIP() << "openssl command not installed";
    for (const char* bin : {"llm-worker", "llm-scheduler", "llmctl", "llm-bench"}) {
      if (!FileExists(BinPath(bin))) GTEST_SKIP() << BinPath(bin) << " not built";
    }
    absl::StatusOr<TestPki> pki = MakeTestPki();
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = *pki;
  }
  void TearDown() override {
    if (!pki_.dir.empty()) std::filesystem::remove_all(pki_.dir);
  }
  TestPki pki_;
};

TEST_F(TlsStartupErrorTest, WorkerWithMissingCertificateFileExitsNamingTheFlag) {
  const std::string missing = pki_.dir + "/missing.crt";
  CommandResult r = RunCommand(absl::StrCat(BinPath("llm-worker"), " --model /nonexistent.gguf",
                                            " --tls-cert ", missing, " --tls-key ", pki_.node_key));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output,
              AllOf(HasSubstr("llm-worker: --tls-cert: " + missing), HasSubstr("cannot read")));
}

TEST_F(TlsStartupErrorTest, SchedulerWithKeyOfAnotherCertificateExits) {
  CommandResult r = RunCommand(absl::StrCat(
      BinPath("llm-scheduler"), " --model /nonexistent.gguf --workers 127.0.0.1:1", " --tls-cert ",
      pki_.node_cert, " --tls-key ", pki_.client_key, " --tls-ca ", pki_.ca));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, AllOf(HasSubstr("llm-scheduler: --tls-key"),
                              HasSubstr("does not match the certificate")));
}

TEST_F(TlsStartupErrorTest, SchedulerWithCaButNoCertificateExits) {
  CommandResult r = RunCommand(absl::StrCat(BinPath("llm-scheduler"),
                                            " --model /nonexistent.gguf --workers 127.0.0.1:1",
                                            " --tls-ca ", pki_.ca));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("--tls-ca needs --tls-cert and --tls-key"));
}

TEST_F(TlsStartupErrorTest, TlsFlagsAlsoComeFromTheEnvironment) {
  const std::string missing = pki_.dir + "/missing-ca.crt";
  CommandResult r = RunCommand(absl::StrCat(
      "LLM_WORKER_TLS_CERT=", pki_.node_cert, " LLM_WORKER_TLS_KEY=", pki_.node_key,
      " LLM_WORKER_TLS_CA=", missing, " ", BinPath("llm-worker"), " --model /nonexistent.gguf"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("--tls-ca: " + missing));
}

TEST_F(TlsStartupErrorTest, ClientsRejectFilesThatAreNotPem) {
  CommandResult ctl = RunCommand(absl::StrCat(BinPath("llmctl"), " --server 127.0.0.1:1",
                                              " --tls-ca ", pki_.node_key, " health"));
  CommandResult bench =
      RunCommand(absl::StrCat(BinPath("llm-bench"), " --server 127.0.0.1:1", " --tls-cert ",
                              pki_.client_cert, " --num-requests 1"));
  EXPECT_EQ(ctl.exit_code, 1);
  EXPECT_THAT(ctl.output, AllOf(HasSubstr("llmctl: --tls-ca: " + pki_.node_key),
                                HasSubstr("not a PEM certificate")));
  EXPECT_EQ(bench.exit_code, 1);
  EXPECT_THAT(bench.output, HasSubstr("llm-bench: --tls-cert needs --tls-key"));
}

// One worker and one scheduler, both with mutual TLS, for the whole suite.
class MutualTlsClusterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    skip_reason_ = new std::string(ClusterSkipReason());
    for (const char* bin : {"llmctl", "llm-bench"}) {
      if (skip_reason_->empty() && !FileExists(BinPath(bin))) {
        *skip_reason_ = BinPath(bin) + " not built";
      }
    }
    if (skip_reason_->empty() && !OpensslAvailable()) *skip_reason_ = "openssl not installed";
    if (!skip_reason_->empty()) return;
    absl::StatusOr<TestPki> pki = MakeTestPki();
    if (!pki.ok()) {
      worker_error_ = new std::string(pki.status().ToString());
      return;
    }
    pki_ = new TestPki(*pki);
    const TlsFiles node{pki_->node_cert, pki_->node_key, pki_->ca};

    worker_address_ = new std::string(absl::StrCat("127.0.0.1:", PickFreePort()));
    std::vector<std::string> argv = {BinPath("llm-worker"),
                                     "--model",
                                     ModelPath(),
                                     "--listen",
                                     *worker_address_,
                                     "--metrics-listen",
                                     absl::StrCat("127.0.0.1:", PickFreePort()),
                                     "--threads",
                                     "1",
                                     "--kv-cache-bytes",
                                     std::to_string(32 << 20)};
    for (const std::string& a : TlsArgs(node.cert, node.key, node.ca)) argv.push_back(a);
    absl::StatusOr<std::unique_ptr<ChildProcess>> w =
        ChildProcess::Start(argv, pki_->dir + "/worker.log");
    if (!w.ok()) {
      worker_error_ = new std::string(w.status().ToString());
      return;
    }
    worker_ = w->release();
    if (absl::Status s =
            WaitServingTls(*worker_address_, node, *worker_, std::chrono::seconds(120));
        !s.ok()) {
      worker_error_ = new std::string(s.ToString());
      return;
    }

    scheduler_address_ = new std::string(absl::StrCat("127.0.0.1:", PickFreePort()));
    argv = {BinPath("llm-scheduler"),
            "--model",
            ModelPath(),
            "--listen",
            *scheduler_address_,
            "--metrics-listen",
            absl::StrCat("127.0.0.1:", PickFreePort()),
            "--workers",
            *worker_address_,
            "--connect-timeout",
            "20"};
    for (const std::string& a : TlsArgs(node.cert, node.key, node.ca)) argv.push_back(a);
    absl::StatusOr<std::unique_ptr<ChildProcess>> s =
        ChildProcess::Start(argv, pki_->dir + "/scheduler.log");
    if (!s.ok()) {
      scheduler_error_ = new std::string(s.status().ToString());
      return;
    }
    scheduler_ = s->release();
    if (absl::Status st =
            WaitServingTls(*scheduler_address_, node, *scheduler_, std::chrono::seconds(60));
        !st.ok()) {
      scheduler_error_ = new std::string(st.ToString());
    }
  }

  static void TearDownTestSuite() {
    delete scheduler_;  // stops it (SIGTERM) before the worker
    delete worker_;
    scheduler_ = nullptr;
    worker_ = nullptr;
    if (pki_ != nullptr) std::filesystem::remove_all(pki_->dir);
  }

  void SetUp() override {
    if (!skip_reason_->empty()) GTEST_SKIP() << *skip_reason_;
    ASSERT_EQ(worker_error_, nullptr) << *worker_error_;
  }
  void RequireScheduler() { ASSERT_EQ(scheduler_error_, nullptr) << *scheduler_error_; }

  static std::string Llmctl(const std::string& tls_args, const std::string& command) {
    return absl::StrCat(BinPath("llmctl"), " --server ", *scheduler_address_, " --timeout 60 ",
                        tls_args, " ", command);
  }
  static std::string ClientTlsArgs() {
    return absl::StrCat("--tls-cert ", pki_->client_cert, " --tls-key ", pki_->client_key,
                        " --tls-ca ", pki_->ca);
  }

  static inline std::string* skip_reason_ = nullptr;
  static inline std::string* worker_error_ = nullptr;
  static inline std::string* scheduler_error_ = nullptr;
  static inline TestPki* pki_ = nullptr;
  static inline std::string* worker_address_ = nullptr;
  static inline std::string* scheduler_address_ = nullptr;
  static inline ChildProcess* worker_ = nullptr;
  static inline ChildProcess* scheduler_ = nullptr;
};

TEST_F(MutualTlsClusterTest, WorkerServesClientsWithCertificatesOfItsCa) {
  grpc::health::v1::HealthCheckResponse r;
  grpc::Status client =
      HealthCheck(*worker_address_, {pki_->client_cert, pki_->client_key, pki_->ca}, &r);
  ASSERT_TRUE(client.ok()) << client.error_message();
  EXPECT_EQ(r.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_TRUE(HealthCheck(*worker_address_, {pki_->node_cert, pki_->node_key, pki_->ca}).ok());
}

TEST_F(MutualTlsClusterTest, WorkerRefusesClientWithoutCertificate) {
  grpc::Status s = HealthCheck(*worker_address_, {"", "", pki_->ca});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
}

TEST_F(MutualTlsClusterTest, WorkerRefusesClientCertificateOfAnotherCa) {
  grpc::Status s =
      HealthCheck(*worker_address_, {pki_->other_client_cert, pki_->other_client_key, pki_->ca});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
}

TEST_F(MutualTlsClusterTest, ClientTrustingAnotherCaRefusesTheWorker) {
  grpc::Status s =
      HealthCheck(*worker_address_, {pki_->client_cert, pki_->client_key, pki_->other_ca});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
}

TEST_F(MutualTlsClusterTest, WorkerRefusesPlaintext) {
  grpc::Status s = HealthCheck(*worker_address_, {});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
}

TEST_F(MutualTlsClusterTest, LlmctlWithClientCertificateGeneratesText) {
  RequireScheduler();
  CommandResult r = RunCommand(Llmctl(ClientTlsArgs(),
                                      "generate --prompt 'The capital of France is' --max-tokens 4 "
                                      "--temperature 0 --json"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, AllOf(HasSubstr("\"completion_tokens\":4"), HasSubstr("\"text\":")));
  CommandResult health = RunCommand(Llmctl(ClientTlsArgs(), "health"));
  EXPECT_EQ(health.exit_code, 0) << health.output;
  EXPECT_THAT(health.output, HasSubstr("SERVING"));
}

TEST_F(MutualTlsClusterTest, LlmctlWithoutClientCertificateIsRefused) {
  RequireScheduler();
  CommandResult r = RunCommand(Llmctl("--tls-ca " + pki_->ca, "info"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("UNAVAILABLE"));
  EXPECT_THAT(r.output, Not(HasSubstr("model_name")));
}

TEST_F(MutualTlsClusterTest, LlmctlWithCertificatesOfAnotherCaIsRefused) {
  RequireScheduler();
  CommandResult wrong_client =
      RunCommand(Llmctl(absl::StrCat("--tls-cert ", pki_->other_client_cert, " --tls-key ",
                                     pki_->other_client_key, " --tls-ca ", pki_->ca),
                        "info"));
  CommandResult wrong_ca =
      RunCommand(Llmctl(absl::StrCat("--tls-cert ", pki_->client_cert, " --tls-key ",
                                     pki_->client_key, " --tls-ca ", pki_->other_ca),
                        "info"));
  EXPECT_EQ(wrong_client.exit_code, 1);
  EXPECT_THAT(wrong_client.output, HasSubstr("UNAVAILABLE"));
  EXPECT_EQ(wrong_ca.exit_code, 1);
  EXPECT_THAT(wrong_ca.output, HasSubstr("UNAVAILABLE"));
}

TEST_F(MutualTlsClusterTest, PlaintextLlmctlIsRefused) {
  RequireScheduler();
  CommandResult r = RunCommand(Llmctl("", "info"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("UNAVAILABLE"));
}

TEST_F(MutualTlsClusterTest, TlsServerNameOverrideVerifiesAnotherName) {
  RequireScheduler();
  // The certificate is valid for localhost: naming it passes, naming a host
  // it does not cover fails the handshake.
  CommandResult right =
      RunCommand(Llmctl(ClientTlsArgs() + " --tls-server-name localhost", "health"));
  CommandResult wrong =
      RunCommand(Llmctl(ClientTlsArgs() + " --tls-server-name other.example", "health"));
  EXPECT_EQ(right.exit_code, 0) << right.output;
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_THAT(wrong.output, HasSubstr("UNAVAILABLE"));
}

TEST_F(MutualTlsClusterTest, LlmBenchRunsOverMutualTls) {
  RequireScheduler();
  CommandResult r = RunCommand(absl::StrCat(
      BinPath("llm-bench"), " --server ", *scheduler_address_, " ", ClientTlsArgs(),
      " --num-requests 2 --concurrency 2 --input-len 8 --output-len 3 --timeout 60 --json"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("\"errors\":0"));
}

}  // namespace
}  // namespace llm::testing
