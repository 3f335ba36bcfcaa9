// ParseEndpoint and Endpoint::GrpcAddress.
#include "csi/endpoint.h"

#include <gtest/gtest.h>

#include <string>

namespace nfsprov::csi {
namespace {

TEST(EndpointTest, UnixTripleSlash) {
  const Result<Endpoint> e = ParseEndpoint("unix:///var/lib/kubelet/plugins/nfs/csi.sock");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->kind, Endpoint::kUnix);
  EXPECT_EQ(e->path, "/var/lib/kubelet/plugins/nfs/csi.sock");
  EXPECT_EQ(e->GrpcAddress(), "unix:///var/lib/kubelet/plugins/nfs/csi.sock");
}

TEST(EndpointTest, UnixShortForm) {
  const Result<Endpoint> e = ParseEndpoint("unix:/csi/csi.sock");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->kind, Endpoint::kUnix);
  EXPECT_EQ(e->path, "/csi/csi.sock");
  EXPECT_EQ(e->GrpcAddress(), "unix:///csi/csi.sock");
}

TEST(EndpointTest, UnixPathAtTheSunPathLimit) {
  const std::string longest = "/" + std::string(106, 'a');  // 107 bytes + NUL = sizeof(sun_path)
  EXPECT_TRUE(ParseEndpoint("unix://" + longest).ok());
  const Result<Endpoint> too_long = ParseEndpoint("unix://" + longest + "b");
  EXPECT_EQ(too_long.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(too_long.status().message().find("longer than 107"), std::string::npos)
      << too_long.status().ToString();
}

TEST(EndpointTest, Tcp) {
  const Result<Endpoint> e = ParseEndpoint("tcp://127.0.0.1:10000");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->kind, Endpoint::kTcp);
  EXPECT_EQ(e->host, "127.0.0.1");
  EXPECT_EQ(e->port, 10000);
  EXPECT_EQ(e->GrpcAddress(), "127.0.0.1:10000");
}

TEST(EndpointTest, TcpPortZeroAndHostName) {
  const Result<Endpoint> e = ParseEndpoint("tcp://localhost:0");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->host, "localhost");
  EXPECT_EQ(e->port, 0);
  EXPECT_EQ(e->GrpcAddress(), "localhost:0");
}

TEST(EndpointTest, TcpIpv6InBrackets) {
  const Result<Endpoint> e = ParseEndpoint("tcp://[::1]:65535");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->host, "::1");
  EXPECT_EQ(e->port, 65535);
  EXPECT_EQ(e->GrpcAddress(), "[::1]:65535");
}

struct BadCase {
  std::string endpoint;
  std::string problem;  // a fragment the message must contain
};

class EndpointRejectTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(EndpointRejectTest, RejectedWithTheProblemNamed) {
  const Result<Endpoint> e = ParseEndpoint(GetParam().endpoint);
  ASSERT_FALSE(e.ok()) << GetParam().endpoint;
  EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(e.status().message().find(GetParam().problem), std::string::npos)
      << e.status().ToString();
}

INSTANTIATE_TEST_SUITE_P(
    All, EndpointRejectTest,
    ::testing::Values(
        BadCase{"", "empty"},
        BadCase{"/csi/csi.sock", "scheme"},
        BadCase{"http://127.0.0.1:80", "scheme"},
        BadCase{"UNIX:///csi.sock", "scheme"},
        BadCase{"unix://", "absolute path"},
        BadCase{"unix:", "absolute path"},
        BadCase{"unix://csi/csi.sock", "absolute path"},  // "csi" would be a host
        BadCase{"unix:csi.sock", "absolute path"},
        BadCase{"unix:///csi/", "directory"},
        BadCase{std::string("unix:///a\0b", 11), "NUL"},
        BadCase{"tcp://", "port"},
        BadCase{"tcp://127.0.0.1", "port"},
        BadCase{"tcp://127.0.0.1:", "port"},
        BadCase{"tcp://:10000", "missing host"},
        BadCase{"tcp://127.0.0.1:65536", "0 to 65535"},
        BadCase{"tcp://127.0.0.1:123456", "0 to 65535"},
        BadCase{"tcp://127.0.0.1:-1", "0 to 65535"},
        BadCase{"tcp://127.0.0.1:http", "0 to 65535"},
        BadCase{"tcp://127.0.0.1:10000/csi", "host:port only"},
        BadCase{"tcp://user@127.0.0.1:1", "host:port only"},
        BadCase{"tcp://::1:10000", "brackets"},
        BadCase{"tcp://[::1:10000", "']'"},
        BadCase{"tcp://[::1]", "port"},
        BadCase{"tcp://[example]:1", "IPv6"},
        BadCase{"tcp://a b:1", "letters, digits"}));

}  // namespace
}  // namespace nfsprov::csi
