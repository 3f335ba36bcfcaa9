#include "mount/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

#include "mount/sys_error.h"

extern char** environ;

namespace nfsprov::mount {
namespace {

constexpr std::size_t kMaxOutputBytes = 16 * 1024;

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { Reset(); }
  int get() const { return fd_; }
  void Reset() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

std::vector<char*> CArgv(const std::vector<std::string>& argv) {
  std::vector<char*> out;
  out.reserve(argv.size() + 1);
  for (const std::string& a : argv) out.push_back(const_cast<char*>(a.c_str()));
  out.push_back(nullptr);
  return out;
}

int WaitForPid(pid_t pid, int options) {
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid, &status, options);
  } while (r < 0 && errno == EINTR);
  return r == pid ? status : -1;
}

// Reads what is available without blocking; false at end of file.
bool ReadAvailable(int fd, std::string& out) {
  char buf[4096];
  while (true) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<std::size_t>(n));
      if (out.size() > kMaxOutputBytes) out.erase(0, out.size() - kMaxOutputBytes);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return n < 0;  // EAGAIN: open but empty; 0: end of file
  }
}

void SetOutcome(int status, ProcessOutcome& outcome) {
  if (WIFEXITED(status)) outcome.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) outcome.signal = WTERMSIG(status);
}

// In a forked child: only async-signal-safe calls from here on.
void ResetSignalsInChild() {
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &dfl, nullptr);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
}

// What the intermediate child and the daemon report through the pipe.
struct Report {
  enum Kind : int { kPid = 1, kForkErrno, kExecErrno } kind;
  int value;
};

[[noreturn]] void ReportAndExit(int fd, Report report, int code) {
  ssize_t ignored = write(fd, &report, sizeof report);
  static_cast<void>(ignored);
  _exit(code);
}

}  // namespace

std::string ProcessOutcome::Describe() const {
  if (timed_out) return "timed out";
  if (signal != 0) return "was killed by signal " + std::to_string(signal);
  return "exited with status " + std::to_string(exit_code);
}

Result<ProcessOutcome> RunProcess(const std::vector<std::string>& argv,
                                  std::chrono::milliseconds timeout) {
  if (argv.empty()) return InvalidArgument("RunProcess: empty argv");
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) != 0) return SysError(errno, "pipe");
  Fd read_end(pipe_fds[0]);
  Fd write_end(pipe_fds[1]);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, write_end.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, write_end.get(), 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setpgroup(&attr, 0);  // its own group: the deadline kills helpers it forks
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
  pid_t pid = -1;
  std::vector<char*> c_argv = CArgv(argv);
  int rc = posix_spawnp(&pid, c_argv[0], &actions, &attr, c_argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return SysError(rc, "run " + argv[0]);
  write_end.Reset();

  ProcessOutcome outcome;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool open = true;
  while (true) {
    if (int status = WaitForPid(pid, WNOHANG); status != -1) {
      SetOutcome(status, outcome);
      break;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      kill(-pid, SIGKILL);
      WaitForPid(pid, 0);
      outcome.timed_out = true;
      break;
    }
    // After end of file only the exit is awaited; poll on no descriptor is a short sleep.
    pollfd pfd{read_end.get(), POLLIN, 0};
    int slice = static_cast<int>(std::min<long long>(left.count(), open ? 50 : 5));
    poll(&pfd, open ? 1 : 0, slice);
    if (open) open = ReadAvailable(read_end.get(), outcome.output);
  }
  // Whatever is left; a grandchild still holding the pipe cannot block this (non-blocking).
  ReadAvailable(read_end.get(), outcome.output);
  return outcome;
}

Result<pid_t> SpawnDetached(const std::vector<std::string>& argv, const std::string& log_path) {
  if (argv.empty() || argv[0].empty() || argv[0].front() != '/') {
    return InvalidArgument("SpawnDetached: argv[0] must be an absolute path");
  }
  Fd dev_null(open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (dev_null.get() < 0) return SysError(errno, "open /dev/null");
  Fd log(open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
  if (log.get() < 0) return SysError(errno, "open log " + log_path);
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return SysError(errno, "pipe");
  Fd read_end(pipe_fds[0]);
  Fd write_end(pipe_fds[1]);
  std::vector<char*> c_argv = CArgv(argv);  // built before fork: the child must not allocate

  pid_t middle = fork();
  if (middle < 0) return SysError(errno, "fork");
  if (middle == 0) {
    setsid();
    pid_t daemon = fork();
    if (daemon < 0) ReportAndExit(write_end.get(), {Report::kForkErrno, errno}, 1);
    if (daemon > 0) ReportAndExit(write_end.get(), {Report::kPid, daemon}, 0);
    ResetSignalsInChild();
    if (chdir("/") != 0 || dup2(dev_null.get(), 0) < 0 || dup2(log.get(), 1) < 0 ||
        dup2(log.get(), 2) < 0) {
      ReportAndExit(write_end.get(), {Report::kExecErrno, errno}, 127);
    }
    execve(c_argv[0], c_argv.data(), environ);
    ReportAndExit(write_end.get(), {Report::kExecErrno, errno}, 127);
  }
  write_end.Reset();
  WaitForPid(middle, 0);

  pid_t daemon = -1;
  int exec_errno = 0;
  int fork_errno = 0;
  Report report{};
  ssize_t n;
  // Until every writer has exited or exec'ed (the pipe is close-on-exec).
  while ((n = read(read_end.get(), &report, sizeof report)) != 0) {
    if (n < 0 && errno == EINTR) continue;
    if (n != static_cast<ssize_t>(sizeof report))
      return Internal("spawn " + argv[0] + ": short report");
    if (report.kind == Report::kPid) daemon = report.value;
    if (report.kind == Report::kForkErrno) fork_errno = report.value;
    if (report.kind == Report::kExecErrno) exec_errno = report.value;
  }
  if (fork_errno != 0) return SysError(fork_errno, "fork for " + argv[0]);
  if (exec_errno != 0) return SysError(exec_errno, "exec " + argv[0]);
  if (daemon <= 0) return Internal("spawn " + argv[0] + ": no pid reported");
  return daemon;
}

}  // namespace nfsprov::mount
