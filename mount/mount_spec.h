// NfsMountSpec: what the node plugin mounts, independent of how (kernel or FUSE).
//
// Built by the node plugin from a volume's context (server, share, subDir, port, nfsVersion,
// mountOptions, readOnly) and handed to a Mounter. Every field is already validated when a
// Mounter sees it: server is a host name or address (IPv6 without brackets), remote_path is an
// absolute, normalized path on the server (export + subdir), options are single mount options
// without separators or whitespace.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace nfsprov::mount {

struct NfsMountSpec {
  std::string server;
  std::string remote_path;            // e.g. "/export/vols/pvc-1"
  int port = 0;                       // 0: the protocol's default
  std::string nfs_version = "4";      // as given: "3", "4", "4.0", "4.1" or "4.2"
  std::vector<std::string> options;   // user mount options, e.g. {"hard", "nconnect=4"}
  bool read_only = false;
  // Read-only quota enforcement (FuseMounter only): the libnfs URL of the share root holding the
  // volume's usage record, and the volume's key. Both empty: no enforcement.
  std::string quota_share_url, quota_key;
};

// "server:/path", or "[v6addr]:/path": the source mount(8) takes and mountinfo shows.
std::string MountSource(const NfsMountSpec& spec);

// How a mount is made. Implementations: KernelMounter (mount -t nfs) and FuseMounter
// (`nfsprov fuse-mount`, libfuse3 over libnfs).
class Mounter {
 public:
  virtual ~Mounter() = default;
  virtual std::string_view name() const = 0;  // "kernel" or "fuse"
  // True when a mountinfo entry with this fstype and source is one this mounter makes for spec.
  virtual bool Matches(const NfsMountSpec& spec, std::string_view fstype,
                       std::string_view source) const = 0;
  // Mounts spec at target (an existing empty directory). Returns once the mount is visible in
  // /proc/self/mountinfo, or an error naming the server and path; on error nothing is mounted.
  virtual Status Mount(const NfsMountSpec& spec, const std::string& target) = 0;
  // Unmounts everything mounted exactly at target (lazily when the mount is stale or busy) and
  // makes sure nothing that served it is left behind (FuseMounter: the fuse-mount daemon is
  // stopped, killed if it hangs). Nothing mounted there: OK. Used by NodeUnstage and by NodeStage
  // when it replaces a dead mount.
  virtual Status Unmount(const std::string& target) = 0;
};

}  // namespace nfsprov::mount
