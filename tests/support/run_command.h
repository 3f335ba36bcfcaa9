// RunCommand: runs a program to completion and captures what it printed, for tests of the
// nfsprov binary's command line.
#pragma once

#include <string>
#include <vector>

namespace nfsprov::testing {

struct CommandResult {
  int exit_code = -1;  // -1 when it could not be started or did not exit normally
  std::string out;
  std::string err;
};

// Runs argv[0] (a path, or a name looked up in PATH) with argv, no shell involved, stdin from
// /dev/null; stdout and stderr are captured separately.
CommandResult RunCommand(const std::vector<std::string>& argv);

}  // namespace nfsprov::testing
