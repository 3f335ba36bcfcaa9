// Idle trimming: a long-lived server touches megabytes of its binary's and shared libraries' pages
// while it starts or serves a burst of calls, then may sit idle for hours (the node plugin runs on
// every node). After a quiet spell, IdleTrimmer gives those pages back to the kernel:
// madvise(MADV_PAGEOUT) on every file-backed mapping, which reclaims the pages that no other
// process maps, and malloc_trim for the heap's free memory. Nothing is lost: a page needed again
// faults back in (from the page cache, or from disk if the kernel dropped it), so the first call
// after a quiet spell pays for that once. docs/node.md has the measured numbers.
//
// Work is what a WorkScope marks; csi::Serve wraps every CSI and lockd handler in one. Identity
// Probe and the metrics endpoint do not count, so health checks neither postpone a trim nor
// cause another one.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "common/status.h"

namespace nfsprov {

// The process is busy while one of these lives (one per handled call).
class WorkScope {
 public:
  WorkScope();
  ~WorkScope();
  WorkScope(const WorkScope&) = delete;
  WorkScope& operator=(const WorkScope&) = delete;
};

struct TrimReport {
  int advised = 0;   // file-backed mappings the kernel took the advice for
  int refused = 0;   // mappings it refused (locked or special; every one before Linux 5.4)
  uint64_t rss_before = 0;  // bytes (VmRSS)
  uint64_t rss_after = 0;
};

// Trims this process now. INTERNAL when /proc/self cannot be read.
Result<TrimReport> TrimIdleMemory();

// Trims once after each quiet spell: when `quiet` has passed with no WorkScope alive, and work
// has been done since the last trim (starting the process counts as work). Logs one line per
// trim. Runs one thread; the destructor stops it.
class IdleTrimmer {
 public:
  explicit IdleTrimmer(std::chrono::milliseconds quiet);
  ~IdleTrimmer();
  IdleTrimmer(const IdleTrimmer&) = delete;
  IdleTrimmer& operator=(const IdleTrimmer&) = delete;

  int trims() const;

 private:
  void Run();

  const std::chrono::milliseconds quiet_;
  mutable std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  int trims_ = 0;
  std::thread thread_;
};

}  // namespace nfsprov
