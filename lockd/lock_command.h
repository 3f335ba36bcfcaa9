// `nfsprov lock`: run a command while holding a lease, like flock(1) across nodes.
//
// Reads the volume's lock file, acquires the lock (queueing up to --timeout), runs CMD with
// NFSPROV_LOCK_TOKEN (the fencing token), NFSPROV_LOCK_NAME and NFSPROV_LOCK_LEASE in its
// environment, renews the lease while CMD runs, and releases it when CMD exits.
// If the lease is lost (lockd says it expired, or renewals kept failing until a quarter of the TTL
// was left, see client.h), CMD gets SIGTERM, then SIGKILL an eighth of the TTL later, so it is
// dead before lockd could grant the lock to anyone else; the command exits kExitLeaseLost with a
// message saying why.
// CMD runs in a process group of its own, so those signals reach what it started too. SIGTERM and
// SIGINT sent to `nfsprov lock` are forwarded to that group (the lock is released once CMD exits);
// while the lock is still being waited for they end `nfsprov lock` at once.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "lockd/client.h"

namespace nfsprov::lockd {

inline constexpr int kExitNotAcquired = 75;  // EX_TEMPFAIL: timed out waiting (or try failed)
inline constexpr int kExitLeaseLost = 76;
inline constexpr int kExitLockError = 77;    // bad input, no lock file, denied, lockd down

struct LockCommandOptions {
  std::string volume_dir;
  std::string name;
  LockMode mode = LockMode::kExclusive;
  std::chrono::milliseconds ttl{15000};
  std::chrono::milliseconds timeout{-1};  // negative: wait indefinitely; 0: try once
  TlsClientFiles tls;
  std::vector<std::string> command;  // argv; must not be empty
};

// Runs the whole thing; returns the process exit code: CMD's own exit status (128 + signal when
// it died of one; 127 when it cannot be found, 126 when it cannot be run), or one of the codes
// above. Messages go to stderr.
int RunLockCommand(const LockCommandOptions& options);

}  // namespace nfsprov::lockd
