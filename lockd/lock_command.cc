#include "lockd/lock_command.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/fmt/fmt.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <optional>

extern char** environ;

namespace nfsprov::lockd {

namespace {

void Say(const std::string& message) {
  std::fprintf(stderr, "nfsprov lock: %s\n", message.c_str());
}

// "15s", or "1.5s".
std::string Seconds(std::chrono::milliseconds d) {
  return fmt::format("{:g}s", static_cast<double>(d.count()) / 1000);
}

// SIGTERM and SIGINT go to CMD's process group; one that arrives before CMD runs waits here.
// Written by a signal handler, which may run on any thread: lock-free atomics only.
std::atomic<pid_t> g_child_group{0};
std::atomic<int> g_pending_signal{0};

extern "C" void ForwardStopSignal(int signal) {
  const int saved_errno = errno;
  const pid_t group = g_child_group.load();
  if (group > 0) {
    ::kill(-group, signal);
  } else {
    g_pending_signal.store(signal);
  }
  errno = saved_errno;
}

void ForwardStopSignals() {
  struct sigaction action {};
  action.sa_handler = ForwardStopSignal;
  action.sa_flags = SA_RESTART;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGTERM, &action, nullptr);
  ::sigaction(SIGINT, &action, nullptr);
}

// Shared by the main thread, which starts and reaps CMD, and the renewal thread (on_lost). CMD is
// signalled only while it is known not to be reaped, so its pid cannot have been reused.
struct Child {
  std::mutex mu;
  std::condition_variable exited_cv;
  pid_t pid = 0;                 // 0 until started
  bool exited = false;           // it exited (perhaps not reaped yet)
  std::optional<Status> lost;    // why the lease was lost while CMD ran (or before it started)
};

void OnLost(Child& child, std::chrono::milliseconds ttl, const std::string& name,
            const Status& why) {
  std::unique_lock<std::mutex> lock(child.mu);
  if (child.exited) return;  // CMD finished while the lease was still good
  child.lost = why;
  if (child.pid == 0) return;  // not started: the main thread sees `lost` and does not start it
  const std::chrono::milliseconds grace = ttl / 8;
  Say(fmt::format("lost lock {}: {}; stopping the command (SIGTERM, SIGKILL in {})", name,
                  why.message(), Seconds(grace)));
  ::kill(-child.pid, SIGTERM);
  if (!child.exited_cv.wait_for(lock, grace, [&child] { return child.exited; })) {
    ::kill(-child.pid, SIGKILL);
  }
}

// The environment CMD gets: ours, with the lock's variables set.
std::vector<std::string> CommandEnvironment(const LockCommandOptions& options, const Lease& lease) {
  std::vector<std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    if (std::strncmp(*entry, "NFSPROV_LOCK_", 13) != 0) env.emplace_back(*entry);
  }
  env.push_back("NFSPROV_LOCK_TOKEN=" + std::to_string(lease.token()));
  env.push_back("NFSPROV_LOCK_NAME=" + options.name);
  env.push_back("NFSPROV_LOCK_LEASE=" + lease.lease_id());
  return env;
}

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (std::string& s : strings) pointers.push_back(s.data());
  pointers.push_back(nullptr);
  return pointers;
}

// Starts CMD in a process group of its own, so that stopping it also stops what it started, and
// with SIGKILL as its parent-death signal: if `nfsprov lock` itself is killed nobody renews the
// lease, and CMD must not go on working past it. gRPC threads are running, so between fork and
// exec the child makes only async-signal-safe calls; an exec failure comes back through a pipe.
Result<pid_t> Spawn(const LockCommandOptions& options, const Lease& lease) {
  std::vector<std::string> argv_strings = options.command;
  std::vector<std::string> env_strings = CommandEnvironment(options, lease);
  std::vector<char*> argv = Pointers(argv_strings);
  std::vector<char*> envp = Pointers(env_strings);
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) {
    return Status::FromErrno(errno, std::string("pipe: ") + std::strerror(errno));
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    ::close(report[0]);
    ::close(report[1]);
    return Status::FromErrno(err, std::string("fork: ") + std::strerror(err));
  }
  if (pid == 0) {
    ::close(report[0]);
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(128 + SIGKILL);  // the parent died before prctl
    struct sigaction defaults {};
    defaults.sa_handler = SIG_DFL;
    ::sigaction(SIGTERM, &defaults, nullptr);
    ::sigaction(SIGINT, &defaults, nullptr);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execvpe(argv[0], argv.data(), envp.data());
    const int err = errno;
    (void)!::write(report[1], &err, sizeof(err));
    ::_exit(127);
  }
  ::close(report[1]);
  int err = 0;
  ssize_t got;
  while ((got = ::read(report[0], &err, sizeof(err))) < 0 && errno == EINTR) {
  }
  ::close(report[0]);
  if (got == static_cast<ssize_t>(sizeof(err))) {
    ::waitpid(pid, nullptr, 0);
    return Status::FromErrno(err, "cannot run " + options.command[0] + ": " + std::strerror(err));
  }
  return pid;
}

// Waits for CMD to exit, marks it exited (so nobody signals it any more), reaps it and returns
// its exit code (128 + signal when a signal killed it).
Result<int> WaitForExit(Child& child) {
  siginfo_t info{};
  while (::waitid(P_PID, static_cast<id_t>(child.pid), &info, WEXITED | WNOWAIT) != 0) {
    if (errno != EINTR) return Status::FromErrno(errno, std::string("waitid: ") + std::strerror(errno));
  }
  {
    std::lock_guard<std::mutex> lock(child.mu);
    child.exited = true;
    g_child_group.store(0);
  }
  child.exited_cv.notify_all();
  while (::waitid(P_PID, static_cast<id_t>(child.pid), &info, WEXITED) != 0) {
    if (errno != EINTR) return Status::FromErrno(errno, std::string("waitid: ") + std::strerror(errno));
  }
  return info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
}

}  // namespace

int RunLockCommand(const LockCommandOptions& options) {
  if (options.command.empty()) {
    Say("no command given: nfsprov lock ... -- CMD [ARG...]");
    return kExitLockError;
  }
  Result<std::unique_ptr<LockClient>> client = LockClient::ForVolumeDir(options.volume_dir, options.tls);
  if (!client.ok()) {
    Say(client.status().ToString());
    return kExitLockError;
  }

  Child child;
  AcquireOptions acquire;
  acquire.mode = options.mode;
  acquire.ttl = options.ttl;
  acquire.timeout = options.timeout;
  acquire.on_lost = [&child, ttl = options.ttl, name = options.name](const Status& why) {
    OnLost(child, ttl, name, why);
  };
  // Until the lock is held a stop signal just ends the process: nothing is held yet, and lockd
  // drops the waiting call when its connection goes.
  Result<std::unique_ptr<Lease>> lease = (*client)->Acquire(options.name, std::move(acquire));
  if (!lease.ok()) {
    if (lease.status().code() == StatusCode::kDeadlineExceeded) {
      Say(lease.status().message());
      return kExitNotAcquired;
    }
    Say(lease.status().ToString());
    return kExitLockError;
  }
  ForwardStopSignals();

  int exit_code = 0;
  {
    std::unique_lock<std::mutex> lock(child.mu);
    if (child.lost.has_value()) {
      Say(fmt::format("lost lock {} before the command started: {}", options.name,
                      child.lost->message()));
      return kExitLeaseLost;
    }
    if (const int signal = g_pending_signal.exchange(0); signal != 0) {
      lock.unlock();
      static_cast<void>((*lease)->Release());
      return 128 + signal;
    }
    Result<pid_t> pid = Spawn(options, **lease);
    if (!pid.ok()) {
      lock.unlock();
      Say(pid.status().message());
      static_cast<void>((*lease)->Release());
      return pid.status().sys_errno() == ENOENT ? 127 : 126;
    }
    child.pid = *pid;
    g_child_group.store(child.pid);
    // A signal that came while CMD was being started.
    if (const int signal = g_pending_signal.exchange(0); signal != 0) ::kill(-child.pid, signal);
  }
  Result<int> exited = WaitForExit(child);
  if (!exited.ok()) {
    Say(exited.status().ToString());
    exit_code = kExitLockError;
  } else {
    exit_code = *exited;
  }

  bool lost = false;
  {
    std::lock_guard<std::mutex> lock(child.mu);
    lost = child.lost.has_value();
  }
  // Joins the renewal thread, which is done with `child` afterwards.
  Status released = (*lease)->Release();
  if (lost) return kExitLeaseLost;
  if (!released.ok()) {
    Say(fmt::format("{} (lockd frees it when the lease expires, within {})", released.message(),
                    Seconds(options.ttl)));
  }
  return exit_code;
}

}  // namespace nfsprov::lockd
