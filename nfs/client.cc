#include "nfs/client.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <future>
#include <random>

#include "common/metrics.h"
#include "nfs/libnfs_call.h"
#include "nfs/nfs4_compound.h"
#include "nfs/path.h"

namespace nfsprov::nfs {
namespace internal {

void LibnfsTrampoline(int err, nfs_context* ctx, void* data, void* private_data) {
  std::unique_ptr<LibnfsCallback> callback(static_cast<LibnfsCallback*>(private_data));
  if (EventLoop::IsTransportError(err)) EventLoop::MarkBroken(ctx);
  (*callback)(err, data);
}

std::string ErrorText(int err, void* data) {
  if (EventLoop::IsTransportError(err) && data != nullptr) return static_cast<const char*>(data);
  return std::strerror(-err);
}

void CountError(std::string_view what, const Status& status) {
  static metrics::Family<metrics::Counter>& errors = metrics::Default().AddCounter(
      "nfsprov_nfs_errors_total", "NFS calls that failed, by operation and result code",
      {"op", "code"});
  const std::string_view op = what.empty() ? "create" : what.substr(0, what.find(' '));
  errors.With({std::string(op), std::string(StatusCodeName(status.code()))}).Inc();
}

}  // namespace internal

namespace {

using internal::CallAsync;
using internal::CallSync;
using internal::ErrorText;
using internal::Issue;
using internal::Unit;

FileType TypeFromMode(uint64_t mode) {
  switch (mode & S_IFMT) {
    case S_IFREG: return FileType::kRegular;
    case S_IFDIR: return FileType::kDirectory;
    case S_IFLNK: return FileType::kSymlink;
    default: return FileType::kOther;
  }
}

FileAttr FromStat(const nfs_stat_64& st) {
  FileAttr a;
  a.type = TypeFromMode(st.nfs_mode);
  a.mode = static_cast<uint32_t>(st.nfs_mode & 07777);
  a.uid = static_cast<uint32_t>(st.nfs_uid);
  a.gid = static_cast<uint32_t>(st.nfs_gid);
  a.size = st.nfs_size;
  a.used_bytes = st.nfs_used;
  a.nlink = st.nfs_nlink;
  a.inode = st.nfs_ino;
  a.atime = {static_cast<int64_t>(st.nfs_atime), static_cast<uint32_t>(st.nfs_atime_nsec)};
  a.mtime = {static_cast<int64_t>(st.nfs_mtime), static_cast<uint32_t>(st.nfs_mtime_nsec)};
  a.ctime = {static_cast<int64_t>(st.nfs_ctime), static_cast<uint32_t>(st.nfs_ctime_nsec)};
  return a;
}

FileAttr FromDirent(const nfsdirent& e) {
  FileAttr a;
  a.type = TypeFromMode(e.mode);
  a.mode = e.mode & 07777;
  a.uid = e.uid;
  a.gid = e.gid;
  a.size = e.size;
  a.used_bytes = e.used;
  a.nlink = e.nlink;
  a.inode = e.inode;
  a.atime = {e.atime.tv_sec, e.atime_nsec};
  a.mtime = {e.mtime.tv_sec, e.mtime_nsec};
  a.ctime = {e.ctime.tv_sec, e.ctime_nsec};
  return a;
}

// Completes `done` from a libnfs callback that carries no result.
internal::LibnfsCallback Simple(EventLoop::Done done) {
  return [done = std::move(done)](int err, void* data) {
    done(err < 0 ? err : 0, err < 0 ? ErrorText(err, data) : std::string());
  };
}

// libnfs 4.0 encodes a request in a 4 KiB buffer: longer symlink targets cannot be sent.
constexpr std::size_t kMaxSymlinkTargetBytes = 3000;

Status ValidateSymlinkTarget(std::string_view target) {
  if (target.empty() || target.find('\0') != std::string_view::npos || target.size() > kMaxSymlinkTargetBytes)
    return InvalidArgument("symlink target must be 1.." + std::to_string(kMaxSymlinkTargetBytes) +
                           " bytes without NUL, got " + std::to_string(target.size()));
  return Status();
}

std::string TempNameFor(std::string_view path) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char suffix[32];
  std::snprintf(suffix, sizeof(suffix), ".nfsprov-tmp-%016llx",
                static_cast<unsigned long long>(rng()));
  return std::string(path) + suffix;
}

}  // namespace

Result<std::unique_ptr<Client>> Client::Connect(std::string_view url, ClientOptions options) {
  Result<NfsUrl> parsed = ParseNfsUrl(url);
  if (!parsed.ok()) return parsed.status();
  return Connect(*parsed, options);
}

Result<std::unique_ptr<Client>> Client::Connect(const NfsUrl& url, ClientOptions options) {
  if (options.connections < 1 || options.connections > 64)
    return InvalidArgument("connections must be 1..64, got " + std::to_string(options.connections));
  std::unique_ptr<Client> client(new Client(url, options));
  LoopOptions loop_options{options.rpc_timeout, options.connect_timeout};
  for (int i = 0; i < options.connections; ++i) {
    Result<std::unique_ptr<EventLoop>> loop = EventLoop::Connect(url, loop_options);
    if (!loop.ok()) return loop.status();
    client->loops_.push_back(std::move(loop).value());
  }
  return client;
}

Client::~Client() = default;

uint64_t Client::RequestCount() const {
  uint64_t total = 0;
  for (const auto& loop : loops_) total += loop->attempts_started();
  return total;
}

EventLoop& Client::NextLoop() {
  return *loops_[next_loop_.fetch_add(1, std::memory_order_relaxed) % loops_.size()];
}

Result<FileAttr> Client::Stat(std::string_view path) {
  NFSPROV_RETURN_IF_ERROR(ValidateRoot(path));
  std::string p(path);
  return CallSync<FileAttr>(NextLoop(), Deadline(), "stat " + p,
      [p](nfs_context* ctx, std::shared_ptr<FileAttr> out, EventLoop::Done done) {
        Issue(ctx, [&](nfs_cb cb, void* priv) { return nfs_stat64_async(ctx, p.c_str(), cb, priv); },
              [out, done](int err, void* data) {
                if (err < 0) return done(err, ErrorText(err, data));
                *out = FromStat(*static_cast<nfs_stat_64*>(data));
                done(0, "");
              });
      });
}

Result<FileAttr> Client::Lstat(std::string_view path) {
  NFSPROV_RETURN_IF_ERROR(ValidateRoot(path));
  std::string p(path);
  return CallSync<FileAttr>(NextLoop(), Deadline(), "lstat " + p,
      [p](nfs_context* ctx, std::shared_ptr<FileAttr> out, EventLoop::Done done) {
        Issue(ctx, [&](nfs_cb cb, void* priv) { return nfs_lstat64_async(ctx, p.c_str(), cb, priv); },
              [out, done](int err, void* data) {
                if (err < 0) return done(err, ErrorText(err, data));
                *out = FromStat(*static_cast<nfs_stat_64*>(data));
                done(0, "");
              });
      });
}

Status Client::Mkdir(std::string_view path, uint32_t mode, std::optional<uint32_t> uid,
                     std::optional<uint32_t> gid) {
  std::string p(path);
  if (url_.version == 4) return CreateInOrder({NewEntry::Directory(p, mode, uid, gid)});
  NFSPROV_RETURN_IF_ERROR(CheckNewEntry(NewEntry::Directory(p, mode)));
  nfs4::SetAttrs attrs;
  attrs.mode = mode;  // again after mkdir: servers, like mkdir(2), drop set-id and sticky bits
  attrs.uid = uid;
  attrs.gid = gid;
  NFSPROV_RETURN_IF_ERROR(CallSync<Unit>(NextLoop(), Deadline(), "mkdir " + p,
      [p, mode](nfs_context* ctx, std::shared_ptr<Unit>, EventLoop::Done done) {
        Issue(ctx, [&](nfs_cb cb, void* priv) {
          return nfs_mkdir2_async(ctx, p.c_str(), static_cast<int>(mode & 0777), cb, priv);
        }, Simple(std::move(done)));
      }).status());
  return SetAttributes("mkdir", path, attrs);
}

Status Client::Chmod(std::string_view path, uint32_t mode) {
  if ((mode & ~07777u) != 0)
    return InvalidArgument("chmod " + std::string(path) + ": mode " + std::to_string(mode) +
                           " has bits beyond 07777");
  nfs4::SetAttrs attrs;
  attrs.mode = mode;
  return SetAttributes("chmod", path, attrs);
}

Status Client::Chown(std::string_view path, uint32_t uid, uint32_t gid) {
  nfs4::SetAttrs attrs;
  attrs.uid = uid;
  attrs.gid = gid;
  return SetAttributes("chown", path, attrs);
}

// NFSv4: one COMPOUND that looks the path up (LOOKUP never follows symlinks) and SETATTRs it,
// because libnfs 4.0's v4 lchmod/lchown are broken. NFSv3: libnfs's lchmod/lchown.
Status Client::SetAttributes(std::string_view verb, std::string_view path, const nfs4::SetAttrs& attrs) {
  NFSPROV_RETURN_IF_ERROR(ValidateRoot(path));
  std::string p(path);
  std::string what = std::string(verb) + " " + p;
  if (url_.version == 3) {
    if (attrs.mode) {
      NFSPROV_RETURN_IF_ERROR(CallSync<Unit>(NextLoop(), Deadline(), what,
          [p, mode = *attrs.mode](nfs_context* ctx, std::shared_ptr<Unit>, EventLoop::Done done) {
            Issue(ctx, [&](nfs_cb cb, void* priv) {
              return nfs_lchmod_async(ctx, p.c_str(), static_cast<int>(mode), cb, priv);
            }, Simple(std::move(done)));
          }).status());
    }
    if (!attrs.uid && !attrs.gid) return Status();
    Result<FileAttr> current = Lstat(path);
    if (!current.ok()) return current.status();
    int uid = static_cast<int>(attrs.uid.value_or(current->uid));
    int gid = static_cast<int>(attrs.gid.value_or(current->gid));
    return CallSync<Unit>(NextLoop(), Deadline(), what,
        [p, uid, gid](nfs_context* ctx, std::shared_ptr<Unit>, EventLoop::Done done) {
          Issue(ctx, [&](nfs_cb cb, void* priv) { return nfs_lchown_async(ctx, p.c_str(), uid, gid, cb, priv); },
                Simple(std::move(done)));
        }).status();
  }
  auto c = std::make_shared<nfs4::Compound>(what);
  c->PutPath(url_.export_path, p).SetAttr(attrs);
  return RunCompound(what, c);
}

Status Client::RunCompound(const std::string& what, std::shared_ptr<nfs4::Compound> c) {
  return CallSync<Unit>(NextLoop(), Deadline(), what,
      [c](nfs_context* ctx, std::shared_ptr<Unit>, EventLoop::Done done) {
        c->Send(ctx, [done](int err, std::string message, const COMPOUND4res*) {
          done(err, err < 0 && !EventLoop::IsTransportError(err) ? std::strerror(-err) : message);
        });
      }).status();
}

Status Client::Rmdir(std::string_view path) {
  NFSPROV_RETURN_IF_ERROR(ValidateRoot(path));
  std::string p(path);
  return CallSync<Unit>(NextLoop(), Deadline(), "rmdir " + p,
      [p](nfs_context* ctx, std::shared_ptr<Unit>, EventLoop::Done done) {
        Issue(ctx, [&](nfs_cb cb, void* priv) { return nfs_rmdir_async(ctx, p.c_str(), cb, priv); },
              Simple(std::move(done)));
      }).status();
}

Status Client::Unlink(std::string_view path) {
  NFSPROV_RETURN_IF_ERROR(ValidateRoot(path));
  std::string p(path);
  return CallSync<Unit>(NextLoop(), Deadline(), "unlink " + p,
      [p](nfs_context* ctx, std::shared_ptr<Unit>, EventLoop::Done done) {
        Issue(ctx, [&](nfs_cb cb, void* priv) { return nfs_unlink_async(ctx, p.c_str(), cb, priv); },
              Simple(std::move(done)));
      }).status();
}

Status Client::Rename(std::string_view from, std::string_view to) {
  NFSPROV_RETURN_IF_ERROR(ValidateRoot(from));
  NFSPROV_RETURN_IF_ERROR(ValidateRoot(to));
  std::string f(from), t(to);
  return CallSync<Unit>(NextLoop(), Deadline(), "rename " + f + " to " + t,
      [f, t](nfs_context* ctx, std::shared_ptr<Unit>, EventLoop::Done done) {
        Issue(ctx, [&](nfs_cb cb, void* priv) {
          return nfs_rename_async(ctx, f.c_str(), t.c_str(), cb, priv);
        }, Simple(std::move(done)));
      }).status();
}

Result<std::vector<DirEntry>> Client::ReadDir(std::string_view path) {
  NFSPROV_RETURN_IF_ERROR(ValidateRoot(path));
  std::string p(path);
  return CallSync<std::vector<DirEntry>>(NextLoop(), Deadline(), "readdir " + p,
      [p](nfs_context* ctx, std::shared_ptr<std::vector<DirEntry>> out, EventLoop::Done done) {
        Issue(ctx, [&](nfs_cb cb, void* priv) { return nfs_opendir_async(ctx, p.c_str(), cb, priv); },
              [ctx, out, done](int err, void* data) {
                if (err < 0) return done(err, ErrorText(err, data));
                auto* dir = static_cast<nfsdir*>(data);
                while (nfsdirent* e = nfs_readdir(ctx, dir)) {
                  if (std::strcmp(e->name, ".") == 0 || std::strcmp(e->name, "..") == 0) continue;
                  out->push_back({e->name, FromDirent(*e)});
                }
                nfs_closedir(ctx, dir);
                done(0, "");
              });
      });
}

Result<FsStats> Client::StatFs(std::string_view path) {
  NFSPROV_RETURN_IF_ERROR(ValidateRoot(path));
  std::string p(path);
  return CallSync<FsStats>(NextLoop(), Deadline(), "statfs " + p,
      [p](nfs_context* ctx, std::shared_ptr<FsStats> out, EventLoop::Done done) {
        Issue(ctx, [&](nfs_cb cb, void* priv) { return nfs_statvfs64_async(ctx, p.c_str(), cb, priv); },
              [out, done](int err, void* data) {
                if (err < 0) return done(err, ErrorText(err, data));
                const auto& v = *static_cast<nfs_statvfs_64*>(data);
                uint64_t unit = v.f_frsize != 0 ? v.f_frsize : v.f_bsize;
                *out = {v.f_blocks * unit, v.f_bfree * unit, v.f_bavail * unit, v.f_files, v.f_ffree};
                done(0, "");
              });
      });
}

Status Client::Symlink(std::string_view target, std::string_view link_path) {
  std::string t(target), l(link_path);
  // NFSv4: one COMPOUND; libnfs's path-based symlink sends two (it looks the parent up first).
  if (url_.version == 4) return CreateInOrder({NewEntry::Symlink(t, l)});
  NFSPROV_RETURN_IF_ERROR(CheckNewEntry(NewEntry::Symlink(t, l)));
  return CallSync<Unit>(NextLoop(), Deadline(), "symlink " + l,
      [t, l](nfs_context* ctx, std::shared_ptr<Unit>, EventLoop::Done done) {
        Issue(ctx, [&](nfs_cb cb, void* priv) {
          return nfs_symlink_async(ctx, t.c_str(), l.c_str(), cb, priv);
        }, Simple(std::move(done)));
      }).status();
}

Status Client::CheckNewEntry(const NewEntry& entry) const {
  NFSPROV_RETURN_IF_ERROR(ValidateRoot(entry.path));
  if (entry.kind == NewEntry::Kind::kSymlink) {
    if (entry.path == "/") return AlreadyExists("symlink /: the export root exists");
    return ValidateSymlinkTarget(entry.target);
  }
  if (entry.path == "/") return AlreadyExists("mkdir /: the export root exists");
  if ((entry.mode & ~07777u) != 0) return InvalidArgument("mkdir: mode has bits beyond 07777");
  return Status();
}

Status Client::CreateInOrder(const std::vector<NewEntry>& entries, std::size_t* created) {
  // Shared with the callback: the loop thread may still be inside set_value when this returns.
  auto replied = std::make_shared<std::promise<std::pair<Status, std::size_t>>>();
  std::future<std::pair<Status, std::size_t>> reply = replied->get_future();
  CreateInOrderAsync(entries, [replied](Status status, std::size_t made) {
    replied->set_value({std::move(status), made});
  });
  auto [status, made] = reply.get();
  if (created != nullptr) *created = made;
  return status;
}

void Client::CreateInOrderAsync(const std::vector<NewEntry>& entries, CreatedInOrder done) {
  for (const NewEntry& entry : entries) {
    if (Status refused = CheckNewEntry(entry); !refused.ok()) return done(std::move(refused), 0);
  }
  if (entries.empty()) return done(Status(), 0);
  if (url_.version == 3) {
    std::size_t made = 0;
    for (const NewEntry& e : entries) {
      Status step = e.kind == NewEntry::Kind::kDirectory ? Mkdir(e.path, e.mode, e.uid, e.gid)
                                                         : Symlink(e.target, e.path);
      if (!step.ok()) return done(std::move(step), made);
      ++made;
    }
    return done(Status(), made);
  }
  struct Plan {
    std::vector<std::string> described;  // "mkdir /a": what an error about each entry starts with
    std::vector<std::size_t> ends;       // one past each entry's last operation
    std::size_t created = 0;             // written on the loop thread
  };
  auto plan = std::make_shared<Plan>();
  auto c = std::make_shared<nfs4::Compound>(
      (entries.front().kind == NewEntry::Kind::kDirectory ? "mkdir " : "symlink ") +
      entries.front().path + (entries.size() > 1 ? " and what follows" : ""));
  for (const NewEntry& e : entries) {
    std::size_t slash = e.path.rfind('/');
    c->PutPath(url_.export_path, slash == 0 ? "/" : e.path.substr(0, slash));
    std::string name = e.path.substr(slash + 1);
    if (e.kind == NewEntry::Kind::kSymlink) {
      c->CreateSymlink(name, e.target, {});
      plan->described.push_back("symlink " + e.path);
    } else {
      nfs4::SetAttrs at_create;
      at_create.mode = e.mode & 0777;
      c->CreateDir(name, at_create);
      if ((e.mode & 07000) != 0 || e.uid || e.gid) {
        nfs4::SetAttrs attrs;
        attrs.mode = e.mode;  // again after CREATE: servers, like mkdir(2), drop set-id and sticky bits
        attrs.uid = e.uid;
        attrs.gid = e.gid;
        c->SetAttr(attrs);
      }
      plan->described.push_back("mkdir " + e.path);
    }
    plan->ends.push_back(c->size());
  }
  CallAsync<Unit>(NextLoop(), Deadline(), "",
      [c, plan](nfs_context* ctx, std::shared_ptr<Unit>, EventLoop::Done attempt_done) {
        plan->created = 0;
        c->Send(ctx, [plan, attempt_done](int err, std::string message, const COMPOUND4res* res) {
          if (err == 0) plan->created = plan->ends.size();
          if (err == 0 || res == nullptr || res->resarray.resarray_len == 0) return attempt_done(err, message);
          // The server ran the operations up to the failed one, the last result.
          const std::vector<std::size_t>& ends = plan->ends;
          auto entry = std::upper_bound(ends.begin(), ends.end(), res->resarray.resarray_len - 1) - ends.begin();
          plan->created = static_cast<std::size_t>(entry);
          attempt_done(err, plan->described[plan->created] + ": " + std::strerror(-err));
        });
      },
      [plan, done = std::move(done)](Result<Unit> result) { done(result.status(), plan->created); });
}

Result<std::string> Client::Readlink(std::string_view path) {
  NFSPROV_RETURN_IF_ERROR(ValidateRoot(path));
  std::string p(path);
  if (url_.version == 4) {
    // Our own READLINK: libnfs 4.0 hands back long targets without their terminating NUL.
    auto c = std::make_shared<nfs4::Compound>("readlink " + p);
    c->PutPath(url_.export_path, p).ReadLink();
    std::size_t index = c->size() - 1;
    return CallSync<std::string>(NextLoop(), Deadline(), "readlink " + p,
        [c, index](nfs_context* ctx, std::shared_ptr<std::string> out, EventLoop::Done done) {
          c->Send(ctx, [out, done, index](int err, std::string message, const COMPOUND4res* res) {
            if (err == 0) *out = nfs4::LinkTextAt(*res, index);
            done(err, err < 0 && !EventLoop::IsTransportError(err) ? std::strerror(-err) : message);
          });
        });
  }
  return CallSync<std::string>(NextLoop(), Deadline(), "readlink " + p,
      [p](nfs_context* ctx, std::shared_ptr<std::string> out, EventLoop::Done done) {
        Issue(ctx, [&](nfs_cb cb, void* priv) { return nfs_readlink_async(ctx, p.c_str(), cb, priv); },
              [out, done](int err, void* data) {
                if (err < 0) return done(err, ErrorText(err, data));
                *out = static_cast<const char*>(data);
                done(0, "");
              });
      });
}

Status Client::ReplaceSymlink(std::string_view target, std::string_view link_path) {
  NFSPROV_RETURN_IF_ERROR(ValidateRoot(link_path));
  NFSPROV_RETURN_IF_ERROR(ValidateSymlinkTarget(target));
  if (link_path == "/") return InvalidArgument("cannot replace the export root");
  std::string p(link_path);
  std::size_t slash = p.rfind('/');
  std::string name = p.substr(slash + 1);
  std::string temp = TempNameFor(name);
  if (url_.version == 3) {
    std::string temp_path = p.substr(0, slash + 1) + temp;
    NFSPROV_RETURN_IF_ERROR(Symlink(target, temp_path));
    Status renamed = Rename(temp_path, p);
    if (!renamed.ok()) (void)Unlink(temp_path);
    return renamed;
  }
  auto c = std::make_shared<nfs4::Compound>("replace symlink " + p);
  c->PutPath(url_.export_path, slash == 0 ? "/" : p.substr(0, slash))
      .SaveFh()
      .CreateSymlink(temp, target, {})
      .RestoreFh()
      .Rename(temp, name);
  return RunCompound("replace symlink " + p, c);
}

namespace {

// The steps of ReadFile after open: read chunks until EOF or max_bytes, then close.
struct ReadState {
  nfs_context* ctx;
  nfsfh* fh;
  uint64_t max_bytes;
  uint64_t chunk;
  std::shared_ptr<std::string> out;
  EventLoop::Done done;
};

void CloseThen(nfs_context* ctx, nfsfh* fh, int err, std::string message, EventLoop::Done done) {
  Issue(ctx, [&](nfs_cb cb, void* priv) { return nfs_close_async(ctx, fh, cb, priv); },
        [err, message = std::move(message), done = std::move(done)](int close_err, void* data) {
          if (err < 0) return done(err, message);
          done(close_err < 0 ? close_err : 0, close_err < 0 ? ErrorText(close_err, data) : "");
        });
}

void ReadNext(std::shared_ptr<ReadState> s) {
  Issue(s->ctx, [&](nfs_cb cb, void* priv) {
    return nfs_pread_async(s->ctx, s->fh, s->out->size(), s->chunk, cb, priv);
  }, [s](int err, void* data) {
    if (err < 0) return CloseThen(s->ctx, s->fh, err, ErrorText(err, data), s->done);
    if (err == 0) return CloseThen(s->ctx, s->fh, 0, "", s->done);
    if (s->out->size() + static_cast<uint64_t>(err) > s->max_bytes)
      return CloseThen(s->ctx, s->fh, -EFBIG,
                       "file is larger than " + std::to_string(s->max_bytes) + " bytes", s->done);
    s->out->append(static_cast<const char*>(data), static_cast<size_t>(err));
    ReadNext(s);
  });
}

struct WriteState {
  nfs_context* ctx;
  nfsfh* fh = nullptr;
  std::string export_path;
  uint32_t mode = 0;
  bool set_mode = false;  // NFSv4: libnfs 4.0 creates files 0600 whatever mode it is given
  std::string tmp, path;
  std::string data;
  uint64_t written = 0;
  uint64_t chunk;
  EventLoop::Done done;
};

// Any failure after the temp file exists: close it if open, unlink it, report the first error.
void AbandonWrite(std::shared_ptr<WriteState> s, int err, std::string message) {
  auto unlink_then_report = [s, err, message] {
    Issue(s->ctx, [&](nfs_cb cb, void* priv) { return nfs_unlink_async(s->ctx, s->tmp.c_str(), cb, priv); },
          [s, err, message](int, void*) { s->done(err, message); });
  };
  if (s->fh == nullptr) return unlink_then_report();
  nfsfh* fh = std::exchange(s->fh, nullptr);
  Issue(s->ctx, [&](nfs_cb cb, void* priv) { return nfs_close_async(s->ctx, fh, cb, priv); },
        [unlink_then_report](int, void*) { unlink_then_report(); });
}

void RenameIntoPlace(std::shared_ptr<WriteState> s) {
  Issue(s->ctx, [&](nfs_cb cb, void* priv) {
    return nfs_rename_async(s->ctx, s->tmp.c_str(), s->path.c_str(), cb, priv);
  }, [s](int err, void* data) {
    if (err < 0) return AbandonWrite(s, err, "rename: " + ErrorText(err, data));
    s->done(0, "");
  });
}

void FinishWrite(std::shared_ptr<WriteState> s) {
  Issue(s->ctx, [&](nfs_cb cb, void* priv) { return nfs_fsync_async(s->ctx, s->fh, cb, priv); },
        [s](int err, void* data) {
          if (err < 0) return AbandonWrite(s, err, "fsync: " + ErrorText(err, data));
          nfsfh* fh = std::exchange(s->fh, nullptr);
          Issue(s->ctx, [&](nfs_cb cb, void* priv) { return nfs_close_async(s->ctx, fh, cb, priv); },
                [s](int close_err, void* close_data) {
                  if (close_err < 0) return AbandonWrite(s, close_err, "close: " + ErrorText(close_err, close_data));
                  if (!s->set_mode) return RenameIntoPlace(s);
                  nfs4::SetAttrs attrs;
                  attrs.mode = s->mode;
                  nfs4::Compound c("chmod " + s->tmp);
                  c.PutPath(s->export_path, s->tmp).SetAttr(attrs);
                  c.Send(s->ctx, [s](int set_err, std::string message, const COMPOUND4res*) {
                    if (set_err < 0) return AbandonWrite(s, set_err, "chmod: " + message);
                    RenameIntoPlace(s);
                  });
                });
        });
}

void WriteNext(std::shared_ptr<WriteState> s) {
  if (s->written == s->data.size()) return FinishWrite(s);
  uint64_t n = std::min<uint64_t>(s->chunk, s->data.size() - s->written);
  Issue(s->ctx, [&](nfs_cb cb, void* priv) {
    return nfs_pwrite_async(s->ctx, s->fh, s->written, n, s->data.data() + s->written, cb, priv);
  }, [s](int err, void* data) {
    if (err < 0) return AbandonWrite(s, err, "write: " + ErrorText(err, data));
    if (err == 0) return AbandonWrite(s, -EIO, "write: server accepted no bytes");
    s->written += static_cast<uint64_t>(err);
    WriteNext(s);
  });
}

uint64_t ReadChunk(nfs_context* ctx) { return std::clamp<uint64_t>(nfs_get_readmax(ctx), 64 << 10, 1 << 20); }

uint64_t WriteChunk(nfs_context* ctx, int version) {
  if (version == 4) return nfs4::kMaxWriteBytes;
  return std::clamp<uint64_t>(nfs_get_writemax(ctx), 4096, 1 << 20);
}

}  // namespace

Result<std::string> Client::ReadFile(std::string_view path, uint64_t max_bytes) {
  NFSPROV_RETURN_IF_ERROR(ValidateRoot(path));
  std::string p(path);
  return CallSync<std::string>(NextLoop(), Deadline(), "read " + p,
      [p, max_bytes](nfs_context* ctx, std::shared_ptr<std::string> out, EventLoop::Done done) {
        Issue(ctx, [&](nfs_cb cb, void* priv) { return nfs_open_async(ctx, p.c_str(), O_RDONLY, cb, priv); },
              [ctx, out, max_bytes, done](int err, void* data) {
                if (err < 0) return done(err, ErrorText(err, data));
                auto s = std::make_shared<ReadState>(ReadState{
                    ctx, static_cast<nfsfh*>(data), max_bytes, ReadChunk(ctx), out, done});
                ReadNext(s);
              });
      }, EventLoop::Lane::kOpenState);
}

Status Client::WriteFileAtomic(std::string_view path, std::string_view data, uint32_t mode) {
  NFSPROV_RETURN_IF_ERROR(ValidateRoot(path));
  if (path == "/") return InvalidArgument("cannot write a file over the export root");
  std::string p(path), d(data);
  return CallSync<Unit>(NextLoop(), Deadline(), "write " + p,
      [p, d, mode, url = url_](nfs_context* ctx, std::shared_ptr<Unit>, EventLoop::Done done) {
        auto s = std::make_shared<WriteState>();
        s->ctx = ctx;
        s->export_path = url.export_path;
        s->mode = mode;
        s->set_mode = url.version == 4;
        s->tmp = TempNameFor(p);  // fresh on every attempt: a retry never reuses a half-written file
        s->path = p;
        s->data = d;
        s->chunk = WriteChunk(ctx, url.version);
        s->done = std::move(done);
        Issue(ctx, [&](nfs_cb cb, void* priv) {
          // Not O_EXCL: NFSv4 exclusive create leaves its verifier in the file's times, and the
          // random temp name already keeps writers apart.
          return nfs_open2_async(ctx, s->tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                 static_cast<int>(mode), cb, priv);
        }, [s](int err, void* result) {
          if (err < 0) return s->done(err, "create: " + ErrorText(err, result));
          s->fh = static_cast<nfsfh*>(result);
          WriteNext(s);
        });
      }, EventLoop::Lane::kOpenState).status();
}

}  // namespace nfsprov::nfs
