// Where the CSI gRPC server listens, parsed from the --endpoint flag.
//
// Accepted forms (anything else is INVALID_ARGUMENT naming the problem):
//   unix:///abs/path.sock   the form kubelet and the sidecars use
//   unix:/abs/path.sock     the short form gRPC also accepts
//   tcp://host:port         for tests and debugging only; IPv6 as tcp://[::1]:port; port 0 lets
//                           the kernel pick (CsiServer::bound_port tells which)
// A unix path must be absolute, must not end in '/', and must fit in sockaddr_un (107 bytes).
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace nfsprov::csi {

struct Endpoint {
  enum Kind { kUnix, kTcp };

  Kind kind = kUnix;
  std::string path;  // kUnix: absolute socket path
  std::string host;  // kTcp: host name or IP address (IPv6 without brackets)
  int port = 0;      // kTcp: 0..65535

  // The address for grpc::ServerBuilder / grpc::CreateChannel: "unix:///abs/path" or
  // "host:port" ("[v6]:port").
  std::string GrpcAddress() const;
};

Result<Endpoint> ParseEndpoint(std::string_view endpoint);

}  // namespace nfsprov::csi
