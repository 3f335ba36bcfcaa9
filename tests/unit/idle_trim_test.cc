// TrimIdleMemory and IdleTrimmer, checked on this process's own memory.
#include "common/idle_trim.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/proc_memory.h"

namespace nfsprov {
namespace {

constexpr size_t kFileBytes = size_t{32} << 20;

double RssFileKb() { return testing::ProcKb("/proc/self/status", "RssFile"); }

// A 32 MiB file on disk (not tmpfs: its pages must be reclaimable), mapped and read in full.
class MappedFile {
 public:
  MappedFile() {
    char path[] = "/var/tmp/nfsprov-idle-trim-XXXXXX";
    fd_ = mkstemp(path);
    unlink(path);
    std::vector<char> chunk(1 << 20);
    for (size_t i = 0; i < chunk.size(); ++i) chunk[i] = static_cast<char>(i * 7 + 3);
    for (size_t written = 0; written < kFileBytes; written += chunk.size()) {
      if (write(fd_, chunk.data(), chunk.size()) != static_cast<ssize_t>(chunk.size())) return;
    }
    fsync(fd_);  // clean pages: dirty ones would wait for writeback
    data_ = static_cast<const unsigned char*>(mmap(nullptr, kFileBytes, PROT_READ, MAP_PRIVATE, fd_, 0));
  }
  ~MappedFile() {
    if (data_ != MAP_FAILED) munmap(const_cast<unsigned char*>(data_), kFileBytes);
    close(fd_);
  }
  bool ok() const { return fd_ >= 0 && data_ != MAP_FAILED; }
  // Reads every page; the sum proves the contents.
  uint64_t Sum() const {
    uint64_t sum = 0;
    for (size_t i = 0; i < kFileBytes; i += 512) sum += data_[i];
    return sum;
  }

 private:
  int fd_ = -1;
  const unsigned char* data_ = static_cast<const unsigned char*>(MAP_FAILED);
};

TEST(IdleTrimTest, GivesAMappedFilesPagesBackAndLosesNothing) {
  MappedFile file;
  ASSERT_TRUE(file.ok());
  const uint64_t sum = file.Sum();
  const double before_kb = RssFileKb();
  ASSERT_GE(before_kb, 32 * 1024);

  Result<TrimReport> report = TrimIdleMemory();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_GT(report->advised, 0);
  EXPECT_LT(report->rss_after, report->rss_before);
  const double after_kb = RssFileKb();
  EXPECT_LT(after_kb, before_kb - 24 * 1024) << before_kb << " kB -> " << after_kb << " kB";

  EXPECT_EQ(file.Sum(), sum);  // the pages fault back in with the same bytes
  EXPECT_GE(RssFileKb(), 32 * 1024);
}

// Polls until `trimmer` has trimmed `n` times or 5 s pass; returns how many it has.
int WaitForTrims(const IdleTrimmer& trimmer, int n) {
  for (int i = 0; i < 500 && trimmer.trims() < n; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return trimmer.trims();
}

TEST(IdleTrimTest, TrimsOnceAfterEachQuietSpellAndNeverDuringWork) {
  using std::chrono::milliseconds;
  using Clock = std::chrono::steady_clock;
  const milliseconds quiet(200);
  IdleTrimmer trimmer(quiet);
  {
    WorkScope call;  // a call that outlasts the first quiet spell
    std::this_thread::sleep_for(milliseconds(600));
    EXPECT_EQ(trimmer.trims(), 0);
  }
  const Clock::time_point ended = Clock::now();
  ASSERT_EQ(WaitForTrims(trimmer, 1), 1);
  EXPECT_GE(Clock::now() - ended, quiet);  // not before the spell after the call

  std::this_thread::sleep_for(5 * quiet);  // no work, no second trim
  EXPECT_EQ(trimmer.trims(), 1);

  { WorkScope call; }
  EXPECT_EQ(WaitForTrims(trimmer, 2), 2);
}

TEST(IdleTrimTest, StartingCountsAsWork) {
  IdleTrimmer trimmer(std::chrono::milliseconds(100));
  EXPECT_EQ(WaitForTrims(trimmer, 1), 1);
}

}  // namespace
}  // namespace nfsprov
