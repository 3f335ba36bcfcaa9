#include "fusefs/quota_watch.h"

#include <utility>

#include <spdlog/spdlog.h>

#include "common/thread_name.h"

namespace nfsprov::fusefs {

QuotaWatch::QuotaWatch(Probe probe, std::chrono::milliseconds every, std::string name,
                       std::function<void(bool over)> on_change)
    : probe_(std::move(probe)),
      every_(every),
      name_(std::move(name)),
      on_change_(std::move(on_change)),
      thread_([this] { Run(); }) {}

QuotaWatch::~QuotaWatch() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void QuotaWatch::Run() {
  NameThisThread("quota-watch");
  bool over = false;
  std::string last_error;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    lock.unlock();
    Result<bool> answer = probe_();
    if (answer.ok()) {
      last_error.clear();
      if (*answer != over) {
        over = *answer;
        if (over) {
          spdlog::warn("fuse-mount: volume {} is over quota: new data is refused (EROFS) until "
                       "enough is deleted", name_);
        } else {
          spdlog::info("fuse-mount: volume {} is within its quota again: writes are allowed", name_);
        }
        on_change_(over);
      }
    } else if (std::string error = answer.status().ToString(); error != last_error) {
      // Polled every few seconds: one line per distinct failure, not one per poll.
      spdlog::warn("fuse-mount: cannot read the usage of volume {} ({}); keeping the last answer "
                   "({})", name_, error, over ? "over quota" : "within quota");
      last_error = std::move(error);
    }
    lock.lock();
    cv_.wait_for(lock, every_, [this] { return stopping_; });
  }
}

}  // namespace nfsprov::fusefs
