// NFS URLs: nfs://host[:port]/export[/]?version=3|4&nfsport=N&mountport=N
//
// host is a DNS name, an IPv4 address or a bracketed IPv6 address ("[::1]"); a ":port" after the
// host is the NFS port (the same as nfsport=). The export path is absolute and is validated with
// nfs/path.h (a lone "/" is allowed); a trailing '/' is dropped. version defaults to 4 and is 3
// or 4 ("4.0", "4.1", "4.2" are accepted and mean 4 to libnfs). nfsport and mountport are
// 1..65535; mountport only makes sense with version 3 and is rejected with version 4. Any other
// query key, a repeated key, a user:password part or a fragment is INVALID_ARGUMENT naming it.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace nfsprov::nfs {

struct NfsUrl {
  std::string host;         // without brackets, e.g. "::1" or "nfs.example.com"
  std::string export_path;  // absolute, no trailing '/', e.g. "/export" or "/"
  int version = 4;          // 3 or 4
  int nfs_port = 0;         // 0: the protocol default / portmapper
  int mount_port = 0;       // 0: portmapper (NFSv3 only)

  // The URL to hand to libnfs's nfs_parse_url_dir (it sets version and ports on the context).
  std::string ToLibnfsUrl() const;
  // "nfs://host:port/export (NFSv4)" for logs and error messages.
  std::string Display() const;
};

Result<NfsUrl> ParseNfsUrl(std::string_view url);

}  // namespace nfsprov::nfs
