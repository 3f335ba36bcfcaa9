#include "nfs/tree.h"

#include <fcntl.h>

#include <deque>
#include <future>
#include <random>

#include "nfs/libnfs_call.h"
#include "nfs/nfs4_compound.h"
#include "nfs/path.h"

namespace nfsprov::nfs {
namespace {

using nfs4::Compound;
using nfs4::EntryAttrs;
using nfs4::FileHandle;
using nfs4::ReadDirPage;
using nfs4::SetAttrs;

enum class Mode { kRemove, kScan, kCopy };

constexpr uint32_t kReadDirBytes = 64 * 1024;
constexpr uint32_t kCopyReadBytes = 64 * 1024;
constexpr int kMaxListPasses = 8;  // re-listings of a directory that is still not empty

SetAttrs AttrsToRestore(const FileAttr& a, bool with_mode) {
  SetAttrs s;
  if (with_mode) s.mode = a.mode;
  s.uid = a.uid;
  s.gid = a.gid;
  s.atime = a.atime;
  s.mtime = a.mtime;
  return s;
}

bool Vanished(int err) { return err == -ENOENT || err == -ESTALE; }
bool Fatal(int err) { return err == -EHOSTDOWN || err == -ETIMEDOUT || err == -ECANCELED; }

// What a walk needs to know about its root before it starts.
struct RootInfo {
  FileHandle parent_fh;  // empty for the export root
  FileHandle fh;
  EntryAttrs attrs;
};

// Resolves `path` (absolute within the export) to handles in one COMPOUND.
Result<RootInfo> LookupRoot(Client& client, EventLoop& loop, const std::string& path) {
  auto c = std::make_shared<Compound>("lookup " + path);
  bool has_parent = path != "/";
  std::size_t slash = path.rfind('/');
  std::size_t parent_index = 0;
  if (has_parent) {
    c->PutPath(client.url().export_path, slash == 0 ? "/" : path.substr(0, slash)).GetFh();
    parent_index = c->size() - 1;
    c->Lookup(path.substr(slash + 1));
  } else {
    c->PutPath(client.url().export_path, "/");
  }
  c->GetFh();
  std::size_t fh_index = c->size() - 1;
  c->GetEntryAttrs();
  std::size_t attr_index = c->size() - 1;
  return internal::CallSync<RootInfo>(loop, client.Deadline(), "lookup " + path,
      [c, has_parent, parent_index, fh_index, attr_index](nfs_context* ctx,
                                                          std::shared_ptr<RootInfo> out,
                                                          EventLoop::Done done) {
        c->Send(ctx, [=](int err, std::string message, const COMPOUND4res* res) {
          if (err < 0) return done(err, message);
          if (has_parent) out->parent_fh = nfs4::FileHandleAt(*res, parent_index);
          out->fh = nfs4::FileHandleAt(*res, fh_index);
          if (nfs4::DecodeEntryAttrsAt(*res, attr_index, &out->attrs) != 0)
            return done(-EBADMSG, "malformed GETATTR reply");
          done(0, "");
        });
      });
}

struct Dir {
  FileHandle fh;
  std::string path;
  std::shared_ptr<Dir> parent;  // null for the sentinel above the root
  std::string name;             // in parent
  FileAttr attr;
  FileHandle dst_fh;  // copy: the destination directory
  uint64_t pending = 0;  // children outstanding, +1 while the listing is not finished
  uint64_t cookie = 0;
  nfs4::Verifier verifier{};
  bool failed = false;  // something below could not be handled
  int passes = 0;
};
using DirPtr = std::shared_ptr<Dir>;

// One tree operation, living on one event loop. All members are touched on that loop only.
class TreeWalk : public std::enable_shared_from_this<TreeWalk> {
 public:
  TreeWalk(Mode mode, EventLoop& loop, std::chrono::milliseconds call_timeout, int max_in_flight)
      : mode_(mode), loop_(loop), call_timeout_(call_timeout),
        max_in_flight_(static_cast<uint64_t>(std::max(1, max_in_flight))) {}

  std::future<nfsprov::Result<TreeStats>> Outcome() { return promise_.get_future(); }

  // Walks the directory `root` (whose completion finishes the walk). Copy: `staging` is where
  // regular files are created before they are renamed into place.
  void StartDir(DirPtr root) {
    sentinel_ = root->parent;
    sentinel_->pending = 1;
    Enlist(root);
    Pump();
  }

  void SetStaging(FileHandle fh, std::string path, std::string name) {
    staging_fh_ = std::move(fh);
    staging_path_ = std::move(path);
    staging_name_ = std::move(name);
  }

 private:
  template <typename T>
  void Send(std::shared_ptr<Compound> c, std::function<int(const COMPOUND4res&, T&)> decode,
            std::function<void(int, const std::string&, T&)> handler) {
    ++in_flight_;
    ++stats_.rpcs;
    auto out = std::make_shared<T>();
    auto self = shared_from_this();
    loop_.Run(
        [c, decode, out](nfs_context* ctx, EventLoop::Done done) {
          c->Send(ctx, [decode, out, done](int err, std::string message, const COMPOUND4res* res) {
            if (err == 0 && decode) {
              *out = T();
              if (decode(*res, *out) != 0) return done(-EBADMSG, "malformed reply");
            }
            done(err, std::move(message));
          });
        },
        Clock::now() + call_timeout_,
        [self, out, handler](int err, std::string message) {
          --self->in_flight_;
          if (Fatal(err) && self->abort_.ok()) self->abort_ = Status::FromErrno(-err, message);
          handler(err, message, *out);
          self->Pump();
        });
  }

  void SendNoReply(std::shared_ptr<Compound> c, std::function<void(int, const std::string&)> handler) {
    Send<internal::Unit>(std::move(c), nullptr,
                         [handler](int err, const std::string& m, internal::Unit&) { handler(err, m); });
  }

  void Pump() {
    while (abort_.ok() && in_flight_ < max_in_flight_) {
      if (!tasks_.empty()) {
        auto task = std::move(tasks_.front());
        tasks_.pop_front();
        task();
      } else if (!to_list_.empty()) {
        DirPtr d = to_list_.back();
        to_list_.pop_back();
        ListPage(d);
      } else {
        break;
      }
    }
    MaybeFinish();
  }

  void MaybeFinish() {
    if (finished_ || in_flight_ != 0) return;
    if (!abort_.ok()) {
      finished_ = true;
      promise_.set_value(abort_);
    } else if (sentinel_ && sentinel_->pending == 0) {
      finished_ = true;
      if (stats_.error_count > 0) {
        promise_.set_value(first_error_.WithContext(
            std::to_string(stats_.error_count) + " entries could not be handled; first"));
      } else {
        promise_.set_value(stats_);
      }
    }
  }

  void RecordError(const std::string& path, int err, const std::string& message) {
    ++stats_.error_count;
    if (stats_.errors.size() < kMaxReportedErrors) stats_.errors.push_back({path, message});
    if (first_error_.ok()) first_error_ = Status::FromErrno(-err, path + ": " + message);
  }

  void Enlist(const DirPtr& d) {
    d->pending = 1;  // the listing
    d->cookie = 0;
    d->verifier = {};
    to_list_.push_back(d);
  }

  void Release(const DirPtr& d) {
    if (--d->pending == 0) Completed(d);
  }

  void Fail(const DirPtr& d, const std::string& path, int err, const std::string& message) {
    RecordError(path, err, message);
    d->failed = true;
  }

  void ListPage(const DirPtr& d) {
    auto c = std::make_shared<Compound>("readdir " + d->path);
    c->PutFh(d->fh).ReadDir(d->cookie, d->verifier, kReadDirBytes);
    Send<ReadDirPage>(c,
        [](const COMPOUND4res& res, ReadDirPage& page) { return nfs4::DecodeReadDirAt(res, 1, &page); },
        [this, d](int err, const std::string& message, ReadDirPage& page) {
          if (err < 0) {
            if (!Vanished(err)) Fail(d, d->path, err, message);
            return Release(d);
          }
          d->cookie = page.cookie;
          d->verifier = page.verifier;
          for (auto& e : page.entries) Visit(d, e);
          if (page.eof) {
            Release(d);
          } else {
            to_list_.push_back(d);  // next page; the listing still holds its pending count
          }
        });
  }

  void Visit(const DirPtr& d, ReadDirPage::Entry& e) {
    if (e.name == "." || e.name == "..") return;
    std::string path = d->path == "/" ? "/" + e.name : d->path + "/" + e.name;
    if (e.attrs.rdattr_error != 0) {
      int err = -nfs4::ErrnoFromNfs4(static_cast<nfsstat4>(e.attrs.rdattr_error));
      if (!Vanished(err)) Fail(d, path, err, "cannot read attributes");
      return;
    }
    const FileAttr& a = e.attrs.attr;
    if (a.type == FileType::kDirectory) {
      auto child = std::make_shared<Dir>();
      child->fh = e.attrs.fh;
      child->path = std::move(path);
      child->parent = d;
      child->name = e.name;
      child->attr = a;
      ++d->pending;
      if (mode_ == Mode::kCopy) {
        tasks_.push_back([this, child] { CreateDirCopy(child); });
      } else {
        Enlist(child);
      }
      return;
    }
    switch (mode_) {
      case Mode::kScan:
        Count(a);
        return;
      case Mode::kRemove:
        ++d->pending;
        tasks_.push_back([this, d, name = e.name, path, a] { RemoveEntry(d, name, path, a); });
        return;
      case Mode::kCopy:
        if (a.type == FileType::kOther) {
          return Fail(d, path, -ENOTSUP, "special file (device, FIFO or socket) not copied");
        }
        ++d->pending;
        if (a.type == FileType::kSymlink) {
          tasks_.push_back([this, d, fh = e.attrs.fh, name = e.name, path, a] {
            CopySymlink(d, fh, name, path, a);
          });
        } else {
          tasks_.push_back([this, d, fh = e.attrs.fh, name = e.name, path, a] {
            CopyFile(std::make_shared<FileCopy>(FileCopy{d, fh, name, path, a, {}, {}, 0}));
          });
        }
        return;
    }
  }

  void Count(const FileAttr& a) {
    switch (a.type) {
      case FileType::kDirectory: ++stats_.dirs; break;
      case FileType::kSymlink: ++stats_.symlinks; break;
      default:
        ++stats_.files;
        stats_.bytes += a.size;
        break;
    }
    stats_.used_bytes += a.used_bytes;
  }

  // A directory whose listing and children are all done.
  void Completed(const DirPtr& d) {
    if (d == sentinel_) return MaybeFinish();
    switch (mode_) {
      case Mode::kScan:
        Count(d->attr);
        return Release(d->parent);
      case Mode::kRemove:
        if (d->failed) {
          d->parent->failed = true;
          return Release(d->parent);
        }
        return tasks_.push_back([this, d] { RemoveDir(d); });
      case Mode::kCopy:
        return tasks_.push_back([this, d] { FinishDirCopy(d); });
    }
  }

  // --- remove ---------------------------------------------------------------------------------

  void RemoveEntry(const DirPtr& d, const std::string& name, const std::string& path, FileAttr a) {
    auto c = std::make_shared<Compound>("remove " + path);
    c->PutFh(d->fh).Remove(name);
    SendNoReply(c, [this, d, path, a](int err, const std::string& message) {
      if (err == 0) {
        Count(a);
      } else if (!Vanished(err)) {
        Fail(d, path, err, message);
      }
      Release(d);
    });
  }

  void RemoveDir(const DirPtr& d) {
    auto c = std::make_shared<Compound>("rmdir " + d->path);
    c->PutFh(d->parent->fh).Remove(d->name);
    SendNoReply(c, [this, d](int err, const std::string& message) {
      if (err == -ENOTEMPTY && d->passes < kMaxListPasses) {
        // Entries appeared, or a READDIR page skipped some while we removed: list again.
        ++d->passes;
        return Enlist(d);
      }
      if (err == 0) {
        Count(d->attr);
      } else if (!Vanished(err)) {
        Fail(d->parent, d->path, err, message);
      }
      Release(d->parent);
    });
  }

  // --- copy -----------------------------------------------------------------------------------

  struct FileCopy {
    DirPtr dir;
    FileHandle src;
    std::string name;
    std::string path;
    FileAttr attr;
    std::string staged;  // name in the staging directory
    FileHandle dst;
    uint64_t offset = 0;
  };
  using FileCopyPtr = std::shared_ptr<FileCopy>;

  void CreateDirCopy(const DirPtr& child) {
    auto c = std::make_shared<Compound>("mkdir copy of " + child->path);
    SetAttrs private_mode;
    private_mode.mode = 0700;  // final attributes come when the subtree is complete
    c->PutFh(child->parent->dst_fh).CreateDir(child->name, private_mode).GetFh();
    Send<FileHandle>(c,
        [](const COMPOUND4res& res, FileHandle& fh) { fh = nfs4::FileHandleAt(res, 2); return 0; },
        [this, child](int err, const std::string& message, FileHandle& fh) {
          if (err < 0) {
            Fail(child->parent, child->path, err, message);
            return Release(child->parent);
          }
          child->dst_fh = fh;
          Enlist(child);
        });
  }

  void FinishDirCopy(const DirPtr& d) {
    bool is_root = d->parent == sentinel_;
    auto c = std::make_shared<Compound>("set attributes of copy of " + d->path);
    c->PutFh(d->dst_fh);
    if (is_root) c->Remove(staging_name_);  // empty by now; before SETATTR so mtime sticks
    c->SetAttr(AttrsToRestore(d->attr, true));
    SendNoReply(c, [this, d](int err, const std::string& message) {
      if (err < 0) Fail(d->parent, d->path, err, message);
      else Count(d->attr);
      Release(d->parent);
    });
  }

  void CopySymlink(const DirPtr& d, const FileHandle& src, const std::string& name,
                   const std::string& path, const FileAttr& a) {
    auto c = std::make_shared<Compound>("readlink " + path);
    c->PutFh(src).ReadLink();
    Send<std::string>(c,
        [](const COMPOUND4res& res, std::string& target) { target = nfs4::LinkTextAt(res, 1); return 0; },
        [this, d, name, path, a](int err, const std::string& message, std::string& target) {
          if (err < 0) {
            if (!Vanished(err)) Fail(d, path, err, message);
            return Release(d);
          }
          auto create = std::make_shared<Compound>("symlink copy of " + path);
          create->PutFh(d->dst_fh).CreateSymlink(name, target, {}).SetAttr(AttrsToRestore(a, false));
          SendNoReply(create, [this, d, path, a](int create_err, const std::string& create_message) {
            if (create_err < 0) Fail(d, path, create_err, create_message);
            else Count(a);
            Release(d);
          });
        });
  }

  // Regular files: create empty in the staging directory (NFSv4 creates files only through
  // OPEN, which libnfs does for us by path there), then everything by handle: READ and WRITE with
  // the anonymous stateid, SETATTR, and RENAME into place.
  void CopyFile(const FileCopyPtr& f) {
    f->staged = std::to_string(next_staged_++);
    std::string staged_path = staging_path_ + "/" + f->staged;
    ++in_flight_;
    ++stats_.rpcs;
    auto self = shared_from_this();
    loop_.Run(
        [staged_path](nfs_context* ctx, EventLoop::Done done) {
          internal::Issue(ctx, [&](nfs_cb cb, void* priv) {
            return nfs_open2_async(ctx, staged_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600, cb, priv);
          }, [ctx, done](int err, void* data) {
            if (err < 0) return done(err, internal::ErrorText(err, data));
            auto* fh = static_cast<nfsfh*>(data);
            internal::Issue(ctx, [&](nfs_cb cb, void* priv) { return nfs_close_async(ctx, fh, cb, priv); },
                            [done](int close_err, void* close_data) {
                              done(close_err < 0 ? close_err : 0,
                                   close_err < 0 ? internal::ErrorText(close_err, close_data) : "");
                            });
          });
        },
        Clock::now() + call_timeout_,
        [self, f](int err, std::string message) {
          --self->in_flight_;
          if (Fatal(err) && self->abort_.ok()) self->abort_ = Status::FromErrno(-err, message);
          if (err < 0) {
            self->Fail(f->dir, f->path, err, "create copy: " + message);
            self->Release(f->dir);
          } else {
            self->tasks_.push_front([self, f] { self->LookupStaged(f); });
          }
          self->Pump();
        },
        EventLoop::Lane::kOpenState);
  }

  void LookupStaged(const FileCopyPtr& f) {
    auto c = std::make_shared<Compound>("lookup copy of " + f->path);
    c->PutFh(staging_fh_).Lookup(f->staged).GetFh();
    Send<FileHandle>(c,
        [](const COMPOUND4res& res, FileHandle& fh) { fh = nfs4::FileHandleAt(res, 2); return 0; },
        [this, f](int err, const std::string& message, FileHandle& fh) {
          if (err < 0) return AbandonFile(f, err, message);
          f->dst = fh;
          tasks_.push_front([this, f] { CopyChunk(f); });
        });
  }

  // Reads up to kCopyReadBytes, then writes it as pipelined kMaxWriteBytes pieces.
  void CopyChunk(const FileCopyPtr& f) {
    auto c = std::make_shared<Compound>("read " + f->path);
    c->PutFh(f->src).Read(f->offset, kCopyReadBytes);
    struct Chunk { std::string data; bool eof = false; };
    Send<Chunk>(c,
        [](const COMPOUND4res& res, Chunk& chunk) {
          chunk.data = std::string(nfs4::ReadDataAt(res, 1, &chunk.eof));
          return 0;
        },
        [this, f](int err, const std::string& message, Chunk& chunk) {
          if (err < 0) return AbandonFile(f, err, message);
          if (chunk.data.empty()) return tasks_.push_front([this, f] { PlaceFile(f); });
          auto data = std::make_shared<std::string>(std::move(chunk.data));
          auto pieces_left = std::make_shared<uint64_t>((data->size() + nfs4::kMaxWriteBytes - 1) /
                                                        nfs4::kMaxWriteBytes);
          auto failed = std::make_shared<bool>(false);
          uint64_t base = f->offset;
          bool eof = chunk.eof;
          f->offset += data->size();
          for (uint64_t at = 0; at < data->size(); at += nfs4::kMaxWriteBytes) {
            uint64_t length = std::min<uint64_t>(nfs4::kMaxWriteBytes, data->size() - at);
            tasks_.push_front([this, f, data, at, length, base, eof, pieces_left, failed] {
              auto w = std::make_shared<Compound>("write copy of " + f->path);
              w->PutFh(f->dst).Write(base + at, std::string_view(*data).substr(at, length));
              Send<uint32_t>(w,
                  [](const COMPOUND4res& res, uint32_t& written) { written = nfs4::WrittenAt(res, 1); return 0; },
                  [this, f, length, eof, pieces_left, failed](int werr, const std::string& wmessage,
                                                              uint32_t& written) {
                    if (!*failed && (werr < 0 || written != length)) {
                      *failed = true;
                      AbandonFile(f, werr < 0 ? werr : -EIO, werr < 0 ? wmessage : "short write");
                    }
                    stats_.bytes += werr < 0 ? 0 : written;
                    if (--*pieces_left > 0 || *failed) return;
                    if (eof) return tasks_.push_front([this, f] { PlaceFile(f); });
                    tasks_.push_front([this, f] { CopyChunk(f); });
                  });
            });
          }
        });
  }

  void PlaceFile(const FileCopyPtr& f) {
    auto c = std::make_shared<Compound>("place copy of " + f->path);
    c->PutFh(f->dst).SetAttr(AttrsToRestore(f->attr, true));
    c->PutFh(staging_fh_).SaveFh().PutFh(f->dir->dst_fh).Rename(f->staged, f->name);
    SendNoReply(c, [this, f](int err, const std::string& message) {
      if (err < 0) return AbandonFile(f, err, message);
      ++stats_.files;
      Release(f->dir);
    });
  }

  void AbandonFile(const FileCopyPtr& f, int err, const std::string& message) {
    if (Vanished(err) && !f->dst.empty()) {
      // The source vanished mid-copy: not an error, but its staged copy must go.
    } else {
      Fail(f->dir, f->path, err, message);
    }
    auto c = std::make_shared<Compound>("remove staged copy of " + f->path);
    c->PutFh(staging_fh_).Remove(f->staged);
    SendNoReply(c, [this, f](int, const std::string&) { Release(f->dir); });
  }

  const Mode mode_;
  EventLoop& loop_;
  const std::chrono::milliseconds call_timeout_;
  const uint64_t max_in_flight_;

  std::promise<nfsprov::Result<TreeStats>> promise_;
  TreeStats stats_;
  Status first_error_;
  Status abort_;  // a fatal error (server unreachable): stop issuing, drain, report
  bool finished_ = false;
  uint64_t in_flight_ = 0;
  std::deque<std::function<void()>> tasks_;  // each issues one request
  std::vector<DirPtr> to_list_;              // a stack: depth-first keeps it small
  DirPtr sentinel_;
  FileHandle staging_fh_;
  std::string staging_path_;
  std::string staging_name_;
  uint64_t next_staged_ = 0;
};

Status RequireV4(const Client& client) {
  if (client.url().version != 4)
    return Unimplemented("tree operations need NFSv4; " + client.url().Display() + " is NFSv3");
  return Status();
}

Result<TreeStats> Walk(Mode mode, Client& client, EventLoop& loop, DirPtr root,
                       const TreeOptions& options,
                       std::function<void(TreeWalk&)> configure = nullptr) {
  auto walk = std::make_shared<TreeWalk>(mode, loop, client.options().call_timeout,
                                         options.max_in_flight);
  if (configure) configure(*walk);
  std::future<Result<TreeStats>> done = walk->Outcome();
  loop.Post([walk, root] { walk->StartDir(root); });
  return done.get();
}

DirPtr RootDir(const std::string& path, const RootInfo& info) {
  auto root = std::make_shared<Dir>();
  root->fh = info.fh;
  root->path = path;
  root->attr = info.attrs.attr;
  root->parent = std::make_shared<Dir>();
  root->parent->fh = info.parent_fh;
  root->name = path.substr(path.rfind('/') + 1);  // "" for the export root
  return root;
}

std::string RandomSuffix() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[20];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(rng()));
  return buf;
}

}  // namespace

Result<TreeStats> RemoveTree(Client& client, std::string_view path, TreeOptions options) {
  NFSPROV_RETURN_IF_ERROR(ValidateRoot(path));
  if (path == "/") return InvalidArgument("refusing to remove the export root");
  NFSPROV_RETURN_IF_ERROR(RequireV4(client));
  std::string p(path);
  EventLoop& loop = client.NextLoop();
  Result<RootInfo> root = LookupRoot(client, loop, p);
  if (!root.ok()) {
    if (root.status().code() == StatusCode::kNotFound) return TreeStats{};  // already gone
    return root.status();
  }
  if (root->attrs.attr.type != FileType::kDirectory) {
    NFSPROV_RETURN_IF_ERROR(client.Unlink(p));
    TreeStats stats;
    (root->attrs.attr.type == FileType::kSymlink ? stats.symlinks : stats.files) = 1;
    stats.bytes = root->attrs.attr.type == FileType::kRegular ? root->attrs.attr.size : 0;
    return stats;
  }
  return Walk(Mode::kRemove, client, loop, RootDir(p, *root), options);
}

Result<TreeStats> ScanTree(Client& client, std::string_view path, TreeOptions options) {
  NFSPROV_RETURN_IF_ERROR(ValidateRoot(path));
  NFSPROV_RETURN_IF_ERROR(RequireV4(client));
  std::string p(path);
  EventLoop& loop = client.NextLoop();
  Result<RootInfo> root = LookupRoot(client, loop, p);
  if (!root.ok()) return root.status();
  const FileAttr& a = root->attrs.attr;
  if (a.type != FileType::kDirectory) {
    TreeStats stats;
    (a.type == FileType::kSymlink ? stats.symlinks : stats.files) = 1;
    stats.bytes = a.type == FileType::kSymlink ? 0 : a.size;
    stats.used_bytes = a.used_bytes;
    return stats;
  }
  return Walk(Mode::kScan, client, loop, RootDir(p, *root), options);
}

Result<TreeStats> CopyTree(Client& client, std::string_view from, std::string_view to,
                           TreeOptions options) {
  NFSPROV_RETURN_IF_ERROR(ValidateRoot(from));
  NFSPROV_RETURN_IF_ERROR(ValidateRoot(to));
  NFSPROV_RETURN_IF_ERROR(RequireV4(client));
  std::string src(from), dst(to);
  if (dst == "/" || dst == src || dst.starts_with(src == "/" ? "/" : src + "/"))
    return InvalidArgument("cannot copy " + src + " into itself (" + dst + ")");
  EventLoop& loop = client.NextLoop();
  Result<RootInfo> source = LookupRoot(client, loop, src);
  if (!source.ok()) return source.status();
  if (source->attrs.attr.type != FileType::kDirectory)
    return FailedPrecondition("copy source " + src + " is not a directory");

  NFSPROV_RETURN_IF_ERROR(client.Mkdir(dst, 0700));
  std::string staging_name = std::string(kCopyStagingPrefix) + RandomSuffix();
  std::string staging_path = dst + "/" + staging_name;
  NFSPROV_RETURN_IF_ERROR(client.Mkdir(staging_path, 0700));
  Result<RootInfo> target = LookupRoot(client, loop, dst);
  if (!target.ok()) return target.status();
  Result<RootInfo> staging = LookupRoot(client, loop, staging_path);
  if (!staging.ok()) return staging.status();

  DirPtr root = RootDir(src, *source);
  root->dst_fh = target->fh;
  return Walk(Mode::kCopy, client, loop, root, options, [&](TreeWalk& walk) {
    walk.SetStaging(staging->fh, staging_path, staging_name);
  });
}

}  // namespace nfsprov::nfs
