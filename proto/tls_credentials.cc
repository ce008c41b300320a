// File: proto/tls_credentials.cc
//
// The files are parsed with OpenSSL (which gRPC links anyway) only to check
// them: gRPC itself would accept any bytes here and fail later, at every
// handshake, with a message that names neither the flag nor the file.
#include "proto/tls_credentials.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace llm {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

absl::Status Invalid(const char* flag, const std::string& path, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(flag, ": ", path, ": ", what));
}

absl::StatusOr<std::string> ReadFile(const char* flag, const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr)
    return Invalid(flag, path, absl::StrCat("cannot read (", std::strerror(errno), ")"));
  std::string data;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) data.append(buf, n);
  const int read_errno = std::ferror(f) ? errno : 0;
  std::fclose(f);
  if (read_errno != 0) {
    return Invalid(flag, path, absl::StrCat("cannot read (", std::strerror(read_errno), ")"));
  }
  if (data.empty()) return Invalid(flag, path, "file is empty");
  return data;
}

BioPtr MemoryBio(const std::string& pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

std::string AsnTimeText(const ASN1_TIME* t) {
  BioPtr out(BIO_new(BIO_s_mem()));
  ASN1_TIME_print(out.get(), t);
  char* data = nullptr;
  const long n = BIO_get_mem_data(out.get(), &data);
  return std::string(data, n);
}

// Every certificate of a PEM bundle; an error when there is none.
absl::StatusOr<std::vector<X509Ptr>> ParseCertificates(const char* flag, const std::string& path,
                                                       const std::string& pem) {
  std::vector<X509Ptr> certs;
  BioPtr bio = MemoryBio(pem);
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    certs.emplace_back(x);
  }
  // The loop ends on "no more PEM blocks" (expected) or on a broken block.
  ERR_clear_error();
  if (certs.empty()) {
    return Invalid(flag, path,
                   "not a PEM certificate (expected a -----BEGIN CERTIFICATE----- block)");
  }
  return certs;
}

absl::Status CheckValidNow(const char* flag, const std::string& path, const X509* cert) {
  if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0) {
    return Invalid(
        flag, path,
        absl::StrCat("certificate not valid before ", AsnTimeText(X509_get0_notBefore(cert))));
  }
  if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0) {
    return Invalid(flag, path,
                   absl::StrCat("certificate expired on ", AsnTimeText(X509_get0_notAfter(cert))));
  }
  return absl::OkStatus();
}

// Never prompts on a terminal for the passphrase of an encrypted key.
int NoPassphrase(char*, int, int, void*) { return -1; }

struct KeyPair {
  std::string cert_pem;
  std::string key_pem;
};

// Reads and checks --tls-cert and --tls-key, which come together.
absl::StatusOr<KeyPair> LoadKeyPair(const TlsFiles& files) {
  if (files.cert.empty() != files.key.empty()) {
    return absl::InvalidArgumentError(
        files.cert.empty() ? "--tls-key needs --tls-cert (the certificate of the key)"
                           : "--tls-cert needs --tls-key (the certificate's private key)");
  }
  KeyPair pair;
  absl::StatusOr<std::string> cert_pem = ReadFile("--tls-cert", files.cert);
  if (!cert_pem.ok()) return cert_pem.status();
  absl::StatusOr<std::string> key_pem = ReadFile("--tls-key", files.key);
  if (!key_pem.ok()) return key_pem.status();
  absl::StatusOr<std::vector<X509Ptr>> certs =
      ParseCertificates("--tls-cert", files.cert, *cert_pem);
  if (!certs.ok()) return certs.status();
  const X509* leaf = certs->front().get();
  if (absl::Status s = CheckValidNow("--tls-cert", files.cert, leaf); !s.ok()) return s;

  BioPtr bio = MemoryBio(*key_pem);
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr));
  ERR_clear_error();
  if (key == nullptr) {
    return Invalid("--tls-key", files.key,
                   "not an unencrypted PEM private key (expected a -----BEGIN PRIVATE KEY----- "
                   "block)");
  }
  if (X509_check_private_key(leaf, key.get()) != 1) {
    ERR_clear_error();
    return Invalid("--tls-key", files.key,
                   absl::StrCat("does not match the certificate in --tls-cert ", files.cert));
  }
  pair.cert_pem = std::move(*cert_pem);
  pair.key_pem = std::move(*key_pem);
  return pair;
}

absl::StatusOr<std::string> LoadCa(const std::string& path) {
  absl::StatusOr<std::string> pem = ReadFile("--tls-ca", path);
  if (!pem.ok()) return pem.status();
  absl::StatusOr<std::vector<X509Ptr>> certs = ParseCertificates("--tls-ca", path, *pem);
  if (!certs.ok()) return certs.status();
  return pem;
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsFiles& files) {
  if (!files.any()) return grpc::InsecureServerCredentials();
  if (files.cert.empty() && files.key.empty()) {
    return absl::InvalidArgumentError(
        "--tls-ca needs --tls-cert and --tls-key: a server cannot serve TLS without its own "
        "certificate");
  }
  absl::StatusOr<KeyPair> pair = LoadKeyPair(files);
  if (!pair.ok()) return pair.status();
  // With a CA: mutual TLS, a client without a certificate that CA signed
  // fails the handshake.
  grpc::SslServerCredentialsOptions options(
      files.ca.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                       : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  if (!files.ca.empty()) {
    absl::StatusOr<std::string> ca = LoadCa(files.ca);
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = std::move(*ca);
  }
  options.pem_key_cert_pairs.push_back({pair->key_pem, pair->cert_pem});
  return grpc::SslServerCredentials(options);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const TlsFiles& files) {
  if (!files.any()) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions options;
  if (!files.cert.empty() || !files.key.empty()) {
    absl::StatusOr<KeyPair> pair = LoadKeyPair(files);
    if (!pair.ok()) return pair.status();
    options.pem_cert_chain = std::move(pair->cert_pem);
    options.pem_private_key = std::move(pair->key_pem);
  }
  // Without a CA, gRPC verifies the server against its default roots.
  if (!files.ca.empty()) {
    absl::StatusOr<std::string> ca = LoadCa(files.ca);
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = std::move(*ca);
  }
  return grpc::SslCredentials(options);
}

std::shared_ptr<grpc::Channel> CreateClientChannel(
    const std::string& address, const std::shared_ptr<grpc::ChannelCredentials>& credentials,
    const std::string& tls_server_name) {
  grpc::ChannelArguments args;
  if (!tls_server_name.empty()) args.SetSslTargetNameOverride(tls_server_name);
  return grpc::CreateCustomChannel(
      address, credentials != nullptr ? credentials : grpc::InsecureChannelCredentials(), args);
}

}  // namespace llm
