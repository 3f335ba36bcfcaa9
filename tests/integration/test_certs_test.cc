// MakeTestCerts: what TLS tests rely on, checked with openssl itself.
#include "tests/support/test_certs.h"

#include <cstdlib>
#include <filesystem>

#include <gtest/gtest.h>

namespace nfsprov::testing {
namespace {

class TestCertsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/nfsprov-certs-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    Result<TestCerts> certs = MakeTestCerts(dir_ + "/certs");  // a directory yet to be made
    ASSERT_TRUE(certs.ok()) << certs.status().ToString();
    certs_ = std::move(certs).value();
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }

  // The certificate's text as `openssl x509 -text` prints it.
  std::string Describe(const std::string& cert) {
    Status shown = RunOpenssl(certs_.dir, {"x509", "-in", cert, "-noout", "-text", "-out",
                                           dir_ + "/described.txt"});
    EXPECT_TRUE(shown.ok()) << shown.ToString();
    return ReadWholeFile(dir_ + "/described.txt");
  }

  std::string dir_;
  TestCerts certs_;
};

TEST_F(TestCertsTest, FilesAndPems) {
  for (const std::string& file : {certs_.ca_file, certs_.server_cert_file, certs_.server_key_file,
                                  certs_.client_cert_file, certs_.client_key_file,
                                  certs_.other_ca_file}) {
    EXPECT_TRUE(std::filesystem::is_regular_file(file)) << file;
  }
  EXPECT_EQ(certs_.ca_pem, ReadWholeFile(certs_.ca_file));
  EXPECT_TRUE(certs_.ca_pem.starts_with("-----BEGIN CERTIFICATE-----")) << certs_.ca_pem;
  EXPECT_TRUE(certs_.other_ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
  EXPECT_NE(certs_.ca_pem, certs_.other_ca_pem);
  EXPECT_TRUE(ReadWholeFile(certs_.server_key_file).starts_with("-----BEGIN PRIVATE KEY-----"));
}

TEST_F(TestCertsTest, VerifiesAgainstItsCaOnly) {
  for (const std::string& cert : {certs_.server_cert_file, certs_.client_cert_file}) {
    Status good = RunOpenssl(certs_.dir, {"verify", "-CAfile", certs_.ca_file, cert});
    EXPECT_TRUE(good.ok()) << good.ToString();
    Status wrong = RunOpenssl(certs_.dir, {"verify", "-CAfile", certs_.other_ca_file, cert});
    EXPECT_FALSE(wrong.ok()) << cert;
  }
  Status server = RunOpenssl(certs_.dir, {"verify", "-CAfile", certs_.ca_file, "-purpose",
                                          "sslserver", "-verify_ip", "127.0.0.1",
                                          certs_.server_cert_file});
  EXPECT_TRUE(server.ok()) << server.ToString();
  Status client = RunOpenssl(certs_.dir, {"verify", "-CAfile", certs_.ca_file, "-purpose",
                                          "sslclient", certs_.client_cert_file});
  EXPECT_TRUE(client.ok()) << client.ToString();
  // The client certificate is not a server's.
  Status misused = RunOpenssl(certs_.dir, {"verify", "-CAfile", certs_.ca_file, "-purpose",
                                           "sslserver", certs_.client_cert_file});
  EXPECT_FALSE(misused.ok());
}

TEST_F(TestCertsTest, Subjects) {
  std::string server = Describe(certs_.server_cert_file);
  EXPECT_NE(server.find("IP Address:127.0.0.1"), std::string::npos) << server;
  EXPECT_NE(server.find("DNS:localhost"), std::string::npos) << server;
  std::string client = Describe(certs_.client_cert_file);
  EXPECT_NE(client.find("CN = nfsprov-test-client"), std::string::npos) << client;
  EXPECT_NE(client.find("TLS Web Client Authentication"), std::string::npos) << client;
}

TEST_F(TestCertsTest, ErrorCarriesOpensslOutput) {
  Status failed = RunOpenssl(certs_.dir, {"x509", "-in", "no-such.crt", "-noout"});
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.message().find("openssl x509 -in no-such.crt"), std::string::npos)
      << failed.ToString();
  EXPECT_NE(failed.message().find("no-such.crt"), failed.message().rfind("no-such.crt"))
      << "no output of openssl in: " << failed.ToString();
}

}  // namespace
}  // namespace nfsprov::testing
