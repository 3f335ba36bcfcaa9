// RunFuseMount (see fuse_mount.h): libfuse3's high-level, path-based API over NfsFs and
// LockManager. FUSE callbacks run on libfuse's worker threads and block on NFS calls; libfuse's
// multi-threaded loop starts more workers as requests wait, so slow calls do not stall others.
#define FUSE_USE_VERSION 314
#include "fusefs/fuse_mount.h"

#include <fuse.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "fusefs/lock_manager.h"
#include "fusefs/nfs_fs.h"
#include "fusefs/quota_watch.h"
#include "nfs/url.h"

namespace nfsprov::fusefs {
namespace {

// Per-call timeout, reconnects included: a server away longer than this gives EIO.
constexpr std::chrono::milliseconds kCallTimeout{30000};
constexpr unsigned kMaxTransfer = 1 << 20;  // max_write, max_read and readahead
// flock owners (open file descriptions) and fcntl owners (processes) share one lock table, as on
// the Linux NFS client where flock is a whole-file byte-range lock; the bit keeps them apart.
// An open file description is one FUSE open, so its OpenFile names it, the same at flock time
// and at its release (where the kernel drops its flock lock, see Release).
constexpr uint64_t kFlockOwnerBit = uint64_t{1} << 63;

// When INIT completes, the kernel caps a FUSE mount's readahead at its 128 KiB default, so
// sequential reads arrive 128 KiB at a time, one after another. Once INIT is done (any file open
// proves it) the mount raises its bdi's read_ahead_kb, as the kernel NFS client sizes its own.
constexpr const char* kReadAheadKb = "4096";

struct Mount {
  std::unique_ptr<NfsFs> fs;
  std::unique_ptr<LockManager> locks;
  std::unique_ptr<QuotaWatch> quota;  // after fs: stopped before fs goes
  std::string read_ahead_file;  // /sys/class/bdi/<maj:min>/read_ahead_kb; empty if unknown
  std::once_flag read_ahead_raised;
};

// The sysfs readahead file of the mount at `target` (canonical), from its mountinfo device number.
std::string ReadAheadFile(const std::string& target) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line, found;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, device, root, mountpoint;
    fields >> id >> parent >> device >> root >> mountpoint;
    if (mountpoint == target) found = "/sys/class/bdi/" + device + "/read_ahead_kb";
  }
  return found;
}

void RaiseReadAhead(Mount& mount) {
  std::call_once(mount.read_ahead_raised, [&] {
    if (mount.read_ahead_file.empty()) return;
    std::ofstream out(mount.read_ahead_file);
    out << kReadAheadKb;
    out.flush();
    if (!out) spdlog::warn("fuse-mount: cannot raise readahead in {}", mount.read_ahead_file);
  });
}

Mount& M() { return *static_cast<Mount*>(fuse_get_context()->private_data); }
OpenFile* FileOf(const fuse_file_info* fi) {
  return fi != nullptr && fi->fh != 0 ? reinterpret_cast<OpenFile*>(fi->fh) : nullptr;
}
std::string P(const char* path) { return path != nullptr ? path : ""; }

void* Init(fuse_conn_info* conn, fuse_config* cfg) {
  conn->max_write = kMaxTransfer;
  conn->max_read = kMaxTransfer;  // must match the max_read mount option
  conn->max_readahead = kMaxTransfer;
  cfg->use_ino = 1;          // st_ino is the server's fileid: hard links share it
  cfg->attr_timeout = 1.0;
  cfg->entry_timeout = 1.0;
  cfg->negative_timeout = 0;  // a file another node creates is visible at once
  cfg->hard_remove = 1;       // open files hold no NFS state (nfs_fs.h): no .fuse_hidden renames
  cfg->kernel_cache = 0;      // page cache dropped at open: close-to-open consistency
  return fuse_get_context()->private_data;
}

int GetAttr(const char* path, struct stat* st, fuse_file_info* fi) {
  return M().fs->GetAttr(P(path), FileOf(fi), st);
}

int ReadDir(const char* path, void* buf, fuse_fill_dir_t fill, off_t, fuse_file_info*,
            fuse_readdir_flags) {
  std::vector<nfs::DirEntry> entries;
  if (int err = M().fs->ReadDir(P(path), &entries)) return err;
  fill(buf, ".", nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
  fill(buf, "..", nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
  for (const nfs::DirEntry& e : entries) {
    struct stat st = {};
    st.st_ino = e.attr.inode;
    st.st_mode = e.attr.type == nfs::FileType::kDirectory ? S_IFDIR
                 : e.attr.type == nfs::FileType::kSymlink ? S_IFLNK : S_IFREG;
    if (fill(buf, e.name.c_str(), &st, 0, static_cast<fuse_fill_dir_flags>(0)) != 0) break;
  }
  return 0;
}

int Mkdir(const char* path, mode_t mode) {
  const fuse_context* c = fuse_get_context();
  return M().fs->Mkdir(P(path), mode, c->uid, c->gid);
}
int Unlink(const char* path) { return M().fs->Unlink(P(path)); }
int Rmdir(const char* path) { return M().fs->Rmdir(P(path)); }
int Rename(const char* from, const char* to, unsigned flags) { return M().fs->Rename(P(from), P(to), flags); }
int Link(const char* from, const char* to) { return M().fs->Link(P(from), P(to)); }
int Symlink(const char* target, const char* path) { return M().fs->Symlink(P(target), P(path)); }
int Readlink(const char* path, char* buf, size_t size) { return M().fs->Readlink(P(path), buf, size); }
int Chmod(const char* path, mode_t mode, fuse_file_info*) { return M().fs->Chmod(P(path), mode); }
int Chown(const char* path, uid_t uid, gid_t gid, fuse_file_info*) { return M().fs->Chown(P(path), uid, gid); }
int Utimens(const char* path, const struct timespec tv[2], fuse_file_info*) { return M().fs->Utimens(P(path), tv); }
int Truncate(const char* path, off_t size, fuse_file_info* fi) { return M().fs->Truncate(P(path), FileOf(fi), size); }
int StatFs(const char*, struct statvfs* out) { return M().fs->StatFs(out); }

int Open(const char* path, fuse_file_info* fi) {
  RaiseReadAhead(M());
  std::unique_ptr<OpenFile> file;
  if (int err = M().fs->Open(P(path), fi->flags, &file)) return err;
  fi->fh = reinterpret_cast<uint64_t>(file.release());
  return 0;
}

int Create(const char* path, mode_t mode, fuse_file_info* fi) {
  const fuse_context* c = fuse_get_context();
  std::unique_ptr<OpenFile> file;
  if (int err = M().fs->Create(P(path), mode, fi->flags, c->uid, c->gid, &file)) return err;
  fi->fh = reinterpret_cast<uint64_t>(file.release());
  return 0;
}

// read_buf rather than read: libfuse sends the bytes from our buffer, with no copy into its own.
int ReadBuf(const char*, fuse_bufvec** out, size_t size, off_t offset, fuse_file_info* fi) {
  char* data = nullptr;
  size_t got = 0;
  if (int err = M().fs->Read(*FileOf(fi), size, offset, &data, &got)) return err;
  auto* vec = static_cast<fuse_bufvec*>(std::malloc(sizeof(fuse_bufvec)));
  if (vec == nullptr) {
    std::free(data);
    return -ENOMEM;
  }
  *vec = FUSE_BUFVEC_INIT(got);
  vec->buf[0].mem = data;  // libfuse frees both
  *out = vec;
  return 0;
}
int Write(const char*, const char* buf, size_t size, off_t offset, fuse_file_info* fi) {
  return M().fs->Write(*FileOf(fi), buf, size, offset);
}
int Flush(const char*, fuse_file_info* fi) { return M().fs->Commit(*FileOf(fi)); }
int Fsync(const char*, int, fuse_file_info* fi) { return M().fs->Commit(*FileOf(fi)); }
bool Interrupted() { return fuse_interrupted() != 0; }
uint64_t FlockOwner(const fuse_file_info* fi) { return reinterpret_cast<uint64_t>(FileOf(fi)) | kFlockOwnerBit; }

int Release(const char* path, fuse_file_info* fi) {
  // The kernel drops a flock lock with the last close of its open file description by flagging
  // this release; no separate unlock comes.
  if (fi->flock_release) {
    struct flock unlock = {};
    unlock.l_type = F_UNLCK;
    unlock.l_whence = SEEK_SET;
    (void)M().locks->Lock(P(path), FileOf(fi)->fh, FlockOwner(fi), F_SETLK, &unlock, Interrupted);
  }
  std::unique_ptr<OpenFile> file(FileOf(fi));
  return M().fs->Commit(*file);
}

int Lock(const char* path, fuse_file_info* fi, int cmd, struct flock* lock) {
  return M().locks->Lock(P(path), FileOf(fi)->fh, fi->lock_owner & ~kFlockOwnerBit, cmd, lock,
                         Interrupted);
}

int Flock(const char* path, fuse_file_info* fi, int op) {
  struct flock lock = {};
  lock.l_whence = SEEK_SET;
  lock.l_type = (op & LOCK_SH) != 0 ? F_RDLCK : (op & LOCK_EX) != 0 ? F_WRLCK : F_UNLCK;
  int cmd = (op & LOCK_NB) != 0 || lock.l_type == F_UNLCK ? F_SETLK : F_SETLKW;
  return M().locks->Lock(P(path), FileOf(fi)->fh, FlockOwner(fi), cmd, &lock, Interrupted);
}

fuse_operations Operations() {
  fuse_operations ops = {};
  ops.init = Init;
  ops.getattr = GetAttr;
  ops.readdir = ReadDir;
  ops.mkdir = Mkdir;
  ops.unlink = Unlink;
  ops.rmdir = Rmdir;
  ops.rename = Rename;
  ops.link = Link;
  ops.symlink = Symlink;
  ops.readlink = Readlink;
  ops.chmod = Chmod;
  ops.chown = Chown;
  ops.utimens = Utimens;
  ops.truncate = Truncate;
  ops.statfs = StatFs;
  ops.open = Open;
  ops.create = Create;
  ops.read_buf = ReadBuf;
  ops.write = Write;
  ops.flush = Flush;
  ops.fsync = Fsync;
  ops.release = Release;
  ops.lock = Lock;
  ops.flock = Flock;
  return ops;
}

// libfuse splits -o on commas: escape them (and backslashes) in the source name.
std::string EscapeOption(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == ',' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

// The stop signals, blocked in every thread but the one running the FUSE loop: libfuse's
// handlers end the loop only when they run on that thread (its wait is what they interrupt).
sigset_t StopSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, s);
  return set;
}

}  // namespace

Status RunFuseMount(const FuseMountOptions& options) {
  Result<nfs::NfsUrl> url = nfs::ParseNfsUrl(options.url);
  if (!url.ok()) return url.status();
  struct stat target;
  if (stat(options.target.c_str(), &target) != 0)
    return Status::FromErrno(errno, "mount target " + options.target);
  if (!S_ISDIR(target.st_mode)) return FailedPrecondition("mount target " + options.target + " is not a directory");
  if (url->version != 4) return Unimplemented("fuse-mount speaks NFSv4 only, got " + url->Display());

  // Threads started from here on (NFS loops, FUSE workers) inherit the blocked stop signals.
  sigset_t stop = StopSignals(), previous;
  pthread_sigmask(SIG_BLOCK, &stop, &previous);
  auto mount = std::make_unique<Mount>();
  Result<std::unique_ptr<NfsFs>> fs = NfsFs::Connect(*url, options.read_only, kCallTimeout);
  if (!fs.ok()) {
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    return fs.status();
  }
  mount->fs = std::move(fs).value();
  mount->locks = std::make_unique<LockManager>(*url, kCallTimeout);

  std::string opts = "fsname=" + EscapeOption(options.fsname.empty() ? url->Display() : options.fsname) +
                     ",subtype=nfsprov,allow_other,default_permissions,max_read=" + std::to_string(kMaxTransfer) +
                     (options.read_only ? ",ro" : "");
  std::vector<std::string> argv_text = {"nfsprov", "-o", opts};
  std::vector<char*> argv;
  for (std::string& a : argv_text) argv.push_back(a.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  fuse_operations ops = Operations();
  fuse* f = fuse_new(&args, &ops, sizeof(ops), mount.get());
  fuse_opt_free_args(&args);
  if (f == nullptr) {
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    return Internal("fuse_new failed for options " + opts);
  }
  // Resolved before mounting: once mounted, a lookup of the target waits for the FUSE loop.
  std::unique_ptr<char, decltype(&free)> canonical_target(realpath(options.target.c_str(), nullptr), &free);
  if (fuse_mount(f, options.target.c_str()) != 0) {
    fuse_destroy(f);
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    return Internal("cannot mount FUSE at " + options.target + " (see the libfuse message above)");
  }
  if (canonical_target != nullptr) mount->read_ahead_file = ReadAheadFile(canonical_target.get());
  if (options.over_quota) {
    NfsFs* served = mount->fs.get();
    mount->quota = std::make_unique<QuotaWatch>(options.over_quota, options.quota_poll,
                                                options.quota_name,
                                                [served](bool over) { served->SetOverQuota(over); });
  }
  fuse_session* se = fuse_get_session(f);
  fuse_set_signal_handlers(se);
  spdlog::info("fuse-mount: mounted {} at {}{}", url->Display(), options.target,
               options.read_only ? " (read-only)" : "");

  fuse_loop_config* config = fuse_loop_cfg_create();
  fuse_loop_cfg_set_max_threads(config, 32);
  fuse_loop_cfg_set_idle_threads(config, 8);
  pthread_sigmask(SIG_UNBLOCK, &stop, nullptr);  // only this thread takes the stop signals
  int rc = fuse_loop_mt(f, config);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  fuse_loop_cfg_destroy(config);

  fuse_remove_signal_handlers(se);
  fuse_unmount(f);
  fuse_destroy(f);
  mount.reset();
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  // libfuse returns the number of the signal that stopped the loop, or a negative errno.
  spdlog::info("fuse-mount: unmounted {} ({})", options.target,
               rc == 0 ? "unmounted" : rc > 0 ? std::string(strsignal(rc)) : std::strerror(-rc));
  return rc >= 0 ? Status() : Status::FromErrno(-rc, "FUSE loop for " + options.target);
}

}  // namespace nfsprov::fusefs
