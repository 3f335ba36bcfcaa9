// LockClient: the C++ client library for lockd. `nfsprov lock` is built on it.
//
//   auto client = LockClient::ForVolumeDir("/data");          // reads /data/.nfsprov-lock.json
//   auto lease = (*client)->Acquire("cache", {.ttl = 15s, .timeout = 30s});
//   if (lease.ok()) { use (*lease)->token(); ... (*lease)->Release(); }
//
// A Lease renews itself in the background every ttl/3 (retrying failures every ttl/10), each
// renewal carrying the lease's mode and token, so that a lockd restarted before it recorded the
// lease takes it back (a reclaim, docs/locks.md). Its LOCAL
// deadline is the time the last successful renewal (or the acquire) was SENT plus the TTL, by
// this process's steady clock; lockd counts from when it receives the call, so the local deadline
// always comes first, and a client's wall clock never extends anything. The lease is lost when
// lockd answers NOT_FOUND to a renewal, or when no renewal has succeeded and only a quarter of
// the TTL is left before the local deadline: the holder then still has that quarter to stop
// before anyone else can be granted the lock. On loss `on_lost` runs once, on the renewal thread
// (it may call Release, but must not destroy the Lease).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "common/status.h"
#include "lockd/lease_table.h"
#include "lockd/lock_file.h"

namespace nfsprov::lockd {

struct TlsClientFiles {
  std::string cert_file;  // client certificate (PEM), for lockd started with --tls-client-ca
  std::string key_file;
};

struct AcquireOptions {
  LockMode mode = LockMode::kExclusive;
  std::chrono::milliseconds ttl{15000};
  // How long to queue: 0 = try once; negative = wait indefinitely.
  std::chrono::milliseconds timeout{-1};
  std::function<void(const Status&)> on_lost;  // why the lease was lost
};

class Lease {
 public:
  virtual ~Lease() = default;  // releases if still held (best effort)
  virtual uint64_t token() const = 0;
  virtual const std::string& lease_id() const = 0;
  virtual bool lost() const = 0;
  // Stops renewing and releases the lock (idempotent on lockd's side).
  virtual Status Release() = 0;
};

class LockClient {
 public:
  static Result<std::unique_ptr<LockClient>> Open(LockFile file, TlsClientFiles tls = {});
  static Result<std::unique_ptr<LockClient>> ForVolumeDir(const std::string& volume_dir,
                                                          TlsClientFiles tls = {});
  virtual ~LockClient() = default;

  // Blocks until granted or the timeout passes. Not granted in time: DEADLINE_EXCEEDED saying
  // how many hold and wait. Other errors: lockd's (lockd.proto), e.g. PERMISSION_DENIED.
  virtual Result<std::unique_ptr<Lease>> Acquire(const std::string& name,
                                                 AcquireOptions options) = 0;
};

}  // namespace nfsprov::lockd
