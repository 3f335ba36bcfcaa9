#include "tests/support/ganesha_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>  // libnfs.h uses struct timeval without including it
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nfsc/libnfs.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>
#include <string_view>
#include <thread>
#include <vector>

namespace nfsprov::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto kReadyTimeout = 10s;
constexpr auto kPollInterval = 20ms;
constexpr auto kStopTimeout = 5s;
constexpr auto kRpcbindTimeout = 2s;
constexpr int kPortAttempts = 5;
constexpr int kRegisterAttempts = 10;
constexpr int kLogTailLines = 12;
constexpr int kProbeTimeoutMs = 2000;  // libnfs wants whole seconds
// Machine-wide like rpcbind itself, so not under $TMPDIR.
constexpr char kRpcbindLockPath[] = "/tmp/nfsprov-ganesha-rpcbind.lock";

// Enable_UDP = false: only the TCP ports we picked are bound, and no UDP rpcbind registration.
// RecoveryRoot keeps NFSv4 client records in the instance directory instead of the shared
// /var/lib/nfs/ganesha. Dbus_Name_Prefix keeps instances apart should a system bus be running.
constexpr std::string_view kCoreTemplate = R"(# Written by nfsprov's GaneshaServer test fixture.
NFS_CORE_PARAM {
  NFS_Port = @PORT@;
@MNT_PORT@  Enable_NLM = false;
  Enable_RQUOTA = false;
  Enable_UDP = false;
  Protocols = @PROTOCOLS@;
  Bind_addr = 127.0.0.1;
  Dbus_Name_Prefix = nfsprov@PORT@;
}
NFSV4 {
  Graceless = true;
  RecoveryBackend = fs;
  RecoveryRoot = "@RECOVERY_DIR@";
  Allow_Numeric_Owners = true;
  Only_Numeric_Owners = true;
}
NFS_KRB5 { Active_krb5 = false; }
LOG { Default_Log_Level = WARN; }
)";

constexpr std::string_view kExportTemplate = R"(EXPORT {
  Export_Id = @ID@;
  Path = "@PATH@";
  Pseudo = @PSEUDO@;
  Access_Type = RW;
  Squash = @SQUASH@;
  SecType = sys;
  Protocols = @PROTOCOLS@;
  Transports = TCP;
  FSAL { Name = VFS; }
}
)";

void ReplaceAll(std::string& text, std::string_view from, std::string_view to) {
  for (size_t pos = text.find(from); pos != std::string::npos;
       pos = text.find(from, pos + to.size())) {
    text.replace(pos, from.size(), to);
  }
}

// Test processes may run with a minimal PATH that lacks the sbin directories.
std::string FindProgram(std::string_view name) {
  std::vector<std::string> dirs;
  if (const char* path = std::getenv("PATH")) {
    std::stringstream in(path);
    for (std::string dir; std::getline(in, dir, ':');) {
      if (!dir.empty()) dirs.push_back(dir);
    }
  }
  for (const char* dir : {"/usr/sbin", "/usr/bin", "/sbin", "/bin"}) dirs.emplace_back(dir);
  for (const std::string& dir : dirs) {
    std::string candidate = dir + "/" + std::string(name);
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

sockaddr_in Loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}


bool PortAcceptsConnections(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr = Loopback(port);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

Status TryNfsMount(const std::string& url) {
  nfs_context* ctx = nfs_init_context();
  if (ctx == nullptr) return Internal("nfs_init_context failed");
  nfs_set_timeout(ctx, kProbeTimeoutMs);
  Status status;
  nfs_url* parsed = nfs_parse_url_dir(ctx, url.c_str());
  if (parsed == nullptr) {
    status = InvalidArgument("cannot parse " + url + ": " + nfs_get_error(ctx));
  } else {
    int rc = nfs_mount(ctx, parsed->server, parsed->path);
    if (rc != 0) status = Unavailable("mount " + url + ": " + nfs_get_error(ctx));
    nfs_destroy_url(parsed);
  }
  nfs_destroy_context(ctx);
  return status;
}

// Lines ganesha writes on every start here; they would crowd the cause out of an error message.
bool IsLogNoise(std::string_view line) {
  for (std::string_view noise : {"SetComponentLogLevel", ":DBUS :", "krb5", ":LOG :NULL :"}) {
    if (line.find(noise) != std::string_view::npos) return true;
  }
  return false;
}

std::string FileTail(const fs::path& path, std::streamoff from, int max_lines) {
  std::ifstream in(path);
  if (!in) return {};
  in.seekg(from);
  std::deque<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (IsLogNoise(line)) continue;
    lines.push_back(std::move(line));
    if (static_cast<int>(lines.size()) > max_lines) lines.pop_front();
  }
  std::string tail;
  for (const std::string& line : lines) tail += "\n  " + line;
  return tail;
}

std::streamoff FileSize(const fs::path& path) {
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  return ec ? 0 : static_cast<std::streamoff>(size);
}

std::string DescribeWaitStatus(int wstatus) {
  if (WIFEXITED(wstatus)) return "exit code " + std::to_string(WEXITSTATUS(wstatus));
  if (WIFSIGNALED(wstatus)) return "signal " + std::to_string(WTERMSIG(wstatus));
  return "wait status " + std::to_string(wstatus);
}

// fork+exec rather than posix_spawn for PR_SET_PDEATHSIG: a test that crashes must not leave
// servers behind. The signal fires when the forking *thread* exits, so start servers from a
// thread that outlives them (the test body does). The child only makes async-signal-safe calls.
Result<pid_t> Spawn(const std::vector<std::string>& args, const std::string& output_path,
                    bool die_with_parent) {
  std::vector<char*> argv;
  for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) return Status::FromErrno(errno, "fork for " + args[0]);
  if (pid > 0) return pid;
  if (die_with_parent &&
      (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != parent)) {
    ::_exit(126);
  }
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  int in = ::open("/dev/null", O_RDONLY);
  int out = ::open(output_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (in < 0 || out < 0 || ::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(out, 2) < 0) {
    ::_exit(126);
  }
  ::close_range(3, ~0U, 0);  // test fds (libnfs sockets) must not live on in the server
  ::execv(argv[0], argv.data());
  ::_exit(127);
}

void WaitPidNoEintr(pid_t pid, int* wstatus) {
  while (::waitpid(pid, wstatus, 0) < 0 && errno == EINTR) {
  }
}

// Returns the child's wait status, or -1 when it could not be run.
int RunAndWait(const std::vector<std::string>& args) {
  auto pid = Spawn(args, "/dev/null", /*die_with_parent=*/false);
  if (!pid.ok()) return -1;
  int wstatus = 0;
  WaitPidNoEintr(*pid, &wstatus);
  return wstatus;
}

bool RpcbindAnswers(const std::string& rpcinfo) {
  return RunAndWait({rpcinfo, "-p", "127.0.0.1"}) == 0;
}

// rpcbind is a shared system daemon: start it when missing and leave it running. Several test
// processes may race to start it; the losers exit and find the winner's.
bool EnsureRpcbind() {
  std::string rpcinfo = FindProgram("rpcinfo");
  std::string rpcbind = FindProgram("rpcbind");
  if (rpcinfo.empty()) return false;
  if (RpcbindAnswers(rpcinfo)) return true;
  if (rpcbind.empty()) return false;
  RunAndWait({rpcbind, "-w"});  // forks into the background; this waits for the parent only
  for (auto deadline = Clock::now() + kRpcbindTimeout; Clock::now() < deadline;) {
    if (RpcbindAnswers(rpcinfo)) return true;
    std::this_thread::sleep_for(kPollInterval);
  }
  return false;
}

// An exclusive flock, released on destruction or when the process dies.
class FileLock {
 public:
  explicit FileLock(const char* path) : fd_(::open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666)) {
    while (fd_ >= 0 && ::flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
    }
  }
  ~FileLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_;
};

Result<fs::path> MakeTempRoot(const std::string& parent_dir) {
  const char* tmpdir = std::getenv("TMPDIR");
  std::string pattern = !parent_dir.empty()                      ? parent_dir
                        : tmpdir != nullptr && *tmpdir != '\0' ? tmpdir
                                                                : "/tmp";
  pattern += "/nfsprov-ganesha-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    return Status::FromErrno(errno, "mkdtemp " + pattern);
  }
  return fs::path(pattern);
}

Status MakeDir(const fs::path& path) {
  if (::mkdir(path.c_str(), 0755) != 0) return Status::FromErrno(errno, "mkdir " + path.string());
  // mkdir applies the umask; clients rely on the exact mode (root-squashed writes must fail).
  if (::chmod(path.c_str(), 0755) != 0) return Status::FromErrno(errno, "chmod " + path.string());
  return {};
}

}  // namespace

Result<int> PickFreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno(errno, "socket for a free port");
  sockaddr_in addr = Loopback(0);
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    int err = errno;
    ::close(fd);
    return Status::FromErrno(err, "bind 127.0.0.1:0 for a free port");
  }
  ::close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

struct GaneshaServer::Impl {
  GaneshaOptions options;
  fs::path root;  // created by mkdtemp; the only directory the destructor removes
  std::string export_dir;
  std::string squashed_dir;
  std::string ganesha;
  int port = 0;
  int mount_port = 0;
  bool v3 = false;
  pid_t pid = -1;
  std::streamoff log_offset = 0;  // where the current run's log starts

  ~Impl() {
    (void)Stop();
    if (!root.empty()) {
      std::error_code ignored;
      fs::remove_all(root, ignored);
    }
  }

  fs::path ConfigPath() const { return root / "ganesha.conf"; }
  fs::path LogPath() const { return root / "ganesha.log"; }
  fs::path OutputPath() const { return root / "ganesha.out"; }
  fs::path PidPath() const { return root / "ganesha.pid"; }

  std::string Url() const {
    return "nfs://127.0.0.1/export?version=4&nfsport=" + std::to_string(port);
  }
  std::string UrlV3() const {
    return "nfs://127.0.0.1" + export_dir + "?version=3&nfsport=" + std::to_string(port) +
           "&mountport=" + std::to_string(mount_port);
  }

  Status CreateDirectories();
  Status PickPorts();
  Status WriteConfig() const;
  std::string RenderConfig() const;
  Status Launch();
  Status LaunchWithRetries();
  Status WaitUntilReady();
  bool ReapIfExited(int* wstatus);
  bool LostPortRace() const;
  bool LostRpcbindRace() const;
  std::string LogSinceLaunch() const;
  std::string LogTail() const;
  Status Stop();
};

Status GaneshaServer::Impl::CreateDirectories() {
  auto made = MakeTempRoot(options.parent_dir);
  if (!made.ok()) return made.status();
  root = *made;
  // mkdtemp makes 0700; other users (e.g. a test's non-root helper) may need to reach exports.
  if (::chmod(root.c_str(), 0755) != 0) return Status::FromErrno(errno, "chmod " + root.string());
  export_dir = (root / "export").string();
  NFSPROV_RETURN_IF_ERROR(MakeDir(export_dir));
  NFSPROV_RETURN_IF_ERROR(MakeDir(root / "recovery"));
  if (options.root_squash_export) {
    squashed_dir = (root / "squashed").string();
    NFSPROV_RETURN_IF_ERROR(MakeDir(squashed_dir));
  }
  return {};
}

Status GaneshaServer::Impl::PickPorts() {
  auto nfs = PickFreePort();
  if (!nfs.ok()) return nfs.status();
  port = *nfs;
  mount_port = 0;
  while (v3 && (mount_port == 0 || mount_port == port)) {
    auto mnt = PickFreePort();
    if (!mnt.ok()) return mnt.status();
    mount_port = *mnt;
  }
  return {};
}

std::string GaneshaServer::Impl::RenderConfig() const {
  const std::string protocols = v3 ? "3, 4" : "4";
  std::string config(kCoreTemplate);
  ReplaceAll(config, "@MNT_PORT@",
             v3 ? "  MNT_Port = " + std::to_string(mount_port) + ";\n" : std::string());
  ReplaceAll(config, "@PORT@", std::to_string(port));
  ReplaceAll(config, "@RECOVERY_DIR@", (root / "recovery").string());
  auto add_export = [&](int id, const std::string& path, std::string_view pseudo,
                        std::string_view squash) {
    std::string block(kExportTemplate);
    ReplaceAll(block, "@ID@", std::to_string(id));
    ReplaceAll(block, "@PATH@", path);
    ReplaceAll(block, "@PSEUDO@", pseudo);
    ReplaceAll(block, "@SQUASH@", squash);
    config += block;
  };
  add_export(1, export_dir, "/export", "No_Root_Squash");
  if (options.root_squash_export) add_export(2, squashed_dir, "/squashed", "Root_Squash");
  ReplaceAll(config, "@PROTOCOLS@", protocols);
  return config;
}

Status GaneshaServer::Impl::WriteConfig() const {
  std::ofstream out(ConfigPath(), std::ios::trunc);
  out << RenderConfig();
  out.close();
  if (!out) return Internal("cannot write " + ConfigPath().string());
  return {};
}

bool GaneshaServer::Impl::ReapIfExited(int* wstatus) {
  if (pid < 0 || ::waitpid(pid, wstatus, WNOHANG) != pid) return false;
  pid = -1;
  return true;
}

std::string GaneshaServer::Impl::LogTail() const {
  std::string tail = FileTail(LogPath(), log_offset, kLogTailLines);
  std::string output = FileTail(OutputPath(), 0, kLogTailLines);
  if (!output.empty()) tail += "\n output:" + output;
  return tail.empty() ? " (empty)" : tail;
}

std::string GaneshaServer::Impl::LogSinceLaunch() const {
  return FileTail(LogPath(), log_offset, kLogTailLines);
}

bool GaneshaServer::Impl::LostPortRace() const {
  return LogSinceLaunch().find("Error binding") != std::string::npos;
}

// Each server unsets and then sets its NFS/MOUNT registrations; when two start at once, one
// set can fail, which is fatal for NFSv3. The lock in LaunchWithRetries serializes our own
// starts; this catches servers started by anything else.
bool GaneshaServer::Impl::LostRpcbindRace() const {
  return v3 && LogSinceLaunch().find("Cannot register") != std::string::npos;
}

Status GaneshaServer::Impl::WaitUntilReady() {
  const auto deadline = Clock::now() + kReadyTimeout;
  Status last = Unavailable("port " + std::to_string(port) + " refused connections");
  for (;;) {
    int wstatus = 0;
    if (ReapIfExited(&wstatus)) {
      return Unavailable("ganesha.nfsd (port " + std::to_string(port) + ") exited with " +
                         DescribeWaitStatus(wstatus) + " before answering; log tail:" + LogTail());
    }
    if (PortAcceptsConnections(port)) {
      last = TryNfsMount(Url());
      if (last.ok() && v3) last = TryNfsMount(UrlV3());
      if (last.ok()) return {};
    }
    if (Clock::now() >= deadline) break;
    std::this_thread::sleep_for(kPollInterval);
  }
  (void)Stop();
  return Unavailable("ganesha did not answer on port " + std::to_string(port) + " within 10 s (" +
                     last.message() + "); log tail:" + LogTail());
}

Status GaneshaServer::Impl::Launch() {
  if (pid >= 0) {
    return FailedPrecondition("ganesha.nfsd is already running as pid " + std::to_string(pid));
  }
  log_offset = FileSize(LogPath());
  auto spawned = Spawn({ganesha, "-F", "-f", ConfigPath().string(), "-L", LogPath().string(), "-p",
                        PidPath().string()},
                       OutputPath().string(), /*die_with_parent=*/true);
  if (!spawned.ok()) return spawned.status();
  pid = *spawned;
  return WaitUntilReady();
}

Status GaneshaServer::Impl::LaunchWithRetries() {
  std::minstd_rand random(static_cast<unsigned>(::getpid()) ^ static_cast<unsigned>(port));
  std::uniform_int_distribution<int> backoff_ms(5, 50);
  Status status;
  for (int attempt = 0; attempt < kRegisterAttempts; ++attempt) {
    std::optional<FileLock> rpcbind_lock;
    if (v3) rpcbind_lock.emplace(kRpcbindLockPath);
    status = Launch();
    if (status.ok() || !LostRpcbindRace()) return status;
    std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms(random)));
  }
  return status;
}

Status GaneshaServer::Impl::Stop() {
  if (pid < 0) return {};
  ::kill(pid, SIGTERM);
  int wstatus = 0;
  for (auto deadline = Clock::now() + kStopTimeout; Clock::now() < deadline;) {
    if (ReapIfExited(&wstatus)) return {};
    std::this_thread::sleep_for(5ms);
  }
  ::kill(pid, SIGKILL);
  WaitPidNoEintr(pid, &wstatus);
  pid = -1;
  return {};
}

GaneshaServer::GaneshaServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GaneshaServer::~GaneshaServer() = default;

Result<std::unique_ptr<GaneshaServer>> GaneshaServer::Start(GaneshaOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->ganesha = FindProgram("ganesha.nfsd");
  if (impl->ganesha.empty()) {
    return FailedPrecondition("ganesha.nfsd not found in PATH or /usr/sbin, /usr/bin, /sbin, /bin");
  }
  NFSPROV_RETURN_IF_ERROR(impl->CreateDirectories());
  impl->v3 = options.enable_v3 && EnsureRpcbind();
  Status status;
  for (int attempt = 0; attempt < kPortAttempts; ++attempt) {
    NFSPROV_RETURN_IF_ERROR(impl->PickPorts());
    NFSPROV_RETURN_IF_ERROR(impl->WriteConfig());
    status = impl->LaunchWithRetries();
    if (status.ok()) return std::unique_ptr<GaneshaServer>(new GaneshaServer(std::move(impl)));
    if (!impl->LostPortRace()) return status;
  }
  return status.WithContext("no free port after " + std::to_string(kPortAttempts) + " attempts");
}

const std::string& GaneshaServer::export_dir() const { return impl_->export_dir; }
const std::string& GaneshaServer::squashed_dir() const { return impl_->squashed_dir; }
int GaneshaServer::port() const { return impl_->port; }
int GaneshaServer::pid() const { return impl_->pid; }
bool GaneshaServer::V3Available() const { return impl_->v3; }

std::string GaneshaServer::Url() const { return impl_->Url(); }

std::string GaneshaServer::UrlV3() const {
  return impl_->v3 ? impl_->UrlV3() : std::string();
}

std::string GaneshaServer::SquashedUrl() const {
  return "nfs://127.0.0.1/squashed?version=4&nfsport=" + std::to_string(impl_->port);
}

Status GaneshaServer::Stop() { return impl_->Stop(); }

Status GaneshaServer::Restart() {
  NFSPROV_RETURN_IF_ERROR(impl_->Stop());
  return impl_->LaunchWithRetries();
}

Status GaneshaServer::Resume() {
  if (impl_->pid >= 0) return {};
  return impl_->LaunchWithRetries();
}

}  // namespace nfsprov::testing
