// The NFS server every benchmark measures against, and where it keeps its export.
//
// nfs-ganesha exports a directory on tmpfs (/dev/shm) when the machine has one, so the numbers
// describe the server and the driver, not the disk under them: on a filesystem like the CI
// machine's root (ext4 without a journal) each new inode is found by stepping over every inode
// freed in the last minutes (ext4's "recently deleted" check, made only without a journal), so a
// create costs the server 2 to 7 times more after a phase that deleted thousands of files than
// before it. NFSPROV_BENCH_EXPORT_PARENT=<dir> puts the export under <dir> instead (for example
// /tmp, to measure on the disk).
#pragma once

#include <memory>

#include "tests/support/ganesha_server.h"

namespace nfsprov::bench {

// Starts the server (dying if it cannot) and logs where its export lives and why.
std::unique_ptr<testing::GaneshaServer> StartBenchServer();

}  // namespace nfsprov::bench
