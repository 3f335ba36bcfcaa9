// Running helper programs without a shell: mount(8) with a deadline, and detached daemons.
//
// Both are safe to call from a multi-threaded process (posix_spawn, or fork followed only by
// async-signal-safe calls) and reset the child's signal mask and dispositions, so a gRPC
// server's blocked or ignored signals do not leak into mount.nfs or a FUSE daemon.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "common/status.h"

namespace nfsprov::mount {

struct ProcessOutcome {
  bool timed_out = false;  // killed by us at the deadline
  int exit_code = -1;      // when it exited on its own
  int signal = 0;          // when a signal ended it
  std::string output;      // stdout and stderr interleaved; the last 16 KiB

  bool success() const { return !timed_out && exit_code == 0; }
  // "exited with status 32", "was killed by signal 9", "timed out".
  std::string Describe() const;
};

// Runs argv (argv[0] searched in PATH) in a new process group with stdin from /dev/null, and
// waits for it. At the deadline the whole group gets SIGKILL and the outcome says timed_out.
// An error Status only when the program could not be started (e.g. NOT_FOUND for a missing one).
Result<ProcessOutcome> RunProcess(const std::vector<std::string>& argv,
                                  std::chrono::milliseconds timeout);

// Starts argv (argv[0] an absolute path) as a daemon that is not our child: double fork, new
// session, cwd "/", stdin /dev/null, stdout and stderr appended to log_path (created 0640).
// Returns its pid once it has exec'ed; a failed exec is an error naming argv[0].
Result<pid_t> SpawnDetached(const std::vector<std::string>& argv, const std::string& log_path);

}  // namespace nfsprov::mount
