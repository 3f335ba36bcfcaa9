#include "tests/support/test_certs.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>

extern char** environ;

namespace nfsprov::testing {
namespace {

// Our own config rather than the system's openssl.cnf, so the extensions are exactly these
// wherever the tests run. -subj gives every subject, so [dn] stays empty.
constexpr char kConfig[] = R"([req]
distinguished_name = dn
prompt = no
[dn]
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
authorityKeyIdentifier = keyid
[client_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
)";

constexpr char kConfigName[] = "openssl.cnf";
constexpr char kLogName[] = "openssl.log";
constexpr char kDays[] = "3650";

Status WriteWholeFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
  out.close();
  if (!out) return Internal("cannot write " + path);
  return {};
}

Status MakeKey(const std::string& dir, const std::string& key) {
  return RunOpenssl(dir, {"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                          "-out", key});
}

// A self-signed CA certificate.
Status MakeCa(const std::string& dir, const std::string& name, const std::string& cn) {
  NFSPROV_RETURN_IF_ERROR(MakeKey(dir, name + ".key"));
  return RunOpenssl(dir, {"req", "-new", "-x509", "-config", kConfigName, "-key", name + ".key",
                          "-subj", "/CN=" + cn, "-days", kDays, "-extensions", "ca_ext", "-out",
                          name + ".crt"});
}

// A leaf certificate signed by ca.crt with the config's `extensions` section.
Status MakeLeaf(const std::string& dir, const std::string& name, const std::string& cn,
                const std::string& extensions, const std::string& serial) {
  NFSPROV_RETURN_IF_ERROR(MakeKey(dir, name + ".key"));
  NFSPROV_RETURN_IF_ERROR(RunOpenssl(dir, {"req", "-new", "-config", kConfigName, "-key",
                                           name + ".key", "-subj", "/CN=" + cn, "-out",
                                           name + ".csr"}));
  return RunOpenssl(dir, {"x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey",
                          "ca.key", "-set_serial", serial, "-days", kDays, "-extfile", kConfigName,
                          "-extensions", extensions, "-out", name + ".crt"});
}

}  // namespace

Status RunOpenssl(const std::string& dir, const std::vector<std::string>& args) {
  std::vector<std::string> command = {"openssl"};
  command.insert(command.end(), args.begin(), args.end());
  std::string text;
  for (const std::string& arg : command) text += (text.empty() ? "" : " ") + arg;
  const std::string log = dir + "/" + kLogName;

  std::vector<char*> argv;
  for (std::string& arg : command) argv.push_back(arg.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addchdir_np(&actions, dir.c_str());
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = 0;
  int spawned = posix_spawnp(&pid, "openssl", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) return Status::FromErrno(spawned, text);

  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0) {
    if (errno != EINTR) return Status::FromErrno(errno, "waitpid for " + text);
  }
  if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) return {};
  return Internal(text + " failed (wait status " + std::to_string(wstatus) +
                  "): " + ReadWholeFile(log));
}

Result<TestCerts> MakeTestCerts(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Internal("cannot create " + dir + ": " + ec.message());
  NFSPROV_RETURN_IF_ERROR(WriteWholeFile(dir + "/" + kConfigName, kConfig));
  NFSPROV_RETURN_IF_ERROR(MakeCa(dir, "ca", "nfsprov-test-ca"));
  NFSPROV_RETURN_IF_ERROR(MakeLeaf(dir, "server", "localhost", "server_ext", "2"));
  NFSPROV_RETURN_IF_ERROR(MakeLeaf(dir, "client", "nfsprov-test-client", "client_ext", "3"));
  NFSPROV_RETURN_IF_ERROR(MakeCa(dir, "other-ca", "nfsprov-test-other-ca"));

  TestCerts certs;
  certs.dir = dir;
  certs.ca_file = dir + "/ca.crt";
  certs.server_cert_file = dir + "/server.crt";
  certs.server_key_file = dir + "/server.key";
  certs.client_cert_file = dir + "/client.crt";
  certs.client_key_file = dir + "/client.key";
  certs.other_ca_file = dir + "/other-ca.crt";
  certs.ca_pem = ReadWholeFile(certs.ca_file);
  certs.other_ca_pem = ReadWholeFile(certs.other_ca_file);
  if (certs.ca_pem.empty() || certs.other_ca_pem.empty()) {
    return Internal("openssl wrote no CA certificate in " + dir);
  }
  return certs;
}

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream data;
  data << in.rdbuf();
  return data.str();
}

}  // namespace nfsprov::testing
