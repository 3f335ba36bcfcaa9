// Metrics against real servers: NFS errors counted where libnfs errors become a Status (a real
// nfs-ganesha), and the HTTP endpoint's /metrics and /healthz (csi/metrics_server.h) over
// loopback.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include "common/metrics.h"
#include "csi/metrics_server.h"
#include "nfs/client.h"
#include "tests/support/ganesha_server.h"
#include "tests/support/prometheus_text.h"

namespace nfsprov {
namespace {

using ::testing::HasSubstr;

double NfsErrors(const std::string& op, const std::string& code) {
  Result<testing::PromText> text = testing::ParsePrometheusText(metrics::Default().Expose());
  EXPECT_TRUE(text.ok()) << text.status().ToString();
  if (!text.ok()) return -1;
  return testing::FindSample(*text, "nfsprov_nfs_errors_total", {{"op", op}, {"code", code}}).value_or(0);
}

TEST(NfsErrorMetricsTest, FailedCallsAreCountedByOperationAndCode) {
  auto server = testing::GaneshaServer::Start();
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  auto client = nfs::Client::Connect((*server)->Url(), {});
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  const double stat_before = NfsErrors("stat", "NOT_FOUND");
  const double rename_before = NfsErrors("rename", "NOT_FOUND");
  const double create_before = NfsErrors("create", "ALREADY_EXISTS");

  EXPECT_EQ((*client)->Stat("/missing").status().code(), StatusCode::kNotFound);
  EXPECT_EQ((*client)->Rename("/missing", "/elsewhere").code(), StatusCode::kNotFound);
  EXPECT_EQ((*client)->Rename("/missing", "/elsewhere").code(), StatusCode::kNotFound);
  ASSERT_TRUE((*client)->Mkdir("/dir", 0755).ok());  // NFSv4: one COMPOUND, op "create"
  EXPECT_EQ((*client)->Mkdir("/dir", 0755).code(), StatusCode::kAlreadyExists);

  EXPECT_EQ(NfsErrors("stat", "NOT_FOUND"), stat_before + 1);
  EXPECT_EQ(NfsErrors("rename", "NOT_FOUND"), rename_before + 2);
  EXPECT_EQ(NfsErrors("create", "ALREADY_EXISTS"), create_before + 1);
}

class MetricsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<int> port = testing::PickFreePort();
    ASSERT_TRUE(port.ok()) << port.status().ToString();
    port_ = *port;
    address_ = "127.0.0.1:" + std::to_string(port_);
    registry_.AddCounter("x_total", "X.", {"v"}).With({"a\"b"}).Inc(3);
    auto server = csi::MetricsServer::Start(address_, registry_);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
  }

  httplib::Result Get(const std::string& path) { return httplib::Client("127.0.0.1", port_).Get(path); }

  int port_ = 0;
  std::string address_;
  metrics::Registry registry_;
  std::unique_ptr<csi::MetricsServer> server_;
};

TEST_F(MetricsServerTest, ServesTheRegistryInTheTextFormat) {
  httplib::Result res = Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(res->body, registry_.Expose());
  EXPECT_THAT(res->body, HasSubstr("x_total{v=\"a\\\"b\"} 3\n"));
  httplib::Result other = Get("/other");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 404);
}

TEST_F(MetricsServerTest, HealthFollowsSetHealth) {
  httplib::Result starting = Get("/healthz");
  ASSERT_TRUE(starting);
  EXPECT_EQ(starting->status, 503);
  EXPECT_EQ(starting->body, "starting\n");
  server_->SetHealth(Status());
  httplib::Result serving = Get("/healthz");
  ASSERT_TRUE(serving);
  EXPECT_EQ(serving->status, 200);
  EXPECT_EQ(serving->body, "ok\n");
  server_->SetHealth(Unavailable("shutting down"));
  httplib::Result stopping = Get("/healthz");
  ASSERT_TRUE(stopping);
  EXPECT_EQ(stopping->status, 503);
  EXPECT_EQ(stopping->body, "shutting down\n");
}

TEST_F(MetricsServerTest, BusyAddressIsUnavailableNamingIt) {
  auto second = csi::MetricsServer::Start(address_, registry_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(second.status().message(), HasSubstr("cannot serve metrics on " + address_));
}

TEST_F(MetricsServerTest, StopClosesTheListener) {
  server_->Stop();
  EXPECT_FALSE(Get("/healthz"));
  server_->Stop();  // idempotent
}

}  // namespace
}  // namespace nfsprov
