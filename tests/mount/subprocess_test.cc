#include "mount/subprocess.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "tests/mount/scratch.h"

namespace nfsprov::mount {
namespace {

using testing::Scratch;
using namespace std::chrono_literals;

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

TEST(RunProcessTest, CapturesOutputAndExitCode) {
  Result<ProcessOutcome> out = RunProcess({"sh", "-c", "echo out; echo err >&2; exit 3"}, 5s);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->exit_code, 3);
  EXPECT_FALSE(out->success());
  EXPECT_EQ(out->output, "out\nerr\n");
  EXPECT_EQ(out->Describe(), "exited with status 3");
}

TEST(RunProcessTest, StdinIsEmptyAndSignalsAreReported) {
  Result<ProcessOutcome> out = RunProcess({"sh", "-c", "cat; kill -9 $$"}, 5s);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->output, "");
  EXPECT_EQ(out->signal, SIGKILL);
}

TEST(RunProcessTest, DeadlineKillsTheWholeGroup) {
  auto start = std::chrono::steady_clock::now();
  // The background sleep holds the output pipe open: the deadline must not wait for it.
  Result<ProcessOutcome> out = RunProcess({"sh", "-c", "echo started; sleep 30 & sleep 30"}, 300ms);
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(out->timed_out);
  EXPECT_EQ(out->output, "started\n");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
}

TEST(RunProcessTest, MissingProgram) {
  EXPECT_EQ(RunProcess({"/nonexistent/prog"}, 1s).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(RunProcess({}, 1s).status().code(), StatusCode::kInvalidArgument);
}

TEST(SpawnDetachedTest, DaemonIsNotOurChildAndLogsToTheFile) {
  Scratch s;
  std::string info = s.path() + "/info";
  std::string script =
      s.Script("daemon", "echo \"$PPID $(cut -d' ' -f6 /proc/$$/stat) $1\" > " + info +
                             "\necho to-log\necho to-log-err >&2\nexec sleep 30\n");
  std::string log = s.path() + "/daemon.log";
  Result<pid_t> pid = SpawnDetached({script, "arg one"}, log);
  ASSERT_TRUE(pid.ok()) << pid.status().ToString();
  for (int i = 0; i < 300 && Slurp(log).find("to-log-err") == std::string::npos; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  std::istringstream fields(Slurp(info));
  pid_t ppid = 0, sid = 0;
  std::string arg;
  fields >> ppid >> sid;
  std::getline(fields >> std::ws, arg);
  kill(*pid, SIGKILL);
  EXPECT_NE(ppid, getpid());
  EXPECT_NE(sid, getsid(0));
  EXPECT_EQ(arg, "arg one");
  EXPECT_EQ(Slurp(log), "to-log\nto-log-err\n");
}

TEST(SpawnDetachedTest, ExecFailureIsAnError) {
  Scratch s;
  EXPECT_EQ(SpawnDetached({s.path() + "/missing"}, s.path() + "/log").status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(SpawnDetached({"relative"}, s.path() + "/log").status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace nfsprov::mount
