// NfsFs: the filesystem operations behind `nfsprov fuse-mount`, as calls on one NFS export.
//
// Methods are synchronous and thread-safe (FUSE worker threads call them) and return 0, a byte
// count, or a negative errno, which is what FUSE wants. Paths are the FUSE paths ("/a/b"), which
// are also paths within the export. A server that cannot be reached within the call timeout
// gives EIO; the connections keep reconnecting, so later calls work once it is back.
//
// Open files hold no NFSv4 open state: open() resolves the path to a file handle, and reads,
// writes, truncates and attribute reads go by handle with the anonymous stateid. libnfs 4.0 has
// one open-owner per connection, so two opens of one file through libnfs would share (and one
// close would end) the same server state; handles also survive a server restart, so open files
// keep working after it. Creation is an exclusive OPEN through libnfs (NFSv4 creates files only
// with OPEN); its CLOSE goes out together with one COMPOUND that sets mode, owner and times and
// returns the handle, the attributes that answer FUSE's getattr right after the create, and the
// parent directory's attributes (see PostOpAttrs). Writes go in UNSTABLE pieces of
// nfs4::kMaxWriteBytes (libnfs encodes a request in 4 KiB), all in flight at once, except a new
// file's small first write (FILE_SYNC, see Write); flush and fsync COMMIT what was written, so
// data is durable after close(2) as with the kernel NFS client.
//
// Identity: every request carries the mount process's AUTH_SYS credentials (root for the node
// plugin); the kernel checks the caller's permissions against the reported modes before a call
// gets here (default_permissions, see docs/fusefs.md). New files and directories get the
// caller's uid and gid as owner.
//
// Over quota (SetOverQuota(true), from the daemon's QuotaWatch): every call that adds data fails
// with EROFS — Write, Create, Mkdir, Symlink, Link and a Truncate that grows the file — while
// reads and whatever frees space (Unlink, Rmdir, Rename, shrinking Truncate) and attribute changes
// keep working, so users can get back under their quota.
#pragma once

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "nfs/client.h"
#include "nfs/nfs4_compound.h"

namespace nfsprov::fusefs {

// Negative errno for a failed Status: the server's errno; EIO when the server was unreachable.
int ToErrno(const Status& status);

struct OpenFile {
  nfs::nfs4::FileHandle fh;
  nfs::EventLoop* loop = nullptr;  // one connection per open file: its writes stay in order
  std::optional<nfs::FileAttr> created;  // from create, answers the getattr that follows once
  std::atomic<bool> dirty{false};        // UNSTABLE writes not yet committed
  // Set by create: the file's first write, when small and at offset 0, goes FILE_SYNC (see Write).
  std::atomic<bool> first_write_stable{false};
};

class NfsFs {
 public:
  static constexpr int kConnections = 3;

  // Connects and checks that the export path is a directory.
  static Result<std::unique_ptr<NfsFs>> Connect(const nfs::NfsUrl& url, bool read_only,
                                                std::chrono::milliseconds call_timeout);

  nfs::Client& client() { return *client_; }
  bool read_only() const { return read_only_; }
  void SetOverQuota(bool over) { over_quota_.store(over, std::memory_order_relaxed); }

  int GetAttr(const std::string& path, OpenFile* file, struct stat* st);
  int ReadDir(const std::string& path, std::vector<nfs::DirEntry>* entries);  // without . and ..
  int Mkdir(const std::string& path, mode_t mode, uid_t uid, gid_t gid);
  int Unlink(const std::string& path);
  int Rmdir(const std::string& path);
  int Rename(const std::string& from, const std::string& to, unsigned flags);
  int Link(const std::string& from, const std::string& to);
  int Symlink(const std::string& target, const std::string& link_path);
  int Readlink(const std::string& path, char* buf, size_t size);
  int Chmod(const std::string& path, mode_t mode);
  int Chown(const std::string& path, uid_t uid, gid_t gid);
  int Utimens(const std::string& path, const struct timespec tv[2]);
  int Truncate(const std::string& path, OpenFile* file, off_t size);
  int StatFs(struct statvfs* out);

  int Open(const std::string& path, int flags, std::unique_ptr<OpenFile>* out);
  int Create(const std::string& path, mode_t mode, int flags, uid_t uid, gid_t gid,
             std::unique_ptr<OpenFile>* out);
  // Reads up to `size` bytes at `offset` into memory from malloc that *data then owns (the caller
  // frees it; libfuse's read_buf does); *got is how many arrived (fewer at the end of the file).
  int Read(OpenFile& file, size_t size, off_t offset, char** data, size_t* got);
  // A created file's first write, at offset 0 and at most kStableFirstWriteBytes, goes FILE_SYNC
  // and leaves nothing to commit, so a small file costs one round trip for its data instead of a
  // WRITE and a COMMIT at close (the Linux NFS client likewise sends a flush that fits in one
  // request as FILE_SYNC). Every other write goes UNSTABLE and is committed by Commit.
  static constexpr size_t kStableFirstWriteBytes = 64 << 10;
  int Write(OpenFile& file, const char* buf, size_t size, off_t offset);
  int Commit(OpenFile& file);  // flush and fsync

  // How long the parent directory's attributes from a create may answer a GetAttr of that
  // directory: the mount's attr_timeout, the age the kernel accepts for any cached attributes.
  static constexpr std::chrono::milliseconds kPostOpAttrsMaxAge{1000};

 private:
  NfsFs(std::unique_ptr<nfs::Client> client, bool read_only)
      : client_(std::move(client)), read_only_(read_only) {}
  // Sends `c` on `loop`. With attrs, `c` ends with GETATTR (GetEntryAttrs), decoded into it;
  // with fh too, a GETFH comes just before that GETATTR.
  int Send(nfs::EventLoop& loop, std::shared_ptr<nfs::nfs4::Compound> c,
           nfs::FileAttr* attrs = nullptr, nfs::nfs4::FileHandle* fh = nullptr);
  int SetAttrs(const std::string& path, const nfs::nfs4::SetAttrs& attrs);
  int LookupHandle(const std::string& path, nfs::EventLoop& loop, nfs::nfs4::FileHandle* fh);
  // Why a call that adds data is refused now: -EROFS (read-only mount, or over quota) or 0.
  int RefuseNewData() const {
    return read_only_ || over_quota_.load(std::memory_order_relaxed) ? -EROFS : 0;
  }

  // Marks a call that changes names or attributes on the server: changes_ moves when it begins
  // and when it ends, so post-op attributes taken meanwhile are never served (see Create).
  class ChangeScope {
   public:
    explicit ChangeScope(NfsFs& fs) : fs_(fs), began_(++fs.changes_) {}
    ~ChangeScope() { ++fs_.changes_; }
    uint64_t began() const { return began_; }

   private:
    NfsFs& fs_;
    const uint64_t began_;
  };
  // The kernel forgets a directory's attributes after every create in it and, with
  // default_permissions, asks for them before the next lookup there. Create fetches them in its
  // own COMPOUND (post-operation attributes, as NFS clients keep them) and the next GetAttr of
  // that directory takes them once, if no other change began or ended since the create began.
  struct PostOpAttrs {
    std::string dir;
    nfs::FileAttr attr;
    uint64_t valid_while = 0;  // the value of changes_ they stay valid at
    std::chrono::steady_clock::time_point taken;
  };
  void KeepPostOpAttrs(PostOpAttrs attrs);
  std::optional<nfs::FileAttr> TakePostOpAttrs(const std::string& dir);

  std::unique_ptr<nfs::Client> client_;
  const bool read_only_;
  std::atomic<bool> over_quota_{false};
  std::atomic<uint64_t> changes_{0};
  std::mutex post_op_mu_;
  std::optional<PostOpAttrs> post_op_;  // guarded by post_op_mu_
};

}  // namespace nfsprov::fusefs
