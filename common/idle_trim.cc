#include "common/idle_trim.h"

#include <malloc.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "common/thread_name.h"

namespace nfsprov {
namespace {

using Clock = std::chrono::steady_clock;

std::atomic<uint64_t> g_work_started{0};
std::atomic<int> g_work_in_flight{0};
std::atomic<Clock::rep> g_last_work_end{0};  // Clock ticks; 0: no work has ended yet

Result<uint64_t> ReadRssBytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) != 0) continue;
    std::istringstream fields(line.substr(6));
    uint64_t kib = 0;
    if (fields >> kib) return kib * 1024;
  }
  return Internal("cannot read VmRSS from /proc/self/status");
}

struct Range {
  uintptr_t start = 0;
  size_t length = 0;
};

// Mappings backed by a file (inode != 0): the binary, shared libraries, mapped files.
Result<std::vector<Range>> FileBackedMappings() {
  std::ifstream maps("/proc/self/maps");
  if (!maps) return Internal("cannot open /proc/self/maps");
  std::vector<Range> ranges;
  std::string line;
  while (std::getline(maps, line)) {
    std::istringstream fields(line);
    std::string span, perms, offset, device;
    uint64_t inode = 0;
    if (!(fields >> span >> perms >> offset >> device >> inode)) continue;
    if (inode == 0) continue;
    const size_t dash = span.find('-');
    if (dash == std::string::npos) continue;
    const uintptr_t start = std::stoull(span.substr(0, dash), nullptr, 16);
    const uintptr_t end = std::stoull(span.substr(dash + 1), nullptr, 16);
    if (end > start) ranges.push_back({start, end - start});
  }
  return ranges;
}

double MiB(uint64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

}  // namespace

WorkScope::WorkScope() {
  g_work_started.fetch_add(1);
  g_work_in_flight.fetch_add(1);
}

WorkScope::~WorkScope() {
  g_last_work_end.store(Clock::now().time_since_epoch().count());
  g_work_in_flight.fetch_sub(1);
}

Result<TrimReport> TrimIdleMemory() {
  Result<uint64_t> before = ReadRssBytes();
  if (!before.ok()) return before.status();
  Result<std::vector<Range>> ranges = FileBackedMappings();
  if (!ranges.ok()) return ranges.status();
  TrimReport report;
  report.rss_before = *before;
  malloc_trim(0);
  for (const Range& range : *ranges) {
    // Private dirty pages (relocated data) cannot be paged out without swap; the kernel keeps them.
    if (madvise(reinterpret_cast<void*>(range.start), range.length, MADV_PAGEOUT) == 0) {
      ++report.advised;
    } else {
      ++report.refused;
    }
  }
  Result<uint64_t> after = ReadRssBytes();
  if (!after.ok()) return after.status();
  report.rss_after = *after;
  return report;
}

IdleTrimmer::IdleTrimmer(std::chrono::milliseconds quiet)
    : quiet_(quiet), thread_([this] { Run(); }) {}

IdleTrimmer::~IdleTrimmer() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  thread_.join();
}

int IdleTrimmer::trims() const {
  std::lock_guard<std::mutex> lock(mu_);
  return trims_;
}

void IdleTrimmer::Run() {
  NameThisThread("idle-trim");
  const Clock::time_point started = Clock::now();
  constexpr uint64_t kNeverTrimmed = ~uint64_t{0};
  uint64_t trimmed_after = kNeverTrimmed;  // g_work_started at the last trim
  Clock::time_point next_check = started + quiet_;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_cv_.wait_until(lock, next_check, [this] { return stopping_; })) {
    const Clock::time_point now = Clock::now();
    const uint64_t work = g_work_started.load();
    if (work == trimmed_after || g_work_in_flight.load() > 0) {
      next_check = now + quiet_;
      continue;
    }
    const Clock::time_point last_end{Clock::duration(g_last_work_end.load())};
    const Clock::time_point quiet_until = std::max(started, last_end) + quiet_;
    if (now < quiet_until) {
      next_check = quiet_until;
      continue;
    }
    lock.unlock();
    Result<TrimReport> report = TrimIdleMemory();
    lock.lock();
    trimmed_after = work;
    ++trims_;
    next_check = now + quiet_;
    if (!report.ok()) {
      spdlog::warn("idle trim failed: {}", report.status().ToString());
      continue;
    }
    const uint64_t given_back =
        report->rss_before > report->rss_after ? report->rss_before - report->rss_after : 0;
    spdlog::info("idle for {:g} s: gave {:.1f} MiB back to the kernel (RSS {:.1f} -> {:.1f} MiB; "
                 "{} mappings advised, {} refused)",
                 std::chrono::duration<double>(quiet_).count(), MiB(given_back),
                 MiB(report->rss_before), MiB(report->rss_after), report->advised, report->refused);
  }
}

}  // namespace nfsprov
