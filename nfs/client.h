// Client: a synchronous, thread-safe NFS client for one export, over libnfs. No kernel mounts.
//
// Connections: a Client owns `connections` EventLoops (default 2), each one TCP connection with
// its own libnfs context and thread (see event_loop.h). A call is handed to one loop (round
// robin) and the calling thread waits for its result; libnfs pipelines calls from many threads
// on one connection, so a small pool is enough. Tree operations (tree.h) run on one loop each.
//
// Paths: every path is absolute within the export ("/" is the export root) and must pass
// ValidateRoot (nfs/path.h): no "..", ".", empty segments or NUL. Callers build them with
// JoinUnderRoot. Path-based calls resolve the path on the server in one COMPOUND, so they are
// for the driver's own shallow paths (a server caps a COMPOUND at ~50-100 components); the tree
// engine works from file handles and has no depth limit.
//
// Errors: INVALID_ARGUMENT for a bad path; otherwise the NFS error as a Status carrying the
// errno, with a message naming the operation and path ("mkdir /vols/a: File exists"). A server
// that cannot be reached within the call's timeout gives UNAVAILABLE naming the server; the
// client keeps reconnecting in the background, so a later call succeeds once it is back.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "nfs/event_loop.h"
#include "nfs/types.h"
#include "nfs/url.h"

namespace nfsprov::nfs {
namespace nfs4 {
struct SetAttrs;
class Compound;
}

// One object for Client::CreateInOrder: a directory (as Mkdir makes it) or a symlink (as Symlink).
struct NewEntry {
  enum class Kind { kDirectory, kSymlink };
  Kind kind = Kind::kDirectory;
  std::string path;    // absolute within the export
  uint32_t mode = 0;   // directories: the exact mode, set-id and sticky bits included
  std::optional<uint32_t> uid, gid;  // directories: owner and group, when given
  std::string target;  // symlinks: the link text

  static NewEntry Directory(std::string path, uint32_t mode, std::optional<uint32_t> uid = std::nullopt,
                            std::optional<uint32_t> gid = std::nullopt) {
    return {Kind::kDirectory, std::move(path), mode, uid, gid, {}};
  }
  static NewEntry Symlink(std::string target, std::string path) {
    return {Kind::kSymlink, std::move(path), 0, std::nullopt, std::nullopt, std::move(target)};
  }
};

struct ClientOptions {
  int connections = 2;
  std::chrono::seconds rpc_timeout{10};
  std::chrono::milliseconds call_timeout{30000};  // per call, including reconnects
  std::chrono::milliseconds connect_timeout{10000};
};

class Client {
 public:
  static Result<std::unique_ptr<Client>> Connect(std::string_view url, ClientOptions options = {});
  static Result<std::unique_ptr<Client>> Connect(const NfsUrl& url, ClientOptions options = {});
  ~Client();

  const NfsUrl& url() const { return url_; }
  const ClientOptions& options() const { return options_; }

  Result<FileAttr> Stat(std::string_view path);   // follows a final symlink
  Result<FileAttr> Lstat(std::string_view path);  // does not
  // Creates a directory with exactly `mode` (set-id and sticky bits included) and, when given, the
  // owner and group: one COMPOUND over NFSv4.
  Status Mkdir(std::string_view path, uint32_t mode, std::optional<uint32_t> uid = std::nullopt,
               std::optional<uint32_t> gid = std::nullopt);
  Status Chmod(std::string_view path, uint32_t mode);
  Status Chown(std::string_view path, uint32_t uid, uint32_t gid);
  Status Rmdir(std::string_view path);
  Status Unlink(std::string_view path);
  Status Rename(std::string_view from, std::string_view to);
  Result<std::vector<DirEntry>> ReadDir(std::string_view path);  // without "." and ".."
  Result<FsStats> StatFs(std::string_view path);
  // Creates a symlink; ALREADY_EXISTS when link_path exists (atomic and exclusive). The target is
  // any text of 1..3000 bytes without NUL: it is not resolved.
  Status Symlink(std::string_view target, std::string_view link_path);
  Result<std::string> Readlink(std::string_view path);
  // Creates `entries` in order, each exclusively (ALREADY_EXISTS when its path exists) and
  // exactly as Mkdir or Symlink would, in ONE request over NFSv4: a COMPOUND of PUTROOTFH,
  // LOOKUPs and CREATE per entry (plus SETATTR for a directory with set-id or sticky bits or an
  // owner, which CREATE cannot set). NFSv3: one call after another.
  // Stops at the first entry that fails, and the error names it: the entries before it exist,
  // none after it was tried, and it does not exist unless it is a directory whose SETATTR
  // failed (it is then there with mode & 0777 and the server's choice of owner). Not atomic: a
  // server crash can also leave any prefix. Entries must fit in one COMPOUND
  // (nfs4::kMaxCompoundBytes, about 3.5 KB of names and targets) or nothing is sent (INTERNAL).
  // `created`, when given, receives how many entries the server created before the failure (all
  // on success; 0 when no reply came, and the state is then unknown).
  Status CreateInOrder(const std::vector<NewEntry>& entries, std::size_t* created = nullptr);
  // CreateInOrder without waiting for the server: `done` gets the status and `created` once, on
  // the connection's event loop thread (so it must not wait for another call of this client), or
  // on this thread for entries refused before sending. Over NFSv3 it makes the calls one after
  // another, waiting, and then runs `done` on this thread.
  using CreatedInOrder = std::function<void(Status status, std::size_t created)>;
  void CreateInOrderAsync(const std::vector<NewEntry>& entries, CreatedInOrder done);
  // Atomically sets link_path to a symlink with `target`, replacing what is there (one COMPOUND
  // over NFSv4: create beside it, rename over it). Readers see the old or the new target.
  Status ReplaceSymlink(std::string_view target, std::string_view link_path);

  // Reads a whole file of at most max_bytes (RESOURCE_EXHAUSTED if larger).
  Result<std::string> ReadFile(std::string_view path, uint64_t max_bytes = 1 << 20);
  // Writes `data` to a unique temporary file beside `path`, flushes it to stable storage, and
  // renames it over `path`: readers see the old or the new content, never a mix.
  Status WriteFileAtomic(std::string_view path, std::string_view data, uint32_t mode = 0644);

  // NFS requests sent so far over all connections (see EventLoop::attempts_started).
  uint64_t RequestCount() const;

  // Loop used for the next call (round robin); tree operations run on it.
  EventLoop& NextLoop();
  Clock::time_point Deadline() const { return Clock::now() + options_.call_timeout; }

 private:
  Client(NfsUrl url, ClientOptions options) : url_(std::move(url)), options_(options) {}
  Status SetAttributes(std::string_view verb, std::string_view path, const nfs4::SetAttrs& attrs);
  Status RunCompound(const std::string& what, std::shared_ptr<nfs4::Compound> compound);
  Status CheckNewEntry(const NewEntry& entry) const;

  NfsUrl url_;
  ClientOptions options_;
  std::vector<std::unique_ptr<EventLoop>> loops_;
  std::atomic<uint64_t> next_loop_{0};
};

}  // namespace nfsprov::nfs
