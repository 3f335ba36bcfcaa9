// UsePrivateLibraryCopies: runs a binary's children on copies of its shared libraries, as a
// container image's own files would be, so that their pages are mapped by nobody else. Memory
// measurements need it: pages another process maps too (this test or benchmark links gRPC, other
// tests run the same binary) are not the child's alone, and an idle trim leaves them
// (common/idle_trim.h).
#pragma once

#include <string>

#include "common/status.h"

namespace nfsprov::testing {

// Copies every library `ldd binary` resolves into `dir` (created if missing) and sets
// LD_LIBRARY_PATH to it for the processes this one starts from then on. Returns how many were
// copied; INTERNAL when ldd fails or a copy cannot be made.
Result<int> UsePrivateLibraryCopies(const std::string& binary, const std::string& dir);

}  // namespace nfsprov::testing
