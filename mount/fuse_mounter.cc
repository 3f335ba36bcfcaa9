#include "mount/fuse_mounter.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <sstream>
#include <thread>
#include <utility>

#include "mount/mount_ops.h"
#include "mount/mount_options.h"
#include "mount/mountinfo.h"
#include "mount/subprocess.h"
#include "mount/sys_error.h"

namespace nfsprov::mount {
namespace {

constexpr std::chrono::milliseconds kPollInterval{20};
// How long a SIGKILLed daemon may take to disappear from /proc.
constexpr std::chrono::milliseconds kExitWait{2000};
constexpr std::size_t kLogTailLines = 10;
constexpr std::size_t kLogTailBytes = 4096;

// Options that tune or configure the kernel client only; the user-space client has no use for
// them, and ignoring them keeps one StorageClass usable with both mounters.
constexpr std::array<std::string_view, 42> kKernelOnly = {
    "hard",       "soft",        "softerr",      "intr",       "nointr",     "timeo",
    "retrans",    "retry",       "rsize",        "wsize",      "nconnect",   "max_connect",
    "ac",         "noac",        "acregmin",     "acregmax",   "acdirmin",   "acdirmax",
    "actimeo",    "lookupcache", "cto",          "nocto",      "proto",      "mountproto",
    "mountvers",  "mounthost",   "lock",         "nolock",     "local_lock", "fsc",
    "nofsc",      "sharecache",  "nosharecache", "resvport",   "noresvport", "rdirplus",
    "nordirplus", "bg",          "fg",           "clientaddr", "sec",        "noatime",
};

// open(O_CLOEXEC), not fstream: a daemon spawned meanwhile by another thread must not inherit it.
std::optional<std::string> ReadSmallFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0) out.append(buf, static_cast<std::size_t>(n));
  }
  close(fd);
  return out;
}

// Gone, or a zombie nobody has reaped yet (it is no longer serving anything).
bool ProcessGone(pid_t pid) {
  std::optional<std::string> stat = ReadSmallFile("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return true;
  std::size_t paren = stat->rfind(')');  // the command name may contain anything, even ')'
  if (paren == std::string::npos || paren + 2 >= stat->size()) return true;
  char state = (*stat)[paren + 2];
  return state == 'Z' || state == 'X';
}

// True when pid runs `... fuse-mount ... --target <target> ...`: a pid file may outlive its
// process and the pid be reused.
bool IsDaemonFor(pid_t pid, const std::string& target) {
  std::optional<std::string> cmdline = ReadSmallFile("/proc/" + std::to_string(pid) + "/cmdline");
  if (!cmdline) return false;
  std::vector<std::string> args;
  std::istringstream in(*cmdline);
  for (std::string arg; std::getline(in, arg, '\0');) args.push_back(arg);
  if (args.size() < 2 || args[1] != "fuse-mount") return false;
  for (std::size_t i = 2; i + 1 < args.size(); ++i) {
    if (args[i] == "--target" && args[i + 1] == target) return true;
  }
  return false;
}

bool WaitGone(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!ProcessGone(pid)) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(kPollInterval);
  }
  return true;
}

Status KillAndWait(pid_t pid) {
  if (kill(pid, SIGKILL) != 0 && errno != ESRCH) {
    return SysError(errno, "kill fuse-mount pid " + std::to_string(pid));
  }
  if (!WaitGone(pid, kExitWait)) {
    return DeadlineExceeded("fuse-mount pid " + std::to_string(pid) + " still runs " +
                            std::to_string(kExitWait.count()) + " ms after SIGKILL");
  }
  return {};
}

// The last lines written to the log since `offset`, joined with " | " to keep one line.
std::string LogTail(const std::string& path, std::uintmax_t offset) {
  std::optional<std::string> log = ReadSmallFile(path);
  if (!log || log->size() <= offset) return "";
  std::string_view text(*log);
  text.remove_prefix(std::max<std::uintmax_t>(
      offset, text.size() > kLogTailBytes ? text.size() - kLogTailBytes : 0));
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    std::size_t nl = text.find('\n');
    if (std::string_view line = text.substr(0, nl); !line.empty()) lines.push_back(line);
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  std::string out;
  for (std::size_t i = lines.size() > kLogTailLines ? lines.size() - kLogTailLines : 0;
       i < lines.size(); ++i) {
    if (!out.empty()) out += " | ";
    out += lines[i];
  }
  return out;
}

// A file name for target: readable (its tail, '/' and odd bytes as '_') and unique (a hash of
// the whole path, since "/a_b" and "/a/b" would otherwise collide).
std::string SafeName(const std::string& target) {
  std::uint64_t hash = 1469598103934665603ULL;  // FNV-1a
  for (unsigned char c : target) hash = (hash ^ c) * 1099511628211ULL;
  std::string readable;
  for (char c : target) {
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '-';
    readable += plain ? c : '_';
  }
  readable.erase(0, readable.find_first_not_of('_'));
  if (readable.size() > 80) readable.erase(0, readable.size() - 80);
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
  return readable + "-" + hex;
}

Status WritePidFile(const std::string& path, pid_t pid) {
  std::string tmp = path + ".tmp";
  std::string text = std::to_string(pid) + "\n";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) return SysError(errno, "create " + tmp);
  bool written = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  int err = errno;
  close(fd);
  if (!written) return SysError(err, "write " + tmp);
  if (rename(tmp.c_str(), path.c_str()) != 0) return SysError(errno, "rename " + tmp);
  return {};
}

}  // namespace

FuseMounter::FuseMounter(std::string binary, std::string log_dir, std::chrono::milliseconds timeout)
    : binary_(std::move(binary)), log_dir_(std::move(log_dir)), timeout_(timeout) {}

bool FuseMounter::Matches(const NfsMountSpec& spec, std::string_view fstype,
                          std::string_view source) const {
  return fstype == kFuseFsType && source == MountSource(spec);
}

std::string FuseMounter::LogPath(const std::string& target) const {
  return log_dir_ + "/" + SafeName(target) + ".log";
}

std::string FuseMounter::PidPath(const std::string& target) const {
  return log_dir_ + "/" + SafeName(target) + ".pid";
}

Result<std::vector<std::string>> FuseMounter::FuseMountCommand(const NfsMountSpec& spec,
                                                               const std::string& target) const {
  Result<std::vector<std::string>> merged = MergeKernelMountOptions(spec);
  if (!merged.ok()) return merged.status();
  if (spec.remote_path.empty() || spec.remote_path.front() != '/' ||
      spec.remote_path.find_first_of("?#") != std::string::npos) {
    return InvalidArgument("remote path \"" + spec.remote_path +
                           "\" must be absolute and cannot hold '?' or '#' in an nfs:// URL");
  }
  const std::string source = MountSource(spec);
  std::string version, port, mount_port;
  bool read_only = false;
  std::vector<std::string> unknown;
  for (const std::string& option : *merged) {
    std::size_t eq = option.find('=');
    std::string name = option.substr(0, eq);
    std::string value = eq == std::string::npos ? "" : option.substr(eq + 1);
    if (name == "vers") {
      version = value.substr(0, 1);  // libnfs takes 3 or 4; it negotiates the minor version
    } else if (name == "port") {
      port = value;
    } else if (name == "ro") {
      read_only = true;
    } else if (name == "rw") {
      // the default
    } else if (name == "mountport" && version == "3") {
      mount_port = value;
    } else if (name == "sec" && value != "sys") {
      return Unimplemented("mount option " + option + " for " + source +
                           ": the fuse mounter only does sec=sys");
    } else if (std::find(kKernelOnly.begin(), kKernelOnly.end(), name) != kKernelOnly.end()) {
      spdlog::debug("fuse mount of {}: ignoring kernel-only mount option {}", source, option);
    } else {
      unknown.push_back(option);
    }
  }
  if (!unknown.empty()) {
    spdlog::warn("fuse mount of {}: ignoring mount options it does not know: {}", source,
                 JoinMountOptions(unknown));
  }
  bool v6 = spec.server.find(':') != std::string::npos;
  std::string url = "nfs://" + (v6 ? "[" + spec.server + "]" : spec.server) +
                    (port.empty() ? "" : ":" + port) + spec.remote_path + "?version=" + version +
                    (mount_port.empty() ? "" : "&mountport=" + mount_port);
  std::vector<std::string> argv = {binary_,    "fuse-mount", "--url",    url,
                                   "--target", target,       "--fsname", source};
  if (read_only) argv.emplace_back("--read-only");
  if (spec.quota_share_url.empty() != spec.quota_key.empty()) {
    return InvalidArgument("quota enforcement for " + source +
                           " needs both the share URL and the volume key");
  }
  if (!spec.quota_key.empty()) {
    argv.insert(argv.end(), {"--quota-share", spec.quota_share_url, "--quota-key", spec.quota_key});
  }
  return argv;
}

Result<pid_t> FuseMounter::FuseDaemonPid(const std::string& target) const {
  std::optional<std::string> text = ReadSmallFile(PidPath(target));
  pid_t pid = 0;
  if (text) {
    try {
      pid = static_cast<pid_t>(std::stol(*text));
    } catch (const std::exception&) {
      pid = 0;
    }
  }
  if (pid <= 0 || ProcessGone(pid) || !IsDaemonFor(pid, target)) {
    return NotFound("no fuse-mount daemon runs for " + target);
  }
  return pid;
}

Status FuseMounter::KillFuseDaemon(const std::string& target) const {
  Result<pid_t> pid = FuseDaemonPid(target);
  if (pid.ok()) {
    spdlog::info("killing fuse-mount pid {} serving {}", *pid, target);
    NFSPROV_RETURN_IF_ERROR(KillAndWait(*pid));
  }
  if (unlink(PidPath(target).c_str()) != 0 && errno != ENOENT) {
    return SysError(errno, "remove " + PidPath(target));
  }
  return {};
}

Status FuseMounter::Unmount(const std::string& target) {
  Result<pid_t> pid = FuseDaemonPid(target);  // before the unmount ends it
  NFSPROV_RETURN_IF_ERROR(UnmountAll(target));
  if (pid.ok() && !WaitGone(*pid, kExitWait)) {
    spdlog::warn("fuse-mount pid {} did not exit after {} was unmounted; killing it", *pid, target);
  }
  return KillFuseDaemon(target);
}

Status FuseMounter::WaitForMount(const NfsMountSpec& spec, const std::string& target, pid_t pid,
                                 const std::string& what) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  while (true) {
    Result<std::optional<MountEntry>> entry = FindMountAt(target);
    if (!entry.ok()) return entry.status().WithContext(what);
    if (entry->has_value() && Matches(spec, (*entry)->fstype, (*entry)->source)) return {};
    if (ProcessGone(pid)) {
      return Unavailable(what + ": fuse-mount (pid " + std::to_string(pid) +
                         ") exited before the mount appeared");
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return DeadlineExceeded(what + ": not mounted within " + std::to_string(timeout_.count()) +
                              " ms; fuse-mount (pid " + std::to_string(pid) + ") was killed");
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

Status FuseMounter::Mount(const NfsMountSpec& spec, const std::string& target) {
  Result<std::vector<std::string>> command = FuseMountCommand(spec, target);
  if (!command.ok()) return command.status();
  const std::string what = "fuse-mount " + MountSource(spec) + " on " + target;
  Result<std::optional<MountEntry>> existing = FindMountAt(target);
  if (!existing.ok()) return existing.status().WithContext(what);
  if (existing->has_value()) {
    return FailedPrecondition(what + ": " + (*existing)->fstype + " " + (*existing)->source +
                              " is already mounted there");
  }
  NFSPROV_RETURN_IF_ERROR(KillFuseDaemon(target));
  NFSPROV_RETURN_IF_ERROR(MakeDirs(log_dir_, 0750));

  const std::string log = LogPath(target);
  struct stat st {};
  std::uintmax_t log_offset =
      stat(log.c_str(), &st) == 0 ? static_cast<std::uintmax_t>(st.st_size) : 0;
  Result<pid_t> pid = SpawnDetached(*command, log);
  if (!pid.ok()) return pid.status().WithContext(what);
  spdlog::info("{}: started fuse-mount pid {}, log {}", what, *pid, log);

  Status status = WritePidFile(PidPath(target), *pid);
  if (status.ok()) status = WaitForMount(spec, target, *pid, what);
  if (status.ok()) return {};

  // Nothing may stay behind: neither the daemon nor a mount it made late.
  if (Status killed = KillAndWait(*pid); !killed.ok())
    spdlog::error("{}: {}", what, killed.ToString());
  Result<std::optional<MountEntry>> late = FindMountAt(target);
  if (late.ok() && late->has_value() && Matches(spec, (*late)->fstype, (*late)->source)) {
    if (Status s = UnmountAll(target); !s.ok()) spdlog::error("{}: {}", what, s.ToString());
  }
  unlink(PidPath(target).c_str());
  std::string tail = LogTail(log, log_offset);
  return Status(status.code(),
                status.message() + " (" + log + (tail.empty() ? " is empty" : ": " + tail) + ")",
                status.sys_errno());
}

}  // namespace nfsprov::mount
