// File: proto/tls_flags.h
//
// AddTlsFlags: the --tls-cert, --tls-key and --tls-ca flags (see
// tls_credentials.h for what they mean) on a CLI11 app, each with an
// environment variable <PREFIX>_TLS_CERT, <PREFIX>_TLS_KEY, <PREFIX>_TLS_CA;
// AddTlsServerNameFlag: the clients' --tls-server-name.
// Header-only so that llm_proto itself does not depend on CLI11: only the
// binaries' main.cc files, which parse flags with CLI11 anyway, include it.
//
// Thread safety: call while building the app, from one thread.
#ifndef LLM_PROTO_TLS_FLAGS_H_
#define LLM_PROTO_TLS_FLAGS_H_

#include <string>

#include "CLI/CLI.hpp"
#include "proto/tls_credentials.h"

namespace llm {

// Which side(s) of a connection the binary is; only the help text differs.
enum class TlsRole {
  kServer,           // llm-worker
  kClient,           // llmctl, llm-bench
  kServerAndClient,  // llm-scheduler: serves clients, calls workers
};

inline void AddTlsFlags(CLI::App& app, TlsFiles& files, TlsRole role,
                        const std::string& env_prefix) {
  const char* cert_help = "";
  const char* key_help = "";
  const char* ca_help = "";
  switch (role) {
    case TlsRole::kServer:
      cert_help = "PEM certificate (chain) to serve TLS with (needs --tls-key)";
      key_help = "PEM private key of --tls-cert";
      ca_help = "PEM CA bundle: clients must present a certificate it signed (mutual TLS)";
      break;
    case TlsRole::kClient:
      cert_help = "PEM client certificate to present (mutual TLS; needs --tls-key)";
      key_help = "PEM private key of --tls-cert";
      ca_help =
          "PEM CA bundle that verifies the server (any --tls-* flag turns TLS on; "
          "default: the system's roots)";
      break;
    case TlsRole::kServerAndClient:
      cert_help =
          "PEM certificate (chain): served on the public API, and presented to "
          "workers as the client certificate (needs --tls-key)";
      key_help = "PEM private key of --tls-cert";
      ca_help =
          "PEM CA bundle: clients of the public API must present a certificate it "
          "signed (mutual TLS), and it verifies the workers' certificates";
      break;
  }
  app.add_option("--tls-cert", files.cert, cert_help)->envname(env_prefix + "_TLS_CERT");
  app.add_option("--tls-key", files.key, key_help)->envname(env_prefix + "_TLS_KEY");
  app.add_option("--tls-ca", files.ca, ca_help)->envname(env_prefix + "_TLS_CA");
}

// --tls-server-name (clients only): see CreateClientChannel.
inline void AddTlsServerNameFlag(CLI::App& app, std::string& server_name,
                                 const std::string& env_prefix) {
  app.add_option("--tls-server-name", server_name,
                 "Name the server's certificate must be valid for (default: the host of "
                 "--server)")
      ->envname(env_prefix + "_TLS_SERVER_NAME");
}

}  // namespace llm

#endif  // LLM_PROTO_TLS_FLAGS_H_
