// Memory of a process as /proc reports it, for tests and benchmarks that measure it.
#pragma once

#include <string>

namespace nfsprov::testing {

// The value of `key` (e.g. "VmRSS", "Private_Clean") in `path`, in kB; -1 when it is missing.
double ProcKb(const std::string& path, const std::string& key);

// The resident kB of process `pid`'s mappings of files whose path starts with `prefix`
// (/proc/PID/smaps); -1 when it cannot be read.
double MappedRssKb(int pid, const std::string& prefix);

}  // namespace nfsprov::testing
