// ShareRef: which NFS export a volume lives on, and how the controller and node reach it.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "nfs/url.h"

namespace nfsprov {

struct ShareRef {
  std::string server;               // DNS name, IPv4, or IPv6 without brackets
  std::string share;                // absolute export path, no trailing '/', e.g. "/export/k8s"
  int port = 0;                     // NFS port; 0 = protocol default
  std::string nfs_version = "4";    // as given: "3", "4", "4.0", "4.1" or "4.2" (the node mounts with it)

  int ProtocolVersion() const { return nfs_version == "3" ? 3 : 4; }  // what libnfs speaks
  nfs::NfsUrl Url() const;           // for the controller's NFS client
  std::string Key() const;           // identity for connection pooling: server, port, version, share
  bool operator==(const ShareRef&) const = default;
};

// Checks a server name by the nfs/url.h host rules: a DNS name or IPv4 address, or an IPv6
// address without brackets. Shared by StorageClass parsing and ID decoding.
Status ValidateServer(std::string_view server);

}  // namespace nfsprov
