#include "e2e/driver_process.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "csi/csi.grpc.pb.h"

namespace nfsprov::e2e {
namespace {

Status WaitExit(int pid, std::chrono::seconds limit, int* exit_status) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      *exit_status = status;
      return Status();
    }
    if (r < 0) return Status::FromErrno(errno, "waitpid");
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return DeadlineExceeded("driver pid " + std::to_string(pid) + " did not exit");
}

}  // namespace

std::string DriverBinary() { return NFSPROV_BINARY; }

Result<std::unique_ptr<DriverProcess>> DriverProcess::Start(std::vector<std::string> args,
                                                            std::string socket_path,
                                                            bool own_mount_namespace) {
  std::string log_path = socket_path + ".log";
  std::unique_ptr<DriverProcess> p(new DriverProcess(std::move(args), std::move(socket_path),
                                                     log_path, own_mount_namespace));
  NFSPROV_RETURN_IF_ERROR(p->Launch());
  return p;
}

Result<std::unique_ptr<DriverProcess>> DriverProcess::StartExact(std::vector<std::string> args,
                                                                 std::string grpc_target,
                                                                 std::string log_path) {
  std::string socket_path;
  if (grpc_target.rfind("unix://", 0) == 0) socket_path = grpc_target.substr(7);
  std::unique_ptr<DriverProcess> p(new DriverProcess(std::move(args), std::move(socket_path),
                                                     std::move(log_path), false));
  p->grpc_target_ = std::move(grpc_target);
  NFSPROV_RETURN_IF_ERROR(p->Launch());
  return p;
}

Status DriverProcess::Launch() {
  std::vector<std::string> argv_strings = {DriverBinary()};
  argv_strings.insert(argv_strings.end(), args_.begin(), args_.end());
  if (grpc_target_.empty()) {
    argv_strings.push_back("--endpoint");
    argv_strings.push_back("unix://" + socket_path_);
  }
  std::vector<char*> argv;
  for (auto& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  int log_fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return Status::FromErrno(errno, "open " + log_path_);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    close(log_fd);
    return Status::FromErrno(errno, "fork");
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    dup2(log_fd, STDERR_FILENO);
    dup2(log_fd, STDOUT_FILENO);
    if (own_mount_namespace_ &&
        (unshare(CLONE_NEWNS) != 0 || mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)) {
      _exit(126);
    }
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(log_fd);
  pid_ = pid;

  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return Unavailable("nfsprov exited during start-up; log:\n" + Log());
    }
    if (socket_path_.empty() || access(socket_path_.c_str(), F_OK) == 0) {
      auto stub = ::csi::v1::Identity::NewStub(Channel());
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
      ::csi::v1::ProbeResponse response;
      // Any answer means it serves: lockd has no Identity service and says UNIMPLEMENTED.
      const grpc::StatusCode answer = stub->Probe(&ctx, ::csi::v1::ProbeRequest(), &response).error_code();
      if (answer == grpc::StatusCode::OK || answer == grpc::StatusCode::UNIMPLEMENTED) return Status();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return DeadlineExceeded("nfsprov did not answer on " + (grpc_target_.empty() ? socket_path_ : grpc_target_) +
                          " within 10 s; log:\n" + Log());
}

DriverProcess::~DriverProcess() {
  if (pid_ > 0) (void)Kill();
}

std::shared_ptr<grpc::Channel> DriverProcess::Channel() const {
  return grpc::CreateChannel(grpc_target_.empty() ? "unix://" + socket_path_ : grpc_target_,
                             grpc::InsecureChannelCredentials());
}

std::string DriverProcess::Log() const {
  std::ifstream in(log_path_);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

Status DriverProcess::Kill() {
  if (pid_ <= 0) return Status();
  kill(pid_, SIGKILL);
  int status = 0;
  Status s = WaitExit(pid_, std::chrono::seconds(10), &status);
  pid_ = -1;
  return s;
}

Status DriverProcess::Stop() {
  if (pid_ <= 0) return Status();
  kill(pid_, SIGTERM);
  int status = 0;
  Status s = WaitExit(pid_, std::chrono::seconds(60), &status);
  if (!s.ok()) return s;
  pid_ = -1;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return Internal("nfsprov did not exit cleanly (status " + std::to_string(status) + ")");
  return Status();
}

Status DriverProcess::Restart() {
  NFSPROV_RETURN_IF_ERROR(Kill());
  return Launch();
}

}  // namespace nfsprov::e2e
