// End to end for the lock service: the real `nfsprov lockd`, controller and two node plugins
// (FUSE mounter, each in its own mount namespace: two machines), a real nfs-ganesha, and
// `nfsprov lock` run as a pod would run it, against the volume as each node mounts it.
//
// Every critical section appends "<fencing token> <start ns> <end ns>" to a local log (one host,
// one clock), so the checks see whether two holders ever overlapped and whether tokens rose in
// the order the sections ran.
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "e2e/cluster.h"
#include "mount/subprocess.h"

namespace nfsprov::e2e {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kExitNotAcquired = 75;
constexpr int kExitLockError = 77;

// One increment of a counter kept as a fixed-width number, read and rewritten in place: the FUSE
// mounter drops the page cache at open, and the width keeps the size a node may have cached
// (1 s attribute cache, docs/fusefs.md) right. $1: the volume, $2: the local log.
constexpr const char* kIncrement =
    "n=$(cat \"$1/counter\" 2>/dev/null || echo 0); s=$(date +%s%N); "
    "printf '%10d\\n' $((n + 1)) > \"$1/counter\"; e=$(date +%s%N); "
    "echo \"$NFSPROV_LOCK_TOKEN $s $e\" >> \"$2\"";

struct Section {
  uint64_t token = 0;
  int64_t start_ns = 0, end_ns = 0;
};

std::vector<Section> ReadSections(const std::string& log) {
  std::vector<Section> sections;
  std::ifstream in(log);
  Section s;
  while (in >> s.token >> s.start_ns >> s.end_ns) sections.push_back(s);
  std::sort(sections.begin(), sections.end(),
            [](const Section& a, const Section& b) { return a.start_ns < b.start_ns; });
  return sections;
}

// No two exclusive sections overlap, and tokens strictly increase in the order they ran.
void ExpectSerialWithRisingTokens(const std::vector<Section>& sections) {
  for (std::size_t i = 1; i < sections.size(); ++i) {
    EXPECT_GE(sections[i].start_ns, sections[i - 1].end_ns)
        << "sections with tokens " << sections[i - 1].token << " and " << sections[i].token << " overlap";
    EXPECT_GT(sections[i].token, sections[i - 1].token) << "token went backwards at section " << i;
  }
}

class LocksE2E : public ClusterTest {
 protected:
  void SetUp() override {
    static int counter = 0;
    lock_dir_ = "/tmp/nfsprov-locks-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
    fs::create_directories(lock_dir_);
    key_file_ = lock_dir_ + "/lock-key";
    std::ofstream(key_file_) << "e2e-lock-key-0123456789abcdef0123456789\n";
    auto lockd = DriverProcess::Start({"lockd", "--lock-key-file", key_file_, "--log-level", "warn"},
                                      lock_dir_ + "/lockd.sock");
    ASSERT_TRUE(lockd.ok()) << lockd.status().ToString();
    lockd_ = std::move(lockd).value();
    ASSERT_NO_FATAL_FAILURE(StartCluster(
        {"--lock-key-file", key_file_, "--lockd-address", "unix://" + lock_dir_ + "/lockd.sock"}));
    StartNode("node-1");
    StartNode("node-2");
    volume_ = MustCreate("pvc-counter", {{"locks", "true"}});
    pods_ = {MountInPod("node-1", volume_), MountInPod("node-2", volume_)};
    ASSERT_FALSE(pods_[0].empty());
    ASSERT_FALSE(pods_[1].empty());
    log_ = lock_dir_ + "/sections.log";
  }

  void TearDown() override {
    ClusterTest::TearDown();
    lockd_.reset();
    std::error_code ec;
    fs::remove_all(lock_dir_, ec);
  }

  // `nfsprov lock --volume-dir <pod> <flags> -- <command>`.
  mount::ProcessOutcome Lock(const std::string& pod, const std::vector<std::string>& flags,
                             const std::vector<std::string>& command) {
    std::vector<std::string> argv = {DriverBinary(), "lock", "--volume-dir", pod};
    argv.insert(argv.end(), flags.begin(), flags.end());
    argv.push_back("--");
    argv.insert(argv.end(), command.begin(), command.end());
    auto outcome = mount::RunProcess(argv, seconds(120));
    EXPECT_TRUE(outcome.ok()) << outcome.status().ToString();
    return outcome.ok() ? *outcome : mount::ProcessOutcome{};
  }

  // `procs` processes, alternating between the two nodes, each making `each` increments of the
  // counter under lock "counter"; returns how many runs failed (and logs each failure).
  int RunIncrements(int procs, int each, int ttl_s = 10) {
    std::atomic<int> failed{0};
    std::vector<std::thread> workers;
    for (int p = 0; p < procs; ++p) {
      workers.emplace_back([&, p] {
        const std::string& pod = pods_[p % 2];
        for (int i = 0; i < each; ++i) {
          mount::ProcessOutcome run = Lock(pod, {"--name", "counter", "--ttl", std::to_string(ttl_s)},
                                           {"sh", "-c", kIncrement, "sh", pod, log_});
          if (!run.success()) {
            ++failed;
            ADD_FAILURE() << "worker " << p << " run " << i << " " << run.Describe() << ": " << run.output;
          }
        }
      });
    }
    for (std::thread& t : workers) t.join();
    return failed;
  }

  int64_t Counter(const std::string& pod) {
    std::string text = ReadAll(pod + "/counter");
    return text.empty() ? -1 : std::stoll(text);
  }

  std::string lock_dir_, key_file_, log_;
  std::unique_ptr<DriverProcess> lockd_;
  ::csi::v1::Volume volume_;
  std::vector<std::string> pods_;
};

TEST_F(LocksE2E, EightProcessesOnTwoNodesMakeExactly1600Increments) {
  ASSERT_EQ(RunIncrements(8, 200), 0);
  EXPECT_EQ(Counter(pods_[0]), 1600);
  // The other node reads the same, once its attribute cache (1 s) has run out.
  EXPECT_TRUE(WaitFor([&] { return Counter(pods_[1]) == 1600; }));
  const std::vector<Section> sections = ReadSections(log_);
  ASSERT_EQ(sections.size(), 1600u);
  ExpectSerialWithRisingTokens(sections);
}

TEST_F(LocksE2E, HolderKilledInsideItsCriticalSectionLosesTheLockWhenTheLeaseExpires) {
  const std::string pid_file = lock_dir_ + "/holder.pid";
  // The holder records its section's start, then hangs inside it until killed.
  std::thread holder([&] {
    Lock(pods_[0], {"--name", "counter", "--ttl", "3"},
         {"sh", "-c", "echo \"$NFSPROV_LOCK_TOKEN $(date +%s%N)\" > \"$1.start\"; echo $PPID > \"$1\"; sleep 60",
          "sh", pid_file});
  });
  ASSERT_TRUE(WaitFor([&] { return !ReadAll(pid_file).empty(); }, seconds(20)));
  const pid_t lock_process = std::stoi(ReadAll(pid_file));
  ASSERT_EQ(::kill(lock_process, SIGKILL), 0);  // `nfsprov lock` dies: nobody renews any more
  const auto killed = std::chrono::steady_clock::now();
  int64_t killed_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();

  mount::ProcessOutcome next = Lock(pods_[1], {"--name", "counter", "--ttl", "3", "--timeout", "30"},
                                    {"sh", "-c", kIncrement, "sh", pods_[1], log_});
  const auto waited = std::chrono::steady_clock::now() - killed;
  holder.join();  // its command died with it (parent-death signal), so RunProcess returned
  ASSERT_TRUE(next.success()) << next.Describe() << ": " << next.output;
  EXPECT_GE(waited, milliseconds(1500)) << "granted long before the dead holder's lease ran out";
  EXPECT_LT(waited, seconds(10));
  std::istringstream start(ReadAll(pid_file + ".start"));
  uint64_t dead_token = 0;
  start >> dead_token;
  const std::vector<Section> sections = ReadSections(log_);
  ASSERT_EQ(sections.size(), 1u);
  EXPECT_GT(sections[0].token, dead_token);
  EXPECT_GT(sections[0].start_ns, killed_ns);
}

TEST_F(LocksE2E, LockdKilledAndRestartedMidRunLosesNothing) {
  std::atomic<bool> done{false};
  int failed = 0;
  std::thread run([&] {
    failed = RunIncrements(4, 50, 3);
    done = true;
  });
  // Each time a further 60 sections ran, lockd crashes and comes back (twice). From this thread:
  // a DriverProcess dies with the thread that started it.
  for (int round = 1; round <= 2; ++round) {
    WaitFor([&] { return done || ReadSections(log_).size() >= 60u * round; }, seconds(60));
    if (done) break;
    Status restarted = lockd_->Restart();
    EXPECT_TRUE(restarted.ok()) << restarted.ToString();
  }
  run.join();
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(Counter(pods_[0]), 200);
  const std::vector<Section> sections = ReadSections(log_);
  ASSERT_EQ(sections.size(), 200u);
  ExpectSerialWithRisingTokens(sections);
}

TEST_F(LocksE2E, SharedHoldersCoexistAndAnExclusiveWaiterIsNotStarved) {
  const std::string shared_log = lock_dir_ + "/shared.log";
  auto section = [&](const std::string& pod, bool shared, int sleep_ms) {
    std::vector<std::string> flags = {"--name", "plugins", "--timeout", "60"};
    if (shared) flags.push_back("--shared");
    const std::string mode = shared ? "s" : "x";
    return Lock(pod, flags,
                {"sh", "-c",
                 "s=$(date +%s%N); sleep " + std::to_string(sleep_ms / 1000.0) + "; e=$(date +%s%N); "
                 "echo \"" + mode + " $NFSPROV_LOCK_TOKEN $s $e\" >> \"$1\"",
                 "sh", shared_log});
  };
  std::vector<std::thread> runs;
  // Two readers on two nodes hold the lock together for 2 s ...
  runs.emplace_back([&] { section(pods_[0], true, 2000); });
  runs.emplace_back([&] { section(pods_[1], true, 2000); });
  std::this_thread::sleep_for(milliseconds(700));
  // ... a writer queues behind them ...
  runs.emplace_back([&] { section(pods_[0], false, 200); });
  std::this_thread::sleep_for(milliseconds(500));
  // ... and a stream of new readers must not overtake it.
  for (int i = 0; i < 6; ++i) {
    runs.emplace_back([&, i] { section(pods_[i % 2], true, 300); });
    std::this_thread::sleep_for(milliseconds(150));
  }
  for (std::thread& t : runs) t.join();

  struct Run {
    std::string mode;
    uint64_t token;
    int64_t start, end;
  };
  std::vector<Run> done;
  std::ifstream in(shared_log);
  Run r;
  while (in >> r.mode >> r.token >> r.start >> r.end) done.push_back(r);
  ASSERT_EQ(done.size(), 9u);
  std::sort(done.begin(), done.end(), [](const Run& a, const Run& b) { return a.token < b.token; });
  // Tokens 1-2: the first readers, together; 3: the writer, alone; then the later readers.
  EXPECT_EQ(done[0].mode, "s");
  EXPECT_EQ(done[1].mode, "s");
  EXPECT_LT(std::max(done[0].start, done[1].start), std::min(done[0].end, done[1].end))
      << "the two shared holders never held the lock at the same time";
  EXPECT_EQ(done[2].mode, "x") << "a later reader overtook the waiting writer";
  for (const Run& other : done) {
    if (&other == &done[2]) continue;
    EXPECT_TRUE(other.end <= done[2].start || other.start >= done[2].end)
        << "reader " << other.token << " overlapped the writer";
  }
}

TEST_F(LocksE2E, BadInputGetsClearErrors) {
  auto expect_error = [&](const std::string& pod, const std::vector<std::string>& flags, int code,
                          const std::string& says) {
    mount::ProcessOutcome run = Lock(pod, flags, {"true"});
    EXPECT_EQ(run.exit_code, code) << run.Describe() << ": " << run.output;
    EXPECT_NE(run.output.find(says), std::string::npos) << "expected \"" << says << "\" in: " << run.output;
  };
  // A copy of the lock file with another secret.
  const std::string forged = lock_dir_ + "/forged";
  fs::create_directories(forged);
  std::string text = ReadAll(pods_[0] + "/.nfsprov-lock.json");
  const std::size_t at = text.find('"', text.find(':', text.find("\"secret\"")) + 1) + 1;
  ASSERT_LT(at, text.size()) << text;
  text[at] = text[at] == 'a' ? 'b' : 'a';
  ASSERT_TRUE(WriteFile(forged + "/.nfsprov-lock.json", text));
  expect_error(forged, {"--name", "counter"}, kExitLockError, "PERMISSION_DENIED");

  // The lock file of a volume that has since been deleted.
  ::csi::v1::Volume gone = MustCreate("pvc-gone", {{"locks", "true"}});
  const std::string gone_pod = MountInPod("node-1", gone);
  const std::string saved = lock_dir_ + "/gone";
  fs::create_directories(saved);
  ASSERT_TRUE(WriteFile(saved + "/.nfsprov-lock.json", ReadAll(gone_pod + "/.nfsprov-lock.json")));
  UnmountPod(gone_pod);
  ASSERT_GRPC_OK(Delete(gone.volume_id()));
  expect_error(saved, {"--name", "counter"}, kExitLockError, "does not exist");

  expect_error(pods_[0], {"--name", "a/b"}, kExitLockError, "may only contain");
  expect_error(pods_[0], {"--name", std::string(4096, 'n')}, kExitLockError, "4096 bytes");
  expect_error(pods_[0], {"--name", "counter", "--ttl", "0"}, kExitLockError, "below the minimum");
  expect_error(pods_[0], {"--name", "counter", "--ttl", "31536000"}, kExitLockError, "above the maximum");
  expect_error(lock_dir_, {"--name", "counter"}, kExitLockError, "locks: \"true\"");

  // A held lock and --timeout 0: not acquired, and it says who holds it.
  std::thread holder([&] { Lock(pods_[0], {"--name", "busy"}, {"sleep", "2"}); });
  std::this_thread::sleep_for(milliseconds(700));
  expect_error(pods_[1], {"--name", "busy", "--timeout", "0"}, kExitNotAcquired, "1 holder(s)");
  holder.join();
}

}  // namespace
}  // namespace nfsprov::e2e
