// DriverProcess: the real nfsprov binary, started as a child process serving a unix socket.
//
// For end-to-end tests and the demo: they talk to the driver exactly as kubelet's sidecars do,
// over gRPC on its socket. Start() waits (up to 10 s) until the socket answers Probe (or, for
// lockd, says it has no such method). Kill()
// sends SIGKILL (a crash), Stop() SIGTERM (a graceful stop) and both reap the child; the
// destructor kills whatever is still running. The child dies with the thread that started it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "common/status.h"

namespace nfsprov::e2e {

class DriverProcess {
 public:
  // args: everything after the binary, e.g. {"controller", "--share", url}; --endpoint is added.
  // own_mount_namespace: the child (and every restart of it) gets a private mount namespace, as
  // a node plugin on another machine would have; its mounts are seen through /proc/PID/root.
  static Result<std::unique_ptr<DriverProcess>> Start(std::vector<std::string> args,
                                                      std::string socket_path,
                                                      bool own_mount_namespace = false);
  // Runs the binary with exactly `args` (nothing added) and waits, as Start does, until the gRPC
  // target `grpc_target` (unix:///path or host:port, from its own --endpoint) answers. Its log
  // goes to `log_path`.
  static Result<std::unique_ptr<DriverProcess>> StartExact(std::vector<std::string> args,
                                                           std::string grpc_target,
                                                           std::string log_path);
  ~DriverProcess();

  const std::string& socket_path() const { return socket_path_; }
  std::shared_ptr<grpc::Channel> Channel() const;
  int pid() const { return pid_; }
  // The driver's stderr so far (its log).
  std::string Log() const;

  Status Kill();      // SIGKILL and reap
  Status Stop();      // SIGTERM and reap; error if it does not exit 0 within 60 s
  Status Restart();   // Kill, then Start again with the same arguments

 private:
  DriverProcess(std::vector<std::string> args, std::string socket_path, std::string log_path,
                bool own_mount_namespace)
      : args_(std::move(args)), socket_path_(std::move(socket_path)), log_path_(std::move(log_path)),
        own_mount_namespace_(own_mount_namespace) {}
  Status Launch();

  std::vector<std::string> args_;
  std::string socket_path_;        // empty for StartExact with a TCP target
  std::string grpc_target_;        // set by StartExact: the endpoint is in args_ already
  std::string log_path_;
  bool own_mount_namespace_;
  int pid_ = -1;
};

// Path of the nfsprov binary under test (set by CMake).
std::string DriverBinary();

}  // namespace nfsprov::e2e
