// LayoutGate: the per-share lock that keeps nesting checks consistent in this process (creates of
// exclusive volumes hold it shared, shared-root creates and deletes exclusively; docs/layouts.md).
// Unlike std::shared_mutex, any thread may release what another took: a create that finishes on
// the NFS event loop, or on a thread of the controller's, releases it there. A waiting exclusive
// holder goes before new shared ones, so a stream of creates cannot starve a shared-root delete.
// Meets the standard's SharedMutex requirements (std::unique_lock, std::shared_lock).
#pragma once

#include <condition_variable>
#include <mutex>

namespace nfsprov {

class LayoutGate {
 public:
  void lock() {
    std::unique_lock<std::mutex> guard(mu_);
    ++writers_waiting_;
    changed_.wait(guard, [&] { return !writer_ && readers_ == 0; });
    --writers_waiting_;
    writer_ = true;
  }
  bool try_lock() {
    std::lock_guard<std::mutex> guard(mu_);
    if (writer_ || readers_ > 0) return false;
    writer_ = true;
    return true;
  }
  void unlock() {
    {
      std::lock_guard<std::mutex> guard(mu_);
      writer_ = false;
    }
    changed_.notify_all();
  }
  void lock_shared() {
    std::unique_lock<std::mutex> guard(mu_);
    changed_.wait(guard, [&] { return !writer_ && writers_waiting_ == 0; });
    ++readers_;
  }
  bool try_lock_shared() {
    std::lock_guard<std::mutex> guard(mu_);
    if (writer_ || writers_waiting_ > 0) return false;
    ++readers_;
    return true;
  }
  void unlock_shared() {
    bool last;
    {
      std::lock_guard<std::mutex> guard(mu_);
      last = --readers_ == 0;
    }
    if (last) changed_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  int readers_ = 0;
  int writers_waiting_ = 0;
  bool writer_ = false;
};

}  // namespace nfsprov
