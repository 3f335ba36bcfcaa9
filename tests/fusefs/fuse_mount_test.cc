// End-to-end tests of `nfsprov fuse-mount` against a real nfs-ganesha, through real FUSE mounts.
// Each mount is the real nfsprov binary (NFSPROV_BINARY) running as a child process, as the node
// plugin runs it. Lock holders are forked children: POSIX locks belong to processes.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <grp.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/ganesha_server.h"

namespace nfsprov::fusefs {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

extern "C" char** environ;

// The mountinfo line of `target` ("" when nothing is mounted there).
std::string MountInfoLine(const std::string& target) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, dev, root, point;
    fields >> id >> parent >> dev >> root >> point;
    if (point == target) return line;
  }
  return "";
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteAll(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

// Runs `nfsprov fuse-mount` and waits for the mount; stops it (SIGTERM) and makes sure nothing
// stays mounted, even when the test failed.
class FuseMount {
 public:
  FuseMount(const std::string& url, const std::string& target, bool read_only = false)
      : target_(target) {
    fs::create_directories(target);
    std::vector<std::string> args = {NFSPROV_BINARY, "fuse-mount", "--url", url, "--target", target,
                                     "--fsname", "ganesha:/export"};
    if (read_only) args.push_back("--read-only");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, argv[0], nullptr, nullptr, argv.data(), environ) != 0) pid_ = -1;
  }
  ~FuseMount() {
    Stop();
    if (!MountInfoLine(target_).empty()) umount2(target_.c_str(), MNT_DETACH);
  }

  // True once the mount shows in mountinfo; false if the process exited first (exit code kept).
  bool WaitMounted(std::chrono::milliseconds timeout = 15s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (MountInfoLine(target_).find("fuse.nfsprov") != std::string::npos) return true;
      if (Reap(WNOHANG)) return false;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }
  // Exit status of the process (-1 while running or unknown).
  int Stop() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGTERM);
      Reap(0);
    }
    return exit_code_;
  }
  int WaitExit() {
    if (pid_ > 0 && !exited_) Reap(0);
    return exit_code_;
  }
  const std::string& target() const { return target_; }

 private:
  bool Reap(int flags) {
    int status = 0;
    if (waitpid(pid_, &status, flags) != pid_) return false;
    exited_ = true;
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return true;
  }
  std::string target_;
  pid_t pid_ = -1;
  bool exited_ = false;
  int exit_code_ = -1;
};

class FuseMountTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = testing::GaneshaServer::Start();
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    char tmpl[] = "/tmp/nfsprov-fuse-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    mounts_.clear();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  FuseMount& Mount(const std::string& name, bool read_only = false) {
    mounts_.push_back(std::make_unique<FuseMount>(server_->Url(), dir_ + "/" + name, read_only));
    bool up = mounts_.back()->WaitMounted();
    EXPECT_TRUE(up) << "mount " << name << " did not come up";
    if (!up) throw std::runtime_error("mount " + name + " did not come up");
    return *mounts_.back();
  }
  std::string Server(const std::string& rel) const { return server_->export_dir() + "/" + rel; }

  std::unique_ptr<testing::GaneshaServer> server_;
  std::string dir_;
  std::vector<std::unique_ptr<FuseMount>> mounts_;
};

TEST_F(FuseMountTest, FileOperationsRoundTrip) {
  FuseMount& m = Mount("a");
  const std::string root = m.target();
  EXPECT_NE(MountInfoLine(root).find(" - fuse.nfsprov ganesha:/export "), std::string::npos)
      << MountInfoLine(root);

  ASSERT_EQ(mkdir((root + "/dir").c_str(), 0750), 0) << strerror(errno);
  struct stat st;
  ASSERT_EQ(stat((root + "/dir").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0750u);

  const std::string file = root + "/dir/f";
  int fd = open(file.c_str(), O_CREAT | O_EXCL | O_RDWR, 0640);
  ASSERT_GE(fd, 0) << strerror(errno);
  ASSERT_EQ(fstat(fd, &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  std::string data(100000, 'x');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>('a' + i % 26);
  ASSERT_EQ(write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
  EXPECT_EQ(fsync(fd), 0);
  char buf[10];
  ASSERT_EQ(pread(fd, buf, 10, 26), 10);
  EXPECT_EQ(std::string(buf, 10), data.substr(26, 10));
  EXPECT_EQ(ftruncate(fd, 50000), 0);
  ASSERT_EQ(close(fd), 0);
  EXPECT_TRUE(ReadAll(Server("dir/f")) == data.substr(0, 50000));  // on the server itself
  EXPECT_TRUE(ReadAll(file) == data.substr(0, 50000));
  EXPECT_EQ(truncate(file.c_str(), 10), 0);
  EXPECT_EQ(ReadAll(Server("dir/f")).size(), 10u);
  EXPECT_EQ(open(file.c_str(), O_CREAT | O_EXCL | O_RDWR, 0640), -1);
  EXPECT_EQ(errno, EEXIST);

  EXPECT_EQ(rename(file.c_str(), (root + "/dir/g").c_str()), 0);
  EXPECT_TRUE(fs::exists(Server("dir/g")));
  EXPECT_FALSE(fs::exists(Server("dir/f")));
  ASSERT_EQ(link((root + "/dir/g").c_str(), (root + "/h").c_str()), 0) << strerror(errno);
  struct stat g, h;
  ASSERT_EQ(stat((root + "/dir/g").c_str(), &g), 0);
  ASSERT_EQ(stat((root + "/h").c_str(), &h), 0);
  EXPECT_EQ(g.st_ino, h.st_ino);
  EXPECT_EQ(h.st_nlink, 2u);

  ASSERT_EQ(symlink("dir/g", (root + "/ln").c_str()), 0) << strerror(errno);
  char target[64] = {};
  ASSERT_EQ(readlink((root + "/ln").c_str(), target, sizeof(target)), 5);
  EXPECT_STREQ(target, "dir/g");
  EXPECT_EQ(ReadAll(root + "/ln"), data.substr(0, 10));
  ASSERT_EQ(lstat((root + "/ln").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));

  EXPECT_EQ(chmod((root + "/h").c_str(), 0604), 0);
  EXPECT_EQ(chown((root + "/h").c_str(), 1234, 5678), 0);
  struct timespec times[2] = {{1000000000, 0}, {1200000000, 500}};
  EXPECT_EQ(utimensat(AT_FDCWD, (root + "/h").c_str(), times, 0), 0);
  ASSERT_EQ(stat(Server("dir/g").c_str(), &st), 0);  // the server's view of the same inode
  EXPECT_EQ(st.st_mode & 07777, 0604u);
  EXPECT_EQ(st.st_uid, 1234u);
  EXPECT_EQ(st.st_gid, 5678u);
  EXPECT_EQ(st.st_mtim.tv_sec, 1200000000);
  EXPECT_EQ(st.st_atim.tv_sec, 1000000000);

  struct statvfs vfs;
  ASSERT_EQ(statvfs(root.c_str(), &vfs), 0);
  EXPECT_GT(vfs.f_blocks, 0u);

  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(root)) names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"dir", "h", "ln"}));

  EXPECT_EQ(unlink((root + "/h").c_str()), 0);
  EXPECT_EQ(unlink((root + "/ln").c_str()), 0);
  EXPECT_EQ(rmdir((root + "/dir").c_str()), -1);
  EXPECT_EQ(errno, ENOTEMPTY);
  EXPECT_EQ(unlink((root + "/dir/g").c_str()), 0);
  EXPECT_EQ(rmdir((root + "/dir").c_str()), 0);
  EXPECT_TRUE(fs::is_empty(server_->export_dir()));

  EXPECT_EQ(m.Stop(), 0);  // SIGTERM: unmounts and exits cleanly
  EXPECT_EQ(MountInfoLine(root), "");
}

TEST_F(FuseMountTest, ReadOnlyMountRefusesWritesWithErofs) {
  WriteAll(Server("existing"), "hello");
  FuseMount& m = Mount("ro", /*read_only=*/true);
  const std::string root = m.target();
  std::string line = MountInfoLine(root);
  EXPECT_NE(line.find(" ro,"), std::string::npos) << line;
  EXPECT_EQ(ReadAll(root + "/existing"), "hello");
  EXPECT_EQ(open((root + "/existing").c_str(), O_WRONLY), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(open((root + "/new").c_str(), O_CREAT | O_WRONLY, 0644), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(mkdir((root + "/d").c_str(), 0755), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(unlink((root + "/existing").c_str()), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_TRUE(fs::exists(Server("existing")));
}

// Runs `fn` in a forked child as uid/gid 1000; true if it returned true.
template <typename Fn>
bool AsUser1000(Fn fn) {
  pid_t pid = fork();
  if (pid == 0) {
    if (setgroups(0, nullptr) != 0 || setgid(1000) != 0 || setuid(1000) != 0) _exit(2);
    _exit(fn() ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

TEST_F(FuseMountTest, KernelChecksModesAgainstTheCaller) {
  ASSERT_EQ(chmod(dir_.c_str(), 0755), 0);  // uid 1000 must reach the mount point
  WriteAll(Server("secret"), "root only");
  ASSERT_EQ(chmod(Server("secret").c_str(), 0600), 0);
  ASSERT_EQ(mkdir(Server("shared").c_str(), 0777), 0);
  ASSERT_EQ(chmod(Server("shared").c_str(), 0777), 0);
  FuseMount& m = Mount("a");
  const std::string root = m.target();

  EXPECT_TRUE(AsUser1000([&] { return open((root + "/secret").c_str(), O_RDONLY) == -1 && errno == EACCES; }))
      << "uid 1000 read a root-owned 0600 file";
  EXPECT_TRUE(AsUser1000([&] {
    int fd = open((root + "/shared/mine").c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
    return fd >= 0 && write(fd, "x", 1) == 1 && close(fd) == 0;
  })) << "uid 1000 could not create a file in a 0777 directory";
  struct stat st;
  ASSERT_EQ(stat(Server("shared/mine").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 1000u);
  EXPECT_EQ(st.st_gid, 1000u);
  EXPECT_EQ(ReadAll(root + "/secret"), "root only");  // root still reads everything
}

TEST_F(FuseMountTest, TwoMountsShareData) {
  FuseMount& a = Mount("a");
  FuseMount& b = Mount("b");
  std::string data(3 << 20, 'q');
  WriteAll(a.target() + "/shared", data);
  EXPECT_TRUE(ReadAll(b.target() + "/shared") == data);
  WriteAll(b.target() + "/back", "from b");
  EXPECT_EQ(ReadAll(a.target() + "/back"), "from b");
}

// A forked child that takes a lock on `path` and reports through pipes; the parent tells it when
// to unlock (and exit) by closing `release`.
struct LockHolder {
  pid_t pid = -1;
  int ready = -1;    // child writes one byte: 'L' locked, 'E' error, 'I' interrupted
  int release = -1;  // parent closes it to let the child unlock and exit

  static LockHolder Start(const std::string& path, int cmd, short type, bool use_flock = false,
                          int alarm_seconds = 0) {
    int ready_pipe[2], release_pipe[2];
    if (pipe(ready_pipe) != 0 || pipe(release_pipe) != 0) return {};
    pid_t pid = fork();
    if (pid == 0) {
      // Only this holder's own pipe ends: an inherited write end of another holder's release
      // pipe would keep that holder from ever seeing EOF.
      for (int fd = 3; fd < 1024; ++fd)
        if (fd != ready_pipe[1] && fd != release_pipe[0]) close(fd);
      if (alarm_seconds > 0) {
        struct sigaction sa = {};
        sa.sa_handler = [](int) {};
        sigaction(SIGALRM, &sa, nullptr);  // no SA_RESTART: the blocked lock call returns EINTR
        alarm(static_cast<unsigned>(alarm_seconds));
      }
      int fd = open(path.c_str(), O_RDWR);
      int rc;
      if (use_flock) {
        rc = flock(fd, type == F_WRLCK ? LOCK_EX : LOCK_SH);
      } else {
        struct flock l = {};
        l.l_type = type;
        l.l_whence = SEEK_SET;
        rc = fd < 0 ? -1 : fcntl(fd, cmd, &l);
      }
      char c = rc == 0 ? 'L' : errno == EINTR ? 'I' : 'E';
      if (write(ready_pipe[1], &c, 1) != 1) _exit(3);
      char ignored;
      if (read(release_pipe[0], &ignored, 1) < 0) _exit(4);  // EOF when the parent closes
      _exit(rc == 0 ? 0 : 1);
    }
    close(ready_pipe[1]);
    close(release_pipe[0]);
    return {pid, ready_pipe[0], release_pipe[1]};
  }
  // The child's report, or 0 when none arrived within `timeout`.
  char Report(std::chrono::milliseconds timeout) const {
    pollfd p = {ready, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(timeout.count())) != 1) return 0;
    char c = 0;
    return read(ready, &c, 1) == 1 ? c : 0;
  }
  void Finish() {
    if (pid <= 0) return;
    close(release);
    close(ready);
    waitpid(pid, nullptr, 0);
    pid = -1;
  }
  ~LockHolder() {
    if (pid > 0) kill(pid, SIGKILL);
    Finish();
  }
};

int TryLock(const std::string& path, short type, struct flock* probe = nullptr) {
  int fd = open(path.c_str(), O_RDWR);
  if (fd < 0) return errno;
  struct flock l = {};
  l.l_type = type;
  l.l_whence = SEEK_SET;
  int rc = fcntl(fd, F_SETLK, &l);
  int err = rc == 0 ? 0 : errno;
  if (probe != nullptr) {
    probe->l_type = F_RDLCK;
    probe->l_whence = SEEK_SET;
    fcntl(fd, F_GETLK, probe);
  }
  close(fd);  // drops this process's locks on the file
  return err;
}

TEST_F(FuseMountTest, FcntlLocksExcludeAcrossMountsAndWithinOne) {
  FuseMount& a = Mount("a");
  FuseMount& b = Mount("b");
  WriteAll(a.target() + "/lockfile", "x");
  const std::string via_a = a.target() + "/lockfile", via_b = b.target() + "/lockfile";

  LockHolder holder = LockHolder::Start(via_a, F_SETLK, F_WRLCK);
  ASSERT_EQ(holder.Report(10s), 'L');
  int err = TryLock(via_b, F_WRLCK);
  EXPECT_TRUE(err == EAGAIN || err == EACCES) << strerror(err);
  EXPECT_TRUE(TryLock(via_b, F_RDLCK) == EAGAIN);
  err = TryLock(via_a, F_WRLCK);  // another process on the same mount
  EXPECT_TRUE(err == EAGAIN || err == EACCES) << strerror(err);
  struct flock probe = {};
  TryLock(via_b, F_RDLCK, &probe);
  EXPECT_EQ(probe.l_type, F_WRLCK);

  LockHolder waiter = LockHolder::Start(via_b, F_SETLKW, F_WRLCK);
  EXPECT_EQ(waiter.Report(700ms), 0) << "F_SETLKW through mount b did not block";
  holder.Finish();  // a's holder unlocks (process exit)
  EXPECT_EQ(waiter.Report(10s), 'L');
  err = TryLock(via_a, F_RDLCK);
  EXPECT_TRUE(err == EAGAIN || err == EACCES) << strerror(err);
  waiter.Finish();
  EXPECT_EQ(TryLock(via_a, F_WRLCK), 0);
  EXPECT_EQ(TryLock(via_b, F_WRLCK), 0);

  // Readers share.
  LockHolder reader = LockHolder::Start(via_a, F_SETLK, F_RDLCK);
  ASSERT_EQ(reader.Report(10s), 'L');
  EXPECT_EQ(TryLock(via_b, F_RDLCK), 0);
  EXPECT_EQ(TryLock(via_a, F_RDLCK), 0);
  EXPECT_NE(TryLock(via_b, F_WRLCK), 0);
}

TEST_F(FuseMountTest, SetlkwIsInterruptibleAndFlockExcludes) {
  FuseMount& a = Mount("a");
  FuseMount& b = Mount("b");
  WriteAll(a.target() + "/lockfile", "x");
  const std::string via_a = a.target() + "/lockfile", via_b = b.target() + "/lockfile";

  LockHolder holder = LockHolder::Start(via_a, F_SETLK, F_WRLCK, /*use_flock=*/true);
  ASSERT_EQ(holder.Report(10s), 'L');
  LockHolder waiter = LockHolder::Start(via_b, F_SETLKW, F_WRLCK, /*use_flock=*/true, /*alarm=*/1);
  EXPECT_EQ(waiter.Report(10s), 'I') << "blocking flock through mount b was not interrupted";
  int fd = open(via_b.c_str(), O_RDWR);
  EXPECT_EQ(flock(fd, LOCK_EX | LOCK_NB), -1);
  EXPECT_EQ(errno, EWOULDBLOCK);
  holder.Finish();
  // The kernel drops a FUSE flock in RELEASE, which it sends after the holder's close returns,
  // so the lock goes a moment after the holder does.
  int rc = -1;
  for (int i = 0; i < 200 && rc != 0; ++i) {
    rc = flock(fd, LOCK_EX | LOCK_NB);
    if (rc != 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(rc, 0) << strerror(errno);
  close(fd);
}

TEST_F(FuseMountTest, BadSourcesFailWithoutMounting) {
  const std::string target = dir_ + "/bad";
  struct Case {
    std::string url;
    std::string what;
  };
  std::vector<Case> cases = {
      {"http://example.com/x", "bad URL"},
      {"nfs://127.0.0.1/export?version=4&nfsport=1", "unreachable server"},
      {"nfs://127.0.0.1/export/missing?version=4&nfsport=" + std::to_string(server_->port()), "missing path"},
  };
  WriteAll(Server("plainfile"), "x");
  cases.push_back({"nfs://127.0.0.1/export/plainfile?version=4&nfsport=" + std::to_string(server_->port()),
                   "not a directory"});
  for (const Case& c : cases) {
    FuseMount m(c.url, target);
    EXPECT_FALSE(m.WaitMounted(15s)) << c.what;
    EXPECT_NE(m.WaitExit(), 0) << c.what;
    EXPECT_EQ(MountInfoLine(target), "") << c.what;
  }
}

TEST_F(FuseMountTest, WorksAgainAfterServerRestart) {
  FuseMount& m = Mount("a");
  const std::string root = m.target();
  WriteAll(root + "/before", "old data");
  int fd = open((root + "/before").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(server_->Restart().ok());
  EXPECT_EQ(ReadAll(root + "/before"), "old data");
  WriteAll(root + "/after", "new data");
  EXPECT_EQ(ReadAll(Server("after")), "new data");
  char buf[16] = {};
  EXPECT_EQ(pread(fd, buf, sizeof(buf), 0), 8) << "open file after restart: " << strerror(errno);
  close(fd);
  ASSERT_EQ(mkdir((root + "/d").c_str(), 0755), 0);
}

}  // namespace
}  // namespace nfsprov::fusefs

