// Mount state as the kernel reports it: /proc/<pid>/mountinfo parsed with libmount.
//
// The node plugin decides whether something is mounted only from here, never from stat()
// tricks (st_dev comparisons hang or lie on dead NFS/FUSE mounts). Nothing in this module
// touches the mounted filesystems themselves: FindMountAt canonicalizes only the parent of the
// target (realpath), so a hung mount at the target cannot block it. A target that is itself a
// symlink is not followed (mount(2) would follow it; the node plugin never mounts on symlinks).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace nfsprov::mount {

struct MountEntry {
  int id = 0;
  int parent_id = 0;
  std::string root;          // the directory of the source filesystem mounted here ("/" usually)
  std::string target;        // the mountpoint, unescaped
  std::string fstype;        // "nfs4", "fuse.nfsprov", "tmpfs", ...
  std::string source;        // "server:/path", or the device
  std::string vfs_options;   // per-mount options: "ro,nosuid,relatime"
  std::string fs_options;    // per-superblock options: "rw,vers=4.1,..."
  bool read_only = false;    // the per-mount "ro" flag (what a write through this mount obeys)
};

// Every mount in the mount namespace of process `pid` ("self" or a decimal pid), in mountinfo
// order. INVALID_ARGUMENT for any other pid string; the errno of the open/parse otherwise.
Result<std::vector<MountEntry>> ReadMounts(std::string_view pid = "self");

// The top-most mount whose mountpoint is exactly `target` (an absolute path; "." and ".." and
// repeated '/' are resolved lexically, the parent directory with realpath) in the namespace of
// `pid`, or nullopt when nothing is mounted there (also when the parent does not exist). With
// stacked mounts, the top-most is the one no other mount at the same path is mounted on.
Result<std::optional<MountEntry>> FindMountAt(const std::string& target,
                                              std::string_view pid = "self");

// True when the comma-separated `options` (vfs_options, fs_options) hold `name` exactly.
bool HasMountOption(std::string_view options, std::string_view name);

// The canonical form of `path` that FindMountAt compares against mountinfo targets.
Result<std::string> CanonicalMountpoint(const std::string& path);

}  // namespace nfsprov::mount
