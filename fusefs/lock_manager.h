// LockManager: POSIX byte-range locks (fcntl) and flock(2) of a FUSE mount, held on the NFS
// server as NFSv4 locks so that other mounts (other nodes, other fuse-mount processes) are
// excluded, and arbitrated locally between the processes of this mount.
//
// libnfs 4.0 gives every lock on a connection the same NFSv4 lock owner (the connection's client
// name), so the server cannot tell two processes of one mount apart. Each locked file therefore
// has a LockTable of local owners (FUSE lock owners: one per process for fcntl locks, one per
// open file description for flock), and the server holds their union through one libnfs open of
// the file.
//
// That open gets a connection of its own, made at the first lock on the file and dropped (after
// CLOSE) when the last local lock on it goes, and also after a refused attempt. Why: libnfs 4.0
// remembers "this connection has a lock owner" per connection but the lock stateid per open, so
// a second opened file on one connection sends LOCK with a stateid the server never issued; and
// a refused first LOCK advances the open-owner's sequence id on the server but not in libnfs, so
// the next OPEN or LOCK on that connection fails with BAD_SEQID. A fresh connection per attempt
// costs one NFSv4 mount (a few ms) and starts from a clean state every time.
//
// F_SETLKW and blocking flock wait by polling (libnfs cannot block on the server) with backoff
// from 10 ms to 500 ms; the calling FUSE request stays blocked meanwhile, and the wait ends with
// EINTR as soon as `interrupted` says the request was interrupted. F_GETLK reports a local
// conflict exactly; a conflict on the server is found by taking the lock and putting the previous
// state back, and is reported as F_WRLCK over the requested range with pid 0 (NFSv4.0 LOCK does
// not say who holds it here).
//
// Locks do not survive a server restart (the server forgets them; nothing reclaims them).
#pragma once

#include <fcntl.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/status.h"
#include "fusefs/lock_table.h"
#include "nfs/event_loop.h"
#include "nfs/nfs4_compound.h"

struct nfsfh;

namespace nfsprov::fusefs {

class LockManager {
 public:
  // Connects nothing yet: connections are made per locked file (see above).
  LockManager(nfs::NfsUrl url, std::chrono::milliseconds call_timeout)
      : url_(std::move(url)), call_timeout_(call_timeout) {}
  ~LockManager();

  // cmd is F_GETLK, F_SETLK or F_SETLKW; `lock` has l_whence SEEK_SET (FUSE converts) and is
  // updated for F_GETLK. `path` names the file when its first lock is taken; `file` (its NFS
  // file handle) identifies it. Returns 0 or a negative errno (EAGAIN when refused).
  int Lock(const std::string& path, const nfs::nfs4::FileHandle& file, uint64_t owner, int cmd,
           struct flock* lock, const std::function<bool()>& interrupted);

 private:
  struct FileLocks {
    std::mutex mu;
    LockTable table;
    std::unique_ptr<nfs::EventLoop> loop;  // the connection of server_open
    nfsfh* server_open = nullptr;          // while the table holds locks or an attempt runs
    int users = 0;                 // Lock calls using this entry (guarded by LockManager::mu_)
  };

  // One attempt without waiting; EAGAIN when another owner (here or on the server) has it.
  int TryLock(FileLocks& f, const std::string& path, uint64_t owner, struct flock* lock, bool probe);
  int ServerSet(FileLocks& f, int type, uint64_t start, uint64_t end);
  int Restore(FileLocks& f, uint64_t start, uint64_t end);  // the server back to the table's union
  int OpenForLocks(FileLocks& f, const std::string& path);
  void CloseIfUnused(FileLocks& f);

  const nfs::NfsUrl url_;
  const std::chrono::milliseconds call_timeout_;
  std::mutex mu_;
  std::map<nfs::nfs4::FileHandle, std::shared_ptr<FileLocks>> files_;
};

}  // namespace nfsprov::fusefs
