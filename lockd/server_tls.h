// lockd's TLS: gRPC server credentials from PEM files.
#pragma once

#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>

#include "common/status.h"

namespace nfsprov::lockd {

struct ServerTlsFiles {
  std::string cert_file;       // server certificate chain (PEM)
  std::string key_file;        // its private key (PEM)
  std::string client_ca_file;  // when set, clients must present a certificate signed by this CA
};

// Null when no file is given (plaintext). INVALID_ARGUMENT when only one of cert and key is
// given, or a client CA without them; a file that cannot be read names it (never its content).
Result<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFor(const ServerTlsFiles& files);

// Reads a whole local file (PEM, key material): errors name the file and the errno, never content.
Result<std::string> ReadPemFile(const std::string& path);

}  // namespace nfsprov::lockd
