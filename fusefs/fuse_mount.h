// RunFuseMount: the user-space NFS mount behind `nfsprov fuse-mount` (libfuse3 over libnfs).
//
// Connects to the NFS export named by `url`, checks that its path is a directory, mounts it at
// `target` as fstype "fuse.nfsprov" with source `fsname`, and serves until the mount is
// unmounted (umount, fusermount3 -u) or the process gets SIGTERM/SIGINT (then it unmounts).
// Errors before the mount is up (bad URL, server unreachable, path missing, target not a
// directory) come back as a Status naming what failed; nothing is left mounted.
//
// Read-only quota enforcement: with `over_quota` set, a QuotaWatch polls it every `quota_poll`
// while the mount is up, and while its last answer is true every call that adds data fails with
// EROFS (nfs_fs.h). The probe is the caller's (fusefs does not know where usage is recorded).
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "common/status.h"

namespace nfsprov::fusefs {

struct FuseMountOptions {
  std::string url;       // nfs://server[:port]/path?version=3|4 (nfs/url.h)
  std::string target;    // existing directory
  std::string fsname;    // mountinfo source, e.g. "server:/export/vols/a"
  bool read_only = false;
  std::function<Result<bool>()> over_quota;  // unset: no quota enforcement
  std::chrono::milliseconds quota_poll{2000};
  std::string quota_name;  // names the volume in the watch's log lines (its key)
};

Status RunFuseMount(const FuseMountOptions& options);

}  // namespace nfsprov::fusefs
