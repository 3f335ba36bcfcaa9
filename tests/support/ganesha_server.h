// A real NFS server for tests: nfs-ganesha (VFS FSAL, user space, as root) on loopback.
//
// Each instance uses a fresh temporary directory (export dir, config, log, pid file, recovery
// dir) and a free TCP port picked at start, so several test processes can run side by side.
// NFSv4 works without rpcbind. NFSv3 is offered only when requested and rpcbind is running (or
// can be started); V3Available() says whether it is. Stop() and the destructor stop the server
// by pid (SIGTERM, then SIGKILL) and remove the temporary directory. The server is killed when
// the thread that started it exits (so a crashed test leaves none behind): start it from the
// test body, not from a short-lived helper thread.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"

namespace nfsprov::testing {

struct GaneshaOptions {
  bool enable_v3 = false;       // also serve NFSv3 + MOUNT (needs rpcbind)
  bool root_squash_export = false;  // add a second export at /squashed with Root_Squash
  // Where the temporary directory (and so the export) is made; empty: $TMPDIR, else /tmp.
  std::string parent_dir{};
};

// A loopback TCP port free when this looks (bound to 0, then released): for a server to listen
// on (one that loses the race to bind it is retried) or for a client to find nothing there.
Result<int> PickFreePort();

class GaneshaServer {
 public:
  // Starts the server and waits (up to 10 s) until it accepts NFS connections.
  static Result<std::unique_ptr<GaneshaServer>> Start(GaneshaOptions options = {});
  ~GaneshaServer();

  GaneshaServer(const GaneshaServer&) = delete;
  GaneshaServer& operator=(const GaneshaServer&) = delete;

  // Local directory that backs the export: tests inspect and seed it directly.
  const std::string& export_dir() const;
  // Local directory that backs the root-squashed export (empty unless requested).
  const std::string& squashed_dir() const;
  int port() const;
  // The server's process id while it runs, -1 while stopped.
  int pid() const;
  bool V3Available() const;

  // nfs://127.0.0.1/export?version=4&nfsport=PORT
  std::string Url() const;
  // The NFSv3 URL (real path + nfsport + mountport); empty when V3Available() is false.
  std::string UrlV3() const;
  // nfs://127.0.0.1/squashed?version=4&nfsport=PORT
  std::string SquashedUrl() const;

  // Stops the server (SIGTERM, then SIGKILL after 5 s) and waits for it to exit.
  Status Stop();
  // Starts it again on the same port with the same export; waits until it answers.
  Status Restart();
  // Stops it and keeps it stopped until Resume(): to test an unreachable server.
  Status Pause() { return Stop(); }
  Status Resume();

 private:
  struct Impl;
  explicit GaneshaServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace nfsprov::testing
