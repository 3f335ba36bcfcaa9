#include "fusefs/lock_manager.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <thread>

#include "fusefs/nfs_fs.h"
#include "nfs/libnfs_call.h"

namespace nfsprov::fusefs {
namespace {

using nfs::EventLoop;
using nfs::internal::CallSync;
using nfs::internal::ErrorText;
using nfs::internal::Issue;
using nfs::internal::Unit;

constexpr auto kFirstBackoff = std::chrono::milliseconds(10);
constexpr auto kMaxBackoff = std::chrono::milliseconds(500);
constexpr auto kInterruptCheck = std::chrono::milliseconds(10);

// The server refused a lock because another owner holds it. libnfs 4.0 has no errno for
// NFS4ERR_DENIED and falls back to ERANGE (measured against nfs-ganesha).
bool Denied(int err) { return err == -ERANGE || err == -EAGAIN || err == -EACCES; }

uint64_t EndOf(const struct flock& l) {
  return l.l_len == 0 ? UINT64_MAX : static_cast<uint64_t>(l.l_start + l.l_len - 1);
}

// Sleeps for `d` in short slices; false if interrupted meanwhile.
bool SleepUnlessInterrupted(std::chrono::milliseconds d, const std::function<bool()>& interrupted) {
  for (auto left = d; left.count() > 0; left -= kInterruptCheck) {
    if (interrupted()) return false;
    std::this_thread::sleep_for(std::min(left, kInterruptCheck));
  }
  return !interrupted();
}

}  // namespace

LockManager::~LockManager() {
  // Closing the opens drops their locks on the server now instead of at lease expiry.
  for (auto& [fh, f] : files_) {
    f->table = LockTable();
    CloseIfUnused(*f);
  }
}

int LockManager::Lock(const std::string& path, const nfs::nfs4::FileHandle& file, uint64_t owner,
                      int cmd, struct flock* lock, const std::function<bool()>& interrupted) {
  if (lock->l_start < 0 || lock->l_len < 0) return -EINVAL;
  if (lock->l_type != F_RDLCK && lock->l_type != F_WRLCK && lock->l_type != F_UNLCK) return -EINVAL;
  std::shared_ptr<FileLocks> f;
  {
    std::lock_guard<std::mutex> guard(mu_);
    std::shared_ptr<FileLocks>& slot = files_[file];
    if (!slot) slot = std::make_shared<FileLocks>();
    f = slot;
    ++f->users;
  }
  int err = 0;
  for (auto backoff = kFirstBackoff;; backoff = std::min(backoff * 2, kMaxBackoff)) {
    {
      std::lock_guard<std::mutex> guard(f->mu);
      err = TryLock(*f, path, owner, lock, cmd == F_GETLK);
    }
    if (cmd != F_SETLKW || err != -EAGAIN) break;
    if (!SleepUnlessInterrupted(backoff, interrupted)) {
      err = -EINTR;
      break;
    }
  }
  std::lock_guard<std::mutex> guard(mu_);
  if (--f->users == 0) {
    std::lock_guard<std::mutex> file_guard(f->mu);
    if (f->table.empty() && f->server_open == nullptr) files_.erase(file);
  }
  return err;
}

int LockManager::TryLock(FileLocks& f, const std::string& path, uint64_t owner, struct flock* lock,
                         bool probe) {
  const int type = lock->l_type;
  const uint64_t start = static_cast<uint64_t>(lock->l_start);
  const uint64_t end = EndOf(*lock);
  if (type == F_UNLCK) {
    if (probe) return 0;
    f.table.Apply(owner, F_UNLCK, start, end);
    int err = f.server_open != nullptr ? Restore(f, start, end) : 0;
    CloseIfUnused(f);
    return err;
  }
  if (std::optional<LockRange> held = f.table.Conflict(owner, type, start, end)) {
    if (!probe) return -EAGAIN;
    lock->l_type = static_cast<short>(held->type);
    lock->l_start = static_cast<off_t>(held->start);
    lock->l_len = held->end == UINT64_MAX ? 0 : static_cast<off_t>(held->end - held->start + 1);
    lock->l_pid = 0;
    return 0;
  }
  if (int err = OpenForLocks(f, path)) return err;
  int err = ServerSet(f, type, start, end);
  if (probe) {
    if (err == 0) {
      err = Restore(f, start, end);
      lock->l_type = F_UNLCK;
    } else if (Denied(err)) {
      err = 0;
      lock->l_type = F_WRLCK;
      lock->l_pid = 0;
    }
    CloseIfUnused(f);
    return err;
  }
  if (Denied(err)) {
    CloseIfUnused(f);
    return -EAGAIN;
  }
  if (err == 0) f.table.Apply(owner, type, start, end);
  CloseIfUnused(f);
  return err;
}

int LockManager::ServerSet(FileLocks& f, int type, uint64_t start, uint64_t end) {
  auto arg = std::make_shared<nfs4_flock>();
  arg->l_type = type;
  arg->l_whence = SEEK_SET;
  arg->l_pid = static_cast<uint32_t>(getpid());
  arg->l_start = start;
  arg->l_len = end == UINT64_MAX ? UINT64_MAX : end - start + 1;  // NFSv4: all ones = to EOF
  nfsfh* fh = f.server_open;
  Result<Unit> r = CallSync<Unit>(*f.loop, nfs::Clock::now() + call_timeout_, "lock",
      [fh, arg](nfs_context* ctx, std::shared_ptr<Unit>, EventLoop::Done done) {
        Issue(ctx, [&](nfs_cb cb, void* priv) {
          return nfs_fcntl_async(ctx, fh, NFS4_F_SETLK, arg.get(), cb, priv);
        }, [arg, done](int err, void* data) {
          done(err < 0 ? err : 0, err < 0 ? ErrorText(err, data) : "");
        });
      }, EventLoop::Lane::kOpenState);  // LOCK with a new lock owner uses the open-owner's seqid
  return ToErrno(r.status());
}

int LockManager::Restore(FileLocks& f, uint64_t start, uint64_t end) {
  for (const LockRange& piece : f.table.Union(start, end)) {
    if (int err = ServerSet(f, piece.type, piece.start, piece.end)) return err;
  }
  return 0;
}

int LockManager::OpenForLocks(FileLocks& f, const std::string& path) {
  if (f.server_open != nullptr) return 0;
  Result<std::unique_ptr<EventLoop>> loop = EventLoop::Connect(url_, nfs::LoopOptions{});
  if (!loop.ok()) return ToErrno(loop.status());
  f.loop = std::move(loop).value();
  Result<nfsfh*> r = Unavailable("not opened");
  // A write lock needs an open for writing; a file we may only read can still take read locks.
  for (int flags : {O_RDWR, O_RDONLY}) {
    r = CallSync<nfsfh*>(*f.loop, nfs::Clock::now() + call_timeout_, "open for locks " + path,
        [path, flags](nfs_context* ctx, std::shared_ptr<nfsfh*> out, EventLoop::Done done) {
          Issue(ctx, [&](nfs_cb cb, void* priv) { return nfs_open_async(ctx, path.c_str(), flags, cb, priv); },
                [out, done](int err, void* data) {
                  if (err == 0) *out = static_cast<nfsfh*>(data);
                  done(err < 0 ? err : 0, err < 0 ? ErrorText(err, data) : "");
                });
        }, EventLoop::Lane::kOpenState);
    int e = r.ok() ? 0 : r.status().sys_errno();
    if (e != EACCES && e != EROFS && e != EPERM && e != EISDIR) break;
  }
  if (!r.ok()) {
    f.loop.reset();
    return ToErrno(r.status());
  }
  f.server_open = *r;
  return 0;
}

void LockManager::CloseIfUnused(FileLocks& f) {
  if (!f.table.empty() || f.server_open == nullptr) return;
  nfsfh* fh = std::exchange(f.server_open, nullptr);
  // Errors are not retried (libnfs frees the handle whatever the outcome): a CLOSE that fails
  // only leaves state that the server drops at lease expiry.
  (void)CallSync<Unit>(*f.loop, nfs::Clock::now() + call_timeout_, "close after locks",
      [fh](nfs_context* ctx, std::shared_ptr<Unit>, EventLoop::Done done) {
        Issue(ctx, [&](nfs_cb cb, void* priv) { return nfs_close_async(ctx, fh, cb, priv); },
              [done](int, void*) { done(0, ""); });
      }, EventLoop::Lane::kOpenState);
  f.loop.reset();
}

}  // namespace nfsprov::fusefs
