// SerialWorker: one background thread that runs posted tasks in the order they were posted.
//
// For work a caller must not wait for but that has to happen (lockd deletes a released lease's
// record after it has answered). Post never blocks on a task. The destructor runs every task
// posted before it, then joins: nothing posted is dropped. Tasks must not Post to, or destroy,
// their own worker.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace nfsprov {

class SerialWorker {
 public:
  SerialWorker();
  ~SerialWorker();
  SerialWorker(const SerialWorker&) = delete;
  SerialWorker& operator=(const SerialWorker&) = delete;

  void Post(std::function<void()> task);
  // Tasks posted and not yet finished.
  std::size_t backlog();
  // Returns once every task posted before the call has run.
  void Drain();

 private:
  void Run();

  std::mutex mu_;
  std::condition_variable changed_;
  std::deque<std::function<void()>> tasks_;  // guarded by mu_, as the two below
  std::size_t posted_ = 0, finished_ = 0;
  bool stopping_ = false;
  std::thread thread_;  // last: starts once the rest exists
};

}  // namespace nfsprov
