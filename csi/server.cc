#include "csi/server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <absl/synchronization/mutex.h>
#include <grpc/grpc.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/impl/service_type.h>
#include <grpcpp/server_builder.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <future>
#include <string>
#include <system_error>
#include <utility>

namespace nfsprov::csi {

namespace {

namespace fs = std::filesystem;

// How often Shutdown looks whether calls are still being served.
constexpr std::chrono::milliseconds kShutdownPoll{20};

// Calls being served by this process's gRPC servers (see server.h). gRPC runs a sync handler
// between these two callbacks, and answers before the second: a unary call counts from its request
// until its status has gone out. Callback methods count with ServedReactor. An interceptor, which gRPC runs at every hook point of every call,
// cost the controller about 8 % of its 64-caller CreateVolume rate (docs/controller.md).
std::atomic<int> calls_in_service{0};

class ServiceCounter final : public grpc::Server::GlobalCallbacks {
 public:
  void PreSynchronousRequest(grpc::ServerContext*) override { calls_in_service.fetch_add(1); }
  void PostSynchronousRequest(grpc::ServerContext*) override { calls_in_service.fetch_sub(1); }
};

std::string ErrnoText(int err) { return std::system_category().message(err); }

// Whether a process accepts connections on the unix socket at `path`: OK(true) live, OK(false)
// stale (ECONNREFUSED), or an error when that cannot be told.
Result<bool> SocketIsLive(const std::string& path) {
  // Non-blocking: a live server with a full backlog answers EAGAIN at once instead of blocking.
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    const int err = errno;
    return Status::FromErrno(err, "socket(AF_UNIX): " + ErrnoText(err));
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);  // length checked by the caller
  const int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  const int err = rc == 0 ? 0 : errno;
  ::close(fd);
  if (rc == 0 || err == EAGAIN || err == EINPROGRESS) return true;
  if (err == ECONNREFUSED) return false;
  return Status::FromErrno(err, "probe existing socket " + path + ": " + ErrnoText(err));
}

Status PrepareUnixSocketPath(const std::string& path) {
  // ParseEndpoint checks this too; an Endpoint built by hand must not overflow sun_path.
  if (path.empty() || path.size() >= sizeof(sockaddr_un{}.sun_path)) {
    return InvalidArgument("unix socket path \"" + path + "\" is empty or too long");
  }
  const fs::path parent = fs::path(path).parent_path();
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) {
    return Status::FromErrno(ec.value(),
                             "create socket directory " + parent.string() + ": " + ec.message());
  }

  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT) return {};
    return Status::FromErrno(err, "stat " + path + ": " + ErrnoText(err));
  }
  if (!S_ISSOCK(st.st_mode)) {
    return FailedPrecondition(path + " exists and is not a socket; refusing to replace it");
  }
  Result<bool> live = SocketIsLive(path);
  if (!live.ok()) return live.status();
  if (*live) return AlreadyExists("another process serves " + path);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    const int err = errno;
    return Status::FromErrno(err, "remove stale socket " + path + ": " + ErrnoText(err));
  }
  spdlog::info("removed stale socket {} left by an earlier process", path);
  return {};
}

}  // namespace

Result<std::unique_ptr<CsiServer>> CsiServer::Start(
    const Endpoint& endpoint, std::vector<grpc::Service*> services,
    std::shared_ptr<grpc::ServerCredentials> credentials) {
  for (const grpc::Service* service : services) {
    if (service == nullptr) return InvalidArgument("CsiServer::Start: null service");
  }
  if (endpoint.kind == Endpoint::kUnix) {
    NFSPROV_RETURN_IF_ERROR(PrepareUnixSocketPath(endpoint.path));
  }

  // Debian's abseil is built with absl::Mutex deadlock detection on: every lock gRPC takes then
  // updates a process-wide lock-order graph (GraphCycles), 2-3 % of the controller's CPU under
  // load. It only ever reports on gRPC's own locks; ours are std::mutex.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  const std::string address = endpoint.GrpcAddress();
  grpc::ServerBuilder builder;
  int selected_port = 0;
  if (credentials == nullptr) credentials = grpc::InsecureServerCredentials();
  builder.AddListeningPort(address, credentials, &selected_port);
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // A handler thread that finishes a call goes back to polling unless this many already poll; past
  // it, it exits. gRPC's default of 2 made 64 concurrent CreateVolume callers start and end a
  // thread per call (578 threads in 0.9 s of the benchmark). Idle pollers cost a stack each and
  // wake every 10 s.
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, 64);
  // gRPC takes its global callbacks once per process, before its first server.
  static std::once_flag counting;
  std::call_once(counting, [] { grpc::Server::SetGlobalCallbacks(new ServiceCounter()); });
  std::vector<StopListener*> stop_listeners;
  for (grpc::Service* service : services) {
    builder.RegisterService(service);
    if (auto* listener = dynamic_cast<StopListener*>(service)) stop_listeners.push_back(listener);
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr) {
    // gRPC logs the reason (address in use, permission, ...) itself but does not return it.
    return Unavailable("cannot serve gRPC on " + address + "; the gRPC log line above says why");
  }

  Endpoint bound = endpoint;
  if (bound.kind == Endpoint::kTcp) bound.port = selected_port;
  spdlog::info("serving gRPC on {}", bound.GrpcAddress());
  const int port = bound.kind == Endpoint::kTcp ? selected_port : 0;
  return std::unique_ptr<CsiServer>(new CsiServer(std::move(bound), std::move(server), port,
                                                  std::move(stop_listeners)));
}

CsiServer::CsiServer(Endpoint endpoint, std::unique_ptr<grpc::Server> server, int bound_port,
                     std::vector<StopListener*> stop_listeners)
    : endpoint_(std::move(endpoint)),
      server_(std::move(server)),
      bound_port_(bound_port),
      stop_listeners_(std::move(stop_listeners)) {}

CsiServer::~CsiServer() { Shutdown(std::chrono::milliseconds(0)); }

void CsiServer::Shutdown(std::chrono::milliseconds grace) {
  std::lock_guard<std::mutex> lock(mu_);
  if (shut_down_) return;
  shut_down_ = true;
  for (StopListener* listener : stop_listeners_) listener->OnServerStopping();
  const auto deadline = std::chrono::system_clock::now() + grace;
  std::future<void> stopped = std::async(std::launch::async, [&] { server_->Shutdown(deadline); });
  // gRPC's Shutdown also waits for every connection to close and every stream to end. Once nothing
  // is being served, they are ended here. The first look comes a poll after Shutdown began, when
  // gRPC takes no new calls any more; ending connections before that would only make clients
  // reconnect, so every look with nothing served ends them again.
  while (stopped.wait_for(kShutdownPoll) != std::future_status::ready) {
    if (calls_in_service.load() == 0) grpc_server_cancel_all_calls(server_->c_server());
  }
  server_->Wait();
  RemoveSocketFile();
}

void CsiServer::RemoveSocketFile() {
  // gRPC 1.51 already unlinks the path when its listener closes; that is not a documented
  // contract, so the guarantee is kept here. Only a socket is removed, never another file.
  if (endpoint_.kind != Endpoint::kUnix) return;
  struct stat st {};
  if (::lstat(endpoint_.path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) return;
  if (::unlink(endpoint_.path.c_str()) != 0 && errno != ENOENT) {
    spdlog::warn("cannot remove socket {}: {}", endpoint_.path, ErrnoText(errno));
  }
}

ServedReactor::ServedReactor() { calls_in_service.fetch_add(1); }

void ServedReactor::OnDone() {
  calls_in_service.fetch_sub(1);
  delete this;
}

ClientWait::ClientWait() { calls_in_service.fetch_sub(1); }
ClientWait::~ClientWait() { calls_in_service.fetch_add(1); }

}  // namespace nfsprov::csi
