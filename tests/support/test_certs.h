// Certificates for TLS tests, made with the `openssl` command line tool (OpenSSL 3, on PATH).
//
// MakeTestCerts writes into `dir` (created if missing; files there of the same names are
// replaced) a CA, a server certificate and a client certificate signed by it, and a second,
// unrelated CA whose trust must get a client or server nowhere. Keys are EC P-256 (fast to
// make) in PEM, PKCS#8; certificates are valid for ten years from now:
//   server: CN=localhost, subjectAltName IP:127.0.0.1 and DNS:localhost, extendedKeyUsage serverAuth
//   client: CN=nfsprov-test-client, extendedKeyUsage clientAuth
// A failure names the openssl command and carries what it printed.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace nfsprov::testing {

struct TestCerts {
  std::string dir;
  std::string ca_pem;  // the CA certificate's PEM text (what a config embeds)
  std::string ca_file;
  std::string server_cert_file, server_key_file;
  std::string client_cert_file, client_key_file;
  std::string other_ca_pem;  // an unrelated CA: trusting it must not verify the above
  std::string other_ca_file;
};

Result<TestCerts> MakeTestCerts(const std::string& dir);

// Runs `openssl args...` in `dir`; an error carries the command and its output.
Status RunOpenssl(const std::string& dir, const std::vector<std::string>& args);

// The whole content of a file; empty when it cannot be read.
std::string ReadWholeFile(const std::string& path);

}  // namespace nfsprov::testing
