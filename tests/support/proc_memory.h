// ProcKb: one "Key: N kB" value of a /proc file (status, smaps_rollup), for tests and benchmarks
// that measure a process's memory.
#pragma once

#include <string>

namespace nfsprov::testing {

// The value of `key` (e.g. "VmRSS", "Private_Clean") in `path`, in kB; -1 when it is missing.
double ProcKb(const std::string& path, const std::string& key);

}  // namespace nfsprov::testing
