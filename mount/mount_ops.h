// Bind mounts, unmounts and mountpoint directories for the node plugin.
//
// Every call decides from mountinfo (mount/mountinfo.h) and is idempotent where the node plugin
// needs it to be: unmounting what is not mounted and removing a directory that is gone succeed.
// None of them stats into a mount that may be dead (ProbeMount, which cannot block, decides
// whether an unmount has to be forced).
#pragma once

#include <sys/types.h>

#include <string>

#include "common/status.h"

namespace nfsprov::mount {

// Bind-mounts `source` (a directory or file) on `target` (an existing directory or file),
// non-recursively, on top of whatever is mounted there. With read_only the bind is remounted
// read-only (keeping its nosuid/nodev/noexec/atime flags, which a remount must repeat) and then
// mountinfo must show it read-only; if it does not, it is unmounted again and the call fails: a
// pod never gets a writable mount it asked to be read-only.
Status BindMount(const std::string& source, const std::string& target, bool read_only);

// Removes the top-most mount at `target`. OK when nothing is mounted there or target does not
// exist. A mount that is busy, or whose filesystem is stale, disconnected or unresponsive (see
// ProbeMount), is forced (MNT_FORCE aborts pending NFS RPCs and FUSE requests) and detached
// (MNT_DETACH), so a dead server cannot wedge the call.
Status Unmount(const std::string& target);

// Unmount until nothing is mounted at `target` (stacked mounts); fails if mounts keep appearing.
Status UnmountAll(const std::string& target);

// mkdir -p: creates the missing directories of the absolute `path` with `mode` (before umask).
// An existing final component is accepted without stat'ing it (it may be a dead mount).
Status MakeDirs(const std::string& path, mode_t mode);

// Removes the directory `path` if it is empty and not a mountpoint (rmdir: EBUSY and ENOTEMPTY
// are errors, never forced). OK when it does not exist.
Status RemoveMountpointDir(const std::string& path);

}  // namespace nfsprov::mount
