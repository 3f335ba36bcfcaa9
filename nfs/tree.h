// The pipelined tree engine: recursive delete, recursive copy and usage scan.
//
// Each operation runs on one connection's event loop and keeps up to max_in_flight NFS requests
// outstanding. It walks by file handle (raw NFSv4 COMPOUNDs: READDIR with attributes and handles,
// REMOVE by directory handle and name, CREATE/SETATTR/READ/WRITE by handle), so:
//  - depth is unlimited (nothing is resolved by path below the root), and
//  - symlinks are never followed: a link is removed, copied or counted as a link.
// Memory is bounded by the number of directories pending on the walk's stack plus one READDIR
// page per listed directory and max_in_flight requests; never by the size of the tree. The walk
// is depth-first so the stack stays proportional to depth x branching, not to the tree.
//
// Robustness: an entry that vanishes mid-walk is skipped; an entry that cannot be read, removed
// or copied (EACCES, ...) is reported with its path in TreeStats::errors and the walk goes on,
// and the operation then fails with the first such error. A server that goes away makes the
// operation fail with UNAVAILABLE once in-flight requests drain; running it again continues
// where it stopped (RemoveTree is idempotent: a missing root is success).
//
// NFSv4 only: on an NFSv3 URL the operations return UNIMPLEMENTED.
#pragma once

#include <chrono>
#include <string_view>

#include "common/status.h"
#include "nfs/client.h"
#include "nfs/types.h"

namespace nfsprov::nfs {

// CopyTree keeps a directory with this name prefix inside the destination until the copy is
// complete: its presence marks a partial copy.
inline constexpr std::string_view kCopyStagingPrefix = ".nfsprov-staging-";

struct TreeOptions {
  int max_in_flight = 64;
};

// Removes `path` (a directory, file or symlink) and everything below it.
Result<TreeStats> RemoveTree(Client& client, std::string_view path, TreeOptions options = {});

// Counts entries and bytes below and including `path`.
Result<TreeStats> ScanTree(Client& client, std::string_view path, TreeOptions options = {});

// Copies the directory `from` to `to`, which must not exist (ALREADY_EXISTS) and whose parent
// must. Preserves modes, owners, access and modification times and symlinks; hard links become
// separate files; special files (devices, FIFOs, sockets) are reported as errors and skipped.
// `to` gets its final mode only at the end, so a partial copy is never readable as complete.
Result<TreeStats> CopyTree(Client& client, std::string_view from, std::string_view to,
                           TreeOptions options = {});

}  // namespace nfsprov::nfs
