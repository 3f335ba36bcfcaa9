// CrashPoint: lets tests kill the process at a named step, to prove crash safety with a real
// SIGKILL rather than a simulation.
//
// When the environment variable NFSPROV_CRASH_AT equals `name` (read once, at the first call),
// the process sends itself SIGKILL there. Unset (always, in production), it costs one comparison.
// The names in use are listed in docs/layouts.md.
#pragma once

#include <string_view>

namespace nfsprov {

void CrashPoint(std::string_view name);

}  // namespace nfsprov
