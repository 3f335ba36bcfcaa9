// QuotaWatch: the fuse-mount daemon's poller for read-only quota enforcement (docs/fusefs.md).
//
// On its own thread it asks `probe` "is the volume over quota?" at once and then every `every`,
// and calls `on_change(over)` whenever the answer differs from the last one (the state starts as
// "not over", so a first answer of true is a change). A failing probe changes nothing: the last
// answer stands, and the error is logged once per distinct message (again after a success).
// Each change is logged in one line naming `name` (the volume key). The probe may block (an NFS
// call); the destructor stops the thread and waits for a probe in progress to return.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "common/status.h"

namespace nfsprov::fusefs {

class QuotaWatch {
 public:
  using Probe = std::function<Result<bool>()>;

  QuotaWatch(Probe probe, std::chrono::milliseconds every, std::string name,
             std::function<void(bool over)> on_change);
  ~QuotaWatch();

  QuotaWatch(const QuotaWatch&) = delete;
  QuotaWatch& operator=(const QuotaWatch&) = delete;

 private:
  void Run();

  const Probe probe_;
  const std::chrono::milliseconds every_;
  const std::string name_;
  const std::function<void(bool)> on_change_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts once everything above is set
};

}  // namespace nfsprov::fusefs
