// File: tests/cluster/tls_test_pki.h
//
// MakeTestPki: a throw-away PKI for the TLS tests, made with the `openssl`
// command line in a fresh temp dir: a CA; a "node" certificate signed by it
// for localhost and 127.0.0.1, usable as server and as client (what the
// worker and the scheduler present); a client certificate signed by it (what
// llmctl presents); and a second, unrelated CA with a client certificate of
// its own (what must be refused). Also an expired node certificate. EC P-256
// keys: a whole PKI takes a fraction of a second.
//
// Header-only: tests/CMakeLists.txt builds each *_test.cc on its own.
//
// Thread safety: MakeTestPki is thread-safe (own directory per call).
#ifndef LLM_TESTS_CLUSTER_TLS_TEST_PKI_H_
#define LLM_TESTS_CLUSTER_TLS_TEST_PKI_H_

#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace llm::testing {

struct TestPki {
  std::string dir;
  std::string ca;                       // CA certificate
  std::string node_cert, node_key;      // localhost + 127.0.0.1; serverAuth + clientAuth
  std::string client_cert, client_key;  // clientAuth, signed by `ca`
  std::string other_ca;                 // an unrelated CA
  std::string other_client_cert, other_client_key;  // signed by `other_ca`
  std::string expired_cert;                         // node_key's certificate, expired yesterday
};

inline bool OpensslAvailable() { return std::system("openssl version >/dev/null 2>&1") == 0; }

inline absl::StatusOr<TestPki> MakeTestPki() {
  char dir_template[] = "/tmp/llm-tls-test-XXXXXX";
  if (mkdtemp(dir_template) == nullptr) return absl::InternalError("mkdtemp failed");
  TestPki p;
  p.dir = dir_template;
  const std::string d = p.dir;
  {
    std::ofstream(d + "/node.ext") << "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                                      "extendedKeyUsage=serverAuth,clientAuth\n"
                                      "basicConstraints=critical,CA:FALSE\n";
    std::ofstream(d + "/client.ext") << "subjectAltName=DNS:llm-test-client\n"
                                        "extendedKeyUsage=clientAuth\n"
                                        "basicConstraints=critical,CA:FALSE\n";
  }
  const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  // A key and a CSR for NAME, then its certificate signed by CA (serial N).
  auto leaf = [&](const std::string& name, const std::string& ca, const std::string& ext,
                  int serial, int days) {
    return absl::StrCat("openssl req ", ec, " -keyout ", name, ".key -out ", name,
                        ".csr -subj /CN=", name, " && openssl x509 -req -in ", name, ".csr -CA ",
                        ca, ".crt -CAkey ", ca, ".key -set_serial ", serial, " -days ", days,
                        " -extfile ", ext, " -out ", name, ".crt");
  };
  const std::string script = absl::StrCat(
      "cd ", d, " && ( openssl req -x509 ", ec, " -keyout ca.key -out ca.crt -days 2 ",
      "-subj /CN=llm-test-ca && openssl req -x509 ", ec,
      " -keyout other-ca.key -out other-ca.crt -days 2 -subj /CN=llm-other-ca && ",
      leaf("node", "ca", "node.ext", 2, 2), " && ", leaf("client", "ca", "client.ext", 3, 2),
      " && ", leaf("other-client", "other-ca", "client.ext", 4, 2),
      " && openssl x509 -req -in node.csr -CA ca.crt -CAkey ca.key -set_serial 5 -days -1 "
      "-extfile node.ext -out expired.crt",
      " ) >", d, "/openssl.log 2>&1");
  if (std::system(script.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("openssl failed; see ", d, "/openssl.log"));
  }
  p.ca = d + "/ca.crt";
  p.node_cert = d + "/node.crt";
  p.node_key = d + "/node.key";
  p.client_cert = d + "/client.crt";
  p.client_key = d + "/client.key";
  p.other_ca = d + "/other-ca.crt";
  p.other_client_cert = d + "/other-client.crt";
  p.other_client_key = d + "/other-client.key";
  p.expired_cert = d + "/expired.crt";
  return p;
}

}  // namespace llm::testing

#endif  // LLM_TESTS_CLUSTER_TLS_TEST_PKI_H_
