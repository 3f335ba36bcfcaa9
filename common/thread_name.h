// NameThisThread: gives the calling thread the name that top -H, ps -L, perf and gdb show.
//
// A thread otherwise keeps the name of the thread that started it, so a profile of the
// controller showed its NFS event loops, scanners and reaper all as gRPC's "grpcpp_sync_ser".
// Linux keeps at most 15 bytes; a longer name is cut. Failure only leaves the old name.
#pragma once

#include <string_view>

namespace nfsprov {

void NameThisThread(std::string_view name);

}  // namespace nfsprov
