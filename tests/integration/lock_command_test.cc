// `nfsprov lock`, the real binary, against a real lockd (in-process, state on nfs-ganesha): the
// token in CMD's environment, CMD's exit status, timeouts, a missing lock file, forwarded
// SIGTERM, and CMD (with what it started) being stopped when the lease is lost.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "lockd/client.h"
#include "lockd/lock_command.h"
#include "tests/integration/lockd_test.h"

namespace nfsprov::lockd {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class LockCommandTest : public LockdTest {
 protected:
  // Starts `nfsprov lock ARGS` with stderr going to err_file_.
  pid_t Start(std::vector<std::string> args) {
    err_file_ = volume_dir_ + "/../" + std::filesystem::path(volume_dir_).filename().string() + ".err";
    args.insert(args.begin(), {NFSPROV_BINARY, "lock"});
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 2, err_file_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid = -1;
    const int err = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    EXPECT_EQ(err, 0);
    return pid;
  }

  // Its exit status (-1 when it did not exit normally).
  int Wait(pid_t pid) {
    int status = 0;
    EXPECT_EQ(::waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  int Run(std::vector<std::string> args) { return Wait(Start(std::move(args))); }

  std::vector<std::string> Lock(std::vector<std::string> extra) const {
    std::vector<std::string> args = {"--volume-dir", volume_dir_, "--name", "job"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  std::string Stderr() const { return ReadAll(err_file_); }

  std::unique_ptr<LockClient> Client() {
    auto client = LockClient::ForVolumeDir(volume_dir_);
    EXPECT_TRUE(client.ok()) << client.status().ToString();
    return client.ok() ? std::move(client).value() : nullptr;
  }

  static AcquireOptions TryOnce() {
    AcquireOptions options;
    options.timeout = 0ms;
    return options;
  }

  std::string err_file_;
};

// Whether the process runs (a zombie does not: it may wait for a reaper that is slow to come).
bool Alive(const std::string& pid) {
  const std::string stat = ReadAll("/proc/" + pid + "/stat");
  const std::size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z';
}

TEST_F(LockCommandTest, RunsCommandWithTokenAndReleases) {
  const std::string out = volume_dir_ + "/out";
  const auto start = Clock::now();
  EXPECT_EQ(Run(Lock({"--", "sh", "-c",
                      "echo $NFSPROV_LOCK_TOKEN $NFSPROV_LOCK_NAME ${#NFSPROV_LOCK_LEASE} > " + out})),
            0)
      << Stderr();
  std::cout << "nfsprov lock -- sh -c ...: "
            << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count()
            << " ms\n";
  std::istringstream written(ReadAll(out));
  uint64_t token = 0;
  std::string name;
  int lease_chars = 0;
  written >> token >> name >> lease_chars;
  EXPECT_GT(token, 0u);
  EXPECT_EQ(name, "job");
  EXPECT_EQ(lease_chars, 32);
  EXPECT_EQ(Stderr(), "");

  // Released: free at once, and the next token is higher.
  auto client = Client();
  ASSERT_NE(client, nullptr);
  auto lease = client->Acquire("job", TryOnce());
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  EXPECT_GT((*lease)->token(), token);
}

TEST_F(LockCommandTest, ExitsWithTheCommandsStatus) {
  EXPECT_EQ(Run(Lock({"--", "sh", "-c", "exit 3"})), 3);
  EXPECT_EQ(Run(Lock({"--", "sh", "-c", "kill -9 $$"})), 128 + SIGKILL);
  EXPECT_EQ(Run(Lock({"--shared", "--ttl", "5", "--timeout", "1", "--", "true"})), 0);
  EXPECT_EQ(Run(Lock({"--", "no-such-command-here"})), 127);
  EXPECT_THAT(Stderr(), HasSubstr("nfsprov lock: cannot run no-such-command-here"));
}

TEST_F(LockCommandTest, NotAcquiredInTimeExits75) {
  auto client = Client();
  ASSERT_NE(client, nullptr);
  auto held = client->Acquire("job", TryOnce());
  ASSERT_TRUE(held.ok()) << held.status().ToString();

  const std::string out = volume_dir_ + "/out";
  EXPECT_EQ(Run(Lock({"--timeout", "0", "--", "touch", out})), kExitNotAcquired);
  EXPECT_EQ(Stderr(), "nfsprov lock: lock job is held: 1 holder(s), 0 waiting\n");
  const auto start = Clock::now();
  EXPECT_EQ(Run(Lock({"--timeout", "0.5", "--", "touch", out})), kExitNotAcquired);
  EXPECT_GE(Clock::now() - start, 500ms);
  EXPECT_THAT(Stderr(), HasSubstr("nfsprov lock: lock job not acquired within 0.5s: 1 holder(s)"));
  EXPECT_FALSE(std::filesystem::exists(out));
}

TEST_F(LockCommandTest, LockErrorsExit77WithAMessage) {
  const std::string empty = volume_dir_ + "/empty";
  std::filesystem::create_directories(empty);
  EXPECT_EQ(Run({"--volume-dir", empty, "--name", "job", "--", "true"}), kExitLockError);
  EXPECT_THAT(Stderr(), HasSubstr("nfsprov lock: NOT_FOUND"));
  EXPECT_THAT(Stderr(), HasSubstr("locks: \"true\""));

  EXPECT_EQ(Run(Lock({"--ttl", "0.5", "--", "true"})), kExitLockError);
  EXPECT_THAT(Stderr(), HasSubstr("nfsprov lock: INVALID_ARGUMENT: ttl 500ms is below the minimum"));

  lockd::LockFile wrong = TestLockFile();
  wrong.secret = key_->SecretFor("another-volume");
  std::ofstream(volume_dir_ + "/" + std::string(kLockFileName)) << ToJson(wrong);
  EXPECT_EQ(Run(Lock({"--", "true"})), kExitLockError);
  EXPECT_THAT(Stderr(), HasSubstr("nfsprov lock: PERMISSION_DENIED"));
}

TEST_F(LockCommandTest, ForwardsSigtermAndReleasesAfterTheCommandExits) {
  const std::string ready = volume_dir_ + "/ready";
  pid_t pid = Start(Lock({"--", "sh", "-c",
                          "trap 'exit 9' TERM; touch " + ready + "; while :; do sleep 0.05; done"}));
  for (int i = 0; i < 200 && !std::filesystem::exists(ready); ++i) std::this_thread::sleep_for(25ms);
  ASSERT_TRUE(std::filesystem::exists(ready)) << Stderr();
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  EXPECT_EQ(Wait(pid), 9) << Stderr();

  auto client = Client();
  ASSERT_NE(client, nullptr);
  EXPECT_TRUE(client->Acquire("job", TryOnce()).ok());
}

TEST_F(LockCommandTest, LostLeaseStopsTheCommandAndExits76) {
  const std::string ready = volume_dir_ + "/ready";
  const std::string done = volume_dir_ + "/done";
  // sh starts sleep as a child of its own: both must go.
  pid_t pid = Start(Lock({"--ttl", "2", "--", "sh", "-c",
                          "sleep 30 & echo $! > " + ready + "; wait; touch " + done}));
  for (int i = 0; i < 200 && ReadAll(ready).empty(); ++i) std::this_thread::sleep_for(25ms);
  std::string sleep_pid = ReadAll(ready);
  ASSERT_FALSE(sleep_pid.empty()) << Stderr();
  sleep_pid.pop_back();  // the newline
  ASSERT_TRUE(Alive(sleep_pid));
  std::this_thread::sleep_for(800ms);  // past the first renewal

  const auto stopped = Clock::now();
  StopLockd();
  EXPECT_EQ(Wait(pid), kExitLeaseLost) << Stderr();
  const auto elapsed = Clock::now() - stopped;
  std::cout << "nfsprov lock exited "
            << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()
            << " ms after lockd stopped (ttl 2 s)\n";
  // Lost at the latest with a quarter of the TTL left, then SIGTERM: well before the TTL ends.
  EXPECT_LT(elapsed, 1700ms);
  EXPECT_THAT(Stderr(), HasSubstr("nfsprov lock: lost lock job: lease on lock job not renewed"));
  EXPECT_FALSE(std::filesystem::exists(done));
  EXPECT_FALSE(Alive(sleep_pid));
}

}  // namespace
}  // namespace nfsprov::lockd
