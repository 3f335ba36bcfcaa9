// CsiServer: the gRPC server that kubelet and the sidecars talk to.
//
// Start() listens on a unix socket (the normal case) or on TCP and serves the given services
// with the given credentials (null: plaintext, as kubelet's unix sockets are; lockd passes TLS), which the caller owns and must keep alive until Shutdown returns.
// For a unix endpoint it first makes the socket path usable, because a crashed driver leaves
// its socket behind and a restarted container must come back without help:
//   - the parent directory is created if missing;
//   - an existing socket nobody accepts on (ECONNREFUSED) is stale and removed;
//   - an existing socket that accepts is ALREADY_EXISTS ("another process serves ..."); gRPC
//     would otherwise unlink it and bind anew, leaving that process running but unreachable;
//   - anything else at the path (a regular file, a directory) is FAILED_PRECONDITION and is
//     never removed.
// The check and the bind are not atomic: two processes starting in the same instant on one path
// are not told apart. SO_REUSEPORT is off, so a TCP port in use fails Start instead of being
// shared.
//
// Shutdown(grace) first tells every service that is a StopListener, then stops accepting, lets
// calls being served finish for up to `grace`, then cancels the rest and waits for their handlers
// to return (handlers should watch ServerContext::IsCancelled in long loops). A call is being
// served while its handler runs and until its status has gone out; a stream handler marks the
// time it waits for its client's next message with a ClientWait, so a waiting stream is not being
// served, nor is an idle connection. Once no call is being served, Shutdown ends those at once
// instead of waiting for the clients to close them (gRPC alone waits, and clients such as the
// sidecars notice its GOAWAY only seconds later). The count is the process's, over all its
// servers: with two servers in one process, one's calls keep the other's idle connections open
// until its own calls end or its grace runs out. A call that reaches a handler in the instant
// that Shutdown takes for "nothing is being served" is cancelled; CSI callers retry. The socket
// file is gone when it returns. It is idempotent and must not be called from inside a handler.
// The destructor shuts down with no grace.
#pragma once

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/support/server_callback.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <vector>

#include "common/status.h"
#include "csi/endpoint.h"

namespace nfsprov::csi {

// A service whose calls may wait for something other than work of their own (lockd's queued
// acquires): told when the server begins to stop, it ends them promptly (and refuses new ones).
class StopListener {
 public:
  virtual ~StopListener() = default;
  virtual void OnServerStopping() = 0;
};

// Inside a stream handler, around each wait for the client's next message: the call is not being
// served meanwhile (see CsiServer::Shutdown).
class ClientWait {
 public:
  ClientWait();
  ~ClientWait();
  ClientWait(const ClientWait&) = delete;
  ClientWait& operator=(const ClientWait&) = delete;
};

// The reactor of a unary callback method (one whose handler returns before its answer is ready):
// the call counts as being served (see CsiServer::Shutdown) from the reactor's creation until gRPC
// is done with it, as the sync handlers count from their request until their status is out.
class ServedReactor final : public grpc::ServerUnaryReactor {
 public:
  ServedReactor();
  void OnDone() override;  // deletes this
};

class CsiServer {
 public:
  static Result<std::unique_ptr<CsiServer>> Start(
      const Endpoint& endpoint, std::vector<grpc::Service*> services,
      std::shared_ptr<grpc::ServerCredentials> credentials = nullptr);

  CsiServer(const CsiServer&) = delete;
  CsiServer& operator=(const CsiServer&) = delete;
  ~CsiServer();

  // The TCP port actually bound (the kernel's choice for port 0); 0 for a unix endpoint.
  int bound_port() const { return bound_port_; }

  void Shutdown(std::chrono::milliseconds grace);

 private:
  CsiServer(Endpoint endpoint, std::unique_ptr<grpc::Server> server, int bound_port,
            std::vector<StopListener*> stop_listeners);

  void RemoveSocketFile();

  const Endpoint endpoint_;
  const std::unique_ptr<grpc::Server> server_;
  const int bound_port_;
  const std::vector<StopListener*> stop_listeners_;

  std::mutex mu_;
  bool shut_down_ = false;  // guarded by mu_
};

}  // namespace nfsprov::csi
