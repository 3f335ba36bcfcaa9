#include "lockd/server_tls.h"

#include "common/local_file.h"

namespace nfsprov::lockd {

Result<std::string> ReadPemFile(const std::string& path) {
  Result<std::string> text = ReadLocalFile(path);
  if (text.ok() && text->empty()) return InvalidArgument(path + " is empty");
  return text;
}

Result<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFor(const ServerTlsFiles& files) {
  if (files.cert_file.empty() && files.key_file.empty()) {
    if (!files.client_ca_file.empty()) {
      return InvalidArgument("--tls-client-ca needs --tls-cert and --tls-key");
    }
    return std::shared_ptr<grpc::ServerCredentials>();
  }
  if (files.cert_file.empty() || files.key_file.empty()) {
    return InvalidArgument("--tls-cert and --tls-key go together");
  }
  Result<std::string> cert = ReadPemFile(files.cert_file);
  if (!cert.ok()) return cert.status();
  Result<std::string> key = ReadPemFile(files.key_file);
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions options;
  options.pem_key_cert_pairs.push_back({*key, *cert});
  if (!files.client_ca_file.empty()) {
    Result<std::string> ca = ReadPemFile(files.client_ca_file);
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = *ca;
    options.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(options);
}

}  // namespace nfsprov::lockd
