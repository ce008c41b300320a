// proto/tls_credentials: which flag combinations build credentials, and the
// start-up errors for bad files (each must name the flag and the path), with
// certificates made by `openssl` at test time.
#include "proto/tls_credentials.h"

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/cluster/tls_test_pki.h"

namespace llm {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

// One PKI for the suite (the files are only read).
class TlsCredentialsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!testing::OpensslAvailable()) return;
    absl::StatusOr<testing::TestPki> pki = testing::MakeTestPki();
    if (pki.ok()) {
      shared_pki_ = new testing::TestPki(*pki);
    } else {
      pki_error_ = new std::string(pki.status().ToString());
    }
  }
  static void TearDownTestSuite() {
    if (shared_pki_ != nullptr) std::filesystem::remove_all(shared_pki_->dir);
    delete shared_pki_;
    shared_pki_ = nullptr;
  }
  void SetUp() override {
    if (!testing::OpensslAvailable()) GTEST_SKIP() << "openssl command not installed";
    ASSERT_EQ(pki_error_, nullptr) << *pki_error_;
    pki_ = *shared_pki_;
  }

  std::string WriteFile(const std::string& name, const std::string& content) {
    const std::string path = pki_.dir + "/" + name;
    std::ofstream(path) << content;
    return path;
  }

  static inline testing::TestPki* shared_pki_ = nullptr;
  static inline std::string* pki_error_ = nullptr;
  testing::TestPki pki_;
};

TEST_F(TlsCredentialsTest, NoFlagsGiveInsecureCredentialsOnBothSides) {
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> server = MakeServerCredentials({});
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> client = MakeChannelCredentials({});
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_NE(*server, nullptr);
  EXPECT_NE(*client, nullptr);
}

TEST_F(TlsCredentialsTest, ValidFilesBuildServerAndMutualClientCredentials) {
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> server =
      MakeServerCredentials({pki_.node_cert, pki_.node_key, pki_.ca});
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> client =
      MakeChannelCredentials({pki_.client_cert, pki_.client_key, pki_.ca});
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_NE(*server, nullptr);
  EXPECT_NE(*client, nullptr);
}

TEST_F(TlsCredentialsTest, ServerTlsWithoutCaAndClientWithCaOnlyAreAccepted) {
  EXPECT_TRUE(MakeServerCredentials({pki_.node_cert, pki_.node_key, ""}).ok());
  EXPECT_TRUE(MakeChannelCredentials({"", "", pki_.ca}).ok());
}

TEST_F(TlsCredentialsTest, MissingFileNamesTheFlagAndThePath) {
  const std::string missing = pki_.dir + "/nope.pem";
  absl::Status cert = MakeServerCredentials({missing, pki_.node_key, ""}).status();
  absl::Status key = MakeServerCredentials({pki_.node_cert, missing, ""}).status();
  absl::Status ca = MakeChannelCredentials({"", "", missing}).status();
  EXPECT_EQ(cert.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(cert.message()),
              AllOf(HasSubstr("--tls-cert"), HasSubstr(missing), HasSubstr("No such file")));
  EXPECT_THAT(std::string(key.message()), AllOf(HasSubstr("--tls-key"), HasSubstr(missing)));
  EXPECT_THAT(std::string(ca.message()), AllOf(HasSubstr("--tls-ca"), HasSubstr(missing)));
}

TEST_F(TlsCredentialsTest, DirectoryOrEmptyFileIsNotReadable) {
  absl::Status dir = MakeChannelCredentials({"", "", pki_.dir}).status();
  absl::Status empty = MakeChannelCredentials({"", "", WriteFile("empty.pem", "")}).status();
  EXPECT_THAT(std::string(dir.message()), AllOf(HasSubstr("--tls-ca"), HasSubstr("cannot read")));
  EXPECT_THAT(std::string(empty.message()), AllOf(HasSubstr("--tls-ca"), HasSubstr("empty")));
}

TEST_F(TlsCredentialsTest, CertificateWithoutKeyAndKeyWithoutCertificateAreRejected) {
  absl::Status no_key = MakeServerCredentials({pki_.node_cert, "", pki_.ca}).status();
  absl::Status no_cert = MakeChannelCredentials({"", pki_.client_key, pki_.ca}).status();
  EXPECT_EQ(no_key.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(no_key.message()), HasSubstr("--tls-cert needs --tls-key"));
  EXPECT_THAT(std::string(no_cert.message()), HasSubstr("--tls-key needs --tls-cert"));
}

TEST_F(TlsCredentialsTest, ServerWithOnlyCaIsRejected) {
  absl::Status s = MakeServerCredentials({"", "", pki_.ca}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("--tls-ca needs --tls-cert and --tls-key"));
}

TEST_F(TlsCredentialsTest, FilesThatAreNotPemAreRejected) {
  const std::string junk = WriteFile("junk.pem", "this is not a certificate\n");
  absl::Status cert = MakeServerCredentials({junk, pki_.node_key, ""}).status();
  absl::Status key = MakeServerCredentials({pki_.node_cert, junk, ""}).status();
  absl::Status ca = MakeChannelCredentials({"", "", junk}).status();
  // A key where the certificate belongs is not PEM *certificate* either.
  absl::Status swapped = MakeServerCredentials({pki_.node_key, pki_.node_cert, ""}).status();
  EXPECT_THAT(std::string(cert.message()),
              AllOf(HasSubstr("--tls-cert"), HasSubstr(junk), HasSubstr("not a PEM certificate")));
  EXPECT_THAT(std::string(key.message()),
              AllOf(HasSubstr("--tls-key"), HasSubstr(junk), HasSubstr("not an unencrypted PEM")));
  EXPECT_THAT(std::string(ca.message()),
              AllOf(HasSubstr("--tls-ca"), HasSubstr(junk), HasSubstr("not a PEM certificate")));
  EXPECT_THAT(std::string(swapped.message()),
              AllOf(HasSubstr("--tls-cert"), HasSubstr("not a PEM certificate")));
}

TEST_F(TlsCredentialsTest, KeyOfAnotherCertificateIsRejected) {
  absl::Status s = MakeServerCredentials({pki_.node_cert, pki_.client_key, ""}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()),
              AllOf(HasSubstr("--tls-key"), HasSubstr(pki_.client_key),
                    HasSubstr("does not match the certificate"), HasSubstr(pki_.node_cert)));
}

TEST_F(TlsCredentialsTest, ExpiredCertificateIsRejected) {
  absl::Status s = MakeServerCredentials({pki_.expired_cert, pki_.node_key, ""}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()),
              AllOf(HasSubstr("--tls-cert"), HasSubstr(pki_.expired_cert), HasSubstr("expired")));
}

TEST_F(TlsCredentialsTest, EncryptedKeyIsRejectedWithoutPrompting) {
  const std::string encrypted = pki_.dir + "/encrypted.key";
  ASSERT_EQ(std::system(("openssl pkey -in " + pki_.node_key +
                         " -aes256 -passout pass:secret -out " + encrypted + " 2>/dev/null")
                            .c_str()),
            0);
  absl::Status s = MakeServerCredentials({pki_.node_cert, encrypted, ""}).status();
  EXPECT_THAT(std::string(s.message()),
              AllOf(HasSubstr("--tls-key"), HasSubstr("not an unencrypted PEM private key")));
}

}  // namespace
}  // namespace llm
