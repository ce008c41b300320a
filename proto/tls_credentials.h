// File: proto/tls_credentials.h
//
// gRPC credentials from the --tls-cert, --tls-key and --tls-ca flags that
// every binary of the cluster takes (llm-worker, llm-scheduler, llmctl,
// llm-bench). One place builds them so that every binary accepts the same
// files, applies the same rules and fails at start-up with the same clear
// messages, instead of at the first handshake with an opaque one.
//
// The rules:
//   - No flag set: insecure (plaintext) credentials, as before TLS existed.
//   - Server: --tls-cert and --tls-key together serve TLS; adding --tls-ca
//     requires every client to present a certificate that CA signed (mutual
//     TLS). --tls-ca alone is an error (a server cannot do TLS without its
//     own certificate).
//   - Client: any flag turns TLS on. --tls-ca verifies the server (default:
//     the system's roots); --tls-cert and --tls-key, always together,
//     present a client certificate.
//   - Every file is read and parsed now: a missing or unreadable file, a
//     file that is not PEM, a key that does not belong to the certificate
//     and an expired or not-yet-valid certificate are errors
//     (InvalidArgument) whose message names the flag and the path.
//
// Thread safety: the functions are thread-safe (no shared state).
#ifndef LLM_PROTO_TLS_CREDENTIALS_H_
#define LLM_PROTO_TLS_CREDENTIALS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"

namespace llm {

// Paths of PEM files; empty = not given.
struct TlsFiles {
  std::string cert;  // --tls-cert: this side's certificate (chain)
  std::string key;   // --tls-key: its private key
  std::string ca;    // --tls-ca: CA bundle that verifies the other side

  bool any() const { return !cert.empty() || !key.empty() || !ca.empty(); }
};

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsFiles& files);

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const TlsFiles& files);

// A channel to `address` (HOST:PORT) with `credentials` (null: plaintext).
// `tls_server_name`, when not empty, is the name the server's certificate
// must be valid for instead of HOST (--tls-server-name: e.g. a probe that
// connects to 127.0.0.1 with a certificate issued for the Service's name).
std::shared_ptr<grpc::Channel> CreateClientChannel(
    const std::string& address, const std::shared_ptr<grpc::ChannelCredentials>& credentials,
    const std::string& tls_server_name);

}  // namespace llm

#endif  // LLM_PROTO_TLS_CREDENTIALS_H_
