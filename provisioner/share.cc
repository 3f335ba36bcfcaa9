#include "provisioner/share.h"

#include "nfs/path.h"

namespace nfsprov {

nfs::NfsUrl ShareRef::Url() const {
  nfs::NfsUrl url;
  url.host = server;
  url.export_path = share;
  url.version = ProtocolVersion();
  url.nfs_port = port;
  return url;
}

// Two refs share a pooled connection exactly when libnfs would be handed the same URL: "4" and
// "4.1" both speak NFSv4 to it, so they get one key.
std::string ShareRef::Key() const { return Url().ToLibnfsUrl(); }

// Rather than restating the host rules, put the name in a URL and let nfs::ParseNfsUrl judge it.
// Comparing the parsed host catches names that change the URL's shape ("h/x", "h?x").
Status ValidateServer(std::string_view server) {
  ShareRef probe{.server = std::string(server), .share = "/"};
  Result<nfs::NfsUrl> parsed = nfs::ParseNfsUrl(probe.Url().ToLibnfsUrl());
  if (parsed.ok() && parsed->host == server && parsed->nfs_port == 0) return {};
  return InvalidArgument("server " + nfs::QuoteForMessage(server) +
                         ": must be a DNS name or IPv4 address (letters, digits, '.' and '-') "
                         "or an IPv6 address without brackets (hex digits, ':' and '.')");
}

}  // namespace nfsprov
