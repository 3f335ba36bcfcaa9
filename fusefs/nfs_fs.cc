#include "fusefs/nfs_fs.h"

#include <fcntl.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <utility>

#include "nfs/libnfs_call.h"

namespace nfsprov::fusefs {
namespace {

using nfs::EventLoop;
using nfs::FileAttr;
using nfs::internal::CallSync;
using nfs::internal::ErrorText;
using nfs::internal::Issue;
using nfs::internal::Unit;
namespace nfs4 = nfs::nfs4;

constexpr uint64_t kMaxReadBytes = 1 << 20;
constexpr uint32_t kReadDirBytes = 64 << 10;  // per READDIR reply

mode_t TypeBits(nfs::FileType type) {
  switch (type) {
    case nfs::FileType::kDirectory: return S_IFDIR;
    case nfs::FileType::kSymlink: return S_IFLNK;
    default: return S_IFREG;  // devices, FIFOs and sockets are not served over this mount
  }
}

void ToStat(const FileAttr& a, struct stat* st) {
  *st = {};
  st->st_mode = TypeBits(a.type) | a.mode;
  st->st_ino = a.inode;
  st->st_nlink = a.nlink;
  st->st_uid = a.uid;
  st->st_gid = a.gid;
  st->st_size = static_cast<off_t>(a.size);
  st->st_blksize = 1 << 20;
  st->st_blocks = static_cast<blkcnt_t>((a.used_bytes + 511) / 512);
  st->st_atim = {a.atime.seconds, a.atime.nanoseconds};
  st->st_mtim = {a.mtime.seconds, a.mtime.nanoseconds};
  st->st_ctim = {a.ctime.seconds, a.ctime.nanoseconds};
}

nfs::Timestamp Now() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return {ts.tv_sec, static_cast<uint32_t>(ts.tv_nsec)};
}

// Completes an attempt from a Compound reply (strerror for NFS errors, as nfs::Client does).
void Reply(EventLoop::Done& done, int err, const std::string& message) {
  done(err, err < 0 && !EventLoop::IsTransportError(err) ? std::strerror(-err) : message);
}

// Requests of one call, all in flight at once on one loop: the pieces of a read or a write, or a
// create's CLOSE and attribute COMPOUND.
// `pending` starts at 1 for the issuing loop itself (Issued), so `done` cannot run before every
// piece is sent even when libnfs refuses one at once.
struct Pieces {
  int pending = 1;
  int err = 0;
  std::string message;
  uint64_t result = 0;  // bytes done: cut at the first short piece
  std::function<void(uint64_t result)> store;  // optional
  EventLoop::Done done;

  void Finish(int e, const std::string& m) {
    if (e < 0 && err == 0) {
      err = e;
      message = EventLoop::IsTransportError(e) ? m : std::strerror(-e);
    }
    if (--pending > 0) return;
    if (store) store(result);
    EventLoop::Done d = std::move(done);
    d(err, message);
  }
  void Cut(uint64_t at) { result = std::min(result, at); }
};

}  // namespace

int ToErrno(const Status& status) {
  if (status.ok()) return 0;
  switch (status.sys_errno()) {
    case 0:
      return status.code() == StatusCode::kInvalidArgument ? -EINVAL : -EIO;
    case EHOSTDOWN: case ETIMEDOUT: case ECANCELED:  // the server did not answer in time
      return -EIO;
    default:
      return -status.sys_errno();
  }
}

Result<std::unique_ptr<NfsFs>> NfsFs::Connect(const nfs::NfsUrl& url, bool read_only,
                                              std::chrono::milliseconds call_timeout) {
  nfs::ClientOptions options;
  options.connections = kConnections;
  options.call_timeout = call_timeout;
  Result<std::unique_ptr<nfs::Client>> client = nfs::Client::Connect(url, options);
  if (!client.ok()) return client.status();
  Result<FileAttr> root = (*client)->Stat("/");
  if (!root.ok()) return root.status().WithContext("export " + url.Display());
  if (root->type != nfs::FileType::kDirectory)
    return FailedPrecondition("export " + url.Display() + " is not a directory");
  return std::unique_ptr<NfsFs>(new NfsFs(std::move(client).value(), read_only));
}

int NfsFs::Send(EventLoop& loop, std::shared_ptr<nfs4::Compound> c, FileAttr* attrs,
                nfs4::FileHandle* fh) {
  std::size_t last = c->size() - 1;
  Result<nfs4::EntryAttrs> r = CallSync<nfs4::EntryAttrs>(loop, client_->Deadline(), c->what(),
      [c, last, decode = attrs != nullptr, want_fh = fh != nullptr](
          nfs_context* ctx, std::shared_ptr<nfs4::EntryAttrs> out, EventLoop::Done done) {
        c->Send(ctx, [out, last, decode, want_fh, done](int err, std::string m,
                                                        const COMPOUND4res* res) mutable {
          if (err == 0 && decode && nfs4::DecodeEntryAttrsAt(*res, last, out.get()) != 0) {
            return done(-EIO, "undecodable attributes");
          }
          if (err == 0 && want_fh) out->fh = nfs4::FileHandleAt(*res, last - 1);
          Reply(done, err, m);
        });
      });
  if (!r.ok()) return ToErrno(r.status());
  if (attrs != nullptr) *attrs = r->attr;
  if (fh != nullptr) *fh = std::move(r->fh);
  return 0;
}

int NfsFs::GetAttr(const std::string& path, OpenFile* file, struct stat* st) {
  if (file != nullptr) {
    if (std::optional<FileAttr> created = std::exchange(file->created, std::nullopt)) {
      ToStat(*created, st);
      return 0;
    }
    auto c = std::make_shared<nfs4::Compound>("getattr " + path);
    c->PutFh(file->fh).GetEntryAttrs();
    FileAttr a;
    if (int err = Send(*file->loop, c, &a)) return err;
    ToStat(a, st);
    return 0;
  }
  if (std::optional<FileAttr> post_op = TakePostOpAttrs(path)) {
    ToStat(*post_op, st);
    return 0;
  }
  Result<FileAttr> a = client_->Lstat(path);
  if (!a.ok()) return ToErrno(a.status());
  ToStat(*a, st);
  return 0;
}

void NfsFs::KeepPostOpAttrs(PostOpAttrs attrs) {
  std::lock_guard<std::mutex> lock(post_op_mu_);
  post_op_ = std::move(attrs);
}

std::optional<FileAttr> NfsFs::TakePostOpAttrs(const std::string& dir) {
  std::lock_guard<std::mutex> lock(post_op_mu_);
  if (!post_op_ || post_op_->dir != dir) return std::nullopt;
  std::optional<PostOpAttrs> kept = std::exchange(post_op_, std::nullopt);
  if (kept->valid_while != changes_.load() ||
      std::chrono::steady_clock::now() - kept->taken > kPostOpAttrsMaxAge) {
    return std::nullopt;
  }
  return kept->attr;
}

int NfsFs::ReadDir(const std::string& path, std::vector<nfs::DirEntry>* entries) {
  // Raw READDIR, not libnfs's opendir: libnfs 4.0 does not ask for the fileid, so every entry
  // would have inode 0, and glibc's readdir(3) skips entries with d_ino 0.
  nfs4::ReadDirPage page;
  do {
    auto c = std::make_shared<nfs4::Compound>("readdir " + path);
    c->PutPath(client_->url().export_path, path).ReadDir(page.cookie, page.verifier, kReadDirBytes);
    std::size_t index = c->size() - 1;
    Result<nfs4::ReadDirPage> r = CallSync<nfs4::ReadDirPage>(client_->NextLoop(), client_->Deadline(),
        c->what(), [c, index](nfs_context* ctx, std::shared_ptr<nfs4::ReadDirPage> out, EventLoop::Done done) {
          c->Send(ctx, [out, index, done](int err, std::string m, const COMPOUND4res* res) mutable {
            if (err == 0 && nfs4::DecodeReadDirAt(*res, index, out.get()) != 0) {
              return done(-EIO, "undecodable directory entry");
            }
            Reply(done, err, m);
          });
        });
    if (!r.ok()) return ToErrno(r.status());
    for (nfs4::ReadDirPage::Entry& e : r->entries) entries->push_back({std::move(e.name), e.attrs.attr});
    page.cookie = r->cookie;
    page.verifier = r->verifier;
    page.eof = r->eof || r->entries.empty();
  } while (!page.eof);
  return 0;
}

int NfsFs::Mkdir(const std::string& path, mode_t mode, uid_t uid, gid_t gid) {
  if (int err = RefuseNewData()) return err;
  ChangeScope change(*this);
  // Root's objects need no owner change: the server already makes them root's.
  std::optional<uint32_t> owner = uid != 0 ? std::optional<uint32_t>(uid) : std::nullopt;
  std::optional<uint32_t> group = gid != 0 ? std::optional<uint32_t>(gid) : std::nullopt;
  return ToErrno(client_->Mkdir(path, mode & 07777, owner, group));
}

int NfsFs::Unlink(const std::string& path) {
  if (read_only_) return -EROFS;
  ChangeScope change(*this);
  return ToErrno(client_->Unlink(path));
}

int NfsFs::Rmdir(const std::string& path) {
  if (read_only_) return -EROFS;
  ChangeScope change(*this);
  return ToErrno(client_->Rmdir(path));
}

int NfsFs::Rename(const std::string& from, const std::string& to, unsigned flags) {
  if (read_only_) return -EROFS;
  if (flags != 0) return -EINVAL;  // RENAME_NOREPLACE/EXCHANGE have no NFSv4.0 equivalent
  ChangeScope change(*this);
  return ToErrno(client_->Rename(from, to));
}

int NfsFs::Link(const std::string& from, const std::string& to) {
  if (int err = RefuseNewData()) return err;
  ChangeScope change(*this);
  Result<Unit> r = CallSync<Unit>(client_->NextLoop(), client_->Deadline(), "link " + to,
      [from, to](nfs_context* ctx, std::shared_ptr<Unit>, EventLoop::Done done) {
        Issue(ctx, [&](nfs_cb cb, void* priv) {
          return nfs_link_async(ctx, from.c_str(), to.c_str(), cb, priv);
        }, [done](int err, void* data) { done(err < 0 ? err : 0, err < 0 ? ErrorText(err, data) : ""); });
      });
  return ToErrno(r.status());
}

int NfsFs::Symlink(const std::string& target, const std::string& link_path) {
  if (int err = RefuseNewData()) return err;
  ChangeScope change(*this);
  Status s = client_->Symlink(target, link_path);
  if (s.code() == StatusCode::kInvalidArgument && s.sys_errno() == 0) return -ENAMETOOLONG;
  return ToErrno(s);
}

int NfsFs::Readlink(const std::string& path, char* buf, size_t size) {
  Result<std::string> target = client_->Readlink(path);
  if (!target.ok()) return ToErrno(target.status());
  if (size == 0) return -EINVAL;
  std::size_t n = std::min(target->size(), size - 1);  // FUSE truncates like readlink(2)
  std::memcpy(buf, target->data(), n);
  buf[n] = '\0';
  return 0;
}

int NfsFs::Chmod(const std::string& path, mode_t mode) {
  if (read_only_) return -EROFS;
  ChangeScope change(*this);
  return ToErrno(client_->Chmod(path, mode & 07777));
}

int NfsFs::SetAttrs(const std::string& path, const nfs4::SetAttrs& attrs) {
  ChangeScope change(*this);
  auto c = std::make_shared<nfs4::Compound>("setattr " + path);
  c->PutPath(client_->url().export_path, path).SetAttr(attrs);
  return Send(client_->NextLoop(), c);
}

int NfsFs::Chown(const std::string& path, uid_t uid, gid_t gid) {
  if (read_only_) return -EROFS;
  nfs4::SetAttrs attrs;
  if (uid != static_cast<uid_t>(-1)) attrs.uid = uid;  // -1: leave as it is, like chown(2)
  if (gid != static_cast<gid_t>(-1)) attrs.gid = gid;
  return SetAttrs(path, attrs);
}

int NfsFs::Utimens(const std::string& path, const struct timespec tv[2]) {
  if (read_only_) return -EROFS;
  nfs4::SetAttrs attrs;
  std::optional<nfs::Timestamp>* fields[2] = {&attrs.atime, &attrs.mtime};
  for (int i = 0; i < 2; ++i) {
    if (tv == nullptr || tv[i].tv_nsec == UTIME_NOW) *fields[i] = Now();
    else if (tv[i].tv_nsec != UTIME_OMIT)
      *fields[i] = nfs::Timestamp{tv[i].tv_sec, static_cast<uint32_t>(tv[i].tv_nsec)};
  }
  return SetAttrs(path, attrs);
}

int NfsFs::Truncate(const std::string& path, OpenFile* file, off_t size) {
  if (read_only_) return -EROFS;
  if (size < 0) return -EINVAL;
  ChangeScope change(*this);
  if (over_quota_.load(std::memory_order_relaxed) && size > 0) {
    // Shrinking frees space and stays allowed; growing is refused.
    struct stat st;
    if (int err = GetAttr(path, file, &st)) return err;
    if (size > st.st_size) return -EROFS;
  }
  nfs4::SetAttrs attrs;
  attrs.size = static_cast<uint64_t>(size);
  if (file == nullptr) return SetAttrs(path, attrs);
  auto c = std::make_shared<nfs4::Compound>("truncate " + path);
  c->PutFh(file->fh).SetAttr(attrs);
  return Send(*file->loop, c);
}

int NfsFs::StatFs(struct statvfs* out) {
  Result<nfs::FsStats> s = client_->StatFs("/");
  if (!s.ok()) return ToErrno(s.status());
  constexpr uint64_t kBlock = 4096;
  *out = {};
  out->f_bsize = out->f_frsize = kBlock;
  out->f_blocks = s->total_bytes / kBlock;
  out->f_bfree = s->free_bytes / kBlock;
  out->f_bavail = s->available_bytes / kBlock;
  out->f_files = s->total_inodes;
  out->f_ffree = out->f_favail = s->free_inodes;
  out->f_namemax = 255;
  return 0;
}

int NfsFs::LookupHandle(const std::string& path, EventLoop& loop, nfs4::FileHandle* fh) {
  auto c = std::make_shared<nfs4::Compound>("open " + path);
  c->PutPath(client_->url().export_path, path).GetFh();
  std::size_t index = c->size() - 1;
  Result<nfs4::FileHandle> r = CallSync<nfs4::FileHandle>(loop, client_->Deadline(), c->what(),
      [c, index](nfs_context* ctx, std::shared_ptr<nfs4::FileHandle> out, EventLoop::Done done) {
        c->Send(ctx, [out, index, done](int err, std::string m, const COMPOUND4res* res) mutable {
          if (err == 0) *out = nfs4::FileHandleAt(*res, index);
          Reply(done, err, m);
        });
      });
  if (!r.ok()) return ToErrno(r.status());
  *fh = std::move(r).value();
  return 0;
}

int NfsFs::Open(const std::string& path, int flags, std::unique_ptr<OpenFile>* out) {
  if (read_only_ && ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC) != 0)) return -EROFS;
  auto file = std::make_unique<OpenFile>();
  file->loop = &client_->NextLoop();
  if (int err = LookupHandle(path, *file->loop, &file->fh)) return err;
  *out = std::move(file);
  return 0;
}

int NfsFs::Create(const std::string& path, mode_t mode, int flags, uid_t uid, gid_t gid,
                  std::unique_ptr<OpenFile>* out) {
  if (int err = RefuseNewData()) return err;
  auto file = std::make_unique<OpenFile>();
  file->loop = &client_->NextLoop();
  ChangeScope change(*this);
  // Always exclusive, so the mode below is only ever applied to a file this call created; a
  // plain O_CREAT that finds the file (another client made it since the kernel's lookup) opens it.
  // libnfs 4.0 ignores the mode, and an exclusive create keeps its verifier in the file's times:
  // one COMPOUND fixes both and returns the handle and the attributes, and the parent's
  // attributes after the create (see PostOpAttrs). I/O goes by handle (see nfs_fs.h), so the open
  // state is not needed past the create: its CLOSE and that COMPOUND go out together.
  nfs4::SetAttrs attrs;
  attrs.mode = mode & 07777;
  attrs.atime = attrs.mtime = Now();
  if (uid != 0) attrs.uid = uid;
  if (gid != 0) attrs.gid = gid;
  const std::size_t slash = path.rfind('/');
  const std::string parent = slash == 0 ? "/" : path.substr(0, slash);
  auto fix = std::make_shared<nfs4::Compound>("create " + path);
  fix->PutPath(client_->url().export_path, parent).GetEntryAttrs();
  const std::size_t parent_at = fix->size() - 1;
  fix->Lookup(path.substr(slash + 1)).SetAttr(attrs).GetFh().GetEntryAttrs();
  const std::size_t file_at = fix->size() - 1;
  struct Created {
    nfs4::EntryAttrs file;
    nfs4::EntryAttrs parent;
  };
  Result<Created> created = CallSync<Created>(*file->loop, client_->Deadline(), "create " + path,
      [path, fix, parent_at, file_at](nfs_context* ctx, std::shared_ptr<Created> result, EventLoop::Done done) {
        Issue(ctx, [&](nfs_cb cb, void* priv) {
          return nfs_open2_async(ctx, path.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600, cb, priv);
        }, [ctx, fix, parent_at, file_at, result, done](int err, void* data) mutable {
          if (err < 0) return done(err, ErrorText(err, data));
          auto both = std::make_shared<Pieces>();
          both->pending = 2;
          both->done = std::move(done);
          auto* fh = static_cast<nfsfh*>(data);
          Issue(ctx, [&](nfs_cb cb, void* priv) { return nfs_close_async(ctx, fh, cb, priv); },
                [both](int close_err, void* close_data) {
                  both->Finish(close_err < 0 ? close_err : 0, close_err < 0 ? ErrorText(close_err, close_data) : "");
                });
          fix->Send(ctx, [both, result, parent_at, file_at](int e, std::string m, const COMPOUND4res* res) {
            if (e == 0 && (nfs4::DecodeEntryAttrsAt(*res, parent_at, &result->parent) != 0 ||
                           nfs4::DecodeEntryAttrsAt(*res, file_at, &result->file) != 0)) {
              return both->Finish(-EIO, "undecodable attributes");
            }
            if (e == 0) result->file.fh = nfs4::FileHandleAt(*res, file_at - 1);
            both->Finish(e, m);
          });
        });
      }, EventLoop::Lane::kOpenState);
  if (!created.ok()) {
    if (created.status().sys_errno() == EEXIST && (flags & O_EXCL) == 0) return Open(path, flags, out);
    return ToErrno(created.status());
  }
  // Valid only while no other change began or ended since this one began: the one change
  // counted meanwhile is this create's own end.
  KeepPostOpAttrs({parent, created->parent.attr, change.began() + 1, std::chrono::steady_clock::now()});
  file->first_write_stable = true;
  file->fh = std::move(created->file.fh);
  file->created = created->file.attr;
  *out = std::move(file);
  return 0;
}

namespace {

// Memory from malloc, handed over whole once a read succeeds (libfuse frees what read_buf gives).
struct MallocBytes {
  explicit MallocBytes(size_t n) : p(static_cast<char*>(std::malloc(n))) {}
  ~MallocBytes() { std::free(p); }
  MallocBytes(const MallocBytes&) = delete;
  MallocBytes& operator=(const MallocBytes&) = delete;
  char* p;
};

struct ReadResult {
  std::shared_ptr<MallocBytes> bytes;
  uint64_t size = 0;
};

}  // namespace

int NfsFs::Read(OpenFile& file, size_t size, off_t offset, char** data, size_t* got) {
  *data = nullptr;
  *got = 0;
  if (size == 0) return 0;
  auto base = static_cast<uint64_t>(offset);
  // Each attempt's pieces land in memory of its own: a piece may still arrive after the call
  // timed out and returned, or after a retry started over.
  Result<ReadResult> r = CallSync<ReadResult>(*file.loop, client_->Deadline(), "read",
      [fh = file.fh, size, base](nfs_context* ctx, std::shared_ptr<ReadResult> out, EventLoop::Done done) {
        uint64_t chunk = std::clamp<uint64_t>(nfs_get_readmax(ctx), 64 << 10, kMaxReadBytes);
        auto bytes = std::make_shared<MallocBytes>(size);
        if (bytes->p == nullptr) return done(-ENOMEM, "no memory for a read of " + std::to_string(size) + " bytes");
        auto p = std::make_shared<Pieces>();
        p->result = size;
        // The bytes and their count are handed over together, by the attempt that read them.
        p->store = [out, bytes](uint64_t n) { *out = {bytes, n}; };
        p->done = std::move(done);
        for (uint64_t at = 0; at < size; at += chunk) {
          auto n = static_cast<uint32_t>(std::min<uint64_t>(chunk, size - at));
          ++p->pending;
          nfs4::Compound c("read");
          c.PutFh(fh).Read(base + at, n);
          c.Send(ctx, [p, bytes, at, n](int err, std::string m, const COMPOUND4res* res) {
            if (err == 0) {
              bool eof = false;
              std::string_view piece = nfs4::ReadDataAt(*res, 1, &eof);
              std::size_t arrived = std::min<std::size_t>(piece.size(), n);
              std::memcpy(bytes->p + at, piece.data(), arrived);
              if (arrived < n) p->Cut(at + arrived);
            }
            p->Finish(err, m);
          });
        }
        p->Finish(0, "");
      });
  if (!r.ok()) return ToErrno(r.status());
  // Every piece has finished: nothing writes to the memory any more.
  *data = std::exchange(r->bytes->p, nullptr);
  *got = r->size;
  return 0;
}

int NfsFs::Write(OpenFile& file, const char* buf, size_t size, off_t offset) {
  if (int err = RefuseNewData()) return err;
  if (size == 0) return 0;
  auto base = static_cast<uint64_t>(offset);
  const bool stable = file.first_write_stable.exchange(false) && base == 0 && size <= kStableFirstWriteBytes;
  struct Written {
    uint64_t bytes = 0;
    bool unstable = false;  // some piece is not yet on stable storage (the server may downgrade)
  };
  // Each piece copies its data when sent (Compound::Send encodes at once), so `buf` is not
  // touched after the attempt starts.
  Result<Written> r = CallSync<Written>(*file.loop, client_->Deadline(), "write",
      [fh = file.fh, buf, size, base, stable](nfs_context* ctx, std::shared_ptr<Written> out, EventLoop::Done done) {
        constexpr uint64_t chunk = nfs4::kMaxWriteBytes;
        auto p = std::make_shared<Pieces>();
        p->result = size;
        p->store = [out](uint64_t n) { out->bytes = n; };
        p->done = std::move(done);
        for (uint64_t at = 0; at < size; at += chunk) {
          auto n = static_cast<uint32_t>(std::min<uint64_t>(chunk, size - at));
          ++p->pending;
          nfs4::Compound c("write");
          c.PutFh(fh).Write(base + at, std::string_view(buf + at, n), stable ? FILE_SYNC4 : UNSTABLE4);
          c.Send(ctx, [p, out, at, n](int err, std::string m, const COMPOUND4res* res) {
            if (err == 0 && nfs4::WrittenAt(*res, 1) < n) p->Cut(at + nfs4::WrittenAt(*res, 1));
            if (err == 0 && nfs4::CommittedAt(*res, 1) == UNSTABLE4) out->unstable = true;
            p->Finish(err, m);
          });
        }
        p->Finish(0, "");
      });
  if (!r.ok()) return ToErrno(r.status());
  if (r->unstable) file.dirty = true;
  return static_cast<int>(r->bytes);
}

int NfsFs::Commit(OpenFile& file) {
  if (!file.dirty.exchange(false)) return 0;
  auto c = std::make_shared<nfs4::Compound>("commit");
  c->PutFh(file.fh).Commit();
  int err = Send(*file.loop, c);
  if (err != 0) file.dirty = true;
  return err;
}

}  // namespace nfsprov::fusefs
